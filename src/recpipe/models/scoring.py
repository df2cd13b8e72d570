"""Exact top-k for a batch of query vectors against candidate item vectors, with per-row exclusions, a per-seller
cap and an optional same-seller exclusion. Used on Spark executors (one Arrow batch at a time) and in tests.

Memory is bounded by the batch: scores are (block x candidates), never users x items.

Per block of rows: one BLAS product into a reused buffer, excluded entries set to -inf, and a per-row score
threshold read off a fixed sample of the items (so that about ``SURVIVORS * k`` scores pass it). A compiled
kernel (numba) then takes each row in one pass: it collects the scores at or above the threshold, sorts only
those, and walks them best first applying the seller rules. Selecting from a full row (argpartition, a heap per
row, or numpy's compare-then-nonzero) costs as much as the product itself when factors are few; this costs a
fraction of it. A row that the walk leaves short is walked again over all its items, so the result is exactly the
greedy top-k of the full ranking, whatever the sample.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

SAMPLE_SHARE = 16  # the threshold of a row is estimated on 1 item in 16
SURVIVORS = 1.5  # ... set so that about 1.5 k scores per row (plus a margin) pass it
BLOCK_ROWS = 256  # rows per BLAS product: a 256 x items float32 buffer, reused
NO_THRESHOLD = np.float32(-np.inf)  # float32 like the scores, so the scan compares without conversions


@numba.njit(cache=True, nogil=True)
def _walk_rows(scores, thresholds, k, item_sellers, max_per_seller, query_sellers, out_ids, out_vals):
    """For each row: the best entries at or above its threshold, sorted (ties by item position), kept greedily
    under the seller rules until ``k``; a row left short is walked again over every entry. -inf never counts."""
    rows, n = scores.shape
    cand = np.empty(n, np.int64)
    cand_vals = np.empty(n, np.float32)
    per_seller = np.zeros(item_sellers.max() + 1 if n else 1, np.int64)
    for r in range(rows):
        row = scores[r]
        threshold = thresholds[r]
        while True:
            c = 0
            for j in range(n):
                v = row[j]
                if v >= threshold and v > NO_THRESHOLD:
                    cand[c] = j
                    cand_vals[c] = v
                    c += 1
            order = np.argsort(-cand_vals[:c], kind="mergesort")  # stable: equal scores keep item order
            got = 0
            walked = 0
            for t in range(c):
                walked = t + 1
                j = cand[order[t]]
                seller = item_sellers[j]
                if seller == query_sellers[r]:
                    continue
                if max_per_seller > 0:
                    if per_seller[seller] >= max_per_seller:
                        continue
                    per_seller[seller] += 1
                out_ids[r, got] = j
                out_vals[r, got] = cand_vals[order[t]]
                got += 1
                if got == k:
                    break
            for t in range(walked):
                per_seller[item_sellers[cand[order[t]]]] = 0
            if got == k or threshold == NO_THRESHOLD:
                break
            threshold = NO_THRESHOLD  # the threshold was too high for this row: walk all of it
        for t in range(got, k):
            out_ids[r, t] = -1
            out_vals[r, t] = -np.inf


class CandidateScorer:
    """Exact top-k against a fixed set of candidate items, for one batch of queries after another.

    What depends only on the items (their transpose, dense seller codes, the threshold sample, the score buffer)
    is prepared once, so a Spark task pays for it once per partition rather than once per Arrow batch.

    Args:
        items: (n, f) float32 candidate vectors (already restricted to available items).
        k: list length.
        sellers: (n,) seller of each candidate; needed by the seller rules.
        max_per_seller: at most this many candidates from one seller per list.
        block_rows: queries per BLAS product (the buffer is block_rows x n float32).
    """

    def __init__(self, items: np.ndarray, k: int, sellers: np.ndarray | None = None, max_per_seller: int | None = None,
                 block_rows: int = BLOCK_ROWS) -> None:
        self.items = np.ascontiguousarray(items, dtype=np.float32)
        self.k, self.block_rows = k, block_rows
        n_items = self.items.shape[0]
        self.cap = max_per_seller if sellers is not None and max_per_seller else 0
        if sellers is None:
            self.distinct_sellers, self.item_sellers = np.zeros(0, np.int64), np.zeros(n_items, np.int64)
        else:
            self.distinct_sellers, codes = np.unique(np.asarray(sellers), return_inverse=True)
            self.item_sellers = codes.astype(np.int64)
        # the threshold is the rank-th best sampled score; a row the seller rules leave short is walked again in full
        self.rank = int(SURVIVORS * min(k, n_items) / SAMPLE_SHARE) + 8
        self.sample = None
        if n_items // SAMPLE_SHARE >= 4 * self.rank:  # else too few items for a sample to say much: walk rows in full
            self.sample = self.items[np.random.default_rng(0).choice(n_items, size=n_items // SAMPLE_SHARE, replace=False)]
        self.items_t = np.ascontiguousarray(self.items.T)
        self._buffer = np.empty((0, n_items), dtype=np.float32)

    def _query_seller_codes(self, query_sellers: np.ndarray | None, n_queries: int) -> np.ndarray:
        """The queries' sellers as item seller codes (-1 when the seller sells nothing here, or no rule)."""
        if query_sellers is None or not len(self.distinct_sellers):
            return np.full(n_queries, -1, np.int64)
        at = np.clip(np.searchsorted(self.distinct_sellers, query_sellers), 0, len(self.distinct_sellers) - 1)
        return np.where(self.distinct_sellers[at] == query_sellers, at, -1).astype(np.int64)

    def top_k(self, queries: np.ndarray, exclude: sp.csr_matrix | None = None,
              query_sellers: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
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
        if len(self._buffer) < min(self.block_rows, n_queries):
            self._buffer = np.empty((min(self.block_rows, n_queries), n_items), dtype=np.float32)
        exclude = exclude.tocsr() if exclude is not None and exclude.nnz else None
        for start in range(0, n_queries, self.block_rows):
            stop = min(n_queries, start + self.block_rows)
            rows, block = stop - start, queries[start:stop]
            scores = self._buffer[:rows]
            np.matmul(block, self.items_t, out=scores)
            if exclude is not None:
                sub = exclude[start:stop]
                scores[np.repeat(np.arange(rows), np.diff(sub.indptr)), sub.indices] = -np.inf
            if self.sample is None:
                thresholds = np.full(rows, -np.inf, dtype=np.float32)
            else:
                sampled = block @ self.sample.T
                thresholds = np.partition(sampled, sampled.shape[1] - self.rank, axis=1)[:, sampled.shape[1] - self.rank]
            _walk_rows(scores, thresholds, k, self.item_sellers, self.cap, row_sellers[start:stop], ids[start:stop], vals[start:stop])
        return ids, vals
