"""Training and honest evaluation on in-memory data (no Spark): the time split, baselines, the final fit."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recpipe.config import ALSConfig, EvaluationConfig, Item2VecConfig
from recpipe.models.als import ALSRecommender
from recpipe.models.base import Recommender
from recpipe.models.evaluation import RankingMetrics, available_items_mask, ranking_metrics, time_split
from recpipe.models.item2vec import Item2VecRecommender
from recpipe.models.matrix import to_csr
from recpipe.models.popularity import PopularityRecommender
from recpipe.models.ranking import ListRanker, RankingRules, exclusion_matrix

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """Interactions over contiguous indices (``user_idx``, ``item_idx``, ``confidence``, ``last_event_ts``, ``seen``:
    excluded from the user's lists), item availability (``item_idx``, ``status``, ``listed_at``, ``sold_at``,
    ``seller_id``) and item sequences for item2vec."""

    interactions: pd.DataFrame
    user_ids: np.ndarray  # index -> user_id
    item_ids: np.ndarray  # index -> item_id
    availability: pd.DataFrame
    sequences: list[np.ndarray] = field(default_factory=list)
    own_listings: pd.DataFrame | None = None  # user_idx, item_idx of every user's own listings


    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def matrix(self, rows: pd.DataFrame | None = None) -> sp.csr_matrix:
        rows = self.interactions if rows is None else rows
        return to_csr(rows["user_idx"], rows["item_idx"], rows["confidence"], self.n_users, self.n_items)

    @cached_property
    def sellers(self) -> np.ndarray:
        """Seller of each item index (-1 when unknown)."""
        sellers = np.full(self.n_items, -1, dtype=np.int64)
        if "seller_id" in self.availability:
            sellers[self.availability["item_idx"].to_numpy()] = self.availability["seller_id"].fillna(-1).to_numpy(np.int64)
        return sellers

    def exclusions(self, rows: pd.DataFrame | None = None) -> sp.csr_matrix:
        """users x items never to list: pairs of ``rows`` seen through the excluded event types, own listings."""
        rows = self.interactions if rows is None else rows
        seen = rows[rows["seen"]] if "seen" in rows else rows
        pairs = seen if self.own_listings is None else pd.concat([seen, self.own_listings])
        return exclusion_matrix(pairs["user_idx"].to_numpy(np.int64), pairs["item_idx"].to_numpy(np.int64),
                                self.n_users, self.n_items)


def served_ranking(model: Recommender, user_idx: np.ndarray, user_items: sp.csr_matrix, exclude: sp.csr_matrix,
                   for_sale: np.ndarray, sellers: np.ndarray, rules: RankingRules) -> tuple[np.ndarray, np.ndarray]:
    """Item indices and scores of ``user_idx``'s lists as the candidates job would serve them from ``model``."""
    users, items = model.embed(user_idx, user_items)
    ranker = ListRanker(items, sellers, rules, for_sale=for_sale)
    return ranker.rank(users, exclude[user_idx])


def build_als(params: ALSConfig, seed: int) -> ALSRecommender:
    return ALSRecommender(
        factors=params.factors, regularization=params.regularization, alpha=params.alpha,
        iterations=params.iterations, solver=params.solver, cg_steps=params.cg_steps, weighting=params.weighting, seed=seed,
        num_threads=params.num_threads, use_gpu=params.use_gpu, normalize_confidence=params.normalize_confidence,
    )


@dataclass
class SplitEvaluation:
    metrics: dict[str, RankingMetrics]
    split_time: pd.Timestamp
    train_rows: int
    test_rows: int
    seconds: dict[str, float]


def evaluate_on_time_split(
    data: TrainingData, candidates: dict[str, Recommender], evaluation: EvaluationConfig, baselines: bool = True,
    max_per_seller: int | None = None,
) -> SplitEvaluation:
    """Fit each candidate on the rows before the split and score the held-out days on the lists the candidates
    job would serve at the split time (``served_ranking``): only items still for sale, without the user's seen
    items and own listings, at most ``max_per_seller`` per seller. Baselines: global and recent popularity."""
    train_rows, test_rows, split_time = time_split(data.interactions, evaluation.holdout_days)
    train, test = data.matrix(train_rows), data.matrix(test_rows)
    exclude = data.exclusions(train_rows)
    rules = RankingRules(evaluation.k, max_per_seller)
    warm_test_users = np.intersect1d(np.unique(test_rows["user_idx"]), np.unique(train_rows["user_idx"]))
    allowed = available_items_mask(data.availability, data.n_items, split_time)
    recent_start = split_time - pd.Timedelta(days=evaluation.recent_days)
    recent = data.matrix(train_rows[train_rows["last_event_ts"] >= recent_start])
    models = dict(candidates)
    if baselines:
        models.update(popularity=PopularityRecommender(), recent_popularity=PopularityRecommender())
    metrics, seconds = {}, {}
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(recent if name == "recent_popularity" else train)
        seconds[name] = time.perf_counter() - start
        ids, _ = served_ranking(model, warm_test_users, train, exclude, allowed, data.sellers, rules)
        metrics[name] = ranking_metrics(warm_test_users, ids, test, evaluation.k, train)
        log.info("time split %s: ndcg@%d %.4f map %.4f (fit %.1fs)", name, evaluation.k, metrics[name].ndcg, metrics[name].map, seconds[name])
    return SplitEvaluation(metrics, split_time, len(train_rows), len(test_rows), seconds)


def sample_grid(grid: dict[str, Sequence], trials: int, seed: int) -> list[dict]:
    """``trials`` distinct combinations drawn from the grid with a seeded generator (all of it when smaller)."""
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    if trials >= len(combos):
        return combos
    chosen = np.random.default_rng(seed).choice(len(combos), size=trials, replace=False)
    return [combos[i] for i in sorted(chosen)]


def fit_item2vec(data: TrainingData, params: Item2VecConfig, seed: int) -> Item2VecRecommender:
    model = Item2VecRecommender(
        n_items=data.n_items, vector_size=params.vector_size, window=params.window, negative=params.negative,
        epochs=params.epochs, min_count=params.min_count, seed=seed,
    )
    return model.fit_sequences([seq.tolist() for seq in data.sequences])
