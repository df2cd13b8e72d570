"""The in-memory training set (no Spark): interactions, id maps, availability, listing and user attributes, the
time split's rows; what every model family fits on and the time split evaluates."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recpipe.data.hashing import Draws
from recpipe.models.features import FeatureEncoder, listing_features
from recpipe.models.freshness import age_prior, inventory_ages, naive_utc
from recpipe.models.matrix import to_csr
from recpipe.models.ranking import exclusion_matrix

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

    def user_sample(self, share: float, seed: int) -> TrainingData:
        """The same data with the rows of a seeded ``share`` of the users only (interactions, the split's both
        sides, own listings). The indices stay, so a model fitted on it still covers every user and listing; a user
        is kept when a hash of its id falls under ``share``, so the same users are kept on any machine."""
        if share >= 1.0:
            return self
        kept = Draws(seed).uniform("user sample", self.user_ids) < share

        def of_kept(rows: pd.DataFrame) -> pd.DataFrame:
            return rows[kept[rows["user_idx"].to_numpy(np.int64)]].reset_index(drop=True)

        split = self.split
        if split is not None:
            split = replace(split, train=of_kept(split.train), test=of_kept(split.test))
        own = None if self.own_listings is None else of_kept(self.own_listings)
        return replace(self, interactions=of_kept(self.interactions), own_listings=own, split=split, _derived={})

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
