"""ALS with a listing side from attributes: factors for listings without history (a closed-form hybrid).

ALS learns a factor vector per listing from who interacted with it; a listing without history has none. This model
learns, in closed form, the map from a listing's attribute features to its ALS factors (weighted ridge regression
over the listings with history, weights growing with their history, as in the feature-to-factor mappings of
Gantner et al. 2010 and MARec 2024), then gives every listing

    v_i = x_i W + s_i (v_als_i - x_i W),    s_i = n_i / (n_i + shrinkage)

where ``n_i`` is the number of users who interacted with it: a listing with no history gets the vector its
attributes predict, one with a long history keeps its own factors, and one with a day of history sits in between
instead of trusting factors learned from a handful of views. Users keep their ALS factors (their history), so
scores stay dot products and the served ranking and the scorer need nothing new.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recpipe.models.als import ALSRecommender
from recpipe.models.base import Recommender
from recpipe.models.matrix import users_per_item


def ridge_map(features: sp.csr_matrix, targets: np.ndarray, weights: np.ndarray, regularization: float) -> np.ndarray:
    """argmin_W sum_i w_i |x_i W - t_i|^2 + regularization |W|^2, over the rows with a positive weight."""
    rows = np.flatnonzero(weights > 0)
    x = features[rows]
    xw = x.multiply(weights[rows, None]).T.tocsr()  # (F, rows)
    gram = (xw @ x).toarray() + regularization * np.eye(features.shape[1])
    return np.linalg.solve(gram, xw @ targets[rows]).astype(np.float32)


class AttributeALSRecommender(Recommender):
    """ALS whose listing vectors fall back on attributes by how much history a listing has.

    Args:
        item_features: (n_items, F) listing features (``models.features``), aligned with the item indices.
        shrinkage: users of history at which a listing's own factors and its attribute vector weigh the same.
        map_regularization: ridge penalty of the attribute -> factor map.
        **als: ``ALSRecommender`` parameters.
    """

    name = "als_attributes"
    INIT_ARRAYS = ("item_features",)
    ARRAYS = ("attribute_map", "item_vectors")

    def __init__(self, item_features: sp.csr_matrix, shrinkage: float = 5.0, map_regularization: float = 1.0, **als):
        self.als = ALSRecommender(**als)
        self.item_features = sp.csr_matrix(item_features, dtype=np.float32)
        self.params: dict[str, Any] = {
            "shrinkage": shrinkage,
            "map_regularization": map_regularization,
            **self.als.params,
        }
        self.attribute_map: np.ndarray | None = None
        self.item_vectors: np.ndarray | None = None

    @property
    def user_factors(self) -> np.ndarray:
        return self.als.user_factors

    def fit(self, user_items: sp.csr_matrix) -> AttributeALSRecommender:
        self.als.fit(user_items)
        history = users_per_item(user_items).astype(np.float32)
        self.attribute_map = ridge_map(
            self.item_features, self.als.item_factors, np.log1p(history), self.params["map_regularization"]
        )
        self.item_vectors = self.blend(self.als.item_factors, self.item_features, history)
        return self

    def blend(self, own: np.ndarray, features: sp.csr_matrix, history: np.ndarray) -> np.ndarray:
        """Listing vectors: attribute prediction shrunk towards the listing's own factors by its history."""
        predicted = self.listing_vectors(features)
        share = (history / (history + self.params["shrinkage"]))[:, None].astype(np.float32)
        return predicted + share * (own - predicted)

    def listing_vectors(self, features: sp.csr_matrix, listed_at: np.ndarray | None = None) -> np.ndarray:
        """Vectors of listings without history (e.g. listed after training) from their features alone."""
        return np.asarray(features @ self.attribute_map, dtype=np.float32)

    def score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return self.user_factors[user_idx] @ self.item_vectors.T

    def embed(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        return self.user_factors[user_idx], self.item_vectors

    def save(self, path: Path) -> None:
        super().save(path)
        self.als.save(path / "als")

    @classmethod
    def load(cls, path: Path) -> AttributeALSRecommender:
        model = super().load(path)
        model.als = ALSRecommender.load(path / "als")
        return model
