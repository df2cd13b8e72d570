"""List measures on a hand-made marketplace whose every figure is worked out below.

Lists: user 1 [10, 11, 12], user 2 [12, 13]. Position weights 1, 1/log2(3) = 0.6309, 0.5. Live listings 10, 11
(seller 1; x/p, x/q), 12 (seller 2; y/p), 13 (seller 3, new and listed an hour before the end; y/p), 14 (seller 4,
never shown). Vectors: 10 and 12 [1, 0], 11 [0, 1], 13 none. Interactions: users 7 and 8 on 10, user 8 on 12."""

import math
from datetime import datetime, timedelta

import pytest
from chispa import assert_approx_df_equality

from recpipe.config.responsible import MeasuresConfig
from recpipe.monitoring import responsible
from recpipe.transforms import list_measures

END = datetime(2026, 11, 2)
W1 = 1 / math.log2(3)


def lists(spark):
    return spark.createDataFrame([(1, [10, 11, 12]), (2, [12, 13])], "user_id long, item_ids array<long>")


def live(spark):
    old = END - timedelta(days=60)
    rows = [
        (10, 1, "x", "p", old),
        (11, 1, "x", "q", old),
        (12, 2, "y", "p", END - timedelta(days=40)),
        (13, 3, "y", "p", END - timedelta(hours=1)),
        (14, 4, "z", "r", old),
    ]
    return spark.createDataFrame(
        rows, "item_id long, seller_id long, category string, brand string, listed_at timestamp"
    )


def vectors(spark):
    return spark.createDataFrame(
        [(10, [1.0, 0.0]), (11, [0.0, 1.0]), (12, [2.0, 0.0])], "item_id long, factors array<float>"
    )


def interactions(spark):
    return spark.createDataFrame([(7, 10), (8, 10), (8, 12)], "user_id long, item_id long")


def test_seller_exposure_is_position_weighted_over_every_live_seller(spark):
    entries = list_measures.exposure_entries(lists(spark), 20)
    got = list_measures.seller_exposure(entries, live(spark)).orderBy("seller_id")
    expected = spark.createDataFrame(
        [(1, 1.0 + W1), (2, 0.5 + 1.0), (3, W1), (4, 0.0)], "seller_id long, exposure double"
    )
    assert_approx_df_equality(got, expected, precision=1e-9, ignore_nullable=True)


def test_exposure_depth_cuts_the_list(spark):
    entries = list_measures.exposure_entries(lists(spark), 1)
    assert sorted((r.user_id, r.item_id, r.weight) for r in entries.collect()) == [(1, 10, 1.0), (2, 12, 1.0)]


def test_new_sellers_and_fresh_listings_share_of_exposure(spark):
    entries = list_measures.exposure_entries(lists(spark), 20)
    new = list_measures.new_sellers(live(spark), END, 30)
    assert [r.seller_id for r in new.collect()] == [3]
    shares = list_measures.exposure_shares(entries, live(spark), new, END, 24).first()
    total = 1.0 + W1 + 0.5 + 1.0 + W1
    assert shares.new_seller_exposure_share == pytest.approx(W1 / total)
    assert shares.fresh_listing_exposure_share == pytest.approx(W1 / total)


def test_intra_list_diversity_by_category_brand_and_vector(spark):
    """User 1: categories x, x, y and brands p, q, p: 1 - 2 same ordered pairs / 6 = 2/3 each; vectors: pair
    cosines 0, 1, 0, so 1 - 1/3. User 2: y, y and p, p: 0; one listing with a vector: no vector diversity."""
    entries = list_measures.exposure_entries(lists(spark), 20)
    got = list_measures.list_diversity(entries, live(spark), vectors(spark)).orderBy("user_id")
    expected = spark.createDataFrame(
        [(1, 3, 2 / 3, 2 / 3, 2, 2 / 3), (2, 2, 0.0, 0.0, 1, None)],
        "user_id long, n long, category_diversity double, brand_diversity double, categories long, "
        "vector_diversity double",
    )
    assert_approx_df_equality(got, expected, precision=1e-9, ignore_nullable=True)


def test_novelty_by_hand(spark):
    """Popularity (seen by + 1) / (2 users + 1): 10 -> 1, 11 and 13 -> 1/3, 12 -> 2/3."""
    entries = list_measures.exposure_entries(lists(spark), 20)
    got = {r.user_id: r.novelty for r in list_measures.novelty(entries, interactions(spark)).collect()}
    assert got[1] == pytest.approx((0 + math.log2(3) + math.log2(1.5)) / 3)
    assert got[2] == pytest.approx((math.log2(1.5) + math.log2(3)) / 2)


def test_buyer_recall_counts_users_without_a_list_as_misses(spark):
    targets = spark.createDataFrame([(1, 11), (1, 99), (3, 10)], "user_id long, item_id long")
    got = list_measures.buyer_recall(lists(spark), targets, 2).orderBy("user_id")
    expected = spark.createDataFrame(
        [(1, 2, 1, 0.5), (3, 1, 0, 0.0)], "user_id long, targets long, hits long, recall double"
    )
    assert_approx_df_equality(got, expected, precision=1e-9, ignore_nullable=True)


def test_user_segments(spark):
    users = spark.createDataFrame(
        [(1, "FR", END - timedelta(days=100)), (2, "DE", END - timedelta(days=5))],
        "user_id long, country string, signup_ts timestamp",
    )
    items = spark.createDataFrame([(10, "M", 10.0), (12, "L", 100.0)], "item_id long, size string, price double")
    daily = spark.createDataFrame([(1, 10, 2.0), (1, 12, 1.0)], "user_id long, item_id long, weighted double")
    got = list_measures.user_segments(users, daily, items, END, 30).orderBy("user_id")
    assert [tuple(r) for r in got.collect()] == [
        (1, "FR", "M", "low", "established"),
        (2, "DE", "unknown", "unknown", "new"),
    ]


def test_measure_lists_whole_figures(spark):
    served = responsible.ServedInputs(lists(spark), live(spark), live(spark), interactions(spark), vectors(spark), END)
    figures = responsible.measure_lists(served, MeasuresConfig())
    total = 1.0 + W1 + 0.5 + 1.0 + W1
    assert figures["live_sellers"] == 4 and figures["sellers_exposed"] == 0.75
    assert figures["top_seller_share"] == pytest.approx((1.0 + W1) / total)
    assert figures["catalog_coverage"] == pytest.approx(4 / 5)
    assert figures["categories_in_top"] == pytest.approx(1.5)
    assert figures["category_diversity"] == pytest.approx(1 / 3)  # mean of 2/3 and 0
    assert figures["vector_diversity"] == pytest.approx(2 / 3)  # user 1 only
    assert figures["seller_gini"] == pytest.approx(responsible.gini([1.0 + W1, 1.5, W1, 0.0]))
