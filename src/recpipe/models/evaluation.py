"""Offline evaluation: splits and ranking metrics at k.

Definitions follow Microsoft Recommenders' ``python_evaluation`` (every test item is relevant, seen training
items are removed from the lists, averages are over users present in both the test set and the predictions):

* precision@k = mean over users of hits / k
* recall@k = mean over users of hits / |test items|
* nDCG@k = mean over users of DCG / IDCG with binary gains and 1 / log(1 + rank)
* MAP = mean over users of (sum of precision at each hit's rank) / |test items|
* hit rate@k = share of users with at least one hit
* catalog coverage = distinct recommended items / catalog size
* novelty = mean over recommended items seen in training of -log2(share of training users who interacted with it)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import get_args

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recpipe.config import ModelMetric
from recpipe.models.matrix import to_csr

MODEL_METRICS: tuple[str, ...] = get_args(ModelMetric)  # what a model version is judged and charted by


@dataclass(frozen=True)
class RankingMetrics:
    k: int
    precision: float
    recall: float
    ndcg: float
    map: float
    hit_rate: float
    coverage: float
    novelty: float
    n_users: int

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}{name}": float(value) for name, value in asdict(self).items()}


def ranking_metrics(
    user_idx: np.ndarray, recommended: np.ndarray, truth: sp.csr_matrix, k: int, train: sp.csr_matrix | None = None
) -> RankingMetrics:
    """Metrics of ``recommended`` (rows aligned with ``user_idx``; -1 pads) against ``truth`` (users x items).

    Users without test items are ignored, as in Microsoft Recommenders (they share no user with the truth).
    """
    user_idx = np.asarray(user_idx, dtype=np.int64)
    recs = np.asarray(recommended, dtype=np.int64)[:, :k]
    valid = recs[recs >= 0]  # coverage and novelty look at every list, as in the reference
    actual = np.diff(truth.indptr)[user_idx]
    keep = actual > 0
    user_idx, recs, actual = user_idx[keep], recs[keep], actual[keep]
    n_users = len(user_idx)
    n_items = truth.shape[1]
    if n_users == 0:
        return RankingMetrics(k, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)

    truth_keys = np.sort(truth.tocoo().row.astype(np.int64) * n_items + truth.tocoo().col)
    rec_keys = user_idx[:, None] * n_items + recs
    hits = np.isin(rec_keys, truth_keys) & (recs >= 0)
    ranks = np.arange(1, recs.shape[1] + 1)
    n_hits = hits.sum(axis=1)

    discounts = 1.0 / np.log1p(ranks)
    dcg = (hits * discounts).sum(axis=1)
    ideal = np.cumsum(1.0 / np.log1p(np.arange(1, k + 1)))
    idcg = ideal[np.minimum(actual, k) - 1]
    precision_at_hits = np.cumsum(hits, axis=1) / ranks * hits

    novelty = 0.0
    if train is not None and len(valid):
        train_users = int((np.diff(train.indptr) > 0).sum())
        item_users = np.asarray((train > 0).sum(axis=0)).ravel()
        counts = item_users[valid]
        seen = counts > 0  # an item never seen in train has no defined novelty (as in the reference)
        novelty = float(np.mean(-np.log2(counts[seen] / train_users))) if seen.any() else 0.0
    return RankingMetrics(
        k=k,
        precision=float(n_hits.sum() / k / n_users),
        recall=float((n_hits / actual).sum() / n_users),
        ndcg=float((dcg / idcg).sum() / n_users),
        map=float((precision_at_hits.sum(axis=1) / actual).sum() / n_users),
        hit_rate=float((n_hits > 0).mean()),
        coverage=float(len(np.unique(valid)) / n_items),
        novelty=novelty,
        n_users=n_users,
    )


ITEM_STATES = ("warm", "cold", "new")  # a target listing's state at the split (or the as-of's end)


def item_states(had_events: np.ndarray, listed_at: np.ndarray, at: np.datetime64 | pd.Timestamp) -> np.ndarray:
    """The one rule of a listing's state at ``at``: ``new`` when listed at or after it (no list made at ``at`` can
    hold it), else ``warm`` when it had events before ``at``, else ``cold`` (for sale, no history). Its Spark twin,
    ``transforms.future_scoring.item_states``, is held equal by a parity test."""
    listed_later = np.asarray(listed_at, "datetime64[ns]") >= np.datetime64(pd.Timestamp(at).to_datetime64(), "ns")
    return np.where(listed_later, "new", np.where(np.asarray(had_events, bool), "warm", "cold"))


def stratified_split(
    df: pd.DataFrame, ratio: float = 0.75, by: str = "user_idx", seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per group (``by``: user or item column), a seeded random ``ratio`` of rows goes to train, the rest to test.

    As Microsoft Recommenders' ``python_stratified_split``: rows are shuffled with the seed, and each group's first
    ``round(ratio * size)`` rows are training rows.
    """
    shuffled = df.sample(frac=1.0, random_state=seed)
    position = shuffled.groupby(by).cumcount()
    size = shuffled.groupby(by)[by].transform("size")
    in_train = position < np.round(ratio * size)
    return shuffled[in_train].sort_index(), shuffled[~in_train].sort_index()


def time_split(
    df: pd.DataFrame, holdout_days: int, ts_column: str = "last_event_ts"
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Rows before the last ``holdout_days`` days train; the rest test. Returns (train, test, split time)."""
    split_time = pd.Timestamp(df[ts_column].max()).normalize() - pd.Timedelta(days=holdout_days - 1)
    before = df[ts_column] < split_time
    return df[before], df[~before], split_time


def available_items_mask(availability: pd.DataFrame, n_items: int, at: pd.Timestamp) -> np.ndarray:
    """Boolean mask over item indices: listed by ``at``, not sold before ``at`` and not deleted.

    ``availability`` has ``item_idx``, ``status``, ``listed_at`` and ``sold_at``.
    """
    mask = np.zeros(n_items, dtype=bool)
    sold_before = availability["sold_at"].notna() & (availability["sold_at"] < at)
    ok = (availability["listed_at"] <= at) & ~sold_before & (availability["status"] != "deleted")
    mask[availability.loc[ok, "item_idx"].to_numpy(dtype=np.int64)] = True
    return mask


def holdout_metrics(served: pd.DataFrame, truth: pd.DataFrame, k: int) -> RankingMetrics:
    """Ranking metrics of served lists (``user_id``, ``item_ids``) against held-out pairs (``user_id``, ``item_id``)."""
    user_codes, users = pd.factorize(pd.concat([served["user_id"], truth["user_id"]], ignore_index=True))
    listed = (
        np.concatenate([np.asarray(ids, dtype=np.int64) for ids in served["item_ids"]])
        if len(served)
        else np.zeros(0, np.int64)
    )
    item_codes, items = pd.factorize(pd.concat([pd.Series(listed), truth["item_id"]], ignore_index=True))
    recommended = np.full((len(served), k), -1, dtype=np.int64)
    lengths = served["item_ids"].map(len).to_numpy()
    rows = np.repeat(np.arange(len(served)), lengths)
    columns = np.arange(len(listed)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    recommended[rows, columns] = item_codes[: len(listed)]
    truth_matrix = to_csr(
        user_codes[len(served) :], item_codes[len(listed) :], np.ones(len(truth)), len(users), len(items)
    )
    return ranking_metrics(user_codes[: len(served)], recommended, truth_matrix, k)
