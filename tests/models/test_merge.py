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
