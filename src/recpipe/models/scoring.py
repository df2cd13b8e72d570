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


def fused_top_k(queries: np.ndarray, items: np.ndarray, k: int, exclude: sp.csr_matrix | None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of ``queries @ items.T`` with ``implicit``'s fused kernel: blocked BLAS products and a heap per row,
    so the (batch x items) score matrix is never materialised. Excluded or missing entries become -1 / -inf."""
    from implicit.cpu.topk import topk

    if items.shape[0] == 0 or k == 0:
        return np.full((len(queries), k), -1, dtype=np.int64), np.full((len(queries), k), -np.inf, dtype=np.float32)
    ids, vals = topk(items, queries, k, filter_query_items=exclude.tocsr() if exclude is not None and exclude.nnz else None, num_threads=1)
    ids, vals = ids.astype(np.int64), vals.astype(np.float32)
    missing = vals <= np.finfo(np.float32).min  # the kernel marks filtered slots with -FLT_MAX
    ids[missing], vals[missing] = -1, -np.inf
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

    A pool of ``2k`` is ranked first (fused kernel); the rare rows that the seller rules leave short are ranked
    again over every candidate, so the result is exactly the greedy top-k of the full ranking.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    items = np.ascontiguousarray(items, dtype=np.float32)
    seller_rules = sellers is not None and (max_per_seller is not None or query_sellers is not None)
    pool = min(items.shape[0], 2 * k if seller_rules else k)
    ids, vals = fused_top_k(queries, items, pool, exclude)
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
