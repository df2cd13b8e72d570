"""`recpipe evaluate`: score the lists a run served against what users did in the following days."""

from __future__ import annotations

import argparse
import logging
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recpipe import catalog, tracking
from recpipe.config import FutureEvaluationConfig, load_job_config
from recpipe.errors import MissingInputError
from recpipe.jobs.context import JobContext, add_as_of_arguments
from recpipe.models.evaluation import RankingMetrics, ranking_metrics
from recpipe.models.matrix import to_csr
from recpipe.monitoring import runs
from recpipe.tables import Tables, first_row, one_row
from recpipe.transforms import future_scoring as S
from recpipe.transforms.interactions import as_of_end, as_of_from_end, item_availability

log = logging.getLogger(__name__)

NAME = "evaluate"
DESCRIPTION = """\
Takes the user lists of the run at --as-of (default: the newest run whose longest horizon has passed; earlier
lists are read from gold.user_candidates by Delta time travel) and scores them against the purchases and
add-to-bags of the following days: hit rate and recall at each k, split by the target item's state at the as-of
(warm: had events; cold: listed without events; new: listed later). Next to them: recent popularity, the newest
listings in each user's top category and size, and, on generated data (sim tables), the oracle: each user's
truly best live items. Writes monitoring.future_evaluation and adds the figures to the run's row in
monitoring.pipeline_runs and its MLflow run."""

MAX_VERSIONS_SEARCHED = 400


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser)  # the as-of of the run to score; default: the newest run whose horizons have passed


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = load_job_config(NAME, FutureEvaluationConfig, args.conf, args.set)
    ctx = JobContext.create(NAME, args)
    return evaluate(ctx, config, ctx.as_of)


def lists_as_of(tables: Tables, as_of: date | None, complete_by: date | None) -> DataFrame:
    """gold.user_candidates of the run at ``as_of``, found in the Delta history; without ``as_of``, the newest run
    whose horizons have passed by ``complete_by`` (the last day with events)."""
    name = catalog.GOLD_USER_CANDIDATES
    latest = tables.version(name)
    for version in range(latest, max(-1, latest - MAX_VERSIONS_SEARCHED), -1):
        lists = tables.read(name, version=version)
        stamp = lists.select("generated_at").first()
        if stamp is None:
            continue
        run_as_of = as_of_from_end(stamp.generated_at)
        if run_as_of == as_of or (as_of is None and complete_by is not None and run_as_of <= complete_by):
            return lists
    wanted = f"as-of {as_of}" if as_of else f"a run whose horizons ended by {complete_by} (the last day with events)"
    raise MissingInputError(f"{name}: no version holds the lists of {wanted}: run the pipeline at that as-of first")


def holdout_protocol(tables: Tables, config: FutureEvaluationConfig) -> bool:
    """Score against held-out ratings (public data) or against the following days (marketplace data)."""
    if config.protocol != "auto":
        return config.protocol == "holdout"
    return tables.exists(catalog.SIM_HOLDOUT) and tables.read(catalog.SIM_HOLDOUT).take(1) != []


def evaluate(ctx: JobContext, config: FutureEvaluationConfig, as_of: date | None = None) -> dict[str, Any]:
    if holdout_protocol(ctx.tables, config):
        return evaluate_holdout(ctx, config, as_of)
    return evaluate_future(ctx, config, as_of)


def evaluate_holdout(ctx: JobContext, config: FutureEvaluationConfig, as_of: date | None) -> dict[str, Any]:
    """The served lists against sim.holdout with Microsoft Recommenders' metrics at ``holdout_k`` (every held-out
    item relevant; averages over users with held-out items and a list)."""
    t, stages, k = ctx.tables, ctx.stages, config.holdout_k
    lists = lists_as_of(t, as_of, date.max)
    stamp = first_row(lists.select("run_id", "generated_at"), catalog.GOLD_USER_CANDIDATES, "recpipe candidates")
    run_id, as_of = stamp.run_id, as_of_from_end(stamp.generated_at)
    with stages.stage("score"):
        served = lists.select("user_id", F.slice("item_ids", 1, k).alias("item_ids")).toPandas()
        truth = t.read(catalog.SIM_HOLDOUT).select("user_id", "item_id").toPandas()
        metrics = holdout_metrics(served, truth, k)
        rows = [(run_id, as_of, k, name, float(value)) for name, value in metrics.as_dict().items() if name != "k"]
        t.replace_where(
            ctx.spark.createDataFrame(rows, catalog.columns(catalog.MONITORING_HOLDOUT_EVALUATION)),
            catalog.MONITORING_HOLDOUT_EVALUATION,
            f"run_id = '{run_id}'",
        )
        stages.count(catalog.MONITORING_HOLDOUT_EVALUATION, len(rows))
    log.info(
        "evaluate: run %s against %s: %s",
        run_id,
        catalog.SIM_HOLDOUT,
        ", ".join(f"{name}@{k} {value:.4f}" for _, _, _, name, value in rows if name != "n_users"),
    )
    figures = {runs.holdout_key("pipeline", f"{name}_at_{k}"): round(value, 4) for _, _, _, name, value in rows}
    _record(ctx, run_id, figures)
    return {**stages.summary(), "run_id": run_id, "as_of": str(as_of), "protocol": "holdout", "figures": figures}


def holdout_metrics(served, truth, k: int) -> RankingMetrics:
    """Ranking metrics of served lists (``user_id``, ``item_ids``) against held-out pairs (``user_id``, ``item_id``)."""
    user_codes, users = pd.factorize(pd.concat([served["user_id"], truth["user_id"]], ignore_index=True))
    listed = (
        np.concatenate([np.asarray(ids, dtype=np.int64) for ids in served["item_ids"]])
        if len(served)
        else np.zeros(0, np.int64)
    )
    item_codes, items = pd.factorize(pd.concat([pd.Series(listed), truth["item_id"]], ignore_index=True))
    recommended = np.full((len(served), k), -1, dtype=np.int64)
    lengths = served["item_ids"].map(len).to_numpy()
    rows = np.repeat(np.arange(len(served)), lengths)
    columns = np.arange(len(listed)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    recommended[rows, columns] = item_codes[: len(listed)]
    truth_matrix = to_csr(
        user_codes[len(served) :], item_codes[len(listed) :], np.ones(len(truth)), len(users), len(items)
    )
    return ranking_metrics(user_codes[: len(served)], recommended, truth_matrix, k)


def _record(ctx: JobContext, run_id: str, figures: dict[str, float]) -> None:
    """Add the figures to the run's row in monitoring.pipeline_runs and to its MLflow run."""
    record = runs.read_run(ctx.tables, run_id)
    if record is None:
        log.info(
            "evaluate: run %s has no row in %s (no gate ran): figures only in monitoring",
            run_id,
            catalog.MONITORING_PIPELINE_RUNS,
        )
        return
    runs.write_run(ctx.tables, {**record, "future": figures})
    tracking.log_pipeline_run(ctx.settings, {**record, "future": figures})  # the run's MLflow mirror


def evaluate_future(ctx: JobContext, config: FutureEvaluationConfig, as_of: date | None = None) -> dict[str, Any]:
    t, stages, spark = ctx.tables, ctx.stages, ctx.spark
    events = t.read(catalog.BRONZE_EVENTS).where(
        F.col("user_id").isNotNull() & F.col("item_id").isNotNull() & F.col("event_ts").isNotNull()
    )
    last_event = one_row(events.agg(F.max("event_ts")))[0]
    last_day = last_event.date() if last_event is not None else None
    complete_by = last_day - timedelta(days=max(config.horizons_days)) if last_day else None
    lists = lists_as_of(t, as_of, complete_by)
    stamp = first_row(lists.select("run_id", "generated_at"), catalog.GOLD_USER_CANDIDATES, "recpipe candidates")
    run_id, as_of = stamp.run_id, as_of_from_end(stamp.generated_at)
    end = as_of_end(as_of)
    depth = max(config.ks)
    items = t.read(catalog.BRONZE_ITEMS)
    users = t.read(catalog.BRONZE_USERS).where(F.col("signup_ts") < F.lit(end)).select("user_id")
    available = items.transform(item_availability(as_of)).where(F.col("status") == "active")
    incomplete = [h for h in config.horizons_days if last_day is None or last_day < as_of + timedelta(days=h)]
    if incomplete:
        log.warning(
            "evaluate: events end at %s: horizons %s days after %s are incomplete", last_event, incomplete, as_of
        )

    with stages.stage("lists"):
        sources = [
            S.personal_source("pipeline", lists, depth),
            S.recent_popularity_source(available, events, users, end, config.recent_days, depth),
            S.newest_in_taste_source(available, items, events, users, end, depth),
        ]
        if config.oracle and t.exists(catalog.SIM_USERS) and t.exists(catalog.SIM_ITEMS):
            sources.append(
                S.oracle_source(spark, t.read(catalog.SIM_USERS), t.read(catalog.SIM_ITEMS), available, users, depth)
            )
        source = S.ListSource.union(sources)

    with stages.stage("score"):
        targets = events.transform(S.future_targets(end, config.horizons_days, config.target_event_types)).join(
            users, "user_id"
        )
        metrics = S.future_metrics(source, targets, S.item_states(items, events, end), config.ks)
        results = metrics.select(F.lit(run_id).alias("run_id"), F.lit(as_of).alias("as_of"), "*")
        t.replace_where(results, catalog.MONITORING_FUTURE_EVALUATION, f"run_id = '{run_id}'")
        table = (
            t.read(catalog.MONITORING_FUTURE_EVALUATION)
            .where(F.col("run_id") == run_id)
            .orderBy("target", "horizon_days", "segment", "list")
            .toPandas()
        )
        stages.count(catalog.MONITORING_FUTURE_EVALUATION, len(table))

    _log_table(table, config)
    figures = headline_figures(table, config)
    _record(ctx, run_id, figures)
    return {**stages.summary(), "run_id": run_id, "as_of": str(as_of), "protocol": "future", "figures": figures}


def headline_figures(table, config: FutureEvaluationConfig) -> dict[str, float]:
    """``<list>/<target>/<horizon>d/<segment>/recall_at_<k>`` for every row: what the run record keeps."""
    figures = {}
    for row in table.itertuples(index=False):
        for k in config.ks:
            key = runs.future_key(row.list, row.target, row.horizon_days, row.segment, f"recall_at_{k}")
            figures[key] = round(float(getattr(row, f"recall_at_{k}")), 4)
    return figures


def _log_table(table, config: FutureEvaluationConfig) -> None:
    for (target, horizon), part in table.groupby(["target", "horizon_days"]):
        log.info("evaluate: %s within %d days:", target, horizon)
        for row in part.itertuples(index=False):
            cells = "  ".join(
                f"recall@{k} {getattr(row, f'recall_at_{k}'):.3f}  hit@{k} {getattr(row, f'hit_rate_at_{k}'):.3f}"
                for k in config.ks
            )
            log.info("  %-18s %-5s users %6d  %s", row.list, row.segment, row.users, cells)
