"""The in-memory training set: a seeded user sample (what `recpipe tune` searches on with ``tune.user_share``)."""

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from recpipe.config import TuneConfig
from recpipe.models.training_set import EventSplit, TrainingData

USERS, ITEMS = 1000, 50


def pairs(users: np.ndarray, per_user: int) -> pd.DataFrame:
    """``per_user`` rows for each user index, item indices spread over the catalogue."""
    user_idx = np.repeat(users, per_user)
    return pd.DataFrame(
        {"user_idx": user_idx, "item_idx": (user_idx * 7 + np.tile(np.arange(per_user), len(users))) % ITEMS}
    ).assign(confidence=1.0)


def training_data(order_seed: int = 0) -> TrainingData:
    users = np.random.default_rng(order_seed).permutation(USERS)  # row order must not matter
    split = EventSplit(pairs(users, 3), pairs(users[::2], 1), pd.Timestamp("2026-11-01"), 3)
    return TrainingData(
        interactions=pairs(users, 4),
        user_ids=np.arange(USERS, dtype=np.int64) * 7 + 1_000,
        item_ids=np.arange(ITEMS, dtype=np.int64),
        availability=pd.DataFrame({"item_idx": np.arange(ITEMS), "status": "active"}),
        own_listings=pairs(users[:100], 1),
        split=split,
    )


def users_in(rows: pd.DataFrame) -> set[int]:
    return set(rows["user_idx"].tolist())


def test_a_user_sample_keeps_every_row_of_the_kept_users_and_none_of_the_others():
    data = training_data()
    sample = data.user_sample(0.3, seed=42)
    kept = users_in(sample.interactions)
    assert 0.25 * USERS < len(kept) < 0.35 * USERS
    for full, sampled in [
        (data.interactions, sample.interactions),
        (data.split.train, sample.split.train),
        (data.split.test, sample.split.test),
        (data.own_listings, sample.own_listings),
    ]:
        expected = full[full["user_idx"].isin(kept)]
        assert len(sampled) == len(expected) and users_in(sampled) == users_in(expected)
    assert (sample.n_users, sample.n_items) == (USERS, ITEMS)  # the indices stay: every user is still scored
    assert sample.matrix().shape == (USERS, ITEMS) and sample.matrix().nnz == 4 * len(kept)


def test_the_sample_depends_on_the_seed_and_the_ids_not_on_row_order():
    kept = users_in(training_data().user_sample(0.3, seed=42).interactions)
    assert users_in(training_data(order_seed=7).user_sample(0.3, seed=42).interactions) == kept
    assert users_in(training_data().user_sample(0.3, seed=43).interactions) != kept
    assert kept < users_in(training_data().user_sample(0.6, seed=42).interactions)  # a larger share adds users


def test_the_whole_share_is_the_data_itself():
    data = training_data()
    assert data.user_sample(1.0, seed=42) is data


@pytest.mark.parametrize("share", [0.0, 1.5])
def test_tune_refuses_a_share_outside_0_1(share):
    with pytest.raises(ValidationError, match="user_share"):
        TuneConfig(user_share=share)
