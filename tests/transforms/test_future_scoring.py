"""Scoring lists against the following days: known-answer frames for targets, item states, baselines, metrics."""

from datetime import datetime, timedelta

import numpy as np
import pytest
import scipy.sparse as sp
from chispa import assert_df_equality

from recpipe.models.evaluation import ITEM_STATES, item_states, ranking_metrics
from recpipe.transforms import future_scoring as S

END = datetime(2026, 10, 10)  # the as-of's exclusive end
EVENTS = "user_id long, item_id long, event_type string, event_ts timestamp"
ITEMS = "item_id long, seller_id long, category string, size string, listed_at timestamp"


def at(days: float) -> datetime:
    return END + timedelta(days=days)


def test_future_targets_are_distinct_pairs_per_horizon(spark):
    events = spark.createDataFrame(
        [
            (1, 10, "purchase", at(0.5)),  # in both horizons
            (1, 10, "purchase", at(0.6)),  # same pair again: counted once
            (1, 11, "add_to_bag", at(3)),  # only in the 7-day horizon
            (2, 12, "view", at(0.5)),  # not a target type
            (2, 13, "purchase", at(-0.1)),  # before the as-of's end
            (2, 14, "purchase", at(7)),  # after the longest horizon
        ],
        EVENTS,
    )
    expected = spark.createDataFrame(
        [(1, 10, "purchase", 1), (1, 10, "purchase", 7), (1, 11, "add_to_bag", 7)],
        "user_id long, item_id long, target string, horizon_days int",
    )
    actual = events.transform(S.future_targets(END, (1, 7), ("purchase", "add_to_bag")))
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_item_states_at_the_as_of(spark):
    items = spark.createDataFrame(
        [(1, 9, "tops", "M", at(-3)), (2, 9, "tops", "M", at(-1)), (3, 9, "tops", "M", at(1))], ITEMS
    )
    events = spark.createDataFrame([(5, 1, "view", at(-2)), (5, 2, "view", at(0.5))], EVENTS)
    expected = spark.createDataFrame([(1, "warm"), (2, "cold"), (3, "new")], "item_id long, segment string")
    assert_df_equality(S.item_states(items, events, END), expected, ignore_row_order=True, ignore_nullable=True)


def test_recent_popularity_ranks_live_items_by_recent_users(spark):
    available = spark.createDataFrame([(1,), (2,), (3,)], "item_id long")
    events = spark.createDataFrame(
        [
            (1, 1, "view", at(-1)),
            (2, 2, "view", at(-1)),
            (3, 2, "view", at(-2)),
            (4, 4, "view", at(-1)),  # 4 is not live
            (5, 3, "view", at(-30)),  # too old to count
        ],
        EVENTS,
    )
    users = spark.createDataFrame([(1,), (2,)], "user_id long")
    source = S.recent_popularity_source(available, events, users, END, days=7, depth=5)
    expected = spark.createDataFrame(
        [("recent_popularity", "*", 2, 0), ("recent_popularity", "*", 1, 1)],
        "list string, key string, item_id long, rank int",
    )
    assert_df_equality(source.items, expected, ignore_row_order=True, ignore_nullable=True)
    assert sorted(r.user_id for r in source.keys.collect()) == [1, 2]


def test_newest_in_taste_follows_the_users_top_category_and_size(spark):
    items = spark.createDataFrame(
        [
            (1, 9, "tops", "M", at(-5)),
            (2, 9, "tops", "M", at(-1)),
            (3, 9, "shoes", "38", at(-2)),
            (4, 9, "tops", "M", at(-0.5)),
        ],
        ITEMS,
    )
    available = spark.createDataFrame([(2,), (3,), (4,)], "item_id long")
    events = spark.createDataFrame([(1, 1, "view", at(-4)), (1, 1, "like", at(-4)), (1, 3, "view", at(-1))], EVENTS)
    users = spark.createDataFrame([(1,), (2,)], "user_id long")  # user 2 has no history: newest overall
    source = S.newest_in_taste_source(available, items, events, users, END, depth=2)
    keys = {r.user_id: r.key for r in source.keys.collect()}
    assert keys == {1: "tops|M", 2: "*"}
    lists = {}
    for row in source.items.orderBy("rank").collect():
        lists.setdefault(row.key, []).append(row.item_id)
    assert lists == {"tops|M": [4, 2], "shoes|38": [3], "*": [4, 2]}


def test_future_metrics_known_answer(spark):
    """User 1: targets 10 (rank 0) and 11 (rank 5): recall@1 1/2, recall@10 1. User 2: target 12 unlisted: 0.
    User 3 has a target but no list: counted as a miss."""
    items = spark.createDataFrame(
        [("p", "1", 10, 0), ("p", "1", 11, 5), ("p", "2", 13, 0)], "list string, key string, item_id long, rank int"
    )
    keys = spark.createDataFrame([("p", 1, "1"), ("p", 2, "2")], "list string, user_id long, key string")
    targets = spark.createDataFrame(
        [(1, 10, "purchase", 7), (1, 11, "purchase", 7), (2, 12, "purchase", 7), (3, 10, "purchase", 7)],
        "user_id long, item_id long, target string, horizon_days int",
    )
    segments = spark.createDataFrame([(10, "warm"), (11, "cold"), (12, "warm")], "item_id long, segment string")
    rows = {r.segment: r for r in S.future_metrics(S.ListSource(items, keys), targets, segments, (1, 10)).collect()}
    assert rows["all"].users == 3 and rows["all"].targets == 4
    assert rows["all"].recall_at_1 == pytest.approx((0.5 + 0 + 0) / 3)
    assert rows["all"].recall_at_10 == pytest.approx((1.0 + 0 + 0) / 3)
    assert rows["all"].hit_rate_at_1 == pytest.approx(1 / 3)
    assert rows["warm"].users == 3 and rows["warm"].recall_at_1 == pytest.approx(1 / 3)
    assert rows["cold"].users == 1 and rows["cold"].recall_at_1 == 0.0 and rows["cold"].recall_at_10 == 1.0
    assert set(rows) == {"all", "warm", "cold"}


def test_recall_hit_rate_and_item_states_equal_their_numpy_definitions(spark):
    """Parity: the Spark scoring of served lists (``future_metrics``, ``item_states``) and the numpy definitions
    train uses on its time split (``ranking_metrics``, ``models.evaluation.item_states``) give the same figures."""
    rng = np.random.default_rng(3)
    n_users, n_items, ks = 12, 30, (5, 10)
    listed = [END + timedelta(days=float(d)) for d in rng.uniform(-5, 2, n_items)]  # a few listed after the end
    had_events = rng.random(n_items) < 0.5
    events = [(0, i, "view", END - timedelta(hours=1)) for i in range(n_items) if had_events[i] and listed[i] < END]
    lists = {u: rng.permutation(n_items)[:15].tolist() for u in range(n_users - 2)}  # two users without a list
    targets = {(int(u), int(i)) for u, i in zip(rng.integers(0, n_users, 40), rng.integers(0, n_items, 40))}

    items_df = spark.createDataFrame([(i, 1, "c", "M", listed[i]) for i in range(n_items)], ITEMS)
    events_df = spark.createDataFrame(events, EVENTS)
    lists_df = spark.createDataFrame(list(lists.items()), "user_id long, item_ids array<long>")
    targets_df = spark.createDataFrame(
        [(u, i, "purchase", 7) for u, i in targets], "user_id long, item_id long, target string, horizon_days int"
    )
    states = S.item_states(items_df, events_df, END)
    scored = S.future_metrics(S.personal_source("pipeline", lists_df, max(ks)), targets_df, states, ks).toPandas()

    seen_before = np.zeros(n_items, bool)
    seen_before[[i for _, i, _, _ in events]] = True
    state = item_states(seen_before, np.array(listed, "datetime64[ns]"), END)
    assert dict(states.toPandas().values) == dict(enumerate(state.tolist()))  # the item states agree
    recommended = np.full((n_users, max(ks)), -1)
    for user, ids in lists.items():
        recommended[user] = ids[: max(ks)]
    for segment in ("all", *ITEM_STATES):
        pairs = [(u, i) for u, i in targets if segment == "all" or state[i] == segment]
        if not pairs:
            continue
        rows, cols = zip(*pairs)
        truth = sp.csr_matrix((np.ones(len(pairs)), (rows, cols)), shape=(n_users, n_items))
        row = scored[scored.segment == segment].iloc[0]
        for k in ks:
            expected = ranking_metrics(np.arange(n_users), recommended, truth, k)
            assert row[f"recall_at_{k}"] == pytest.approx(expected.recall), (segment, k)
            assert row[f"hit_rate_at_{k}"] == pytest.approx(expected.hit_rate), (segment, k)
            assert row["users"] == expected.n_users
