"""The first stage of two: candidate listings per user from several retrieval sources, each a small named function
``-> user_id, item_id, score`` over the listings for sale at the as-of; ``retrieve`` unions them, keeping every
source's score and rank as features (null when a source did not propose the listing).

Every input is as of one day (``RetrievalInputs``): the batch passes the run's as-of, train the time split's, so
the ranker learns from candidates retrieved exactly as the served ones are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from recpipe.config import RetrievalConfig
from recpipe.run_day import as_of_end
from recpipe.transforms import candidates

ENGAGEMENT_TYPES = ("view", "like", "save", "add_to_bag")  # what "recently engaged" means (a purchase is gone)
MODEL_SOURCE = "model"  # the registered model's top K: a one-stage list is this source alone
SOURCES = (MODEL_SOURCE, "engaged", "neighbours", "taste", "popular")  # every source, in the order of its columns


@dataclass(frozen=True)
class RetrievalInputs:
    """What the sources read, as of ``as_of`` (the last day of data): ``daily`` (silver.daily_interactions up to
    it), ``users`` (``user_id, country``), ``listings`` (the listings for sale then, with their attributes),
    ``exclusions`` (``user_id, exclude``: the served exclusion rule), the model's ``user_factors`` and
    ``item_factors`` (``*_id, factors``), the users to retrieve for (``targets``: ``user_id``) and their
    ``profile`` (``taste_profile``: top categories, size, price level)."""

    spark: SparkSession
    as_of: date
    daily: DataFrame
    users: DataFrame
    items: DataFrame
    listings: DataFrame
    exclusions: DataFrame
    user_factors: DataFrame
    item_factors: DataFrame
    targets: DataFrame
    profile: DataFrame

    def recent(self, days: int) -> DataFrame:
        return self.daily.where(F.col("day") > F.lit(self.as_of - timedelta(days=days)))


Source = Callable[[RetrievalInputs, RetrievalConfig], DataFrame]


def top_per_user(pairs: DataFrame, k: int) -> DataFrame:
    """The ``k`` best-scored rows per user (ties: lower item id), ``rank`` from 1."""
    order = Window.partitionBy("user_id").orderBy(F.desc("score"), "item_id")
    return pairs.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= k)


def _engaged(inputs: RetrievalInputs, days: int) -> DataFrame:
    """``user_id, item_id, score, last_event_ts``: listings a user viewed, liked, saved or bagged in ``days``."""
    return (
        inputs.recent(days)
        .where(candidates.seen_through(ENGAGEMENT_TYPES))
        .groupBy("user_id", "item_id")
        .agg(F.sum("weighted").alias("score"), F.max("last_event_ts").alias("last_event_ts"))
    )


def model_top_k(inputs: RetrievalInputs, config: RetrievalConfig) -> DataFrame:
    """The registered model's top ``model_k`` by the dot product of its vectors, without excluded listings."""
    vectors = inputs.listings.select("item_id", "seller_id").join(inputs.item_factors, "item_id")
    listings = candidates.ListingVectors.from_pandas(vectors.select("item_id", "seller_id", "factors").toPandas())
    queries = (
        inputs.user_factors.join(inputs.targets, "user_id")
        .transform(candidates.with_exclusions(inputs.exclusions))
        .select("user_id", "factors", "exclude")
    )
    scored = queries.transform(
        candidates.score_top_k(candidates.broadcast_listings(inputs.spark, listings), "user_id", config.model_k, None)
    )
    return scored.select("user_id", F.explode(F.arrays_zip("item_ids", "scores")).alias("p")).select(
        "user_id", F.col("p.item_ids").alias("item_id"), F.col("p.scores").cast("double").alias("score")
    )


def recently_engaged(inputs: RetrievalInputs, config: RetrievalConfig) -> DataFrame:
    """The user's own listings of interest still for sale: viewed, saved or bagged recently (people come back)."""
    return _engaged(inputs, config.engaged_days).select("user_id", "item_id", "score")


def vector_neighbours(inputs: RetrievalInputs, config: RetrievalConfig) -> DataFrame:
    """Cosine neighbours of the mean vector of the user's ``neighbour_seeds`` most recently engaged listings."""
    latest = Window.partitionBy("user_id").orderBy(F.desc("last_event_ts"), "item_id")
    seeds = (
        _engaged(inputs, config.engaged_days)
        .withColumn("_n", F.row_number().over(latest))
        .where(F.col("_n") <= config.neighbour_seeds)
        .join(inputs.item_factors, "item_id")
    )
    dims = seeds.select(F.posexplode("factors").alias("pos", "value"), "user_id")
    means = (
        dims.groupBy("user_id", "pos")
        .agg(F.avg("value").cast("float").alias("value"))
        .groupBy("user_id")
        .agg(F.array_sort(F.collect_list(F.struct("pos", "value"))).alias("_v"))
        .select("user_id", F.transform("_v", lambda e: e["value"]).alias("factors"))
    )
    vectors = inputs.listings.select("item_id", "seller_id").join(inputs.item_factors, "item_id")
    listings = candidates.ListingVectors.from_pandas(
        vectors.select("item_id", "seller_id", "factors").toPandas(), normalize=True
    )
    queries = means.join(inputs.targets, "user_id").transform(candidates.with_exclusions(inputs.exclusions))
    scored = queries.select("user_id", "factors", "exclude").transform(
        candidates.score_top_k(
            candidates.broadcast_listings(inputs.spark, listings),
            "user_id",
            config.neighbour_k,
            None,
            normalize_queries=True,
        )
    )
    return scored.select("user_id", F.explode(F.arrays_zip("item_ids", "scores")).alias("p")).select(
        "user_id", F.col("p.item_ids").alias("item_id"), F.col("p.scores").cast("double").alias("score")
    )


def log_price(column: str = "price") -> Column:
    return F.log(F.greatest(F.col(column), F.lit(1.0)))


def price_levels(daily: DataFrame, items: DataFrame) -> DataFrame:
    """``user_id, price_level``: the median log price of the listings a user had events on."""
    engaged = daily.join(items.select("item_id", "price"), "item_id")
    return engaged.groupBy("user_id").agg(F.percentile_approx(log_price(), 0.5).alias("price_level"))


def rankable_users(daily: DataFrame, min_events: int) -> DataFrame:
    """``user_id`` of users with at least ``min_events`` events up to the as-of: they get a ranked list."""
    return (
        daily.groupBy("user_id").agg(F.sum("n_events").alias("_n")).where(F.col("_n") >= min_events).select("user_id")
    )


def taste_profile(daily: DataFrame, items: DataFrame, categories: int) -> DataFrame:
    """``user_id, category, size, price_level``: each of the user's top ``categories`` categories (by weighted
    events), their most frequent size and their price level."""
    engaged = daily.join(items.select("item_id", "category", "size"), "item_id")
    by_category = engaged.groupBy("user_id", "category").agg(F.sum("weighted").alias("w"))
    top = by_category.withColumn(
        "_r", F.row_number().over(Window.partitionBy("user_id").orderBy(F.desc("w"), "category"))
    ).where(F.col("_r") <= categories)
    size = (
        engaged.groupBy("user_id", "size")
        .agg(F.sum("weighted").alias("w"))
        .withColumn("_r", F.row_number().over(Window.partitionBy("user_id").orderBy(F.desc("w"), "size")))
        .where(F.col("_r") == 1)
        .select("user_id", "size")
    )
    return top.select("user_id", "category").join(size, "user_id").join(price_levels(daily, items), "user_id")


def newest_in_taste(inputs: RetrievalInputs, config: RetrievalConfig) -> DataFrame:
    """The newest listings in the user's top categories, in their size (or one size), within a factor e of their
    price level: what a buyer browsing their own size and budget would see first."""
    profile = inputs.profile
    age_days = (F.unix_timestamp(F.lit(as_of_end(inputs.as_of))) - F.unix_timestamp("listed_at")) / 86400.0
    listings = inputs.listings.select(
        "item_id", "category", F.col("size").alias("_size"), log_price().alias("_log_price"), "listed_at"
    )
    near = (F.col("_size") == F.col("size")) & (F.abs(F.col("_log_price") - F.col("price_level")) <= 1.0)
    return (
        profile.join(inputs.targets, "user_id")
        .join(listings, "category")
        .where(near)
        .select("user_id", "item_id", (-age_days).alias("score"))
    )


def popular_in_segment(inputs: RetrievalInputs, config: RetrievalConfig) -> DataFrame:
    """Listings for sale by distinct recent users in the user's country and size (country alone without a size)."""
    recent = inputs.recent(config.popular_days).join(inputs.users.select("user_id", "country"), "user_id")
    for_sale = inputs.listings.select("item_id", "size")
    counts = (
        recent.join(for_sale, "item_id")
        .groupBy("country", "size", "item_id")
        .agg(F.countDistinct("user_id").cast("double").alias("score"))
    )
    order = Window.partitionBy("country", "size").orderBy(F.desc("score"), "item_id")
    top = counts.withColumn("_r", F.row_number().over(order)).where(F.col("_r") <= config.popular_k).drop("_r")
    sizes = inputs.profile.select("user_id", "size").distinct()
    users = inputs.targets.join(inputs.users.select("user_id", "country"), "user_id").join(sizes, "user_id")
    return users.join(top, ["country", "size"]).select("user_id", "item_id", "score")


SOURCE_FUNCTIONS: dict[str, tuple[Source, Callable[[RetrievalConfig], int]]] = {
    MODEL_SOURCE: (model_top_k, lambda c: c.model_k),
    "engaged": (recently_engaged, lambda c: c.engaged_k),
    "neighbours": (vector_neighbours, lambda c: c.neighbour_k),
    "taste": (newest_in_taste, lambda c: c.taste_k),
    "popular": (popular_in_segment, lambda c: c.popular_k),
}
assert tuple(SOURCE_FUNCTIONS) == SOURCES


def score_column(source: str) -> str:
    return f"{source}_score"


def rank_column(source: str) -> str:
    return f"{source}_rank"


def retrieve(inputs: RetrievalInputs, config: RetrievalConfig) -> DataFrame:
    """``user_id, item_id`` and per source ``<source>_score``, ``<source>_rank`` (null: not proposed by it), for
    the target users: the union of every source's top K over the listings for sale, without excluded listings."""
    excluded = inputs.exclusions.select("user_id", F.explode("exclude").alias("item_id"))
    for_sale = inputs.listings.select("item_id")
    proposed = []
    for name, (source, depth) in SOURCE_FUNCTIONS.items():
        if depth(config) == 0:
            continue
        pairs = (
            source(inputs, config)
            .join(for_sale, "item_id", "left_semi")
            .join(excluded, ["user_id", "item_id"], "left_anti")
            .transform(lambda df, k=depth(config): top_per_user(df, k))
        )
        proposed.append(pairs.withColumn("source", F.lit(name)))
    union = proposed[0]
    for part in proposed[1:]:
        union = union.unionByName(part)
    columns: list[Column] = []
    for name in SOURCES:
        mine = F.col("source") == name
        columns += [
            F.max(F.when(mine, F.col("score"))).alias(score_column(name)),
            F.min(F.when(mine, F.col("rank"))).cast("int").alias(rank_column(name)),
        ]
    return union.groupBy("user_id", "item_id").agg(*columns)


def best_source() -> Column:
    """The source that ranked a candidate highest (ties: the first of ``SOURCES``): what a list item came from."""
    ranked = F.array(
        *[
            F.struct(F.col(rank_column(s)).alias("rank"), F.lit(i).alias("i"), F.lit(s).alias("name"))
            for i, s in enumerate(SOURCES)
        ]
    )
    present = F.filter(ranked, lambda e: e["rank"].isNotNull())
    return F.array_min(present)["name"]
