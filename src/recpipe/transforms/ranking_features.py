"""The ranker's features of (user, listing) pairs: one definition for training (at the time split), the batch
lists and the fresh overlays, as pure Spark transforms over silver tables at an as-of.

Point in time: every feature reads only events of days up to the as-of and listing facts known at its end (listed
before it, sold before it), so the training set sees what the served lists see, never the future it is labelled
with. A user with little history gets nulls where a feature needs history (the ranker learns what missing means);
listing and pair features still apply, so a user with one view still gets a personal ranking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from recpipe.run_day import as_of_end
from recpipe.transforms import candidates, retrieval
from recpipe.transforms.interactions import Transform

DAY_SECONDS = 86_400.0
CATEGORY_CODES = 1 << 20  # categorical values as stable hash codes: the same string, the same code, any run

LISTING_FEATURES = (
    "age_days",
    "log_price",
    "category_code",
    "condition_code",
    "brand_tier",
    "views_1d",
    "views_3d",
    "views_7d",
    "likes_7d",
    "bags_7d",
    "seller_sales_30d",
    "seller_listings_30d",
)
USER_FEATURES = ("user_tenure_days", "user_events_7d", "user_events", "user_active_days", "user_purchases")
PAIR_FEATURES = (
    "size_share",
    "category_share",
    "brand_share",
    "price_gap",
    "abs_price_gap",
    "country_match",
    "pair_weight",
    "pair_days_since",
    "pair_viewed",
    "pair_saved",
    "pair_bagged",
)
RETRIEVAL_FEATURES = tuple(
    column for s in retrieval.SOURCES for column in (retrieval.score_column(s), retrieval.rank_column(s))
)
# The ranker's inputs, in this order, everywhere (training, batch, fresh); groups name what an ablation drops.
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "retrieval": RETRIEVAL_FEATURES,
    "listing": LISTING_FEATURES,
    "user": USER_FEATURES,
    "pair": PAIR_FEATURES,
}
FEATURES: tuple[str, ...] = tuple(name for group in FEATURE_GROUPS.values() for name in group)
CATEGORICAL = ("category_code", "condition_code")
# The columns of silver.items the features read (a listing created since the batch is one of these rows too)
ITEM_COLUMNS = ("item_id", "seller_id", "category", "brand", "size", "price", "condition", "listed_at", "sold_at")


@dataclass(frozen=True)
class FeatureInputs:
    """Silver as of ``as_of``: ``daily`` (silver.daily_interactions), ``items`` (silver.items: attributes, listing
    and sale times), ``users`` (silver.users). Daily rows after the as-of are ignored here, whatever the caller
    passes."""

    as_of: date
    daily: DataFrame
    items: DataFrame
    users: DataFrame
    now: datetime | None = None  # when listings' ages and facts are read; default: the as-of's end (fresh: its run)

    @property
    def end(self) -> Column:
        return F.lit(self.now or as_of_end(self.as_of)).cast("timestamp")

    def past_days(self, days: int | None = None) -> DataFrame:
        """Daily rows of the as-of and the ``days - 1`` days before it (every day up to it without ``days``)."""
        past = self.daily.where(F.col("day") <= F.lit(self.as_of))
        return past if days is None else past.where(F.col("day") > F.lit(self.as_of - timedelta(days=days)))

    def known_items(self) -> DataFrame:
        """Listings listed before the as-of's end, with what was known of them then (a later sale unknown)."""
        sold = F.when(F.col("sold_at") < self.end, F.col("sold_at"))
        listed = F.col("listed_at") <= self.end  # a fresh run's newest listing was listed at its `now`
        return self.items.select(*ITEM_COLUMNS).where(listed).withColumn("sold_at", sold)


def code(column: str) -> Column:
    """A stable non-negative integer code of a string column (LightGBM categorical)."""
    return F.pmod(F.xxhash64(F.col(column)), F.lit(CATEGORY_CODES)).cast("int")


def _distinct_users(daily: DataFrame, event_types: tuple[str, ...], name: str) -> DataFrame:
    return (
        daily.where(F.arrays_overlap("event_types", F.array(*[F.lit(t) for t in event_types])))
        .groupBy("item_id")
        .agg(F.countDistinct("user_id").cast("double").alias(name))
    )


def listing_features(inputs: FeatureInputs) -> DataFrame:
    """Per listing known at the as-of: ``LISTING_FEATURES`` plus ``category``, ``brand``, ``size`` and the
    seller's ``seller_country`` (for the pair features)."""
    items = inputs.known_items()
    log_price = retrieval.log_price()
    category_price = items.groupBy("category").agg(F.avg(log_price).alias("_category_price"))
    brand_price = items.groupBy("category", "brand").agg(F.avg(log_price).alias("_brand_price"))
    month_ago = inputs.end - F.expr("INTERVAL 30 DAYS")
    sellers = items.groupBy("seller_id").agg(
        F.sum(F.when(F.col("sold_at") >= month_ago, 1).otherwise(0)).cast("double").alias("seller_sales_30d"),
        F.sum(F.when(F.col("listed_at") >= month_ago, 1).otherwise(0)).cast("double").alias("seller_listings_30d"),
    )
    counts = [
        _distinct_users(inputs.past_days(1), ("view",), "views_1d"),
        _distinct_users(inputs.past_days(3), ("view",), "views_3d"),
        _distinct_users(inputs.past_days(7), ("view",), "views_7d"),
        _distinct_users(inputs.past_days(7), ("like", "save"), "likes_7d"),
        _distinct_users(inputs.past_days(7), ("add_to_bag",), "bags_7d"),
    ]
    frame = (
        items.join(category_price, "category", "left")
        .join(brand_price, ["category", "brand"], "left")
        .join(sellers, "seller_id", "left")
        .join(
            inputs.users.select(F.col("user_id").alias("seller_id"), F.col("country").alias("seller_country")),
            "seller_id",
            "left",
        )
    )
    for part in counts:
        frame = frame.join(part, "item_id", "left")
    return frame.select(
        "item_id",
        "category",
        "brand",
        "size",
        "seller_country",
        ((F.unix_timestamp(inputs.end) - F.unix_timestamp("listed_at")) / DAY_SECONDS).alias("age_days"),
        log_price.alias("log_price"),
        code("category").alias("category_code"),
        code("condition").alias("condition_code"),
        (F.col("_brand_price") - F.col("_category_price")).alias("brand_tier"),
        *[
            F.coalesce(F.col(c), F.lit(0.0)).alias(c)
            for c in ("views_1d", "views_3d", "views_7d", "likes_7d", "bags_7d")
        ],
        F.coalesce("seller_sales_30d", F.lit(0.0)).alias("seller_sales_30d"),
        F.coalesce("seller_listings_30d", F.lit(0.0)).alias("seller_listings_30d"),
    )


def user_features(inputs: FeatureInputs) -> DataFrame:
    """Per user with history: ``USER_FEATURES``, ``country`` and ``price_level`` (median log price engaged with)."""
    past = inputs.past_days()
    purchased = F.array_contains("event_types", "purchase")
    activity = past.groupBy("user_id").agg(
        F.sum("n_events").cast("double").alias("user_events"),
        F.sum(F.when(F.col("day") > F.lit(inputs.as_of - timedelta(days=7)), F.col("n_events")).otherwise(0))
        .cast("double")
        .alias("user_events_7d"),
        F.countDistinct("day").cast("double").alias("user_active_days"),
        F.sum(F.when(purchased, 1).otherwise(0)).cast("double").alias("user_purchases"),
    )
    level = retrieval.price_levels(past, inputs.items)
    tenure = (F.unix_timestamp(inputs.end) - F.unix_timestamp("signup_ts")) / DAY_SECONDS
    return (
        inputs.users.where(F.col("signup_ts") < inputs.end)
        .select("user_id", "country", tenure.alias("user_tenure_days"))
        .join(activity, "user_id", "left")
        .join(level, "user_id", "left")
    )


def affinity(inputs: FeatureInputs, attribute: str, name: str) -> DataFrame:
    """``user_id, <attribute>, <name>``: the share of the user's weighted events on listings with that value."""
    engaged = inputs.past_days().join(inputs.items.select("item_id", attribute), "item_id")
    per_value = engaged.groupBy("user_id", attribute).agg(F.sum("weighted").alias("_w"))
    totals = per_value.groupBy("user_id").agg(F.sum("_w").alias("_total"))
    return per_value.join(totals, "user_id").select("user_id", attribute, (F.col("_w") / F.col("_total")).alias(name))


def pair_history(inputs: FeatureInputs) -> DataFrame:
    """Per (user, listing) with events: their weight, days since the last one, and which funnel steps happened."""
    since = (F.unix_timestamp(inputs.end) - F.unix_timestamp(F.max("last_event_ts"))) / DAY_SECONDS

    def had(*types: str) -> Column:
        hit = F.arrays_overlap("event_types", F.array(*[F.lit(t) for t in types]))
        return F.max(F.when(hit, 1.0).otherwise(0.0))

    return (
        inputs.past_days()
        .groupBy("user_id", "item_id")
        .agg(
            F.sum("weighted").alias("pair_weight"),
            since.alias("pair_days_since"),
            had("view").alias("pair_viewed"),
            had("like", "save").alias("pair_saved"),
            had("add_to_bag").alias("pair_bagged"),
        )
    )


@dataclass(frozen=True)
class FeatureTables:
    """The keyed feature tables of one as-of, built once (``build``) and joined to every candidate frame."""

    listings: DataFrame
    users: DataFrame
    sizes: DataFrame
    categories: DataFrame
    brands: DataFrame
    pairs: DataFrame

    @classmethod
    def build(cls, inputs: FeatureInputs, cache: bool = True) -> FeatureTables:
        frames = (
            listing_features(inputs),
            user_features(inputs),
            affinity(inputs, "size", "size_share"),
            affinity(inputs, "category", "category_share"),
            affinity(inputs, "brand", "brand_share"),
            pair_history(inputs),
        )
        return cls(*(frame.cache() if cache else frame for frame in frames))

    def release(self) -> None:
        for frame in (self.listings, self.users, self.sizes, self.categories, self.brands, self.pairs):
            frame.unpersist()


def with_features(tables: FeatureTables) -> Transform:
    """``user_id, item_id[, <source>_score, <source>_rank]`` -> the same rows with every column of ``FEATURES``
    (retrieval columns a frame lacks are null: a fresh listing proposed by the model alone)."""

    def transform(pairs: DataFrame) -> DataFrame:
        for column in RETRIEVAL_FEATURES:
            if column not in pairs.columns:
                pairs = pairs.withColumn(column, F.lit(None).cast("double"))
        joined = (
            pairs.join(tables.listings, "item_id")
            .join(tables.users, "user_id", "left")
            .join(tables.sizes, ["user_id", "size"], "left")
            .join(tables.categories, ["user_id", "category"], "left")
            .join(tables.brands, ["user_id", "brand"], "left")
            .join(tables.pairs, ["user_id", "item_id"], "left")
        )
        has_history = F.col("user_events").isNotNull()
        share = {
            c: F.when(has_history, F.coalesce(F.col(f"{c}_share"), F.lit(0.0))) for c in ("size", "category", "brand")
        }
        derived = {
            "size_share": share["size"],
            "category_share": share["category"],
            "brand_share": share["brand"],
            "price_gap": F.col("log_price") - F.col("price_level"),
            "abs_price_gap": F.abs(F.col("log_price") - F.col("price_level")),
            "country_match": (F.col("country") == F.col("seller_country")).cast("double"),
            **{
                c: F.coalesce(F.col(c), F.lit(0.0)) for c in ("pair_weight", "pair_viewed", "pair_saved", "pair_bagged")
            },
        }
        keep = [c for c in pairs.columns if c not in FEATURES]
        return joined.select(
            *keep,
            *[(derived[name] if name in derived else F.col(name)).cast("double").alias(name) for name in FEATURES],
        )

    return transform


def graded_labels(daily: DataFrame, first_day: date, last_day: date, grades: dict[str, int]) -> DataFrame:
    """``user_id, item_id, grade``: the best grade of the pair's events from ``first_day`` to ``last_day``."""
    best: Column = F.lit(0)
    for event_type, grade in sorted(grades.items(), key=lambda kv: kv[1]):
        best = F.when(F.array_contains("event_types", event_type), F.lit(grade)).otherwise(best)
    window = daily.where((F.col("day") >= F.lit(first_day)) & (F.col("day") <= F.lit(last_day)))
    return window.groupBy("user_id", "item_id").agg(F.max(best).cast("int").alias("grade")).where(F.col("grade") > 0)


def users_with_events(daily: DataFrame, first_day: date, last_day: date, event_types: Sequence[str]) -> DataFrame:
    """``user_id`` of users with an event of ``event_types`` from ``first_day`` to ``last_day``."""
    window = daily.where((F.col("day") >= F.lit(first_day)) & (F.col("day") <= F.lit(last_day)))
    return window.where(candidates.seen_through(sorted(event_types))).select("user_id").distinct()
