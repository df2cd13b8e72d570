"""The availability stream on real Delta tables and a real Redis: a purchase or a deletion leaves readers' lists
within one trigger; a restart from the checkpoint loses and repeats nothing, even after a crash between the Redis
write and the checkpoint commit. The same from a Kafka topic on a real broker, where a message that cannot be read
is quarantined with the rule it broke and the stream goes on."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from delta.tables import DeltaTable
from kafka import KafkaProducer

from recpipe import catalog
from recpipe.cli import execute
from recpipe.config import AvailabilityConfig
from recpipe.jobs import availability as job
from recpipe.jobs.context import JobContext
from recpipe.serving import availability as RA
from recpipe.serving import encoding, keys
from recpipe.serving.connection import RedisTarget
from recpipe.serving.local_kafka import KafkaBroker
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


# Kafka: a real broker (KRaft, from Maven Central's artifacts), messages produced by a real client


@pytest.fixture(scope="module")
def kafka_broker(tmp_path_factory):
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka")).start()
    yield broker
    broker.stop()


def produce(broker: KafkaBroker, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    for value in values:
        producer.send(topic, value)
    producer.flush()
    producer.close()


def sale(item_id: int) -> bytes:
    return json.dumps({"item_id": item_id, "event_type": "purchase", "event_ts": "2026-11-02T09:00:00"}).encode()


def deletion(item_id: int) -> bytes:
    return json.dumps({"item_id": item_id, "status": "deleted", "deleted_at": "2026-11-02T10:00:00"}).encode()


def test_kafka_sales_leave_the_list_a_bad_message_is_quarantined_and_a_restart_resumes(
    stream_ctx, kafka_broker, settings, tmp_path, monkeypatch
):
    ctx, target = stream_ctx
    client, reader = target.client(), RecommendationReader(target)
    monkeypatch.setenv("RECPIPE_DATA_DIR", str(settings.data_dir))
    conf = tmp_path / "availability.yml"
    kafka = {"bootstrap_servers": kafka_broker.bootstrap_servers, "topic": "sales", "starting_offsets": "earliest"}
    conf.write_text(yaml.safe_dump({"kafka": kafka}))
    command = ["availability", "--source", "kafka", "--once", "--conf", str(conf), "--redis-url", target.url]
    quarantine = lambda: ctx.tables.read(catalog.QUARANTINE_STREAM_MESSAGES).orderBy("record").collect()

    produce(kafka_broker, "sales", [sale(12), b"{not json", deletion(14), json.dumps({"item_id": 10}).encode()])
    assert execute(command) == 0
    assert reader.for_user(USER).item_ids == [10, 11, 13]
    assert RA.items_applied(client, "kafka") == 2
    [bad_json, no_fact] = quarantine()
    assert json.loads(bad_json.record)["value"] == "{not json" and json.loads(bad_json.record)["offset"] == 1
    assert bad_json.failed_rules[0] == "value_is_json_object" and no_fact.failed_rules == ["states_a_fact"]
    assert "neither event_type nor status" in no_fact.reason

    produce(kafka_broker, "sales", [sale(11), b"\xff"])
    assert execute(command) == 0  # restarted: resumes after the last committed offsets
    assert reader.for_user(USER).item_ids == [10, 13]
    assert RA.items_applied(client, "kafka") == 3  # 12 and 14 were not applied again
    assert len(quarantine()) == 3
    # a crash after the Redis write and the quarantine, before the checkpoint commit: the batch is replayed
    last = RA.last_batch(client, "kafka")
    commits = job.checkpoint_of(ctx, AvailabilityConfig()) / "stream" / "commits"
    for name in (str(last), f".{last}.crc"):
        (commits / name).unlink(missing_ok=True)
    assert execute(command) == 0
    assert RA.last_batch(client, "kafka") == last and RA.items_applied(client, "kafka") == 3
    assert len(quarantine()) == 3  # merged on the record: the replay quarantined nothing twice
    assert {int(i) for i in client.smembers(keys.UNAVAILABLE_KEY)} == {11, 12, 14}
