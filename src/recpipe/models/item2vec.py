"""item2vec (Barkan & Koenigstein 2016): skip-gram with negative sampling over users' item sequences (gensim)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from recpipe.models.base import Recommender
from recpipe.models.topk import cosine_neighbours, unit_rows


def stable_hash(text: str) -> int:
    """gensim seeds each word vector with a hash of the word; Python's hash() changes between processes."""
    return zlib.crc32(text.encode())


class Item2VecRecommender(Recommender):
    """Item embeddings from sequences of item indices; users are the mean of their items' unit vectors."""

    name = "item2vec"
    ARRAYS = ("vectors",)

    def __init__(
        self,
        n_items: int,
        vector_size: int = 64,
        window: int = 5,
        negative: int = 5,
        epochs: int = 10,
        min_count: int = 1,
        sample: float = 1e-3,
        seed: int = 42,
        workers: int = 1,
    ):
        self.params: dict[str, Any] = dict(
            n_items=n_items,
            vector_size=vector_size,
            window=window,
            negative=negative,
            epochs=epochs,
            min_count=min_count,
            sample=sample,
            seed=seed,
            workers=workers,
        )
        self.vectors: np.ndarray | None = None  # (n_items, vector_size); zero rows for items never seen

    def fit_sequences(self, sequences: Sequence[Sequence[int]]) -> Item2VecRecommender:
        """Train on item-index sequences (one per user session, in time order). One worker keeps reruns identical;
        more divide the epochs' time between threads (their updates interleave as the threads run)."""
        from gensim.models import Word2Vec

        p = self.params
        sentences = [[str(i) for i in seq] for seq in sequences if len(seq) > 0]
        model = Word2Vec(
            sentences=sentences,
            vector_size=p["vector_size"],
            window=p["window"],
            negative=p["negative"],
            sg=1,
            epochs=p["epochs"],
            min_count=p["min_count"],
            sample=p["sample"],
            seed=p["seed"],
            workers=p.get("workers", 1),
            hashfxn=stable_hash,
        )
        vectors = np.zeros((p["n_items"], p["vector_size"]), dtype=np.float32)
        keys = np.array([int(k) for k in model.wv.index_to_key], dtype=np.int64)
        if len(keys):
            vectors[keys] = model.wv.vectors
        self.vectors = vectors
        return self

    def fit(self, user_items: sp.csr_matrix) -> Item2VecRecommender:
        """Without timestamps, each user's items in index order form one sequence (use ``fit_sequences``)."""
        return self.fit_sequences([row.indices.tolist() for row in user_items])

    @property
    def _unit(self) -> np.ndarray:
        return unit_rows(self.vectors)

    def score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        profile, unit = self.embed(user_idx, user_items)
        return profile @ unit.T

    def embed(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """A user is the confidence-weighted mean of their items' unit vectors."""
        unit = self._unit
        users = user_items[user_idx]
        profile = np.asarray(users @ unit) / np.maximum(np.asarray(users.sum(axis=1)), 1e-12)
        return profile.astype(np.float32), unit.astype(np.float32)

    def similar_items(self, item_idx: np.ndarray, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Cosine neighbours; items without a vector get no neighbours (-1 / -inf)."""
        return cosine_neighbours(self.vectors, item_idx, n)
