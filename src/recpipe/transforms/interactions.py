"""From validated events to the implicit-feedback interactions every model trains on.

The path is split at the day so that a daily incremental run and a full rebuild share all code:

1. ``daily_interactions``: per (user, item, event day) the weighted event sum, with the within-day part of the
   time decay folded in, the event count and the last event time. A day's rows depend only on that day's
   events, so a new day is MERGEd without touching the others.
2. ``interactions_as_of``: the lookback window of daily rows, decayed to the as-of time
   (``w * 0.5 ** (age / half_life)`` per event, exactly), capped per pair, bots and thin users/items removed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.run_day import as_of_end

Transform = Callable[[DataFrame], DataFrame]
DAY_SECONDS = 86_400


def deduplicate_events(events: DataFrame) -> DataFrame:
    """One row per event_id: the earliest copy (ties broken by the other columns, so the choice is stable)."""
    order = [F.col(c).asc_nulls_last() for c in ("event_ts", "user_id", "item_id", "event_type")]
    rank = F.row_number().over(Window.partitionBy("event_id").orderBy(*order))
    return events.withColumn("_rank", rank).where(F.col("_rank") == 1).drop("_rank")


def within_days(first_day: date, last_day: date, column: str = "event_ts") -> Transform:
    """Rows whose UTC day of ``column`` (a timestamp or a date) lies in [first_day, last_day]."""

    def transform(df: DataFrame) -> DataFrame:
        day = F.to_date(column)
        return df.where((day >= F.lit(first_day)) & (day <= F.lit(last_day)))

    return transform


def drop_own_item_events(items: DataFrame) -> Transform:
    """Remove a seller's interactions with their own listings (they say nothing about taste)."""

    def transform(events: DataFrame) -> DataFrame:
        sellers = items.select("item_id", F.col("seller_id").alias("_seller_id"))
        joined = events.join(sellers, "item_id", "left")
        return (
            joined.where(F.col("_seller_id").isNull() | (F.col("_seller_id") != F.col("user_id")))
            .drop("_seller_id")
            .select(*events.columns)
        )

    return transform


def with_confidence(weights: Mapping[str, float], half_life_days: float) -> Transform:
    """Add ``day`` and ``day_weight``: the event type's weight times the within-day decay factor
    ``2 ** (seconds_since_midnight / half_life)``; the day-level factor is applied in ``interactions_as_of``."""
    weight = F.lit(0.0)
    for event_type, value in weights.items():
        weight = F.when(F.col("event_type") == event_type, F.lit(float(value))).otherwise(weight)
    half_life_s = half_life_days * DAY_SECONDS

    def transform(events: DataFrame) -> DataFrame:
        day = F.to_date("event_ts")
        seconds_into_day = F.unix_timestamp("event_ts") - F.unix_timestamp(day.cast("timestamp"))
        return events.withColumn("day", day).withColumn(
            "day_weight", weight * F.pow(F.lit(2.0), seconds_into_day / half_life_s)
        )

    return transform


def daily_interactions(weights: Mapping[str, float], half_life_days: float) -> Transform:
    """Per (user, item, day): ``weighted`` (within-day decayed weight sum), ``n_events``, ``last_event_ts`` and the
    sorted distinct ``event_types`` (candidate generation filters seen items per event type)."""

    def transform(events: DataFrame) -> DataFrame:
        return (
            events.transform(with_confidence(weights, half_life_days))
            .groupBy("user_id", "item_id", "day")
            .agg(
                F.sum("day_weight").alias("weighted"),
                F.count(F.lit(1)).alias("n_events"),
                F.max("event_ts").alias("last_event_ts"),
                F.array_sort(F.collect_set("event_type")).alias("event_types"),
            )
        )

    return transform


def bot_users(max_events_per_day: int) -> Transform:
    """Users with more than ``max_events_per_day`` events on any day (from daily interactions)."""

    def transform(daily: DataFrame) -> DataFrame:
        per_day = daily.groupBy("user_id", "day").agg(F.sum("n_events").alias("events"))
        return per_day.where(F.col("events") > max_events_per_day).select("user_id").distinct()

    return transform


def drop_users(users: DataFrame) -> Transform:
    def transform(df: DataFrame) -> DataFrame:
        return df.join(users.select("user_id"), "user_id", "left_anti")

    return transform


def decay_to(as_of: date, half_life_days: float, cap: float) -> Transform:
    """Sum daily rows per (user, item) decayed to the end of ``as_of``; confidence is capped at ``cap``."""
    end_s = int(as_of_end(as_of).timestamp())
    half_life_s = half_life_days * DAY_SECONDS

    def transform(daily: DataFrame) -> DataFrame:
        day_start_s = F.unix_timestamp(F.col("day").cast("timestamp"))
        factor = F.pow(F.lit(0.5), (F.lit(end_s) - day_start_s) / half_life_s)
        return (
            daily.groupBy("user_id", "item_id")
            .agg(
                F.sum(F.col("weighted") * factor).alias("confidence"),
                F.sum("n_events").cast("long").alias("n_events"),
                F.max("last_event_ts").alias("last_event_ts"),
                F.array_sort(F.array_distinct(F.flatten(F.collect_list("event_types")))).alias("event_types"),
            )
            .withColumn("confidence", F.least(F.col("confidence"), F.lit(float(cap))))
        )

    return transform


def keep_min_interactions(min_per_user: int, min_per_item: int, passes: int) -> Transform:
    """Drop users with fewer than ``min_per_user`` items and items with fewer than ``min_per_item`` users.

    Applied ``passes`` times, users then items each pass: one pass can leave a user under the minimum after
    their items were removed; more passes converge towards the k-core. Passes are a config choice, so the
    result is defined and reproducible whatever it is.
    """

    def transform(interactions: DataFrame) -> DataFrame:
        df = interactions
        for _ in range(passes):
            per_user = Window.partitionBy("user_id")
            df = df.withColumn("_n", F.count(F.lit(1)).over(per_user)).where(F.col("_n") >= min_per_user).drop("_n")
            per_item = Window.partitionBy("item_id")
            df = df.withColumn("_n", F.count(F.lit(1)).over(per_item)).where(F.col("_n") >= min_per_item).drop("_n")
        return df

    return transform


def contiguous_index(key: str, index_column: str, run_id: str) -> Transform:
    """``key -> 0..n-1`` in key order (stable across reruns), tagged with the run id."""

    def transform(interactions: DataFrame) -> DataFrame:
        keys = interactions.select(key).distinct()
        # Spark warns that an unpartitioned window sorts on one task: a key list is small enough for that.
        position = F.row_number().over(Window.orderBy(key)) - 1
        return keys.select(key, position.cast("int").alias(index_column), F.lit(run_id).alias("run_id"))

    return transform


def item_availability(as_of: date) -> Transform:
    """Item status (and seller) as of the end of ``as_of``: listed items only; sold once ``sold_at`` has passed,
    deleted once ``deleted_at`` has (a deleted item without ``deleted_at`` counts as deleted all along)."""
    end = F.lit(as_of_end(as_of)).cast("timestamp")

    def transform(items: DataFrame) -> DataFrame:
        listed = items.where(F.col("listed_at") < end)
        sold = F.col("sold_at").isNotNull() & (F.col("sold_at") < end)
        deleted = (F.col("status") == "deleted") & F.coalesce(F.col("deleted_at") < end, F.lit(True))
        status = F.when(sold, "sold").when(deleted, "deleted").otherwise("active")
        return listed.select(
            "item_id", "seller_id", status.alias("status"), "listed_at", F.when(sold, F.col("sold_at")).alias("sold_at")
        )

    return transform


def listings_for_sale(items: DataFrame, as_of: date) -> DataFrame:
    """The listings for sale at the end of ``as_of`` with their attributes."""
    active = items.transform(item_availability(as_of)).where(F.col("status") == "active").select("item_id")
    return items.join(active, "item_id").select(
        "item_id", "seller_id", "category", "brand", "size", "price", "condition", "listed_at"
    )


def interactions_from_daily(
    as_of: date,
    half_life_days: float,
    max_confidence: float,
    bots: DataFrame,
    min_per_user: int,
    min_per_item: int,
    passes: int,
) -> Transform:
    """Daily rows of the window -> silver.interactions: bots dropped, decayed to the as-of, minimum counts kept."""

    def transform(window: DataFrame) -> DataFrame:
        return (
            window.transform(drop_users(bots))
            .transform(decay_to(as_of, half_life_days, max_confidence))
            .transform(keep_min_interactions(min_per_user, min_per_item, passes))
            .select("user_id", "item_id", "confidence", "n_events", "last_event_ts", "event_types")
        )

    return transform


def daily_from_events(
    items: DataFrame, first_day: date, last_day: date, weights: Mapping[str, float], half_life_days: float
) -> Transform:
    """Valid events -> silver.daily_interactions rows of ``first_day`` .. ``last_day``: deduplicated, without
    sellers' events on their own listings."""

    def transform(events: DataFrame) -> DataFrame:
        return (
            events.transform(deduplicate_events)
            .transform(within_days(first_day, last_day))
            .transform(drop_own_item_events(items))
            .transform(daily_interactions(weights, half_life_days))
        )

    return transform


def silver_snapshots(
    interactions: DataFrame, items: DataFrame, users: DataFrame, as_of: date, run_id: str
) -> dict[str, DataFrame]:
    """The silver tables rebuilt whole on every run: the indices of the interactions, the listings' availability as
    of the as-of, and the validated listings and users."""
    return {
        catalog.SILVER_USER_INDEX: interactions.transform(contiguous_index("user_id", "user_idx", run_id)),
        catalog.SILVER_ITEM_INDEX: interactions.transform(contiguous_index("item_id", "item_idx", run_id)),
        catalog.SILVER_ITEM_AVAILABILITY: items.transform(item_availability(as_of)),
        catalog.SILVER_ITEMS: items,
        catalog.SILVER_USERS: users,
    }
