"""Benchmark: the availability stream from a real Kafka broker into Redis, against the same stream over Delta.

    python benchmarks/kafka_stream.py --messages 200000 --samples 30

A local KRaft broker (recpipe.serving.local_kafka), a private redis-server and a served list per user, as a
publish leaves them. Per source (kafka: a topic of JSON sales; delta: bronze.events, the baseline):
1. Throughput: --messages sales of distinct listings waiting in the source, then `availability --once`: messages
   per second from its start to every item in the Redis unavailable set (Spark's per-batch rate too).
2. Latency, p50 and p95: a running stream (trigger every --trigger seconds); a sale of a listing a user is shown is
   produced (a Kafka message, or a one-row Delta append) at a random point of the trigger cycle, and the time until
   the reader no longer serves it is measured.
Prints both sources side by side and Kafka's ratio to Delta.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from recpipe import catalog
from recpipe.config import AvailabilityConfig, KafkaSource, Settings
from recpipe.jobs import availability
from recpipe.jobs.context import JobContext
from recpipe.progress import configure_logging
from recpipe.serving import availability as RA
from recpipe.serving import encoding, keys
from recpipe.serving.connection import RedisTarget
from recpipe.serving.local_kafka import KafkaBroker
from recpipe.serving.local_redis import RedisProcess
from recpipe.serving.reader import RecommendationReader
from recpipe.spark import get_spark, kafka_connector

ITEMS = "item_id long, seller_id long, status string, listed_at timestamp, sold_at timestamp, deleted_at timestamp"
EVENTS = "event_id long, user_id long, item_id long, event_type string, event_ts timestamp"
LIST_LENGTH = 20
LISTED = datetime(2026, 11, 1)


def world(ctx: JobContext, target: RedisTarget, listings: int, users: int) -> None:
    """bronze.items with every listing for sale, bronze.events with one view, and a served list per user
    (user u is shown listings u*20 .. u*20+19)."""
    spark = ctx.spark
    items = spark.range(listings).selectExpr(
        "id as item_id", "id % 997 as seller_id", "'active' as status", f"timestamp'{LISTED}' as listed_at"
    )
    items = items.selectExpr("*", "cast(null as timestamp) as sold_at", "cast(null as timestamp) as deleted_at")
    ctx.tables.overwrite(items, catalog.BRONZE_ITEMS)
    view = [(0, 0, 0, "view", LISTED)]
    ctx.tables.overwrite(spark.createDataFrame(view, EVENTS), catalog.BRONZE_EVENTS)
    client = target.client()
    client.set(keys.pointer_key("foryou"), "v1")
    client.hset(keys.manifest_key("foryou", "v1"), "buckets", 1)
    lists = {
        str(u): encoding.encode(list(range(u * LIST_LENGTH, (u + 1) * LIST_LENGTH)), list(range(LIST_LENGTH, 0, -1)))
        for u in range(users)
    }
    client.hset(keys.bucket_key("foryou", "v1", 0), mapping=lists)


def sale_message(item_id: int) -> bytes:
    at = datetime.now(UTC).replace(tzinfo=None).isoformat()
    return json.dumps({"item_id": item_id, "event_type": "purchase", "event_ts": at}).encode()


class Source:
    """Writes sales to one of the stream's sources."""

    def __init__(self, name: str, ctx: JobContext, broker: KafkaBroker, topic: str):
        self.name, self.ctx, self.topic = name, ctx, topic
        if name == "kafka":  # created before the first send, which would otherwise log its absence
            admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
            admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
            admin.close()
        self.producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=5, acks=1)
        kafka = KafkaSource(bootstrap_servers=broker.bootstrap_servers, topic=topic, starting_offsets="earliest")
        checkpoint = str(ctx.settings.checkpoints / f"bench-{name}")
        self.config = AvailabilityConfig(source=name, kafka=kafka if name == "kafka" else None, checkpoint=checkpoint)

    def sell(self, item_ids: list[int]) -> None:
        if self.name == "kafka":
            for item in item_ids:
                self.producer.send(self.topic, sale_message(item))
            self.producer.flush()
        else:
            now = datetime.now(UTC).replace(tzinfo=None)
            rows = [(10**9 + item, 1, item, "purchase", now) for item in item_ids]
            self.ctx.tables.append(self.ctx.spark.createDataFrame(rows, EVENTS), catalog.BRONZE_EVENTS)


def throughput(source: Source, target: RedisTarget, first: int, count: int) -> dict[str, float]:
    started = time.perf_counter()
    source.sell(list(range(first, first + count)))
    produced = time.perf_counter() - started
    started = time.perf_counter()
    query = availability.start(source.ctx, source.config, target, once=True)
    query.awaitTermination()
    seconds = time.perf_counter() - started
    applied = RA.items_applied(target.client(), source.name)
    assert applied == count, f"{source.name}: {applied} of {count} sales applied"
    batches = [p for p in query.recentProgress if p["numInputRows"]]
    per_batch = sum(p["numInputRows"] for p in batches) / sum(
        p["durationMs"]["triggerExecution"] / 1000 for p in batches
    )
    print(f"  {source.name}: wrote {count:,} sales in {produced:.1f} s; stream applied them in {seconds:.1f} s")
    return {"rate": count / seconds, "batch_rate": per_batch, "seconds": seconds}


def latency(source: Source, target: RedisTarget, samples: int, trigger: float, users: range) -> list[float]:
    reader = RecommendationReader(target)
    config = source.config.model_copy(update={"trigger_seconds": trigger})
    query = availability.start(source.ctx, config, target)
    rng = np.random.default_rng(0)
    found: list[float] = []
    try:
        query.processAllAvailable()
        for user in list(users)[:samples]:
            time.sleep(rng.uniform(0, trigger))  # sales land at any point of the trigger cycle
            item = reader.for_user(user, n=LIST_LENGTH).item_ids[0]
            started = time.perf_counter()
            source.sell([item])
            while item in reader.for_user(user, n=LIST_LENGTH).item_ids:
                time.sleep(0.01)
            found.append(time.perf_counter() - started)
            print(f"\r  {source.name}: {len(found)}/{samples} sales hidden", end="", flush=True)
    finally:
        query.stop()
    print()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000, help="sales waiting in each source (throughput)")
    parser.add_argument("--samples", type=int, default=30, help="sales timed one at a time (latency)")
    parser.add_argument("--trigger", type=float, default=AvailabilityConfig().trigger_seconds)
    args = parser.parse_args()
    configure_logging()
    logging.getLogger("kafka").setLevel(logging.WARNING)  # the client's connection chatter
    users = 2 * args.samples + 10
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(small_frames=False, data_dir=Path(tmp), spark_driver_memory="4g")
        spark = get_spark(settings, app_name="bench-kafka", packages=[kafka_connector()])
        server = RedisProcess(Path(tmp) / "redis").start()
        broker = KafkaBroker(Path(tmp) / "kafka").start()
        try:
            target = RedisTarget(server.url)
            ctx = JobContext.for_settings("availability", settings, spark)
            world(ctx, target, listings=max(users * LIST_LENGTH, 2 * args.messages) + 1, users=users)
            first_sale = users * LIST_LENGTH  # sales of listings no list shows
            results = {}
            for name, half in (("delta", 0), ("kafka", 1)):
                source = Source(name, ctx, broker, topic="sales")
                print(f"{name}: throughput")
                results[name] = throughput(source, target, first_sale + half * args.messages, args.messages)
                print(f"{name}: latency, trigger every {args.trigger:g} s")
                shown = range(half * (users // 2), (half + 1) * (users // 2))
                results[name]["latency"] = latency(source, target, args.samples, args.trigger, shown)
                source.producer.close()
        finally:
            broker.stop()
            server.stop()
            spark.stop()
    print(f"\n{args.messages:,} sales per source, latency over {args.samples} sales, trigger {args.trigger:g} s")
    print(f"{'source':<8}{'msgs/s':>10}{'per batch':>12}{'p50 s':>8}{'p95 s':>8}")
    for name, r in results.items():
        p50, p95 = np.percentile(r["latency"], [50, 95])
        r["p50"], r["p95"] = p50, p95
        print(f"{name:<8}{r['rate']:>10,.0f}{r['batch_rate']:>12,.0f}{p50:>8.2f}{p95:>8.2f}")
    k, d = results["kafka"], results["delta"]
    print(
        f"kafka / delta: throughput {k['rate'] / d['rate']:.2f}x, p50 latency {k['p50'] / d['p50']:.2f}x, "
        f"p95 latency {k['p95'] / d['p95']:.2f}x"
    )


if __name__ == "__main__":
    main()
