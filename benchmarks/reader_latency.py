"""Benchmark: the reader an app backend copies (``RecommendationReader.for_user``) against plain GETs on the same
server and one connection. Goal: ``for_user`` at least 30% of ``redis-benchmark -t get`` throughput (one client,
no pipelining), p99 under 2 ms.

    python benchmarks/reader_latency.py --users 20000 --calls 20000

Set-up (not timed): a private redis-server holding a published version (``foryou`` lists of 200 items for every
user, country and global fallbacks, per-user exclusions, similar items) written in the reader's key contract.
Timed, each on one connection: ``redis-benchmark -t get -c 1 -P 1`` (the baseline: the server and the network
path with the leanest client), a redis-py GET loop (the Python client's own cost), then ``for_user`` of random
users: lists only; with a fresh overlay for every user and 5% of listed items sold; and ``for_users`` of 100 users
per call (one pipelined round trip).
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import redis

from recpipe.serving import encoding, keys
from recpipe.serving.local_redis import RedisProcess
from recpipe.serving.reader import RecommendationReader

GOAL_SHARE, GOAL_P99_MS = 0.30, 2.0
LIST_LENGTH, BUCKETS, COUNTRIES = 200, 64, ("FR", "DE", "GB", "IT")


def write_version(client: redis.Redis, users: int, items: int, rng: np.random.Generator) -> None:
    """A published version in the key contract: lists, fallbacks, exclusions, similar items."""

    def surface(name: str, version: str, entries: dict[int | str, bytes], buckets: int) -> None:
        pipe = client.pipeline(transaction=False)
        for entity, value in entries.items():
            pipe.hset(keys.entry_location(name, version, entity, buckets)[0], str(entity), value)
        pipe.hset(keys.manifest_key(name, version), mapping={"buckets": buckets, "batch_version": "v1"})
        pipe.set(keys.pointer_key(name), version)
        pipe.execute()

    scores = np.sort(rng.random(LIST_LENGTH).astype(np.float32))[::-1]
    lists = {u: encoding.encode(rng.choice(items, LIST_LENGTH, replace=False), scores) for u in range(users)}
    surface("foryou", "v1", lists, BUCKETS)
    fallbacks = {
        f"country={c}": encoding.encode(rng.choice(items, LIST_LENGTH, replace=False), scores) for c in COUNTRIES
    }
    surface("fallback", "v1", {**fallbacks, "global": encoding.encode(np.arange(LIST_LENGTH), scores)}, 1)
    surface("exclude", "v1", {u: encoding.encode(rng.choice(items, 5), np.zeros(5)) for u in range(users)}, BUCKETS)
    similar = {i: encoding.encode(rng.choice(items, 50, replace=False), scores[:50]) for i in range(min(items, users))}
    surface("similar", "v1", similar, BUCKETS)


def write_overlays_and_sales(client: redis.Redis, users: int, items: int, rng: np.random.Generator) -> None:
    """A fresh overlay of 50 new listings for every user of the live lists, and 5% of the listings sold."""
    overlay = {
        u: encoding.encode(items + rng.choice(1000, 50, replace=False), np.sort(rng.random(50))[::-1])
        for u in range(users)
    }
    pipe = client.pipeline(transaction=False)
    for user, value in overlay.items():
        pipe.hset(keys.entry_location(keys.FRESH_SURFACE, "v1-f1", user, BUCKETS)[0], str(user), value)
    pipe.hset(keys.manifest_key(keys.FRESH_SURFACE, "v1-f1"), mapping={"buckets": BUCKETS, "batch_version": "v1"})
    pipe.set(keys.pointer_key(keys.FRESH_SURFACE), "v1-f1")
    sold = rng.choice(items, items // 20, replace=False)
    pipe.sadd(keys.UNAVAILABLE_KEY, *[int(i) for i in sold])
    pipe.execute()


def redis_benchmark_get(port: int, requests: int) -> dict[str, float]:
    """``redis-benchmark -t get`` on one connection without pipelining: rps and latency percentiles (ms)."""
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", "get", "-n", str(requests), "-c", "1", "-P", "1", "--csv"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    row = next(csv.DictReader(io.StringIO(out)))
    return {"rps": float(row["rps"]), "p50_ms": float(row["p50_latency_ms"]), "p99_ms": float(row["p99_latency_ms"])}


def timed(call: Callable[[int], object], calls: int, rng: np.random.Generator, users: int) -> dict[str, float]:
    """rps and latency percentiles of ``call(user)`` for random users, one call at a time."""
    chosen = rng.integers(0, users, calls)
    for user in chosen[:200]:  # warm: connection, script cache, allocator
        call(int(user))
    latencies = np.empty(calls)
    started = time.perf_counter()
    for i, user in enumerate(chosen):
        t0 = time.perf_counter_ns()
        call(int(user))
        latencies[i] = time.perf_counter_ns() - t0
    elapsed = time.perf_counter() - started
    return {
        "rps": calls / elapsed,
        "p50_ms": float(np.percentile(latencies, 50) / 1e6),
        "p99_ms": float(np.percentile(latencies, 99) / 1e6),
    }


def line(name: str, figures: dict[str, float], baseline: float, per: str = "requests") -> str:
    return (
        f"{name:<46} {figures['rps']:>10,.0f} {per}/s  p50 {figures['p50_ms']:.3f} ms  p99 {figures['p99_ms']:.3f} ms"
        f"  {figures['rps'] / baseline:6.1%} of redis-benchmark GET"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisProcess(Path(tmp) / "redis").start()
        try:
            client = redis.Redis.from_url(server.url)
            write_version(client, args.users, args.items, rng)
            client.set("key:000000000000", b"x" * 1600)  # redis-benchmark's key, a value the size of a list
            port = int(server.url.rsplit(":", 1)[1].split("/")[0])
            before = redis_benchmark_get(port, args.calls * 5)
            reader = RecommendationReader(server.url)
            results = {
                "redis-py GET (the Python client's own cost)": timed(
                    lambda u: client.get("key:000000000000"), args.calls, rng, args.users
                ),
                "for_user: lists only": timed(
                    lambda u: reader.for_user(u, n=20, country="FR"), args.calls, rng, args.users
                ),
            }
            write_overlays_and_sales(client, args.users, args.items, rng)
            results["for_user: fresh overlay + 5% of items sold"] = timed(
                lambda u: reader.for_user(u, n=20, country="FR"), args.calls, rng, args.users
            )
            batch = timed(
                lambda u: reader.for_users(list(range(u, u + 100)), n=20), args.calls // 100, rng, args.users - 100
            )
            results["for_users: 100 users per call"] = {**batch, "rps": batch["rps"] * 100}
            # this machine's speed drifts: the baseline is the faster of a run before and one after (a lower ratio)
            baseline = max(before, redis_benchmark_get(port, args.calls * 5), key=lambda run: run["rps"])
        finally:
            server.stop()
    print(
        f"\nredis-benchmark -t get -c 1 -P 1 (same server, one connection; the faster of two runs): {baseline['rps']:,.0f} requests/s, "
        f"p50 {baseline['p50_ms']:.3f} ms, p99 {baseline['p99_ms']:.3f} ms"
    )
    for name, figures in results.items():
        print(line(name, figures, baseline["rps"], "users" if name.startswith("for_users") else "requests"))
    worst = results["for_user: fresh overlay + 5% of items sold"]
    share = worst["rps"] / baseline["rps"]
    python_get = results["redis-py GET (the Python client's own cost)"]["rps"]
    print(
        f"\nagainst redis-py's own GET on the same connection: lists only {results['for_user: lists only']['rps'] / python_get:.1%}, "
        f"with overlay and sold items {worst['rps'] / python_get:.1%}"
    )
    print(
        f"\nfor_user with overlay and sold items: {share:.1%} of plain GET throughput (goal {GOAL_SHARE:.0%}: "
        f"{'met' if share >= GOAL_SHARE else 'not met'}), p99 {worst['p99_ms']:.3f} ms (goal < {GOAL_P99_MS} ms: "
        f"{'met' if worst['p99_ms'] < GOAL_P99_MS else 'not met'})"
    )


if __name__ == "__main__":
    main()
