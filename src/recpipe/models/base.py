"""The one contract every model keeps: fit, recommend, similar_items, save, load; and the kinds of saved model.

Every ``Recommender`` subclass that names itself registers its ``name`` as a kind: ``save_model`` writes the kind
next to the model, ``load_model`` reads it back with the class of that kind (``models.registry`` imports every model
module, so every kind is known when an artifact is loaded)."""

from __future__ import annotations

import abc
import json
from pathlib import Path
from typing import Self

import numpy as np
import scipy.sparse as sp

from recpipe.models.topk import top_k_rows

KINDS: dict[str, type[Recommender]] = {}  # kind -> class, filled as model classes are defined


class Recommender(abc.ABC):
    """A model over contiguous user and item indices."""

    name: str = "model"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            KINDS[cls.name] = cls

    @abc.abstractmethod
    def fit(self, user_items: sp.csr_matrix) -> Recommender:
        """Train on a users x items confidence matrix."""

    @abc.abstractmethod
    def score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """Dense scores (len(user_idx) x n_items) for a batch of users; callers keep batches small."""

    def recommend(
        self,
        user_idx: np.ndarray,
        user_items: sp.csr_matrix,
        n: int = 10,
        filter_seen: bool = True,
        allowed_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` item indices and scores per user, best first.

        Seen items are removed when ``filter_seen``; ``allowed_items`` (a boolean mask over items) removes the
        rest, e.g. items sold before the evaluation time. Rows shorter than ``n`` are padded with -1 / -inf.
        """
        user_idx = np.asarray(user_idx, dtype=np.int64)
        scores = np.array(self.score(user_idx, user_items), dtype=np.float32)
        if allowed_items is not None:
            scores[:, ~allowed_items] = -np.inf
        exclude = user_items[user_idx] if filter_seen else None
        return top_k_rows(scores, n, exclude)

    def embed(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """User and item vectors whose dot products are the scores: what the served ranking
        (``models.ranking.ListRanker``) takes."""
        raise NotImplementedError(f"{self.name} has no vectors for the served ranking")

    def listing_vectors(self, features: sp.csr_matrix, listed_at: np.ndarray) -> np.ndarray:
        """Item vectors of listings without history, from their attribute features (``models.features``) and
        listing times: the same vectors the fitted model gives such listings in ``embed``, so a listing created
        after training scores as it would have in the batch. Models without a listing side raise."""
        raise NotImplementedError(f"{self.name} has no listing side: it cannot score a listing without history")

    @property
    def has_listing_side(self) -> bool:
        return type(self).listing_vectors is not Recommender.listing_vectors

    def similar_items(self, item_idx: np.ndarray, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError(f"{self.name} has no item similarity")

    # What save and load carry: the constructor parameters (``params``, as JSON) and these array attributes (numpy
    # as .npy, scipy sparse as .npz); ``INIT_ARRAYS`` are constructor arguments, ``ARRAYS`` are set after.
    INIT_ARRAYS: tuple[str, ...] = ()
    ARRAYS: tuple[str, ...] = ()

    def saved_params(self) -> dict:
        """The constructor parameters ``load`` rebuilds the model with."""
        return dict(getattr(self, "params", {}))

    def save(self, path: Path) -> None:
        """Write everything needed to ``load`` the model into a directory."""
        path.mkdir(parents=True, exist_ok=True)
        (path / "params.json").write_text(json.dumps(self.saved_params()))
        for name in (*self.INIT_ARRAYS, *self.ARRAYS):
            _save_array(path, name, getattr(self, name))

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a model written by ``save``."""
        params = json.loads((path / "params.json").read_text())
        model = cls(**{name: _load_array(path, name) for name in cls.INIT_ARRAYS}, **params)
        for name in cls.ARRAYS:
            setattr(model, name, _load_array(path, name))
        return model


def _save_array(path: Path, name: str, value: np.ndarray | sp.spmatrix) -> None:
    if sp.issparse(value):
        sp.save_npz(path / f"{name}.npz", value)
    else:
        np.save(path / f"{name}.npy", value)


def _load_array(path: Path, name: str) -> np.ndarray | sp.csr_matrix:
    sparse = path / f"{name}.npz"
    return sp.load_npz(sparse).tocsr() if sparse.exists() else np.load(path / f"{name}.npy")


def recommend_all(
    model: Recommender,
    user_idx: np.ndarray,
    user_items: sp.csr_matrix,
    n: int,
    batch_size: int = 2048,
    allowed_items: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``recommend`` over many users in bounded-memory batches."""
    ids, scores = [], []
    for start in range(0, len(user_idx), batch_size):
        i, s = model.recommend(user_idx[start : start + batch_size], user_items, n, allowed_items=allowed_items)
        ids.append(i)
        scores.append(s)
    if not ids:
        return np.empty((0, n), dtype=np.int64), np.empty((0, n), dtype=np.float32)
    return np.vstack(ids), np.vstack(scores)


def save_model(model: Recommender, path: Path) -> Path:
    """Save ``model`` with its kind, so the artifact says what it holds."""
    model.save(path)
    (path / "kind").write_text(model.name)
    return path


def load_model(path: Path) -> Recommender:
    """Load a model saved by ``save_model`` with the class of its kind."""
    kind = (path / "kind").read_text().strip()
    if kind not in KINDS:
        raise ValueError(f"{path}: unknown model kind {kind!r} (known: {', '.join(KINDS)})")
    return KINDS[kind].load(path)
