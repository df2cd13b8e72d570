"""Retrieval sources on the hand-made marketplace of ``ranking_world``: what each proposes, and the union that
keeps every source's score and rank while dropping what the lists may never hold."""

from chispa import assert_df_equality
from pyspark.sql import functions as F

from recpipe.config import RetrievalConfig
from recpipe.transforms import candidates, retrieval
from recpipe.transforms.interactions import listings_for_sale
from recpipe.transforms.retrieval import rankable_users

from . import ranking_world as world

CONFIG = RetrievalConfig(model_k=2, engaged_k=5, neighbour_k=2, neighbour_seeds=2, taste_k=5, popular_k=5)


def inputs(spark):
    daily, items = world.daily(spark), world.items(spark)
    user_vectors = [(1, [1.0, 0.0]), (2, [0.0, 1.0])]
    item_vectors = [(10, [1.0, 0.0]), (11, [0.9, 0.1]), (12, [0.0, 1.0]), (13, [1.0, 0.0]), (14, [0.2, 0.8])]
    item_vectors.append((15, [5.0, 0.0]))  # user 1's own listing: the best dot product, never proposed to them
    return retrieval.RetrievalInputs(
        spark=spark,
        as_of=world.AS_OF,
        daily=daily,
        users=world.users(spark),
        items=items,
        listings=listings_for_sale(items, world.AS_OF),
        exclusions=candidates.excluded_items(daily, items, ("purchase",)),
        user_factors=spark.createDataFrame(user_vectors, "user_id long, factors array<float>"),
        item_factors=spark.createDataFrame(item_vectors, "item_id long, factors array<float>"),
        targets=rankable_users(daily, 1),
        profile=retrieval.taste_profile(daily, items, CONFIG.taste_categories),
    )


def test_for_sale_at_the_as_of_excludes_sold_and_later_listings(spark):
    listed = sorted(r.item_id for r in listings_for_sale(world.items(spark), world.AS_OF).collect())
    assert listed == [10, 11, 12, 14, 15]


def test_recently_engaged_sums_the_weight_of_engagement_in_the_window(spark):
    expected = spark.createDataFrame(
        [(1, 10, 1.0), (1, 11, 3.0), (1, 13, 5.0), (2, 10, 1.0)], "user_id long, item_id long, score double"
    )
    got = retrieval.recently_engaged(inputs(spark), CONFIG)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_taste_profile_top_categories_size_and_price_level(spark):
    profile = retrieval.taste_profile(world.daily(spark), world.items(spark), 3).orderBy("user_id").collect()
    assert [(r.user_id, r.category, r.size) for r in profile] == [(1, "tops", "M"), (2, "tops", "M")]
    # user 1's median log price over items 13 (18), 10 (20), 11 (25) is log 20
    assert abs(profile[0].price_level - 2.995732) < 1e-5


def test_newest_in_taste_proposes_the_newest_listings_in_size_and_budget(spark):
    got = retrieval.newest_in_taste(inputs(spark), CONFIG).where("user_id = 2").orderBy(F.desc("score"))
    # size M tops for sale near a price of 20: 14 (listed 10-29 12:00), 15 (10-26), 10 (10-20); 11 is size L
    assert [r.item_id for r in got.collect()] == [14, 15, 10]


def test_popular_in_segment_counts_distinct_users_of_the_users_country_and_size(spark):
    got = retrieval.popular_in_segment(inputs(spark), CONFIG).orderBy("user_id", "item_id").collect()
    # FR size M: item 10 (user 1); DE size M: item 10 (user 2); user 1's item 11 is size L, user 1's segment M
    assert [(r.user_id, r.item_id, r.score) for r in got] == [(1, 10, 1.0), (2, 10, 1.0)]


def test_the_union_keeps_each_sources_rank_and_drops_excluded_own_and_sold_listings(spark):
    got = retrieval.retrieve(inputs(spark), CONFIG)
    rows = {(r.user_id, r.item_id): r for r in got.collect()}
    assert (1, 13) not in rows  # bought by user 1 and sold
    assert (1, 15) not in rows  # user 1's own listing, whatever its score
    assert (2, 15) in rows  # another user may get it
    assert set(got.columns) == {"user_id", "item_id", *retrieval_columns()}
    user_1_10 = rows[(1, 10)]
    assert user_1_10.model_rank == 1 and user_1_10.engaged_rank == 2 and user_1_10.popular_rank == 1
    assert rows[(1, 11)].engaged_rank == 1 and rows[(1, 11)].model_rank == 2
    assert rows[(1, 14)].engaged_rank is None and rows[(1, 14)].taste_rank == 1  # not engaged with: null, not 0
    assert (1, 12) not in rows  # shoes: no source proposes them to a buyer of tops


def test_best_source_names_the_source_that_ranked_an_item_highest(spark):
    got = retrieval.retrieve(inputs(spark), CONFIG).select("user_id", "item_id", retrieval.best_source().alias("s"))
    best = {(r.user_id, r.item_id): r.s for r in got.collect()}
    assert best[(1, 11)] == "engaged"  # engaged rank 1, model rank 2
    assert best[(1, 10)] == "model"  # model rank 1 ties popular rank 1: the first source wins


def retrieval_columns():
    return [c for s in retrieval.SOURCES for c in (retrieval.score_column(s), retrieval.rank_column(s))]
