"""What notebooks need: parameters from Databricks widgets or environment variables, and a context."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

from recpipe.config import NOTEBOOK_ENV_PREFIX, load_settings
from recpipe.jobs.context import JobContext
from recpipe.spark import get_spark


def param(name: str, default: str) -> str:
    """A notebook parameter: the Databricks widget ``name`` when there is one, else ``$RECPIPE_NB_<NAME>``."""
    try:
        from pyspark.dbutils import DBUtils

        dbutils = DBUtils(SparkSession.builder.getOrCreate())
        dbutils.widgets.text(name, default)
        return dbutils.widgets.get(name)
    except ImportError:
        return os.environ.get(f"{NOTEBOOK_ENV_PREFIX}{name.upper()}", default)


def notebook_context() -> JobContext:
    """The jobs' context (settings from ``RECPIPE_<FIELD>`` variables, Spark, tables), so notebooks call the jobs'
    own loaders; no as-of: notebooks read the latest silver."""
    settings = load_settings()
    return JobContext.for_settings("notebook", settings, get_spark(settings, "recpipe-notebook"))
