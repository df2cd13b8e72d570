"""Validation of the three bronze tables, in dependency order: events must reference valid users and items."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from recpipe import catalog, schemas
from recpipe.config import ValidationConfig
from recpipe.quality.rules import bronze_rules
from recpipe.quality.validation import TableValidation, enforce_threshold, validate_table


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


def validate_bronze(
    users: DataFrame, items: DataFrame, events: DataFrame, config: ValidationConfig, run_id: str, now: datetime
) -> BronzeValidation:
    """Validate users and items, then events against the *valid* users and items."""
    start = datetime.combine(config.platform_start, time(), tzinfo=UTC)
    checked_users = validate_table(users, "users", schemas.USERS, bronze_rules("users", start, now), run_id)
    checked_items = validate_table(items, "items", schemas.ITEMS, bronze_rules("items", start, now), run_id)
    checked_events = validate_table(
        events,
        "events",
        schemas.EVENTS,
        bronze_rules("events", start, now),
        run_id,
        references={"users": checked_users.valid, "items": checked_items.valid},
    )
    return BronzeValidation(checked_users, checked_items, checked_events)
