"""Scoring what a run served, after the fact: finding the run's lists in the Delta history, the protocol (held-out
ratings or the following days), and the figures kept in the run's record (``recpipe evaluate``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recpipe import catalog, tracking
from recpipe.config import FutureEvaluationConfig, Settings
from recpipe.errors import MissingInputError
from recpipe.monitoring import runs
from recpipe.run_day import as_of_from_end
from recpipe.tables import Tables, one_row

log = logging.getLogger(__name__)

MAX_VERSIONS_SEARCHED = 400


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


def lists_to_score(
    tables: Tables, events: DataFrame, as_of: date | None, horizons_days: Sequence[int]
) -> tuple[DataFrame, datetime | None]:
    """The lists of the run at ``as_of`` (default: the newest whose longest horizon has passed by the last day
    with ``events``) and the time of the last event."""
    last_event = one_row(events.agg(F.max("event_ts")))[0]
    complete_by = last_event.date() - timedelta(days=max(horizons_days)) if last_event is not None else None
    return lists_as_of(tables, as_of, complete_by), last_event


def holdout_protocol(tables: Tables, config: FutureEvaluationConfig) -> bool:
    """Score against held-out ratings (public data) or against the following days (marketplace data)."""
    if config.protocol != "auto":
        return config.protocol == "holdout"
    return tables.exists(catalog.SIM_HOLDOUT) and tables.read(catalog.SIM_HOLDOUT).take(1) != []


def record_figures(
    tables: Tables, settings: Settings, run_id: str, figures: dict[str, float], field: str = "future"
) -> None:
    """Add the figures to the run's row in monitoring.pipeline_runs (its ``field`` map, keeping what is there) and
    to its MLflow run."""
    record = runs.read_run(tables, run_id)
    if record is None:
        log.info(
            "evaluate: run %s has no row in %s (no gate ran): figures only in monitoring",
            run_id,
            catalog.MONITORING_PIPELINE_RUNS,
        )
        return
    record = {**record, field: {**(record.get(field) or {}), **figures}}
    runs.write_run(tables, record)
    tracking.log_pipeline_run(settings, record)  # the run's MLflow mirror


def headline_figures(table: pd.DataFrame, config: FutureEvaluationConfig) -> dict[str, float]:
    """``<list>/<target>/<horizon>d/<segment>/recall_at_<k>`` for every row: what the run record keeps."""
    figures = {}
    for row in table.itertuples(index=False):
        for k in config.ks:
            key = runs.future_key(row.list, row.target, row.horizon_days, row.segment, f"recall_at_{k}")
            figures[key] = round(float(getattr(row, f"recall_at_{k}")), 4)
    return figures


def log_table(table: pd.DataFrame, config: FutureEvaluationConfig) -> None:
    """Every list's recall and hit rate per target, horizon and segment, in the job's log."""
    for (target, horizon), part in table.groupby(["target", "horizon_days"]):
        log.info("evaluate: %s within %d days:", target, horizon)
        for row in part.itertuples(index=False):
            cells = "  ".join(
                f"recall@{k} {getattr(row, f'recall_at_{k}'):.3f}  hit@{k} {getattr(row, f'hit_rate_at_{k}'):.3f}"
                for k in config.ks
            )
            log.info("  %-18s %-5s users %6d  %s", row.list, row.segment, row.users, cells)


def future_table(tables: Tables, run_id: str) -> pd.DataFrame:
    """A run's monitoring.future_evaluation rows, by target, horizon, segment and list."""
    rows = tables.read(catalog.MONITORING_FUTURE_EVALUATION).where(F.col("run_id") == run_id)
    return rows.orderBy("target", "horizon_days", "segment", "list").toPandas()


def scorable_events(events: DataFrame) -> DataFrame:
    """Raw bronze events that can be scored (user, item and time present); the lists are judged on what users
    did, validated or not."""
    return events.where(F.col("user_id").isNotNull() & F.col("item_id").isNotNull() & F.col("event_ts").isNotNull())


def warn_incomplete(last_event: datetime | None, as_of: date, horizons_days: Sequence[int]) -> None:
    """Log the horizons the events do not cover yet: their figures are lower than they will be."""
    last_day = last_event.date() if last_event is not None else None
    incomplete = [h for h in horizons_days if last_day is None or last_day < as_of + timedelta(days=h)]
    if incomplete:
        log.warning(
            "evaluate: events end at %s: horizons %s days after %s are incomplete", last_event, incomplete, as_of
        )
