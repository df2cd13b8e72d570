"""Validated bronze events -> silver interactions (``recpipe interactions``)."""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import Field, field_validator

from recpipe.config.base import PLATFORM_START, StrictModel, check_event_types


class ValidationConfig(StrictModel):
    """Input validation of the bronze tables."""

    max_quarantine_share: float = Field(default=0.01, ge=0, le=1, description="fail above this share per table")
    platform_start: date = Field(default=PLATFORM_START, description="no bronze timestamp is earlier")


DEFAULT_EVENT_WEIGHTS = {"view": 1.0, "like": 3.0, "save": 3.0, "add_to_bag": 5.0, "purchase": 10.0}


class InteractionsConfig(StrictModel):
    """Validated bronze events -> silver interactions."""

    lookback_days: int = Field(default=90, gt=0)

    def first_window_day(self, as_of: date) -> date:
        """The first day of the interactions window that ends with ``as_of``."""
        return as_of - timedelta(days=self.lookback_days - 1)

    half_life_days: float = Field(default=30.0, gt=0)
    event_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    max_confidence: float = Field(default=100.0, gt=0, description="cap of the confidence of one (user, item)")
    bot_max_events_per_day: int = Field(default=150, gt=0)
    min_user_interactions: int = Field(default=2, ge=1)
    min_item_interactions: int = Field(default=2, ge=1)
    min_count_passes: int = Field(default=2, ge=1)
    incremental: bool = Field(default=False, description="MERGE the as-of day into the existing tables")
    validation: ValidationConfig = ValidationConfig()

    @field_validator("event_weights")
    @classmethod
    def _known_event_types(cls, weights: dict[str, float]) -> dict[str, float]:
        check_event_types(weights)
        if any(w < 0 for w in weights.values()):
            raise ValueError("weights must be >= 0")
        return weights
