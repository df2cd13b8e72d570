"""What notebooks need: parameters from Databricks widgets or environment variables, and a context."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pyspark.sql import SparkSession

from recpipe.config import Settings, load_settings
from recpipe.spark import get_spark
from recpipe.tables import Tables


def param(name: str, default: str) -> str:
    """A notebook parameter: the Databricks widget ``name`` when there is one, else ``$RECPIPE_NB_<NAME>``."""
    try:
        from pyspark.dbutils import DBUtils  # type: ignore[import-not-found]

        dbutils = DBUtils(SparkSession.builder.getOrCreate())
        dbutils.widgets.text(name, default)
        return dbutils.widgets.get(name)
    except ImportError:
        return os.environ.get(f"RECPIPE_NB_{name.upper()}", default)


@dataclass
class NotebookContext:
    settings: Settings
    spark: SparkSession
    tables: Tables


def notebook_context() -> NotebookContext:
    """Settings (from ``RECPIPE_<FIELD>`` variables, as for the jobs), Spark and tables."""
    settings = load_settings()
    spark = get_spark(settings, "recpipe-notebook")
    return NotebookContext(settings, spark, Tables(spark, settings))
