import numpy as np
import scipy.sparse as sp

from recpipe.models.topk import top_k_rows


def test_top_k_matches_a_full_sort_with_exclusions():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, 300)).astype(np.float32)
    exclude = sp.random(50, 300, density=0.1, random_state=1, format="csr")
    ids, vals = top_k_rows(scores, 20, exclude)
    for row in range(50):
        masked = scores[row].copy()
        masked[exclude[row].indices] = -np.inf
        expected = np.argsort(-masked, kind="stable")[:20]
        np.testing.assert_array_equal(ids[row], expected)
        np.testing.assert_allclose(vals[row], masked[expected])


def test_short_rows_are_padded():
    ids, vals = top_k_rows(
        np.array([[0.5, 0.1, 0.9]], dtype=np.float32), 5, sp.csr_matrix(([1.0], ([0], [1])), shape=(1, 3))
    )
    assert ids.tolist() == [[2, 0, -1, -1, -1]]
    assert np.isneginf(vals[0, 2:]).all()


def test_equal_scores_are_ordered_by_item_index():
    ids, _ = top_k_rows(np.ones((1, 6), dtype=np.float32), 6)
    assert ids.tolist() == [[0, 1, 2, 3, 4, 5]]
