"""Exact top-k of score rows with partial sorting (argpartition), excluding items per row."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def top_k_rows(scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest entries of each row, sorted descending.

    Args:
        scores: (rows, items) float array; modified in place where excluded.
        k: how many to keep; rows with fewer eligible items are padded with -1 / -inf.
        exclude: optional (rows, items) sparse matrix whose non-zeros are removed from each row.

    Among the kept items, equal scores are ordered by item index, so results are deterministic.
    """
    scores = np.array(scores, dtype=np.float32, copy=True)
    n_rows, n_items = scores.shape
    if exclude is not None and exclude.nnz:
        coo = exclude.tocoo()
        scores[coo.row, coo.col] = -np.inf
    k_eff = min(k, n_items)
    if k_eff < n_items:
        part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    else:
        part = np.tile(np.arange(n_items), (n_rows, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    # sort by score descending, then item index ascending
    order = np.lexsort((part, -part_scores), axis=1)
    ids = np.take_along_axis(part, order, axis=1).astype(np.int64)
    vals = np.take_along_axis(part_scores, order, axis=1)
    ids[~np.isfinite(vals)] = -1
    if k_eff < k:
        ids = np.pad(ids, ((0, 0), (0, k - k_eff)), constant_values=-1)
        vals = np.pad(vals, ((0, 0), (0, k - k_eff)), constant_values=-np.inf)
    return ids, vals


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (all-zero rows stay zero)."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def cosine_neighbours(vectors: np.ndarray, item_idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` nearest rows of ``vectors`` to rows ``item_idx`` by cosine similarity, each row itself excluded.

    A row without a vector (all zero) neither gets nor is a neighbour (-1 / -inf)."""
    unit = unit_rows(vectors)
    item_idx = np.asarray(item_idx, dtype=np.int64)
    scores = unit[item_idx] @ unit.T
    known = np.linalg.norm(vectors, axis=1) > 0
    scores[:, ~known] = -np.inf
    scores[~known[item_idx]] = -np.inf
    itself = sp.csr_matrix((np.ones(len(item_idx)), (np.arange(len(item_idx)), item_idx)), shape=scores.shape)
    return top_k_rows(scores, n, itself)
