"""The learned ranker on known answers: a world where size match alone decides purchases, the same seed giving
the same ranker, the recall figure it is measured by."""

import numpy as np
import pandas as pd
import pytest

from recpipe.config import RankerConfig
from recpipe.models.ranker import LearnedRanker, group_sizes, recall_at

FEATURES = ("size_share", "log_price", "views_7d", "category_code")
CONFIG = RankerConfig(max_rounds=60, early_stopping_rounds=20, min_child_samples=5, validation_share=0.25)


def size_world(users: int, candidates: int, seed: int) -> pd.DataFrame:
    """Per user ``candidates`` listings; a user buys (grade 4) only listings in their size (size_share high),
    views some others at random: price, popularity and category carry no signal."""
    rng = np.random.default_rng(seed)
    n = users * candidates
    in_size = rng.random(n) < 0.3
    frame = pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(users), candidates),
            "item_id": np.tile(np.arange(candidates), users),
            "size_share": np.where(in_size, rng.uniform(0.5, 1.0, n), rng.uniform(0.0, 0.2, n)),
            "log_price": rng.normal(3.0, 0.5, n),
            "views_7d": rng.poisson(3.0, n).astype(float),
            "category_code": rng.integers(0, 5, n).astype(float),
        }
    )
    bought = in_size & (rng.random(n) < 0.4)
    frame["grade"] = np.where(bought, 4, np.where(rng.random(n) < 0.1, 1, 0))
    return frame


def fit(frame: pd.DataFrame, seed: int = 7) -> LearnedRanker:
    valid = frame["user_id"] % 4 == 0
    return LearnedRanker.fit(frame[~valid], frame[valid], FEATURES, ("category_code",), CONFIG, seed)


def test_a_world_where_size_match_alone_decides_ranks_size_matching_listings_first():
    ranker = fit(size_world(200, 30, seed=1))
    test = size_world(50, 30, seed=2)
    test["score"] = ranker.predict(test)
    top = test.sort_values(["user_id", "score"], ascending=[True, False]).groupby("user_id").head(5)
    assert (top["size_share"] >= 0.5).mean() > 0.95
    assert next(iter(ranker.importances())) == "size_share"


def test_the_same_seed_gives_the_same_ranker_and_it_survives_save_and_load(tmp_path):
    frame = size_world(120, 20, seed=3)
    first, second = fit(frame), fit(frame)
    assert first.to_string() == second.to_string()
    loaded = LearnedRanker.load(first.save(tmp_path / "ranker"))
    np.testing.assert_array_equal(loaded.predict(frame), first.predict(frame))
    assert loaded.features == FEATURES and loaded.categorical == ("category_code",)


def test_predict_reads_features_by_name_not_position():
    frame = size_world(60, 10, seed=4)
    ranker = fit(frame)
    shuffled = frame[list(reversed(frame.columns))]
    np.testing.assert_array_equal(ranker.predict(shuffled), ranker.predict(frame))


def test_without_validation_rows_the_ranker_trains_its_configured_rounds():
    """A tiny world whose users all hashed into training (the deploy test's) still gets a ranker."""
    frame = size_world(40, 10, seed=5)
    config = CONFIG.model_copy(update={"max_rounds": 7})
    ranker = LearnedRanker.fit(frame, frame.iloc[:0], FEATURES, ("category_code",), config, 7)
    assert ranker.booster.current_iteration() == 7
    assert len(ranker.predict(frame)) == len(frame)


def test_group_sizes_require_each_users_rows_together():
    assert group_sizes(np.array([1, 1, 2, 5, 5, 5])).tolist() == [2, 1, 3]
    assert group_sizes(np.array([], dtype=np.int64)).tolist() == []
    with pytest.raises(ValueError, match="sorted by user_id"):
        group_sizes(np.array([1, 2, 1]))


def test_recall_at_k_counts_targets_in_each_users_top_k_and_misses_what_was_never_listed():
    candidates = pd.DataFrame(
        {"user_id": [1, 1, 1, 2, 2], "item_id": [10, 11, 12, 20, 21], "order": [2.0, 1.0, None, 1.0, 2.0]}
    )
    targets = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 12, 21]})
    # user 1: list 11, 10 (12 unranked): top 1 holds nothing, top 2 holds 10 of {10, 12} (0.5); user 2: list
    # 20, 21: top 1 nothing, top 2 all (1.0); the mean over users
    assert recall_at(candidates, "order", targets, (1, 2)) == {1: 0.0, 2: 0.75}
