"""Validation of the three bronze tables, in dependency order: events must reference valid users and items."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recpipe import catalog, schemas
from recpipe.config import ValidationConfig
from recpipe.quality.rules import DataQualityError, bronze_rules
from recpipe.quality.validation import TableValidation, enforce_threshold, validate_table
from recpipe.tables import one_row
from recpipe.transforms.interactions import within_days


@dataclass
class BronzeValidation:
    users: TableValidation
    items: TableValidation
    events: TableValidation

    @property
    def tables(self) -> list[TableValidation]:
        return [self.users, self.items, self.events]

    def report(self, spark: SparkSession, run_id: str) -> DataFrame:
        rows = [{**row, "run_id": run_id, "table": t.name} for t in self.tables for row in t.report]
        return spark.createDataFrame(rows, catalog.columns(catalog.MONITORING_VALIDATION_RESULTS))

    def write_json(self, directory: Path) -> Path:
        """Keep the raw Great Expectations results where a person can read them."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "bronze_validation.json"
        path.write_text(json.dumps({t.name: t.gx_result for t in self.tables}, indent=1, default=str))
        return path

    def enforce(self, config: ValidationConfig) -> None:
        enforce_threshold(self.tables, config.max_quarantine_share)

    def require_events_within(self, first_day: date, last_day: date, lookback_days: int) -> None:
        """Raise when no valid event falls in the window: there is nothing to build."""
        if self.events.valid.transform(within_days(first_day, last_day)).isEmpty():
            raise DataQualityError(
                f"bronze.events: no valid events in the window {first_day} .. {last_day} "
                f"(lookback_days {lookback_days} up to the as-of): nothing was written"
            )

    def last_event_day(self) -> date | None:
        """The day of the last *valid* event: one event dated years ahead is quarantined and must not move it."""
        return one_row(self.events.valid.agg(F.max(F.to_date("event_ts"))))[0]


def checked_as_of(requested: date | None, last_event_day: date | None) -> date:
    """The run's as-of: the requested day, or the day of the last valid event; an as-of past the data is an error."""
    if last_event_day is None:
        raise DataQualityError("bronze.events: no valid events: nothing to build interactions from")
    if requested is not None and requested > last_event_day:
        raise DataQualityError(
            f"bronze.events: the as-of {requested} is after the last valid event ({last_event_day}): "
            f"that day's events have not arrived; nothing was written"
        )
    return requested or last_event_day


def validate_items(items: DataFrame, config: ValidationConfig, run_id: str, now: datetime) -> TableValidation:
    """bronze.items rows against the item rules (the batch's, and fresh's new listings)."""
    rules = bronze_rules("items", platform_start_time(config), now)
    return validate_table(items, "items", schemas.ITEMS, rules, run_id)


def platform_start_time(config: ValidationConfig) -> datetime:
    """The earliest timestamp a bronze row may carry."""
    return datetime.combine(config.platform_start, time(), tzinfo=UTC)


def validate_bronze(
    users: DataFrame, items: DataFrame, events: DataFrame, config: ValidationConfig, run_id: str, now: datetime
) -> BronzeValidation:
    """Validate users and items, then events against the *valid* users and items."""
    start = platform_start_time(config)
    checked_users = validate_table(users, "users", schemas.USERS, bronze_rules("users", start, now), run_id)
    checked_items = validate_items(items, config, run_id, now)
    checked_events = validate_table(
        events,
        "events",
        schemas.EVENTS,
        bronze_rules("events", start, now),
        run_id,
        references={"users": checked_users.valid, "items": checked_items.valid},
    )
    return BronzeValidation(checked_users, checked_items, checked_events)
