"""MLflow: where runs go, what a registered version carries, and champion/challenger promotion.

MLflow is imported where it is used: a job's ``--help`` and the modules that only name these functions start in a
second, not in the seconds MLflow's import takes. The pyfunc wrapper lives in ``recpipe.pyfunc``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recpipe.config import Settings
from recpipe.errors import MissingInputError, PromotionRefusedError
from recpipe.models.base import Recommender
from recpipe.models.evaluation import MODEL_METRICS
from recpipe.models.features import FeatureEncoder, listing_features

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from recpipe.models.ranker import LearnedRanker


log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
# The promotion gate's decision, kept on the training run of the version it judged
PROMOTED_TAG, PROMOTION_MESSAGE_TAG = "promotion.promoted", "promotion.message"
PROMOTER = "recpipe promote"  # who moved the champion, when no one else is named


TRACKED_LIBRARIES = ("implicit", "gensim", "numpy", "scipy", "pyspark", "delta-spark", "mlflow", "great-expectations")


def configure(settings: Settings) -> str:
    """Point MLflow at the target's tracking store and return the experiment id.

    Locally: a SQLite file and an artifact folder in the data directory. On Databricks: the workspace tracking
    server and the Unity Catalog registry.
    """
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # job logs are not terminals
    if settings.platform == "databricks":
        mlflow.set_tracking_uri(settings.mlflow_tracking_uri or "databricks")
        mlflow.set_registry_uri("databricks-uc")
        return mlflow.set_experiment(settings.mlflow_experiment).experiment_id
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    uri = settings.mlflow_tracking_uri or f"sqlite:///{data_dir / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.get_experiment_by_name(settings.mlflow_experiment)
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else mlflow.create_experiment(settings.mlflow_experiment, artifact_location=(data_dir / "mlartifacts").as_uri())
    )
    mlflow.set_experiment(experiment_id=experiment_id)  # a new experiment too: runs never land in "Default"
    return experiment_id


def registered_name(settings: Settings, model: str) -> str:
    """Unity Catalog models live in catalog.schema; local ones need no prefix."""
    return f"{settings.catalog}.{settings.schema_prefix}gold.{model}" if settings.platform == "databricks" else model


def library_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_LIBRARIES:
        try:
            versions[f"version.{name}"] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[f"version.{name}"] = "absent"
    return versions


@dataclass(frozen=True)
class ListingSide:
    """A registered version's listing side: its model and the listing feature encoder it was trained with."""

    model: Recommender
    encoder: FeatureEncoder

    def vectors(self, listings: pd.DataFrame) -> np.ndarray:
        """Vectors of listings without history (``category``, ``brand``, ``size``, ``condition``, ``price``,
        ``listed_at``, seller ``country``): the features and the model code the training run used."""
        features, _ = listing_features(listings, self.encoder)
        return self.model.listing_vectors(features, listings["listed_at"].to_numpy("datetime64[ns]"))


def _version_artifacts(settings: Settings, model: str, version: str) -> tuple[Path, dict]:
    """The downloaded folder of a registered version and its pyfunc artifacts (name -> relative path)."""
    import mlflow
    from mlflow.models import Model

    configure(settings)
    uri = f"models:/{registered_name(settings, model)}/{version}"
    root = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    return root, Model.load(str(root / "MLmodel")).flavors["python_function"].get("artifacts", {})


def listing_side(settings: Settings, model: str, version: str) -> ListingSide | None:
    """The listing side of a registered model version (None when its family has none, e.g. ALS alone)."""
    from recpipe.models.registry import load_model

    root, artifacts = _version_artifacts(settings, model, version)
    if "listing_features" not in artifacts:
        return None
    recommender = load_model(root / artifacts["model"]["path"])
    if not recommender.has_listing_side:
        return None
    return ListingSide(recommender, FeatureEncoder.load(root / artifacts["listing_features"]["path"]))


def learned_ranker(settings: Settings, model: str, version: str) -> LearnedRanker | None:
    """The learned ranker registered with a model version (None: the version was trained without one)."""
    from recpipe.models.ranker import LearnedRanker

    root, artifacts = _version_artifacts(settings, model, version)
    return LearnedRanker.load(root / artifacts["ranker"]["path"]) if "ranker" in artifacts else None


@dataclass(frozen=True)
class PromotionDecision:
    promoted: bool
    version: str
    champion_version: str | None
    metric: str
    value: float
    champion_value: float | None
    tolerance: float

    @property
    def message(self) -> str:
        if self.champion_version is None:
            return f"model version {self.version} is the first: promoted to {CHAMPION} ({self.metric} {self.value:.4f})"
        verdict = "promoted to champion" if self.promoted else f"kept champion version {self.champion_version}"
        sign = ">=" if self.promoted else "<"
        return (
            f"model version {self.version}: {verdict} ({self.metric} {self.value:.4f} {sign} champion "
            f"{self.champion_value:.4f} - tolerance {self.tolerance})"
        )


def promotion_tags(decision: PromotionDecision) -> dict[str, str]:
    """The tags a training run keeps of its version's promotion decision (read back by ``move_champion``)."""
    return {PROMOTED_TAG: str(decision.promoted), PROMOTION_MESSAGE_TAG: decision.message}


def passes_promotion(value: float, champion_value: float | None, tolerance: float) -> bool:
    """A challenger wins when it is no worse than the champion minus the tolerance."""
    return champion_value is None or value >= champion_value - tolerance


def _champion(client: MlflowClient, model_name: str):
    import mlflow

    try:
        return client.get_model_version_by_alias(model_name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return None


def champion_params(settings: Settings, model: str) -> tuple[str, dict[str, str]] | None:
    """The champion's version and the parameters of its training run (``family``, ``als.*``, ...; None without a
    champion), so a challenger can be compared with the champion's configuration retrained on the same split."""
    from mlflow import MlflowClient

    configure(settings)
    client = MlflowClient()
    champion = _champion(client, registered_name(settings, model))
    if champion is None:
        return None
    params = client.get_run(champion.run_id).data.params
    return str(champion.version), dict(params)


def promote(
    client: MlflowClient,
    model_name: str,
    version: str,
    metric: str,
    value: float,
    tolerance: float,
    champion_value: float | None = None,
) -> PromotionDecision:
    """Tag ``version`` as challenger, and move the champion alias to it when it is no worse than the champion within the tolerance.

    ``champion_value``: the champion scored on the challenger's split in the same run (what training passes);
    without it the champion's stored metric is used, which came from another day's split."""
    client.set_registered_model_alias(model_name, CHALLENGER, version)
    champion = _champion(client, model_name)
    if champion is None or champion.version == version:
        champion_value = None
    elif champion_value is None:
        champion_value = client.get_run(champion.run_id).data.metrics.get(metric)
    decision = PromotionDecision(
        promoted=passes_promotion(value, champion_value, tolerance),
        version=str(version),
        champion_version=None if champion is None or champion_value is None else str(champion.version),
        metric=metric,
        value=value,
        champion_value=champion_value,
        tolerance=tolerance,
    )
    if decision.promoted:
        client.set_registered_model_alias(model_name, CHAMPION, version)
    log.info(decision.message)
    return decision


def move_champion(
    settings: Settings, model: str, version: str | None, alias: str, force: bool = False, by: str = PROMOTER
) -> dict[str, Any]:
    """Point the champion alias at ``version`` (else the version ``alias`` names) when its training run passed the
    promotion gate (``force``: whatever it scored), and record the move on the version."""
    import mlflow
    from mlflow import MlflowClient

    configure(settings)
    client, name = MlflowClient(), registered_name(settings, model)
    try:
        chosen = client.get_model_version(name, version) if version else client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException as exc:
        asked = f"version {version}" if version else f"alias {alias}"
        raise MissingInputError(f"registered model {name} has no {asked}: run `recpipe train` first") from exc
    tags = client.get_run(chosen.run_id).data.tags if chosen.run_id else {}
    gate = tags.get(PROMOTION_MESSAGE_TAG, "no promotion decision recorded")
    passed = tags.get(PROMOTED_TAG) == str(True)
    if not (passed or force):
        raise PromotionRefusedError(
            f"model {name} version {chosen.version} did not pass train's promotion gate ({gate}): "
            "promote it with --force only to roll back to it deliberately"
        )
    previous = _champion(client, name)
    client.set_registered_model_alias(name, CHAMPION, chosen.version)
    record = {
        "promoted_by": by,
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "previous_champion": str(previous.version) if previous is not None else "",
        "promotion_gate": gate + (" (forced)" if force and not passed else ""),
    }
    for key, value in record.items():
        client.set_model_version_tag(name, chosen.version, key, value)
    log.info("model %s: champion is version %s (was %s)", name, chosen.version, record["previous_champion"] or "none")
    return {"model": name, "champion": str(chosen.version), **record}


def champion_version(settings: Settings, model: str) -> str:
    """The version the champion alias points at; later jobs read factors of this version."""
    import mlflow
    from mlflow import MlflowClient

    configure(settings)
    name = registered_name(settings, model)
    try:
        return str(MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except mlflow.exceptions.MlflowException as exc:
        raise MissingInputError(f"registered model {name} has no {CHAMPION} alias: run `recpipe train` first") from exc


PIPELINE_RUN_TAG = "recpipe.pipeline_run_id"


def _training_metrics(settings: Settings, model: str, version: str) -> dict[str, float]:
    """Every metric the training run of a registered model version logged; empty when unknown."""
    import mlflow
    from mlflow import MlflowClient

    configure(settings)
    try:
        run_id = MlflowClient().get_model_version(registered_name(settings, model), version).run_id
        return dict(MlflowClient().get_run(run_id).data.metrics) if run_id else {}
    except mlflow.exceptions.MlflowException:
        return {}


def model_metrics(settings: Settings, model: str, version: str) -> dict[str, float]:
    """Evaluation metrics of a registered model version (from its training run); empty when unknown."""
    metrics = _training_metrics(settings, model, version)
    return {k: float(metrics[k]) for k in MODEL_METRICS if k in metrics}


def compared_models(
    settings: Settings, model: str, version: str, figures: Sequence[str]
) -> dict[str, dict[str, float]]:
    """The time-split ``figures`` of every model the training run of a registered version compared (families,
    baselines, the retrained champion): {model: {figure: value}}; empty when unknown."""
    compared: dict[str, dict[str, float]] = {}
    for key, value in _training_metrics(settings, model, version).items():
        name, _, figure = key.rpartition(".")
        if name and figure in figures:
            compared.setdefault(name, {})[figure] = float(value)
    return compared


def log_pipeline_run(settings: Settings, record: dict) -> str:
    """Log a pipeline_runs record to MLflow: one run per list run id, updated in place when the record grows."""
    import mlflow

    configure(settings)
    found = mlflow.search_runs(filter_string=f"tags.`{PIPELINE_RUN_TAG}` = '{record['run_id']}'", output_format="list")
    numbers = {k: float(v) for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    numbers.update({f"seconds.{task}": s for task, s in (record.get("task_seconds") or {}).items()})
    numbers.update({f"model.{k}": v for k, v in (record.get("model_metrics") or {}).items()})
    numbers.update({f"future.{k}": v for k, v in (record.get("future") or {}).items()})
    numbers.update({f"responsible.{k}": v for k, v in (record.get("responsible") or {}).items()})
    with mlflow.start_run(
        run_id=found[0].info.run_id if found else None, run_name=f"pipeline {record['as_of']}"
    ) as run:
        mlflow.set_tags(
            {
                PIPELINE_RUN_TAG: record["run_id"],
                "as_of": str(record["as_of"]),
                "status": record["status"],
                "model_version": str(record.get("model_version")),
                "gate_failures": "; ".join(record.get("gate_failures") or []) or "none",
            }
        )
        mlflow.log_metrics(numbers)
        return run.info.run_id


def log_experiment_reading(settings: Settings, experiment: str, run_id: str, rows: list[dict], chart: Path) -> str:
    """An experiment's reading as one MLflow run per reading run id: every difference and bound as a metric
    (``<metric>.<method>.<variant>.difference|low|high|p_value``), the chart as an artifact."""
    import mlflow

    configure(settings)  # the project's experiment: a reading is tagged with its online experiment's name
    metrics = {
        f"{r['metric']}.{r['method']}.{r['variant']}.{part}": float(r[part])
        for r in rows
        for part in ("difference", "low", "high", "p_value")
    }
    with mlflow.start_run(run_name=f"{experiment} {run_id}") as run:
        mlflow.set_tags(
            {"experiment": experiment, "reading_run_id": run_id, "blocked": str(any(r["blocked"] for r in rows))}
        )
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(chart))
        return run.info.run_id


def __getattr__(name: str) -> Any:
    """Versions registered before the pyfunc moved to ``recpipe.pyfunc`` unpickle ``recpipe.tracking.<name>``."""
    if name in ("RecommenderPyfunc", "pyfunc_signature"):
        from recpipe import pyfunc

        return getattr(pyfunc, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
