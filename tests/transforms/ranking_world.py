"""A hand-made marketplace at an as-of whose every retrieval candidate and feature is known: the inputs of the
retrieval and feature tests.

As of 2026-10-30. User 1 (FR, size M) bought item 13 on 10-20 and owns item 15; viewed item 10 on 10-28;
viewed and saved item 11 (size L) on 10-29. User 2 (DE) viewed item 10 once, on 10-29: a light user. User 3
(FR) has no events. Item 13 sold on 10-27; item 16 is listed after the as-of. One row after the as-of: user 1
bought item 12 on 10-31 (what leakage would see)."""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

AS_OF = date(2026, 10, 30)
ITEMS_SCHEMA = (
    "item_id long, seller_id long, category string, brand string, size string, price double, condition string, "
    "listed_at timestamp, sold_at timestamp"
)
ITEMS = [
    (10, 100, "tops", "A", "M", 20.0, "good", datetime(2026, 10, 20), None),
    (11, 101, "tops", "B", "L", 25.0, "new", datetime(2026, 10, 25), None),
    (12, 100, "shoes", "A", "40", 60.0, "good", datetime(2026, 10, 28), None),
    (13, 102, "tops", "A", "M", 18.0, "good", datetime(2026, 10, 10), datetime(2026, 10, 27)),
    (14, 103, "tops", "C", "M", 22.0, "good", datetime(2026, 10, 29, 12), None),
    (15, 1, "tops", "A", "M", 21.0, "good", datetime(2026, 10, 26), None),
    (16, 103, "tops", "C", "M", 22.0, "good", datetime(2026, 10, 31), None),
]
DAILY_SCHEMA = (
    "user_id long, item_id long, day date, weighted double, n_events long, last_event_ts timestamp, "
    "event_types array<string>"
)
DAILY = [
    (1, 13, date(2026, 10, 20), 5.0, 2, datetime(2026, 10, 20, 9), ["view", "purchase"]),
    (1, 10, date(2026, 10, 28), 1.0, 1, datetime(2026, 10, 28, 9), ["view"]),
    (1, 11, date(2026, 10, 29), 3.0, 2, datetime(2026, 10, 29, 9), ["view", "save"]),
    (2, 10, date(2026, 10, 29), 1.0, 1, datetime(2026, 10, 29, 18), ["view"]),
]
AFTER = [(1, 12, date(2026, 10, 31), 5.0, 2, datetime(2026, 10, 31, 9), ["view", "purchase"])]
USERS = [(1, "FR", datetime(2026, 1, 1)), (2, "DE", datetime(2026, 10, 1)), (3, "FR", datetime(2026, 10, 29))]
USERS += [(s, "FR", datetime(2025, 1, 1)) for s in (100, 101, 102, 103)]  # sellers


def items(spark: SparkSession) -> DataFrame:
    """silver.items' columns (a sold listing's status is read from ``sold_at`` at an as-of)."""
    listed = spark.createDataFrame(ITEMS, ITEMS_SCHEMA)
    return listed.withColumn("deleted_at", F.lit(None).cast("timestamp")).withColumn("status", F.lit("active"))


def daily(spark: SparkSession, with_future: bool = False) -> DataFrame:
    return spark.createDataFrame(DAILY + (AFTER if with_future else []), DAILY_SCHEMA)


def users(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(USERS, "user_id long, country string, signup_ts timestamp")
