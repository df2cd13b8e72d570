"""What makes a listing unavailable: one rule over signals from bronze rows, their change feed, events and Kafka."""

import json
from datetime import datetime

from chispa import assert_df_equality

from recpipe.transforms import availability as A

ITEMS = "item_id long, status string, sold_at timestamp, deleted_at timestamp, _change_type string"


def test_items_change_feed_counts_new_states_only(spark):
    changes = spark.createDataFrame(
        [
            (1, "active", None, None, "update_preimage"),  # the state before an update says nothing new
            (1, "sold", datetime(2026, 11, 2, 10), None, "update_postimage"),
            (2, "deleted", None, datetime(2026, 11, 2, 11), "insert"),
            (3, "active", None, None, "insert"),
            (4, "sold", datetime(2026, 11, 1), None, "delete"),  # a row deleted from the table is not a sale
        ],
        ITEMS,
    )
    expected = spark.createDataFrame(
        [(1, datetime(2026, 11, 2, 10)), (2, datetime(2026, 11, 2, 11))], "item_id long, at timestamp"
    )
    assert_df_equality(
        A.unavailable_items(A.item_signals(changes)), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_a_purchase_makes_a_listing_unavailable_at_its_first_signal(spark):
    listed = datetime(2026, 11, 1)
    items = spark.createDataFrame(
        [(5, "active", listed, None), (6, "sold", listed, datetime(2026, 11, 3)), (8, "active", listed, None)],
        "item_id long, status string, listed_at timestamp, sold_at timestamp",
    )
    events = spark.createDataFrame(
        [
            (5, "view", datetime(2026, 11, 2, 8)),
            (5, "purchase", datetime(2026, 11, 2, 9)),  # bought: gone although its row still says active
            (6, "purchase", datetime(2026, 11, 2, 23)),  # the purchase is earlier than the row's sold_at
            (7, "add_to_bag", datetime(2026, 11, 2, 9)),
            (8, "purchase", datetime(2026, 10, 31)),  # dated before listing 8 went up: no sale, it stays live
        ],
        "item_id long, event_type string, event_ts timestamp",
    )
    expected = spark.createDataFrame(
        [(5, datetime(2026, 11, 2, 9)), (6, datetime(2026, 11, 2, 23))], "item_id long, at timestamp"
    )
    assert_df_equality(A.unavailable_in(items, events), expected, ignore_row_order=True, ignore_nullable=True)


KAFKA_RECORD = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
PRODUCED = datetime(2026, 11, 2, 12)


def kafka_records(spark, values: list[bytes | None]):
    """Records as Spark's Kafka source reads them: one partition of topic `sales`, offsets from 0."""
    return spark.createDataFrame([(None, v, "sales", 0, i, PRODUCED) for i, v in enumerate(values)], KAFKA_RECORD)


def test_kafka_messages_carry_events_and_listing_states(spark):
    messages = [
        {"item_id": 8, "event_type": "purchase", "event_ts": "2026-11-02T09:00:00"},
        {"item_id": 9, "status": "deleted", "deleted_at": "2026-11-02T10:00:00"},
        {"item_id": 10, "event_type": "view", "event_ts": "2026-11-02T09:00:00"},
        {"item_id": 11, "status": "active"},  # a listing's state that keeps it for sale
    ]
    frame = kafka_records(spark, [json.dumps(m).encode() for m in messages])
    expected = spark.createDataFrame(
        [(8, datetime(2026, 11, 2, 9)), (9, datetime(2026, 11, 2, 10))], "item_id long, at timestamp"
    )
    assert_df_equality(
        A.unavailable_items(A.kafka_messages(frame)), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_unreadable_kafka_messages_are_quarantined_with_the_rules_they_break(spark):
    values = [
        b'{"item_id": 8, "event_type": "purchase", "event_ts": "2026-11-02T09:00:00"}',
        b"not json",
        b'{"status": "sold"}',
        b'{"item_id": "eight", "event_type": "purchase"}',
        b'{"item_id": 9}',
        b'{"item_id": 10, "status": "sold", "sold_at": "yesterday"}',
        None,
    ]
    messages = A.kafka_messages(kafka_records(spark, values))
    # what the stream applies: the one readable message
    readable = spark.createDataFrame([(8, datetime(2026, 11, 2, 9))], "item_id long, at timestamp")
    assert_df_equality(A.unavailable_items(messages), readable, ignore_nullable=True)
    record = lambda offset: json.dumps(
        {"topic": "sales", "partition": 0, "offset": offset, "timestamp": "2026-11-02T12:00:00.000Z"}
        | ({"value": values[offset].decode()} if values[offset] is not None else {}),
        separators=(",", ":"),
    )
    why = dict(A.MESSAGE_RULES)
    unreadable = [
        (1, ["value_is_json_object", "item_id_is_integer", "states_a_fact"]),
        (2, ["item_id_is_integer"]),
        (3, ["item_id_is_integer"]),
        (4, ["states_a_fact"]),
        (5, ["times_are_readable"]),
        (6, ["value_is_json_object", "item_id_is_integer", "states_a_fact"]),
    ]
    expected = spark.createDataFrame(
        [
            ("kafka:sales", record(o), rules, "; ".join(f"{r}: {why[r]}" for r in rules), "batch-3")
            for o, rules in unreadable
        ],
        "table string, record string, failed_rules array<string>, reason string, run_id string",
    )
    assert_df_equality(
        A.unreadable_messages(messages, "batch-3"), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_signals_since_keep_the_later_and_the_undated(spark):
    signals = spark.createDataFrame(
        [
            (1, "sold", None, datetime(2026, 10, 31)),
            (2, None, "purchase", datetime(2026, 11, 1, 9)),
            (3, "sold", None, None),
        ],
        A.SIGNAL_COLUMNS,
    )
    expected = spark.createDataFrame(
        [(2, None, "purchase", datetime(2026, 11, 1, 9)), (3, "sold", None, None)], A.SIGNAL_COLUMNS
    )
    assert_df_equality(
        signals.transform(A.signals_since(datetime(2026, 11, 1))), expected, ignore_row_order=True, ignore_nullable=True
    )
