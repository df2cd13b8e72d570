"""What a training run logs to MLflow and reads back: the parameters that define its models (and the champion's
configuration rebuilt from them, the inverse of the same flattening), the figures of every model it compared, and
the registered pyfunc model. Where runs go, the registry and promotion are ``recpipe.tracking``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recpipe.config import ALSConfig, CandidatesConfig, RankingConfig, TrainConfig
from recpipe.models.evaluation import MODEL_METRICS
from recpipe.models.training import ModelFactory, SplitEvaluation, model_factory
from recpipe.models.training_set import TrainingData
from recpipe.tracking import PromotionDecision, library_versions, promote, promotion_tags

if TYPE_CHECKING:
    from recpipe.monitoring.tuning import Tuning
    from recpipe.ranking_stage import RankerFit


def model_params(config: TrainConfig, als: ALSConfig) -> dict[str, Any]:
    """Every parameter that defines the families' models, as logged to MLflow (and read back for the champion)."""
    return {
        **{f"als.{k}": v for k, v in als.model_dump().items()},
        **{f"als_attributes.{k}": v for k, v in config.als_attributes.model_dump().items()},
        **{f"two_tower.{k}": v for k, v in config.two_tower.model_dump().items()},
        "feature_min_count": config.feature_min_count,
    }


def champion_model(
    champion: tuple[str, dict[str, str]] | None, challenger: TrainConfig, als: ALSConfig, data: TrainingData
) -> tuple[str | None, ModelFactory | None]:
    """The champion's family, and a factory of its configuration (read back from its training run's parameters,
    the inverse of ``model_params``) when it differs from this run's configuration of that family (None: no
    champion, or this run trains the same model)."""
    if champion is None:
        return None, None
    params = champion[1]
    family = params.get("family", "als")  # versions registered before families were compared are ALS
    sections = {
        name: {k.removeprefix(f"{name}."): v for k, v in params.items() if k.startswith(f"{name}.")}
        for name in ("als", "als_attributes", "two_tower")
    }
    machine = {"use_gpu": als.use_gpu, "num_threads": als.num_threads}  # where it runs is not what it is
    champion_als = ALSConfig.model_validate(
        {**als.model_dump(), **{k: v for k, v in sections["als"].items() if k in ALSConfig.model_fields}, **machine}
    )
    config = challenger.model_copy(
        update={
            "als_attributes": challenger.als_attributes.model_validate(
                {**challenger.als_attributes.model_dump(), **sections["als_attributes"]}
            ),
            "two_tower": challenger.two_tower.model_validate(
                {
                    **challenger.two_tower.model_dump(),
                    **sections["two_tower"],
                    "num_threads": challenger.two_tower.num_threads,
                }
            ),
            "feature_min_count": int(params.get("feature_min_count", challenger.feature_min_count)),
        }
    )
    if family in challenger.families and model_params(config, champion_als) == model_params(challenger, als):
        return family, None
    return family, model_factory(family, config, champion_als, data)


WHEEL_ARTIFACT = "recpipe_wheel"  # the model's own copy of the code that serves it


def log_training_params(
    config: TrainConfig,
    als: ALSConfig,
    rules: CandidatesConfig,
    tuned: Tuning | None,
    versions_read: Mapping[str, int],
) -> None:
    """The active run's parameters (what defines its models, ``model_params``), the served rules its evaluation and
    registered model apply, library and Delta versions, and the tuning its ALS parameters came from."""
    import mlflow

    mlflow.log_params(
        {
            "seed": config.seed,
            "families": ",".join(config.families),
            **model_params(config, als),
            **{f"item2vec.{k}": v for k, v in config.item2vec.model_dump().items()},
            **{f"evaluation.{k}": v for k, v in config.evaluation.model_dump().items()},
            "rules.max_per_seller": rules.max_per_seller,
            "rules.list_length": rules.list_length,
            "rules.exclude_seen_event_types": ",".join(rules.exclude_seen_event_types),
        }
    )
    mlflow.set_tags({**library_versions(), **{f"delta_version.{k}": v for k, v in versions_read.items()}})
    if tuned is not None:
        mlflow.log_params({"tuned.as_of": str(tuned.as_of), "tuned.mlflow_run_id": tuned.mlflow_run_id})


def log_evaluation(evaluation: SplitEvaluation, family: str) -> None:
    """Every compared model's time-split figures (prefixed by its name), the chosen family's unprefixed."""
    import mlflow

    for name in evaluation.metrics:
        mlflow.log_metrics(
            {
                **evaluation.metrics[name].as_dict(prefix=f"{name}."),
                **evaluation.targets[name].as_dict(prefix=f"{name}."),
            }
        )
    chosen = {**evaluation.metrics[family].as_dict(), **evaluation.targets[family].as_dict()}
    mlflow.log_metrics({k: v for k, v in chosen.items() if k in MODEL_METRICS})
    mlflow.log_params({"family": family, "evaluation.split_time": str(evaluation.split_time)})


def log_recommender(
    folder: Path, artifacts: dict[str, Path], registered: str, top_n: int, max_per_seller: int, users: np.ndarray
) -> str:
    """Log and register the pyfunc model serving ``top_n`` items with the served seller cap; return its version.

    The recpipe wheel travels inside the model (``artifacts/recpipe-*.whl``) and its requirements name it, so a
    fresh environment installs it and its declared dependencies from the model's requirements.txt (pip run in
    the model's folder) rather than look for recpipe on an index that does not have it."""
    import mlflow

    from recpipe import model_wheel, pyfunc

    mlflow.log_artifacts(str(artifacts["item2vec"]), artifact_path="item2vec")
    wheel = model_wheel.build_wheel(folder)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=pyfunc.RecommenderPyfunc(top_n=top_n, max_per_seller=max_per_seller),
        artifacts={**{k: str(v) for k, v in artifacts.items() if k != "item2vec"}, WHEEL_ARTIFACT: str(wheel)},
        pip_requirements=[f"mlflow=={mlflow.__version__}", f"artifacts/{wheel.name}"],
        registered_model_name=registered,
        input_example=pd.DataFrame({"user_id": users[:2]}),
        signature=pyfunc.pyfunc_signature(),
    )
    return str(info.registered_model_version)


def log_ranker(fit: RankerFit, ranking: RankingConfig, folder: Path) -> None:
    """The ranker's configuration, training size, figures (ranked vs the model alone on validation users) and
    feature importances (JSON and a chart) on the active run."""
    import mlflow

    from recpipe.plots import importance_chart

    mlflow.log_params(
        {
            **{f"ranking.ranker.{k}": v for k, v in ranking.ranker.model_dump().items()},
            **{f"ranking.retrieval.{k}": v for k, v in ranking.retrieval.model_dump().items()},
            "ranking.grades": json.dumps(ranking.grades, sort_keys=True),
            "ranking.best_iteration": fit.ranker.best_iteration,
        }
    )
    mlflow.log_metrics(
        {
            "ranker.training_rows": float(fit.training_rows),
            "ranker.training_users": float(fit.training_users),
            **{f"ranker.{k}": v for k, v in fit.figures.items()},
        }
    )
    importances = fit.ranker.importances()
    mlflow.log_dict(importances, "ranker_importances.json")
    mlflow.log_artifact(str(importance_chart(importances, folder / "ranker_importances.png")))


def promote_on_split(
    registered: str,
    version: str,
    evaluation: SplitEvaluation,
    family: str,
    champion_scored_as: str | None,
    config: TrainConfig,
) -> PromotionDecision:
    """Promote ``version`` (``family``'s) when its figure on this run's split is no worse than the champion's on
    the same split (``champion_scored_as``: the champion's entry in ``evaluation``; None: there is no champion),
    and tag the active MLflow run with the decision."""
    import mlflow

    metric = config.promotion.metric
    champion_value = evaluation.figure(champion_scored_as, metric) if champion_scored_as is not None else None
    value, tolerance = evaluation.figure(family, metric), config.promotion.tolerance
    decision = promote(mlflow.MlflowClient(), registered, version, metric, value, tolerance, champion_value)
    mlflow.set_tags(promotion_tags(decision))
    return decision
