"""Each interaction transform on a few inline rows, compared whole with chispa."""

from datetime import date, datetime

import pytest
from chispa import assert_approx_df_equality, assert_df_equality

from recpipe.transforms import interactions as T

EVENTS = "event_id long, user_id long, item_id long, event_type string, event_ts timestamp"


def ts(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 10, day, hour)


def test_deduplicate_events_keeps_the_earliest_copy(spark):
    events = spark.createDataFrame(
        [(1, 10, 100, "view", ts(2)), (1, 10, 100, "view", ts(1)), (2, 11, 100, "like", ts(1))], EVENTS
    )
    expected = spark.createDataFrame([(1, 10, 100, "view", ts(1)), (2, 11, 100, "like", ts(1))], EVENTS)
    assert_df_equality(events.transform(T.deduplicate_events), expected, ignore_row_order=True)


def test_within_days_is_inclusive_on_both_ends(spark):
    events = spark.createDataFrame([(i, 1, 1, "view", ts(d, 23)) for i, d in enumerate((1, 2, 3, 4))], EVENTS)
    expected = spark.createDataFrame([(1, 1, 1, "view", ts(2, 23)), (2, 1, 1, "view", ts(3, 23))], EVENTS)
    assert_df_equality(
        events.transform(T.within_days(date(2026, 10, 2), date(2026, 10, 3))), expected, ignore_row_order=True
    )


def test_drop_own_item_events(spark):
    items = spark.createDataFrame([(100, 10), (200, 99)], "item_id long, seller_id long")
    events = spark.createDataFrame(
        [(1, 10, 100, "view", ts(1)), (2, 10, 200, "view", ts(1)), (3, 11, 100, "like", ts(1))], EVENTS
    )
    expected = spark.createDataFrame([(2, 10, 200, "view", ts(1)), (3, 11, 100, "like", ts(1))], EVENTS)
    assert_df_equality(events.transform(T.drop_own_item_events(items)), expected, ignore_row_order=True)


def test_daily_interactions_weights_and_within_day_decay(spark):
    # half-life 1 day: an event at 12:00 carries 2 ** 0.5 of its weight relative to midnight
    events = spark.createDataFrame(
        [(1, 10, 100, "view", ts(1, 0)), (2, 10, 100, "purchase", ts(1, 12)), (3, 10, 100, "like", ts(2, 0))], EVENTS
    )
    daily = events.transform(T.daily_interactions({"view": 1, "purchase": 10, "like": 3}, half_life_days=1))
    expected = spark.createDataFrame(
        [
            (10, 100, date(2026, 10, 1), 1 + 10 * 2**0.5, 2, ts(1, 12), ["purchase", "view"]),
            (10, 100, date(2026, 10, 2), 3.0, 1, ts(2, 0), ["like"]),
        ],
        "user_id long, item_id long, day date, weighted double, n_events long, last_event_ts timestamp, event_types array<string>",
    )
    assert_approx_df_equality(daily, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


DAILY = "user_id long, item_id long, day date, weighted double, n_events long, last_event_ts timestamp, event_types array<string>"


def test_bot_users_exceed_the_daily_rate(spark):
    daily = spark.createDataFrame(
        [
            (1, 100, date(2026, 10, 1), 1.0, 3, ts(1), ["view"]),
            (1, 101, date(2026, 10, 1), 1.0, 3, ts(1), ["view"]),
            (2, 100, date(2026, 10, 1), 1.0, 5, ts(1), ["view"]),
            (2, 100, date(2026, 10, 2), 1.0, 5, ts(2), ["view"]),
        ],
        DAILY,
    )
    assert_df_equality(
        daily.transform(T.bot_users(5)), spark.createDataFrame([(1,)], "user_id long"), ignore_nullable=True
    )


def test_decay_to_the_as_of_end_and_cap(spark):
    # as of Oct 2 with half-life 1 day: the Oct 2 day starts 1 day before the end, Oct 1 two days before
    daily = spark.createDataFrame(
        [
            (1, 100, date(2026, 10, 1), 8.0, 2, ts(1, 5), ["view", "like"]),
            (1, 100, date(2026, 10, 2), 4.0, 1, ts(2, 6), ["view"]),
            (2, 100, date(2026, 10, 2), 100.0, 9, ts(2), ["purchase"]),
        ],
        DAILY,
    )
    out = daily.transform(T.decay_to(date(2026, 10, 2), half_life_days=1, cap=10))
    expected = spark.createDataFrame(
        [(1, 100, 8 * 0.25 + 4 * 0.5, 3, ts(2, 6), ["like", "view"]), (2, 100, 10.0, 9, ts(2), ["purchase"])],
        "user_id long, item_id long, confidence double, n_events long, last_event_ts timestamp, event_types array<string>",
    )
    assert_approx_df_equality(out, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_decayed_daily_sum_equals_per_event_decay(spark):
    events = spark.createDataFrame(
        [(1, 1, 7, "view", datetime(2026, 10, 1, 7, 30)), (2, 1, 7, "save", datetime(2026, 10, 3, 18, 15))], EVENTS
    )
    half_life = 2.5
    out = events.transform(T.daily_interactions({"view": 1, "save": 3}, half_life)).transform(
        T.decay_to(date(2026, 10, 3), half_life, cap=1e9)
    )
    end = datetime(2026, 10, 4)
    expected = sum(
        w * 0.5 ** ((end - t).total_seconds() / 86400 / half_life)
        for w, t in ((1, datetime(2026, 10, 1, 7, 30)), (3, datetime(2026, 10, 3, 18, 15)))
    )
    assert out.first()["confidence"] == pytest.approx(expected, rel=1e-12)


INTERACTIONS = "user_id long, item_id long"


def test_keep_min_interactions_one_pass_and_two_passes(spark):
    # user 3 has 2 items, but item 30 has one user: after dropping it user 3 is left with one item
    rows = [(1, 10), (1, 20), (2, 10), (2, 20), (3, 10), (3, 30)]
    df = spark.createDataFrame(rows, INTERACTIONS)
    one_pass = spark.createDataFrame([(1, 10), (1, 20), (2, 10), (2, 20), (3, 10)], INTERACTIONS)
    two_passes = spark.createDataFrame([(1, 10), (1, 20), (2, 10), (2, 20)], INTERACTIONS)
    assert_df_equality(df.transform(T.keep_min_interactions(2, 2, 1)), one_pass, ignore_row_order=True)
    assert_df_equality(df.transform(T.keep_min_interactions(2, 2, 2)), two_passes, ignore_row_order=True)


def test_contiguous_index_is_ordered_and_tagged(spark):
    df = spark.createDataFrame([(30, 1), (10, 1), (20, 2), (10, 3)], INTERACTIONS)
    expected = spark.createDataFrame(
        [(10, 0, "r1"), (20, 1, "r1"), (30, 2, "r1")], "user_id long, user_idx int, run_id string"
    )
    assert_df_equality(df.transform(T.contiguous_index("user_id", "user_idx", "r1")), expected, ignore_nullable=True)


def test_item_availability_as_of_a_date(spark):
    schema = "item_id long, seller_id long, status string, listed_at timestamp, sold_at timestamp, deleted_at timestamp"
    items = spark.createDataFrame(
        [
            (1, 7, "sold", ts(1), ts(3), None),
            (2, 7, "sold", ts(1), ts(5), None),
            (3, 8, "active", ts(2), None, None),
            (4, 8, "deleted", ts(1), None, None),
            (5, 8, "active", ts(9), None, None),
            (6, 8, "deleted", ts(1), None, ts(3)),
            (7, 8, "deleted", ts(1), None, ts(6)),
        ],
        schema,
    )
    expected = spark.createDataFrame(
        [
            (1, 7, "sold", ts(1), ts(3)),
            (2, 7, "active", ts(1), None),
            (3, 8, "active", ts(2), None),
            (4, 8, "deleted", ts(1), None),
            (6, 8, "deleted", ts(1), None),
            (7, 8, "active", ts(1), None),
        ],
        "item_id long, seller_id long, status string, listed_at timestamp, sold_at timestamp",
    )
    assert_df_equality(
        items.transform(T.item_availability(date(2026, 10, 4))), expected, ignore_row_order=True, ignore_nullable=True
    )
