"""Implicit-feedback ALS (Hu, Koren, Volinsky 2008) through the `implicit` library, seeded and reproducible."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recpipe.models.base import Recommender
from recpipe.models.topk import cosine_neighbours


def gpu_available() -> bool:
    try:
        import implicit.gpu

        return bool(implicit.gpu.HAS_CUDA)
    except ImportError:  # pragma: no cover - implicit always ships the module
        return False


def bm25_weight(user_items: sp.csr_matrix, k1: float, b: float) -> sp.csr_matrix:
    """BM25 weighting of a users x items matrix (item-document view, as in `implicit`)."""
    from implicit.nearest_neighbours import bm25_weight as implicit_bm25

    return implicit_bm25(user_items.T.tocsr(), K1=k1, B=b).T.tocsr().astype(np.float32)


class ALSRecommender(Recommender):
    """ALS with confidence ``1 + alpha * value``, values first divided by their mean (``normalize_confidence``).

    Normalising makes ``alpha`` and ``regularization`` scale-free: event weights, time decay or any other
    rescaling of the interaction values moves their mean, not the optimum of the hyperparameters.

    Args:
        factors, regularization, alpha, iterations: the usual hyperparameters.
        solver: ``cg`` (conjugate gradient, fast) or ``cholesky`` (exact).
        cg_steps: conjugate-gradient steps per factor update (Takacs et al. 2011: 2-3 steps match the exact solve).
        weighting: ``none`` or ``bm25`` (applied to the matrix before training, after normalising).
        normalize_confidence: divide the values by the mean stored value before weighting.
        seed: seeds the factor initialisation.
        num_threads: ALS threads; BLAS is pinned to one thread so results do not depend on the machine.
        use_gpu: train on CUDA when available (factors are moved back to the CPU).
    """

    name = "als"
    ARRAYS = ("user_factors", "item_factors")

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 1.0,
        iterations: int = 15,
        solver: str = "cg",
        cg_steps: int = 2,
        weighting: str = "none",
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
        seed: int = 42,
        num_threads: int = 1,
        use_gpu: bool = False,
        normalize_confidence: bool = True,
    ):
        if solver not in ("cg", "cholesky"):
            raise ValueError(f"solver must be 'cg' or 'cholesky', got {solver!r}")
        if weighting not in ("none", "bm25"):
            raise ValueError(f"weighting must be 'none' or 'bm25', got {weighting!r}")
        self.params: dict[str, Any] = dict(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            solver=solver,
            cg_steps=cg_steps,
            weighting=weighting,
            bm25_k1=bm25_k1,
            bm25_b=bm25_b,
            seed=seed,
            num_threads=num_threads,
            use_gpu=use_gpu,
            normalize_confidence=normalize_confidence,
        )
        self.user_factors: np.ndarray | None = None
        self.item_factors: np.ndarray | None = None

    def _weighted(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        user_items = user_items.astype(np.float32)
        if self.params.get("normalize_confidence", True) and user_items.nnz:
            mean = float(user_items.data.mean())
            if mean > 0:
                user_items = user_items / np.float32(mean)
        if self.params["weighting"] == "bm25":
            return bm25_weight(user_items, self.params["bm25_k1"], self.params["bm25_b"])
        return user_items.astype(np.float32)

    def fit(self, user_items: sp.csr_matrix) -> ALSRecommender:
        from implicit.als import AlternatingLeastSquares

        p = self.params
        use_gpu = bool(p["use_gpu"]) and gpu_available()
        with threadpool_limits(limits=1, user_api="blas"):  # implicit parallelises itself; nested BLAS threads slow it
            model = AlternatingLeastSquares(
                factors=p["factors"],
                regularization=p["regularization"],
                alpha=p["alpha"],
                iterations=p["iterations"],
                use_cg=p["solver"] == "cg",
                random_state=p["seed"],
                use_gpu=use_gpu,
                **({} if use_gpu else {"num_threads": p["num_threads"]}),
            )
            model.cg_steps = p["cg_steps"]  # a public attribute of implicit's model, not a constructor argument
            model.fit(self._weighted(user_items), show_progress=False)
        if use_gpu:
            model = model.to_cpu()
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        return self

    def score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return self.user_factors[user_idx] @ self.item_factors.T

    def embed(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        return self.user_factors[user_idx], self.item_factors

    def similar_items(self, item_idx: np.ndarray, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Nearest items by cosine similarity of item factors, the item itself excluded."""
        return cosine_neighbours(self.item_factors, item_idx, n)
