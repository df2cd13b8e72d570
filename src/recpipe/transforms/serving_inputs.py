"""Gold tables -> one (entity, encoded_list) frame per Redis surface, laid out by bucket."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recpipe.serving import keys
from recpipe.transforms.interactions import Transform


def by_bucket(buckets: int, partitions: int) -> Transform:
    """Co-locate and order each bucket's entries, so a writer sends few multi-field HSETs."""

    def transform(df: DataFrame) -> DataFrame:
        leading_id = F.split(F.col("entity"), keys.VARIANT_SEPARATOR).getItem(0).cast("long")  # keys.bucket_of
        bucket = (leading_id % buckets) if buckets > 1 else F.lit(0)
        return (
            df.withColumn("_bucket", bucket)
            .repartition(partitions, "_bucket")
            .sortWithinPartitions("_bucket", "entity")
            .drop("_bucket")
        )

    return transform


def foryou_entries(user_candidates: DataFrame, variant_candidates: DataFrame | None = None) -> DataFrame:
    """Each user's list under the user id; a live experiment's other variants' lists under ``{user}:{variant}``."""
    entries = user_candidates.select(F.col("user_id").cast("string").alias("entity"), "encoded_list")
    if variant_candidates is None:
        return entries
    variant = F.concat_ws(keys.VARIANT_SEPARATOR, F.col("user_id").cast("string"), F.col("variant"))
    return entries.unionByName(variant_candidates.select(variant.alias("entity"), "encoded_list"))


def similar_entries(similar_items: DataFrame, priority: Sequence[str]) -> DataFrame:
    """One list per item: the first source in ``priority`` that has a non-empty list."""
    rank = F.array_position(F.array(*[F.lit(s) for s in priority]), F.col("source"))
    best = Window.partitionBy("item_id").orderBy(rank)
    return (
        similar_items.where((rank > 0) & (F.size("similar_item_ids") > 0))
        .withColumn("_rank", F.row_number().over(best))
        .where(F.col("_rank") == 1)
        .select(F.col("item_id").cast("string").alias("entity"), "encoded_list")
    )


def exclusion_entries(topup_exclusions: DataFrame) -> DataFrame:
    return topup_exclusions.select(F.col("user_id").cast("string").alias("entity"), "encoded_list")


def fallback_entries(fallback_candidates: DataFrame) -> DataFrame:
    return fallback_candidates.select(F.col("segment").alias("entity"), "encoded_list")


def unavailable_listed_items(entries: Sequence[DataFrame], gone: DataFrame) -> DataFrame:
    """Items in any published list that are sold or deleted by now (``gone``: ``item_id``, from
    ``transforms.availability``): what the reader must drop."""
    listed = entries[0].select(F.explode("item_ids").alias("item_id"))
    for df in entries[1:]:
        listed = listed.unionByName(df.select(F.explode("item_ids").alias("item_id")))
    return listed.distinct().join(gone.select("item_id"), "item_id")
