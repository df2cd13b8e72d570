"""A local redis-server for the demo when no Redis is configured (kept running so you can look inside)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path

import redis

from recpipe.serving.connection import RedisSetupError

log = logging.getLogger(__name__)

DEMO_PORT = 6399


def ensure_local_redis(data_dir: Path, port: int = DEMO_PORT) -> str:
    """URL of a redis-server on 127.0.0.1:``port``, started (daemonized, data under ``data_dir``) if needed."""
    url = f"redis://127.0.0.1:{port}/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url
    except redis.exceptions.ConnectionError:
        pass
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisSetupError("no REDIS_URL is set and redis-server is not installed: run scripts/setup.sh or set REDIS_URL")
    workdir = (data_dir / "redis").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "yes", "--dir", str(workdir),
         "--save", "", "--appendonly", "no", "--pidfile", str(workdir / "redis.pid"), "--logfile", str(workdir / "redis.log")],
        check=True,
    )
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            log.info("started a local redis-server at %s (stop it with: redis-cli -p %d shutdown)", url, port)
            return url
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    raise RedisSetupError(f"started redis-server on port {port} but it does not answer; see {workdir / 'redis.log'}")
