"""Models with a listing side: a world where the only signal is the brand ranks cold listings of the user's brand
first; the same seed gives the same vectors; listing features are encoded as specified."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recpipe.models.als import ALSRecommender
from recpipe.models.blend import BlendRecommender
from recpipe.models.features import FeatureEncoder, listing_features
from recpipe.models.hybrid import AttributeALSRecommender
from recpipe.models.registry import load_model, save_model
from recpipe.models.two_tower import TwoTowerRecommender

N_USERS, N_WARM, N_COLD, BRANDS = 60, 40, 12, 3
AT = pd.Timestamp("2026-11-01")


def brand_world(seed: int = 0):
    """Users buy one brand (user % BRANDS); listings differ otherwise only in price and age, which say nothing.
    Warm listings have history, the last N_COLD none."""
    rng = np.random.default_rng(seed)
    n_items = N_WARM + N_COLD
    items = pd.DataFrame(
        {
            "category": "tops",
            "brand": [f"brand{i % BRANDS}" for i in range(n_items)],
            "size": "M",
            "condition": "good",
            "price": rng.uniform(5, 80, n_items),
            "listed_at": AT - pd.to_timedelta(rng.uniform(0, 20, n_items), unit="D"),
            "country": "FR",
        }
    )
    rows, cols = [], []
    for user in range(N_USERS):
        own_brand = [i for i in range(N_WARM) if i % BRANDS == user % BRANDS]
        for item in rng.choice(own_brand, size=6, replace=False):
            rows.append(user)
            cols.append(item)
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(N_USERS, n_items))
    features, _ = listing_features(items, min_count=1)
    return matrix, features, items["listed_at"].to_numpy("datetime64[ns]")


MODELS = {
    "als_attributes": lambda features, seed: AttributeALSRecommender(
        features, factors=8, regularization=0.1, iterations=10, seed=seed, num_threads=1
    ),
    "two_tower": lambda features, seed: TwoTowerRecommender(
        features, factors=8, epochs=30, batch_size=64, seed=seed, num_threads=1
    ),
}
AGE_PRIOR = [0.8, 0.6, 0.4, 0.2, 0.1, 0.0, -0.1, -0.2, -0.4, -0.6, -0.8]  # one per band of models.freshness
WITH_LISTING_SIDE = {
    **MODELS,
    "two_tower_with_prior": lambda features, seed, listed_at: TwoTowerRecommender(
        features,
        factors=8,
        epochs=5,
        batch_size=64,
        seed=seed,
        num_threads=1,
        listed_at=listed_at,
        age_prior=AGE_PRIOR,
        prior_at=str(AT),
    ),
    "two_tower_als": lambda features, seed, listed_at: BlendRecommender(
        [
            TwoTowerRecommender(
                features,
                factors=4,
                epochs=5,
                seed=seed,
                num_threads=1,
                listed_at=listed_at,
                age_prior=AGE_PRIOR,
                prior_at=str(AT),
            ),
            ALSRecommender(factors=4, iterations=5, seed=seed, num_threads=1),
        ],
        [1.0, 4.0],
    ),
}


@pytest.mark.parametrize("family", sorted(MODELS))
def test_cold_listings_of_the_users_brand_score_highest(family):
    matrix, features, _ = brand_world()
    model = MODELS[family](features, 7).fit(matrix)
    users, items = model.embed(np.arange(N_USERS), matrix)
    cold = np.arange(N_WARM, N_WARM + N_COLD)
    scores = users @ items[cold].T
    brand, own = cold % BRANDS, np.arange(N_USERS) % BRANDS
    by_brand = np.stack([scores[:, brand == b].mean(axis=1) for b in range(BRANDS)], axis=1)
    assert (by_brand.argmax(axis=1) == own).all()  # every user: their brand's cold listings score highest
    top = brand[scores.argmax(axis=1)]
    assert (top == own).mean() >= 0.95  # and the best cold listing is of their brand (price and age add noise)


@pytest.mark.parametrize("family", sorted(MODELS))
def test_same_seed_same_vectors_and_a_saved_model_scores_the_same(family, tmp_path):
    matrix, features, _ = brand_world()
    first, second = MODELS[family](features, 3).fit(matrix), MODELS[family](features, 3).fit(matrix)
    for a, b in zip(first.embed(np.arange(N_USERS), matrix), second.embed(np.arange(N_USERS), matrix)):
        np.testing.assert_array_equal(a, b)
    loaded = load_model(save_model(first, tmp_path / family))
    np.testing.assert_array_equal(loaded.score(np.arange(5), matrix), first.score(np.arange(5), matrix))


@pytest.mark.parametrize("family", sorted(WITH_LISTING_SIDE))
def test_a_listing_created_after_training_gets_the_vector_the_batch_gives_a_cold_listing(family, tmp_path):
    """One feature code path: a saved model's listing side, given a cold listing's features and listing time,
    returns exactly the vector the fitted model gave it (the fresh job scores new listings this way)."""
    matrix, features, listed_at = brand_world()
    make = WITH_LISTING_SIDE[family]
    model = (make(features, 3) if family in MODELS else make(features, 3, listed_at)).fit(matrix)
    loaded = load_model(save_model(model, tmp_path / family))
    cold = np.arange(N_WARM, N_WARM + N_COLD)
    batch = model.embed(np.arange(1), matrix)[1][cold]
    assert loaded.has_listing_side
    np.testing.assert_allclose(loaded.listing_vectors(features[cold], listed_at[cold]), batch, rtol=1e-5, atol=1e-6)
    if "prior" in family or family == "two_tower_als":  # the age prior is part of the vector: a later listing
        later = loaded.listing_vectors(features[cold], listed_at[cold] + np.timedelta64(30, "D"))
        assert not np.allclose(later, batch)  # ... is in the newest band, scored as the batch scores new ones


def test_als_alone_has_no_listing_side():
    matrix, _, _ = brand_world()
    model = ALSRecommender(factors=4, iterations=2, seed=1, num_threads=1).fit(matrix)
    assert not model.has_listing_side
    with pytest.raises(NotImplementedError, match="no listing side"):
        model.listing_vectors(sp.csr_matrix((1, 3)), np.zeros(1, "datetime64[ns]"))


def test_history_moves_a_listing_from_its_attributes_to_its_own_factors():
    matrix, features, _ = brand_world()
    model = MODELS["als_attributes"](features, 1).fit(matrix)
    history = np.diff(sp.csc_matrix(matrix).indptr)
    predicted = model.listing_vectors(features)
    no_history = history == 0
    np.testing.assert_allclose(model.item_vectors[no_history], predicted[no_history], rtol=1e-6)
    busy = int(np.argmax(history))
    share = history[busy] / (history[busy] + model.params["shrinkage"])
    expected = predicted[busy] + share * (model.als.item_factors[busy] - predicted[busy])
    np.testing.assert_allclose(model.item_vectors[busy], expected, rtol=1e-5)


def test_listing_features_one_entry_per_field_and_unknown_values_map_to_nothing():
    items = pd.DataFrame(
        {
            "category": ["shoes", "tops"],
            "brand": ["A", "B"],
            "size": ["38", "M"],
            "condition": ["good", None],
            "price": [12.0, 240.0],
            "listed_at": [AT - pd.Timedelta(hours=6), AT - pd.Timedelta(days=40)],
            "country": ["FR", "DE"],
        }
    )
    features, encoder = listing_features(items, min_count=1)
    fields = len(encoder.fields)
    assert features[0].nnz == fields and features[1].nnz == fields - 1  # a missing condition: no entry
    np.testing.assert_allclose(features[0].data, 1 / np.sqrt(fields))
    assert (
        features[0, encoder.vocabulary["price_band"]["2"]] > 0
        and features[1, encoder.vocabulary["price_band"]["9"]] > 0
    )
    assert features[0, encoder.vocabulary["category_size"]["shoes|38"]] > 0
    unseen = items.assign(brand=["Z", "A"])
    again, _ = listing_features(unseen, encoder)
    assert again[0].nnz == fields - 2  # brand and brand|price band unknown
    genres = FeatureEncoder(("genres",)).fit(pd.DataFrame({"genres": [["Drama", "War"], ["Drama"]]}))
    np.testing.assert_allclose(
        genres.transform(pd.DataFrame({"genres": [["Drama", "War"]]})).toarray(), [[np.sqrt(0.5)] * 2]
    )


def test_a_blend_scores_the_weighted_sum_of_its_parts_as_one_dot_product(tmp_path):
    matrix, features, _ = brand_world()
    parts = [
        MODELS["two_tower"](features, 5),
        AttributeALSRecommender(features, factors=4, iterations=5, seed=5, num_threads=1),
    ]
    blend = BlendRecommender(parts, [1.0, 3.0]).fit(matrix)
    users = np.arange(N_USERS)
    expected = parts[0].score(users, matrix) + 3.0 * parts[1].score(users, matrix)
    np.testing.assert_allclose(blend.score(users, matrix), expected, rtol=1e-4, atol=1e-4)
    loaded = load_model(save_model(blend, tmp_path / "blend"))
    np.testing.assert_array_equal(loaded.score(users, matrix), blend.score(users, matrix))
    with pytest.raises(ValueError, match="one weight per part"):
        BlendRecommender(parts, [1.0])
