"""`recpipe train`: ALS and item2vec from silver interactions, evaluated, tracked and gated in MLflow."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import scipy.sparse as sp

from recpipe import tracking
from recpipe.config import ALSConfig, CandidatesConfig, TrainConfig, load_job_config
from recpipe.jobs.context import JobContext, add_as_of_arguments
from recpipe.monitoring import runs, tuning
from recpipe.models.registry import save_model
from recpipe.models.training import TrainingData, build_als, evaluate_on_time_split, fit_item2vec
from recpipe.plots import metrics_bar_chart
from recpipe.transforms import candidates as C
from recpipe.transforms import training_inputs as TI

NAME = "train"
HELP = "Train ALS and item2vec on silver interactions, evaluate against baselines, register and gate in MLflow."
DESCRIPTION = """\
Reads silver.interactions and the run's indices, evaluates ALS against global and recent popularity on a time
split (only items still for sale at the split time are ranked), fits the final ALS and item2vec models, logs
parameters, metrics, library and Delta versions and artifacts to MLflow, registers a pyfunc model and moves the
`champion` alias to it only when its metric is within the tolerance of the champion's. Factors and embeddings
are written to gold.user_factors, gold.item_factors and gold.item_embeddings with the model version."""



def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser)
    parser.add_argument("--seed", type=int, help="random seed")


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = load_job_config(NAME, TrainConfig, args.conf, [*args.set, *([f"seed={args.seed}"] if args.seed is not None else [])])
    return train(JobContext.create(NAME, args), config)


def serving_rules() -> CandidatesConfig:
    """The candidates job's configuration: its ranking rules are the ones offline evaluation and the registered
    model apply (one home: the candidates config)."""
    return load_job_config("candidates", CandidatesConfig)


def load_training_data(ctx: JobContext, rules: CandidatesConfig | None = None) -> TrainingData:
    """Silver tables -> pandas through Arrow (the model code needs no Spark); ``seen`` marks the pairs the
    candidates job excludes (``exclude_seen_event_types``)."""
    t = ctx.tables
    seen_types = (rules or serving_rules()).exclude_seen_event_types
    user_index, item_index = t.read("silver.user_index"), t.read("silver.item_index")
    indexed = TI.indexed_interactions(user_index, item_index, seen_types)
    interactions = t.read("silver.interactions").transform(indexed).toPandas()
    availability = t.read("silver.item_availability").transform(TI.indexed_availability(item_index)).toPandas()
    sequences = t.read("silver.daily_interactions").transform(TI.item_sequences(item_index)).select("items").toPandas()
    own = C.own_listings(t.read("silver.items")).transform(TI.indexed_pairs(user_index, item_index)).toPandas()
    return TrainingData(
        interactions=interactions,
        user_ids=user_index.orderBy("user_idx").select("user_id").toPandas()["user_id"].to_numpy(np.int64),
        item_ids=item_index.orderBy("item_idx").select("item_id").toPandas()["item_id"].to_numpy(np.int64),
        availability=availability,
        sequences=[np.asarray(s, dtype=np.int64) for s in sequences["items"]],
        own_listings=own,
    )


def effective_als_params(ctx: JobContext, config: TrainConfig, as_of) -> tuple[ALSConfig, tuning.Tuning | None]:
    """The configured ALS parameters, updated by the newest tuning up to ``as_of`` when ``use_tuned_params``."""
    tuned = tuning.latest(ctx.tables, as_of) if config.use_tuned_params else None
    return (config.als.model_copy(update=tuned.params) if tuned else config.als), tuned


def train(ctx: JobContext, config: TrainConfig) -> dict[str, Any]:
    stages = ctx.stages
    rules = serving_rules()
    with stages.stage("load"):
        data = load_training_data(ctx, rules)
        stages.count("interactions", len(data.interactions))
        user_ids, item_ids = data.user_ids, data.item_ids
    as_of = ctx.interactions_as_of()
    als_params, tuned = effective_als_params(ctx, config, as_of)
    tracking.configure(ctx.settings)
    model_name = tracking.registered_name(ctx.settings, config.model_name)
    # the champion's configuration is retrained and scored on this run's split: a fair comparison
    champion = tracking.champion_params(ctx.settings, config.model_name)

    with mlflow.start_run(run_name="train") as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params({"seed": config.seed, **{f"als.{k}": v for k, v in als_params.model_dump().items()},
                           **{f"item2vec.{k}": v for k, v in config.item2vec.model_dump().items()},
                           **{f"evaluation.{k}": v for k, v in config.evaluation.model_dump().items()}})
        mlflow.set_tags({**tracking.library_versions(), **{f"delta_version.{k}": v for k, v in ctx.tables.versions_read.items()}})
        if tuned is not None:  # which tuning these parameters came from
            mlflow.log_params({"tuned.as_of": str(tuned.as_of), "tuned.mlflow_run_id": tuned.mlflow_run_id})
        with stages.stage("evaluate"):
            candidates = {"als": build_als(als_params, config.seed)}
            champion_als = _champion_als(champion, als_params)
            if champion_als is not None:
                candidates["champion"] = build_als(champion_als, config.seed)
            evaluation = evaluate_on_time_split(data, candidates, config.evaluation, max_per_seller=rules.max_per_seller)
            for model, metrics in evaluation.metrics.items():
                mlflow.log_metrics(metrics.as_dict(prefix=f"{model}."))
            als_metrics = evaluation.metrics["als"]
            mlflow.log_metrics({k: v for k, v in als_metrics.as_dict().items() if k in ("precision", "recall", "ndcg", "map")})
            mlflow.log_params({"evaluation.split_time": str(evaluation.split_time)})
        with stages.stage("fit"):
            seen = data.matrix()
            als = build_als(als_params, config.seed).fit(seen)
            item2vec = fit_item2vec(data, config.item2vec, config.seed)
        with stages.stage("log model"):
            tmp_dir = Path(tmp)
            artifacts = _write_artifacts(tmp_dir, als, item2vec, data, user_ids, item_ids)
            chart = metrics_bar_chart({name: m.as_dict() for name, m in evaluation.metrics.items()}, config.evaluation.k, tmp_dir / "metrics.png")
            mlflow.log_artifact(str(chart))
            mlflow.log_artifacts(str(artifacts["item2vec"]), artifact_path="item2vec")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=tracking.RecommenderPyfunc(top_n=config.top_n, max_per_seller=rules.max_per_seller),
                artifacts={k: str(v) for k, v in artifacts.items() if k != "item2vec"},
                pip_requirements=[f"recpipe=={_version()}"],
                registered_model_name=model_name,
                input_example=pd.DataFrame({"user_id": user_ids[:2]}),
            )
            version = str(info.registered_model_version)
            champion_metrics = evaluation.metrics.get("champion", als_metrics)  # same configuration: same score
            decision = tracking.gate(mlflow.MlflowClient(), model_name, version, config.gate.metric,
                                     getattr(als_metrics, config.gate.metric), config.gate.tolerance,
                                     champion_value=getattr(champion_metrics, config.gate.metric) if champion else None)
            mlflow.set_tags({"gate.promoted": decision.promoted, "gate.message": decision.message})
        with stages.stage("write factors"):
            _write_factors(ctx, version, user_ids, item_ids, als, item2vec)

    runs.record_task(ctx.tables, stages.summary(), as_of, run.info.run_id)
    return {
        **stages.summary(),
        "mlflow_run_id": run.info.run_id,
        "model_name": model_name,
        "model_version": version,
        "promoted": decision.promoted,
        "gate": decision.message,
        "metrics": {name: m.as_dict() for name, m in evaluation.metrics.items()},
        "versions_read": dict(ctx.tables.versions_read),
        "versions_written": dict(ctx.tables.versions_written),
    }


def _champion_als(champion: tuple[str, dict[str, str]] | None, challenger: ALSConfig) -> ALSConfig | None:
    """The champion's ALS configuration when it differs from the challenger's (None: no champion, or the same)."""
    if champion is None:
        return None
    known = {k: v for k, v in champion[1].items() if k in ALSConfig.model_fields}
    params = ALSConfig.model_validate({**challenger.model_dump(), **known, "use_gpu": challenger.use_gpu, "num_threads": challenger.num_threads})
    return None if params == challenger else params


def _version() -> str:
    from recpipe import __version__

    return __version__


def _write_artifacts(tmp: Path, als, item2vec, data: TrainingData, user_ids: np.ndarray, item_ids: np.ndarray) -> dict[str, Path]:
    """The model, id maps and the served rules' inputs as of the data's as-of (exclusions, sellers, for sale)."""
    paths = {"model": save_model(als, tmp / "als"), "item2vec": save_model(item2vec, tmp / "item2vec")}
    for_sale = np.zeros(data.n_items, dtype=bool)
    for_sale[data.availability.loc[data.availability["status"] == "active", "item_idx"].to_numpy()] = True
    for name, array in (("user_ids", user_ids), ("item_ids", item_ids), ("sellers", data.sellers), ("for_sale", for_sale)):
        paths[name] = tmp / f"{name}.npy"
        np.save(paths[name], array)
    paths["excluded"] = tmp / "excluded.npz"
    sp.save_npz(paths["excluded"], data.exclusions())
    return paths


def _factors_frame(ctx: JobContext, ids: np.ndarray, vectors: np.ndarray, id_column: str, version: str):
    pdf = pd.DataFrame({id_column: ids.astype(np.int64), "factors": list(vectors.astype(np.float32)), "model_version": version})
    return TI.with_factors_schema(ctx.spark.createDataFrame(pdf), id_column)


def _write_factors(ctx: JobContext, version: str, user_ids, item_ids, als, item2vec) -> None:
    condition = f"model_version = '{version}'"
    for table, ids, vectors, id_column in (
        ("gold.user_factors", user_ids, als.user_factors, "user_id"),
        ("gold.item_factors", item_ids, als.item_factors, "item_id"),
        ("gold.item_embeddings", item_ids, item2vec.vectors, "item_id"),
    ):
        ctx.tables.replace_where(_factors_frame(ctx, ids, vectors, id_column, version), table, condition)
        ctx.stages.count(table, len(ids))
