"""What makes a listing unavailable, defined once for the stream, the publish job and the fresh job.

A listing stops being for sale when a purchase event names it (every listing is one of a kind) or when its row
says ``sold`` or ``deleted``. A purchase dated before the listing went up is no sale (``counts_as_sale``: validation
quarantines it, and every path here leaves it out). Sources land these facts differently (bronze.items rows or their change feed,
bronze.events, Kafka messages); each becomes *signals* (``item_id, status, event_type, at``), and one rule
reads them. Works on batch and streaming DataFrames alike.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

SIGNAL_COLUMNS = "item_id bigint, status string, event_type string, at timestamp"
GONE_STATUSES = ("sold", "deleted")
SALE_EVENT = "purchase"
# A row of a Delta change feed that states a listing's new state (not the state before an update, not a delete)
NEW_STATE_CHANGES = ("insert", "update_postimage")


def _signals(df: DataFrame, status: Column, event_type: Column, at: Column) -> DataFrame:
    return df.select(
        F.col("item_id").cast("bigint").alias("item_id"),
        status.cast("string").alias("status"),
        event_type.cast("string").alias("event_type"),
        at.cast("timestamp").alias("at"),
    )


def item_signals(items: DataFrame) -> DataFrame:
    """bronze.items rows (or its change feed) -> signals: the listing's status, dated when it was sold or deleted."""
    if "_change_type" in items.columns:
        items = items.where(F.col("_change_type").isin(*NEW_STATE_CHANGES))
    when = [F.col(c) for c in ("sold_at", "deleted_at") if c in items.columns]  # deleted_at came later
    return _signals(items, F.col("status"), F.lit(None), F.coalesce(*when, F.lit(None)))


def event_signals(events: DataFrame) -> DataFrame:
    """bronze.events rows -> signals: the event type, dated by the event."""
    return _signals(events, F.lit(None), F.col("event_type"), F.col("event_ts"))


KAFKA_MESSAGE = (
    "item_id bigint, status string, event_type string, event_ts timestamp, sold_at timestamp, deleted_at timestamp"
)


def kafka_signals(messages: DataFrame) -> DataFrame:
    """Kafka records whose ``value`` is a JSON object with ``item_id`` and either ``event_type`` (an event, as in
    bronze.events) or ``status`` (a listing's state, as in bronze.items) -> signals."""
    parsed = messages.select(F.from_json(F.col("value").cast("string"), KAFKA_MESSAGE).alias("m")).select("m.*")
    return _signals(
        parsed.where(F.col("item_id").isNotNull()),
        F.col("status"),
        F.col("event_type"),
        F.coalesce(F.col("event_ts"), F.col("sold_at"), F.col("deleted_at")),
    )


def is_purchase(event_type: Column) -> Column:
    """Whether an event (or signal) is a purchase; a null type is not."""
    return F.coalesce(event_type == SALE_EVENT, F.lit(False))


def counts_as_sale(at: Column, listed_at: Column) -> Column:
    """Whether a purchase at ``at`` sells a listing that went up at ``listed_at``: only once it is listed. An
    unknown time or listing counts (its row may not have landed yet): a listing is hidden rather than oversold."""
    return at.isNull() | listed_at.isNull() | (at >= listed_at)


def sales_after_listing(items: DataFrame):
    """Signals -> the same signals without purchases dated before their listing's ``listed_at`` (bronze.items;
    of duplicate rows, the newest ``listed_at``, as validation keeps). Batch or streaming signals alike."""
    listed = items.groupBy(F.col("item_id").cast("bigint").alias("item_id")).agg(F.max("listed_at").alias("_listed"))

    def transform(signals: DataFrame) -> DataFrame:
        purchase = is_purchase(F.col("event_type"))
        purchases = (
            signals.where(purchase)
            .join(listed, "item_id", "left")
            .where(counts_as_sale(F.col("at"), F.col("_listed")))
            .drop("_listed")
        )
        return signals.where(~purchase).unionByName(purchases)

    return transform


def signals_since(since: datetime):
    """Signals -> those dated at or after ``since``, and those without a date (a sold row without ``sold_at``)."""

    def transform(signals: DataFrame) -> DataFrame:
        return signals.where(F.col("at").isNull() | (F.col("at") >= F.lit(since)))

    return transform


def is_gone(signals: DataFrame) -> Column:
    return F.col("status").isin(*GONE_STATUSES) | is_purchase(F.col("event_type"))


def unavailable_items(signals: DataFrame) -> DataFrame:
    """Signals -> ``item_id, at``: every listing sold or deleted, with the earliest time known (null: unknown)."""
    return signals.where(is_gone(signals)).groupBy("item_id").agg(F.min("at").alias("at"))


def unavailable_in(items: DataFrame, events: DataFrame) -> DataFrame:
    """``item_id, at`` of the listings bronze items and events say are sold or deleted."""
    signals = item_signals(items).unionByName(event_signals(events)).transform(sales_after_listing(items))
    return unavailable_items(signals)
