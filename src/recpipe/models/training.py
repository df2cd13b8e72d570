"""Training and honest evaluation on in-memory data (no Spark): the time split, baselines, the final fit."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

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
from recpipe.models.features import FeatureEncoder, listing_features
from recpipe.models.freshness import age_prior, inventory_ages, naive_utc
from recpipe.models.hybrid import AttributeALSRecommender
from recpipe.models.item2vec import Item2VecRecommender
from recpipe.models.matrix import to_csr, users_per_item
from recpipe.models.popularity import PopularityRecommender
from recpipe.models.ranking import ListRanker, RankingRules, exclusion_matrix
from recpipe.models.two_tower import TwoTowerRecommender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventSplit:
    """The time split built from daily rows (``recpipe interactions``' own aggregation run twice): pairs from the
    days before ``split_time`` with confidence decayed to it, and pairs of the last ``holdout_days`` days. Unlike
    splitting aggregated pairs by their last event, a listing viewed before the split and bought after it is seen
    in training, as it is when the lists are served."""

    train: pd.DataFrame
    test: pd.DataFrame
    split_time: pd.Timestamp
    holdout_days: int


@dataclass
class TrainingData:
    """Interactions over contiguous indices (``user_idx``, ``item_idx``, ``confidence``, ``last_event_ts``,
    ``event_mask``: bit i set when the pair had an event of ``event_types[i]``), item availability (``item_idx``,
    ``status``, ``listed_at``, ``sold_at``, ``seller_id``), listing attributes by ``item_idx`` (``items``, for the
    models with a listing side) and item sequences for item2vec. Items past the interaction index are listings
    without history that were for sale during the evaluation window."""

    interactions: pd.DataFrame
    user_ids: np.ndarray  # index -> user_id
    item_ids: np.ndarray  # index -> item_id
    availability: pd.DataFrame
    event_types: tuple[str, ...] = ()
    seen_event_types: tuple[str, ...] = ()  # pairs seen through these are never listed (the candidates rule)
    sequences: list[np.ndarray] = field(default_factory=list)
    own_listings: pd.DataFrame | None = None  # user_idx, item_idx of every user's own listings
    items: pd.DataFrame | None = None  # listing attributes, row i = item index i
    users: pd.DataFrame | None = None  # user profile (``country``), row i = user index i
    split: EventSplit | None = None  # the time split from daily rows; without it, pairs split by their last event
    _derived: dict = field(default_factory=dict, repr=False, compare=False)  # features and priors, computed once

    def _once(self, key: tuple, compute: Callable[[], object]):
        """``compute()`` the first time ``key`` is asked for: several families and the final fit share it."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def matrix(self, rows: pd.DataFrame | None = None) -> sp.csr_matrix:
        rows = self.interactions if rows is None else rows
        return to_csr(rows["user_idx"], rows["item_idx"], rows["confidence"], self.n_users, self.n_items)

    def with_events(self, rows: pd.DataFrame, event_types: Sequence[str]) -> np.ndarray:
        """True on the rows that had an event of one of ``event_types``."""
        bits = sum(1 << self.event_types.index(name) for name in event_types if name in self.event_types)
        return (rows["event_mask"].to_numpy(np.int64) & bits) != 0

    @cached_property
    def sellers(self) -> np.ndarray:
        """Seller of each item index (-1 when unknown)."""
        sellers = np.full(self.n_items, -1, dtype=np.int64)
        if "seller_id" in self.availability:
            sellers[self.availability["item_idx"].to_numpy()] = (
                self.availability["seller_id"].fillna(-1).to_numpy(np.int64)
            )
        return sellers

    def exclusions(
        self, rows: pd.DataFrame | None = None, seen_event_types: Sequence[str] | None = None
    ) -> sp.csr_matrix:
        """users x items never to list: pairs of ``rows`` seen through the excluded event types (default: the
        candidates rule), own listings."""
        rows = self.interactions if rows is None else rows
        seen = rows[self.with_events(rows, self.seen_event_types if seen_event_types is None else seen_event_types)]
        pairs = seen if self.own_listings is None else pd.concat([seen, self.own_listings])
        return exclusion_matrix(
            pairs["user_idx"].to_numpy(np.int64), pairs["item_idx"].to_numpy(np.int64), self.n_users, self.n_items
        )

    def listing_features(self, min_count: int) -> sp.csr_matrix:
        """Listing attribute features of every item index."""
        return self._listing_features(min_count)[0]

    def listing_encoder(self, min_count: int) -> FeatureEncoder:
        """The encoder of ``listing_features``: what a listing created later is encoded with."""
        return self._listing_features(min_count)[1]

    def _listing_features(self, min_count: int) -> tuple[sp.csr_matrix, FeatureEncoder]:
        if self.items is None:
            raise ValueError("these training data carry no listing attributes")
        return self._once(("listing_features", min_count), lambda: listing_features(self.items, min_count=min_count))

    def user_features(self) -> sp.csr_matrix | None:
        """User profile features of every user index (country), None without profiles. Size and price level
        come from the attributes of the user's history in the models that read it."""
        if self.users is None:
            return None
        return self._once(
            ("user_features",), lambda: FeatureEncoder(("country",)).fit(self.users).transform(self.users)
        )

    @cached_property
    def listed_at(self) -> np.ndarray:
        """When each item index was listed (datetime64[ns], NaT when unknown)."""
        listed = np.full(self.n_items, np.datetime64("NaT"), dtype="datetime64[ns]")
        listed[self.availability["item_idx"].to_numpy(np.int64)] = pd.to_datetime(
            self.availability["listed_at"]
        ).to_numpy("datetime64[ns]")
        return listed

    def freshness_table(self, at: pd.Timestamp, event_types: Sequence[str], days: int = 14) -> np.ndarray:
        """The log prior of each age band at ``at`` (``models.freshness``), measured on the target events before
        ``at`` and the inventory of the ``days`` days before it."""
        at = naive_utc(at)
        return self._once(
            ("freshness_table", at, tuple(event_types), days), lambda: self._freshness_table(at, event_types, days)
        )

    def _freshness_table(self, at: pd.Timestamp, event_types: Sequence[str], days: int) -> np.ndarray:
        listed = self.listed_at
        gone = listed.copy()
        idx = self.availability["item_idx"].to_numpy(np.int64)
        deleted = (self.availability["status"] == "deleted").to_numpy()  # when is unknown: never counted as for sale
        gone[idx] = np.where(
            deleted, listed[idx], pd.to_datetime(self.availability["sold_at"]).to_numpy("datetime64[ns]")
        )
        rows = self.interactions
        rows = rows[(rows["last_event_ts"] < at).to_numpy() & self.with_events(rows, event_types)]
        event_ages = (
            rows["last_event_ts"].to_numpy("datetime64[ns]") - listed[rows["item_idx"].to_numpy()]
        ) / np.timedelta64(1, "D")
        known = ~np.isnat(listed)
        return age_prior(
            event_ages[~np.isnan(event_ages)],
            inventory_ages(pd.Series(listed[known]), pd.Series(gone[known]), at, days),
        )


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
    metrics, targets, seconds = {}, {}, {}
    for name, factory in models.items():
        start = time.perf_counter()
        model = factory(split.split_time).fit(recent if name == "recent_popularity" else split.train)
        seconds[name] = time.perf_counter() - start
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
    return SplitEvaluation(metrics, targets, split.split_time, len(split.train_rows), len(split.test_rows), seconds)


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
    )
    return model.fit_sequences([seq.tolist() for seq in data.sequences])
