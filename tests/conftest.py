"""Shared fixtures: one local SparkSession with Delta for the whole run, private redis-servers, tables."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from recpipe.config import Settings
from recpipe.spark import get_spark
from recpipe.tables import Tables

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def spark_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("recpipe"),
        spark_master="local[2]",
        spark_driver_memory="2g",
        shuffle_partitions=1,  # tiny frames: one reduce task beats the scheduling cost of more
    )


@pytest.fixture(scope="session")
def spark(spark_settings: Settings):
    session = get_spark(spark_settings, app_name="recpipe-tests")
    yield session
    session.stop()


@pytest.fixture
def settings(tmp_path: Path, spark_settings: Settings) -> Settings:
    """Settings whose tables live in this test's own directory."""
    return spark_settings.model_copy(update={"data_dir": tmp_path})


@pytest.fixture
def tables(spark, settings: Settings) -> Tables:
    return Tables(spark, settings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A private redis-server on a free loopback port; can be stopped and started again (fault tests)."""

    def __init__(self, workdir: Path, password: str | None = None):
        self.port = free_port()
        self.workdir = workdir
        self.password = password
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is required for the tests (scripts/setup.sh installs it)"
        cmd = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        if self.password:
            cmd += ["--requirepass", self.password]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
