"""The ranker's features on the hand-made marketplace of ``ranking_world``: known values, point-in-time
correctness (events after the as-of change nothing) and the light user who still gets listing and pair
features."""

import math

from chispa import assert_df_equality

from recpipe.transforms import ranking_features as rf

from . import ranking_world as world

PAIRS = [(1, 10), (1, 11), (1, 12), (1, 14), (2, 10), (2, 14), (3, 14)]


def featured(spark, with_future: bool = False):
    inputs = rf.FeatureInputs(world.AS_OF, world.daily(spark, with_future), world.items(spark), world.users(spark))
    pairs = spark.createDataFrame(PAIRS, "user_id long, item_id long")
    return pairs.transform(rf.with_features(rf.FeatureTables.build(inputs, cache=False)))


def test_events_after_the_as_of_change_no_feature(spark):
    """No leakage: user 1's purchase of item 12 the day after the as-of is invisible to every feature."""
    assert_df_equality(featured(spark, with_future=True), featured(spark), ignore_row_order=True, ignore_nullable=True)


def test_known_values_of_listing_user_and_pair_features(spark):
    rows = {(r.user_id, r.item_id): r for r in featured(spark).collect()}
    user_1_11 = rows[(1, 11)]
    assert user_1_11.pair_viewed == 1.0 and user_1_11.pair_saved == 1.0 and user_1_11.pair_bagged == 0.0
    assert user_1_11.pair_weight == 3.0
    assert math.isclose(user_1_11.pair_days_since, 1 + 15 / 24)  # last event 10-29 09:00, as-of end 10-31 00:00
    assert math.isclose(user_1_11.age_days, 6.0)  # listed 10-25
    # user 1's weighted events: 13 (M, 5.0), 10 (M, 1.0), 11 (L, 3.0)
    assert math.isclose(user_1_11.size_share, 3 / 9)
    assert math.isclose(rows[(1, 14)].size_share, 6 / 9)
    assert rows[(1, 12)].size_share == 0.0 and rows[(1, 12)].category_share == 0.0  # shoes in size 40: never
    assert math.isclose(rows[(1, 14)].price_gap, math.log(22.0) - math.log(20.0), rel_tol=1e-6)
    assert rows[(1, 10)].views_7d == 2.0 and rows[(1, 10)].views_1d == 0.0  # users 1 and 2; none on the as-of
    assert rows[(1, 11)].likes_7d == 1.0
    assert rows[(1, 10)].user_purchases == 1.0 and rows[(1, 10)].user_events == 5.0
    assert rows[(1, 10)].seller_sales_30d == 0.0 and rows[(1, 10)].seller_listings_30d == 2.0  # items 10, 12
    assert rows[(1, 14)].country_match == 1.0 and rows[(2, 14)].country_match == 0.0  # seller 103 is in FR


def test_a_user_without_history_gets_listing_features_and_nulls_where_history_is_needed(spark):
    row = {(r.user_id, r.item_id): r for r in featured(spark).collect()}[(3, 14)]
    assert row.user_events is None and row.size_share is None and row.price_gap is None
    assert row.age_days is not None and row.country_match == 1.0 and row.pair_weight == 0.0
    assert math.isclose(row.user_tenure_days, 2.0)


def test_every_feature_column_in_the_one_order(spark):
    frame = featured(spark)
    assert [c for c in frame.columns if c in rf.FEATURES] == list(rf.FEATURES)
    assert set(rf.CATEGORICAL) <= set(rf.FEATURES)


def test_graded_labels_take_each_pairs_best_event_in_the_window(spark):
    daily = world.daily(spark, with_future=True)
    got = rf.graded_labels(
        daily, world.AS_OF.replace(day=29), world.AS_OF.replace(day=31), {"view": 1, "save": 2, "purchase": 4}
    )
    expected = spark.createDataFrame([(1, 11, 2), (1, 12, 4), (2, 10, 1)], "user_id long, item_id long, grade int")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_users_with_events_are_those_with_one_of_the_types_in_the_window(spark):
    daily = world.daily(spark, with_future=True)
    window = (world.AS_OF.replace(day=29), world.AS_OF.replace(day=31))
    graded = rf.users_with_events(daily, *window, ["save", "purchase"])
    assert_df_equality(graded, spark.createDataFrame([(1,)], "user_id long"), ignore_nullable=True)
    viewed = rf.users_with_events(daily, *window, ["view"])  # user 2 only viewed, on the 29th
    assert_df_equality(
        viewed, spark.createDataFrame([(1,), (2,)], "user_id long"), ignore_row_order=True, ignore_nullable=True
    )
    before = rf.users_with_events(daily, world.AS_OF.replace(day=20), world.AS_OF.replace(day=28), ["save"])
    assert before.count() == 0  # user 1's save is on the 29th, after this window
