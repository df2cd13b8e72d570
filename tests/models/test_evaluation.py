"""Metrics against values computed by hand; splits keep their promises."""

import math

import numpy as np
import pandas as pd
import pytest

from recpipe.models.evaluation import available_items_mask, ranking_metrics, stratified_split, time_split
from recpipe.models.matrix import to_csr


def csr(pairs, n_users=3, n_items=6):
    users, items = zip(*pairs)
    return to_csr(np.array(users), np.array(items), np.ones(len(pairs)), n_users, n_items)


def test_ranking_metrics_match_hand_computed_values():
    truth = csr([(0, 1), (0, 4), (1, 2)])  # user 2 has no test items: ignored for accuracy
    train = csr([(0, 0), (0, 5), (1, 0), (2, 0), (2, 3)])
    recs = np.array([[1, 2, 4], [0, 3, 1], [1, 2, 0]])
    m = ranking_metrics(np.array([0, 1, 2]), recs, truth, k=3, train=train)
    ndcg_user0 = (1 / math.log(2) + 1 / math.log(4)) / (1 / math.log(2) + 1 / math.log(3))
    assert m.n_users == 2
    assert m.precision == pytest.approx((2 / 3) / 2)
    assert m.recall == pytest.approx(1 / 2)
    assert m.ndcg == pytest.approx(ndcg_user0 / 2)
    assert m.map == pytest.approx((1 + 2 / 3) / 2 / 2)
    assert m.hit_rate == pytest.approx(1 / 2)
    assert m.coverage == pytest.approx(5 / 6)
    # train users: 3; recommended items seen in train: 0 (all three users: novelty 0) twice, 3 (one user: log2 3)
    assert m.novelty == pytest.approx((0 + math.log2(3) + 0) / 3)


def test_padding_is_not_a_hit_and_k_truncates():
    truth = csr([(0, 0)], n_users=1, n_items=3)
    m = ranking_metrics(np.array([0]), np.array([[-1, 0, 2]]), truth, k=1)
    assert m.precision == 0 and m.hit_rate == 0


def test_stratified_split_is_seeded_and_per_group():
    df = pd.DataFrame({"user_idx": np.repeat(np.arange(10), 8), "item_idx": np.tile(np.arange(8), 10)})
    train, test = stratified_split(df, 0.75, by="user_idx", seed=42)
    assert (train.groupby("user_idx").size() == 6).all() and (test.groupby("user_idx").size() == 2).all()
    again, _ = stratified_split(df, 0.75, by="user_idx", seed=42)
    other, _ = stratified_split(df, 0.75, by="user_idx", seed=7)
    pd.testing.assert_frame_equal(train, again)
    assert not train.equals(other)
    assert len(pd.concat([train, test]).drop_duplicates()) == len(df)


def test_time_split_holds_out_the_last_days():
    ts = pd.to_datetime(["2026-10-01 10:00", "2026-10-05 09:00", "2026-10-06 23:00", "2026-10-07 01:00"])
    df = pd.DataFrame({"user_idx": [0, 0, 1, 1], "item_idx": [0, 1, 2, 3], "last_event_ts": ts})
    train, test, split = time_split(df, holdout_days=2)
    assert split == pd.Timestamp("2026-10-06")
    assert train["item_idx"].tolist() == [0, 1] and test["item_idx"].tolist() == [2, 3]


def test_available_items_mask_at_a_time():
    at = pd.Timestamp("2026-10-05")
    availability = pd.DataFrame(
        {
            "item_idx": [0, 1, 2, 3, 4],
            "status": ["sold", "sold", "active", "deleted", "active"],
            "listed_at": pd.to_datetime(["2026-10-01"] * 4 + ["2026-10-09"]),
            "sold_at": pd.to_datetime(["2026-10-03", "2026-10-07", None, None, None]),
        }
    )
    assert available_items_mask(availability, 6, at).tolist() == [False, True, True, False, False, False]
