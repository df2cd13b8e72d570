"""The one place a SparkSession comes from. Only job entry points and test fixtures call it."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys

from pyspark.sql import SparkSession

from recpipe.config import Settings, runtime_platform
from recpipe.errors import RecpipeError

log = logging.getLogger(__name__)


class JavaNotFoundError(RecpipeError, RuntimeError):
    """Local Spark needs a Java runtime."""


def on_databricks() -> bool:
    """True inside a Databricks runtime (jobs, notebooks)."""
    return runtime_platform() == "databricks"


def ensure_java() -> str:
    """Return the java executable, or raise with what to install."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise JavaNotFoundError(
            "local Spark needs Java 17 or 21 and none was found (JAVA_HOME unset and no `java` on PATH). "
            "Install it, e.g. `apt-get install -y openjdk-17-jre-headless`, or set JAVA_HOME."
        )
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise JavaNotFoundError(f"`{java} -version` failed: {result.stderr.strip()[:200]}")
    return java


def local_session_builder(settings: Settings, app_name: str) -> SparkSession.Builder:
    """Builder of a local Spark session with Delta Lake, quiet logs and small shuffles."""
    data_dir = settings.data_dir.resolve()
    return (
        SparkSession.builder.master(settings.spark_master)
        .appName(app_name)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.default.parallelism", str(settings.shuffle_partitions))
        .config("spark.sql.warehouse.dir", str(data_dir / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={data_dir / 'derby'}")
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.databricks.delta.stalenessLimit", "1h")
    )


def get_spark(settings: Settings, app_name: str = "recpipe") -> SparkSession:
    """The active session on Databricks (or any active one); else a local session with Delta.

    Args:
        settings: where the pipeline runs; local sessions keep their warehouse under ``settings.data_dir``.
        app_name: Spark application name.
    """
    if on_databricks():
        spark = SparkSession.builder.getOrCreate()
        spark.conf.set("spark.sql.session.timeZone", "UTC")  # days and decay are defined in UTC
        return spark
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    ensure_java()
    from delta import configure_spark_with_delta_pip  # the wheel adds the Maven coordinates of Delta's JARs

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Python workers (mapInPandas, UDFs) must run the interpreter that has recpipe installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    log.info("starting local Spark (%s) with Delta Lake; data under %s", settings.spark_master, settings.data_dir)
    spark = configure_spark_with_delta_pip(local_session_builder(settings, app_name)).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
