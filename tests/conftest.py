"""Shared fixtures: one local SparkSession with Delta for the whole run, private redis-servers, tables."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from recpipe.config import Settings
from recpipe.serving.local_redis import RedisProcess
from recpipe.spark import get_spark, kafka_connector
from recpipe.tables import Tables

REPO_ROOT = Path(__file__).resolve().parents[1]

# pytest-xdist's workers run from `python -c`: a __main__ with neither __spec__ nor __file__, which
# pyspark.sql.connect (imported by Great Expectations) takes for a doctest run, and exits 0 from when grpc is absent.
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"


# The modules that run the whole graph take minutes each; the suite runs modules on parallel workers
# (scripts/test.sh), so these start first rather than leave one worker busy long after the other is done.
LONGEST_MODULES = ("test_deploy.py", "test_fresh_job.py", "test_train_job.py", "test_gate_job.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_MODULES.index(name) if name in LONGEST_MODULES else len(LONGEST_MODULES)

    items.sort(key=rank)  # stable: each module's tests keep their order


# Shuffle partitions for the suite's tiny frames, used by its session and by the deployed run's own JVM
# (test_deploy); both also run small frames (Settings.small_frames, the default: recpipe.spark.SMALL_FRAME_SPARK_CONF).
SMALL_FRAME_SHUFFLE_PARTITIONS = 1  # tiny frames: one reduce task beats the scheduling cost of more


@pytest.fixture(scope="session")
def spark_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("recpipe"),
        spark_master="local[2]",
        # One JVM serves the whole suite, `recpipe run` in process included: with 3g its old generation filled
        # up before the end (hundreds of small Delta tables and cached frames), and full GCs then took most of its time
        spark_driver_memory="6g",
        shuffle_partitions=SMALL_FRAME_SHUFFLE_PARTITIONS,
        # the suite creates hundreds of tables, once each
        spark_conf={"spark.databricks.delta.delta.log.cacheSize": "64"},
    )


@pytest.fixture(scope="session")
def spark(spark_settings: Settings):
    # with Spark's Kafka source: the availability stream's tests read a real broker
    session = get_spark(spark_settings, app_name="recpipe-tests", packages=[kafka_connector()])
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
