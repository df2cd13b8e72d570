"""Tuned hyperparameters in Delta (monitoring.tuned_params): written by `recpipe tune`, read by `recpipe train`.

A table, not a file on the driver: tune and train may run on different clusters, and every run can say which
tuning it trained with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config import ALSConfig, TrainConfig
from recpipe.tables import Tables


@dataclass(frozen=True)
class Tuning:
    as_of: date
    mlflow_run_id: str
    metric: str
    value: float
    params: dict[str, Any]


def record(tables: Tables, tuning: Tuning) -> None:
    """Replace the tuning of ``tuning.as_of`` (a rerun of the day overwrites its own row)."""
    row = (
        tuning.as_of,
        tuning.mlflow_run_id,
        tuning.metric,
        float(tuning.value),
        json.dumps(tuning.params, sort_keys=True),
    )
    tables.replace_where(
        tables.spark.createDataFrame([row], catalog.columns(catalog.MONITORING_TUNED_PARAMS)),
        catalog.MONITORING_TUNED_PARAMS,
        f"as_of = '{tuning.as_of}'",
    )


def latest(tables: Tables, as_of: date) -> Tuning | None:
    """The newest tuning made on data up to ``as_of`` (None when there is none)."""
    if not tables.exists(catalog.MONITORING_TUNED_PARAMS):
        return None
    row = (
        tables.read(catalog.MONITORING_TUNED_PARAMS)
        .where(F.col("as_of") <= F.lit(as_of))
        .orderBy(F.desc("as_of"))
        .first()
    )
    if row is None:
        return None
    return Tuning(row.as_of, row.mlflow_run_id, row.metric, row.value, json.loads(row.params))


def effective_als_params(tables: Tables, config: TrainConfig, as_of: date) -> tuple[ALSConfig, Tuning | None]:
    """The configured ALS parameters, updated by the newest tuning up to ``as_of`` when ``use_tuned_params``."""
    tuned = latest(tables, as_of) if config.use_tuned_params else None
    return (config.als.model_copy(update=tuned.params) if tuned else config.als), tuned
