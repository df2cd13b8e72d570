"""What makes a listing unavailable, defined once for the stream, the publish job and the fresh job.

A listing stops being for sale when a purchase event names it (every listing is one of a kind) or when its row
says ``sold`` or ``deleted``. A purchase dated before the listing went up is no sale (``counts_as_sale``: validation
quarantines it, and every path here leaves it out). Sources land these facts differently (bronze.items rows or their change feed,
bronze.events, Kafka messages); each becomes *signals* (``item_id, status, event_type, at``), and one rule
reads them. Works on batch and streaming DataFrames alike. A Kafka message that cannot be read is kept aside with
the rules it broke (``unreadable_messages``), never dropped.
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


def _signals(df: DataFrame, status: Column, event_type: Column, at: Column, *keep: str) -> DataFrame:
    return df.select(
        F.col("item_id").cast("bigint").alias("item_id"),
        status.cast("string").alias("status"),
        event_type.cast("string").alias("event_type"),
        at.cast("timestamp").alias("at"),
        *keep,
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
KAFKA_TIMES = ("event_ts", "sold_at", "deleted_at")
KAFKA_COORDINATES = ("topic", "partition", "offset", "timestamp")
# What a Kafka message must be to be read, in the order checked: (rule, what a message that breaks it got wrong)
MESSAGE_RULES = (
    ("value_is_json_object", "the value is not a JSON object"),
    ("item_id_is_integer", "item_id is missing or not an integer"),
    ("states_a_fact", "neither event_type nor status is given"),
    ("times_are_readable", f"{', '.join(KAFKA_TIMES)}, when given, must be ISO-8601 times"),
)


def kafka_messages(messages: DataFrame) -> DataFrame:
    """Kafka records whose ``value`` is a JSON object with ``item_id`` and either ``event_type`` (an event, as in
    bronze.events) or ``status`` (a listing's state, as in bronze.items) -> their signals, plus the record's
    coordinates (topic, partition, offset, timestamp), its value as text and ``failed_rules``: the
    ``MESSAGE_RULES`` it breaks (empty: the message is read)."""
    value = F.col("value").cast("string")
    fields = F.from_json(value, "map<string,string>")  # null: not a JSON object
    parsed = F.from_json(value, KAFKA_MESSAGE)  # a field that does not parse is null
    unreadable_time = F.lit(False)
    for name in KAFKA_TIMES:
        unreadable_time = unreadable_time | (fields[name].isNotNull() & parsed[name].isNull())
    breaks = {
        "value_is_json_object": fields.isNull(),
        "item_id_is_integer": parsed["item_id"].isNull(),
        "states_a_fact": parsed["event_type"].isNull() & parsed["status"].isNull(),
        "times_are_readable": unreadable_time,
    }
    failed = F.filter(
        F.array(*[F.when(breaks[rule], F.lit(rule)) for rule, _ in MESSAGE_RULES]), lambda r: r.isNotNull()
    )
    read = messages.select(*KAFKA_COORDINATES, value.alias("value"), parsed.alias("m"), failed.alias("failed_rules"))
    return _signals(
        read.withColumn("item_id", F.col("m.item_id")),
        F.col("m.status"),
        F.col("m.event_type"),
        F.coalesce(F.col("m.event_ts"), F.col("m.sold_at"), F.col("m.deleted_at")),
        *KAFKA_COORDINATES,
        "value",
        "failed_rules",
    )


def is_readable(messages: DataFrame) -> Column:
    """Whether a row of ``kafka_messages`` (or a signal without ``failed_rules``) breaks no rule."""
    return F.size("failed_rules") == 0 if "failed_rules" in messages.columns else F.lit(True)


def unreadable_messages(messages: DataFrame, run_id: str) -> DataFrame:
    """Rows of ``kafka_messages`` -> quarantine rows of those that break a rule: ``table`` kafka:<topic>, the
    record (coordinates and value) as JSON, the rules broken and why, ``run_id``."""
    why = F.create_map(*[F.lit(x) for rule, reason in MESSAGE_RULES for x in (rule, f"{rule}: {reason}")])
    return messages.where(~is_readable(messages)).select(
        F.concat(F.lit("kafka:"), F.col("topic")).alias("table"),
        F.to_json(F.struct(*KAFKA_COORDINATES, "value")).alias("record"),
        F.col("failed_rules"),
        F.array_join(F.transform("failed_rules", lambda rule: why[rule]), "; ").alias("reason"),
        F.lit(run_id).alias("run_id"),
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
    """Signals -> ``item_id, at``: every listing sold or deleted, with the earliest time known (null: unknown);
    a Kafka message that cannot be read counts for nothing."""
    return signals.where(is_readable(signals) & is_gone(signals)).groupBy("item_id").agg(F.min("at").alias("at"))


def unavailable_in(items: DataFrame, events: DataFrame) -> DataFrame:
    """``item_id, at`` of the listings bronze items and events say are sold or deleted."""
    signals = item_signals(items).unionByName(event_signals(events)).transform(sales_after_listing(items))
    return unavailable_items(signals)
