"""Exact top-k for a batch of query vectors against candidate item vectors, with per-row exclusions, a per-seller
cap and an optional same-seller exclusion. Used on Spark executors (one Arrow batch at a time) and in tests.

Memory is bounded by the batch: scores are (batch x candidates), never users x items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recpipe.models.topk import top_k_rows


def rank_within_groups(groups: np.ndarray) -> np.ndarray:
    """For each row, how many earlier entries share the entry's value: [[5, 3, 5, 5]] -> [[0, 0, 1, 2]]."""
    n_rows, width = groups.shape
    if width == 0:
        return np.zeros_like(groups)
    order = np.argsort(groups, axis=1, kind="stable")  # equal values keep their left-to-right order
    sorted_groups = np.take_along_axis(groups, order, axis=1)
    starts = np.ones_like(sorted_groups, dtype=bool)
    starts[:, 1:] = sorted_groups[:, 1:] != sorted_groups[:, :-1]
    positions = np.broadcast_to(np.arange(width), (n_rows, width))
    group_start = np.maximum.accumulate(np.where(starts, positions, 0), axis=1)
    ranks_sorted = positions - group_start
    ranks = np.empty_like(ranks_sorted)
    np.put_along_axis(ranks, order, ranks_sorted, axis=1)
    return ranks


def _apply_seller_rules(
    ids: np.ndarray, scores: np.ndarray, sellers: np.ndarray, max_per_seller: int | None, query_sellers: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Drop entries over the per-seller cap or sold by the query's seller; kept entries stay in score order."""
    valid = ids >= 0
    item_sellers = np.where(valid, sellers[np.where(valid, ids, 0)], -1)
    keep = valid.copy()
    if query_sellers is not None:
        keep &= item_sellers != query_sellers[:, None]
    if max_per_seller is not None:
        # invalid or dropped entries get unique negative sellers so that they never count against a cap
        unique_fill = -(np.arange(ids.size).reshape(ids.shape) + 2)
        capped_sellers = np.where(keep, item_sellers, unique_fill)
        keep &= rank_within_groups(capped_sellers) < max_per_seller
    order = np.argsort(~keep, axis=1, kind="stable")  # kept entries first, in their original order
    ids = np.take_along_axis(np.where(keep, ids, -1), order, axis=1)
    scores = np.take_along_axis(np.where(keep, scores, -np.inf), order, axis=1)
    return ids, scores


SAMPLE_SHARE = 16  # the threshold of a row is estimated on 1 item in 16
SURVIVORS = 1.5  # ... set so that about 1.5 k scores per row pass it


def threshold_top_k(
    queries: np.ndarray, items: np.ndarray, k: int, exclude: sp.csr_matrix | None, block_rows: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of ``queries @ items.T`` per row, best first (ties by item position); excluded or missing
    entries become -1 / -inf.

    Per block of rows: one BLAS product into a reused buffer, a per-row score threshold read off a fixed sample
    of the items (so that about ``SURVIVORS * k`` scores pass), one vectorised comparison, and a sort of the
    survivors only. Selecting from a full row (argpartition, or a heap per row) costs several times the product
    itself when factors are few; this costs a fraction. A row where fewer than k scores pass is ranked in full,
    so the result is exact whatever the sample.
    """
    n_queries, n_items = len(queries), items.shape[0]
    ids = np.full((n_queries, k), -1, dtype=np.int64)
    vals = np.full((n_queries, k), -np.inf, dtype=np.float32)
    if n_items == 0 or k == 0 or n_queries == 0:
        return ids, vals
    rank = int(SURVIVORS * k / SAMPLE_SHARE) + 8  # the threshold is the rank-th best sampled score
    if n_items // SAMPLE_SHARE < 4 * rank:  # too few items for a sample to say much: rank every row in full
        return top_k_rows(queries @ items.T, k, exclude)
    sample = items[np.random.default_rng(0).choice(n_items, size=n_items // SAMPLE_SHARE, replace=False)]
    items_t = np.ascontiguousarray(items.T)
    buffer = np.empty((min(block_rows, n_queries), n_items), dtype=np.float32)
    passed = np.empty(buffer.shape, dtype=bool)
    exclude = exclude.tocsr() if exclude is not None and exclude.nnz else None
    for start in range(0, n_queries, block_rows):
        stop = min(n_queries, start + block_rows)
        rows, block = stop - start, queries[start:stop]
        scores = buffer[:rows]
        np.matmul(block, items_t, out=scores)
        eligible = np.full(rows, n_items)
        if exclude is not None:
            sub = exclude[start:stop]
            scores[np.repeat(np.arange(rows), np.diff(sub.indptr)), sub.indices] = -np.inf
            eligible -= np.diff(sub.indptr)
        sampled = block @ sample.T
        threshold = np.partition(sampled, sampled.shape[1] - rank, axis=1)[:, sampled.shape[1] - rank]
        np.greater_equal(scores, threshold[:, None], out=passed[:rows])
        flat = np.flatnonzero(passed[:rows])
        row, col = np.divmod(flat, n_items)
        counts = np.bincount(row, minlength=rows)
        # survivors into a (rows x widest) matrix, in item order within a row, then partial sort of that
        width = int(counts.max()) if len(flat) else 0
        position = np.arange(len(flat)) - (np.cumsum(counts) - counts)[row]
        cand_vals = np.full((rows, max(width, 1)), -np.inf, dtype=np.float32)
        cand_cols = np.zeros((rows, max(width, 1)), dtype=np.int64)
        cand_vals[row, position], cand_cols[row, position] = scores.ravel()[flat], col
        top_cols, top_vals = top_k_rows(cand_vals, k)
        found = top_cols >= 0
        ids[start:stop] = np.where(found, np.take_along_axis(cand_cols, np.maximum(top_cols, 0), axis=1), -1)
        vals[start:stop] = top_vals
        short = np.flatnonzero(found.sum(axis=1) < np.minimum(k, eligible))
        if len(short):  # the threshold was too high for these rows: rank them in full
            ids[start + short], vals[start + short] = top_k_rows(scores[short], k)
    return ids, vals


def top_k_filtered(
    queries: np.ndarray,
    items: np.ndarray,
    k: int,
    exclude: sp.csr_matrix | None = None,
    sellers: np.ndarray | None = None,
    max_per_seller: int | None = None,
    query_sellers: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` candidate positions and scores per query row, best first, -1 / -inf padded.

    Args:
        queries: (batch, f) float32 query vectors (users, or items for similar items).
        items: (n, f) float32 candidate vectors (already restricted to available items).
        k: list length.
        exclude: (batch, n) sparse matrix of positions never to return per row (seen items, own listings, itself).
        sellers: (n,) seller of each candidate; needed by the seller rules.
        max_per_seller: at most this many candidates from one seller per list.
        query_sellers: (batch,) exclude candidates sold by this seller (similar items of the same seller).

    A pool of ``2k`` is ranked first (``threshold_top_k``); the rare rows that the seller rules leave short are ranked
    again over every candidate, so the result is exactly the greedy top-k of the full ranking.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    items = np.ascontiguousarray(items, dtype=np.float32)
    seller_rules = sellers is not None and (max_per_seller is not None or query_sellers is not None)
    pool = min(items.shape[0], 2 * k if seller_rules else k)
    ids, vals = threshold_top_k(queries, items, pool, exclude)
    if not seller_rules:
        return ids[:, :k], vals[:, :k]
    ids, vals = _apply_seller_rules(ids, vals, sellers, max_per_seller, query_sellers)
    short = ((ids >= 0).sum(axis=1) < k) & (pool < items.shape[0])
    if short.any():
        rows = np.flatnonzero(short)
        scores = queries[rows] @ items.T
        full_ids, full_vals = top_k_rows(scores, items.shape[0], exclude[rows] if exclude is not None else None)
        full_ids, full_vals = _apply_seller_rules(
            full_ids, full_vals, sellers, max_per_seller, None if query_sellers is None else query_sellers[rows]
        )
        width = max(ids.shape[1], k)
        ids = np.pad(ids, ((0, 0), (0, width - ids.shape[1])), constant_values=-1)
        vals = np.pad(vals, ((0, 0), (0, width - vals.shape[1])), constant_values=-np.inf)
        ids[rows], vals[rows] = full_ids[:, :width], full_vals[:, :width]
    return ids[:, :k], vals[:, :k]
