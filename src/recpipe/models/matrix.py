"""Sparse user x item matrices from interaction rows (Arrow or pandas columns, no per-row Python)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def to_csr(user_idx: np.ndarray, item_idx: np.ndarray, values: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """A float32 CSR matrix; duplicate (user, item) pairs are summed."""
    matrix = sp.csr_matrix(
        (
            np.asarray(values, dtype=np.float32),
            (np.asarray(user_idx, dtype=np.int64), np.asarray(item_idx, dtype=np.int64)),
        ),
        shape=(n_users, n_items),
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


def users_per_item(user_items: sp.spmatrix) -> np.ndarray:
    """How many users have a stored value for each item (its history)."""
    return np.diff(sp.csc_matrix(user_items).indptr)


def binarize(matrix: sp.csr_matrix) -> sp.csr_matrix:
    out = matrix.copy()
    out.data = np.ones_like(out.data)
    return out
