"""Popularity baselines: global (all training interactions) and recent (a trailing window)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recpipe.models.base import Recommender
from recpipe.models.matrix import binarize


class PopularityRecommender(Recommender):
    """Every user gets the items with the most distinct users, seen items removed."""

    name = "popularity"
    ARRAYS = ("item_scores",)

    def __init__(self) -> None:
        self.item_scores: np.ndarray | None = None

    def fit(self, user_items: sp.csr_matrix) -> PopularityRecommender:
        self.item_scores = np.asarray(binarize(user_items).sum(axis=0)).ravel().astype(np.float32)
        return self

    def score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(user_idx), len(self.item_scores)))

    def embed(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        return np.ones((len(user_idx), 1), dtype=np.float32), self.item_scores[:, None]
