"""`recpipe experiment analyze NAME`: an online experiment's reading from the impressions and the events after."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import functions as F

from recpipe import catalog, plots, schemas, tracking
from recpipe.jobs.context import JobContext
from recpipe.monitoring import experiment_reading, runs
from recpipe.quality.bronze import platform_start_time
from recpipe.quality.rules import bronze_rules
from recpipe.quality.validation import validate_table
from recpipe.tables import one_row
from recpipe.transforms import experiment_metrics as em

NAME = "experiment"
DESCRIPTION = """\
analyze NAME: validates bronze.impressions (failing rows to quarantine.impressions with the rules they broke), joins
the experiment's impressions with the events that followed (from each user's first exposure to the end plus
experiments.attribution_days), and reads every variant against the control: per exposed user purchases, purchase
value, add-to-bags and views (plain and with CUPED on the pre-period), views per impression (delta method); an
interleaving experiment reads the share of users whose engagements favoured each team. A sample-ratio mismatch
marks the reading blocked. Writes monitoring.experiment_results, an MLflow run and a chart per metric."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["analyze"], help="what to do with the experiment")
    parser.add_argument("name", help="the experiment's name in experiments.active")


def run(args: argparse.Namespace) -> dict[str, Any]:
    ctx = JobContext.create(NAME, args)
    return analyze(ctx, args.name)


def analyze(ctx: JobContext, name: str) -> dict[str, Any]:
    t, stages, config = ctx.tables, ctx.stages, ctx.config.experiments
    experiment = config.named(name)
    first, end = em.window(experiment.start, experiment.end, config.attribution_days)
    raw = t.read(catalog.BRONZE_IMPRESSIONS)
    events = t.read(catalog.BRONZE_EVENTS).dropDuplicates(["event_id"])
    prices = t.read(catalog.SILVER_ITEMS)
    # the reading covers events up to here: a rerun on the same tables writes the same rows
    through = one_row(events.where(F.col("event_ts") < end).agg(F.max("event_ts")))[0] or first
    inputs = (catalog.BRONZE_IMPRESSIONS, catalog.BRONZE_EVENTS, catalog.SILVER_ITEMS)
    run_id = ctx.run_id(name, config.model_dump_json(), [t.versions_read.get(table) for table in inputs])
    with stages.stage("validate impressions"):
        rules = bronze_rules("impressions", platform_start_time(ctx.config.interactions.validation), datetime.now(UTC))
        checked = validate_table(raw, "impressions", schemas.IMPRESSIONS, rules, run_id)
        t.replace_where(checked.quarantine, catalog.QUARANTINE_IMPRESSIONS, f"run_id = '{run_id}'")
        stages.count(catalog.QUARANTINE_IMPRESSIONS, checked.quarantined)
        impressions = checked.valid.cache()
    with stages.stage("read"):
        if experiment.kind == "interleaving":
            credit = em.interleaving_credit(impressions, events, name, end)
            wins = em.interleaving_wins(credit, *(v.name for v in experiment.variants))
            exposed = impressions.where(F.col("experiment") == name).select("user_id").distinct().count()
            rows = experiment_reading.read_interleaving(*wins, exposed, experiment, config, through)
        else:
            outcomes = em.user_outcomes(
                impressions, events, prices, name, experiment.start, experiment.end,
                config.attribution_days, config.pre_period_days,
            )  # fmt: skip
            rows = experiment_reading.read_ab(em.variant_sums(outcomes), experiment, config, through)
    records = experiment_reading.as_records(rows)
    results = ctx.spark.createDataFrame(records, catalog.columns(catalog.MONITORING_EXPERIMENT_RESULTS))
    t.replace_where(results, catalog.MONITORING_EXPERIMENT_RESULTS, f"experiment = '{name}'")
    chart = plots.interval_chart(records, ctx.settings.artifacts / "experiments" / f"{name}.png", f"experiment {name}")
    tracking.log_experiment_reading(ctx.settings, name, run_id, records, chart)
    impressions.unpersist()
    stages.count(catalog.MONITORING_EXPERIMENT_RESULTS, len(records))
    runs.record_task(t, stages.summary(), through.date(), run_id)
    blocked = any(r["blocked"] for r in records)
    return {**stages.summary(), "experiment": name, "through": str(through), "blocked": blocked, "results": records}
