"""Silver tables joined to the run's contiguous indices: what the models read."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recpipe.transforms.interactions import Transform


def event_mask(event_types: Sequence[str]) -> Column:
    """An int whose bit ``i`` is set when the row's ``event_types`` hold ``event_types[i]``: which kinds of event a
    pair had, compact enough to move to pandas for millions of rows."""
    bits = [
        F.when(F.array_contains("event_types", name), F.lit(1 << i)).otherwise(F.lit(0))
        for i, name in enumerate(event_types)
    ]
    return reduce(lambda a, b: a + b, bits, F.lit(0)).cast("int")


def indexed_interactions(user_index: DataFrame, item_index: DataFrame, event_types: Sequence[str]) -> Transform:
    """``user_idx``, ``item_idx``, ``confidence``, ``last_event_ts`` for pairs in both indices, and ``event_mask``
    (``event_mask(event_types)``): which seen-item rule excludes the pair, which pairs are purchases."""

    def transform(interactions: DataFrame) -> DataFrame:
        return (
            interactions.join(user_index.select("user_id", "user_idx"), "user_id")
            .join(item_index.select("item_id", "item_idx"), "item_id")
            .select(
                "user_idx",
                "item_idx",
                F.col("confidence").cast("float").alias("confidence"),
                "last_event_ts",
                event_mask(event_types).alias("event_mask"),
            )
        )

    return transform


def listing_index(item_index: DataFrame, since) -> Transform:
    """``item_id, item_idx``: the interaction index, then every listing of the availability table not in it that
    was still for sale at ``since`` (numbered on in item id order), so models with a listing side rank listings
    without history next to the others, and evaluation at ``since`` ranks everything that was for sale."""

    def transform(availability: DataFrame) -> DataFrame:
        known = item_index.select("item_id", "item_idx")
        offset = known.agg(F.coalesce(F.max("item_idx") + 1, F.lit(0)).alias("_offset"))  # one row
        live = (F.col("status") == "active") | (F.col("sold_at") >= F.lit(since).cast("timestamp"))
        extra = availability.where(live).select("item_id").join(known, "item_id", "left_anti").distinct()
        # an unpartitioned window sorts on one task: a list of listing ids is small enough for that
        position = F.row_number().over(Window.orderBy("item_id")) - 1 + F.col("_offset")
        numbered = extra.crossJoin(offset).select("item_id", position.cast("int").alias("item_idx"))
        return known.unionByName(numbered)

    return transform


LISTING_ATTRIBUTES = ("category", "brand", "size", "condition", "price", "listed_at", "country")


def with_seller_country(users: DataFrame) -> Transform:
    """Listings -> listings with their seller's ``country`` (null when the seller is unknown)."""

    def transform(items: DataFrame) -> DataFrame:
        return items.join(users.select(F.col("user_id").alias("seller_id"), "country"), "seller_id", "left")

    return transform


def listing_attributes(item_index: DataFrame, users: DataFrame) -> Transform:
    """Attributes of the indexed listings (``models.features.listing_attributes``' input): ``item_idx`` and
    ``LISTING_ATTRIBUTES`` (the seller's ``country`` among them)."""

    def transform(items: DataFrame) -> DataFrame:
        return (
            items.join(item_index.select("item_id", "item_idx"), "item_id")
            .transform(with_seller_country(users))
            .select("item_idx", *LISTING_ATTRIBUTES)
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
    return df.select(
        F.col(id_column).cast("long"), F.col("factors").cast("array<float>"), F.col("model_version").cast("string")
    )
