"""Exact top-k for a batch of query vectors against candidate item vectors, with per-row exclusions, a per-seller
cap and an optional same-seller exclusion. Used on Spark executors (one Arrow batch at a time) and in tests.

Memory is bounded by the batch: scores are computed one (block x tile) at a time, never users x items (the first
tile, the sample, is 1/16 of the items wide).

The scorer holds the items in a fixed random order. Per block of rows it first scores the head of that order (1
item in ``SAMPLE_SHARE``, a random sample) and reads off each row a score threshold that about ``SURVIVORS * k``
scores of the whole catalog should pass. The rest is scored one tile at a time: a BLAS product into a buffer small
enough to stay in the core's L2 cache, and a compiled pass (numba) that compares 64 scores at a time into a bit
mask and keeps only the scores that pass, as sort keys. Writing a whole block's scores to memory and reading them
back costs more than the product itself when factors are few; this way they never leave the cache. Per row the
survivors are then sorted (numpy's vectorised sort) and walked best first under the exclusions and the seller
rules. A row left short (the exclusions or the seller cap took too many survivors, or the sample misjudged it) is
scored again over all items and walked in full, so the result is exactly the greedy top-k of the full ranking.
"""

from __future__ import annotations

import itertools

import numba
import numpy as np
import scipy.sparse as sp
from numba.cpython.unsafe.numbers import trailing_zeros  # tzcnt: numba has no public spelling of it

SAMPLE_SHARE = 16  # the threshold of a row is estimated on 1 item in 16
SURVIVORS = 1.5  # ... set so that about 1.5 k scores per row (plus a margin) pass it
SURVIVOR_ROOM = 4  # room per row for this many times the expected survivors; a row with more is walked in full
BLOCK_ROWS = 384  # rows per block
TILE_ITEMS = 384  # items per product: a 384 x 384 float32 tile (576 KiB) stays in L2 between product and scan
FULL_ROWS = 32  # rows scored over the whole catalog at a time, when the survivors could not settle them
CHUNK = 64  # scores compared per vectorised step of the scan: one bit each in a uint64 mask
UNUSED = np.int64(np.iinfo(np.int64).max)  # sort key of an unused slot: after every real one


@numba.njit(cache=True, nogil=True, inline="always")
def _sort_key(score_bits, position):
    """An int64 that sorts best score first, equal scores by ``position`` (< 2**32): the float's bits mapped to an
    integer of the same order (negative floats get their magnitude bits flipped; -0.0 counts as 0.0), negated,
    above the position."""
    bits = np.int64(score_bits)
    if bits == -2147483648:  # -0.0
        bits = 0
    return (~(bits ^ ((bits >> 63) & 0x7FFFFFFF)) << 32) | position


@numba.njit(cache=True, nogil=True, inline="always")
def _score_bits(key):
    """The float32 bits of the score in a sort key (the mapping is its own inverse)."""
    ordered = ~(key >> 32)
    return np.int32(ordered ^ ((ordered >> 63) & 0x7FFFFFFF))


@numba.njit(cache=True, nogil=True, inline="always")
def _push(heap, v):
    """Replace the root of a float min-heap with ``v`` (greater than it) and sift down."""
    at = 0
    while True:
        child = 2 * at + 1
        if child >= len(heap):
            break
        if child + 1 < len(heap) and heap[child + 1] < heap[child]:
            child += 1
        if heap[child] >= v:
            break
        heap[at] = heap[child]
        at = child
    heap[at] = v


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _thresholds(sample_scores, rank, out):
    """Each row's ``rank``-th best score (NaN never counts; -inf when fewer than ``rank`` others): a min-heap of
    the best ``rank`` so far, checked 64 scores at a time like the tiles, so most scores cost a vector compare."""
    rows, width = sample_scores.shape
    whole = width - width % CHUNK
    heap = np.empty(rank, np.float32)
    for r in range(rows):
        row = sample_scores[r]
        heap[:] = -np.inf
        for base in range(0, whole, CHUNK):
            chunk = row[base : base + CHUNK]
            root = heap[0]
            hits = np.uint64(0)
            for j in range(CHUNK):
                hits |= np.uint64(chunk[j] > root) << np.uint64(j)
            while hits:
                v = chunk[trailing_zeros(hits)]
                hits &= hits - np.uint64(1)
                if v > heap[0]:
                    _push(heap, v)
        for v in row[whole:]:
            if v > heap[0]:
                _push(heap, v)
        out[r] = heap[0]


@numba.njit(cache=True, nogil=True, error_model="numpy")  # numpy's error model lets the mask loop vectorise
def _collect_tile(tile, positions, thresholds, survivor_keys, counts):
    """Append to each row's survivors the sort keys of the tile's scores at or above the row's threshold
    (``positions``: the item position of each tile column). ``counts`` keeps counting past the room, so a row that
    overflowed is known."""
    rows, width = tile.shape
    room = survivor_keys.shape[1]
    whole = width - width % CHUNK
    for r in range(rows):
        row = tile[r]
        row_bits = row.view(np.int32)
        threshold = thresholds[r]
        c = counts[r]
        for base in range(0, width, CHUNK):
            hits = np.uint64(0)
            if base < whole:
                chunk = row[base : base + CHUNK]
                for j in range(CHUNK):  # fixed length, branch-free: vector compares into a bit mask
                    hits |= np.uint64(chunk[j] >= threshold) << np.uint64(j)
            else:
                for j in range(width - base):
                    hits |= np.uint64(row[base + j] >= threshold) << np.uint64(j)
            while hits:  # one step per survivor, not per score
                j = base + trailing_zeros(hits)
                hits &= hits - np.uint64(1)
                if c < room:
                    survivor_keys[r, c] = _sort_key(row_bits[j], positions[j])
                c += 1
        counts[r] = c


@numba.njit(cache=True, nogil=True)
def _walk(sorted_keys, k, excluded, item_sellers, max_per_seller, query_seller, per_seller, out_ids, out_vals):
    """Walk sort keys best first and keep their items greedily under the exclusions (sorted positions) and the
    seller rules until ``k``. Returns how many were kept; ``per_seller`` is left zero."""
    out_bits = out_vals.view(np.int32)
    got = 0
    walked = 0
    for t in range(len(sorted_keys)):
        if sorted_keys[t] == UNUSED:
            break
        walked = t + 1
        j = sorted_keys[t] & 0xFFFFFFFF
        if len(excluded):
            found = np.searchsorted(excluded, j)
            if found < len(excluded) and excluded[found] == j:
                continue
        seller = item_sellers[j]
        if seller == query_seller:
            continue
        if max_per_seller > 0:
            if per_seller[seller] >= max_per_seller:
                continue
            per_seller[seller] += 1
        out_ids[got] = j
        out_bits[got] = _score_bits(sorted_keys[t])
        got += 1
        if got == k:
            break
    for t in range(walked):
        per_seller[item_sellers[sorted_keys[t] & 0xFFFFFFFF]] = 0
    return got


@numba.njit(cache=True, nogil=True)
def _walk_survivors(
    sorted_keys,
    counts,
    k,
    excl_indptr,
    excl_indices,
    item_sellers,
    max_per_seller,
    query_sellers,
    per_seller,
    out_ids,
    out_vals,
):
    """Top-k of each row from its sorted survivors; False for rows whose survivors overflowed or ran out."""
    rows = len(counts)
    complete = np.zeros(rows, np.bool_)
    for r in range(rows):
        if counts[r] > sorted_keys.shape[1]:
            continue
        excluded = excl_indices[excl_indptr[r] : excl_indptr[r + 1]]
        got = _walk(
            sorted_keys[r, : counts[r]],
            k,
            excluded,
            item_sellers,
            max_per_seller,
            query_sellers[r],
            per_seller,
            out_ids[r],
            out_vals[r],
        )
        complete[r] = got == k
    return complete


@numba.njit(cache=True, nogil=True)
def _walk_full_rows(
    scores, k, excl_indptr, excl_indices, item_sellers, max_per_seller, query_sellers, per_seller, out_ids, out_vals
):
    """Top-k of each row over all its scores (columns are item positions; -inf and NaN never count), -1 / -inf
    padded. The slow, general path: rows the survivors could not settle, and catalogs too small to sample."""
    rows, n = scores.shape
    keys = np.empty(n, np.int64)
    for r in range(rows):
        row = scores[r]
        row_bits = row.view(np.int32)
        for j in range(n):
            keys[j] = _sort_key(row_bits[j], j) if row[j] > -np.inf else UNUSED
        keys.sort()
        excluded = excl_indices[excl_indptr[r] : excl_indptr[r + 1]]
        got = _walk(
            keys, k, excluded, item_sellers, max_per_seller, query_sellers[r], per_seller, out_ids[r], out_vals[r]
        )
        out_ids[r, got:] = -1
        out_vals[r, got:] = -np.inf


class CandidateScorer:
    """Exact top-k against a fixed set of candidate items, for one batch of queries after another.

    What depends only on the items (the shuffled tiles, dense seller codes, buffers) is prepared once,
    so a Spark task pays for it once per partition rather than once per Arrow batch.

    Args:
        items: (n, f) float32 candidate vectors (already restricted to available items).
        k: list length.
        sellers: (n,) seller of each candidate; needed by the seller rules.
        max_per_seller: at most this many candidates from one seller per list.
        block_rows: queries per block (the tile buffer is block_rows x tile_items float32).
        tile_items: items per BLAS product.
    """

    def __init__(
        self,
        items: np.ndarray,
        k: int,
        sellers: np.ndarray | None = None,
        max_per_seller: int | None = None,
        block_rows: int = BLOCK_ROWS,
        tile_items: int = TILE_ITEMS,
    ) -> None:
        self.items = np.ascontiguousarray(items, dtype=np.float32)
        self.k, self.block_rows = k, block_rows
        n_items = self.items.shape[0]
        self.cap = max_per_seller if sellers is not None and max_per_seller else 0
        if sellers is None:
            self.distinct_sellers, self.item_sellers = np.zeros(0, np.int64), np.zeros(n_items, np.int64)
        else:
            self.distinct_sellers, codes = np.unique(np.asarray(sellers), return_inverse=True)
            self.item_sellers = codes.astype(np.int64)
        self._per_seller = np.zeros(len(self.distinct_sellers) + 1, np.int64)
        # the threshold is the rank-th best score of the sample; a row the sample misjudges is walked again in full
        self.rank = int(SURVIVORS * min(k, n_items) / SAMPLE_SHARE) + 8
        self.sample_size = n_items // SAMPLE_SHARE
        self.sampled = (
            self.sample_size >= 4 * self.rank
        )  # else too few items for a sample to say much: walk rows in full
        self.tiles: list[tuple[np.ndarray, np.ndarray]] = []  # (item positions, (f, width) vectors) per product
        if self.sampled:
            order = np.random.default_rng(0).permutation(n_items)
            shuffled = self.items[order]
            bounds = [0, *range(self.sample_size, n_items, tile_items), n_items]  # the sample is the first tile
            # (f, width) C-contiguous tiles: BLAS packs them faster than transposed views of the items
            self.tiles = [(order[a:b], np.ascontiguousarray(shuffled[a:b].T)) for a, b in itertools.pairwise(bounds)]
        self._survivor_keys = np.empty((block_rows, SURVIVOR_ROOM * self.rank * SAMPLE_SHARE), np.int64)
        self._tile_buffers = {
            width: np.empty((block_rows, width), np.float32) for width in {t.shape[1] for _, t in self.tiles}
        }

    def _query_seller_codes(self, query_sellers: np.ndarray | None, n_queries: int) -> np.ndarray:
        """The queries' sellers as item seller codes (-1 when the seller sells nothing here, or no rule)."""
        if query_sellers is None or not len(self.distinct_sellers):
            return np.full(n_queries, -1, np.int64)
        at = np.clip(np.searchsorted(self.distinct_sellers, query_sellers), 0, len(self.distinct_sellers) - 1)
        return np.where(self.distinct_sellers[at] == query_sellers, at, -1).astype(np.int64)

    def top_k(
        self, queries: np.ndarray, exclude: sp.csr_matrix | None = None, query_sellers: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` candidate positions and scores per query row, best first, -1 / -inf padded.

        Args:
            queries: (batch, f) float32 query vectors (users, or items for similar items).
            exclude: (batch, n) sparse matrix of positions never to return per row (seen items, own listings, itself).
            query_sellers: (batch,) exclude candidates sold by this seller (similar items of the same seller).
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        n_queries, n_items, k = len(queries), self.items.shape[0], self.k
        ids = np.full((n_queries, k), -1, dtype=np.int64)
        vals = np.full((n_queries, k), -np.inf, dtype=np.float32)
        if n_items == 0 or k == 0 or n_queries == 0:
            return ids, vals
        row_sellers = self._query_seller_codes(query_sellers, n_queries)
        indptr, indices = _sorted_exclusions(exclude, n_queries)
        for start in range(0, n_queries, self.block_rows):
            stop = min(n_queries, start + self.block_rows)
            block, block_excl = queries[start:stop], indptr[start : stop + 1] - indptr[start]
            block_indices = indices[indptr[start] : indptr[stop]]
            complete = np.zeros(stop - start, np.bool_)
            if self.sampled:
                complete = self._top_k_of_survivors(
                    block, block_excl, block_indices, row_sellers[start:stop], ids[start:stop], vals[start:stop]
                )
            short = np.flatnonzero(~complete)
            for part in range(0, len(short), FULL_ROWS):
                rows = short[part : part + FULL_ROWS]
                rows_excl = np.concatenate([[0], np.cumsum(np.diff(block_excl)[rows])])
                rows_indices = np.concatenate([block_indices[block_excl[r] : block_excl[r + 1]] for r in rows])
                rows_ids, rows_vals = ids[start + rows], vals[start + rows]
                _walk_full_rows(
                    block[rows] @ self.items.T,
                    k,
                    rows_excl,
                    rows_indices,
                    self.item_sellers,
                    self.cap,
                    row_sellers[start + rows],
                    self._per_seller,
                    rows_ids,
                    rows_vals,
                )
                ids[start + rows], vals[start + rows] = rows_ids, rows_vals
        return ids, vals

    def _top_k_of_survivors(self, block, block_excl, block_indices, row_sellers, out_ids, out_vals) -> np.ndarray:
        """Fill the rows of ``block`` whose survivors of the sampled threshold hold their top-k; True for those."""
        rows = len(block)
        counts = np.zeros(rows, np.int64)
        thresholds = np.empty(rows, np.float32)
        for tile_number, (positions, tile) in enumerate(self.tiles):
            scores = self._tile_buffers[tile.shape[1]][:rows]
            np.matmul(block, tile, out=scores)
            if tile_number == 0:  # the sample; a -inf score never survives
                _thresholds(scores, self.rank, thresholds)
                np.maximum(thresholds, np.finfo(np.float32).min, out=thresholds)
            _collect_tile(scores, positions, thresholds, self._survivor_keys, counts)
        width = min(int(counts.max()), self._survivor_keys.shape[1])
        keys = self._survivor_keys[:rows, :width]
        keys[np.arange(width) >= counts[:, None]] = UNUSED
        keys.sort(axis=1)  # numpy's vectorised sort: several times faster than numba's here
        return _walk_survivors(
            keys,
            counts,
            self.k,
            block_excl,
            block_indices,
            self.item_sellers,
            self.cap,
            row_sellers,
            self._per_seller,
            out_ids,
            out_vals,
        )


def _sorted_exclusions(exclude: sp.spmatrix | None, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """Row pointers and per-row sorted, distinct positions of ``exclude`` (the input is left as it is)."""
    if exclude is None or not exclude.nnz:
        return np.zeros(n_queries + 1, np.int64), np.zeros(0, np.int64)
    exclude = sp.csr_matrix(exclude, copy=True)
    exclude.sum_duplicates()  # sorts each row's positions too
    return exclude.indptr.astype(np.int64), exclude.indices.astype(np.int64)
