"""Every model keeps the same contract; planted structure gives a known answer."""

import numpy as np
import pytest

from recpipe.models.als import ALSRecommender
from recpipe.models.ease import EASERecommender
from recpipe.models.item2vec import Item2VecRecommender
from recpipe.models.matrix import to_csr
from recpipe.models.popularity import PopularityRecommender
from recpipe.models.registry import load_model, save_model

N_USERS, N_ITEMS, GROUPS = 40, 20, 2
WITHHELD = {user: (user % (N_ITEMS // GROUPS)) * GROUPS + user % GROUPS for user in range(N_USERS)}


def checkerboard():
    """Users of group g interact with every item of group g (item % 2 == g) except one withheld item each."""
    rows, cols = [], []
    for user in range(N_USERS):
        for item in range(N_ITEMS):
            if item % GROUPS == user % GROUPS and item != WITHHELD[user]:
                rows.append(user)
                cols.append(item)
    return to_csr(np.array(rows), np.array(cols), np.ones(len(rows)), N_USERS, N_ITEMS)


def item2vec_model(workers: int = 1):
    return Item2VecRecommender(n_items=N_ITEMS, vector_size=8, window=10, epochs=50, sample=0, seed=3, workers=workers)


MODELS = {
    "als": lambda: ALSRecommender(factors=2, regularization=0.01, alpha=5, iterations=20, seed=3),
    "als_cholesky": lambda: ALSRecommender(
        factors=2, regularization=0.01, alpha=5, iterations=20, solver="cholesky", seed=3
    ),
    "als_bm25": lambda: ALSRecommender(
        factors=2, regularization=0.01, alpha=5, iterations=20, weighting="bm25", seed=3
    ),
    "ease": lambda: EASERecommender(l2=1.0),
    "item2vec": item2vec_model,
    "item2vec_threads": lambda: item2vec_model(workers=2),  # the same contract, reruns aside
}


@pytest.fixture(scope="module")
def matrix():
    return checkerboard()


@pytest.mark.parametrize("kind", MODELS)
def test_withheld_item_comes_back_first(kind, matrix):
    model = MODELS[kind]().fit(matrix)
    users = np.arange(N_USERS)
    ids, scores = model.recommend(users, matrix, n=3)
    assert (ids[:, 0] == np.array([WITHHELD[u] for u in users])).all()
    assert (np.diff(scores, axis=1) <= 0).all()


@pytest.mark.parametrize("kind", MODELS)
def test_seen_items_are_never_recommended(kind, matrix):
    model = MODELS[kind]().fit(matrix)
    ids, _ = model.recommend(np.arange(N_USERS), matrix, n=N_ITEMS)
    for user, row in enumerate(ids):
        assert not set(row[row >= 0]) & set(matrix[user].indices)
        assert len(set(row[row >= 0])) == (row >= 0).sum()


@pytest.mark.parametrize("kind", MODELS)
def test_save_and_load_round_trip(kind, matrix, tmp_path):
    model = MODELS[kind]().fit(matrix)
    loaded = load_model(save_model(model, tmp_path / kind))
    users = np.arange(5)
    np.testing.assert_array_equal(model.recommend(users, matrix, 5)[0], loaded.recommend(users, matrix, 5)[0])


@pytest.mark.parametrize("kind", ["als", "als_cholesky", "item2vec"])
def test_same_seed_same_model(kind, matrix):
    first, second = MODELS[kind]().fit(matrix), MODELS[kind]().fit(matrix)
    for attribute in ("user_factors", "item_factors", "vectors"):
        if hasattr(first, attribute) and getattr(first, attribute) is not None:
            np.testing.assert_array_equal(getattr(first, attribute), getattr(second, attribute))


@pytest.mark.parametrize("kind", ["als", "item2vec", "item2vec_threads"])
def test_similar_items_stay_in_the_group(kind, matrix):
    model = MODELS[kind]().fit(matrix)
    items = np.arange(N_ITEMS)
    ids, _ = model.similar_items(items, n=3)
    assert (ids != items[:, None]).all()
    assert ((ids % GROUPS) == (items[:, None] % GROUPS)).all()


def test_allowed_items_mask_removes_unavailable_items(matrix):
    model = MODELS["als"]().fit(matrix)
    allowed = np.ones(N_ITEMS, dtype=bool)
    allowed[WITHHELD[0]] = False
    ids, _ = model.recommend(np.array([0]), matrix, n=N_ITEMS, allowed_items=allowed)
    assert WITHHELD[0] not in ids[0]


def test_popularity_ranks_by_distinct_users():
    m = to_csr(np.array([0, 1, 2, 0, 1]), np.array([3, 3, 3, 1, 1]), np.array([1, 1, 1, 9, 9]), 4, 5)
    model = PopularityRecommender().fit(m)
    ids, scores = model.recommend(np.array([3]), m, n=3)
    assert ids[0].tolist()[:2] == [3, 1] and scores[0].tolist()[:2] == [3.0, 2.0]


def test_ease_rejects_huge_catalogs():
    from recpipe.models import ease

    m = to_csr(np.array([0]), np.array([0]), np.array([1.0]), 1, ease.MAX_ITEMS + 1)
    with pytest.raises(ValueError, match="items x items"):
        EASERecommender().fit(m)


def test_every_configured_family_has_a_factory_and_the_kind_it_saves():
    """One table: the families the config accepts are the factory's, and each names a kind a saved model has."""
    from recpipe.config import MODEL_FAMILIES
    from recpipe.models.base import KINDS
    from recpipe.models.training import FAMILIES

    assert set(FAMILIES) == set(MODEL_FAMILIES)
    assert all(family.kind in KINDS for family in FAMILIES.values())
