"""Merging ranked lists by score: how a fresh overlay joins the batch list, in the fresh job (overlay after
overlay) and in the reader (overlay into the list). numpy only: the reader imports it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RankedRows:
    """Ranked lists of many rows, flattened: row r holds ``ids[offsets[r]:offsets[r + 1]]`` (best first)."""

    offsets: np.ndarray
    ids: np.ndarray
    scores: np.ndarray

    @classmethod
    def one(cls, ids, scores) -> RankedRows:
        return cls(np.array([0, len(ids)]), np.asarray(ids, np.int64), np.asarray(scores, np.float32))


def merge_ranked(
    lists: list[RankedRows], length: int | None = None, drop: np.ndarray | None = None
) -> tuple[RankedRows, np.ndarray]:
    """Merge the same rows' lists by score: the rule that joins a fresh overlay with the batch list (the fresh job
    merges overlays with this too). Per row: every item once (at its best score), items in ``drop`` removed, best
    score first; ties go to the earlier list, then the earlier position; at most ``length``. Scores must compare
    across the lists (one model's dot products). Returns the merged rows and, per item, the list it came from."""
    rows = len(lists[0].offsets) - 1
    row_of = np.concatenate([np.repeat(np.arange(rows), np.diff(part.offsets)) for part in lists])
    ids = np.concatenate([part.ids for part in lists]).astype(np.int64)
    scores = np.concatenate([part.scores for part in lists]).astype(np.float32)
    origin = np.concatenate([np.full(len(part.ids), i) for i, part in enumerate(lists)])
    position = np.concatenate(
        [np.arange(len(part.ids)) - part.offsets[:-1].repeat(np.diff(part.offsets)) for part in lists]
    )
    keep = np.ones(len(ids), bool) if drop is None or not len(drop) else ~np.isin(ids, drop)
    candidates = np.flatnonzero(keep)
    order = candidates[np.lexsort((position[candidates], origin[candidates], -scores[candidates], row_of[candidates]))]
    # each (row, item) once, at its first place in that order
    rank = np.arange(len(order))
    by_pair = np.lexsort((rank, ids[order], row_of[order]))
    first = np.ones(len(by_pair), bool)
    first[1:] = (row_of[order][by_pair][1:] != row_of[order][by_pair][:-1]) | (
        ids[order][by_pair][1:] != ids[order][by_pair][:-1]
    )
    kept = order[np.sort(by_pair[first])]
    if length is not None:  # rows are contiguous in ``kept``: a place in the row is the distance to its start
        kept_rows = row_of[kept]
        place = np.arange(len(kept)) - np.searchsorted(kept_rows, kept_rows, side="left")
        kept = kept[place < length]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(row_of[kept], minlength=rows))]).astype(np.int64)
    return RankedRows(offsets, ids[kept], scores[kept]), origin[kept]
