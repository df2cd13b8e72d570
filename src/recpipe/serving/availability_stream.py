"""The availability stream's source and sink: signals of sold and deleted listings (Delta or Kafka) from where
the stream starts, and the foreachBatch function that applies a micro-batch to Redis once."""

from __future__ import annotations

import logging
import time
from datetime import UTC

from pyspark.sql import DataFrame

from recpipe import catalog
from recpipe.config import AvailabilityConfig
from recpipe.errors import MissingInputError
from recpipe.serving.availability import apply_batch
from recpipe.serving.connection import RedisTarget
from recpipe.serving.stream_start import StreamStart
from recpipe.spark import kafka_connector
from recpipe.tables import Tables
from recpipe.transforms import availability

log = logging.getLogger(__name__)


def _delta_start(tables: Tables, table: str, begin: StreamStart) -> dict[str, str]:
    """Read a table whole and follow it, or start at a version when it exists (a table not written since then
    waits for its next commit)."""
    if begin.versions is None or table not in begin.versions:
        return {}
    version = begin.versions[table]
    return {"startingVersion": str(version)} if version <= tables.version(table) else {"startingVersion": "latest"}


def signals(tables: Tables, config: AvailabilityConfig, begin: StreamStart) -> DataFrame:
    """The configured source as a stream of signals (``transforms.availability``), from ``begin`` on; purchases
    dated before their listing went up are left out (bronze.items read as of each micro-batch)."""
    if config.source == "kafka":
        kafka = config.kafka
        assert kafka is not None  # the config requires it for source kafka
        reader = (
            tables.spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", kafka.bootstrap_servers)
            .option("subscribe", kafka.topic)
            .option("startingOffsets", kafka.starting_offsets)
        )
        if begin.since is not None:  # the first offset produced at or after it, per partition
            reader = reader.option("startingTimestamp", str(int(begin.since.replace(tzinfo=UTC).timestamp() * 1000)))
            reader = reader.option("startingOffsetsByTimestampStrategy", "latest")
        found = availability.kafka_messages(reader.options(**kafka.options).load())  # unreadable ones too
    else:
        items_options = _delta_start(tables, catalog.BRONZE_ITEMS, begin)
        if config.items_change_feed:
            if tables.properties(catalog.BRONZE_ITEMS).get(catalog.CHANGE_FEED) != "true":
                raise MissingInputError(
                    f"table {catalog.BRONZE_ITEMS} has no change data feed ({catalog.CHANGE_FEED} is not true): enable "
                    f"it (ALTER TABLE ... SET TBLPROPERTIES ({catalog.CHANGE_FEED} = true)) or set items_change_feed: "
                    "false to stream appended rows only"
                )
            items_options["readChangeFeed"] = "true"
        items = tables.read_stream(catalog.BRONZE_ITEMS, **items_options)
        events = tables.read_stream(catalog.BRONZE_EVENTS, **_delta_start(tables, catalog.BRONZE_EVENTS, begin))
        found = availability.item_signals(items).unionByName(availability.event_signals(events))
    if begin.since is not None:
        found = found.transform(availability.signals_since(begin.since))
    return found.transform(availability.sales_after_listing(tables.read(catalog.BRONZE_ITEMS)))


def spark_packages(config: AvailabilityConfig) -> list[str]:
    """Maven packages a local Spark session needs for the configured source (Kafka's connector)."""
    return [kafka_connector()] if config.source == "kafka" else []


def quarantine_unreadable(tables: Tables, batch: DataFrame, batch_id: int, source: str) -> int:
    """A micro-batch's messages that cannot be read -> quarantine.stream_messages (merged on the record, so a
    replayed batch adds nothing twice); returns how many there were. ``batch``: cached by the caller."""
    unreadable = availability.unreadable_messages(batch, f"availability:{source}:batch-{batch_id}")
    count = unreadable.count()  # the batch is cached: a filter over it, not a second read of the topic
    if count:
        tables.merge(unreadable, catalog.QUARANTINE_STREAM_MESSAGES, keys=("table", "record"))
        log.warning(
            "availability batch %d: %d unreadable messages quarantined in %s (first: %s)",
            batch_id,
            count,
            catalog.QUARANTINE_STREAM_MESSAGES,
            unreadable.select("reason").head(1)[0][0],
        )
    return count


def redis_sink(target: RedisTarget, source: str, tables: Tables):
    """foreachBatch function: a micro-batch's unavailable items into Redis, once per batch id; messages that cannot
    be read go to quarantine first (the batch's readable ones are applied all the same)."""

    def apply(batch: DataFrame, batch_id: int) -> None:
        started = time.perf_counter()
        if "failed_rules" in batch.columns:
            batch = batch.cache()
            quarantine_unreadable(tables, batch, batch_id, source)
        rows = availability.unavailable_items(batch).collect()
        batch.unpersist()
        at = [r.at.replace(tzinfo=UTC).timestamp() if r.at is not None else None for r in rows]
        client = target.client()
        try:
            applied = apply_batch(client, source, batch_id, [r.item_id for r in rows], at)
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
