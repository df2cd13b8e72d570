"""Merging ranked lists by score (fresh overlays into lists): known answers."""

import numpy as np

from recpipe.models.merge import RankedRows, merge_ranked


def test_rows_merge_by_score_once_per_item_without_dropped_items():
    batch = RankedRows(np.array([0, 3, 5, 5]), np.array([1, 2, 3, 7, 8]), np.array([5, 3, 1, 2, 1], np.float32))
    fresh = RankedRows(np.array([0, 2, 3, 4]), np.array([9, 2, 10, 11]), np.array([4, 3.5, 2, 0.5], np.float32))
    merged, origin = merge_ranked([batch, fresh], length=4, drop=np.array([3]))
    # row 0: item 2 kept once at its best score (3.5, fresh); 3 dropped. row 1: a tie goes to the earlier list.
    np.testing.assert_array_equal(merged.offsets, [0, 3, 6, 7])
    np.testing.assert_array_equal(merged.ids, [1, 9, 2, 7, 10, 8, 11])
    np.testing.assert_array_equal(merged.scores, np.array([5, 4, 3.5, 2, 2, 1, 0.5], np.float32))
    np.testing.assert_array_equal(origin, [0, 1, 1, 0, 1, 0, 1])


def test_length_cuts_each_row_and_empty_inputs_stay_empty():
    a = RankedRows(np.array([0, 3]), np.array([1, 2, 3]), np.array([3, 2, 1], np.float32))
    empty = RankedRows(np.array([0, 0]), np.zeros(0, np.int64), np.zeros(0, np.float32))
    merged, _ = merge_ranked([a, empty], length=2)
    np.testing.assert_array_equal(merged.ids, [1, 2])
    merged, origin = merge_ranked([empty, empty])
    assert merged.offsets.tolist() == [0, 0] and len(merged.ids) == 0 and len(origin) == 0


def test_the_fast_merge_of_ranked_lists_equals_the_general_sort():
    """Ranked input takes binary searches, other input one sort: the same rule, the same answer (ties, items in
    both lists, drops and cuts included)."""
    from recpipe.models.merge import _merge_by_sort

    rng = np.random.default_rng(3)
    for _ in range(50):
        rows, parts = (1 if rng.random() < 0.3 else int(rng.integers(1, 30))), []  # one row: the reader's path
        for _ in range(int(rng.integers(1, 4))):
            lengths = rng.integers(0, 8, rows)
            ids, scores = [], []
            for n in lengths:
                ids.append(rng.choice(40, size=n, replace=False))  # unique within a row; shared across lists
                scores.append(-np.sort(-rng.integers(0, 5, n).astype(np.float32)))  # many ties
            parts.append(
                RankedRows(np.concatenate([[0], np.cumsum(lengths)]), np.concatenate(ids), np.concatenate(scores))
            )
        length = int(rng.integers(1, 10))
        drop = rng.choice(40, size=5, replace=False)
        fast, fast_origin = merge_ranked(parts, length, drop)
        slow, slow_origin = _merge_by_sort(parts, length, drop)
        for a, b in ((fast.offsets, slow.offsets), (fast.ids, slow.ids), (fast.scores, slow.scores)):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(fast_origin, slow_origin)
