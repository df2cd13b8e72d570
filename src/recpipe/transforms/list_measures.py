"""What served lists do beyond accuracy, in Spark: position-weighted exposure of sellers and listings, intra-list
diversity, novelty, the user segments recall is compared across and each buyer's recall. The statistics over these
(Gini, shares, bootstrap intervals) are ``monitoring.responsible``'s."""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recpipe.transforms.retrieval import price_levels


def position_weight(position: Column) -> Column:
    """Exposure of a 0-based list position: 1 / log2(position + 2), the attention a ranked list gives (DCG's
    discount; Singh & Joachims 2018)."""
    return F.lit(1.0) / F.log2(position + F.lit(2.0))


def exposure_entries(lists: DataFrame, depth: int) -> DataFrame:
    """``user_id, position, item_id, weight`` of the first ``depth`` entries of every list."""
    entries = lists.select("user_id", F.posexplode(F.slice("item_ids", 1, depth)).alias("position", "item_id"))
    return entries.withColumn("weight", position_weight(F.col("position")))


def new_sellers(items: DataFrame, end: datetime, days: int) -> DataFrame:
    """``seller_id`` of sellers whose first listing was created in the ``days`` before ``end``."""
    since = F.lit(end - timedelta(days=days)).cast("timestamp")
    first = (
        items.where(F.col("listed_at") < F.lit(end).cast("timestamp"))
        .groupBy("seller_id")
        .agg(F.min("listed_at").alias("_first"))
    )
    return first.where(F.col("_first") >= since).select("seller_id")


def seller_exposure(entries: DataFrame, live: DataFrame) -> DataFrame:
    """``seller_id, exposure``: every live seller (one with a listing in ``live``: ``item_id, seller_id``) and the
    position-weighted exposure of their listings over all lists (0 when none was shown)."""
    shown = (
        entries.join(live.select("item_id", "seller_id"), "item_id")
        .groupBy("seller_id")
        .agg(F.sum("weight").alias("exposure"))
    )
    sellers = live.select("seller_id").distinct()
    return sellers.join(shown, "seller_id", "left").select(
        "seller_id", F.coalesce("exposure", F.lit(0.0)).alias("exposure")
    )


def item_exposure(entries: DataFrame) -> DataFrame:
    """``item_id, exposure``: position-weighted exposure of every listing shown."""
    return entries.groupBy("item_id").agg(F.sum("weight").alias("exposure"))


def exposure_shares(entries: DataFrame, live: DataFrame, new: DataFrame, end: datetime, fresh_hours: int) -> DataFrame:
    """One row: the share of all exposure going to new sellers' listings and to listings under ``fresh_hours`` old
    at ``end`` (``live``: ``item_id, seller_id, listed_at``)."""
    fresh_since = F.lit(end - timedelta(hours=fresh_hours)).cast("timestamp")
    flagged = entries.join(live.select("item_id", "seller_id", "listed_at"), "item_id").join(
        new.withColumn("_new", F.lit(True)), "seller_id", "left"
    )
    total = F.sum("weight")
    return flagged.agg(
        (F.sum(F.when(F.col("_new"), F.col("weight")).otherwise(0.0)) / total).alias("new_seller_exposure_share"),
        (F.sum(F.when(F.col("listed_at") >= fresh_since, F.col("weight")).otherwise(0.0)) / total).alias(
            "fresh_listing_exposure_share"
        ),
    )


def list_diversity(entries: DataFrame, listings: DataFrame, vectors: DataFrame | None) -> DataFrame:
    """``user_id, n, category_diversity, brand_diversity, categories, vector_diversity`` of each list's entries:
    intra-list diversity is the mean over pairs of listings of their dissimilarity: different category (brand), or
    1 - cosine of the listing vectors (over the listings that have one; null under two). ``categories``: distinct
    categories. ``listings``: ``item_id, category, brand``; ``vectors``: ``item_id, factors`` or None."""
    attributed = entries.join(listings.select("item_id", "category", "brand"), "item_id")
    parts = []
    for column in ("category", "brand"):
        counts = attributed.groupBy("user_id", column).agg(F.count(F.lit(1)).alias("c"))
        parts.append(
            counts.groupBy("user_id").agg(
                F.sum("c").alias(f"_n_{column}"),
                F.sum(F.col("c") * (F.col("c") - 1)).alias(f"_same_{column}"),
                F.count(F.lit(1)).alias(f"_distinct_{column}"),
            )
        )
    per_user = parts[0].join(parts[1], "user_id")
    n = F.col("_n_category")
    pairs = n * (n - 1)
    per_user = per_user.select(
        "user_id",
        n.alias("n"),
        F.when(pairs > 0, 1 - F.col("_same_category") / pairs).alias("category_diversity"),
        F.when(pairs > 0, 1 - F.col("_same_brand") / pairs).alias("brand_diversity"),
        F.col("_distinct_category").alias("categories"),
    )
    if vectors is None:
        return per_user.withColumn("vector_diversity", F.lit(None).cast("double"))
    return per_user.join(vector_diversity(entries, vectors), "user_id", "left")


def vector_diversity(entries: DataFrame, vectors: DataFrame) -> DataFrame:
    """``user_id, vector_diversity``: 1 - mean pairwise cosine of the list's listing vectors, from the sum of the
    unit vectors u: the pairs' cosines add up to |sum u|^2 - n (summed per dimension: no pair is formed; plain
    aggregations, no per-element lambdas, which Spark evaluates interpreted)."""
    elements = vectors.select("item_id", F.posexplode("factors").alias("_dim", "_x"))
    norms = elements.groupBy("item_id").agg(F.sqrt(F.sum(F.col("_x") * F.col("_x"))).alias("_norm"))
    norms = norms.where(F.col("_norm") > 0)
    unit = elements.join(norms, "item_id").select("item_id", "_dim", (F.col("_x") / F.col("_norm")).alias("_v"))
    shown = entries.select("user_id", "item_id")
    counts = shown.join(norms, "item_id").groupBy("user_id").agg(F.count(F.lit(1)).alias("_n"))
    sums = (
        shown.join(unit, "item_id")
        .groupBy("user_id", "_dim")
        .agg(F.sum("_v").alias("_s"))
        .groupBy("user_id")
        .agg(F.sum(F.col("_s") * F.col("_s")).alias("_squared"))
    )
    n = F.col("_n")
    return counts.join(sums, "user_id").select(
        "user_id", F.when(n > 1, 1 - (F.col("_squared") - n) / (n * (n - 1))).alias("vector_diversity")
    )


def novelty(entries: DataFrame, interactions: DataFrame) -> DataFrame:
    """``user_id, novelty``: mean over the list's entries of -log2 of the listing's popularity, (users who
    interacted with it + 1) / (users with any interaction + 1) in ``interactions`` (``user_id, item_id``)."""
    users = interactions.agg(F.countDistinct("user_id").alias("_users"))
    seen_by = interactions.groupBy("item_id").agg(F.countDistinct("user_id").alias("_seen"))
    share = (F.coalesce("_seen", F.lit(0)) + 1) / (F.col("_users") + 1)
    return (
        entries.join(seen_by, "item_id", "left")
        .crossJoin(users)
        .groupBy("user_id")
        .agg(F.avg(-F.log2(share)).alias("novelty"))
    )


def user_segments(users: DataFrame, daily: DataFrame, items: DataFrame, end: datetime, new_user_days: int) -> DataFrame:
    """``user_id, country, size_class, price_level, tenure`` of every user: the size they engaged with most, the
    tercile of their median price (low/mid/high over users; ``unknown`` without events), ``new`` when they signed
    up in the ``new_user_days`` before ``end``, else ``established``."""
    engaged = daily.join(items.select("item_id", "size"), "item_id")
    size = (
        engaged.groupBy("user_id", "size")
        .agg(F.sum("weighted").alias("w"))
        .withColumn("_r", F.row_number().over(Window.partitionBy("user_id").orderBy(F.desc("w"), "size")))
        .where(F.col("_r") == 1)
        .select("user_id", F.col("size").alias("size_class"))
    )
    levels = price_levels(daily, items)
    cuts = levels.agg(F.percentile_approx("price_level", [1 / 3, 2 / 3]).alias("_cuts"))
    tercile = (
        F.when(F.col("price_level") <= F.col("_cuts")[0], "low")
        .when(F.col("price_level") <= F.col("_cuts")[1], "mid")
        .otherwise("high")
    )
    priced = levels.crossJoin(cuts).select("user_id", tercile.alias("price_level"))
    since = F.lit(end - timedelta(days=new_user_days)).cast("timestamp")
    return (
        users.select("user_id", "country", "signup_ts")
        .join(size, "user_id", "left")
        .join(priced, "user_id", "left")
        .select(
            "user_id",
            "country",
            F.coalesce("size_class", F.lit("unknown")).alias("size_class"),
            F.coalesce("price_level", F.lit("unknown")).alias("price_level"),
            F.when(F.col("signup_ts") >= since, "new").otherwise("established").alias("tenure"),
        )
    )


def buyer_recall(lists: DataFrame, targets: DataFrame, k: int) -> DataFrame:
    """``user_id, targets, hits, recall`` of every user with a target (``user_id, item_id``): the share of their
    targets in the first ``k`` items of their list (0 without a list)."""
    top = lists.select("user_id", F.posexplode(F.slice("item_ids", 1, k)).alias("_p", "item_id")).withColumn(
        "_hit", F.lit(1)
    )
    distinct_targets = targets.select("user_id", "item_id").distinct()
    return (
        distinct_targets.join(top.select("user_id", "item_id", "_hit"), ["user_id", "item_id"], "left")
        .groupBy("user_id")
        .agg(F.count(F.lit(1)).alias("targets"), F.count("_hit").alias("hits"))
        .withColumn("recall", F.col("hits") / F.col("targets"))
    )
