"""The two-stage ranking on silver at an as-of: the inputs of retrieval and features read from the run's tables,
the featured candidates the candidates job ranks, and the labelled training set train fits the ranker on (the
same functions at the time split's as-of: what the ranker learns from is retrieved and featured as served)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recpipe import catalog, tracking
from recpipe.config import CandidatesConfig, RankingConfig
from recpipe.jobs.context import JobContext
from recpipe.models.ranker import LearnedRanker, recall_at
from recpipe.models.ranking import has_vector
from recpipe.models.training import SplitEvaluation
from recpipe.models.training_set import TrainingData
from recpipe.tables import to_pandas
from recpipe.training_data import factors_frame
from recpipe.transforms import candidates, list_measures, ranked_lists, ranking_features, reranking, retrieval
from recpipe.transforms.interactions import Transform, listings_for_sale


@dataclass(frozen=True)
class RankingInputs:
    """What both stages read at one as-of: the retrieval sources' inputs and the feature tables (cached)."""

    retrieval: retrieval.RetrievalInputs
    features: ranking_features.FeatureTables

    def release(self) -> None:
        self.features.release()
        for frame in (self.retrieval.daily, self.retrieval.listings, self.retrieval.profile):
            frame.unpersist()


def ranking_inputs(
    ctx: JobContext,
    as_of: date,
    user_factors: DataFrame,
    item_factors: DataFrame,
    config: RankingConfig,
    exclusions: DataFrame | None = None,
    now: datetime | None = None,
) -> RankingInputs:
    """Silver as of ``as_of`` (daily rows up to it, listings for sale at its end, the served exclusions then:
    ``exclusions``, else from the daily rows) and the model's vectors (``*_id, factors``); ``now``: when listing
    ages are measured (default: the as-of's end; fresh: its run)."""
    t = ctx.tables
    daily = t.read(catalog.SILVER_DAILY_INTERACTIONS).where(F.col("day") <= F.lit(as_of)).cache()
    items, users = t.read(catalog.SILVER_ITEMS), t.read(catalog.SILVER_USERS)
    if exclusions is None:
        exclusions = candidates.excluded_items(daily, items, ctx.config.candidates.exclude_seen_event_types)
    inputs = retrieval.RetrievalInputs(
        spark=ctx.spark,
        as_of=as_of,
        daily=daily,
        users=users,
        items=items,
        listings=listings_for_sale(items, as_of).cache(),
        exclusions=exclusions,
        user_factors=user_factors,
        item_factors=item_factors,
        targets=retrieval.rankable_users(daily, config.min_user_events),
        profile=retrieval.taste_profile(daily, items, config.retrieval.taste_categories).cache(),
    )
    features = ranking_features.FeatureInputs(as_of, daily, items, users, now)
    return RankingInputs(inputs, ranking_features.FeatureTables.build(features))


def featured_candidates(inputs: RankingInputs, config: RankingConfig) -> DataFrame:
    """Every rankable user's retrieved candidates with their features."""
    return retrieval.retrieve(inputs.retrieval, config.retrieval).transform(
        ranking_features.with_features(inputs.features)
    )


def listing_reranking(
    ctx: JobContext, listings: DataFrame, vectors: DataFrame | None, end: datetime
) -> reranking.Reranking | None:
    """The configured re-ranking (``responsible.rerank``) over ``listings`` (``item_id, seller_id, category,
    brand``) with the model's vectors; new sellers as of ``end``. None when every knob is 0."""
    config = ctx.config.responsible
    if not reranking.knobs(config.rerank).active:
        return None
    silver_items = ctx.tables.read(catalog.SILVER_ITEMS).select("item_id", "seller_id", "listed_at")
    new = list_measures.new_sellers(silver_items.unionByName(listings.select(*silver_items.columns)), end,
                                    config.measures.new_seller_days)  # fmt: skip
    style = reranking.listing_style(listings, new, vectors)
    return reranking.broadcast_reranking(ctx.spark, style, config.rerank)


def ranked_personal_lists(
    inputs: RankingInputs,
    ranker: LearnedRanker,
    config: RankingConfig,
    rules: CandidatesConfig,
    rerank: reranking.Reranking | None = None,
) -> DataFrame:
    """The served personal lists of the rankable users: retrieved, featured, scored by ``ranker`` on the executors,
    under the served rules (the seller cap and length of ``rules``) and re-ranked by ``rerank``; ``source``
    personal, ``item_sources`` per item."""
    scores = ranked_lists.with_rank_scores(ranked_lists.broadcast_ranker(inputs.retrieval.spark, ranker))
    listings = inputs.retrieval.listings
    return (
        featured_candidates(inputs, config)
        .transform(scores)
        .transform(ranked_lists.ranked_lists(listings, rules.list_length, rules.max_per_seller, rerank))
        .withColumn("source", F.lit(candidates.PERSONAL_SOURCE))
        .transform(candidates.with_encoded_lists())
    )


def fresh_feature_tables(
    ctx: JobContext, as_of: date, new_listings: pd.DataFrame, now: datetime
) -> tuple[ranking_features.FeatureTables, DataFrame]:
    """The feature tables of a fresh run: silver as of the lists' ``as_of`` plus the listings created since
    (``new_listings``, bronze rows: no sale yet), listing facts read at ``now``; and the new listings' frame."""
    t = ctx.tables
    daily = t.read(catalog.SILVER_DAILY_INTERACTIONS).where(F.col("day") <= F.lit(as_of))
    columns = list(ranking_features.ITEM_COLUMNS)
    silver_items = t.read(catalog.SILVER_ITEMS).select(*columns)
    new = ctx.spark.createDataFrame(new_listings.assign(sold_at=pd.NaT)[columns], silver_items.schema)
    items = silver_items.unionByName(new)
    inputs = ranking_features.FeatureInputs(as_of, daily, items, t.read(catalog.SILVER_USERS), now)
    return ranking_features.FeatureTables.build(inputs), new


def overlay_ranking(
    ctx: JobContext,
    model_version: str,
    as_of: date,
    new_listings: pd.DataFrame,
    length: int,
    max_per_seller: int,
    now: datetime,
) -> Transform | None:
    """Fresh overlays (``user_id, item_ids, scores``: new listings by the model's vectors) -> the same ranked by
    the batch's ranker (``model_version``'s; None when it has none or ranking is off) on the batch's features:
    user and pair features as of the lists' ``as_of``, the new listings' own features at ``now`` (their age then;
    no events yet). Overlay scores are then the ranker's, as the lists' are, so the reader's merge by score
    compares like with like."""
    ranker = tracking.learned_ranker(ctx.settings, ctx.config.model.name, model_version)
    if ranker is None or not ctx.config.ranking.enabled:
        return None
    tables, new = fresh_feature_tables(ctx, as_of, new_listings, now)
    rerank = listing_reranking(ctx, new, None, now)
    scores = ranked_lists.with_rank_scores(ranked_lists.broadcast_ranker(ctx.spark, ranker))
    model_score, model_rank = (
        retrieval.score_column(retrieval.MODEL_SOURCE),
        retrieval.rank_column(retrieval.MODEL_SOURCE),
    )

    def transform(overlays: DataFrame) -> DataFrame:
        pairs = overlays.select("user_id", F.posexplode(F.arrays_zip("item_ids", "scores")).alias("pos", "p")).select(
            "user_id",
            F.col("p.item_ids").alias("item_id"),
            F.col("p.scores").cast("double").alias(model_score),
            (F.col("pos") + 1).alias(model_rank),
        )
        return (
            pairs.transform(ranking_features.with_features(tables))
            .transform(scores)
            .transform(ranked_lists.ranked_lists(new, length, max_per_seller, rerank))
            .drop("item_sources")
            .transform(candidates.with_encoded_lists())
        )

    return transform


def training_set(
    ctx: JobContext,
    retrieved: DataFrame,
    features: ranking_features.FeatureTables,
    label_days: tuple[date, date],
    config: RankingConfig,
    seed: int,
) -> pd.DataFrame:
    """Candidates retrieved at the split's as-of, labelled with their best event in the days after it: every
    positive and a seeded sample of ``negatives_per_user`` others, for users with a positive (at most
    ``max_users``); sorted by user (LightGBM's groups). Columns: ``user_id, item_id, grade``, ``FEATURES``."""
    daily = ctx.tables.read(catalog.SILVER_DAILY_INTERACTIONS)
    labels = ranking_features.graded_labels(daily, *label_days, config.grades)
    pairs = retrieved.join(labels, ["user_id", "item_id"], "left")
    pairs = pairs.withColumn("grade", F.coalesce("grade", F.lit(0)))
    positive_users = pairs.where(F.col("grade") > 0).select("user_id").distinct()
    chosen = positive_users.orderBy(F.xxhash64("user_id", F.lit(seed)), "user_id").limit(config.ranker.max_users)
    draw = F.row_number().over(
        Window.partitionBy("user_id").orderBy(F.xxhash64("user_id", "item_id", F.lit(seed)), "item_id")
    )
    sampled = (
        pairs.join(chosen, "user_id")
        .withColumn("_draw", F.when(F.col("grade") > 0, F.lit(0)).otherwise(draw))
        .where(F.col("_draw") <= config.ranker.negatives_per_user)
        .drop("_draw")
    )
    featured = sampled.transform(ranking_features.with_features(features))
    columns = ["user_id", "item_id", "grade", *ranking_features.FEATURES]
    return to_pandas(featured.select(*columns)).sort_values(["user_id", "item_id"], ignore_index=True)


def holdout_targets(ctx: JobContext, first_day: date, last_day: date, event_types) -> pd.DataFrame:
    """``user_id, item_id`` of the target events (purchases) from ``first_day`` to ``last_day``."""
    daily = ctx.tables.read(catalog.SILVER_DAILY_INTERACTIONS)
    window = daily.where((F.col("day") >= F.lit(first_day)) & (F.col("day") <= F.lit(last_day)))
    return window.where(candidates.seen_through(event_types)).select("user_id", "item_id").distinct().toPandas()


def split_as_of(split_time: pd.Timestamp) -> date:
    """The last day of data before a time split (its as-of)."""
    return (split_time - timedelta(days=1)).date()


@dataclass(frozen=True)
class RankerFit:
    """The fitted ranker and what it was measured by: recall of the held-out targets of validation users at each
    k, ranked and in the model's order alone (one stage), and the share of targets retrieved at all."""

    ranker: LearnedRanker
    training_rows: int
    training_users: int
    figures: dict[str, float]


def validation_users(user_ids: pd.Series, share: float, seed: int) -> pd.Series:
    """A seeded, stable share of users (by a hash of the id): the ranker's early stopping and figures."""
    hashed = pd.util.hash_pandas_object(user_ids.astype("int64") + seed, index=False).to_numpy()
    return pd.Series((hashed % 10_000) < share * 10_000, index=user_ids.index)


def fit_ranker(
    ctx: JobContext,
    inputs: RankingInputs,
    label_days: tuple[date, date],
    target_event_types,
    config: RankingConfig,
    seed: int,
    ks: tuple[int, ...] = (10, 100),
) -> RankerFit:
    """Fit the ranker on the candidates retrieved at the split's as-of, labelled by the days after it; measure it
    on the validation users' whole candidate lists against their target events in those days."""
    retrieved = retrieval.retrieve(inputs.retrieval, config.retrieval).cache()
    frame = training_set(ctx, retrieved, inputs.features, label_days, config, seed)
    if frame.empty:
        raise ValueError("no candidate of the time split has a later event: the ranker has nothing to learn from")
    valid = validation_users(frame["user_id"], config.ranker.validation_share, seed)
    if valid.all():  # a tiny world whose every user hashed into validation: train on them, stop by rounds
        valid = ~valid
    ranker = LearnedRanker.fit(
        frame[~valid], frame[valid], ranking_features.FEATURES, ranking_features.CATEGORICAL, config.ranker, seed
    )
    targets = holdout_targets(ctx, *label_days, target_event_types)
    held_out = targets[validation_users(targets["user_id"], config.ranker.validation_share, seed)]
    users = ctx.spark.createDataFrame(held_out[["user_id"]].drop_duplicates(), "user_id long")  # may be empty
    pool = to_pandas(retrieved.join(users, "user_id").transform(ranking_features.with_features(inputs.features)))
    retrieved.unpersist()
    pool["ranked_order"] = -ranker.predict(pool, num_threads=config.ranker.num_threads)
    figures = {"validation_users": float(held_out["user_id"].nunique()), "validation_targets": float(len(held_out))}
    for name, order in (("ranked", "ranked_order"), ("model", retrieval.rank_column("model"))):
        for k, value in recall_at(pool, order, held_out, ks).items():
            figures[f"{name}_recall_at_{k}"] = value
    everything = len(pool) + 1  # deeper than any list: the share of targets retrieved at all
    figures["retrieved_share"] = recall_at(pool, "ranked_order", held_out, (everything,))[everything]
    return RankerFit(ranker, len(frame), int(frame["user_id"].nunique()), figures)


def split_vectors(
    ctx: JobContext, data: TrainingData, evaluation: SplitEvaluation, family: str
) -> tuple[DataFrame, DataFrame]:
    """``user_id, factors`` and ``item_id, factors`` of ``family``'s model fitted on the split's train rows."""
    split = evaluation.split
    if split is None:
        raise ValueError("the evaluation carries no time split to fit the ranker on")
    user_vectors, item_vectors = evaluation.models[family].embed(np.arange(data.n_users), split.train)
    users, items = (
        factors_frame(ctx.spark, ids[has_vector(vectors)], vectors[has_vector(vectors)], column, "split").drop(
            "model_version"
        )
        for ids, vectors, column in ((data.user_ids, user_vectors, "user_id"), (data.item_ids, item_vectors, "item_id"))
    )
    return users, items


def ranker_on_split(
    ctx: JobContext, data: TrainingData, evaluation: SplitEvaluation, family: str, config: RankingConfig, seed: int
) -> RankerFit:
    """Fit the ranker at the time split of ``evaluation``: candidates retrieved with ``family``'s model fitted on
    the split's train rows (its vectors then), features at the split's as-of, labels from the held-out days."""
    split = evaluation.split
    if split is None:
        raise ValueError("the evaluation carries no time split to fit the ranker on")
    as_of = split_as_of(split.split_time)
    label_days = (as_of + timedelta(days=1), as_of + timedelta(days=split.evaluation.holdout_days))
    inputs = ranking_inputs(ctx, as_of, *split_vectors(ctx, data, evaluation, family), config)
    targets = split.evaluation.target_event_types
    labelled = labelled_users_only(ctx, inputs, label_days, {*config.grades, *targets})
    fitted = fit_ranker(ctx, labelled, label_days, targets, config, seed)
    inputs.release()
    return fitted


def labelled_users_only(
    ctx: JobContext, inputs: RankingInputs, label_days: tuple[date, date], event_types: Iterable[str]
) -> RankingInputs:
    """The inputs with retrieval's users cut to those with an event of ``event_types`` (the graded and the target
    events) on the label days: only they can have a positive or a held-out target, and each user's candidates
    depend on their own rows alone, so the training set and the figures are the same while retrieval skips every
    user who would be dropped after it (views alone label nothing: most users of a day)."""
    daily = ctx.tables.read(catalog.SILVER_DAILY_INTERACTIONS)
    labelled = ranking_features.users_with_events(daily, *label_days, list(event_types))
    targets = inputs.retrieval.targets.join(labelled, "user_id")
    return replace(inputs, retrieval=replace(inputs.retrieval, targets=targets))
