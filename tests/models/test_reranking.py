"""The re-ranking pass on hand-made lists: the knobs at zero change nothing, a list of one seller's listings is
spread, the diversity weight breaks runs of similar listings, the new-seller floor holds on every prefix."""

import numpy as np

from recpipe.models.reranking import Knobs, monotone_scores, rerank, scaled, style_similarity

SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])


def identical(n: int) -> np.ndarray:
    return np.ones((n, n))


def test_knobs_at_zero_keep_the_relevance_order():
    sellers = np.array([1, 1, 1, 2, 2, 3])
    order = rerank(SCORES, identical(6), sellers, np.zeros(6, bool), 6, Knobs())
    assert order.tolist() == [0, 1, 2, 3, 4, 5]
    # the greedy pass itself, with a knob that has nothing to act on, gives the same order
    same = rerank(SCORES, np.eye(6), np.arange(6), np.zeros(6, bool), 6, Knobs(seller_discount=0.5))
    assert same.tolist() == [0, 1, 2, 3, 4, 5]


def test_a_seller_discount_spreads_one_sellers_run():
    """Seller 1 holds the three best; each placed listing of a seller costs 0.5 (relevance is scaled to [0, 1]:
    1.0, 0.8, 0.6, 0.4, 0.2, 0.0), so seller 2's best (0.4) comes before seller 1's second (0.8 - 0.5)."""
    sellers = np.array([1, 1, 1, 2, 2, 3])
    order = rerank(SCORES, np.eye(6), sellers, np.zeros(6, bool), 6, Knobs(seller_discount=0.5))
    assert order.tolist() == [0, 3, 1, 5, 4, 2]
    assert sellers[order[:3]].tolist() == [1, 2, 1]


def test_diversity_weight_moves_a_dissimilar_listing_up():
    """Listings 0-2 are near copies (similarity 1), 3-5 another style: at weight 0.5 the best of the other style
    follows the first listing: 0.5 * 0.4 - 0 > 0.5 * 0.8 - 0.5 * 1."""
    similarity = np.kron(np.eye(2), np.ones((3, 3)))
    order = rerank(SCORES, similarity, np.arange(6), np.zeros(6, bool), 6, Knobs(diversity=0.5))
    assert order.tolist()[:2] == [0, 3]


def test_new_seller_floor_holds_on_every_prefix():
    new = np.array([False, False, False, False, True, True])
    order = rerank(SCORES, np.eye(6), np.arange(6), new, 6, Knobs(new_seller_share=0.5))
    placed_new = np.cumsum(new[order])
    assert all(placed_new[p] >= np.floor(0.5 * (p + 1)) for p in range(4))  # while new sellers' listings are left
    assert order.tolist() == [0, 4, 1, 5, 2, 3]


def test_rerank_returns_at_most_length_and_scores_stay_sorted():
    order = rerank(SCORES, np.eye(6), np.array([1, 1, 2, 2, 3, 3]), np.zeros(6, bool), 3, Knobs(seller_discount=1))
    assert order.tolist() == [0, 2, 4]
    assert monotone_scores(np.array([0.9, 0.95, 0.5, 0.7])).tolist() == [0.9, 0.9, 0.5, 0.5]


def test_style_similarity_and_scaling_by_hand():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    sim = style_similarity(np.array([0, 0, 1]), np.array([5, 6, 5]), vectors)
    assert sim[0, 1] == 1 / 3  # same category only
    assert sim[0, 2] == 2 / 3  # same brand and vector
    assert np.allclose(np.diag(sim), 1.0)
    assert scaled(np.array([2.0, 2.0])).tolist() == [1.0, 1.0]
    assert scaled(np.array([1.0, 3.0, 2.0])).tolist() == [0.0, 1.0, 0.5]
