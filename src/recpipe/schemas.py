"""The bronze contract: the columns producers land and validation checks, and their allowed values.

Every table's name and columns are registered in ``recpipe.catalog``; bronze's come from here."""

from __future__ import annotations

from pyspark.sql.types import (
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

EVENT_TYPES = ("view", "like", "save", "add_to_bag", "purchase")
ITEM_STATUSES = ("active", "sold", "deleted")
SURFACES = ("home", "search", "item_page", "for_you", "profile")


# Columns added after producers existed: input without them is read as all nulls instead of failing validation.
ADDED_COLUMNS = frozenset({"deleted_at"})


def _schema(*fields: tuple[str, object, bool]) -> StructType:
    """A schema whose columns are all nullable in storage; the flag says whether a value may be missing (True:
    optional, as ``sold_at``), kept as ``required`` metadata, which validation turns into not_null rules.

    Bronze data lands as it comes, so nulls are caught by validation (and quarantined), not by a write error.
    """
    return StructType(
        [
            StructField(name, dtype, True, metadata={"required": not optional, "may_be_absent": name in ADDED_COLUMNS})  # type: ignore[arg-type]
            for name, dtype, optional in fields
        ]
    )


USERS = _schema(
    ("user_id", LongType(), False),
    ("country", StringType(), False),
    ("signup_ts", TimestampType(), False),
)

ITEMS = _schema(
    ("item_id", LongType(), False),
    ("seller_id", LongType(), False),
    ("category", StringType(), False),
    ("brand", StringType(), False),
    ("size", StringType(), False),
    ("price", DoubleType(), False),
    ("condition", StringType(), False),
    ("listed_at", TimestampType(), False),
    ("sold_at", TimestampType(), True),
    ("deleted_at", TimestampType(), True),  # when a deleted listing was removed
    ("status", StringType(), False),
)

EVENTS = _schema(
    ("event_id", LongType(), False),
    ("user_id", LongType(), False),
    ("item_id", LongType(), False),
    ("event_type", StringType(), False),
    ("event_ts", TimestampType(), False),
    ("session_id", LongType(), False),
    ("surface", StringType(), False),
)

# What the app showed: one row per listing of a list a user was shown (docs/redis-contract.md, "Impressions")
IMPRESSIONS = _schema(
    ("impression_id", LongType(), False),
    ("user_id", LongType(), False),
    ("item_id", LongType(), False),
    ("position", LongType(), False),  # 0: first
    ("surface", StringType(), False),
    ("item_source", StringType(), False),  # the reader's source of the item: foryou, fresh, fallback:..., team:...
    ("served_version", StringType(), True),  # the foryou version the reader followed (none: fallbacks only)
    ("model_version", StringType(), True),
    ("experiment", StringType(), True),
    ("variant", StringType(), True),
    ("impression_ts", TimestampType(), False),
)

BRONZE_SCHEMAS = {
    "users": USERS,
    "items": ITEMS,
    "events": EVENTS,
    "impressions": IMPRESSIONS,
}  # by the table's name in its layer
