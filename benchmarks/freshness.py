"""Benchmark: freshness between daily runs on a realistic resale world.

    python benchmarks/freshness.py --users 2000

1. A daily run (generate -> interactions -> train -> candidates -> publish, shipped configuration) whose lists are
   as of --holdout-days before the window's end, published to a private redis-server.
2. Replay of the next day: `recpipe fresh --until <hour>` every hour (the job as deployed, with its Delta tables,
   MLflow model and Redis publish). Each of that day's purchases is scored against the list its buyer was served at
   the purchase time: the batch list alone, or the batch list merged by score with the overlay of the last hourly
   run (the reader's rule, `models.merge`), both without items sold or deleted before that time (what the
   availability stream removes), top 100. Prints next-day purchase recall@100 side by side, and the share of those
   purchases that were of listings created after the lists' data end.
3. Latency, p50 and p95: from a purchase's write to bronze.events to the item's removal from the reader's list, with
   the availability stream running (the configured trigger); from a listing's write to bronze.items to its
   visibility in the reader's list of the user who scores it highest, with `recpipe fresh` started right after the
   write (the bundle runs it every 15 minutes: add up to that wait in deployment).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config import (
    AvailabilityConfig,
    CandidatesConfig,
    FreshConfig,
    GenerateConfig,
    InteractionsConfig,
    PublishConfig,
    Settings,
    TrainConfig,
    load_job_config,
)
from recpipe.jobs import availability
from recpipe.jobs.candidates import generate_candidates
from recpipe.jobs.context import JobContext
from recpipe.jobs.fresh import refresh
from recpipe.jobs.generate import write_marketplace
from recpipe.jobs.interactions import build
from recpipe.jobs.publish import publish
from recpipe.jobs.train import train
from recpipe.models.merge import RankedRows, merge_ranked
from recpipe.progress import configure_logging
from recpipe.run_day import as_of_end
from recpipe.serving.connection import RedisTarget
from recpipe.serving.local_redis import RedisProcess
from recpipe.serving.reader import RecommendationReader
from recpipe.spark import get_spark
from recpipe.tables import to_pandas

K = 100


def context(settings: Settings, spark, job: str, as_of=None) -> JobContext:
    return JobContext.for_settings(job, settings, spark, as_of)


def daily_run(settings: Settings, spark, users: int, holdout_days: int, target: RedisTarget):
    defaults = load_job_config("generate", GenerateConfig)
    config = defaults.model_copy(update={"users": users, "items": int(users * defaults.items / defaults.users)})
    write_marketplace(context(settings, spark, "generate"), config, replace=True)
    as_of = config.end_date - timedelta(days=holdout_days)
    build(context(settings, spark, "interactions", as_of), load_job_config("interactions", InteractionsConfig))
    train(context(settings, spark, "train", as_of), load_job_config("train", TrainConfig))
    generate_candidates(context(settings, spark, "candidates", as_of), load_job_config("candidates", CandidatesConfig))
    publish(context(settings, spark, "publish"), PublishConfig(require_gate=False), target)
    return as_of


def unavailable_times(ctx: JobContext) -> pd.Series:
    """Per item, when it stopped being for sale (first purchase, sale or deletion)."""
    items = to_pandas(ctx.tables.read(catalog.BRONZE_ITEMS).select("item_id", "sold_at", "deleted_at"))
    purchases = to_pandas(
        ctx.tables.read(catalog.BRONZE_EVENTS).where(F.col("event_type") == "purchase").select("item_id", "event_ts")
    )
    ended = pd.concat(
        [
            items.set_index("item_id")[["sold_at", "deleted_at"]].min(axis=1),
            purchases.groupby("item_id")["event_ts"].min(),
        ]
    )
    return ended.dropna().groupby(level=0).min()


def served(batch: RankedRows | None, overlay: RankedRows | None, gone: np.ndarray) -> list[int]:
    lists = [part for part in (batch, overlay) if part is not None]
    if not lists:
        return []
    merged, _ = merge_ranked(lists, K, gone)
    return merged.ids.tolist()


def replay(ctx: JobContext, target: RedisTarget, as_of) -> None:
    config = FreshConfig()
    day_start = as_of_end(as_of).replace(tzinfo=None)  # naive UTC, as Spark hands timestamps to pandas
    overlays_by_hour: dict[int, dict[int, RankedRows]] = {0: {}}
    started = time.perf_counter()
    for hour in range(1, 24):
        summary = refresh(ctx, config, target, until=day_start + timedelta(hours=hour))
        if summary.get("entries"):
            rows = to_pandas(ctx.tables.read(catalog.GOLD_FRESH_OVERLAYS).select("user_id", "item_ids", "scores"))
            overlays_by_hour[hour] = {
                r.user_id: RankedRows.one(r.item_ids, r.scores) for r in rows.itertuples(index=False)
            }
        else:
            overlays_by_hour[hour] = overlays_by_hour[hour - 1]
        print(
            f"  fresh run until {hour:02d}:00: {summary.get('listings', 0)} new listings, {summary.get('users', 0)} users"
        )
    fresh_seconds = time.perf_counter() - started

    lists = to_pandas(ctx.tables.read(catalog.GOLD_USER_CANDIDATES).select("user_id", "item_ids", "scores"))
    batch = {r.user_id: RankedRows.one(r.item_ids, r.scores) for r in lists.itertuples(index=False)}
    ended = unavailable_times(ctx)
    listed = to_pandas(ctx.tables.read(catalog.BRONZE_ITEMS).select("item_id", "listed_at")).set_index("item_id")[
        "listed_at"
    ]
    purchases = to_pandas(
        ctx.tables.read(catalog.BRONZE_EVENTS)
        .where((F.col("event_type") == "purchase") & (F.col("event_ts") >= F.lit(day_start)))
        .where(F.col("event_ts") < F.lit(day_start + timedelta(days=1)))
        .select("user_id", "item_id", "event_ts")
    )
    hits = {"daily batch": 0, "daily batch + hourly fresh": 0}
    fresh_items = fresh_hits = fresh_hits_daily = 0
    for p in purchases.itertuples(index=False):
        gone = ended[(ended < p.event_ts) & (ended.index != p.item_id)].index.to_numpy(np.int64)
        hour = int((p.event_ts - day_start) / timedelta(hours=1))
        daily = served(batch.get(p.user_id), None, gone)
        hourly = served(batch.get(p.user_id), overlays_by_hour[hour].get(p.user_id), gone)
        hits["daily batch"] += p.item_id in daily
        hits["daily batch + hourly fresh"] += p.item_id in hourly
        if listed.get(p.item_id, day_start) > day_start:
            fresh_items += 1
            fresh_hits += p.item_id in hourly
            fresh_hits_daily += p.item_id in daily
    n = max(len(purchases), 1)
    print(
        f"\nnext day ({as_of + timedelta(days=1)}): {len(purchases):,} purchases, {fresh_items:,} "
        f"({fresh_items / n:.1%}) of listings created after the lists' data end; 23 hourly fresh runs in "
        f"{fresh_seconds:.0f} s"
    )
    print(f"{'served lists':<30}{f'recall@{K}':>12}{'on new listings':>18}")
    for name, count in hits.items():
        on_new = fresh_hits if "fresh" in name else fresh_hits_daily
        print(f"{name:<30}{count / n:>12.4f}{on_new / max(fresh_items, 1):>18.4f}")


def quantiles(values: list[float]) -> str:
    return f"p50 {np.percentile(values, 50):.2f} s, p95 {np.percentile(values, 95):.2f} s (n={len(values)})"


def purchase_latency(ctx: JobContext, target: RedisTarget, samples: int) -> None:
    reader = RecommendationReader(target)
    config = load_job_config("availability", AvailabilityConfig)
    query = availability.start(ctx, config, target)
    users = to_pandas(ctx.tables.read(catalog.GOLD_USER_CANDIDATES).select("user_id").limit(5 * samples))["user_id"]
    latencies, writes = [], []
    rng = np.random.default_rng(0)
    try:
        for n, user in enumerate(users.tolist()[:samples]):
            time.sleep(rng.uniform(0, config.trigger_seconds))  # writes land at any point of the trigger cycle
            shown = reader.for_user(user, n=20).item_ids
            if not shown:
                continue
            item = shown[0]
            row = [(10**12 + n, 10**9, item, "purchase", datetime.now(UTC).replace(tzinfo=None), 1, "home")]
            started = time.perf_counter()
            ctx.tables.append(
                ctx.spark.createDataFrame(row, catalog.columns(catalog.BRONZE_EVENTS)), catalog.BRONZE_EVENTS
            )
            writes.append(time.perf_counter() - started)
            while item in reader.for_user(user, n=20).item_ids:
                time.sleep(0.02)
            latencies.append(time.perf_counter() - started)
    finally:
        query.stop()
    print(
        f"\npurchase write -> removed from the reader's list (trigger every {config.trigger_seconds:g} s): "
        f"{quantiles(latencies)}; the Delta append itself {quantiles(writes)}"
    )


def listing_latency(ctx: JobContext, target: RedisTarget, samples: int) -> None:
    reader = RecommendationReader(target)
    refresh(ctx, FreshConfig(), target)  # catch up with every listing generated so far
    last_listed = ctx.tables.read(catalog.BRONZE_ITEMS).agg(F.max("listed_at")).first()[0]
    like = to_pandas(
        ctx.tables.read(catalog.GOLD_USER_CANDIDATES)
        .where(F.col("source") == "personal")
        .select(F.col("item_ids")[0].alias("i"))
    )["i"].mode()[0]
    template = (
        ctx.tables.read(catalog.BRONZE_ITEMS)
        .where(F.col("item_id") == int(like))
        .withColumn("status", F.lit("active"))
        .withColumn("sold_at", F.lit(None).cast("timestamp"))
        .withColumn("deleted_at", F.lit(None).cast("timestamp"))
    )
    latencies = []
    for n in range(samples):
        item_id = 10**12 + n
        new = template.withColumn("item_id", F.lit(item_id).cast("long")).withColumn(
            "listed_at", F.lit(last_listed + timedelta(minutes=n + 1)).cast("timestamp")
        )
        started = time.perf_counter()
        ctx.tables.append(new, catalog.BRONZE_ITEMS)
        refresh(ctx, FreshConfig(), target)
        overlay = to_pandas(ctx.tables.read(catalog.GOLD_FRESH_OVERLAYS).select("user_id", "item_ids", "scores"))
        mine = overlay[overlay["item_ids"].map(lambda ids, item=item_id: item in set(ids))]
        if mine.empty:  # in no user's overlay: nothing to wait for
            print(f"  listing {item_id}: in no overlay (every user's overlay holds better listings)")
            continue
        best = int(
            mine.loc[
                mine.apply(lambda r, item=item_id: r.scores[list(r.item_ids).index(item)], axis=1).idxmax(), "user_id"
            ]
        )
        while (
            item_id
            not in reader.for_user(best, n=ctx.config.candidates.list_length + FreshConfig().overlay_length).item_ids
        ):
            time.sleep(0.02)
        latencies.append(time.perf_counter() - started)
    print(f"listing write -> in the reader's list (fresh run started at the write): {quantiles(latencies)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--holdout-days", type=int, default=2, help="lists as of the window's end minus this")
    parser.add_argument("--purchase-samples", type=int, default=20)
    parser.add_argument("--listing-samples", type=int, default=5)
    parser.add_argument("--skip-replay", action="store_true", help="measure the latencies only")
    args = parser.parse_args()
    configure_logging()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(small_frames=False, data_dir=Path(tmp), spark_driver_memory="8g")
        spark = get_spark(settings, app_name="bench-freshness")
        server = RedisProcess(Path(tmp) / "redis").start()
        try:
            target = RedisTarget(server.url)
            as_of = daily_run(settings, spark, args.users, args.holdout_days, target)
            ctx = context(settings, spark, "fresh")
            if not args.skip_replay:
                replay(ctx, target, as_of)
            purchase_latency(ctx, target, args.purchase_samples)
            listing_latency(ctx, target, args.listing_samples)
        finally:
            server.stop()
            spark.stop()


if __name__ == "__main__":
    main()
