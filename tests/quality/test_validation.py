"""Bronze validation: every bad row lands in quarantine with its rule, good rows pass, counts add up."""

from datetime import UTC, datetime

import pytest
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config import ValidationConfig
from recpipe.quality.bronze import validate_bronze
from recpipe.quality.rules import DataQualityError

NOW = datetime(2026, 11, 2, tzinfo=UTC)
USERS = "user_id long, country string, signup_ts timestamp"
ITEMS = (
    "item_id long, seller_id long, category string, brand string, size string, price double, condition string, "
    "listed_at timestamp, sold_at timestamp, status string"
)
# user_id arrives as a string so that a value of the wrong type can be shown
RAW_EVENTS = "event_id long, user_id string, item_id long, event_type string, event_ts timestamp, session_id long, surface string"
T0 = datetime(2026, 10, 1, 12)


def bronze(spark, extra_good_events: int = 0):
    users = spark.createDataFrame([(1, "FR", datetime(2024, 1, 1)), (2, "DE", datetime(2024, 1, 1))], USERS)
    items = spark.createDataFrame(
        [
            (10, 2, "tops", "COS", "M", 20.0, "good", datetime(2026, 9, 1), None, "active"),
            (11, 2, "tops", "COS", "M", -5.0, "good", datetime(2026, 9, 1), None, "active"),
        ],  # negative price
        ITEMS,
    )
    rows = [
        (1, "1", 10, "view", T0, 1, "home"),  # good
        (2, "2", 10, "like", T0, 2, "home"),  # good
        (3, "1", None, "view", T0, 1, "home"),  # events.item_id.not_null
        (4, "1", 10, "click", T0, 1, "home"),  # events.event_type.in_set
        (5, "1", 10, "view", datetime(2099, 1, 1), 1, "home"),  # events.event_ts.between (future)
        (6, "1", 999, "view", T0, 1, "home"),  # events.item_id.references (unknown item)
        (1, "1", 10, "view", datetime(2026, 10, 2), 1, "home"),  # events.event_id.unique (second copy)
        (8, "abc", 10, "view", T0, 1, "home"),  # events.user_id.typed
        (9, "1", 11, "view", T0, 1, "home"),  # item 11 is quarantined: events.item_id.references
    ]
    rows += [(100 + i, "2", 10, "view", T0, 3, "home") for i in range(extra_good_events)]
    return users, items, spark.createDataFrame(rows, RAW_EVENTS)


EXPECTED_EVENT_RULES = {
    3: ["events.item_id.not_null"],
    4: ["events.event_type.in_set"],
    5: ["events.event_ts.between"],
    6: ["events.item_id.references"],
    1: ["events.event_id.unique"],
    8: ["events.user_id.typed"],
    9: ["events.item_id.references"],
}


@pytest.fixture(scope="module")
def checked(spark):
    return validate_bronze(*bronze(spark), ValidationConfig(), "run-1", NOW)


def test_each_bad_row_is_quarantined_with_its_rule(checked):
    quarantined = {
        (r["event_id"], tuple(r["failed_rules"]))
        for r in checked.events.quarantine.select(
            F.get_json_object("record", "$.event_id").cast("long").alias("event_id"), "failed_rules"
        ).collect()
    }
    assert quarantined == {(k, tuple(v)) for k, v in EXPECTED_EVENT_RULES.items()}
    assert sorted(r["event_id"] for r in checked.events.valid.collect()) == [1, 2]
    assert checked.events.valid.schema["user_id"].dataType.simpleString() == "bigint"
    # the duplicate kept is the earliest copy
    assert checked.events.valid.where("event_id = 1").first()["event_ts"] == T0
    assert checked.events.quarantine.select("run_id", "table").distinct().collect() == [
        ("run-1", catalog.BRONZE_EVENTS)
    ]


def test_counts_add_up_and_nothing_is_lost(checked):
    for table in checked.tables:
        assert table.total == table.valid.count() + table.quarantined
    assert checked.items.quarantined == 1
    assert [r["reason"] for r in checked.items.quarantine.collect()] == ["items.price.between"]
    wrong_type = checked.events.quarantine.where(F.array_contains("failed_rules", "events.user_id.typed")).first()
    assert '"user_id":"abc"' in wrong_type["record"]  # the raw value is kept


def test_report_names_rule_and_counts(checked):
    report = {r["rule"]: r for r in checked.events.report}
    assert report["events.event_type.in_set"]["success"] is False
    assert report["events.event_type.in_set"]["unexpected_count"] == 1
    assert report["events.user_id.references"]["success"] is True
    assert report["events.event_ts.exists"]["success"] is True


def test_threshold_fails_with_a_clear_message(checked):
    with pytest.raises(DataQualityError, match=r"table bronze\.items: 1 of 2 rows quarantined .*items\.price\.between"):
        checked.enforce(ValidationConfig(max_quarantine_share=0.01))


def test_below_threshold_passes(spark):
    users, items, events = bronze(spark, extra_good_events=800)
    items = items.where("item_id = 10")
    checked = validate_bronze(users, items, events, ValidationConfig(max_quarantine_share=0.01), "run-1", NOW)
    assert checked.events.share < 0.01
    checked.enforce(ValidationConfig(max_quarantine_share=0.01))


def test_missing_column_fails_at_table_level(spark):
    users, items, events = bronze(spark)
    with pytest.raises(
        DataQualityError, match=r"bronze\.events.*column 'event_ts' is missing \(rule events\.event_ts\.exists\)"
    ):
        validate_bronze(users, items, events.drop("event_ts"), ValidationConfig(), "run-1", NOW)


def test_empty_table_fails_at_table_level(spark):
    users, items, events = bronze(spark)
    with pytest.raises(DataQualityError, match=r"bronze\.users.*empty \(rule users\.\*\.not_empty\)"):
        validate_bronze(users.limit(0), items, events, ValidationConfig(), "run-1", NOW)


def test_items_from_a_producer_without_deleted_at_read_as_never_deleted(checked, spark):
    """deleted_at came later: its absence is no error (the fixture's items lack it), sold_at's absence is."""
    assert checked.items.valid.where(F.col("deleted_at").isNotNull()).count() == 0
    assert "deleted_at" in checked.items.valid.columns
    users, items, events = bronze(spark)
    with pytest.raises(DataQualityError, match=r"column 'sold_at' is missing \(rule items\.sold_at\.exists\)"):
        validate_bronze(users, items.drop("sold_at"), events, ValidationConfig(), "run-1", NOW)


def test_threshold_message_names_the_quarantine_table_and_the_setting(checked):
    with pytest.raises(DataQualityError) as err:
        checked.enforce(ValidationConfig(max_quarantine_share=0.01))
    assert "quarantine.items" in str(err.value) and "validation.max_quarantine_share" in str(err.value)
    assert len(str(err.value).splitlines()) == 1


LISTED = datetime(2026, 9, 1)


def sale_world(spark):
    """Listing 10 bought before it went up, then sold, then bought again; listing 12 has no category; listing 13
    arrives twice (a relisting with a newer listed_at, and two copies with the same listed_at)."""
    users = spark.createDataFrame([(1, "FR", datetime(2024, 1, 1)), (2, "DE", datetime(2024, 1, 1))], USERS)
    item = lambda item_id, category, listed, sold, status, brand="COS": (
        (item_id, 2, category, brand, "M", 20.0, "good", listed, sold, status)
    )
    items = spark.createDataFrame(
        [
            item(10, "tops", LISTED, T0, "sold"),
            item(12, None, LISTED, None, "active"),  # items.category.not_null: the contract requires it
            item(13, "tops", LISTED, None, "active", brand="old"),
            item(13, "tops", datetime(2026, 9, 5), None, "active", brand="relisted-b"),
            item(13, "tops", datetime(2026, 9, 5), None, "active", brand="relisted-a"),
        ],
        ITEMS,
    )
    events = spark.createDataFrame(
        [
            (20, "1", 10, "purchase", datetime(2026, 8, 30), 1, "home"),  # before listed_at
            (21, "1", 10, "purchase", T0, 1, "home"),  # the sale
            (22, "2", 10, "purchase", datetime(2026, 10, 1, 13), 2, "home"),  # after the sale
            (23, "2", 13, "view", T0, 2, "home"),
        ],
        RAW_EVENTS,
    )
    return validate_bronze(users, items, events, ValidationConfig(), "run-1", NOW)


def test_a_purchase_before_listing_or_after_the_sale_and_a_missing_required_value_are_quarantined(spark):
    checked = sale_world(spark)
    failed = {
        r["event_id"]: r["reason"]
        for r in checked.events.quarantine.select(
            F.get_json_object("record", "$.event_id").cast("long").alias("event_id"), "reason"
        ).collect()
    }
    assert failed == {20: "events.event_ts.purchase_after_listing", 22: "events.item_id.sold_once"}
    assert sorted(r.event_id for r in checked.events.valid.collect()) == [21, 23]
    items = {r.reason for r in checked.items.quarantine.collect()}
    assert "items.category.not_null" in items


def test_duplicates_keep_the_newest_listing_then_the_first_record(spark):
    checked = sale_world(spark)
    kept = checked.items.valid.where("item_id = 13").collect()
    # newest listed_at wins; of the two copies listed the same moment, the first record in byte order
    assert [(r.listed_at, r.brand) for r in kept] == [(datetime(2026, 9, 5), "relisted-a")]
    assert checked.items.quarantine.where(F.col("reason") == "items.item_id.unique").count() == 2
