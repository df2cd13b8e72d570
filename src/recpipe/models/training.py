"""Training and honest evaluation on in-memory data (no Spark): the time split, baselines, the final fit."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recpipe.config import ALSConfig, EvaluationConfig, Item2VecConfig, TrainConfig
from recpipe.models.als import ALSRecommender
from recpipe.models.base import Recommender
from recpipe.models.blend import BlendRecommender
from recpipe.models.evaluation import (
    RankingMetrics,
    available_items_mask,
    item_states,
    ranking_metrics,
    time_split,
)
from recpipe.models.freshness import naive_utc
from recpipe.models.hybrid import AttributeALSRecommender
from recpipe.models.item2vec import Item2VecRecommender
from recpipe.models.matrix import users_per_item
from recpipe.models.popularity import PopularityRecommender
from recpipe.models.ranking import ListRanker, RankingRules
from recpipe.models.training_set import TrainingData
from recpipe.models.two_tower import TwoTowerRecommender

log = logging.getLogger(__name__)


def served_ranking(
    model: Recommender,
    user_idx: np.ndarray,
    user_items: sp.csr_matrix,
    exclude: sp.csr_matrix,
    for_sale: np.ndarray,
    sellers: np.ndarray,
    rules: RankingRules,
) -> tuple[np.ndarray, np.ndarray]:
    """Item indices and scores of ``user_idx``'s lists as the candidates job would serve them from ``model``."""
    users, items = model.embed(user_idx, user_items)
    ranker = ListRanker(items, sellers, rules, for_sale=for_sale)
    return ranker.rank(users, exclude[user_idx])


def build_als(params: ALSConfig, seed: int) -> ALSRecommender:
    return ALSRecommender(
        factors=params.factors,
        regularization=params.regularization,
        alpha=params.alpha,
        iterations=params.iterations,
        solver=params.solver,
        cg_steps=params.cg_steps,
        weighting=params.weighting,
        seed=seed,
        num_threads=params.num_threads,
        use_gpu=params.use_gpu,
        normalize_confidence=params.normalize_confidence,
    )


ModelFactory = Callable[[pd.Timestamp], Recommender]  # a model whose listing side sees the listings as of a time


def _als_family(config: TrainConfig, als: ALSConfig, data: TrainingData) -> ModelFactory:
    return lambda at: build_als(als, config.seed)


def _als_attributes_family(config: TrainConfig, als: ALSConfig, data: TrainingData) -> ModelFactory:
    return lambda at: AttributeALSRecommender(
        data.listing_features(config.feature_min_count),
        **config.als_attributes.model_dump(),
        **build_als(als, config.seed).params,
    )


def _two_tower_family(config: TrainConfig, als: ALSConfig, data: TrainingData) -> ModelFactory:
    tower = config.two_tower.model_dump(exclude={"freshness_weight", "als_weight"})
    weight, targets = config.two_tower.freshness_weight, config.evaluation.target_event_types

    def two_tower(at: pd.Timestamp) -> TwoTowerRecommender:
        return TwoTowerRecommender(
            data.listing_features(config.feature_min_count),
            data.user_features(),
            seed=config.seed,
            **tower,
            listed_at=data.listed_at,
            age_prior=(weight * data.freshness_table(at, targets)).tolist() if weight else None,
            prior_at=str(naive_utc(at)),
        )

    return two_tower


def _two_tower_als_family(config: TrainConfig, als: ALSConfig, data: TrainingData) -> ModelFactory:
    two_tower = _two_tower_family(config, als, data)
    weights = [1.0, config.two_tower.als_weight]
    return lambda at: BlendRecommender([two_tower(at), build_als(als, config.seed)], weights)


@dataclass(frozen=True)
class Family:
    """A model family: the kind of model it saves (``models.base.KINDS``) and how to build one from the config."""

    kind: str
    build: Callable[[TrainConfig, ALSConfig, TrainingData], ModelFactory]


# The one table of families (config.training.ModelFamily names them): the factory and the saved model's kind.
FAMILIES: dict[str, Family] = {
    "als": Family(ALSRecommender.name, _als_family),
    "als_attributes": Family(AttributeALSRecommender.name, _als_attributes_family),
    "two_tower": Family(TwoTowerRecommender.name, _two_tower_family),
    "two_tower_als": Family(BlendRecommender.name, _two_tower_als_family),
}


def model_factory(family: str, config: TrainConfig, als: ALSConfig, data: TrainingData) -> ModelFactory:
    """How to build a model of ``family`` with ``config``'s parameters (``als``: the effective ALS parameters)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r} (families: {', '.join(FAMILIES)})")
    return FAMILIES[family].build(config, als, data)


@dataclass(frozen=True)
class TargetRecall:
    """Recall@k of the holdout's target events (purchases), over users with history and a target, in total and
    by the target listing's state at the split: warm (had history), cold (for sale, no history), new (listed
    later: no batch list can hold it)."""

    k: int
    recall: float
    warm: float
    cold: float
    users: int
    targets: dict[str, int]

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}target_recall": self.recall,
            f"{prefix}target_recall_warm": self.warm,
            f"{prefix}target_recall_cold": self.cold,
            **{f"{prefix}targets_{s}": float(n) for s, n in self.targets.items()},
        }


@dataclass
class TimeSplit:
    """The last ``holdout_days`` against what came before, with the served rules as of the split time."""

    data: TrainingData
    evaluation: EvaluationConfig
    max_per_seller: int | None

    def __post_init__(self) -> None:
        data = self.data
        if data.split is not None and data.split.holdout_days == self.evaluation.holdout_days:
            self.train_rows, self.test_rows, self.split_time = data.split.train, data.split.test, data.split.split_time
        else:
            self.train_rows, self.test_rows, self.split_time = time_split(
                data.interactions, self.evaluation.holdout_days
            )
        self.train, self.test = data.matrix(self.train_rows), data.matrix(self.test_rows)
        self.users = np.intersect1d(np.unique(self.test_rows["user_idx"]), np.unique(self.train_rows["user_idx"]))
        self.allowed = available_items_mask(data.availability, data.n_items, self.split_time)
        self.length = max(self.evaluation.k, self.evaluation.target_k)
        targets = self.test_rows[data.with_events(self.test_rows, self.evaluation.target_event_types)]
        state = item_states(users_per_item(self.train) > 0, data.listed_at, self.split_time)[
            targets["item_idx"].to_numpy()
        ]
        self.targets = {name: data.matrix(targets[state == name]) for name in ("warm", "cold", "new")}
        self.targets["all"] = data.matrix(targets)

    def exclusions(self, seen_event_types: Sequence[str] | None = None) -> sp.csr_matrix:
        return self.data.exclusions(self.train_rows, seen_event_types)

    def served(self, model: Recommender, exclude: sp.csr_matrix | None = None) -> np.ndarray:
        """Item indices of the served lists of the split's users from a model fitted on ``train``."""
        exclude = self.exclusions() if exclude is None else exclude
        ids, _ = served_ranking(
            model,
            self.users,
            self.train,
            exclude,
            self.allowed,
            self.data.sellers,
            RankingRules(self.length, self.max_per_seller),
        )
        return ids

    def target_recall(self, ids: np.ndarray) -> TargetRecall:
        k = self.evaluation.target_k
        every = ranking_metrics(self.users, ids, self.targets["all"], k)
        by_state = {s: ranking_metrics(self.users, ids, self.targets[s], k).recall for s in ("warm", "cold")}
        return TargetRecall(
            k,
            every.recall,
            by_state["warm"],
            by_state["cold"],
            every.n_users,
            {s: int(m.nnz) for s, m in self.targets.items()},
        )


@dataclass
class SplitEvaluation:
    metrics: dict[str, RankingMetrics]
    targets: dict[str, TargetRecall]
    split_time: pd.Timestamp
    train_rows: int
    test_rows: int
    seconds: dict[str, float]
    split: TimeSplit | None = None
    models: dict[str, Recommender] = field(default_factory=dict)  # each candidate fitted on the split's train rows

    def figure(self, model: str, metric: str) -> float:
        """One figure of one model: a ranking metric at k, or ``target_recall``."""
        return self.targets[model].recall if metric == "target_recall" else getattr(self.metrics[model], metric)

    def best(self, families: Sequence[str], metric: str) -> str:
        """The family with the highest ``metric``; the first listed wins a tie."""
        return max(families, key=lambda f: (self.figure(f, metric), -list(families).index(f)))


def evaluate_on_time_split(
    data: TrainingData,
    candidates: dict[str, ModelFactory],
    evaluation: EvaluationConfig,
    baselines: bool = True,
    max_per_seller: int | None = None,
) -> SplitEvaluation:
    """Fit each candidate on the rows before the split and score the held-out days on the lists the candidates
    job would serve at the split time (``served_ranking``): only items still for sale, without the user's seen
    items and own listings, at most ``max_per_seller`` per seller. Ranking metrics at ``k`` count every held-out
    interaction; ``target_recall`` the target events at ``target_k``. Baselines: global and recent popularity."""
    split = TimeSplit(data, evaluation, max_per_seller)
    exclude = split.exclusions()
    recent_start = split.split_time - pd.Timedelta(days=evaluation.recent_days)
    recent = data.matrix(split.train_rows[split.train_rows["last_event_ts"] >= recent_start])
    models = dict(candidates)
    if baselines:
        models.update(
            popularity=lambda at: PopularityRecommender(), recent_popularity=lambda at: PopularityRecommender()
        )
    metrics, targets, seconds, fitted = {}, {}, {}, {}
    for name, factory in models.items():
        start = time.perf_counter()
        model = factory(split.split_time).fit(recent if name == "recent_popularity" else split.train)
        seconds[name] = time.perf_counter() - start
        fitted[name] = model
        ids = split.served(model, exclude)
        metrics[name] = ranking_metrics(split.users, ids, split.test, evaluation.k, split.train)
        targets[name] = split.target_recall(ids)
        log.info(
            "time split %s: ndcg@%d %.4f, target recall@%d %.4f (warm %.4f, cold %.4f), fit %.1f s",
            name,
            evaluation.k,
            metrics[name].ndcg,
            evaluation.target_k,
            targets[name].recall,
            targets[name].warm,
            targets[name].cold,
            seconds[name],
        )
    return SplitEvaluation(
        metrics, targets, split.split_time, len(split.train_rows), len(split.test_rows), seconds, split, fitted
    )


def sample_grid(grid: dict[str, Sequence], trials: int, seed: int) -> list[dict]:
    """``trials`` distinct combinations drawn from the grid with a seeded generator (all of it when smaller)."""
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    if trials >= len(combos):
        return combos
    chosen = np.random.default_rng(seed).choice(len(combos), size=trials, replace=False)
    return [combos[i] for i in sorted(chosen)]


def fit_item2vec(data: TrainingData, params: Item2VecConfig, seed: int) -> Item2VecRecommender:
    model = Item2VecRecommender(
        n_items=data.n_items,
        vector_size=params.vector_size,
        window=params.window,
        negative=params.negative,
        epochs=params.epochs,
        min_count=params.min_count,
        seed=seed,
        workers=params.workers,
    )
    return model.fit_sequences([seq.tolist() for seq in data.sequences])
