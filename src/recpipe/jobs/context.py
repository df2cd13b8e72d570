"""What every job needs: where (settings), a Spark session, tables by name, a run id and a stage log."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from recpipe.config import Settings, load_settings
from recpipe.progress import StageLog
from recpipe.spark import get_spark
from recpipe.tables import Tables

RUN_ID_ENV = "RECPIPE_RUN_ID"


def deterministic_run_id(job: str, *parts: object) -> str:
    """A run id derived from what the run does, so a rerun on the same input writes identical rows."""
    digest = hashlib.sha256(json.dumps([job, *map(str, parts)]).encode()).hexdigest()[:12]
    return f"{job}-{digest}"


@dataclass
class JobContext:
    settings: Settings
    spark: SparkSession
    tables: Tables
    stages: StageLog

    @classmethod
    def create(cls, job: str, args: argparse.Namespace) -> JobContext:
        settings = load_settings(args.target, Path(args.targets_file) if args.targets_file else None)
        spark = get_spark(settings, app_name=f"recpipe-{job}")
        return cls(settings=settings, spark=spark, tables=Tables(spark, settings), stages=StageLog(job))

    def interactions_as_of(self) -> date:
        """The as-of day of silver.interactions (the day of their last event): the day training and lists are for."""
        return self.tables.read("silver.interactions").agg(F.max(F.to_date("last_event_ts"))).first()[0]

    def run_id(self, *parts: object) -> str:
        """``$RECPIPE_RUN_ID`` when an orchestrator sets one, else derived from the job's inputs."""
        return os.environ.get(RUN_ID_ENV) or deterministic_run_id(self.stages.job, *parts)
