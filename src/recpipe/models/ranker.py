"""The learned ranker: LightGBM LambdaRank over the retrieved candidates of each user, on the features of
``transforms.ranking_features`` (their names travel with the model, so a frame is always read in the training
order)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recpipe.config import RankerConfig

log = logging.getLogger(__name__)


def group_sizes(users: np.ndarray) -> np.ndarray:
    """Rows per user of a frame sorted by user (LightGBM's query groups)."""
    _, counts = np.unique(users, return_counts=True)
    if len(users) == 0:
        return counts
    boundaries = np.flatnonzero(np.diff(users)) + 1
    if len(boundaries) + 1 != len(counts):
        raise ValueError("ranker rows must be sorted by user_id: each user's candidates contiguous")
    return counts


@dataclass
class LearnedRanker:
    """A fitted booster and the feature names (and categorical ones) it reads."""

    booster: object  # lightgbm.Booster, imported lazily: the wheel imports without LightGBM until a ranker is used
    features: tuple[str, ...]
    categorical: tuple[str, ...] = ()
    best_iteration: int = 0

    @classmethod
    def fit(
        cls,
        train: pd.DataFrame,
        valid: pd.DataFrame,
        features: tuple[str, ...],
        categorical: tuple[str, ...],
        config: RankerConfig,
        seed: int,
    ) -> LearnedRanker:
        """Fit on ``train`` (``user_id``, ``grade``, the features; sorted by user), stopping early on ``valid``'s
        nDCG at ``config.eval_at``; with no validation rows (a tiny world), for ``config.max_rounds`` rounds."""
        import lightgbm as lgb

        params = {
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": [config.eval_at],
            "num_leaves": config.num_leaves,
            "learning_rate": config.learning_rate,
            "min_child_samples": config.min_child_samples,
            "feature_fraction": config.feature_fraction,
            "num_threads": config.num_threads,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }

        def dataset(frame: pd.DataFrame, reference=None):
            return lgb.Dataset(
                frame[list(features)].to_numpy(np.float64),
                label=frame["grade"].to_numpy(),
                group=group_sizes(frame["user_id"].to_numpy()),
                feature_name=list(features),
                categorical_feature=list(categorical),
                reference=reference,
                free_raw_data=True,
            )

        train_set = dataset(train)
        stopping: dict[str, Any] = {}
        if len(valid):
            stopping = {
                "valid_sets": [dataset(valid, train_set)],
                "valid_names": ["valid"],
                "callbacks": [lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
            }
        else:
            log.warning("ranker: no validation rows, so no early stopping (%d rounds)", config.max_rounds)
        booster = lgb.train(params, train_set, num_boost_round=config.max_rounds, **stopping)
        log.info("ranker: %d rounds (best %d)", booster.current_iteration(), booster.best_iteration)
        return cls(booster, tuple(features), tuple(categorical), int(booster.best_iteration))

    def predict(self, frame: pd.DataFrame, num_threads: int = 1) -> np.ndarray:
        """Scores of the rows of ``frame`` (its feature columns, by name); higher ranks first. In (0, 1): the raw
        LambdaRank score squashed by a logistic (order kept), so served scores keep one scale across versions and
        the list gate's bounds on the median score stay meaningful."""
        values = frame[list(self.features)].to_numpy(np.float64)
        iteration = self.best_iteration or None
        raw = self.booster.predict(values, num_iteration=iteration, num_threads=num_threads)  # type: ignore[attr-defined]
        return 1.0 / (1.0 + np.exp(-raw))

    def importances(self) -> dict[str, float]:
        """Total gain per feature, largest first."""
        gains = self.booster.feature_importance(importance_type="gain", iteration=self.best_iteration or None)  # type: ignore[attr-defined]
        return dict(sorted(zip(self.features, map(float, gains)), key=lambda kv: -kv[1]))

    def to_string(self) -> str:
        return self.booster.model_to_string(num_iteration=self.best_iteration or None)  # type: ignore[attr-defined]

    @classmethod
    def from_string(cls, model: str, features: tuple[str, ...], categorical: tuple[str, ...] = ()) -> LearnedRanker:
        import lightgbm as lgb

        return cls(lgb.Booster(model_str=model), tuple(features), tuple(categorical))

    def save(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        (path / "model.txt").write_text(self.to_string())
        (path / "features.json").write_text(
            json.dumps({"features": list(self.features), "categorical": list(self.categorical)})
        )
        return path

    @classmethod
    def load(cls, path: Path) -> LearnedRanker:
        names = json.loads((path / "features.json").read_text())
        return cls.from_string((path / "model.txt").read_text(), names["features"], names["categorical"])


def recall_at(candidates: pd.DataFrame, order: str, targets: pd.DataFrame, ks: tuple[int, ...]) -> dict[int, float]:
    """Mean over the users of ``targets`` (``user_id, item_id``) of the share of their targets in the top k of
    their ``candidates`` by ``order`` (ascending; rows where it is null are never listed): recall at each k."""
    listed = candidates.dropna(subset=[order]).sort_values(["user_id", order, "item_id"])
    listed = listed.assign(_position=listed.groupby("user_id").cumcount())
    hits = targets.merge(listed[["user_id", "item_id", "_position"]], on=["user_id", "item_id"], how="left")
    per_user = hits.groupby("user_id")
    return {
        k: float(per_user["_position"].apply(lambda p, k=k: float((p < k).sum()) / len(p)).mean()) if len(hits) else 0.0
        for k in ks
    }
