"""`recpipe availability`: a Structured Streaming job that keeps the Redis unavailable set current between publishes."""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql.streaming import StreamingQuery

from recpipe import catalog
from recpipe.config import AvailabilityConfig, load_job_config, load_settings
from recpipe.errors import MissingInputError
from recpipe.jobs.context import JobContext
from recpipe.serving import availability as RA
from recpipe.serving import stream_start as SS
from recpipe.serving.connection import RedisTarget, resolve_target
from recpipe.spark import get_spark
from recpipe.transforms import availability as A

log = logging.getLogger(__name__)

NAME = "availability"
DESCRIPTION = """\
Streams sold and deleted listings into the Redis unavailable set (recpipe:unavailable) that readers filter with:
purchase events of bronze.events and sold or deleted rows of bronze.items (its change data feed, so status
updates count), or a Kafka topic (source: kafka). Each micro-batch is applied in one Redis transaction guarded by
its batch id, and progress is checkpointed (<artifacts>/checkpoints/availability), so a restart neither loses nor
repeats work. A first start catches up from the live lists' data end (sales before it are in the lists), or from
--since TIME or --starting-version [TABLE=]N; where it began is logged and kept in the checkpoint folder.
Runs until stopped, a micro-batch every trigger_seconds; --once processes what has arrived and stops (a frequent
job instead of a continuous one)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="process what has arrived, then stop")
    parser.add_argument("--redis-url", help="override the target's Redis URL (credentials go in REDIS_PASSWORD)")
    first = parser.add_mutually_exclusive_group()
    first.add_argument(
        "--since",
        type=datetime.fromisoformat,
        help="first start only: apply sales and deletions from this UTC time on (default: the live lists' data end)",
    )
    first.add_argument(
        "--starting-version",
        action="append",
        default=[],
        metavar="[TABLE=]VERSION",
        help="first start only: the Delta version to read from (both bronze tables, or one: bronze.events=12)",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = load_job_config(NAME, AvailabilityConfig, args.conf, args.set)
    settings = load_settings()
    target = resolve_target(args.redis_url or settings.redis_url, settings.redis_secret_scope)
    target.check()  # before Spark starts: a wrong URL fails in seconds
    ctx = JobContext.for_settings(NAME, settings, get_spark(settings, app_name=f"recpipe-{NAME}"))
    asked = SS.requested_start(args.since, args.starting_version)
    query = start(ctx, config, target, once=args.once, asked=asked)
    query.awaitTermination()
    return summary(ctx, config, target, query)


def checkpoint_of(ctx: JobContext, config: AvailabilityConfig) -> Path:
    return Path(config.checkpoint) if config.checkpoint else ctx.settings.checkpoints / NAME


def _delta_start(ctx: JobContext, table: str, begin: SS.StreamStart) -> dict[str, str]:
    """Read a table whole and follow it, or start at a version when it exists (a table not written since then
    waits for its next commit)."""
    if begin.versions is None or table not in begin.versions:
        return {}
    version = begin.versions[table]
    return {"startingVersion": str(version)} if version <= ctx.tables.version(table) else {"startingVersion": "latest"}


def signals(ctx: JobContext, config: AvailabilityConfig, begin: SS.StreamStart) -> DataFrame:
    """The configured source as a stream of signals (``transforms.availability``), from ``begin`` on; purchases
    dated before their listing went up are left out (bronze.items read as of each micro-batch)."""
    if config.source == "kafka":
        kafka = config.kafka
        assert kafka is not None  # the config requires it for source kafka
        reader = (
            ctx.spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", kafka.bootstrap_servers)
            .option("subscribe", kafka.topic)
            .option("startingOffsets", kafka.starting_offsets)
        )
        if begin.since is not None:  # the first offset produced at or after it, per partition
            reader = reader.option("startingTimestamp", str(int(begin.since.replace(tzinfo=UTC).timestamp() * 1000)))
            reader = reader.option("startingOffsetsByTimestampStrategy", "latest")
        found = A.kafka_signals(reader.options(**kafka.options).load())
    else:
        items_options = _delta_start(ctx, catalog.BRONZE_ITEMS, begin)
        if config.items_change_feed:
            if ctx.tables.properties(catalog.BRONZE_ITEMS).get(catalog.CHANGE_FEED) != "true":
                raise MissingInputError(
                    f"table {catalog.BRONZE_ITEMS} has no change data feed ({catalog.CHANGE_FEED} is not true): enable "
                    f"it (ALTER TABLE ... SET TBLPROPERTIES ({catalog.CHANGE_FEED} = true)) or set items_change_feed: "
                    "false to stream appended rows only"
                )
            items_options["readChangeFeed"] = "true"
        items = ctx.tables.read_stream(catalog.BRONZE_ITEMS, **items_options)
        events = ctx.tables.read_stream(catalog.BRONZE_EVENTS, **_delta_start(ctx, catalog.BRONZE_EVENTS, begin))
        found = A.item_signals(items).unionByName(A.event_signals(events))
    if begin.since is not None:
        found = found.transform(A.signals_since(begin.since))
    return found.transform(A.sales_after_listing(ctx.tables.read(catalog.BRONZE_ITEMS)))


def redis_sink(target: RedisTarget, source: str):
    """foreachBatch function: a micro-batch's unavailable items into Redis, once per batch id."""

    def apply(batch: DataFrame, batch_id: int) -> None:
        started = time.perf_counter()
        rows = A.unavailable_items(batch).collect()
        at = [r.at.replace(tzinfo=UTC).timestamp() if r.at is not None else None for r in rows]
        client = target.client()
        try:
            applied = RA.apply_batch(client, source, batch_id, [r.item_id for r in rows], at)
        finally:
            client.close()
        log.info(
            "availability batch %d: %s unavailable items %s in %.2fs",
            batch_id,
            f"{applied.items:,}",
            "added" if applied.applied else "already applied (replay skipped)",
            time.perf_counter() - started,
        )

    return apply


def start(
    ctx: JobContext,
    config: AvailabilityConfig,
    target: RedisTarget,
    once: bool = False,
    asked: SS.StreamStart | None = None,
) -> StreamingQuery:
    checkpoint = checkpoint_of(ctx, config)
    resuming = (checkpoint / "stream" / "commits").exists()
    begin = SS.stream_start(checkpoint, target, asked)
    log.info(
        "availability stream %s; its first start began at %s",
        f"resumes from its checkpoint {checkpoint}" if resuming else "starts",
        begin.describe(),
    )
    writer = (
        signals(ctx, config, begin)
        .writeStream.queryName(f"recpipe-{NAME}")
        .option("checkpointLocation", str(checkpoint / "stream"))
        .foreachBatch(redis_sink(target, config.source))
    )
    trigger = {"availableNow": True} if once else {"processingTime": f"{config.trigger_seconds} seconds"}
    query = writer.trigger(**trigger).start()
    log.info(
        "availability stream started (%s, checkpoint %s)", "once" if once else trigger["processingTime"], checkpoint
    )
    return query


def summary(ctx: JobContext, config: AvailabilityConfig, target: RedisTarget, query: StreamingQuery) -> dict[str, Any]:
    client = target.client()
    try:
        return {
            "job": NAME,
            "source": config.source,
            "last_batch": RA.last_batch(client, config.source),
            "items_applied": RA.items_applied(client, config.source),
            "checkpoint": str(checkpoint_of(ctx, config)),
            "first_start": SS.stream_start(checkpoint_of(ctx, config), target).describe(),
        }
    finally:
        client.close()
