"""Scoring a run's served lists against what happened next (``recpipe evaluate``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recpipe.config.base import EventTypes, StrictModel


class FutureEvaluationConfig(StrictModel):
    """Scoring a run's served lists against the following days (recpipe evaluate)."""

    horizons_days: tuple[int, ...] = Field(default=(1, 7), min_length=1, description="days after the as-of")
    ks: tuple[int, ...] = Field(default=(10, 100), min_length=1, description="list depths scored")
    target_event_types: EventTypes = Field(
        default=("purchase", "add_to_bag"),
        description="each scored as its own target (train.evaluation.target_event_types, purchases, picks the champion)",
    )
    recent_days: int = Field(default=7, gt=0, description="window of the recent-popularity baseline")
    light_user_events: int = Field(
        default=5, ge=0, description="buyers with at most this many events before the as-of: segment light_users"
    )
    oracle: bool = Field(default=True, description="score the ground-truth oracle when sim tables exist")
    protocol: Literal["auto", "future", "holdout"] = Field(
        default="auto",
        description="holdout: against sim.holdout (ingested public data); future: the next days; auto: holdout when present",
    )
    holdout_k: int = Field(default=10, gt=0, description="k of the holdout protocol's metrics")
