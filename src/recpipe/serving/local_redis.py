"""Local redis-server processes: the demo's (kept running so you can look inside), the tests' and benchmarks'
private ones. One launcher for all of them."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from recpipe.serving.connection import RedisSetupError

log = logging.getLogger(__name__)

DEMO_PORT = 6399
START_TIMEOUT_S = 10.0


def free_port() -> int:
    """A loopback port no one listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisSetupError(
            "redis-server is not installed: run scripts/setup.sh (apt-get install redis-server) "
            "or set REDIS_URL to an existing Redis"
        )
    return binary


class RedisProcess:
    """A redis-server on 127.0.0.1, its files under ``workdir``; without persistence unless ``appendonly`` (an
    append-only file synced on every write, so a killed server restarts with every acknowledged write).

    ``daemon=True`` outlives this process (the demo's, stopped with ``redis-cli -p PORT shutdown``); otherwise it
    is a child that ``stop`` kills (tests, benchmarks; stop and start again to simulate an outage)."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        password: str | None = None,
        daemon: bool = False,
        appendonly: bool = False,
    ):
        self.workdir = workdir
        self.appendonly = appendonly
        self.port = port or free_port()
        self.password = password
        self.daemon = daemon
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        cmd = [
            redis_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "always",
            "--dir",
            str(self.workdir.resolve()),
        ]
        if self.password:
            cmd += ["--requirepass", self.password]
        if self.daemon:
            cmd += [
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.workdir.resolve() / "redis.pid"),
                "--logfile",
                str(self.workdir.resolve() / "redis.log"),
            ]
        return cmd

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=1).ping())
        except redis.exceptions.ConnectionError:
            return False

    def start(self) -> RedisProcess:
        """Start the server and wait until it answers PING."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.daemon:
            subprocess.run(self.command(), check=True)
        else:
            self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.answers():
            if time.monotonic() > deadline:
                raise RedisSetupError(
                    f"started redis-server on port {self.port} but it does not answer (files in {self.workdir})"
                )
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Kill a child server (a daemon is left running)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def ensure_local_redis(data_dir: Path, port: int = DEMO_PORT) -> str:
    """URL of a redis-server on 127.0.0.1:``port``, started (daemonized, data under ``data_dir``) if none answers."""
    server = RedisProcess(data_dir / "redis", port=port, daemon=True)
    if server.answers():
        return server.url
    server.start()
    log.info("started a local redis-server at %s (stop it with: redis-cli -p %d shutdown)", server.url, port)
    return server.url
