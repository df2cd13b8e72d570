"""Monitors that alert a person (``recpipe monitor``): each check reads what the pipeline left (bronze events, the
served lists, the run records, silver) and compares one figure with its threshold; breaches become rows of
monitoring.alerts and one message (JSON, Slack-compatible ``text``) posted to a webhook."""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config.responsible import MonitorConfig
from recpipe.monitoring import runs
from recpipe.run_day import as_of_end
from recpipe.tables import Tables, to_pandas
from recpipe.transforms.candidates import PERSONAL_SOURCE

log = logging.getLogger(__name__)

RECALL_KEY = runs.future_key("pipeline", "purchase", 7, "all", "recall_at_100")
PSI_FLOOR = 1e-4  # share given to an empty bin: PSI stays finite


@dataclass(frozen=True)
class Check:
    """One figure against its threshold (``low``/``high``: the allowed range, None open)."""

    check: str
    observed: float
    low: float | None = None
    high: float | None = None
    detail: str = ""

    @property
    def breached(self) -> bool:
        return (self.low is not None and self.observed < self.low) or (
            self.high is not None and self.observed > self.high
        )

    @property
    def bound(self) -> str:
        return (
            f"[{'-inf' if self.low is None else f'{self.low:g}'}, {'inf' if self.high is None else f'{self.high:g}'}]"
        )

    def message(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.check} {self.observed:.4g} outside {self.bound}{detail}"


def population_stability(expected: pd.Series, actual: pd.Series) -> float:
    """PSI of ``actual``'s distribution over bins against ``expected``'s (counts by bin): sum (a - e) ln(a / e)
    over shares; under 0.1 stable, over 0.25 a major shift (the credit-scoring rule of thumb)."""
    bins = expected.index.union(actual.index)
    e = expected.reindex(bins, fill_value=0).astype(float)
    a = actual.reindex(bins, fill_value=0).astype(float)
    if e.sum() <= 0 or a.sum() <= 0:
        return 0.0
    e, a = np.maximum(e / e.sum(), PSI_FLOOR), np.maximum(a / a.sum(), PSI_FLOOR)
    return float(((a - e) * np.log(a / e)).sum())


def event_volume(events: DataFrame, as_of: date, config: MonitorConfig) -> Check | None:
    """The as-of day's bronze events against the mean of the ``trailing_days`` before it."""
    first = as_of - timedelta(days=config.trailing_days)
    per_day = (
        events.where(F.to_date("event_ts").between(F.lit(first), F.lit(as_of)))
        .groupBy(F.to_date("event_ts").alias("day"))
        .count()
    )
    counts = {r.day: r["count"] for r in per_day.collect()}
    trailing = [counts.get(first + timedelta(days=d), 0) for d in range(config.trailing_days)]
    if sum(trailing) == 0:
        return None  # no history to compare with (a first day)
    mean = sum(trailing) / len(trailing)
    today = counts.get(as_of, 0)
    detail = f"{today:,} events on {as_of} vs {mean:,.0f} a day over the {config.trailing_days} days before"
    return Check("event_volume", today / mean, low=config.min_event_volume_ratio, detail=detail)


def personal_share(lists: DataFrame, config: MonitorConfig) -> Check | None:
    row = lists.agg(F.count(F.lit(1)).alias("n"), F.count(F.when(F.col("source") == PERSONAL_SOURCE, 1)).alias("p"))
    counts = row.first()
    if counts is None or not counts.n:
        return None
    return Check("personal_share", counts.p / counts.n, low=config.min_personal_share, detail=f"{counts.n:,} lists")


def record_checks(records: pd.DataFrame, config: MonitorConfig) -> list[Check]:
    """Checks on the latest run records (monitoring.pipeline_runs, oldest first): depletion of the lists
    published before, exposure and parity of the latest measured run, recall against the trailing runs."""
    checks: list[Check] = []
    if records.empty:
        return checks
    latest = records.iloc[-1]
    if pd.notna(latest.get("depletion")):
        checks.append(Check("depletion", float(latest["depletion"]), high=config.max_depletion))
    measured = _latest_with(records, "responsible", "seller_gini")
    if measured is not None:
        checks.append(Check("seller_gini", measured["seller_gini"], high=config.max_seller_gini))
        checks.append(Check("sellers_exposed", measured["sellers_exposed"], low=config.min_sellers_exposed))
    parity = _latest_with(records, "responsible", "parity.worst")
    if parity is not None:
        checks.append(Check("parity_ratio", parity["parity.worst"], low=config.min_parity_ratio))
    recalls = [
        (row.run_id, row.future[RECALL_KEY])
        for row in records.itertuples(index=False)
        if isinstance(row.future, dict) and RECALL_KEY in row.future
    ]
    if len(recalls) >= 2:
        (run_id, now), before = recalls[-1], [v for _, v in recalls[-1 - config.trailing_runs : -1]]
        mean = sum(before) / len(before)
        if mean > 0:
            detail = f"run {run_id}: recall@100 {now:.4f} vs {mean:.4f} over {len(before)} runs before"
            checks.append(Check("recall_drop", (mean - now) / mean, high=config.max_recall_drop, detail=detail))
    return checks


def _latest_with(records: pd.DataFrame, column: str, key: str) -> dict | None:
    for value in reversed(records[column].tolist()) if column in records else []:
        if isinstance(value, dict) and key in value:
            return value
    return None


def listing_drift(items: DataFrame, as_of: date, config: MonitorConfig) -> Check | None:
    """The largest PSI over category, condition and price band of the listings created on the as-of day against
    those created in the ``drift_days`` before (the window the model was trained on)."""
    end = as_of_end(as_of)
    created = F.col("listed_at")
    day = items.where((created >= F.lit(end - timedelta(days=1))) & (created < F.lit(end)))
    window = items.where(
        (created >= F.lit(end - timedelta(days=1 + config.drift_days))) & (created < F.lit(end - timedelta(days=1)))
    )
    band = F.floor(F.log2(F.greatest(F.col("price"), F.lit(1.0)))).cast("string")
    attributes = (("category", F.col("category")), ("condition", F.col("condition")), ("price_band", band))
    pairs = [(name, _counts(window, column), _counts(day, column)) for name, column in attributes]
    return _largest_shift("listing_drift", pairs, config)


def _largest_shift(check: str, pairs: list[tuple[str, pd.Series, pd.Series]], config: MonitorConfig) -> Check | None:
    """The largest PSI over ``(name, expected counts, actual counts)``; None when a side has no rows."""
    if any(expected.empty or actual.empty for _, expected, actual in pairs):
        return None
    psi, name = max((population_stability(expected, actual), name) for name, expected, actual in pairs)
    return Check(check, psi, high=config.max_psi, detail=f"largest on {name}")


def activity_drift(events: DataFrame, as_of: date, config: MonitorConfig) -> Check | None:
    """The largest PSI of the event-type mix and of events per active user on the as-of day against the
    ``drift_days`` before."""
    when = F.to_date("event_ts")
    day = events.where(when == F.lit(as_of))
    window = events.where(
        when.between(F.lit(as_of - timedelta(days=config.drift_days)), F.lit(as_of - timedelta(days=1)))
    )
    per_user = lambda df: df.groupBy("user_id", when.alias("d")).count()
    bucket = (
        F.when(F.col("count") <= 1, "1")
        .when(F.col("count") <= 3, "2-3")
        .when(F.col("count") <= 10, "4-10")
        .otherwise("11+")
    )
    pairs = [
        ("event_type", _counts(window, F.col("event_type")), _counts(day, F.col("event_type"))),
        ("events_per_user", _counts(per_user(window), bucket), _counts(per_user(day), bucket)),
    ]
    return _largest_shift("activity_drift", pairs, config)


def _counts(df: DataFrame, column) -> pd.Series:
    frame = to_pandas(df.groupBy(column.alias("bin")).count())
    return frame.set_index("bin")["count"] if len(frame) else pd.Series(dtype=float)


def alert_rows(checks: list[Check], as_of: date, stage: str, blocking: tuple[str, ...], now: datetime) -> list[tuple]:
    """monitoring.alerts rows of the breached checks."""
    return [
        (as_of, now, stage, c.check, float(c.observed), c.bound, c.check in blocking, c.message())
        for c in checks
        if c.breached
    ]


def write_alerts(tables: Tables, rows: list[tuple], as_of: date, stage: str) -> None:
    """Replace the alerts of ``as_of`` and ``stage`` (a rerun of the monitor leaves one set)."""
    df = tables.spark.createDataFrame(rows, catalog.columns(catalog.MONITORING_ALERTS))
    tables.replace_where(df, catalog.MONITORING_ALERTS, f"as_of = '{as_of}' AND stage = '{stage}'")


def message(checks: list[Check], as_of: date, stage: str, blocking: tuple[str, ...]) -> dict:
    """The webhook's JSON: ``text`` for Slack (and any chat that reads it), ``alerts`` for machines."""
    breached = [c for c in checks if c.breached]
    lines = [f"{'BLOCKING ' if c.check in blocking else ''}{c.message()}" for c in breached]
    text = f"recpipe monitor ({stage}, as-of {as_of}): {len(breached)} threshold(s) breached\n" + "\n".join(
        f"• {line}" for line in lines
    )
    alerts = [{**asdict(c), "bound": c.bound, "blocking": c.check in blocking} for c in breached]
    return {"text": text, "as_of": str(as_of), "stage": stage, "alerts": alerts}


def post(url: str, payload: dict, timeout_s: float = 10.0) -> int:
    """POST ``payload`` as JSON; returns the HTTP status."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return int(response.status)
