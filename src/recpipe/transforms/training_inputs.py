"""Silver tables joined to the run's contiguous indices: what the models read."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recpipe.transforms.candidates import seen_through
from recpipe.transforms.interactions import Transform


def indexed_interactions(user_index: DataFrame, item_index: DataFrame, seen_event_types: Sequence[str] = ()) -> Transform:
    """``user_idx``, ``item_idx``, ``confidence``, ``last_event_ts`` for pairs in both indices, and ``seen``: the
    pair's item is excluded from the user's lists (seen through one of ``seen_event_types``, the candidates rule)."""

    def transform(interactions: DataFrame) -> DataFrame:
        seen = seen_through(seen_event_types) if seen_event_types else F.lit(False)
        return (
            interactions.join(user_index.select("user_id", "user_idx"), "user_id")
            .join(item_index.select("item_id", "item_idx"), "item_id")
            .select("user_idx", "item_idx", F.col("confidence").cast("float").alias("confidence"), "last_event_ts",
                    seen.alias("seen"))
        )

    return transform


def indexed_pairs(user_index: DataFrame, item_index: DataFrame) -> Transform:
    """``user_id, item_id`` pairs -> ``user_idx, item_idx`` for pairs in both indices."""

    def transform(pairs: DataFrame) -> DataFrame:
        return (
            pairs.join(user_index.select("user_id", "user_idx"), "user_id")
            .join(item_index.select("item_id", "item_idx"), "item_id")
            .select("user_idx", "item_idx")
        )

    return transform


def indexed_availability(item_index: DataFrame) -> Transform:
    """Availability of indexed items: ``item_idx``, ``status``, ``listed_at``, ``sold_at``, ``seller_id``."""

    def transform(availability: DataFrame) -> DataFrame:
        return availability.join(item_index.select("item_id", "item_idx"), "item_id").select(
            "item_idx", "status", "listed_at", "sold_at", "seller_id"
        )

    return transform


def item_sequences(item_index: DataFrame) -> Transform:
    """One sequence per user and day (a session proxy): indexed items in the order of their last event."""

    def transform(daily: DataFrame) -> DataFrame:
        ordered = F.array_sort(F.collect_list(F.struct("last_event_ts", "item_idx")))
        return (
            daily.join(item_index.select("item_id", "item_idx"), "item_id")
            .groupBy("user_id", "day")
            .agg(ordered.alias("events"))
            .select("user_id", "day", F.transform("events", lambda e: e["item_idx"]).alias("items"))
        )

    return transform


def with_factors_schema(df: DataFrame, id_column: str) -> DataFrame:
    """Factor rows: ``<id>``, ``factors`` (array<float>), ``model_version``."""
    return df.select(F.col(id_column).cast("long"), F.col("factors").cast("array<float>"), F.col("model_version").cast("string"))
