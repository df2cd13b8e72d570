"""The list gate (``recpipe gate``): every served list against the list rules, the run against its bounds, and
the rows it leaves in monitoring (gate results, the run record). Not to be confused with model promotion
(``tracking.promote``), which decides the champion."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recpipe import catalog, tracking
from recpipe.config import ListGateConfig, Settings
from recpipe.monitoring import runs
from recpipe.quality import gold
from recpipe.quality.rules import DataQualityError
from recpipe.quality.validation import CountCheck, judge_counts, run_expectations
from recpipe.tables import Tables, one_row


class ListGateError(DataQualityError):
    """The gold lists broke a gate rule: nothing is published."""


def previous_published(tables: Tables) -> DataFrame | None:
    """The user lists published last, other than today's, read back from gold.user_candidates by time travel."""
    t = tables
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


def judge_lists(
    tables: Tables,
    user_lists: DataFrame,
    available: DataFrame,
    seen: DataFrame,
    config: ListGateConfig,
    counted: Callable[[str, int], object],
) -> tuple[list[dict[str, Any]], DataFrame, dict[str, Any], list[DataFrame]]:
    """Every served list against the list rules (one Spark job per surface: the lists and how many break each rule;
    Great Expectations judges the counts). Returns the report rows, the failing lists, the GX results per table and
    the cached frames to unpersist once written."""
    items = tables.read(catalog.SILVER_ITEMS).select("item_id", "seller_id")
    report: list[dict[str, Any]] = []
    quarantine, gx_results, cached = [], {}, []
    for surface in gold.SURFACES:
        lists = gold.require_encoded_lists(
            user_lists if surface.table == catalog.GOLD_USER_CANDIDATES else tables.read(surface.table), surface.table
        )
        checks = gold.list_checks(lists, surface, available, seen, items).cache()
        cached.append(checks)
        rules = gold.list_rules(surface, checks.columns, config.min_list_length, config.max_short_list_share)
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
        counted(surface.table, int(counts["lists"]))
        report += surface_report
        quarantine.append(gold.failing_lists(checks, surface, rules))
    failing = quarantine[0].unionByName(quarantine[1]).unionByName(quarantine[2])
    return report, failing, gx_results, cached


def judge_run(
    user_lists: DataFrame,
    users: DataFrame,
    available: DataFrame,
    previous: DataFrame | None,
    availability: DataFrame,
    config: ListGateConfig,
    measures: dict[str, float],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run as a whole: its figures (coverage, fallback share, change against the previous lists, the top
    seller's share of exposure from ``measures``) and the GX result of their bounds."""
    figures = gold.run_figures(user_lists, users, available, previous, availability, config)
    figures["top_seller_share"] = measures.get("top_seller_share")
    result = run_expectations(pd.DataFrame([figures]).astype(float), "gold_run", gold.run_expectations(config), "BASIC")
    return figures, result


def result_rows(
    report: list[dict[str, Any]], figures: dict[str, Any], config: ListGateConfig, run_id: str
) -> list[dict]:
    """monitoring.gate_results rows: every list rule's failing count and every run rule's figure and bound."""
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


def explain(result: dict[str, Any]) -> str:
    """One failed rule in words: the figure outside its bound, or how many lists fail."""
    if result["bound"] is not None:
        return f"{result['rule']}: {result['observed']} outside {result['bound']}"
    return f"{result['rule']}: {result['failing']:,} lists ({result['failing_percent']:.2f}%) fail"


def run_record(
    tables: Tables,
    settings: Settings,
    model_name: str,
    run_id: str,
    as_of: date,
    model_version: str,
    figures: dict[str, Any],
    failed: list[dict[str, Any]],
) -> dict[str, Any]:
    """The run's monitoring.pipeline_runs row as the list gate leaves it (publish completes it)."""
    task_seconds, task_rows = runs.task_figures(tables, as_of)
    return {
        "run_id": run_id,
        "as_of": as_of,
        "status": "gate_failed" if failed else "gate_passed",
        "model_version": model_version,
        "model_metrics": tracking.model_metrics(settings, model_name, model_version),
        "task_seconds": task_seconds,
        "task_rows": task_rows,
        "quarantined": runs.quarantined(task_rows),
        **{k: figures.get(k) for k in runs.FIGURES},
        "gate_passed": not failed,
        "gate_failures": [r["rule"] for r in failed],
        "published_version": None,
    }
