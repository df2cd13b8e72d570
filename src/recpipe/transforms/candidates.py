"""Candidate lists as Spark transforms: scoring on the executors (Arrow batches, BLAS, compiled top-k),
segment fallbacks, and the assembly that gives every user exactly one list."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from pyspark import Broadcast
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, BooleanType, DataType, StructField, StructType
from threadpoolctl import threadpool_limits

from recpipe.models.ranking import ListRanker, RankingRules
from recpipe.models.topk import unit_rows
from recpipe.serving import encoding
from recpipe.transforms.interactions import Transform

PERSONAL_SOURCE = "personal"  # source of a list scored from the model's vectors (the others: fallback:<segment>)
SCORED_SCHEMA = "{key} long, item_ids array<long>, scores array<float>, encoded_list binary"


@dataclass(frozen=True)
class ListingVectors:
    """Candidate items on the driver: sorted ids, their vectors and sellers (broadcast to executors)."""

    ids: np.ndarray
    vectors: np.ndarray
    sellers: np.ndarray

    @classmethod
    def from_pandas(cls, pdf, normalize: bool = False) -> ListingVectors:
        pdf = pdf.sort_values("item_id")
        vectors = np.stack(pdf["factors"].to_numpy()).astype(np.float32) if len(pdf) else np.zeros((0, 1), np.float32)
        if normalize:
            vectors = unit_rows(vectors)
        return cls(pdf["item_id"].to_numpy(np.int64), vectors, pdf["seller_id"].to_numpy(np.int64))


def _list_column(values: np.ndarray, offsets: np.ndarray, value_type: pa.DataType) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values, value_type))


def _exclusion_matrix(batch: pa.RecordBatch, listing_ids: np.ndarray) -> sp.csr_matrix:
    """Rows: the batch; columns: listing positions listed in the batch's ``exclude`` ids (unknown ids ignored)."""
    excluded = batch.column("exclude")
    lengths = pc.list_value_length(excluded).fill_null(0).to_numpy(zero_copy_only=False)
    ids = pc.list_flatten(excluded).to_numpy(zero_copy_only=False).astype(np.int64)  # respects slicing
    rows = np.repeat(np.arange(batch.num_rows), lengths)
    positions = np.clip(np.searchsorted(listing_ids, ids), 0, max(len(listing_ids) - 1, 0))
    known = (listing_ids[positions] == ids) if len(listing_ids) else np.zeros(len(ids), dtype=bool)
    return sp.csr_matrix(
        (np.ones(known.sum(), dtype=np.float32), (rows[known], positions[known])),
        shape=(batch.num_rows, len(listing_ids)),
    )


def score_top_k(
    listings: Broadcast,
    key: str,
    k: int,
    max_per_seller: int | None,
    normalize_queries: bool = False,
    exclude_query_seller: bool = False,
) -> Transform:
    """``key, factors, exclude[, seller_id]`` -> ``key, item_ids, scores, encoded_list`` (top ``k`` of the
    broadcast listing vectors; ``encoded_list`` is the list as Redis serves it, R1).

    Runs on the executors one Arrow batch at a time: cache-sized BLAS products against the listings, each scanned
    by a compiled pass that keeps the few scores able to make a list, which are then walked under the exclusions
    and the seller rules (``models.scoring``). Memory per task is batch x tile, never users x items.
    The served value is encoded here, while the lists are numpy arrays, so publishing ships bytes.
    """

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        with threadpool_limits(limits=1, user_api="blas"):  # a Spark task owns one core: no nested BLAS threads
            yield from _score_batches(batches, listings.value)

    def _score_batches(batches: Iterator[pa.RecordBatch], vectors: ListingVectors) -> Iterator[pa.RecordBatch]:
        ranker = ListRanker(vectors.vectors, vectors.sellers, RankingRules(k, max_per_seller))  # once per partition
        for batch in batches:
            if batch.num_rows == 0:
                continue
            flat = pc.list_flatten(batch.column("factors")).to_numpy(zero_copy_only=False).astype(np.float32)
            queries = flat.reshape(batch.num_rows, -1)
            if normalize_queries:
                queries = unit_rows(queries)
            query_sellers = (
                batch.column("seller_id").to_numpy(zero_copy_only=False).astype(np.int64)
                if exclude_query_seller
                else None
            )
            ids, scores = ranker.rank(queries, _exclusion_matrix(batch, vectors.ids), query_sellers)
            valid = ids >= 0
            offsets = np.concatenate([[0], np.cumsum(valid.sum(axis=1))])
            item_ids = _list_column(vectors.ids[ids[valid]], offsets, pa.int64())
            item_scores = _list_column(scores[valid], offsets, pa.float32())
            yield pa.RecordBatch.from_arrays(
                [batch.column(key), item_ids, item_scores, encoding.encode_arrow(item_ids, item_scores)],
                names=[key, "item_ids", "scores", "encoded_list"],
            )

    def transform(queries: DataFrame) -> DataFrame:
        return queries.mapInArrow(score, SCORED_SCHEMA.format(key=key))

    return transform


def _with_arrow_column(name: str, dtype: DataType, compute: Callable[[pa.RecordBatch], pa.Array]) -> Transform:
    """Append column ``name`` computed from each Arrow batch (no per-row Python)."""

    def transform(df: DataFrame) -> DataFrame:
        schema = StructType([*df.schema.fields, StructField(name, dtype)])

        def append(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                yield batch.append_column(name, compute(batch))

        return df.mapInArrow(append, schema)

    return transform


def with_encoded_lists(items_column: str = "item_ids") -> Transform:
    """Append ``encoded_list``: the row's ``items_column`` and ``scores`` in R1, as Redis serves them."""
    return _with_arrow_column(
        "encoded_list",
        BinaryType(),
        lambda batch: encoding.encode_arrow(batch.column(items_column), batch.column("scores")),
    )


def with_encoding_check(items_column: str = "item_ids") -> Transform:
    """Append ``encoded_matches``: whether ``encoded_list`` is exactly the R1 value of the row's lists (checked with
    the publisher's own codec, not a second reading of the format)."""
    return _with_arrow_column(
        "encoded_matches",
        BooleanType(),
        lambda batch: encoding.matches_arrow(
            batch.column(items_column), batch.column("scores"), batch.column("encoded_list")
        ),
    )


def seen_through(event_types: Sequence[str]) -> Column:
    """True on an interaction row whose ``event_types`` include one of ``event_types``: the item is "seen"."""
    return F.arrays_overlap("event_types", F.array(*[F.lit(t) for t in event_types]))


def seen_pairs(interactions: DataFrame, event_types: Sequence[str]) -> DataFrame:
    """``user_id, item_id`` of items a user interacted with through one of ``event_types``."""
    return interactions.where(seen_through(event_types)).select("user_id", "item_id")


def own_listings(items: DataFrame) -> DataFrame:
    """``user_id, item_id`` of every listing by the seller who listed it: never recommended to them."""
    return items.select(F.col("seller_id").alias("user_id"), "item_id")


def excluded_items(interactions: DataFrame, items: DataFrame, event_types: Sequence[str]) -> DataFrame:
    """Per user the item ids never to recommend: items seen with one of ``event_types``, and own listings."""
    return (
        seen_pairs(interactions, event_types)
        .unionByName(own_listings(items))
        .groupBy("user_id")
        .agg(F.array_sort(F.collect_set("item_id")).alias("exclude"))
    )


def topup_exclusions(fallbacks: DataFrame) -> Transform:
    """``user_id, exclude`` -> ``user_id, item_ids, scores``: the user's excluded items that appear in a fallback
    list, i.e. what a reader topping the user's list up from fallbacks must skip (scores are zeros)."""

    def transform(exclusions: DataFrame) -> DataFrame:
        fallback_items = fallbacks.select(F.explode("item_ids").alias("item_id")).distinct()
        return (
            exclusions.select("user_id", F.explode("exclude").alias("item_id"))
            .join(fallback_items, "item_id")
            .groupBy("user_id")
            .agg(F.array_sort(F.collect_set("item_id")).alias("item_ids"))
            .withColumn("scores", F.transform("item_ids", lambda _: F.lit(0.0).cast("float")))
        )

    return transform


def with_exclusions(exclusions: DataFrame) -> Transform:
    """Attach ``exclude`` (empty when the user has none)."""

    def transform(users: DataFrame) -> DataFrame:
        return users.join(exclusions, "user_id", "left").withColumn(
            "exclude", F.coalesce(F.col("exclude"), F.array().cast("array<long>"))
        )

    return transform


def capped_ranking(df: DataFrame, partition: str, order: list[Column], max_per_seller: int, limit: int) -> DataFrame:
    """Rank rows per ``partition``, drop those past ``max_per_seller`` per seller, keep the first ``limit``."""
    per_seller = Window.partitionBy(partition, "seller_id").orderBy(*order)
    ranked = df.withColumn("_seller_rank", F.row_number().over(per_seller)).where(
        F.col("_seller_rank") <= max_per_seller
    )
    overall = Window.partitionBy(partition).orderBy(*order)
    return ranked.withColumn("_rank", F.row_number().over(overall)).where(F.col("_rank") <= limit).drop("_seller_rank")


def segment_fallbacks(
    daily: DataFrame, users: DataFrame, available: DataFrame, since_day, limit: int, max_per_seller: int
) -> DataFrame:
    """``segment, item_ids, scores``: per country (``country=XX``) and ``global``, available items ranked by
    distinct recent users, then by newest listing, so fresh items fill lists that popularity leaves short."""
    recent = daily.where(F.col("day") >= F.lit(since_day)).join(users.select("user_id", "country"), "user_id")
    by_country = recent.groupBy(F.concat(F.lit("country="), "country").alias("segment"), "item_id").agg(
        F.countDistinct("user_id").cast("float").alias("score")
    )
    overall = recent.groupBy(F.lit("global").alias("segment"), "item_id").agg(
        F.countDistinct("user_id").cast("float").alias("score")
    )
    segments = by_country.select("segment").distinct().unionByName(overall.select("segment").distinct())
    newest = (
        available.orderBy(F.desc("listed_at"), "item_id")
        .limit(limit)
        .select("item_id", F.lit(0.0).cast("float").alias("score"))
    )
    pool = (
        by_country.unionByName(overall)
        .unionByName(segments.crossJoin(newest))
        .groupBy("segment", "item_id")
        .agg(F.max("score").alias("score"))
        .join(available.select("item_id", "seller_id", "listed_at"), "item_id")
    )
    order = [F.desc("score"), F.desc("listed_at"), F.asc("item_id")]
    ranked = capped_ranking(pool, "segment", order, max_per_seller, limit)
    return collect_ranked(ranked, "segment")


def collect_ranked(ranked: DataFrame, key: str) -> DataFrame:
    """Rows with ``_rank``, ``item_id``, ``score`` -> one row per key with arrays in rank order."""
    ordered = F.array_sort(F.collect_list(F.struct("_rank", "item_id", "score")))
    return (
        ranked.groupBy(key)
        .agg(ordered.alias("_l"))
        .select(
            key,
            F.transform("_l", lambda e: e["item_id"]).alias("item_ids"),
            F.transform("_l", lambda e: e["score"].cast("float")).alias("scores"),
        )
    )


def without_excluded(limit: int) -> Transform:
    """Remove each row's ``exclude`` ids from its ``item_ids``/``scores`` and keep the first ``limit``."""

    def transform(df: DataFrame) -> DataFrame:
        pairs = F.arrays_zip(F.col("item_ids").alias("item_id"), F.col("scores").alias("score"))
        kept = F.slice(F.filter(pairs, lambda p: ~F.array_contains(F.col("exclude"), p["item_id"])), 1, limit)
        return (
            df.withColumn("_kept", kept)
            .withColumn("item_ids", F.col("_kept.item_id"))
            .withColumn("scores", F.col("_kept.score"))
            .drop("_kept")
        )

    return transform


def assign_fallbacks(fallbacks: DataFrame, limit: int) -> Transform:
    """Users (``user_id``, ``country``, ``exclude``) -> their segment's list (country, else global), exclusions
    removed; ``source`` names the segment."""

    def transform(users: DataFrame) -> DataFrame:
        country = fallbacks.select(
            F.col("segment").alias("_segment"), F.col("item_ids").alias("_c_items"), F.col("scores").alias("_c_scores")
        )
        overall = fallbacks.where(F.col("segment") == "global").select(
            F.col("item_ids").alias("_g_items"), F.col("scores").alias("_g_scores")
        )
        joined = (
            users.withColumn("_segment", F.concat(F.lit("country="), "country"))
            .join(country, "_segment", "left")
            .crossJoin(overall)
        )
        has_country = F.col("_c_items").isNotNull()
        return joined.select(
            "user_id",
            "exclude",
            F.when(has_country, F.col("_c_items")).otherwise(F.col("_g_items")).alias("item_ids"),
            F.when(has_country, F.col("_c_scores")).otherwise(F.col("_g_scores")).alias("scores"),
            F.when(has_country, F.concat(F.lit("fallback:"), F.col("_segment")))
            .otherwise(F.lit("fallback:global"))
            .alias("source"),
        ).transform(without_excluded(limit))

    return transform


def attribute_neighbours(items: DataFrame, popularity: DataFrame, limit: int, exclude_same_seller: bool) -> Transform:
    """Cold items -> similar available items sharing category, size and price band (log2 of the price),
    most popular first, then newest: ``item_id, similar_item_ids, scores``."""
    band = F.floor(F.log2(F.greatest(F.col("price"), F.lit(1.0))))
    keyed = items.select("item_id", "seller_id", "category", "size", band.alias("price_band"), "listed_at")
    candidates = keyed.join(popularity, "item_id", "left").withColumn(
        "score", F.coalesce(F.col("score"), F.lit(0.0)).cast("float")
    )

    def transform(cold: DataFrame) -> DataFrame:
        query = (
            cold.select("item_id")
            .join(keyed, "item_id")
            .select(
                F.col("item_id").alias("query_id"),
                F.col("seller_id").alias("query_seller"),
                "category",
                "size",
                "price_band",
            )
        )
        pairs = query.join(candidates, ["category", "size", "price_band"]).where(F.col("item_id") != F.col("query_id"))
        if exclude_same_seller:
            pairs = pairs.where(F.col("seller_id") != F.col("query_seller"))
        ranked = pairs.withColumn(
            "_rank",
            F.row_number().over(
                Window.partitionBy("query_id").orderBy(F.desc("score"), F.desc("listed_at"), "item_id")
            ),
        ).where(F.col("_rank") <= limit)
        return collect_ranked(ranked, "query_id").select(
            F.col("query_id").alias("item_id"), F.col("item_ids").alias("similar_item_ids"), "scores"
        )

    return transform


def broadcast_listings(spark: SparkSession, listings: ListingVectors) -> Broadcast:
    return spark.sparkContext.broadcast(listings)
