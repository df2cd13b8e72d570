"""What every job needs: where (settings), the run's configuration, a Spark session, tables by name, a run id and a
stage log."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config import RUN_ID_ENV, RunConfig, Settings, load_run_config, load_settings
from recpipe.errors import MissingInputError
from recpipe.progress import StageLog
from recpipe.run_day import requested_day
from recpipe.spark import get_spark
from recpipe.tables import Tables, one_row


def deterministic_run_id(job: str, *parts: object) -> str:
    """A run id derived from what the run does, so a rerun on the same input writes identical rows."""
    digest = hashlib.sha256(json.dumps([job, *map(str, parts)]).encode()).hexdigest()[:12]
    return f"{job}-{digest}"


def requested_as_of(args: argparse.Namespace) -> date | None:
    """The as-of named on the command line (``--as-of``, or the day before ``--run-date``), None without one."""
    day = requested_day(args)
    return day.as_of if day else None


@dataclass
class JobContext:
    settings: Settings
    spark: SparkSession
    tables: Tables
    stages: StageLog
    as_of: date | None = None  # the run's as-of when one was passed; else each job takes it from its validated input
    config: RunConfig = field(default_factory=load_run_config)  # the run's configuration, every section

    @classmethod
    def create(cls, job: str, args: argparse.Namespace, flags: Sequence[str] = ()) -> JobContext:
        """The context of a job's command line: its configuration (``--conf``, ``--set`` and ``flags``, overrides of
        its own section, loaded before Spark starts so a bad value fails at once), settings and a Spark session."""
        config = load_run_config(job, args.conf, [*args.set, *flags])
        settings = load_settings()
        spark = get_spark(settings, app_name=f"recpipe-{job}")
        return cls.for_settings(job, settings, spark, requested_as_of(args), config)

    @classmethod
    def for_settings(
        cls,
        job: str,
        settings: Settings,
        spark: SparkSession,
        as_of: date | None = None,
        config: RunConfig | None = None,
    ) -> JobContext:
        return cls(
            settings=settings,
            spark=spark,
            tables=Tables(spark, settings),
            stages=StageLog(job),
            as_of=as_of,
            config=config or load_run_config(),
        )

    def interactions_as_of(self) -> date:
        """The as-of day of silver.interactions (the day of their last event): the day training and lists are for.
        When the run names an as-of, silver must be built for it: a task never works on another day's data."""
        built_for = one_row(self.tables.read(catalog.SILVER_INTERACTIONS).agg(F.max(F.to_date("last_event_ts"))))[0]
        self.check_as_of(catalog.SILVER_INTERACTIONS, built_for, "recpipe interactions")
        return built_for

    def check_as_of(self, what: str, found: date, producer: str) -> None:
        """Raise when the run names an as-of and ``what`` holds another day's data."""
        if self.as_of is not None and found != self.as_of:
            raise MissingInputError(
                f"{what} is as of {found}, this run is as of {self.as_of}: run `{producer} --as-of {self.as_of}` first"
            )

    def run_id(self, *parts: object) -> str:
        """``$RECPIPE_RUN_ID`` when an orchestrator sets one, else derived from the job's inputs."""
        return os.environ.get(RUN_ID_ENV) or deterministic_run_id(self.stages.job, *parts)
