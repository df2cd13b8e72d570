"""`recpipe train`: model families (ALS, ALS with attributes, two towers) and item2vec from silver, evaluated on
next-week purchases, tracked and gated in MLflow."""

from __future__ import annotations

import argparse
import logging
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recpipe import catalog, tracking
from recpipe.config import ALSConfig, CandidatesConfig, InteractionsConfig, TrainConfig, load_job_config
from recpipe.jobs.context import JobContext, add_as_of_arguments
from recpipe.models.base import Recommender
from recpipe.models.ranking import has_vector
from recpipe.models.registry import save_model
from recpipe.models.training import (
    EventSplit,
    ModelFactory,
    TrainingData,
    evaluate_on_time_split,
    fit_item2vec,
    model_factory,
)
from recpipe.monitoring import runs, tuning
from recpipe.plots import metrics_bar_chart
from recpipe.schemas import EVENT_TYPES
from recpipe.tables import to_pandas
from recpipe.transforms import candidates as C
from recpipe.transforms import interactions as T
from recpipe.transforms import training_inputs as TI
from recpipe.transforms.interactions import as_of_end

log = logging.getLogger(__name__)

NAME = "train"
DESCRIPTION = """\
Reads silver.interactions, the run's indices and the listings' attributes, evaluates every model family of
`families` (ALS; ALS with an attribute-to-factor map; a two-tower model; the two towers plus ALS) against global
and recent popularity on a time split built from daily rows, on the lists the candidates job would serve at the split time (only listings for sale then, listings
without history included), by recall of the holdout's purchases (`evaluation.target_event_types`) at
`evaluation.target_k`, in total and for warm and cold listings. The best family is fitted on everything, logged to
MLflow with parameters, metrics, library and Delta versions, registered as a pyfunc model, and becomes `champion`
only when its metric is within the tolerance of the champion's (retrained on the same split when its
configuration differs). User vectors and the vectors of every listing for sale (listings without history from their attributes) go
to gold.user_factors and gold.item_factors, item2vec embeddings to gold.item_embeddings, with the model version."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser)
    parser.add_argument("--seed", type=int, help="random seed")


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = load_job_config(
        NAME, TrainConfig, args.conf, [*args.set, *([f"seed={args.seed}"] if args.seed is not None else [])]
    )
    return train(JobContext.create(NAME, args), config)


def serving_rules() -> CandidatesConfig:
    """The candidates job's configuration: its ranking rules are the ones offline evaluation and the registered
    model apply (one home: the candidates config)."""
    return load_job_config("candidates", CandidatesConfig)


def event_split(
    ctx: JobContext, as_of: date, holdout_days: int, user_index: DataFrame, item_index: DataFrame
) -> EventSplit:
    """The time split from silver.daily_interactions, aggregated by the interactions job's own transforms: the
    days before the last ``holdout_days`` decayed to the split, and those days."""
    config = load_job_config("interactions", InteractionsConfig)
    first_test_day = as_of - timedelta(days=holdout_days - 1)
    window = ctx.tables.read(catalog.SILVER_DAILY_INTERACTIONS).transform(
        T.within_days(config.first_window_day(as_of), as_of, column="day")
    )
    indexed = TI.indexed_interactions(user_index, item_index, EVENT_TYPES)
    parts = [
        window.where(F.col("day") < F.lit(first_test_day)).transform(
            T.decay_to(first_test_day - timedelta(days=1), config.half_life_days, config.max_confidence)
        ),
        window.where(F.col("day") >= F.lit(first_test_day)).transform(
            T.decay_to(as_of, config.half_life_days, config.max_confidence)
        ),
    ]
    train, test = (part.transform(indexed).toPandas() for part in parts)
    return EventSplit(train, test, pd.Timestamp(first_test_day), holdout_days)


def load_training_data(
    ctx: JobContext, rules: CandidatesConfig | None = None, holdout_days: int | None = None, as_of: date | None = None
) -> TrainingData:
    """Silver tables -> pandas through Arrow (the model code needs no Spark). With ``holdout_days``, the time
    split is built from daily rows (``event_split``) and the item index goes on past the interaction index with
    every listing still for sale when the holdout began (``listing_index``). ``as_of``: silver's, when known."""
    t = ctx.tables
    seen_types = (rules or serving_rules()).exclude_seen_event_types
    user_index, item_index = t.read(catalog.SILVER_USER_INDEX), t.read(catalog.SILVER_ITEM_INDEX)
    availability = t.read(catalog.SILVER_ITEM_AVAILABILITY)
    if holdout_days:
        as_of = as_of or ctx.interactions_as_of()
        since = as_of_end(as_of) - timedelta(days=holdout_days)
        item_index = availability.transform(TI.listing_index(item_index, since)).cache()
    interactions = to_pandas(
        t.read(catalog.SILVER_INTERACTIONS).transform(TI.indexed_interactions(user_index, item_index, EVENT_TYPES))
    )
    indexed_availability = to_pandas(availability.transform(TI.indexed_availability(item_index)))
    sequences = to_pandas(
        t.read(catalog.SILVER_DAILY_INTERACTIONS).transform(TI.item_sequences(item_index)).select("items")
    )
    own = to_pandas(C.own_listings(t.read(catalog.SILVER_ITEMS)).transform(TI.indexed_pairs(user_index, item_index)))
    item_ids = to_pandas(item_index.orderBy("item_idx").select("item_id"))["item_id"].to_numpy(np.int64)
    attributes = to_pandas(
        t.read(catalog.SILVER_ITEMS).transform(TI.listing_attributes(item_index, t.read(catalog.SILVER_USERS)))
    )
    users = to_pandas(
        user_index.join(t.read(catalog.SILVER_USERS), "user_id", "left")
        .select("user_idx", "user_id", "country")
        .orderBy("user_idx")
    )
    split = event_split(ctx, as_of, holdout_days, user_index, item_index) if holdout_days and as_of else None
    item_index.unpersist()
    return TrainingData(
        interactions=interactions,
        user_ids=users["user_id"].to_numpy(np.int64),
        item_ids=item_ids,
        availability=indexed_availability,
        event_types=EVENT_TYPES,
        seen_event_types=tuple(seen_types),
        sequences=[np.asarray(s, dtype=np.int64) for s in sequences["items"]],
        own_listings=own,
        items=attributes.set_index("item_idx").reindex(range(len(item_ids))),
        users=users[["country"]],
        split=split,
    )


def effective_als_params(ctx: JobContext, config: TrainConfig, as_of) -> tuple[ALSConfig, tuning.Tuning | None]:
    """The configured ALS parameters, updated by the newest tuning up to ``as_of`` when ``use_tuned_params``."""
    tuned = tuning.latest(ctx.tables, as_of) if config.use_tuned_params else None
    return (config.als.model_copy(update=tuned.params) if tuned else config.als), tuned


def _params(config: TrainConfig, als: ALSConfig) -> dict[str, Any]:
    """Every parameter that defines the families' models, as logged to MLflow (and read back for the champion)."""
    return {
        **{f"als.{k}": v for k, v in als.model_dump().items()},
        **{f"als_attributes.{k}": v for k, v in config.als_attributes.model_dump().items()},
        **{f"two_tower.{k}": v for k, v in config.two_tower.model_dump().items()},
        "feature_min_count": config.feature_min_count,
    }


def train(ctx: JobContext, config: TrainConfig) -> dict[str, Any]:
    import mlflow  # imported by the run, not the module: `recpipe train --help` answers at once

    from recpipe import pyfunc

    stages = ctx.stages
    rules = serving_rules()
    as_of = ctx.interactions_as_of()
    with stages.stage("load"):
        data = load_training_data(ctx, rules, config.evaluation.holdout_days, as_of)
        stages.count("interactions", len(data.interactions))
        stages.count("listings", data.n_items)
        user_ids, item_ids = data.user_ids, data.item_ids
    als_params, tuned = effective_als_params(ctx, config, as_of)
    tracking.configure(ctx.settings)
    model_name = tracking.registered_name(ctx.settings, config.model_name)
    factories: dict[str, ModelFactory] = {
        family: model_factory(family, config, als_params, data) for family in config.families
    }
    # the champion's configuration is retrained and scored on this run's split: a fair comparison
    champion = tracking.champion_params(ctx.settings, config.model_name)
    champion_family, champion_factory = _champion_model(champion, config, als_params, data)

    with mlflow.start_run(run_name="train") as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(
            {
                "seed": config.seed,
                "families": ",".join(config.families),
                **_params(config, als_params),
                **{f"item2vec.{k}": v for k, v in config.item2vec.model_dump().items()},
                **{f"evaluation.{k}": v for k, v in config.evaluation.model_dump().items()},
            }
        )
        mlflow.set_tags(
            {**tracking.library_versions(), **{f"delta_version.{k}": v for k, v in ctx.tables.versions_read.items()}}
        )
        if tuned is not None:  # which tuning these parameters came from
            mlflow.log_params({"tuned.as_of": str(tuned.as_of), "tuned.mlflow_run_id": tuned.mlflow_run_id})
        metric = config.gate.metric
        with stages.stage("evaluate"):
            candidates = dict(factories)
            if champion_factory is not None:
                candidates["champion"] = champion_factory
            evaluation = evaluate_on_time_split(
                data, candidates, config.evaluation, max_per_seller=rules.max_per_seller
            )
            for name in evaluation.metrics:
                mlflow.log_metrics(
                    {
                        **evaluation.metrics[name].as_dict(prefix=f"{name}."),
                        **evaluation.targets[name].as_dict(prefix=f"{name}."),
                    }
                )
            # the family of this version: the best of this run on the one metric (first listed wins a tie)
            family = max(config.families, key=lambda f: (evaluation.figure(f, metric), -config.families.index(f)))
            chosen = {**evaluation.metrics[family].as_dict(), **evaluation.targets[family].as_dict()}
            mlflow.log_metrics({k: v for k, v in chosen.items() if k in tracking.MODEL_METRICS})
            mlflow.log_params({"family": family, "evaluation.split_time": str(evaluation.split_time)})
            log.info(
                "family %s: %s %.4f (%s)",
                family,
                metric,
                evaluation.figure(family, metric),
                ", ".join(f"{f} {evaluation.figure(f, metric):.4f}" for f in evaluation.metrics),
            )
        with stages.stage("fit"):
            model = factories[family](pd.Timestamp(as_of_end(as_of))).fit(data.matrix())
            item2vec = fit_item2vec(data, config.item2vec, config.seed)
        with stages.stage("log model"):
            tmp_dir = Path(tmp)
            artifacts = _write_artifacts(tmp_dir, model, item2vec, data, config.feature_min_count)
            chart = metrics_bar_chart(
                {name: m.as_dict() for name, m in evaluation.metrics.items()},
                config.evaluation.k,
                tmp_dir / "metrics.png",
            )
            mlflow.log_artifact(str(chart))
            mlflow.log_artifacts(str(artifacts["item2vec"]), artifact_path="item2vec")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=pyfunc.RecommenderPyfunc(top_n=config.top_n, max_per_seller=rules.max_per_seller),
                artifacts={k: str(v) for k, v in artifacts.items() if k != "item2vec"},
                pip_requirements=[f"recpipe=={_version()}"],
                registered_model_name=model_name,
                input_example=pd.DataFrame({"user_id": user_ids[:2]}),
                signature=pyfunc.pyfunc_signature(),
            )
            version = str(info.registered_model_version)
            champion_value = None
            if champion is not None:  # scored on this split: retrained when its configuration differs
                champion_value = evaluation.figure(
                    "champion" if champion_factory else (champion_family or "champion"), metric
                )
            decision = tracking.gate(
                mlflow.MlflowClient(),
                model_name,
                version,
                metric,
                evaluation.figure(family, metric),
                config.gate.tolerance,
                champion_value=champion_value,
            )
            mlflow.set_tags({"gate.promoted": decision.promoted, "gate.message": decision.message})
        with stages.stage("write vectors"):
            _write_vectors(ctx, version, user_ids, item_ids, model, item2vec, data)

    runs.record_task(ctx.tables, stages.summary(), as_of, run.info.run_id)
    return {
        **stages.summary(),
        "mlflow_run_id": run.info.run_id,
        "model_name": model_name,
        "model_version": version,
        "family": family,
        "promoted": decision.promoted,
        "gate": decision.message,
        "metrics": {
            name: {**m.as_dict(), **evaluation.targets[name].as_dict()} for name, m in evaluation.metrics.items()
        },
        "fit_seconds": {name: round(seconds, 2) for name, seconds in evaluation.seconds.items()},
        "versions_read": dict(ctx.tables.versions_read),
        "versions_written": dict(ctx.tables.versions_written),
    }


def _champion_model(
    champion: tuple[str, dict[str, str]] | None, challenger: TrainConfig, als: ALSConfig, data: TrainingData
) -> tuple[str | None, ModelFactory | None]:
    """The champion's family, and a factory of its configuration when it differs from this run's configuration of
    that family (None: no champion, or this run trains the same model)."""
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
    if family in challenger.families and _params(config, champion_als) == _params(challenger, als):
        return family, None
    return family, model_factory(family, config, champion_als, data)


def _version() -> str:
    from recpipe import __version__

    return __version__


def _write_artifacts(
    tmp: Path, model: Recommender, item2vec, data: TrainingData, feature_min_count: int
) -> dict[str, Path]:
    """The model, id maps, the served rules' inputs as of the data's as-of (exclusions, sellers, for sale) and the
    listing feature encoder (what encodes a listing created after training)."""
    paths = {"model": save_model(model, tmp / model.name), "item2vec": save_model(item2vec, tmp / "item2vec")}
    if data.items is not None:
        paths["listing_features"] = tmp / "listing_features.json"
        data.listing_encoder(feature_min_count).save(paths["listing_features"])
    for_sale = np.zeros(data.n_items, dtype=bool)
    for_sale[data.availability.loc[data.availability["status"] == "active", "item_idx"].to_numpy()] = True
    for name, array in (
        ("user_ids", data.user_ids),
        ("item_ids", data.item_ids),
        ("sellers", data.sellers),
        ("for_sale", for_sale),
    ):
        paths[name] = tmp / f"{name}.npy"
        np.save(paths[name], array)
    paths["excluded"] = tmp / "excluded.npz"
    sp.save_npz(paths["excluded"], data.exclusions())
    return paths


def _factors_frame(ctx: JobContext, ids: np.ndarray, vectors: np.ndarray, id_column: str, version: str):
    pdf = pd.DataFrame(
        {id_column: ids.astype(np.int64), "factors": list(vectors.astype(np.float32)), "model_version": version}
    )
    return TI.with_factors_schema(ctx.spark.createDataFrame(pdf), id_column)


def _write_vectors(
    ctx: JobContext, version: str, user_ids, item_ids, model: Recommender, item2vec, data: TrainingData
) -> None:
    """User vectors, and vectors of the listings that have one: under ALS and item2vec a listing without history
    has none (all zeros) and is left to the attribute rules; the attribute families give every listing one."""
    condition = f"model_version = '{version}'"
    user_vectors, item_vectors = model.embed(np.arange(data.n_users), data.matrix())
    for table, ids, vectors, id_column in (
        (catalog.GOLD_USER_FACTORS, user_ids, user_vectors, "user_id"),
        (catalog.GOLD_ITEM_FACTORS, item_ids, item_vectors, "item_id"),
        (catalog.GOLD_ITEM_EMBEDDINGS, item_ids, item2vec.vectors, "item_id"),
    ):
        stored = has_vector(vectors)
        ctx.tables.replace_where(
            _factors_frame(ctx, ids[stored], vectors[stored], id_column, version), table, condition
        )
        ctx.stages.count(table, int(stored.sum()))
