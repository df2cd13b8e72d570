"""Benchmark: a fresh run at marketplace scale: 1,000,000 user vectors x 10,000 new listings x 64 dimensions
scored, merged with the previous overlay and published to Redis (goal: under 60 s on 2 cores).

    python benchmarks/fresh_speed.py --users 1000000 --listings 10000 --dims 64

Set-up (not timed): random user vectors in a Delta table, a private redis-server with a live foryou version, new
listings from sellers who are users (their own listings are excluded, as in the job). Timed: the job's own
``write_overlays`` (scoring on the executors with the candidates scorer, merge with the previous overlay, Delta
write) and ``publish_overlays`` (executor-side Redis write, read-back verification, pointer switch). Two runs: the
first overlay after a publish (nothing to merge), then the next one (another batch of listings, merged with the
first overlay, a tenth of the first run's listings sold and dropped): the figure is the second.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config import CandidatesConfig, FreshConfig, PublishConfig, Settings
from recpipe.jobs.context import JobContext
from recpipe.progress import configure_logging
from recpipe.serving import keys, overlays
from recpipe.serving.connection import RedisTarget
from recpipe.serving.fresh_run import publish_overlays, write_overlays
from recpipe.serving.local_redis import RedisProcess
from recpipe.spark import get_spark
from recpipe.transforms import candidates, fresh

GOAL_SECONDS = 60.0
BATCH = "bench-v1"


def listings(rng: np.random.Generator, first_id: int, n: int, dims: int, users: int) -> candidates.ListingVectors:
    vectors = (rng.standard_normal((n, dims)) / np.sqrt(dims)).astype(np.float32)
    return candidates.ListingVectors(
        np.arange(first_id, first_id + n, dtype=np.int64), vectors, rng.integers(0, users, n)
    )


def one_run(
    ctx: JobContext, target: RedisTarget, new: candidates.ListingVectors, gone: np.ndarray, number: int
) -> dict[str, float]:
    config, rules, publishing = FreshConfig(), CandidatesConfig(), PublishConfig()
    stamp = {"model_version": "1", "batch_version": BATCH, "fresh_version": f"{BATCH}-f{number}"}
    users = ctx.tables.read(catalog.GOLD_USER_FACTORS).select("user_id", "factors")
    own = fresh.own_new_listings(
        ctx.spark.createDataFrame(pd.DataFrame({"item_id": new.ids, "seller_id": new.sellers}))
    )
    start = time.perf_counter()
    previous = overlays.live_overlay(target.client(), BATCH)
    written = write_overlays(ctx.tables, target, users, new, own, previous, gone, config, rules, stamp)
    scored = time.perf_counter()
    manifest = {"batch_version": BATCH, "listed_until": f"2026-11-02 0{number}:00:00"}
    stats = publish_overlays(ctx.tables, target, publishing, stamp["fresh_version"], manifest, 3600)
    published = time.perf_counter()
    return {
        "users": written,
        "entries": stats.entries,
        "mb": stats.bytes / 1e6,
        "score_merge_write_s": scored - start,
        "publish_verify_switch_s": published - scored,
        "total_s": published - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--dims", type=int, default=64)
    args = parser.parse_args()
    configure_logging()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(small_frames=False, data_dir=Path(tmp), spark_driver_memory="8g", shuffle_partitions=8)
        spark = get_spark(settings, app_name="bench-fresh")
        ctx = JobContext.for_settings("fresh", settings, spark)
        server = RedisProcess(Path(tmp) / "redis").start()
        try:
            started = time.perf_counter()
            vector = F.array(*[F.randn(seed=d) / float(np.sqrt(args.dims)) for d in range(args.dims)])
            ctx.tables.overwrite(
                spark.range(args.users).select(
                    F.col("id").alias("user_id"),
                    vector.cast("array<float>").alias("factors"),
                    F.lit("1").alias("model_version"),
                ),
                catalog.GOLD_USER_FACTORS,
            )
            target = RedisTarget(server.url)
            target.client().set(keys.pointer_key("foryou"), BATCH)
            print(f"set-up: {args.users:,} user vectors x {args.dims} in Delta ({time.perf_counter() - started:.1f} s)")
            first = listings(rng, 10**8, args.listings, args.dims, args.users)
            runs = [one_run(ctx, target, first, np.zeros(0, np.int64), 1)]
            sold = rng.choice(first.ids, size=len(first.ids) // 10, replace=False)
            second = listings(rng, 2 * 10**8, args.listings, args.dims, args.users)
            runs.append(one_run(ctx, target, second, sold, 2))
        finally:
            server.stop()
            spark.stop()
    for name, run in zip(("first overlay (nothing to merge)", "next overlay (merged)"), runs):
        print(
            f"{name}: {run['users']:,} users x {args.listings:,} listings x {args.dims} dims: "
            f"score+merge+Delta {run['score_merge_write_s']:.1f} s, Redis write+verify+switch "
            f"{run['publish_verify_switch_s']:.1f} s ({run['entries']:,} entries, {run['mb']:,.0f} MB) = "
            f"{run['total_s']:.1f} s"
        )
    total = runs[1]["total_s"]
    print(
        f"fresh run (scored, merged, published): {total:.1f} s; goal {GOAL_SECONDS:.0f} s: "
        f"{total / GOAL_SECONDS:.2f}x the goal ({'met' if total <= GOAL_SECONDS else 'not met'})"
    )


if __name__ == "__main__":
    main()
