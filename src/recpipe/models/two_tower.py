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
needed; a batch is a few BLAS products. Where PyTorch sees a GPU, the same loop runs there (``use_gpu``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recpipe.models.base import Recommender
from recpipe.models.freshness import listing_prior
from recpipe.models.matrix import users_per_item
from recpipe.models.two_tower_torch import train_on_torch, training_device

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
    shared_taste: the attributes of a user's history use the listing side's embeddings of those attributes
        ("more of what you liked" is a dot product from the first step) instead of their own.
    listed_at: (n_items,) when each listing was listed (datetime64, NaT unknown); with ``age_prior``, each
        listing's score gets the log prior of its age at ``prior_at`` after training (``models.freshness``).
    age_prior: per age band, the (weighted) log prior; kept with the model, so a listing created later gets its
        prior from the same table (``listing_vectors``).
    prior_at: when ages are measured (the training time).
    seed: seeds the initialisation and the batch order.
    num_threads: BLAS threads.
    use_gpu: train with PyTorch on a GPU when PyTorch sees one (``models.two_tower_torch``: the same steps), else
        with numpy.
    """

    name = "two_tower"
    INIT_ARRAYS = ("item_features",)
    ARRAYS = ("user_vectors", "item_vectors", "attribute_embeddings")

    def __init__(
        self,
        item_features: sp.csr_matrix,
        user_features: sp.csr_matrix | None = None,
        factors: int = 64,
        epochs: int = 3,
        batch_size: int = 1024,
        learning_rate: float = 0.05,
        regularization: float = 1e-4,
        min_item_users: int = 2,
        shared_taste: bool = False,
        listed_at: np.ndarray | None = None,
        age_prior: list[float] | None = None,
        prior_at: str | None = None,
        seed: int = 42,
        num_threads: int = 2,
        use_gpu: bool = False,
    ):
        self.item_features = sp.csr_matrix(item_features, dtype=np.float32)
        self.user_features = None if user_features is None else sp.csr_matrix(user_features, dtype=np.float32)
        self.listed_at = listed_at  # used by fit only: the prior is then part of the listing vectors
        self.params: dict[str, Any] = dict(
            factors=factors,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            regularization=regularization,
            min_item_users=min_item_users,
            shared_taste=shared_taste,
            age_prior=age_prior,
            prior_at=prior_at,
            seed=seed,
            num_threads=num_threads,
            use_gpu=use_gpu,
        )
        self.user_vectors: np.ndarray | None = None
        self.item_vectors: np.ndarray | None = None
        self.attribute_embeddings: np.ndarray | None = None  # (F, factors + 1): the listing side of new listings

    # ---- tower inputs: columns of one embedding table -------------------------------------------------
    def _layout(self, n_users: int) -> dict[str, tuple[int, int]]:
        """Row ranges of the embedding table: item ids, listing attributes, user ids, user features, and the
        attributes of the user's history (the listing attributes' own rows when ``shared_taste``)."""
        sizes = {
            "item_ids": self.item_features.shape[0],
            "attributes": self.item_features.shape[1],
            "user_ids": n_users,
            "user_features": 0 if self.user_features is None else self.user_features.shape[1],
            "taste": 0 if self.params["shared_taste"] else self.item_features.shape[1],
        }
        layout, at = {}, 0
        for name, size in sizes.items():
            layout[name] = (at, at + size)
            at += size
        if self.params["shared_taste"]:
            layout["taste"] = layout["attributes"]
        return layout

    @staticmethod
    def _place(parts: dict[str, sp.csr_matrix], layout: dict[str, tuple[int, int]], rows: int) -> sp.csr_matrix:
        """Blocks put at their rows of the table (as columns of one input matrix), rows normalised."""
        width = max(end for _, end in layout.values())
        placed = [
            sp.csr_matrix((m.data, m.indices + layout[name][0], m.indptr), shape=(rows, width))
            for name, m in parts.items()
        ]
        return _row_normalized(sum(placed[1:], placed[0]))

    def _item_inputs(self, history: np.ndarray, layout) -> sp.csr_matrix:
        """[own id where the listing has history | attributes]."""
        n_items = self.item_features.shape[0]
        with_id = np.flatnonzero(history >= self.params["min_item_users"])
        ids = sp.csr_matrix((np.ones(len(with_id), np.float32), (with_id, with_id)), shape=(n_items, n_items))
        return self._place({"item_ids": ids, "attributes": self.item_features}, layout, n_items)

    def _user_inputs(self, user_items: sp.csr_matrix, layout) -> sp.csr_matrix:
        """[own id | profile features | attributes of the listings in the history, weighted by log confidence]."""
        n_users = user_items.shape[0]
        seen = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
        seen.data = np.log1p(seen.data)
        parts = {
            "user_ids": sp.identity(n_users, dtype=np.float32, format="csr"),
            "taste": _row_normalized(seen @ self.item_features),
        }
        if self.user_features is not None:
            parts["user_features"] = self.user_features
        return self._place(parts, layout, n_users)

    # ---- training ----------------------------------------------------------------------------------------
    def fit(self, user_items: sp.csr_matrix) -> TwoTowerRecommender:
        p = self.params
        user_items = sp.csr_matrix(user_items, dtype=np.float32)
        rng = np.random.default_rng(p["seed"])
        history = users_per_item(user_items)
        layout = self._layout(user_items.shape[0])
        items_in, users_in = self._item_inputs(history, layout), self._user_inputs(user_items, layout)
        width = p["factors"]
        table = _Table(items_in.shape[1], width + 1, rng, 1.0 / np.sqrt(width))  # the last column: the listing bias
        table.weights[:, -1] = 0.0
        pairs = user_items.tocoo()
        users, items = pairs.row.astype(np.int64), pairs.col.astype(np.int64)
        weights = np.log1p(pairs.data).astype(np.float32)
        log_q = np.log(np.maximum(np.bincount(items, minlength=user_items.shape[1]), 1) / max(len(items), 1)).astype(
            np.float32
        )
        device = training_device(bool(p.get("use_gpu", False)))
        if device is None:
            with threadpool_limits(limits=p["num_threads"], user_api="blas"):
                self._train(users_in, items_in, (users, items, weights), log_q, table, rng)
        else:
            train_on_torch(users_in, items_in, (users, items, weights), log_q, table, rng, p, device)
        with threadpool_limits(limits=p["num_threads"], user_api="blas"):
            first, last = layout["attributes"]
            self.attribute_embeddings = table.weights[first:last].copy()
            self.item_vectors = np.asarray(items_in @ table.weights, dtype=np.float32)
            if self.listed_at is not None:  # the bias column: the score is a logit, the prior a log ratio
                self.item_vectors[:, -1] += self.prior(self.listed_at)
            user_part = np.asarray(users_in @ table.weights[:, :-1], dtype=np.float32)
        self.user_vectors = np.hstack([user_part, np.ones((len(user_part), 1), np.float32)])
        return self

    def _train(self, users_in, items_in, pairs, log_q: np.ndarray, table: _Table, rng: np.random.Generator) -> None:
        """The numpy loop: per epoch a permutation of the pairs from ``rng``, batches of ``batch_size``."""
        p = self.params
        (users, items, weights), batch, start = pairs, p["batch_size"], time.perf_counter()
        for epoch in range(p["epochs"]):
            order = rng.permutation(len(users))
            loss = 0.0
            for at in range(0, len(order), batch):
                chosen = order[at : at + batch]
                loss += self._step(
                    users_in[users[chosen]], items_in[items[chosen]], log_q[items[chosen]], weights[chosen], table
                ) * len(chosen)
            log.info(
                "two-tower epoch %d/%d: loss %.4f (%.1f s)",
                epoch + 1,
                p["epochs"],
                loss / max(len(order), 1),
                time.perf_counter() - start,
            )

    def _step(self, user_rows, item_rows, log_q, weights, table: _Table) -> float:
        p = self.params
        user_x, user_cols = _compact(user_rows)
        item_x, item_cols = _compact(item_rows)
        user_vecs = np.asarray(user_x @ table.weights[user_cols, :-1])
        item_full = np.asarray(item_x @ table.weights[item_cols])
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
        grad_items = np.empty_like(item_full)
        grad_items[:, :-1] = grad.T @ user_vecs
        grad_items[:, -1] = grad.sum(axis=0)
        grad_users = np.zeros((len(user_cols), item_full.shape[1]), np.float32)
        grad_users[:, :-1] = user_x.T @ (grad @ item_vecs)
        # a row may be touched from both sides (shared attributes): sum its gradients before the step
        rows, where = np.unique(np.concatenate([user_cols, item_cols]), return_inverse=True)
        summed = np.zeros((len(rows), item_full.shape[1]), np.float32)
        np.add.at(summed, where, np.vstack([grad_users, np.asarray(item_x.T @ grad_items)]))
        table.step(rows, summed, p["learning_rate"], p["regularization"])
        return loss

    # ---- serving ---------------------------------------------------------------------------------------
    def prior(self, listed_at: np.ndarray) -> np.ndarray:
        """The age prior of listings listed at ``listed_at``, aged at the training time (0 without a prior)."""
        table, at = self.params.get("age_prior"), self.params.get("prior_at")
        if table is None or at is None:
            return np.zeros(len(listed_at), dtype=np.float32)
        return listing_prior(np.asarray(table, dtype=np.float32), pd.Timestamp(at), listed_at)

    def listing_vectors(self, features: sp.csr_matrix, listed_at: np.ndarray) -> np.ndarray:
        """Vectors (with the bias dimension) of listings without history from their features and listing time:
        exactly the vectors ``fit`` gives such listings, so a listing created after training scores as it would
        have in the batch."""
        vectors = np.asarray(
            _row_normalized(sp.csr_matrix(features, dtype=np.float32)) @ self.attribute_embeddings, dtype=np.float32
        )
        vectors[:, -1] += self.prior(listed_at)
        return vectors

    def score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return self.user_vectors[user_idx] @ self.item_vectors.T

    def embed(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        return self.user_vectors[user_idx], self.item_vectors
