"""Shared fixtures: one local SparkSession with Delta for the whole run, private redis-servers, tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from recpipe.config import Settings
from recpipe.serving.local_redis import RedisProcess
from recpipe.spark import get_spark
from recpipe.tables import Tables

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def spark_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("recpipe"),
        spark_master="local[2]",
        # One JVM serves the whole suite, `recpipe run` in process included: with 3g its old generation filled
        # up before the end (hundreds of small Delta tables and cached frames), and full GCs then took most of its time
        spark_driver_memory="6g",
        shuffle_partitions=1,  # tiny frames: one reduce task beats the scheduling cost of more
        # Tiny frames run faster interpreted than compiled: the suite runs many distinct queries once each, and
        # code generation costs more than it saves (the job tests took 22% less time without it)
        spark_conf={
            "spark.sql.codegen.wholeStage": "false",
            "spark.sql.codegen.factoryMode": "NO_CODEGEN",
            "spark.databricks.delta.delta.log.cacheSize": "64",  # the suite creates hundreds of tables, once each
        },
    )


@pytest.fixture(scope="session")
def spark(spark_settings: Settings):
    session = get_spark(spark_settings, app_name="recpipe-tests")
    yield session
    session.stop()


@pytest.fixture(scope="module", autouse=True)
def release_cached_frames() -> Iterator[None]:
    """A module's cached frames go when it ends (a failing test may leave its caches behind)."""
    yield
    active = SparkSession.getActiveSession()
    if active is not None:
        active.catalog.clearCache()


@pytest.fixture
def settings(tmp_path: Path, spark_settings: Settings) -> Settings:
    """Settings whose tables live in this test's own directory."""
    return spark_settings.model_copy(update={"data_dir": tmp_path})


@pytest.fixture
def tables(spark, settings: Settings) -> Tables:
    return Tables(spark, settings)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    """A private redis-server on a free loopback port; can be stopped and started again (fault tests)."""
    server = RedisProcess(tmp_path).start()
    yield server
    server.stop()
