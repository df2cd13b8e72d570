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


def test_kafka_messages_carry_events_and_listing_states(spark):
    messages = [
        {"item_id": 8, "event_type": "purchase", "event_ts": "2026-11-02T09:00:00"},
        {"item_id": 9, "status": "deleted", "deleted_at": "2026-11-02T10:00:00"},
        {"item_id": 10, "event_type": "view", "event_ts": "2026-11-02T09:00:00"},
        {"status": "sold"},  # no item id: nothing to remove
    ]
    frame = spark.createDataFrame([(json.dumps(m).encode(),) for m in messages] + [(b"not json",)], "value binary")
    expected = spark.createDataFrame(
        [(8, datetime(2026, 11, 2, 9)), (9, datetime(2026, 11, 2, 10))], "item_id long, at timestamp"
    )
    assert_df_equality(
        A.unavailable_items(A.kafka_signals(frame)), expected, ignore_row_order=True, ignore_nullable=True
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
