"""A local Kafka broker (KRaft: broker and controller in one JVM, no ZooKeeper) for the tests and benchmarks of the
availability stream, and for trying `recpipe availability --source kafka` on one machine.

Its JARs come from Maven Central the way Spark's own packages do: Ivy (which pyspark ships) resolves
``org.apache.kafka:kafka_2.13`` and its dependencies once into a cache folder."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from recpipe.errors import RecpipeError
from recpipe.serving.local_redis import free_port
from recpipe.spark import ensure_java

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"  # the broker; Spark's connector brings its own client, which talks to any 2.x+ broker
BROKER_ARTIFACT = ("org.apache.kafka", "kafka_2.13", KAFKA_VERSION)
START_TIMEOUT_S = 60.0


class KafkaSetupError(RecpipeError, RuntimeError):
    """The local broker could not be fetched or started."""


def cache_root() -> Path:
    """Where the broker's JARs are kept between runs (``RECPIPE_KAFKA_CACHE``, else ``~/.cache/recpipe/kafka``)."""
    configured = os.environ.get("RECPIPE_KAFKA_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "recpipe" / "kafka"


def _ivy_jar() -> Path:
    import pyspark

    found = sorted((Path(pyspark.__file__).parent / "jars").glob("ivy-*.jar"))
    if not found:
        raise KafkaSetupError("pyspark's jars/ has no ivy-*.jar to resolve the Kafka broker from Maven Central with")
    return found[-1]


def broker_jars(root: Path | None = None) -> Path:
    """The folder of the broker's JARs, resolved from Maven Central on first use (about 45 JARs, 43 MB)."""
    folder = (root or cache_root()) / KAFKA_VERSION
    done = folder / ".resolved"
    if done.exists():
        return folder / "jars"
    group, artifact, version = BROKER_ARTIFACT
    log.info("resolving the Kafka broker %s:%s:%s from Maven Central into %s", group, artifact, version, folder)
    shutil.rmtree(folder / "jars", ignore_errors=True)
    pattern = str(folder / "jars" / "[artifact]-[revision](-[classifier]).[ext]")
    command = [ensure_java(), "-cp", str(_ivy_jar()), "org.apache.ivy.Main", "-dependency", group, artifact, version]
    with tempfile.TemporaryDirectory() as ivy_cache:  # the JARs are copied out of it: no second copy is kept
        command += ["-confs", "default", "-retrieve", pattern, "-cache", ivy_cache]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not (folder / "jars" / f"{artifact}-{version}.jar").exists():
        raise KafkaSetupError(f"could not resolve {group}:{artifact}:{version}: {result.stdout[-1500:]}")
    done.touch()
    return folder / "jars"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class KafkaBroker:
    """One KRaft node on 127.0.0.1 (a free port for clients, another for its controller), logs under ``workdir``;
    ``stop`` kills it. Topics are created on first use with ``partitions`` partitions."""

    def __init__(self, workdir: Path, partitions: int = 1, heap: str = "512m"):
        self.workdir = workdir
        self.partitions = partitions
        self.heap = heap
        self.port, self.controller_port = free_port(), free_port()
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def properties(self) -> str:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str((self.workdir / "data").resolve()),
            "num.partitions": str(self.partitions),
            "auto.create.topics.enable": "true",
            # one node: every internal topic has one replica
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        return "".join(f"{k}={v}\n" for k, v in settings.items())

    def start(self) -> KafkaBroker:
        """Format the node's storage, start it and wait until it accepts connections."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "server.properties"
        config.write_text(self.properties())
        classpath = str(broker_jars() / "*")
        java = [ensure_java(), f"-Xmx{self.heap}", "-Xss1m", "-XX:+UseSerialGC", "-cp", classpath]
        cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        formatted = subprocess.run(
            [*java, "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(config), "--ignore-formatted"],
            capture_output=True,
            text=True,
            check=False,
        )
        if formatted.returncode != 0:
            output = (formatted.stdout + formatted.stderr)[-1000:]  # the JVM may say why on either stream
            raise KafkaSetupError(
                f"formatting the Kafka node's storage failed (exit code {formatted.returncode}): {output}"
            )
        with (self.workdir / "broker.log").open("ab") as out:
            self.process = subprocess.Popen([*java, "kafka.Kafka", str(config)], stdout=out, stderr=out)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise KafkaSetupError(f"the Kafka broker did not start on port {self.port} (log: {self.workdir})")
            time.sleep(0.1)
        log.info("Kafka broker %s up at %s", KAFKA_VERSION, self.bootstrap_servers)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
