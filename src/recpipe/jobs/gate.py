"""`recpipe gate`: check the gold lists before they may be published, and record the run."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from pyspark.sql import functions as F

from recpipe import catalog, tracking
from recpipe.config import ListGateConfig
from recpipe.jobs.context import JobContext
from recpipe.monitoring import responsible, runs
from recpipe.monitoring.responsible import LIST_DIMENSION as LISTS
from recpipe.progress import format_figure
from recpipe.quality import list_gate
from recpipe.quality.list_gate import ListGateError
from recpipe.quality.validation import summarize
from recpipe.run_day import add_as_of_arguments, as_of_from_end
from recpipe.transforms.candidates import seen_pairs

log = logging.getLogger(__name__)

NAME = "gate"
DESCRIPTION = """\
The list gate. Checks every list in gold.user_candidates, gold.similar_items and gold.fallback_candidates (no sold,
deleted, seen or own item, no duplicate, scores sorted, minimum length), then the run as a whole (every user covered,
catalog coverage and fallback share within bounds, no seller above max_seller_exposure_share of the exposure, and
the change against the lists published last). Measures exposure across sellers, diversity, novelty and coverage
of the lists (monitoring.responsible_measures, the run record's `responsible` map). Writes
monitoring.gate_results, failing lists to quarantine.gold_lists, the Great Expectations results as JSON and the
run's row in monitoring.pipeline_runs. A failed rule stops here with exit code 2; recpipe publish refuses a run
that has not passed, so the live Redis version stays."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser)


def run(args: argparse.Namespace) -> dict[str, Any]:
    ctx = JobContext.create(NAME, args)
    return check(ctx, ctx.config.gate)


def check(ctx: JobContext, config: ListGateConfig) -> dict[str, Any]:
    t, stages = ctx.tables, ctx.stages
    previous = list_gate.previous_published(t) if config.compare_with_previous else None
    user_lists = t.read(catalog.GOLD_USER_CANDIDATES)
    stamp = user_lists.select("run_id", "model_version", "generated_at").first()
    if stamp is None:
        raise ListGateError("table gold.user_candidates is empty (rule gold.user_candidates.*.not_empty)")
    run_id, model_version, as_of = stamp.run_id, stamp.model_version, as_of_from_end(stamp.generated_at)
    ctx.check_as_of(catalog.GOLD_USER_CANDIDATES, as_of, "recpipe candidates")
    availability = t.read(catalog.SILVER_ITEM_AVAILABILITY)
    available = availability.where(F.col("status") == "active").select("item_id")
    seen = seen_pairs(t.read(catalog.SILVER_INTERACTIONS), ctx.config.candidates.exclude_seen_event_types)

    with stages.stage("list rules"):
        report, failing, gx_results, cached = list_gate.judge_lists(
            t, user_lists, available, seen, config, stages.count
        )
    with stages.stage("responsible measures"):  # exposure, diversity, coverage of what would ship
        served = responsible.served_inputs(t, user_lists, as_of, model_version)
        measures = responsible.measure_lists(served, ctx.config.responsible.measures)
    with stages.stage("run rules"):
        users = t.read(catalog.SILVER_USERS)
        figures, gx_results["run"] = list_gate.judge_run(
            user_lists, users, available, previous, availability, config, measures
        )
        report += summarize(gx_results["run"])
        log.info("gate: %s", ", ".join(f"{name} {format_figure(value)}" for name, value in figures.items()))

    results = list_gate.result_rows(report, figures, config, run_id)
    failed = [r for r in results if not r["passed"]]
    t.replace_where(failing.withColumn("run_id", F.lit(run_id)), catalog.QUARANTINE_GOLD_LISTS, f"run_id = '{run_id}'")
    for df in cached:  # a long-lived session (notebooks, tests) must not keep every run's frames
        df.unpersist()
    t.replace_where(
        ctx.spark.createDataFrame(results, catalog.columns(catalog.MONITORING_GATE_RESULTS)),
        catalog.MONITORING_GATE_RESULTS,
        f"run_id = '{run_id}'",
    )
    report_path = ctx.settings.artifacts / "validation" / run_id / "gold_gate.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(gx_results, indent=1, default=str))
    stages.count("failed rules", len(failed))

    summary = stages.summary()
    runs.record_task(t, summary, as_of, run_id)
    record = list_gate.run_record(t, ctx.settings, ctx.config.model.name, run_id, as_of, model_version, figures, failed)
    runs.write_run(t, {**record, "responsible": measures})
    responsible.write_measures(t, run_id, as_of, responsible.list_rows(measures, figures["lists"]), [LISTS])
    tracking.log_pipeline_run(ctx.settings, {**record, "responsible": measures})
    if failed:
        reasons = "; ".join(list_gate.explain(r) for r in failed)
        raise ListGateError(
            f"gate failed for run {run_id}: nothing published, the live version stays; {reasons} (report: {report_path})"
        )
    log.info("gate passed for run %s: %d rules", run_id, len(results))
    return {**summary, "run_id": run_id, "as_of": str(as_of), "passed": True, "figures": figures}
