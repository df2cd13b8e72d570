"""The availability stream on real Delta tables and a real Redis: a purchase or a deletion leaves readers' lists
within one trigger; a restart from the checkpoint loses and repeats nothing, even after a crash between the Redis
write and the checkpoint commit."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from delta.tables import DeltaTable

from recpipe import catalog
from recpipe.config import AvailabilityConfig
from recpipe.jobs import availability as job
from recpipe.jobs.context import JobContext
from recpipe.serving import availability as RA
from recpipe.serving import encoding, keys
from recpipe.serving.connection import RedisTarget
from recpipe.serving.reader import RecommendationReader

pytestmark = pytest.mark.slow  # runs streaming queries end to end on Spark

USER, LIST = 1, [10, 11, 12, 13, 14]
ITEM_COLUMNS = (
    "item_id long, seller_id long, status string, listed_at timestamp, sold_at timestamp, deleted_at timestamp"
)
EVENT_COLUMNS = "event_id long, user_id long, item_id long, event_type string, event_ts timestamp"


def write_bronze(ctx: JobContext) -> None:
    spark = ctx.spark
    items = [(i, 100, "active", datetime(2026, 11, 1), None, None) for i in LIST]
    ctx.tables.overwrite(spark.createDataFrame(items, ITEM_COLUMNS), catalog.BRONZE_ITEMS)
    ctx.tables.overwrite(
        spark.createDataFrame([(1, USER, 10, "view", datetime(2026, 11, 1, 9))], EVENT_COLUMNS), catalog.BRONZE_EVENTS
    )


def purchase(ctx: JobContext, event_id: int, item_id: int) -> None:
    row = [(event_id, 2, item_id, "purchase", datetime(2026, 11, 2, 9, event_id % 60))]
    ctx.tables.append(ctx.spark.createDataFrame(row, EVENT_COLUMNS), catalog.BRONZE_EVENTS)


def serve_list(client) -> None:
    """A live foryou version holding the user's list, as a publish leaves it."""
    client.set(keys.pointer_key("foryou"), "v1")
    client.hset(keys.manifest_key("foryou", "v1"), "buckets", 1)
    client.hset(keys.bucket_key("foryou", "v1", 0), str(USER), encoding.encode(LIST, [5.0, 4, 3, 2, 1]))


@pytest.fixture
def stream_ctx(spark, settings, redis_server):
    ctx = JobContext.for_settings("availability", settings, spark)
    write_bronze(ctx)
    target = RedisTarget(redis_server.url)
    serve_list(target.client())
    return ctx, target


def test_a_purchase_and_a_deletion_leave_the_list_within_one_trigger(stream_ctx):
    ctx, target = stream_ctx
    reader = RecommendationReader(target)
    query = job.start(ctx, AvailabilityConfig(trigger_seconds=1), target)
    try:
        assert reader.for_user(USER).item_ids == LIST
        purchase(ctx, 2, 12)
        query.processAllAvailable()  # returns once every arrived row went through a trigger
        assert reader.for_user(USER).item_ids == [10, 11, 13, 14]
        DeltaTable.forPath(ctx.spark, ctx.tables.name(catalog.BRONZE_ITEMS)).update(
            "item_id = 14", {"status": "'deleted'", "deleted_at": "timestamp'2026-11-02 10:00:00'"}
        )
        query.processAllAvailable()
        assert reader.for_user(USER).item_ids == [10, 11, 13]
    finally:
        query.stop()


def run_once(ctx: JobContext, target: RedisTarget) -> None:
    job.start(ctx, AvailabilityConfig(), target, once=True).awaitTermination()


def test_a_restart_from_the_checkpoint_loses_and_repeats_nothing(stream_ctx):
    ctx, target = stream_ctx
    client = target.client()
    run_once(ctx, target)  # the first start: nothing has arrived since the tables' current versions
    assert RA.items_applied(client, "delta") == 0
    purchase(ctx, 2, 10)
    purchase(ctx, 3, 11)
    run_once(ctx, target)
    assert RA.items_applied(client, "delta") == 2
    purchase(ctx, 4, 12)
    new_listing_sold = [(20, 101, "sold", datetime(2026, 11, 2), datetime(2026, 11, 2, 12), None)]
    ctx.tables.append(ctx.spark.createDataFrame(new_listing_sold, ITEM_COLUMNS), catalog.BRONZE_ITEMS)
    run_once(ctx, target)  # restarted: only what arrived since the last run
    assert RA.items_applied(client, "delta") == 4
    assert {int(i) for i in client.smembers(keys.UNAVAILABLE_KEY)} == {10, 11, 12, 20}
    assert client.zscore(keys.UNAVAILABLE_LOG_KEY, "20") == datetime(2026, 11, 2, 12, tzinfo=UTC).timestamp()
    # A crash after the Redis write and before the checkpoint commit: Spark replays the last micro-batch
    last = RA.last_batch(client, "delta")
    commits = Path(job.checkpoint_of(ctx, AvailabilityConfig())) / "stream" / "commits"
    for name in (str(last), f".{last}.crc"):  # the commit and its checksum file
        (commits / name).unlink(missing_ok=True)
    run_once(ctx, target)
    assert RA.last_batch(client, "delta") == last
    assert RA.items_applied(client, "delta") == 4  # the replay was recognised and skipped
    assert {int(i) for i in client.smembers(keys.UNAVAILABLE_KEY)} == {10, 11, 12, 20}


def test_a_stream_over_items_without_a_change_feed_says_how_to_fix_it(spark, settings, redis_server):
    ctx = JobContext.for_settings("availability", settings, spark)
    write_bronze(ctx)
    ctx.spark.sql(
        f"ALTER TABLE delta.`{ctx.tables.name(catalog.BRONZE_ITEMS)}` SET TBLPROPERTIES ({catalog.CHANGE_FEED} = false)"
    )
    with pytest.raises(Exception, match="bronze.items has no change data feed.*items_change_feed: false"):
        job.start(ctx, AvailabilityConfig(), RedisTarget(redis_server.url), once=True)
