"""The base of every configuration model: unknown keys are errors and values are immutable.

A module of its own (not in ``recpipe.config``) so the generator's world model (``recpipe.data.config``) can use it
without importing the config package, whose run configuration holds the generator's section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors and values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
