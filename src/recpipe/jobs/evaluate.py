"""`recpipe evaluate`: score the lists a run served against what users did in the following days."""

from __future__ import annotations

import argparse
import logging
from datetime import date
from typing import Any

from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config import FutureEvaluationConfig
from recpipe.jobs.context import JobContext
from recpipe.models.evaluation import holdout_metrics
from recpipe.monitoring import responsible, runs, served_evaluation
from recpipe.run_day import add_as_of_arguments, as_of_end, as_of_from_end
from recpipe.tables import first_row
from recpipe.transforms import future_scoring
from recpipe.transforms.interactions import item_availability

log = logging.getLogger(__name__)

NAME = "evaluate"
DESCRIPTION = """\
Takes the user lists of the run at --as-of (default: the newest run whose longest horizon has passed; earlier
lists are read from gold.user_candidates by Delta time travel) and scores them against the purchases and
add-to-bags of the following days: hit rate and recall at each k, split by the target item's state at the as-of
(warm: had events; cold: listed without events; new: listed later) and for light users (at most
`light_user_events` events before the as-of). Next to them: recent popularity, the newest
listings in each user's top category and size, and, on generated data (sim tables), the oracle: each user's
truly best live items. Writes monitoring.future_evaluation and adds the figures to the run's row in
monitoring.pipeline_runs and its MLflow run. Then recall of the next week's purchases per buyer segment (country,
size class, price level, tenure) with bootstrap intervals and the worst segment's ratio to the best
(monitoring.responsible_measures, the record's `responsible` map)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser)  # the as-of of the run to score; default: the newest run whose horizons have passed


def run(args: argparse.Namespace) -> dict[str, Any]:
    ctx = JobContext.create(NAME, args)
    return evaluate(ctx, ctx.config.evaluate, ctx.as_of)


def evaluate(ctx: JobContext, config: FutureEvaluationConfig, as_of: date | None = None) -> dict[str, Any]:
    if served_evaluation.holdout_protocol(ctx.tables, config):
        return evaluate_holdout(ctx, config, as_of)
    return evaluate_future(ctx, config, as_of)


def evaluate_holdout(ctx: JobContext, config: FutureEvaluationConfig, as_of: date | None) -> dict[str, Any]:
    """The served lists against sim.holdout with Microsoft Recommenders' metrics at ``holdout_k`` (every held-out
    item relevant; averages over users with held-out items and a list)."""
    t, stages, k = ctx.tables, ctx.stages, config.holdout_k
    lists = served_evaluation.lists_as_of(t, as_of, date.max)
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
    served_evaluation.record_figures(ctx.tables, ctx.settings, run_id, figures)
    return {**stages.summary(), "run_id": run_id, "as_of": str(as_of), "protocol": "holdout", "figures": figures}


def evaluate_future(ctx: JobContext, config: FutureEvaluationConfig, as_of: date | None = None) -> dict[str, Any]:
    t, stages, spark = ctx.tables, ctx.stages, ctx.spark
    events = served_evaluation.scorable_events(t.read(catalog.BRONZE_EVENTS))
    lists, last_event = served_evaluation.lists_to_score(t, events, as_of, config.horizons_days)
    stamp = first_row(lists.select("run_id", "generated_at"), catalog.GOLD_USER_CANDIDATES, "recpipe candidates")
    run_id, as_of = stamp.run_id, as_of_from_end(stamp.generated_at)
    end = as_of_end(as_of)
    items = t.read(catalog.BRONZE_ITEMS)
    users = t.read(catalog.BRONZE_USERS).where(F.col("signup_ts") < F.lit(end)).select("user_id")
    available = items.transform(item_availability(as_of)).where(F.col("status") == "active")
    served_evaluation.warn_incomplete(last_event, as_of, config.horizons_days)

    with stages.stage("lists"):
        oracle = config.oracle and t.exists(catalog.SIM_USERS) and t.exists(catalog.SIM_ITEMS)
        sim = (t.read(catalog.SIM_USERS), t.read(catalog.SIM_ITEMS)) if oracle else None
        served = ctx.config.candidates  # the oracle may list what the lists may list
        rules = (served.max_per_seller, future_scoring.served_exclusions(events, end, served.exclude_seen_event_types))
        source = future_scoring.compared_lists(spark, lists, available, items, events, users, end, config, sim, rules)

    with stages.stage("score"):
        targets = events.transform(
            future_scoring.future_targets(end, config.horizons_days, config.target_event_types)
        ).join(users, "user_id")
        light = future_scoring.light_users(events, end, config.light_user_events)
        states = future_scoring.item_states(items, events, end)
        metrics = future_scoring.future_metrics(source, targets, states, config.ks, light)
        results = metrics.select(F.lit(run_id).alias("run_id"), F.lit(as_of).alias("as_of"), "*")
        t.replace_where(results, catalog.MONITORING_FUTURE_EVALUATION, f"run_id = '{run_id}'")
        table = served_evaluation.future_table(t, run_id)
        stages.count(catalog.MONITORING_FUTURE_EVALUATION, len(table))

    served_evaluation.log_table(table, config)
    figures = served_evaluation.headline_figures(table, config)
    served_evaluation.record_figures(ctx.tables, ctx.settings, run_id, figures)
    with stages.stage("parity"):  # recall across buyer segments, with intervals
        measures = ctx.config.responsible.measures
        parity = responsible.record_parity(t, ctx.settings, lists, events, run_id, as_of, measures)
    return {**stages.summary(), "run_id": run_id, "as_of": str(as_of), "protocol": "future", "figures": figures,
            "parity": parity}  # fmt: skip
