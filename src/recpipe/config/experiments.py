"""Online experiments: what is served side by side, to whom, and how the reading is made (recpipe experiment)."""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from typing import Literal

from pydantic import Field, model_validator

from recpipe.config.base import StrictModel

NAME_PATTERN = r"^[A-Za-z0-9_-]+$"  # a variant's name is part of a Redis field: no ':'


class VariantConfig(StrictModel):
    """One arm: its share of users and what it serves. The first variant of an experiment is the control, served
    from the batch's own lists; the others are built beside them (recpipe candidates) under their own keys."""

    name: str = Field(pattern=NAME_PATTERN)
    weight: float = Field(default=1.0, gt=0, description="share of the experiment's users, relative to the others")
    ranking: bool | None = Field(
        default=None, description="the learned ranker orders this arm's lists (null: as ranking.enabled)"
    )
    model_version: str | None = Field(default=None, description="a registered model version (null: the run's)")


class ExperimentConfig(StrictModel):
    """An A/B test (users split by a hash of salt and id) or a team-draft interleaving of two variants."""

    name: str = Field(pattern=NAME_PATTERN)
    salt: str | None = Field(default=None, description="of the assignment hash (null: the name); change to reshuffle")
    kind: Literal["ab", "interleaving"] = "ab"
    start: date
    end: date = Field(description="last day served (inclusive)")
    variants: tuple[VariantConfig, ...] = Field(min_length=2, description="the first is the control")

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.name}: variant names must be unique (got {names})")
        if self.end < self.start:
            raise ValueError(f"experiment {self.name}: end {self.end} is before start {self.start}")
        if self.kind == "interleaving" and len(self.variants) != 2:
            raise ValueError(f"experiment {self.name}: interleaving compares exactly two variants")
        return self

    @property
    def assignment_salt(self) -> str:
        return self.salt or self.name

    def live_on(self, day: date) -> bool:
        return self.start <= day <= self.end


class ExperimentsConfig(StrictModel):
    """Configured experiments and the analysis' rules (recpipe experiment analyze NAME)."""

    active: tuple[ExperimentConfig, ...] = Field(default=(), description="at most one live on any day")
    attribution_days: int = Field(
        default=1, ge=0, description="events up to this many days after the experiment's end still count"
    )
    pre_period_days: int = Field(default=14, gt=0, description="days before the start: CUPED's covariate")
    alpha: float = Field(default=0.05, gt=0, lt=1, description="1 - the intervals' coverage")
    srm_p_value: float = Field(
        default=0.001, gt=0, lt=1, description="a sample-ratio-mismatch test below this blocks the reading"
    )

    @model_validator(mode="after")
    def _one_at_a_time(self) -> ExperimentsConfig:
        names = [e.name for e in self.active]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment names must be unique (got {names})")
        spans = sorted((e.start, e.end, e.name) for e in self.active)
        for (_, end, first), (start, _, second) in pairwise(spans):
            if start <= end:
                raise ValueError(f"experiments {first} and {second} overlap: one experiment per day on foryou")
        return self

    def named(self, name: str) -> ExperimentConfig:
        for experiment in self.active:
            if experiment.name == name:
                return experiment
        known = ", ".join(e.name for e in self.active) or "none"
        raise ValueError(f"no experiment named {name!r} in experiments.active (configured: {known})")

    def live_on(self, day: date) -> ExperimentConfig | None:
        return next((e for e in self.active if e.live_on(day)), None)
