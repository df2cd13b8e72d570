"""The one place a SparkSession comes from. Only job entry points and test fixtures call it."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

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


# Lines a local Spark start prints on stderr that tell a user nothing: Ivy's report of Delta's Maven dependencies
# (about 80 lines on every start, even when every JAR is cached) and the JVM's start-up notices.
_LAUNCH_NOISE = re.compile(
    r"^(:: |\t(found |confs: |\d+ artifacts copied|:: )|\t[\w.-]+#[\w.-]+;|\s*\|.*\|\s*$|\s*-{20,}\s*$"
    r"|Ivy Default Cache|The jars for the packages|[\w.-]+#[\w.-]+ added as a dependency"
    r"|WARNING: Using incubator modules|Using Spark's default log4j profile|Setting default log level"
    r"|To adjust logging level|.*WARN NativeCodeLoader)"
)


def _forward(source: int, target: int) -> None:
    """Copy the JVM's stderr to ours, line by line, without the launch noise (runs for the JVM's lifetime)."""
    with os.fdopen(source, "rb") as lines, os.fdopen(target, "wb", buffering=0) as out:
        for line in lines:
            if not _LAUNCH_NOISE.match(line.decode(errors="replace")):
                out.write(line)


@contextmanager
def _filtered_child_stderr() -> Iterator[None]:
    """Child processes started inside (the Spark JVM) write stderr through a filter; ours is unchanged after."""
    read_end, write_end = os.pipe()
    saved = os.dup(2)
    sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)
    threading.Thread(target=_forward, args=(read_end, os.dup(saved)), daemon=True, name="spark-stderr").start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


# Small frames run faster interpreted than compiled: a run on the default world starts about 500 distinct queries,
# once each, and generating code for them costs more than it saves; adaptive execution re-plans each query after its
# shuffles, which on small frames only adds planning and jobs. Measured: `recpipe run` on the default world 11% faster
# (benchmarks/demo.py), the job tests 22% (code generation) and the gate's tests 12-15% (adaptive execution).
# Neither holds for large frames (Settings.small_frames: false), nor on a cluster, which keeps its own settings.
SMALL_FRAME_SPARK_CONF = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
    "spark.databricks.delta.writeChecksumFile.enabled": "false",  # one more state computation per commit
}


def local_session_builder(settings: Settings, app_name: str) -> SparkSession.Builder:
    """Builder of a local Spark session with Delta Lake, quiet logs and small shuffles."""
    data_dir = settings.data_dir.resolve()
    builder = (
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
    for key, value in extra_spark_conf(settings).items():
        builder = builder.config(key, value)
    return builder


def extra_spark_conf(settings: Settings) -> dict[str, str]:
    """A local session's settings beyond the builder's: the small-frame ones (``settings.small_frames``), then
    ``settings.spark_conf``, which wins where both set a key."""
    return {**(SMALL_FRAME_SPARK_CONF if settings.small_frames else {}), **settings.spark_conf}


def kafka_connector() -> str:
    """Maven coordinates of Spark's Kafka source for this pyspark (the Databricks runtime has it built in)."""
    import pyspark

    return f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark.__version__}"


def get_spark(settings: Settings, app_name: str = "recpipe", packages: Sequence[str] = ()) -> SparkSession:
    """The active session on Databricks (or any active one); else a local session with Delta.

    Args:
        settings: where the pipeline runs; local sessions keep their warehouse under ``settings.data_dir``.
        app_name: Spark application name.
        packages: more Maven coordinates a new local session loads (``kafka_connector()``), beside Delta's.
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
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # a local session serves only this machine
    log.info("starting local Spark (%s) with Delta Lake; data under %s", settings.spark_master, settings.data_dir)
    with _filtered_child_stderr():
        spark = configure_spark_with_delta_pip(
            local_session_builder(settings, app_name), extra_packages=list(packages)
        ).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    _quiet_task_failures(spark)
    return spark


# A failed task reaches the driver as a Python exception, which the job turns into one line (its traceback with
# --verbose); these loggers would print the same failure again, Java stack and Python traceback, per task.
TASK_FAILURE_LOGGERS = (
    "org.apache.spark.executor.Executor",
    "org.apache.spark.scheduler.TaskSetManager",
    "org.apache.spark.api.python.PythonRunner",
)


def _quiet_task_failures(spark: SparkSession) -> None:
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # a local session that just started has its JVM
    off = jvm.org.apache.logging.log4j.Level.OFF
    for name in TASK_FAILURE_LOGGERS:
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, off)
