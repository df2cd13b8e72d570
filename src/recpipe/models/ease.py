"""EASE (Steck 2019): a closed-form item-item model, for catalogs small enough for an items x items matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recpipe.models.base import Recommender
from recpipe.models.matrix import binarize

MAX_ITEMS = 40_000  # items x items float32 Gram matrix: 6.4 GB at this size


class EASERecommender(Recommender):
    """B = I - P / diag(P), P = (X'X + lambda I)^-1, zero diagonal; scores = X B."""

    name = "ease"
    ARRAYS = ("weights",)

    def __init__(self, l2: float = 500.0, binary: bool = True):
        self.params: dict[str, Any] = dict(l2=l2, binary=binary)
        self.weights: np.ndarray | None = None

    def fit(self, user_items: sp.csr_matrix) -> EASERecommender:
        if user_items.shape[1] > MAX_ITEMS:
            raise ValueError(
                f"EASE needs an items x items matrix; {user_items.shape[1]:,} items is above {MAX_ITEMS:,}"
            )
        x = binarize(user_items) if self.params["binary"] else user_items
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.params["l2"]
        precision = np.linalg.inv(gram)
        weights = -precision / np.diag(precision)
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights = weights.astype(np.float32)
        return self

    def score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        x = user_items[user_idx]
        if self.params["binary"]:
            x = binarize(x)
        return np.asarray(x @ self.weights)

    def embed(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """A user is their (binarised) row, an item its column of the item-item weights: items-wide vectors."""
        x = user_items[user_idx]
        if self.params["binary"]:
            x = binarize(x)
        return np.asarray(x.todense(), dtype=np.float32), np.ascontiguousarray(self.weights.T, dtype=np.float32)
