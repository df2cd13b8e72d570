"""How much more a listing of a given age is bought than its share of the inventory: a prior on listing age.

In a resale marketplace the feed shows the newest listings and what people love sells within days, so among
the listings for sale a fresh one is far likelier to be bought tomorrow than one that has waited two weeks. A
model trained on interactions cannot learn this from its own features: the listing's age at training time is
not its age when it was bought, and in-batch negatives were bought at the same ages as the positives. The prior
is measured instead: per age band, the log of (share of target events on listings of that age at the event) /
(share of the live inventory of that age, averaged over the days before). Added to a log-space score (a softmax
model's logit), it turns "would like" into "will buy from what is for sale now".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

AGE_EDGES_DAYS = (0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 14.0, 21.0, 30.0)
DAY = pd.Timedelta(days=1)


def naive_utc(at: pd.Timestamp) -> pd.Timestamp:
    """A time as naive UTC, as Spark hands timestamps to pandas."""
    at = pd.Timestamp(at)
    return at if at.tzinfo is None else at.tz_convert(None)


def age_bands(ages_days: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(AGE_EDGES_DAYS), np.maximum(ages_days, 0.0), side="right")


def age_prior(target_ages_days: np.ndarray, inventory_ages_days: np.ndarray, smoothing: float = 1.0) -> np.ndarray:
    """log(target share / inventory share) per age band (``len(AGE_EDGES_DAYS) + 1`` bands), both shares with
    ``smoothing`` added to every band's count; 0 everywhere when either side is empty."""
    bands = len(AGE_EDGES_DAYS) + 1
    if len(target_ages_days) == 0 or len(inventory_ages_days) == 0:
        return np.zeros(bands, dtype=np.float32)
    targets = np.bincount(age_bands(target_ages_days), minlength=bands) + smoothing
    inventory = np.bincount(age_bands(inventory_ages_days), minlength=bands) + smoothing
    return np.log((targets / targets.sum()) / (inventory / inventory.sum())).astype(np.float32)


def inventory_ages(listed_at: pd.Series, gone_at: pd.Series, until: pd.Timestamp, days: int) -> np.ndarray:
    """Ages (days) of the listings for sale at each of the ``days`` days before ``until``, pooled: ``gone_at`` is
    when a listing stopped being for sale (NaT: still for sale)."""
    listed = pd.to_datetime(listed_at).to_numpy("datetime64[s]").astype(np.int64)
    gone = pd.to_datetime(gone_at).to_numpy("datetime64[s]")
    gone = np.where(np.isnat(gone), np.iinfo(np.int64).max, gone.astype(np.int64))
    ages = []
    for back in range(1, days + 1):
        at = int((until - back * DAY).timestamp())
        live = (listed <= at) & (gone > at)
        ages.append((at - listed[live]) / 86_400)
    return np.concatenate(ages) if ages else np.zeros(0)


def listing_prior(table: np.ndarray, at: pd.Timestamp, listed_at: np.ndarray) -> np.ndarray:
    """Each listing's prior: ``table``'s value for its age band at ``at`` (a listing listed after ``at`` is in the
    newest band); 0 where the listing time is unknown (NaT)."""
    listed = np.asarray(listed_at, dtype="datetime64[ns]")
    known = ~np.isnat(listed)
    prior = np.zeros(len(listed), dtype=np.float32)
    ages = (np.datetime64(naive_utc(at)) - listed[known]) / np.timedelta64(1, "D")
    prior[known] = np.asarray(table, dtype=np.float32)[age_bands(ages)]
    return prior
