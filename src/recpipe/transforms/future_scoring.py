"""Scoring lists made at an as-of date against what users did in the following days.

A list source is two frames: ``items`` (``list, key, item_id, rank``) and ``keys`` (``list, user_id, key``), so a
personal list (key = the user), a segment list (key = the segment) and one global list are scored the same way
without copying shared lists per user. Targets are ``(user, item)`` pairs of a target event type within the
horizon, split by the item's state at the as-of: ``warm`` (it had events before), ``cold`` (listed, no events
yet) or ``new`` (listed after the as-of: no batch list can hold it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from recpipe.config import FutureEvaluationConfig
from recpipe.transforms import candidates
from recpipe.transforms.interactions import Transform

SEGMENTS = ("all", "warm", "cold", "new")
LIGHT_USERS = "light_users"  # a user segment next to the item segments: buyers with little history at the as-of
GLOBAL_KEY = "*"


@dataclass(frozen=True)
class ListSource:
    """Ranked lists of one source: ``items`` (list, key, item_id, rank) and who gets which (list, user_id, key)."""

    items: DataFrame
    keys: DataFrame

    @classmethod
    def union(cls, sources: Sequence[ListSource]) -> ListSource:
        items, keys = sources[0].items, sources[0].keys
        for source in sources[1:]:
            items, keys = items.unionByName(source.items), keys.unionByName(source.keys)
        return cls(items, keys)


def _ts(moment: datetime) -> Column:
    return F.lit(moment).cast("timestamp")


def personal_lists(name: str, depth: int) -> Transform:
    """``user_id, item_ids`` (best first) -> the ``items`` frame of a personal list source, cut at ``depth``."""

    def transform(lists: DataFrame) -> DataFrame:
        return lists.select(
            F.lit(name).alias("list"),
            F.col("user_id").cast("string").alias("key"),
            F.posexplode(F.slice("item_ids", 1, depth)).alias("rank", "item_id"),
        ).select("list", "key", "item_id", "rank")

    return transform


def personal_source(name: str, lists: DataFrame, depth: int) -> ListSource:
    keys = lists.select(F.lit(name).alias("list"), "user_id", F.col("user_id").cast("string").alias("key"))
    return ListSource(lists.transform(personal_lists(name, depth)), keys)


def served_exclusions(events: DataFrame, as_of_end: datetime, event_types: Sequence[str]) -> DataFrame:
    """``user_id, exclude``: the listings each user had an event of ``event_types`` with before the as-of's end
    (the served rule that keeps a bought listing off a list)."""
    return (
        events.where((F.col("event_ts") < _ts(as_of_end)) & F.col("event_type").isin(*event_types))
        .groupBy("user_id")
        .agg(F.array_sort(F.collect_set("item_id")).alias("exclude"))
    )


def light_users(events: DataFrame, as_of_end: datetime, max_events: int) -> DataFrame:
    """``user_id`` of users with at most ``max_events`` events before the as-of's end (none included: every user
    of ``events``' later days with no earlier event is light)."""
    before = events.where(F.col("event_ts") < _ts(as_of_end)).groupBy("user_id").count()
    return (
        events.select("user_id")
        .distinct()
        .join(before, "user_id", "left")
        .where(F.coalesce(F.col("count"), F.lit(0)) <= max_events)
        .select("user_id")
    )


def item_states(items: DataFrame, events: DataFrame, as_of_end: datetime) -> DataFrame:
    """``item_id, segment``: the Spark twin of ``models.evaluation.item_states`` (new when listed at or after
    ``as_of_end``, else warm when it had events before, else cold; a parity test holds the two equal)."""
    end = _ts(as_of_end)
    seen = events.where(F.col("event_ts") < end).select("item_id").distinct().withColumn("_seen", F.lit(True))
    segment = F.when(F.col("listed_at") >= end, "new").when(F.col("_seen").isNotNull(), "warm").otherwise("cold")
    return items.join(seen, "item_id", "left").select("item_id", segment.alias("segment"))


def future_targets(as_of_end: datetime, horizons: Sequence[int], event_types: Sequence[str]) -> Transform:
    """Events after ``as_of_end`` -> ``user_id, item_id, target, horizon_days``: distinct pairs per horizon."""
    end = _ts(as_of_end)

    def transform(events: DataFrame) -> DataFrame:
        frames = [
            events.where(
                F.col("event_type").isin(list(event_types))
                & (F.col("event_ts") >= end)
                & (F.col("event_ts") < _ts(as_of_end + timedelta(days=days)))
            ).select("user_id", "item_id", F.col("event_type").alias("target"), F.lit(days).alias("horizon_days"))
            for days in horizons
        ]
        out = frames[0]
        for frame in frames[1:]:
            out = out.unionByName(frame)
        return out.distinct()

    return transform


def recent_popularity_source(
    available: DataFrame, events: DataFrame, users: DataFrame, as_of_end: datetime, days: int, depth: int
) -> ListSource:
    """One list for everyone: live items by distinct users with events in the last ``days``."""
    recent = events.where(
        (F.col("event_ts") < _ts(as_of_end)) & (F.col("event_ts") >= _ts(as_of_end - timedelta(days=days)))
    )
    counts = recent.groupBy("item_id").agg(F.countDistinct("user_id").alias("users"))
    ranked = (
        available.select("item_id")
        .join(counts, "item_id")
        .withColumn("rank", F.row_number().over(Window.orderBy(F.desc("users"), "item_id")) - 1)
    )
    name = "recent_popularity"
    items = ranked.where(F.col("rank") < depth).select(
        F.lit(name).alias("list"), F.lit(GLOBAL_KEY).alias("key"), "item_id", "rank"
    )
    keys = users.select(F.lit(name).alias("list"), "user_id", F.lit(GLOBAL_KEY).alias("key"))
    return ListSource(items, keys)


def newest_in_taste_source(
    available: DataFrame, items: DataFrame, events: DataFrame, users: DataFrame, as_of_end: datetime, depth: int
) -> ListSource:
    """The newest live listings in the user's most frequent (category, size) so far; newest overall without history."""
    name = "newest_in_taste"
    segment = F.concat_ws("|", "category", "size")
    past = events.where(F.col("event_ts") < _ts(as_of_end)).join(
        items.select("item_id", segment.alias("key")), "item_id"
    )
    top = (
        past.groupBy("user_id", "key")
        .count()
        .withColumn("_r", F.row_number().over(Window.partitionBy("user_id").orderBy(F.desc("count"), "key")))
        .where(F.col("_r") == 1)
        .select("user_id", "key")
    )
    keys = users.join(top, "user_id", "left").select(
        F.lit(name).alias("list"), "user_id", F.coalesce("key", F.lit(GLOBAL_KEY)).alias("key")
    )
    live = available.select("item_id").join(items.select("item_id", "listed_at", segment.alias("key")), "item_id")
    newest = Window.orderBy(F.desc("listed_at"), "item_id")
    per_segment = live.withColumn(
        "rank", F.row_number().over(Window.partitionBy("key").orderBy(F.desc("listed_at"), "item_id")) - 1
    )
    overall = live.withColumn("rank", F.row_number().over(newest) - 1).withColumn("key", F.lit(GLOBAL_KEY))
    ranked = per_segment.unionByName(overall).where(F.col("rank") < depth)
    return ListSource(ranked.select(F.lit(name).alias("list"), "key", "item_id", "rank"), keys)


def oracle_source(
    spark: SparkSession,
    sim_users: DataFrame,
    sim_items: DataFrame,
    available: DataFrame,
    users: DataFrame,
    depth: int,
    max_per_seller: int | None = None,
    exclusions: DataFrame | None = None,
) -> ListSource:
    """Each user's truly best live listings (true utility from the world's ground truth) under the served rules:
    own listings and ``exclusions`` (``user_id, exclude``) never, at most ``max_per_seller`` per seller. It may
    list what the lists may list, so its recall is the ceiling of theirs.

    Scored by the same scorer as the personal lists, on the world's utility vectors instead of model factors.
    """
    name = "oracle"
    live = available.select("item_id", "seller_id").join(sim_items, "item_id")
    listings = candidates.ListingVectors.from_pandas(
        live.select("item_id", "seller_id", F.col("utility_vector").alias("factors")).toPandas()
    )
    queries = users.join(sim_users, "user_id")
    if exclusions is not None:
        queries = queries.transform(candidates.with_exclusions(exclusions))
    else:
        queries = queries.withColumn("exclude", F.array().cast("array<long>"))
    queries = queries.select(
        "user_id", F.col("utility_vector").alias("factors"), "exclude", F.col("user_id").alias("seller_id")
    )
    lists = queries.transform(
        candidates.score_top_k(
            candidates.broadcast_listings(spark, listings), "user_id", depth, max_per_seller, exclude_query_seller=True
        )
    )
    return personal_source(name, lists, depth)


def future_metrics(
    source: ListSource,
    targets: DataFrame,
    segments: DataFrame,
    ks: Sequence[int],
    light_users: DataFrame | None = None,
) -> DataFrame:
    """Hit rate and recall at each k per (list, horizon, target, segment), over users with a target there: the
    Spark twin of ``models.evaluation.ranking_metrics``' recall and hit rate (a parity test holds them equal).

    ``targets``: user_id, item_id, target, horizon_days (users without a list of a source count as misses);
    ``segments``: item_id, segment; ``light_users`` (``user_id``): their targets again as segment ``light_users``.
    recall@k = mean over users of hits in the top k / their targets.
    """
    lists = source.keys.select("list").distinct()
    with_segment = targets.join(segments, "item_id", "left").withColumn("segment", F.coalesce("segment", F.lit("new")))
    all_segments = with_segment.withColumn("segment", F.lit("all")).unionByName(with_segment)
    if light_users is not None:
        light = targets.join(light_users.select("user_id"), "user_id").withColumn("segment", F.lit(LIGHT_USERS))
        all_segments = all_segments.unionByName(light.select(*all_segments.columns))
    ranked = (
        all_segments.crossJoin(lists)
        .join(source.keys, ["list", "user_id"], "left")
        .join(source.items, ["list", "key", "item_id"], "left")
    )
    group = ["list", "horizon_days", "target", "segment"]
    per_user = ranked.groupBy(*group, "user_id").agg(
        F.count(F.lit(1)).alias("n"),
        *[F.count(F.when(F.col("rank") < k, 1)).alias(f"hits_{k}") for k in ks],
    )
    metrics = []
    for k in ks:
        metrics += [
            F.avg((F.col(f"hits_{k}") > 0).cast("double")).alias(f"hit_rate_at_{k}"),
            F.avg(F.col(f"hits_{k}") / F.col("n")).alias(f"recall_at_{k}"),
        ]
    return per_user.groupBy(*group).agg(F.count(F.lit(1)).alias("users"), F.sum("n").alias("targets"), *metrics)


def compared_lists(
    spark: SparkSession,
    lists: DataFrame,
    available: DataFrame,
    items: DataFrame,
    events: DataFrame,
    users: DataFrame,
    end: datetime,
    config: FutureEvaluationConfig,
    sim: tuple[DataFrame, DataFrame] | None = None,
    rules: tuple[int, DataFrame] | None = None,
) -> ListSource:
    """The served lists next to what they are judged against: recent popularity, the newest listings in each user's
    taste and, with the generator's ground truth (``sim``: sim.users, sim.items), the oracle under the served
    ``rules`` (the seller cap and the users' exclusions at the as-of)."""
    depth = max(config.ks)
    sources = [
        personal_source("pipeline", lists, depth),
        recent_popularity_source(available, events, users, end, config.recent_days, depth),
        newest_in_taste_source(available, items, events, users, end, depth),
    ]
    if sim is not None:
        cap, exclusions = rules if rules is not None else (None, None)
        sources.append(oracle_source(spark, sim[0], sim[1], available, users, depth, cap, exclusions))
    return ListSource.union(sources)
