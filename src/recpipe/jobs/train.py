"""`recpipe train`: model families (ALS, ALS with attributes, two towers) and item2vec from silver, evaluated on
next-week purchases, tracked and promoted in MLflow."""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from recpipe import ranking_stage, tracking, training_runs
from recpipe.config import TrainConfig
from recpipe.jobs.context import JobContext
from recpipe.models.registry import write_artifacts
from recpipe.models.training import ModelFactory, evaluate_on_time_split, fit_item2vec, model_factory
from recpipe.monitoring import runs, tuning
from recpipe.plots import metrics_bar_chart
from recpipe.run_day import add_as_of_arguments, as_of_end
from recpipe.training_data import load_training_data, vector_frames

log = logging.getLogger(__name__)

NAME = "train"
DESCRIPTION = """\
Evaluates every model family of `families` (ALS; ALS with an attribute-to-factor map; two towers; two towers plus
ALS) against popularity on a time split of silver (the last `evaluation.holdout_days`), on the lists the candidates
job would serve then (the run's candidates rules), by recall of the holdout's purchases at `evaluation.target_k`.
The best family is fitted on everything, logged to MLflow, registered under `model.name` and promoted to champion
when within `promotion.tolerance` of the champion retrained on the same split. With `ranking.enabled`, the learned
ranker is fitted at the same split on that family's candidates (LightGBM LambdaRank, labels from the held-out
days) and registered with the version; its figures against the model's order alone are logged. Vectors go to gold.user_factors,
gold.item_factors and gold.item_embeddings with the model version."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser)
    parser.add_argument("--seed", type=int, help="random seed")


def run(args: argparse.Namespace) -> dict[str, Any]:
    ctx = JobContext.create(NAME, args, [f"seed={args.seed}"] if args.seed is not None else [])
    return train(ctx, ctx.config.train)


def train(ctx: JobContext, config: TrainConfig) -> dict[str, Any]:
    import mlflow  # imported by the run, not the module: `recpipe train --help` answers at once

    stages, rules, metric = ctx.stages, ctx.config.candidates, config.promotion.metric
    as_of = ctx.interactions_as_of()
    with stages.stage("load"):
        data = load_training_data(ctx, config.evaluation.holdout_days, as_of)
        stages.count("interactions", len(data.interactions))
        stages.count("listings", data.n_items)
    als, tuned = tuning.effective_als_params(ctx.tables, config, as_of)
    tracking.configure(ctx.settings)
    registered = tracking.registered_name(ctx.settings, ctx.config.model.name)
    factories: dict[str, ModelFactory] = {
        family: model_factory(family, config, als, data) for family in config.families
    }
    # the champion's configuration is retrained and scored on this run's split: a fair comparison
    champion = tracking.champion_params(ctx.settings, ctx.config.model.name)
    champion_family, champion_factory = training_runs.champion_model(champion, config, als, data)
    compared: dict[str, ModelFactory] = {**factories}
    if champion_factory is not None:
        compared["champion"] = champion_factory

    with mlflow.start_run(run_name="train") as run, tempfile.TemporaryDirectory() as tmp:
        training_runs.log_training_params(config, als, rules, tuned, ctx.tables.versions_read)
        with stages.stage("evaluate"):
            evaluation = evaluate_on_time_split(data, compared, config.evaluation, max_per_seller=rules.max_per_seller)
            family = evaluation.best(config.families, metric)
            training_runs.log_evaluation(evaluation, family)
        ranker = None
        if ctx.config.ranking.enabled:
            with stages.stage("ranker"):
                ranker = ranking_stage.ranker_on_split(ctx, data, evaluation, family, ctx.config.ranking, config.seed)
                training_runs.log_ranker(ranker, ctx.config.ranking, Path(tmp))
                stages.count("ranker training rows", ranker.training_rows)
        with stages.stage("fit"):
            model = factories[family](pd.Timestamp(as_of_end(as_of))).fit(data.matrix())
            item2vec = fit_item2vec(data, config.item2vec, config.seed)
        with stages.stage("log model"):
            artifacts = write_artifacts(
                Path(tmp), model, item2vec, data, config.feature_min_count, ranker.ranker if ranker else None
            )
            metrics = {name: m.as_dict() for name, m in evaluation.metrics.items()}
            mlflow.log_artifact(str(metrics_bar_chart(metrics, config.evaluation.k, Path(tmp) / "metrics.png")))
            version = training_runs.log_recommender(
                Path(tmp), artifacts, registered, rules.top_n, rules.max_per_seller, data.user_ids
            )
            # the champion is scored on this split: retrained when its configuration differs
            scored_as = None if champion is None else "champion" if champion_factory else champion_family or "champion"
            decision = training_runs.promote_on_split(registered, version, evaluation, family, scored_as, config)
        with stages.stage("write vectors"):
            for table, frame in vector_frames(ctx.spark, version, model, item2vec, data).items():
                ctx.tables.replace_where(frame, table, f"model_version = '{version}'")
                stages.count(table, ctx.tables.rows_written(table))

    runs.record_task(ctx.tables, stages.summary(), as_of, run.info.run_id)
    return {
        **stages.summary(),
        "mlflow_run_id": run.info.run_id,
        "model_name": registered,
        "model_version": version,
        "family": family,
        "promoted": decision.promoted,
        "promotion": decision.message,
        "metrics": {
            name: {**m.as_dict(), **evaluation.targets[name].as_dict()} for name, m in evaluation.metrics.items()
        },
        "ranker": ranker.figures if ranker else None,
        "fit_seconds": {name: round(seconds, 2) for name, seconds in evaluation.seconds.items()},
        "versions_read": dict(ctx.tables.versions_read),
        "versions_written": dict(ctx.tables.versions_written),
    }
