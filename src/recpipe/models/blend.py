"""Weighted sums of models' scores that stay one dot product: user and listing vectors side by side.

score(u, i) = sum_m w_m <u_m, v_m,i> = <[w_1 u_1, w_2 u_2, ...], [v_1,i, v_2,i, ...]>, so a blend is served,
scored and stored exactly like one model. Used to add ALS, which scores listings a user has already viewed or
saved the highest (they come back to buy them), to the two-tower model, which reaches listings without history.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recpipe.models.base import Recommender, load_model, save_model


class BlendRecommender(Recommender):
    """Args:
    parts: the models, fitted together on the same matrix.
    weights: one per part.
    """

    name = "blend"

    def __init__(self, parts: list[Recommender], weights: list[float]):
        if len(parts) != len(weights) or not parts:
            raise ValueError(f"a blend needs one weight per part, got {len(parts)} parts and {len(weights)} weights")
        self.parts, self.weights = parts, [float(w) for w in weights]

    def fit(self, user_items: sp.csr_matrix) -> BlendRecommender:
        for part in self.parts:
            part.fit(user_items)
        return self

    def embed(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        pairs = [part.embed(user_idx, user_items) for part in self.parts]
        users = np.hstack([w * u for w, (u, _) in zip(self.weights, pairs)]).astype(np.float32)
        return users, np.hstack([v for _, v in pairs]).astype(np.float32)

    @property
    def has_listing_side(self) -> bool:
        return any(part.has_listing_side for part in self.parts)

    def listing_vectors(self, features: sp.csr_matrix, listed_at: np.ndarray) -> np.ndarray:
        """Each part's listing vectors side by side; a part without a listing side (ALS) contributes zeros, as its
        factors of a listing without history are."""
        widths = [part.embed(np.zeros(0, dtype=np.int64), sp.csr_matrix((0, 0)))[1].shape[1] for part in self.parts]
        blocks = [
            part.listing_vectors(features, listed_at)
            if part.has_listing_side
            else np.zeros((features.shape[0], width), np.float32)
            for part, width in zip(self.parts, widths)
        ]
        return np.hstack(blocks).astype(np.float32)

    def score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        users, items = self.embed(user_idx, user_items)
        return users @ items.T

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        for i, part in enumerate(self.parts):
            save_model(part, path / f"part{i}")
        (path / "weights.json").write_text(json.dumps(self.weights))

    @classmethod
    def load(cls, path: Path) -> BlendRecommender:
        weights = json.loads((path / "weights.json").read_text())
        return cls([load_model(path / f"part{i}") for i in range(len(weights))], weights)
