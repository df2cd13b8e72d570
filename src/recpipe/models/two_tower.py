"""A two-tower retrieval model trained with in-batch sampled softmax and a popularity (logQ) correction.

Both towers are bags of embeddings (Covington et al. 2016; Yi et al. 2019, "Sampling-bias-corrected neural
modeling"): a listing's vector is the sum of the embeddings of its attribute features plus, when it had history
at training time, an embedding of its own id; a user's vector is the sum of an embedding of their id, of their
profile features and of the attributes of the listings in their history (a taste profile that reaches listings
no one has touched yet). Scores are dot products plus a listing bias from the same features, exported as one
more dimension, so the served ranking and the scorer take these vectors as they take ALS factors.

Training: each step takes a batch of (user, listing) pairs from the interactions, scores every user of the batch
against every listing of the batch, and minimises the softmax cross-entropy of the true pair with the listings'
log sampling frequency subtracted (the correction that keeps popular listings from being penalised for being
frequent negatives). Adagrad per touched embedding row; numpy and scipy only, so no deep-learning runtime is
needed; a batch is a few BLAS products.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recpipe.models.base import Recommender

log = logging.getLogger(__name__)


def _row_normalized(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ matrix, dtype=np.float32)


def _compact(rows: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """The batch's rows over only the feature columns they touch, and those columns."""
    columns, inverse = np.unique(rows.indices, return_inverse=True)
    return sp.csr_matrix((rows.data, inverse, rows.indptr), shape=(rows.shape[0], len(columns))), columns


class _Table:
    """An embedding table with Adagrad state; ``step`` updates only the rows a batch touched."""

    def __init__(self, rows: int, width: int, rng: np.random.Generator, scale: float):
        self.weights = (rng.standard_normal((rows, width)) * scale).astype(np.float32)
        self.squares = np.full((rows, width), 1e-6, dtype=np.float32)

    def step(self, columns: np.ndarray, gradient: np.ndarray, learning_rate: float, regularization: float) -> None:
        gradient = gradient + regularization * self.weights[columns]
        self.squares[columns] += gradient * gradient
        self.weights[columns] -= learning_rate * gradient / np.sqrt(self.squares[columns])


class TwoTowerRecommender(Recommender):
    """Args:
        item_features: (n_items, F) listing attribute features aligned with the item indices.
        user_features: (n_users, G) user profile features (e.g. country), or None.
        factors: vector width (the exported vectors have one more: the listing bias).
        epochs, batch_size, learning_rate, regularization: training.
        min_item_users: listings with fewer training users get no id embedding (their vector is attributes only).
        item_prior: (n_items,) log prior added to each listing's score after training (``models.freshness``).
        seed: seeds the initialisation and the batch order.
        num_threads: BLAS threads.
    """

    name = "two_tower"

    def __init__(self, item_features: sp.csr_matrix, user_features: sp.csr_matrix | None = None, factors: int = 64,
                 epochs: int = 3, batch_size: int = 1024, learning_rate: float = 0.05, regularization: float = 1e-4,
                 min_item_users: int = 2, item_prior: np.ndarray | None = None, seed: int = 42, num_threads: int = 2):
        self.item_features = sp.csr_matrix(item_features, dtype=np.float32)
        self.user_features = None if user_features is None else sp.csr_matrix(user_features, dtype=np.float32)
        self.item_prior = None if item_prior is None else np.asarray(item_prior, dtype=np.float32)
        self.params = dict(factors=factors, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                           regularization=regularization, min_item_users=min_item_users, seed=seed, num_threads=num_threads)
        self.user_vectors: np.ndarray | None = None
        self.item_vectors: np.ndarray | None = None
        self.attribute_embeddings: np.ndarray | None = None  # (F, factors + 1): the listing side of new listings

    # ---- tower inputs ----------------------------------------------------------------------------------
    def _item_inputs(self, history: np.ndarray) -> sp.csr_matrix:
        """[own id where the listing has history | attributes], rows normalised."""
        n_items = self.item_features.shape[0]
        with_id = np.flatnonzero(history >= self.params["min_item_users"])
        ids = sp.csr_matrix((np.ones(len(with_id), np.float32), (with_id, with_id)), shape=(n_items, n_items))
        return _row_normalized(sp.hstack([ids, self.item_features], format="csr"))

    def _user_inputs(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        """[own id | profile features | mean attributes of the listings in the history], rows normalised."""
        n_users = user_items.shape[0]
        seen = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
        seen.data = np.log1p(seen.data)
        taste = _row_normalized(seen @ self.item_features)
        parts = [sp.identity(n_users, dtype=np.float32, format="csr"), taste]
        if self.user_features is not None:
            parts.insert(1, self.user_features)
        return _row_normalized(sp.hstack(parts, format="csr"))

    # ---- training ----------------------------------------------------------------------------------------
    def fit(self, user_items: sp.csr_matrix) -> TwoTowerRecommender:
        p = self.params
        user_items = sp.csr_matrix(user_items, dtype=np.float32)
        rng = np.random.default_rng(p["seed"])
        history = np.diff(sp.csc_matrix(user_items).indptr)
        items_in, users_in = self._item_inputs(history), self._user_inputs(user_items)
        width = p["factors"]
        scale = 1.0 / np.sqrt(width)
        item_table = _Table(items_in.shape[1], width + 1, rng, scale)  # the last column is the listing bias
        item_table.weights[:, -1] = 0.0
        user_table = _Table(users_in.shape[1], width, rng, scale)
        pairs = user_items.tocoo()
        users, items = pairs.row.astype(np.int64), pairs.col.astype(np.int64)
        weights = np.log1p(pairs.data).astype(np.float32)
        log_q = np.log(np.maximum(np.bincount(items, minlength=user_items.shape[1]), 1) / max(len(items), 1)).astype(np.float32)
        start, batch = time.perf_counter(), p["batch_size"]
        with threadpool_limits(limits=p["num_threads"], user_api="blas"):
            for epoch in range(p["epochs"]):
                order = rng.permutation(len(users))
                loss = 0.0
                for at in range(0, len(order), batch):
                    chosen = order[at:at + batch]
                    loss += self._step(users_in[users[chosen]], items_in[items[chosen]], log_q[items[chosen]],
                                       weights[chosen], user_table, item_table) * len(chosen)
                log.info("two-tower epoch %d/%d: loss %.4f (%.1f s)", epoch + 1, p["epochs"], loss / max(len(order), 1),
                         time.perf_counter() - start)
            self.attribute_embeddings = item_table.weights[items_in.shape[1] - self.item_features.shape[1]:]
            self.item_vectors = np.asarray(items_in @ item_table.weights, dtype=np.float32)
            if self.item_prior is not None:  # the bias column: the score is a logit, the prior a log ratio
                self.item_vectors[:, -1] += self.item_prior
            user_part = np.asarray(users_in @ user_table.weights, dtype=np.float32)
        self.user_vectors = np.hstack([user_part, np.ones((len(user_part), 1), np.float32)])
        return self

    def _step(self, user_rows, item_rows, log_q, weights, user_table: _Table, item_table: _Table) -> float:
        p = self.params
        user_x, user_cols = _compact(user_rows)
        item_x, item_cols = _compact(item_rows)
        user_vecs = np.asarray(user_x @ user_table.weights[user_cols])
        item_full = np.asarray(item_x @ item_table.weights[item_cols])
        item_vecs, bias = item_full[:, :-1], item_full[:, -1]
        logits = user_vecs @ item_vecs.T + (bias - log_q)[None, :]
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        diagonal = np.arange(len(weights))
        loss = float(-(weights * np.log(np.maximum(probs[diagonal, diagonal], 1e-30))).sum() / weights.sum())
        grad = probs
        grad[diagonal, diagonal] -= 1.0
        grad *= (weights / weights.sum())[:, None]
        grad_users = grad @ item_vecs
        grad_items = np.empty_like(item_full)
        grad_items[:, :-1] = grad.T @ user_vecs
        grad_items[:, -1] = grad.sum(axis=0)
        lr, reg = p["learning_rate"], p["regularization"]
        user_table.step(user_cols, np.asarray(user_x.T @ grad_users), lr, reg)
        item_table.step(item_cols, np.asarray(item_x.T @ grad_items), lr, reg)
        return loss

    # ---- serving ---------------------------------------------------------------------------------------
    def listing_vectors(self, features: sp.csr_matrix, prior: np.ndarray | None = None) -> np.ndarray:
        """Vectors (with the bias dimension) of listings without history from their features alone, plus their
        age prior when given."""
        vectors = np.asarray(_row_normalized(sp.csr_matrix(features, dtype=np.float32)) @ self.attribute_embeddings, dtype=np.float32)
        if prior is not None:
            vectors[:, -1] += prior
        return vectors

    def score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return self.user_vectors[user_idx] @ self.item_vectors.T

    def embed(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        return self.user_vectors[user_idx], self.item_vectors

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        for name in ("user_vectors", "item_vectors", "attribute_embeddings"):
            np.save(path / f"{name}.npy", getattr(self, name))
        sp.save_npz(path / "item_features.npz", self.item_features)
        (path / "params.json").write_text(json.dumps(self.params))

    @classmethod
    def load(cls, path: Path) -> TwoTowerRecommender:
        model = cls(sp.load_npz(path / "item_features.npz"), **json.loads((path / "params.json").read_text()))
        for name in ("user_vectors", "item_vectors", "attribute_embeddings"):
            setattr(model, name, np.load(path / f"{name}.npy"))
        return model
