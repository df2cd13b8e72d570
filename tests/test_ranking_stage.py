"""The two stages on silver tables (the hand-made marketplace of ``transforms/ranking_world``): a listing's
features are the same through the batch and through a fresh run; the ranked lists keep the served rules; the
ranker's training set holds only what was knowable at the split."""

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from recpipe import catalog, ranking_stage
from recpipe.config import CandidatesConfig, RankerConfig, RankingConfig, RetrievalConfig, RunConfig
from recpipe.config.responsible import MeasuresConfig, RerankConfig, ResponsibleConfig
from recpipe.jobs.context import JobContext
from recpipe.models.ranker import LearnedRanker
from recpipe.run_day import as_of_end
from recpipe.transforms import ranking_features, retrieval

from .transforms import ranking_world as world

pytestmark = pytest.mark.slow  # Delta tables and several Spark jobs
RANKING = RankingConfig(retrieval=RetrievalConfig(model_k=3, engaged_k=3, neighbour_k=3, taste_k=3, popular_k=3))
FRESH = 14  # the listing a fresh run sees as new


def write_silver(ctx: JobContext, without: int | None = None) -> None:
    t, spark = ctx.tables, ctx.spark
    items = world.items(spark).where(f"item_id != {without}") if without else world.items(spark)
    t.overwrite(items, catalog.SILVER_ITEMS)
    t.overwrite(world.users(spark), catalog.SILVER_USERS)
    t.overwrite(world.daily(spark, with_future=True), catalog.SILVER_DAILY_INTERACTIONS)


def vectors(spark):
    users = spark.createDataFrame([(1, [1.0, 0.0]), (2, [0.0, 1.0])], "user_id long, factors array<float>")
    items = spark.createDataFrame(
        [(i, [1.0 / (i - 9), 0.5]) for i in (10, 11, 12, 13, 14, 15)], "item_id long, factors array<float>"
    )
    return users, items


def context(spark, settings) -> JobContext:
    return JobContext.for_settings("candidates", settings, spark, None, RunConfig(ranking=RANKING))


def test_a_listing_has_the_same_features_in_the_batch_and_in_a_fresh_run(spark, settings):
    """Online/offline consistency: listing 14 as the batch sees it (in silver.items) and as a fresh run sees it
    (a new bronze row, read at the lists' as-of end) gets the same listing, user and pair features."""
    ctx = context(spark, settings)
    write_silver(ctx)
    inputs = ranking_stage.ranking_inputs(ctx, world.AS_OF, *vectors(spark), RANKING)
    batch = ranking_stage.featured_candidates(inputs, RANKING).where(f"item_id = {FRESH}")
    write_silver(ctx, without=FRESH)
    row = next(r for r in world.ITEMS if r[0] == FRESH)
    new = pd.DataFrame([dict(zip(world.ITEMS_SCHEMA.replace(",", "").split()[::2], row))])
    tables, _ = ranking_stage.fresh_feature_tables(ctx, world.AS_OF, new, as_of_end(world.AS_OF))
    pairs = batch.select("user_id", "item_id")
    fresh = pairs.transform(ranking_features.with_features(tables))
    compared = [f for f in ranking_features.FEATURES if f not in ranking_features.RETRIEVAL_FEATURES]
    expected = batch.select("user_id", "item_id", *compared).orderBy("user_id").toPandas()
    got = fresh.select("user_id", "item_id", *compared).orderBy("user_id").toPandas()
    assert len(expected) == 2  # users 1 and 2 were proposed listing 14
    pd.testing.assert_frame_equal(got, expected)


def even_ids_ranker(inputs: ranking_stage.RankingInputs) -> LearnedRanker:
    """A ranker fitted on the world's candidates as if every even listing id had been bought."""
    frame = ranking_stage.featured_candidates(inputs, RANKING).toPandas()
    frame["grade"] = np.where(frame["item_id"] % 2 == 0, 4, 0)
    frame = frame.sort_values(["user_id", "item_id"], ignore_index=True)
    config = RankerConfig(max_rounds=5, min_child_samples=1, early_stopping_rounds=5)
    return LearnedRanker.fit(frame, frame, ranking_features.FEATURES, ranking_features.CATEGORICAL, config, 1)


def test_the_new_seller_floor_reorders_the_batch_lists_and_zero_knobs_change_nothing(spark, settings):
    """Sellers whose first listing is under 5 days old at the as-of's end (10-31): 103 (listing 14, 10-29) and
    user 1 (listing 15, 10-26). With a floor of 1.0 every prefix holds their listings first while any are left."""
    measures = MeasuresConfig(new_seller_days=5)
    floor = ResponsibleConfig(measures=measures, rerank=RerankConfig(new_seller_share=1.0))
    ctx = JobContext.for_settings("candidates", settings, spark, None, RunConfig(ranking=RANKING, responsible=floor))
    write_silver(ctx)
    user_vectors, item_vectors = vectors(spark)
    inputs = ranking_stage.ranking_inputs(ctx, world.AS_OF, user_vectors, item_vectors, RANKING)
    end = as_of_end(world.AS_OF)
    rerank = ranking_stage.listing_reranking(ctx, inputs.retrieval.listings, item_vectors, end)
    assert rerank is not None
    ranker, rules = even_ids_ranker(inputs), CandidatesConfig(top_n=4, overfetch=1.0, max_per_seller=2)
    pool_rules = CandidatesConfig(top_n=6, overfetch=1.0, max_per_seller=2)  # the pool: 4 slots * pool_factor 1.5
    pool = ranking_stage.ranked_personal_lists(inputs, ranker, RANKING, pool_rules).collect()
    pools = {r.user_id: list(r.item_ids) for r in pool}
    floored = ranking_stage.ranked_personal_lists(inputs, ranker, RANKING, rules, rerank).collect()
    new_listings = {14, 15}
    for row in floored:
        flags = [i in new_listings for i in row.item_ids]
        assert flags == sorted(flags, reverse=True)  # new sellers' listings first
        assert set(row.item_ids) <= set(pools[row.user_id]) and len(row.item_ids) == min(4, len(pools[row.user_id]))
        assert list(row.scores) == sorted(row.scores, reverse=True)
        new_in_pool = [i for i in pools[row.user_id] if i in new_listings]
        assert list(row.item_ids[: len(new_in_pool)]) == new_in_pool  # every one of them, in the ranker's order
    zero = JobContext.for_settings("candidates", settings, spark, None, RunConfig(ranking=RANKING))
    assert ranking_stage.listing_reranking(zero, inputs.retrieval.listings, item_vectors, end) is None


def test_ranked_lists_hold_no_excluded_listing_and_respect_the_seller_cap(spark, settings):
    ctx = context(spark, settings)
    write_silver(ctx)
    inputs = ranking_stage.ranking_inputs(ctx, world.AS_OF, *vectors(spark), RANKING)
    ranker = even_ids_ranker(inputs)
    rules = CandidatesConfig(top_n=4, overfetch=1.0, max_per_seller=1)
    lists = {r.user_id: r for r in ranking_stage.ranked_personal_lists(inputs, ranker, RANKING, rules).collect()}
    assert set(lists) == {1, 2}  # both users with events: user 2 has a single view
    sellers = dict((r[0], r[1]) for r in world.ITEMS)
    for row in lists.values():
        assert 13 not in row.item_ids and 16 not in row.item_ids  # sold, listed after the as-of
        assert len({sellers[i] for i in row.item_ids}) == len(row.item_ids)  # at most one per seller
        assert list(row.scores) == sorted(row.scores, reverse=True)
        assert set(row.item_sources) <= set(retrieval.SOURCES)
        assert row.source == "personal" and len(row.encoded_list) > 0
    assert 15 not in lists[1].item_ids  # user 1's own listing


def test_the_training_set_is_labelled_by_the_days_after_the_split_only(spark, settings):
    ctx = context(spark, settings)
    write_silver(ctx)
    split_day = datetime(2026, 10, 28).date()
    inputs = ranking_stage.ranking_inputs(ctx, split_day, *vectors(spark), RANKING)
    retrieved = retrieval.retrieve(inputs.retrieval, RANKING.retrieval)
    label_days = (datetime(2026, 10, 29).date(), datetime(2026, 10, 30).date())
    frame = ranking_stage.training_set(ctx, retrieved, inputs.features, label_days, RANKING, seed=1)
    graded = {(r.user_id, r.item_id): r.grade for r in frame.itertuples() if r.grade > 0}
    # 10-29: user 1 saved item 11 (2); user 1's purchase of 12 on 10-31 is too late; user 2's view of item 10 on
    # 10-29 labels nothing: user 2 had no event by the split, so got no candidates to rank then
    assert graded == {(1, 11): 2}
    assert set(frame["user_id"]) == {1}
    assert frame["pair_saved"].max() == 0.0  # the save happened after the split: no feature may know it
