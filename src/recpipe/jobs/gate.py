"""`recpipe gate`: check the gold lists before they may be published, and record the run."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recpipe import catalog, tracking
from recpipe.config import CandidatesConfig, QualityGateConfig, load_job_config
from recpipe.jobs.context import JobContext, add_as_of_arguments
from recpipe.monitoring import runs
from recpipe.progress import format_figure
from recpipe.quality import gold
from recpipe.quality.rules import DataQualityError
from recpipe.quality.validation import CountCheck, judge_counts, run_expectations, summarize
from recpipe.tables import one_row
from recpipe.transforms.candidates import seen_pairs
from recpipe.transforms.interactions import as_of_from_end

log = logging.getLogger(__name__)

NAME = "gate"
DESCRIPTION = """\
Checks every list in gold.user_candidates, gold.similar_items and gold.fallback_candidates (no sold, deleted, seen
or own item, no duplicate, scores sorted, minimum length), then the run as a whole (every user covered, catalog
coverage and fallback share within bounds, and the change against the lists published last: overlap at N,
coverage, score level). Writes monitoring.gate_results, failing lists to quarantine.gold_lists, the Great
Expectations results as JSON, and the run's row in monitoring.pipeline_runs (with depletion: the share of the
last published entries that sold since). A failed rule stops here with exit code 2; recpipe publish refuses a
run that has not passed, so the live Redis version stays."""


class QualityGateError(DataQualityError):
    """The gold lists broke a gate rule: nothing is published."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser)


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = load_job_config(NAME, QualityGateConfig, args.conf, args.set)
    candidates = load_job_config("candidates", CandidatesConfig)
    return check(JobContext.create(NAME, args), config, candidates)


def previous_published(ctx: JobContext) -> DataFrame | None:
    """The user lists published last, other than today's, read back from gold.user_candidates by time travel."""
    t = ctx.tables
    if (
        not t.exists(catalog.MONITORING_PUBLISH_MANIFESTS)
        or "gold_version" not in t.read(catalog.MONITORING_PUBLISH_MANIFESTS).columns
    ):
        return None
    today = t.version(catalog.GOLD_USER_CANDIDATES)  # publishing today's lists again is not a previous run
    last = (
        t.read(catalog.MONITORING_PUBLISH_MANIFESTS)
        .where((F.col("surface") == "foryou") & (F.col("gold_version") != today))
        .orderBy(F.col("gold_version").desc())
        .select("gold_version")
        .first()
    )
    return None if last is None else t.read(catalog.GOLD_USER_CANDIDATES, version=int(last.gold_version))


def check(ctx: JobContext, config: QualityGateConfig, candidates: CandidatesConfig) -> dict[str, Any]:
    t, stages = ctx.tables, ctx.stages
    previous = previous_published(ctx) if config.compare_with_previous else None
    user_lists = t.read(catalog.GOLD_USER_CANDIDATES)
    stamp = user_lists.select("run_id", "model_version", "generated_at").first()
    if stamp is None:
        raise QualityGateError("table gold.user_candidates is empty (rule gold.user_candidates.*.not_empty)")
    run_id, model_version, as_of = stamp.run_id, stamp.model_version, as_of_from_end(stamp.generated_at)
    ctx.check_as_of(catalog.GOLD_USER_CANDIDATES, as_of, "recpipe candidates")
    items, availability = t.read(catalog.SILVER_ITEMS), t.read(catalog.SILVER_ITEM_AVAILABILITY)
    available = availability.where(F.col("status") == "active").select("item_id")
    seen = seen_pairs(t.read(catalog.SILVER_INTERACTIONS), candidates.exclude_seen_event_types)

    report, quarantine, gx_results, cached = [], [], {}, []
    with stages.stage("list rules"):
        for surface in gold.SURFACES:
            lists = gold.require_encoded_lists(
                user_lists if surface.table == catalog.GOLD_USER_CANDIDATES else t.read(surface.table), surface.table
            )
            checks = gold.list_checks(lists, surface, available, seen, items.select("item_id", "seller_id")).cache()
            cached.append(checks)
            rules = gold.list_rules(surface, checks.columns, config.min_list_length, config.max_short_list_share)
            # one Spark job per surface: the lists and how many break each rule; GX judges the counts
            counts = one_row(
                checks.agg(
                    F.count(F.lit(1)).alias("lists"),
                    *[F.count_if(rule.broken).alias(f"rule_{i}") for i, rule in enumerate(rules)],
                )
            )
            surface_report, gx_results[surface.table] = judge_counts(
                [
                    CountCheck(rule.name, rule.expectation, rule.column, int(counts[f"rule_{i}"]), rule.max_share)
                    for i, rule in enumerate(rules)
                ],
                int(counts["lists"]),
                surface.table.replace(".", "_"),
            )
            stages.count(surface.table, int(counts["lists"]))
            report += surface_report
            quarantine.append(gold.failing_lists(checks, surface, rules))
    with stages.stage("run rules"):
        figures = gold.run_figures(user_lists, t.read(catalog.SILVER_USERS), available, previous, availability, config)
        gx_results["run"] = run_expectations(
            pd.DataFrame([figures]).astype(float), "gold_run", gold.run_expectations(config), "BASIC"
        )
        report += summarize(gx_results["run"])
        log.info("gate: %s", ", ".join(f"{name} {format_figure(value)}" for name, value in figures.items()))

    results = _result_rows(report, figures, config, run_id)
    failed = [r for r in results if not r["passed"]]
    bad_lists = quarantine[0].unionByName(quarantine[1]).unionByName(quarantine[2]).withColumn("run_id", F.lit(run_id))
    t.replace_where(bad_lists, catalog.QUARANTINE_GOLD_LISTS, f"run_id = '{run_id}'")
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
    record = _run_record(ctx, candidates, run_id, as_of, model_version, figures, failed)
    runs.write_run(t, record)
    tracking.log_pipeline_run(ctx.settings, record)
    if failed:
        raise QualityGateError(
            f"gate failed for run {run_id}: nothing published, the live version stays; "
            + "; ".join(_explain(r) for r in failed)
            + f" (report: {report_path})"
        )
    log.info("gate passed for run %s: %d rules", run_id, len(results))
    return {**summary, "run_id": run_id, "as_of": str(as_of), "passed": True, "figures": figures}


def _result_rows(
    report: list[dict[str, Any]], figures: dict[str, Any], config: QualityGateConfig, run_id: str
) -> list[dict]:
    bounds = gold.run_bounds(config)
    by_rule = {rule: figure for figure, rule in gold.RUN_RULES.items()}
    rows = []
    for r in report:
        figure = by_rule.get(r["rule"])
        observed = figures.get(figure) if figure else None
        rows.append(
            {
                "run_id": run_id,
                "rule": r["rule"],
                "expectation": r["expectation"],
                "observed": None if figure is None or observed is None else f"{observed:.6g}",
                "failing": None if figure else r["unexpected_count"],
                "failing_percent": None if figure else r["unexpected_percent"],
                "bound": _bound(bounds[figure]) if figure else None,
                "passed": r["success"],
            }
        )
    return rows


def _bound(bound: tuple[float | None, float | None]) -> str:
    low, high = bound
    return f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"


def _explain(result: dict[str, Any]) -> str:
    if result["bound"] is not None:
        return f"{result['rule']}: {result['observed']} outside {result['bound']}"
    return f"{result['rule']}: {result['failing']:,} lists ({result['failing_percent']:.2f}%) fail"


def _run_record(
    ctx: JobContext,
    candidates: CandidatesConfig,
    run_id: str,
    as_of,
    model_version: str,
    figures: dict[str, Any],
    failed: list[dict[str, Any]],
) -> dict[str, Any]:
    task_seconds, task_rows = runs.task_figures(ctx.tables, as_of)
    return {
        "run_id": run_id,
        "as_of": as_of,
        "status": "gate_failed" if failed else "gate_passed",
        "model_version": model_version,
        "model_metrics": tracking.model_metrics(ctx.settings, candidates.model_name, model_version),
        "task_seconds": task_seconds,
        "task_rows": task_rows,
        "quarantined": runs.quarantined(task_rows),
        **{k: figures.get(k) for k in runs.FIGURES},
        "gate_passed": not failed,
        "gate_failures": [r["rule"] for r in failed],
        "published_version": None,
    }
