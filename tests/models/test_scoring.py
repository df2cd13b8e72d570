"""The candidate kernel equals a brute-force greedy ranking with every rule applied."""

import numpy as np
import scipy.sparse as sp

from recpipe.models.scoring import CandidateScorer, _score_bits, _sort_key, _thresholds
from recpipe.models.topk import top_k_rows


def brute_force(queries, items, k, exclude, sellers, max_per_seller, query_sellers):
    scores = queries @ items.T
    out_ids, out_scores = [], []
    for row in range(len(queries)):
        banned = set(exclude[row].indices) if exclude is not None else set()
        order = sorted(range(len(items)), key=lambda i: (-scores[row, i], i))
        kept, per_seller = [], {}
        for i in order:
            if i in banned or (query_sellers is not None and sellers[i] == query_sellers[row]):
                continue
            if max_per_seller is not None and per_seller.get(sellers[i], 0) >= max_per_seller:
                continue
            per_seller[sellers[i]] = per_seller.get(sellers[i], 0) + 1
            kept.append(i)
            if len(kept) == k:
                break
        out_ids.append(kept + [-1] * (k - len(kept)))
        out_scores.append([scores[row, i] for i in kept])
    return out_ids, out_scores


def assert_brute_force(ids, scores, queries, items, k, exclude, sellers, max_per_seller, query_sellers):
    expected_ids, expected_scores = brute_force(queries, items, k, exclude, sellers, max_per_seller, query_sellers)
    assert ids.tolist() == expected_ids
    for row, values in enumerate(expected_scores):
        np.testing.assert_allclose(scores[row, : len(values)], values, atol=1e-5)


def test_kernel_matches_brute_force_with_all_rules():
    rng = np.random.default_rng(1)
    queries = rng.normal(size=(30, 8)).astype(np.float32)
    items = rng.normal(size=(120, 8)).astype(np.float32)
    sellers = rng.integers(0, 6, size=120)  # few sellers: the cap bites hard and forces the full re-rank
    exclude = sp.random(30, 120, density=0.2, random_state=2, format="csr")
    query_sellers = rng.integers(0, 6, size=30)
    ids, scores = CandidateScorer(items, 15, sellers, max_per_seller=2).top_k(queries, exclude, query_sellers)
    assert_brute_force(ids, scores, queries, items, 15, exclude, sellers, 2, query_sellers)


def test_kernel_without_seller_rules_is_plain_top_k():
    rng = np.random.default_rng(3)
    queries, items = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(50, 4)).astype(np.float32)
    ids, _ = CandidateScorer(items, 10).top_k(queries)
    assert ids.tolist() == [list(np.argsort(-(q @ items.T), kind="stable")[:10]) for q in queries]


def test_threshold_selection_on_a_large_catalog_equals_brute_force():
    """Enough items for the sampled threshold to be used; row 0 excludes almost everything above any threshold
    estimate, so it takes the full-ranking path."""
    rng = np.random.default_rng(4)
    queries, items = rng.normal(size=(300, 8)).astype(np.float32), rng.normal(size=(3000, 8)).astype(np.float32)
    exclude = sp.random(300, 3000, density=0.01, random_state=5, format="lil")
    exclude[0, np.argsort(-(queries[0] @ items.T))[:2900]] = 1  # only 100 eligible items left for row 0
    exclude = exclude.tocsr()
    ids, scores = CandidateScorer(items, 30, block_rows=64).top_k(queries, exclude)
    expected_ids, expected_scores = top_k_rows(queries @ items.T, 30, exclude)
    assert ids.tolist() == expected_ids.tolist()
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)


def test_threshold_selection_with_seller_rules_on_a_large_catalog_equals_brute_force():
    """The sampled threshold with the cap and the query's seller: rows whose best items crowd into few sellers
    run out of survivors and are walked again in full."""
    rng = np.random.default_rng(6)
    queries, items = rng.normal(size=(40, 8)).astype(np.float32), rng.normal(size=(3000, 8)).astype(np.float32)
    sellers = rng.integers(0, 400, size=3000) * 1_000_003  # sparse, large seller ids
    best = np.argsort(-(queries[0] @ items.T))[:200]
    sellers[best] = 7  # row 0's top 200 items share one seller
    query_sellers = sellers[rng.integers(0, 3000, size=40)]
    exclude = sp.random(40, 3000, density=0.01, random_state=7, format="csr")
    ids, scores = CandidateScorer(items, 25, sellers, max_per_seller=2, block_rows=16).top_k(
        queries, exclude, query_sellers
    )
    assert_brute_force(ids, scores, queries, items, 25, exclude, sellers, 2, query_sellers)


def test_one_scorer_serves_batches_of_any_size_like_fresh_ones():
    """A Spark task reuses one scorer (and its buffer) for every Arrow batch of its partition."""
    rng = np.random.default_rng(8)
    items = rng.normal(size=(3000, 8)).astype(np.float32)
    sellers = rng.integers(0, 300, size=3000)
    scorer = CandidateScorer(items, 20, sellers, max_per_seller=2, block_rows=32)
    for rows in (50, 7, 90):
        queries = rng.normal(size=(rows, 8)).astype(np.float32)
        exclude = sp.random(rows, 3000, density=0.01, random_state=rows, format="csr")
        ids, scores = scorer.top_k(queries, exclude)
        assert_brute_force(ids, scores, queries, items, 20, exclude, sellers, 2, None)


def test_sort_keys_order_scores_best_first_then_by_position():
    """Negative and positive zero tie (position decides); negatives, subnormals and infinities keep their order."""
    values = np.array([1.0, -0.0, 0.0, -1.5, 3e-39, -3e-39, np.inf, -np.inf, 2.0, 0.0, -2.5, -0.0], dtype=np.float32)
    keys = [_sort_key(bits, position) for position, bits in enumerate(values.view(np.int32))]
    assert [position for _, position in sorted(zip(keys, range(len(values))))] == sorted(
        range(len(values)), key=lambda i: (-values[i], i)
    )
    assert [_score_bits(key) for key in keys] == [
        bits if bits != np.int32(-(2**31)) else 0 for bits in values.view(np.int32)
    ]


def test_special_scores_rank_like_floats_and_nan_never_ranks():
    """Subnormals and infinities keep their order; NaN and -inf scores are never returned."""
    values = [1.0, -0.0, 0.0, -1.5, 3e-39, -3e-39, np.inf, -np.inf, np.nan, 2.0, 0.0, -2.5]
    items = np.array(values, dtype=np.float32)[:, None]  # with the query [1.0] the scores are exactly these values
    ids, scores = CandidateScorer(items, 12).top_k(np.ones((1, 1), np.float32))
    ranked = sorted((i for i, v in enumerate(values) if v > -np.inf), key=lambda i: (-values[i], i))
    assert ids[0].tolist() == ranked + [-1] * (12 - len(ranked))
    np.testing.assert_array_equal(scores[0, : len(ranked)], np.array(values, dtype=np.float32)[ranked])


def test_tied_scores_on_a_large_catalog_keep_item_order():
    """Items repeat 60 distinct vectors, so scores tie in groups of 50: the shuffled sample and tiles must still
    rank ties by item position."""
    rng = np.random.default_rng(9)
    items = np.tile(rng.normal(size=(60, 8)).astype(np.float32), (50, 1))
    queries = rng.normal(size=(20, 8)).astype(np.float32)
    sellers = rng.integers(0, 500, size=len(items))
    exclude = sp.random(20, len(items), density=0.01, random_state=10, format="csr")
    ids, scores = CandidateScorer(items, 40, sellers, max_per_seller=2).top_k(queries, exclude)
    assert_brute_force(ids, scores, queries, items, 40, exclude, sellers, 2, None)


def test_rows_with_more_survivors_than_room_are_walked_in_full():
    """Every item scores the same for a query, so every one passes any threshold and overflows the survivor room."""
    rng = np.random.default_rng(11)
    items = rng.normal(size=(3000, 8)).astype(np.float32)
    items[:, 0] = 1.0
    queries = np.zeros((3, 8), np.float32)
    queries[:, 0] = 1.0  # all scores 1.0: ties everywhere, the answer is the first k eligible positions
    queries[2] = rng.normal(size=8)  # an ordinary row in the same block
    exclude = sp.csr_matrix(([1.0, 1.0], ([0, 1], [0, 5])), shape=(3, 3000))
    ids, scores = CandidateScorer(items, 30).top_k(queries, exclude)
    assert ids[0].tolist() == list(range(1, 31))
    assert ids[1].tolist() == [0, 1, 2, 3, 4] + list(range(6, 31))
    assert_brute_force(ids, scores, queries, items, 30, exclude, np.zeros(3000), None, None)


def test_thresholds_are_the_rank_th_best_score_ignoring_nan():
    rng = np.random.default_rng(12)
    scores = rng.normal(size=(6, 200)).astype(np.float32)
    scores[1, ::3] = np.nan
    scores[2, :] = -np.inf
    scores[2, :4] = [1.0, 2.0, 3.0, 4.0]  # fewer than rank finite scores: -inf
    scores[3, 70:140] = 5.0  # ties across chunk borders
    out = np.empty(6, np.float32)
    _thresholds(scores, 9, out)
    expected = [np.sort(row[~np.isnan(row)])[::-1][8] for row in scores]
    np.testing.assert_array_equal(out, expected)


def test_a_models_top_k_equals_the_served_ranking_without_a_seller_cap():
    """Parity: ``Recommender.recommend`` (the model contract: seen items and items not allowed removed) and the
    served ``ListRanker`` with no seller cap give the same items in the same order for a model with vectors."""
    from recpipe.models.als import ALSRecommender
    from recpipe.models.ranking import ListRanker, RankingRules

    rng = np.random.default_rng(11)
    matrix = sp.random(40, 60, density=0.15, format="csr", random_state=3, dtype=np.float32)
    matrix.data[:] = rng.integers(1, 5, len(matrix.data))
    model = ALSRecommender(factors=6, iterations=4, regularization=0.1, use_gpu=False, num_threads=1).fit(matrix)
    users = np.arange(40)
    for_sale = rng.random(60) < 0.8
    expected, _ = model.recommend(users, matrix, n=10, allowed_items=for_sale)
    user_vectors, item_vectors = model.embed(users, matrix)
    ranker = ListRanker(item_vectors, np.arange(60), RankingRules(10, None), for_sale)
    found, _ = ranker.rank(user_vectors, exclude=matrix[users])
    assert np.array_equal(found, expected)
