"""ALS's hyperparameters do not depend on the scale of the confidences (event weights, decay)."""

import numpy as np
import pytest
import scipy.sparse as sp

from recpipe.models.als import ALSRecommender
from recpipe.models.base import recommend_all
from recpipe.models.evaluation import ranking_metrics


def planted(seed: int = 5, users: int = 120, items: int = 60):
    """Two taste groups; one held-out item of the user's group per user."""
    rng = np.random.default_rng(seed)
    rows, cols, vals, held = [], [], [], []
    for u in range(users):
        group = rng.permutation(np.arange(u % 2, items, 2))
        held.append(group[0])
        for i in group[1:12]:
            rows.append(u), cols.append(i), vals.append(rng.choice([1.0, 3.0, 5.0]))
    train = sp.csr_matrix((vals, (rows, cols)), shape=(users, items), dtype=np.float32)
    test = sp.csr_matrix((np.ones(users), (np.arange(users), held)), shape=(users, items))
    return train, test


@pytest.mark.parametrize("weighting", ["none", "bm25"])
def test_rescaling_every_confidence_changes_nothing(weighting):
    train, test = planted()
    users = np.arange(train.shape[0])
    lists = []
    for scale in (1.0, 2.0, 10.0):
        model = ALSRecommender(factors=8, regularization=1.0, alpha=2.0, iterations=8, weighting=weighting, seed=3)
        ids, _ = recommend_all(model.fit(train * scale), users, train, 10)
        lists.append((ids, ranking_metrics(users, ids, test, 10, train).ndcg))
    assert lists[0][1] > 0.2  # the planted groups are found
    for ids, ndcg in lists[1:]:
        assert ndcg == pytest.approx(lists[0][1], abs=1e-6)
        assert (ids == lists[0][0]).mean() > 0.99


def test_without_normalising_the_scale_matters():
    """The control: the same rescaling moves raw ALS, which is why the pipeline normalises."""
    train, _ = planted()
    fits = [
        ALSRecommender(factors=8, regularization=1.0, alpha=2.0, iterations=8, seed=3, normalize_confidence=False).fit(
            train * s
        )
        for s in (1.0, 10.0)
    ]
    assert not np.allclose(fits[0].item_factors, fits[1].item_factors, atol=1e-3)
