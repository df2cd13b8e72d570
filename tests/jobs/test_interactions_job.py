"""The interactions job on real Delta tables: idempotent reruns, incremental == full rebuild, failure on bad input."""

from datetime import date, datetime, timedelta

import pytest
from chispa import assert_approx_df_equality, assert_df_equality

from recpipe import catalog
from recpipe.config import InteractionsConfig, Settings
from recpipe.jobs.context import JobContext
from recpipe.jobs.interactions import build
from recpipe.quality.rules import DataQualityError
from recpipe.tables import Tables

from ..quality.test_validation import ITEMS, USERS

EVENTS = (
    "event_id long, user_id long, item_id long, event_type string, event_ts timestamp, session_id long, surface string"
)
DAY1, DAY2 = date(2026, 10, 1), date(2026, 10, 2)
CONFIG = InteractionsConfig(
    min_user_interactions=1, min_item_interactions=1, half_life_days=3, bot_max_events_per_day=20
)

pytestmark = pytest.mark.slow  # runs jobs end to end on Spark


def write_bronze(tables: Tables, events_rows, extra_items=()):
    spark = tables.spark
    users = [(u, "FR", datetime(2025, 1, 1)) for u in range(1, 6)]
    items = [(i, 5, "tops", "COS", "M", 20.0, "good", datetime(2026, 9, 1), None, "active") for i in (10, 11, 12, 13)]
    tables.overwrite(spark.createDataFrame(users, USERS), catalog.BRONZE_USERS)
    tables.overwrite(spark.createDataFrame(items + list(extra_items), ITEMS), catalog.BRONZE_ITEMS)
    tables.overwrite(spark.createDataFrame(events_rows, EVENTS), catalog.BRONZE_EVENTS)


def two_days_of_events():
    rows, event_id = [], 0
    for day in (DAY1, DAY2):
        base = datetime.combine(day, datetime.min.time())
        for user in (1, 2, 3):
            # a listing sells once: what a user bought on day 1 they bag again on day 2 (a second purchase of
            # it would be quarantined)
            again = "purchase" if day == DAY1 else "add_to_bag"
            for k, (item, kind) in enumerate([(10, "view"), (11, "like"), (10 + user, again), (13, "save")]):
                event_id += 1
                rows.append((event_id, user, item, kind, base + timedelta(hours=user + k), event_id, "home"))
        rows.append((event_id + 1000, 5, 10, "view", base + timedelta(hours=9), 999, "home"))  # seller 5 views own item
    bot_day = datetime.combine(DAY1, datetime.min.time())
    rows += [(5000 + k, 4, 12, "view", bot_day + timedelta(seconds=k), 777, "search") for k in range(25)]  # a bot
    return rows


def context(spark, data_dir, as_of: date | None = None) -> JobContext:
    return JobContext.for_settings("interactions", Settings(data_dir=data_dir, shuffle_partitions=2), spark, as_of)


def silver(tables: Tables, name: str):
    return tables.read(f"silver.{name}")


@pytest.fixture(scope="module")
def full_run(spark, tmp_path_factory):
    """A full build as of day 2, shared: its tables are also the reference for rerun and incremental runs."""
    ctx = context(spark, tmp_path_factory.mktemp("full"), DAY2)
    write_bronze(ctx.tables, two_days_of_events())
    return ctx, build(ctx, CONFIG)


def test_full_run_builds_silver_tables(full_run):
    ctx, summary = full_run
    interactions = silver(ctx.tables, "interactions")
    assert interactions.where("user_id = 5").count() == 0  # own item
    assert interactions.where("user_id = 4").count() == 0  # bot
    assert interactions.where("user_id = 1 AND item_id = 10").first()["n_events"] == 2
    assert summary["rows"][catalog.QUARANTINE_EVENTS] == 0
    assert (
        summary["versions_read"][catalog.BRONZE_EVENTS] == 0
        and catalog.SILVER_INTERACTIONS in summary["versions_written"]
    )
    users = silver(ctx.tables, "user_index").orderBy("user_idx").collect()
    assert [(r.user_id, r.user_idx) for r in users] == [(1, 0), (2, 1), (3, 2)]
    assert {r.run_id for r in users} == {summary["run_id"]}


def test_rerun_on_the_same_input_gives_identical_tables(spark, full_run):
    ctx, summary = full_run
    names = ("interactions", "user_index", "item_index", "item_availability")
    first = {name: silver(ctx.tables, name).collect() for name in names}
    again = build(context(spark, ctx.settings.data_dir, DAY2), CONFIG)
    assert again["run_id"] == summary["run_id"]
    for name, rows in first.items():
        assert_df_equality(
            silver(ctx.tables, name),
            spark.createDataFrame(rows, silver(ctx.tables, name).schema),
            ignore_row_order=True,
        )
    assert ctx.tables.read(catalog.QUARANTINE_EVENTS).count() == 0  # replaced, not appended


def test_incremental_over_two_days_equals_a_full_rebuild(spark, tmp_path, full_run):
    full, _ = full_run
    incremental = context(spark, tmp_path / "incremental", DAY1)
    write_bronze(incremental.tables, two_days_of_events())
    build(incremental, CONFIG)
    summary = build(context(spark, tmp_path / "incremental", DAY2), CONFIG.model_copy(update={"incremental": True}))
    assert summary["incremental"] is True
    key = ["user_id", "item_id"]
    assert_approx_df_equality(
        silver(incremental.tables, "interactions").orderBy(key), silver(full.tables, "interactions").orderBy(key), 1e-9
    )
    assert_df_equality(
        silver(incremental.tables, "user_index").drop("run_id"),
        silver(full.tables, "user_index").drop("run_id"),
        ignore_row_order=True,
    )


def test_job_fails_above_the_threshold_but_keeps_the_quarantine(spark, tmp_path):
    ctx = context(spark, tmp_path, DAY2)
    rows = two_days_of_events() + [(90_000 + k, 1, 777, "view", datetime(2026, 10, 1, 5), 1, "home") for k in range(5)]
    write_bronze(ctx.tables, rows)
    with pytest.raises(
        DataQualityError, match=r"bronze\.events: 5 of .* rows quarantined .*events\.item_id\.references"
    ):
        build(ctx, CONFIG)
    quarantine = ctx.tables.read(catalog.QUARANTINE_EVENTS)
    assert quarantine.count() == 5 and {r.reason for r in quarantine.collect()} == {"events.item_id.references"}
    assert not ctx.tables.exists(catalog.SILVER_INTERACTIONS)
    report = ctx.tables.read(catalog.MONITORING_VALIDATION_RESULTS).where("rule = 'events.item_id.references'").first()
    assert report.success is False and report.unexpected_count == 5


def test_a_future_dated_event_is_quarantined_and_does_not_move_the_as_of(spark, tmp_path):
    ctx = context(spark, tmp_path)  # no as-of named: the day of the last valid event
    write_bronze(ctx.tables, two_days_of_events() + [(99_999, 1, 10, "view", datetime(2071, 1, 1), 1, "home")])
    tolerant = CONFIG.model_copy(
        update={"validation": CONFIG.validation.model_copy(update={"max_quarantine_share": 0.05})}
    )
    summary = build(ctx, tolerant)
    assert summary["as_of"] == str(DAY2) and summary["rows"][catalog.QUARANTINE_EVENTS] == 1
    assert summary["rows"][catalog.SILVER_INTERACTIONS] > 0


def test_an_as_of_past_the_data_or_an_empty_window_stops_before_writing(spark, tmp_path):
    write_bronze(context(spark, tmp_path).tables, two_days_of_events())
    with pytest.raises(DataQualityError, match="the as-of 2026-10-09 is after the last valid event \\(2026-10-02\\)"):
        build(context(spark, tmp_path, date(2026, 10, 9)), CONFIG)
    ctx = context(spark, tmp_path, date(2026, 9, 20))
    with pytest.raises(DataQualityError, match="no valid events in the window 2026-09-11 .. 2026-09-20"):
        build(ctx, CONFIG.model_copy(update={"lookback_days": 10}))
    assert not ctx.tables.exists(catalog.SILVER_DAILY_INTERACTIONS) and not ctx.tables.exists(
        catalog.SILVER_INTERACTIONS
    )
    assert not ctx.tables.exists(catalog.QUARANTINE_EVENTS) or ctx.tables.read(catalog.QUARANTINE_EVENTS).count() == 0
