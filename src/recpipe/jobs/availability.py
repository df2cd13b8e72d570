"""`recpipe availability`: a Structured Streaming job that keeps the Redis unavailable set current between publishes."""

from __future__ import annotations

import argparse
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from pyspark.sql.streaming import StreamingQuery

from recpipe.config import AvailabilityConfig, load_run_config, load_settings
from recpipe.jobs.context import JobContext
from recpipe.serving import availability_stream, stream_start
from recpipe.serving.availability import items_applied, last_batch
from recpipe.serving.connection import RedisTarget, target_for
from recpipe.spark import get_spark

log = logging.getLogger(__name__)

NAME = "availability"
DESCRIPTION = """\
Streams sold and deleted listings into the Redis unavailable set (recpipe:unavailable) that readers filter with:
purchase events of bronze.events and sold or deleted rows of bronze.items (its change data feed, so status
updates count), or a Kafka topic (source: kafka; a message that cannot be read goes to quarantine.stream_messages
with the rule it broke, and the stream goes on). Each micro-batch is applied in one Redis transaction guarded by
its batch id, and progress is checkpointed (<artifacts>/checkpoints/availability), so a restart neither loses nor
repeats work. A first start catches up from the live lists' data end (sales before it are in the lists), or from
--since TIME or --starting-version [TABLE=]N; where it began is logged and kept in the checkpoint folder.
Runs until stopped, a micro-batch every trigger_seconds; --once processes what has arrived and stops (a frequent
job instead of a continuous one)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="process what has arrived, then stop")
    parser.add_argument("--redis-url", help="override the target's Redis URL (credentials go in REDIS_PASSWORD)")
    parser.add_argument(
        "--source", choices=("delta", "kafka"), help="where sales come from (default: the config's source)"
    )
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
    run_config = load_run_config(NAME, args.conf, [*args.set, *([f"source={args.source}"] if args.source else [])])
    settings = load_settings()
    target = target_for(settings, run_config.publish, args.redis_url)
    target.check()  # before Spark starts: a wrong URL fails in seconds
    config = run_config.availability
    spark = get_spark(settings, app_name=f"recpipe-{NAME}", packages=availability_stream.spark_packages(config))
    ctx = JobContext.for_settings(NAME, settings, spark, config=run_config)
    asked = stream_start.requested_start(args.since, args.starting_version)
    query = start(ctx, config, target, once=args.once, asked=asked)
    query.awaitTermination()
    return summary(ctx, config, target, query)


def checkpoint_of(ctx: JobContext, config: AvailabilityConfig) -> Path:
    return Path(config.checkpoint) if config.checkpoint else ctx.settings.checkpoints / NAME


def start(
    ctx: JobContext,
    config: AvailabilityConfig,
    target: RedisTarget,
    once: bool = False,
    asked: stream_start.StreamStart | None = None,
) -> StreamingQuery:
    checkpoint = checkpoint_of(ctx, config)
    resuming = (checkpoint / "stream" / "commits").exists()
    begin = stream_start.stream_start(checkpoint, target, asked)
    log.info(
        "availability stream %s; its first start began at %s",
        f"resumes from its checkpoint {checkpoint}" if resuming else "starts",
        begin.describe(),
    )
    writer = (
        availability_stream.signals(ctx.tables, config, begin)
        .writeStream.queryName(f"recpipe-{NAME}")
        .option("checkpointLocation", str(checkpoint / "stream"))
        .foreachBatch(availability_stream.redis_sink(target, config.source, ctx.tables))
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
            "last_batch": last_batch(client, config.source),
            "items_applied": items_applied(client, config.source),
            "checkpoint": str(checkpoint_of(ctx, config)),
            "first_start": stream_start.stream_start(checkpoint_of(ctx, config), target).describe(),
        }
    finally:
        client.close()
