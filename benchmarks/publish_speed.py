"""Benchmark: publish N users x K candidates from Spark into a local redis-server, against redis-benchmark.

    python benchmarks/publish_speed.py --users 1000000 --candidates 100

Starts a private redis-server, writes one surface with the production writer (executor-side pipelines,
multi-field HSETs, R1 values), and prints entries per second, Redis memory per million users, and, in the same
run against the same server, `redis-benchmark -P 16 -t set` with the same value size, plus the ratio.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from pyspark.sql import functions as F

from recpipe.config import Settings
from recpipe.serving import keys
from recpipe.serving.connection import RedisTarget
from recpipe.serving.publisher import read_back, write_surface
from recpipe.spark import get_spark
from recpipe.transforms.serving_inputs import by_bucket


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--buckets", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=os.cpu_count() * 2)
    parser.add_argument("--driver-memory", default="8g")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="recpipe-bench-redis-"))
    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(workdir)], stdout=subprocess.DEVNULL)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        settings = Settings(data_dir=workdir / "data", spark_driver_memory=args.driver_memory)
        spark = get_spark(settings, "recpipe-bench-publish")
        k = args.candidates
        lists = (
            spark.range(0, args.users, numPartitions=args.partitions)
            .select(
                F.col("id").cast("string").alias("entity"),
                F.transform(F.sequence(F.lit(0), F.lit(k - 1)), lambda i: (F.col("id") * 7919 + i * 104729) % 500_000).alias("item_ids"),
                F.transform(F.sequence(F.lit(0), F.lit(k - 1)), lambda i: (F.lit(1.0) / (i + 1)).cast("float")).alias("scores"),
            )
            .transform(by_bucket(args.buckets, args.partitions))
            .cache()
        )
        lists.count()
        baseline_memory = client.info("memory")["used_memory"]
        target = RedisTarget(url)
        start = time.perf_counter()
        stats = write_surface(lists, target, "foryou", "bench", args.buckets, args.batch_size)
        write_s = time.perf_counter() - start
        used = client.info("memory")["used_memory"] - baseline_memory
        start = time.perf_counter()
        found = read_back(spark, target, "foryou", "bench", args.buckets)
        verify_s = time.perf_counter() - start
        assert (found.entries, found.checksum) == (stats.entries, stats.checksum), "verification failed"
        value_size = stats.bytes // max(stats.entries, 1)
        ours = stats.entries / write_s
        print(f"published {stats.entries:,} users x {k} candidates ({value_size} B values) in {write_s:.1f} s = "
              f"{ours:,.0f} entries/s; verified in {verify_s:.1f} s")
        print(f"Redis memory: {used / 1e6:,.0f} MB = {used / 1e6 / (stats.entries / 1e6):,.0f} MB per million users")

        client.flushall()
        n = min(args.users, 1_000_000)
        bench = subprocess.run(
            ["redis-benchmark", "-p", str(port), "-P", "16", "-t", "set", "-n", str(n), "-d", str(value_size),
             "-r", str(n), "-q", "--csv"], capture_output=True, text=True, check=True,
        )
        rps = float(re.findall(r'"SET","([0-9.]+)"', bench.stdout)[0])
        print(f"redis-benchmark -P 16 -t set -d {value_size} -n {n:,}: {rps:,.0f} SET/s")
        print(f"ratio ours / redis-benchmark: {ours / rps:.2f} (goal >= 0.50)")
        print(f"key check: {keys.bucket_key('foryou', 'bench', 0)} holds {client.hlen(keys.bucket_key('foryou', 'bench', 0))} fields after flush")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
