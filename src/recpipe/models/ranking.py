"""The served ranking, in one place: what `recpipe candidates`, the offline evaluation and the registered model
all call, so an offline figure is a figure of the lists that ship.

Rules: only items for sale that have a vector are candidates; per user, items seen through the configured event types and the
user's own listings are excluded; at most ``max_per_seller`` items of one seller; ``length`` items per list.
Scores are dot products of user and item vectors (ALS factors; a popularity model is a one-dimensional case).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recpipe.models.scoring import CandidateScorer


@dataclass(frozen=True)
class RankingRules:
    length: int
    max_per_seller: int | None


def has_vector(vectors: np.ndarray) -> np.ndarray:
    """Rows that are vectors: an all-zero row is none (ALS has no factors for a listing without history)."""
    return np.abs(vectors).sum(axis=1) > 0


class ListRanker:
    """Ranks users against the items for sale under the rules; results are positions into ``item_vectors``."""

    def __init__(
        self, item_vectors: np.ndarray, sellers: np.ndarray, rules: RankingRules, for_sale: np.ndarray | None = None
    ) -> None:
        self.n_items = len(item_vectors)
        self.for_sale = np.ones(self.n_items, dtype=bool) if for_sale is None else np.asarray(for_sale, dtype=bool)
        # a listing without a vector is never a candidate: the candidates job reads only stored vectors
        self.positions = np.flatnonzero(self.for_sale & has_vector(item_vectors))  # candidate position -> item position
        self.scorer = CandidateScorer(
            np.ascontiguousarray(item_vectors[self.positions], dtype=np.float32),
            rules.length,
            np.asarray(sellers, dtype=np.int64)[self.positions],
            rules.max_per_seller,
        )

    def rank(
        self, user_vectors: np.ndarray, exclude: sp.csr_matrix | None = None, query_sellers: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Item positions (-1 padded) and scores, best first, one row per user.

        ``exclude``: users x items (all item positions) of items never to list for that user.
        """
        every_item = len(self.positions) == self.n_items
        candidate_exclude = exclude if exclude is None or every_item else sp.csr_matrix(exclude)[:, self.positions]
        found, scores = self.scorer.top_k(user_vectors, candidate_exclude, query_sellers)
        if every_item:
            return found, scores
        return np.where(found >= 0, self.positions[np.maximum(found, 0)], -1), scores


def exclusion_matrix(user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """users x items indicator of the (user, item) pairs never to list."""
    data = np.ones(len(user_idx), dtype=np.float32)
    matrix = sp.csr_matrix((data, (np.asarray(user_idx), np.asarray(item_idx))), shape=(n_users, n_items))
    matrix.data[:] = 1.0
    return matrix
