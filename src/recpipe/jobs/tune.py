"""`recpipe tune`: seeded random search over ALS hyperparameters on the time split, as nested MLflow runs."""

from __future__ import annotations

import argparse
import logging
from functools import partial
from typing import Any

from recpipe import catalog, tracking
from recpipe.config import ALSConfig, TrainConfig, TuneConfig
from recpipe.jobs.context import JobContext
from recpipe.models.base import Recommender
from recpipe.models.training import build_als, evaluate_on_time_split, sample_grid
from recpipe.monitoring import runs, tuning
from recpipe.run_day import add_as_of_arguments
from recpipe.training_data import load_training_data

log = logging.getLogger(__name__)

NAME = "tune"
DESCRIPTION = """\
Draws `trials` combinations (seeded) from the grid of the tune config, trains and scores each on the time split of the
train config (the served ranking), logs each as a nested MLflow run, and records the best parameters in
monitoring.tuned_params, which `recpipe train` uses when use_tuned_params is true. In the task graph it searches
again only when the last tuning is every_days old (--force: now)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser)
    parser.add_argument("--trials", type=int, help="number of combinations to try")
    parser.add_argument("--force", action="store_true", help="search even when the last tuning is recent")


def run(args: argparse.Namespace) -> dict[str, Any]:
    ctx = JobContext.create(NAME, args, [f"trials={args.trials}"] if args.trials else [])
    return tune(ctx, ctx.config.tune, ctx.config.train, force=args.force)


def tune(ctx: JobContext, config: TuneConfig, train_config: TrainConfig, force: bool = False) -> dict[str, Any]:
    import mlflow  # imported by the run, not the module: `recpipe tune --help` answers at once

    as_of = ctx.interactions_as_of()
    previous = tuning.latest(ctx.tables, as_of)
    if previous is not None and not force and (as_of - previous.as_of).days < config.every_days:
        message = f"skipped: the last tuning (as of {previous.as_of}) is under {config.every_days} days old"
        log.info("tune: %s; training uses %s", message, previous.params)
        runs.record_task(ctx.tables, ctx.stages.summary(), as_of, previous.mlflow_run_id)
        return {**ctx.stages.summary(), "skipped": message, "best": previous.params, "as_of": str(previous.as_of)}
    with ctx.stages.stage("load"):
        rules = ctx.config.candidates
        data = load_training_data(ctx, holdout_days=train_config.evaluation.holdout_days)
        data = data.user_sample(config.user_share, config.seed)
        ctx.stages.count("users searched on", data.interactions["user_idx"].nunique())
    tracking.configure(ctx.settings)
    grid = {k: getattr(config, k) for k in ("factors", "regularization", "alpha", "iterations", "weighting")}
    candidates = sample_grid(grid, config.trials, config.seed)
    metric = train_config.promotion.metric
    results = []
    with mlflow.start_run(run_name="tune") as parent, ctx.stages.stage("search"):
        mlflow.log_params(
            {"seed": config.seed, "trials": len(candidates), "metric": metric, "user_share": config.user_share}
        )
        for i, params in enumerate(candidates):
            als = train_config.als.model_copy(update=params)
            with mlflow.start_run(run_name=f"trial-{i}", nested=True):
                mlflow.log_params({f"als.{k}": v for k, v in als.model_dump().items()})
                evaluation = evaluate_on_time_split(
                    data,
                    {"als": partial(trial_als, als, config.seed)},
                    train_config.evaluation,
                    baselines=False,
                    max_per_seller=rules.max_per_seller,
                )
                metrics = evaluation.metrics["als"]
                mlflow.log_metrics(metrics.as_dict())
                value = evaluation.figure("als", metric)
                mlflow.log_metrics(evaluation.targets["als"].as_dict())
            results.append((value, i, params))
            log.info("trial %d/%d %s: %s %.4f", i + 1, len(candidates), params, metric, value)
        best_value, _best_index, best = max(results, key=lambda r: (r[0], -r[1]))
        mlflow.log_params({f"best.{k}": v for k, v in best.items()})
        mlflow.log_metric(f"best_{metric}", best_value)
    tuning.record(ctx.tables, tuning.Tuning(as_of, parent.info.run_id, metric, best_value, best))
    runs.record_task(ctx.tables, ctx.stages.summary(), as_of, parent.info.run_id)
    trials = [{"params": p, metric: v} for v, _, p in results]
    return {
        **ctx.stages.summary(),
        "trials": trials,
        "best": best,
        f"best_{metric}": best_value,
        "as_of": str(as_of),
        "written": catalog.MONITORING_TUNED_PARAMS,
        "mlflow_run_id": parent.info.run_id,
    }


def trial_als(als: ALSConfig, seed: int, at: object) -> Recommender:
    """A trial's model factory: ALS with the trial's parameters, whatever the split time."""
    return build_als(als, seed)
