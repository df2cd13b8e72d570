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


ID_BITS = 40  # the fast path packs (row, item id) into one int64: ids below 2**40, rows below 2**23
ROW_LIMIT = 1 << 23


def merge_ranked(
    lists: list[RankedRows], length: int | None = None, drop: np.ndarray | None = None
) -> tuple[RankedRows, np.ndarray]:
    """Merge the same rows' lists by score: the rule that joins a fresh overlay with the batch list (the fresh job
    merges overlays with this too). Per row: every item once (at its best score), items in ``drop`` removed, best
    score first; ties go to the earlier list, then the earlier position; at most ``length``. Scores must compare
    across the lists (one model's dot products). Returns the merged rows and, per item, the list it came from.

    Ranked input (each row best first) merges list by list with binary searches, then drops repeated items (rare:
    found with one sort); anything else takes one sort of every entry; one short row (a reader's request) is sorted
    in Python, where numpy's per-call cost would dominate. All give the same answer (tested)."""
    rows = len(lists[0].offsets) - 1
    if rows == 1 and sum(len(part.ids) for part in lists) <= SHORT_ROW:
        short = _merge_short_row(lists, length, drop)
        if short is not None:
            return short
    flats = [_Flat.of(part, origin) for origin, part in enumerate(lists)] if rows < ROW_LIMIT else []
    if not flats or not all(flat.ranked() for flat in flats):
        return _merge_by_sort(lists, length, drop)
    merged = flats[0]
    for flat in flats[1:]:
        merged = merged.merge(flat)
    keep = _first_of_each_item(merged.row, merged.ids)
    if drop is not None and len(drop):
        drop = np.sort(np.asarray(drop, np.int64))
        at = np.clip(np.searchsorted(drop, merged.ids), 0, len(drop) - 1)
        keep &= drop[at] != merged.ids
    kept_rows = merged.row[keep]
    counts = np.bincount(kept_rows, minlength=rows)
    if length is not None:
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        place = np.arange(len(kept_rows)) - starts[kept_rows]
        keep[np.flatnonzero(keep)[place >= length]] = False
        counts = np.minimum(counts, length)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return RankedRows(offsets, merged.ids[keep], merged.scores[keep]), merged.origin[keep]


SHORT_ROW = 512  # entries of one row below which sorting Python tuples beats numpy's fixed cost per call


def _merge_short_row(
    lists: list[RankedRows], length: int | None, drop: np.ndarray | None
) -> tuple[RankedRows, np.ndarray] | None:
    """``merge_ranked`` of a single row: (-score, list, position) tuples sorted, first place of each item kept.
    None when a score is not finite (NaN and infinities take the numpy rule)."""
    dropped = set(np.asarray(drop).tolist()) if drop is not None else set()
    entries = []
    for origin, part in enumerate(lists):
        scores = np.asarray(part.scores, np.float32)
        if not np.isfinite(scores).all():
            return None
        for position, (item, score) in enumerate(zip(np.asarray(part.ids).tolist(), scores.tolist())):
            entries.append((-score, origin, position, item, score))
    entries.sort()
    ids: list[int] = []
    kept_scores: list[float] = []
    origins: list[int] = []
    seen: set[int] = set()
    for _, origin, _, item, score in entries:
        if item in seen or item in dropped:
            continue
        seen.add(item)
        ids.append(item)
        kept_scores.append(score)
        origins.append(origin)
        if length is not None and len(ids) == length:
            break
    merged = RankedRows(np.array([0, len(ids)]), np.array(ids, np.int64), np.array(kept_scores, np.float32))
    return merged, np.array(origins, np.int64)


def _first_of_each_item(rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """True at the first place of each (row, item) in merged order; later places of the same item are False."""
    pairs = (rows.astype(np.int64) << ID_BITS) | ids
    ordered = np.sort(pairs)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    keep = np.ones(len(pairs), bool)
    if len(repeated):  # rare: an item in two lists of a row
        at = np.clip(np.searchsorted(repeated, pairs), 0, len(repeated) - 1)
        involved = np.flatnonzero(repeated[at] == pairs)
        _, first = np.unique(pairs[involved], return_index=True)
        keep[involved] = False
        keep[involved[first]] = True
    return keep


def _order_key(rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """An int64 that sorts by row, then best score first (-0.0 as 0.0); needs rows below 2**30."""
    bits = np.asarray(scores, np.float32).view(np.int32).astype(np.int64)
    bits[bits == -(1 << 31)] = 0
    ordered = bits ^ ((bits >> 63) & 0x7FFFFFFF)  # float order as integers
    return (rows.astype(np.int64) << 33) + ((1 << 31) - ordered)


@dataclass(frozen=True)
class _Flat:
    """Entries in merged order: row, id, score, the list each came from, and the order key."""

    row: np.ndarray
    ids: np.ndarray
    scores: np.ndarray
    origin: np.ndarray
    key: np.ndarray

    @classmethod
    def of(cls, part: RankedRows, origin: int) -> _Flat:
        row = np.repeat(np.arange(len(part.offsets) - 1), np.diff(part.offsets))
        scores = np.asarray(part.scores, np.float32)
        return cls(row, np.asarray(part.ids, np.int64), scores, np.full(len(row), origin), _order_key(row, scores))

    def ranked(self) -> bool:
        """Every row best first, ids in [0, 2**40): what the binary searches need."""
        return not len(self.ids) or bool(
            self.ids.min() >= 0 and self.ids.max() < (1 << ID_BITS) and np.all(np.diff(self.key) >= 0)
        )

    def merge(self, later: _Flat) -> _Flat:
        """Both in one order, ties to ``self``: each entry's place is its own index plus the entries of the other
        list that go before it."""
        mine = np.arange(len(self.key)) + np.searchsorted(later.key, self.key, side="left")
        theirs = np.arange(len(later.key)) + np.searchsorted(self.key, later.key, side="right")
        size = len(mine) + len(theirs)

        def join(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            out = np.empty(size, a.dtype)
            out[mine], out[theirs] = a, b
            return out

        return _Flat(
            join(self.row, later.row),
            join(self.ids, later.ids),
            join(self.scores, later.scores),
            join(self.origin, later.origin),
            join(self.key, later.key),
        )


def _merge_by_sort(
    lists: list[RankedRows], length: int | None = None, drop: np.ndarray | None = None
) -> tuple[RankedRows, np.ndarray]:
    """``merge_ranked`` for any input: one sort of every entry by (row, score, list, position)."""
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
