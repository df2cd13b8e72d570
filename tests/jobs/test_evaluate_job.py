"""`recpipe evaluate` on real Delta tables: a run's lists (found by time travel) scored against the next days,
next to the oracle; the figures land in monitoring.future_evaluation and the run's record."""

from datetime import date, datetime

import mlflow
import pytest

from recpipe import catalog, tracking
from recpipe.config import FutureEvaluationConfig, Settings
from recpipe.jobs.context import JobContext
from recpipe.jobs.evaluate import evaluate
from recpipe.monitoring import runs
from recpipe.tables import Tables

from ..quality.test_validation import USERS

ITEMS = (
    "item_id long, seller_id long, category string, brand string, size string, price double, condition string, "
    "listed_at timestamp, sold_at timestamp, deleted_at timestamp, status string"
)
EVENTS = (
    "event_id long, user_id long, item_id long, event_type string, event_ts timestamp, session_id long, surface string"
)

pytestmark = pytest.mark.slow  # runs jobs end to end on Spark
LISTS = "user_id long, item_ids array<long>, source string, run_id string, generated_at timestamp"
AS_OF = date(2026, 10, 10)
CONFIG = FutureEvaluationConfig(horizons_days=(7,), ks=(1, 10))


def item(item_id, seller, listed, sold=None):
    return (item_id, seller, "tops", "COS", "M", 20.0, "good", listed, sold, None, "sold" if sold else "active")


@pytest.fixture(scope="module")
def evaluated(spark, tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("evaluate"), shuffle_partitions=2)
    t = Tables(spark, settings)
    t.overwrite(
        spark.createDataFrame(
            [(1, "FR", datetime(2025, 1, 1)), (2, "FR", datetime(2025, 1, 1)), (3, "FR", datetime(2026, 10, 12))], USERS
        ),
        catalog.BRONZE_USERS,
    )
    t.overwrite(
        spark.createDataFrame(
            [
                item(10, 5, datetime(2026, 10, 1), sold=datetime(2026, 10, 13)),
                item(11, 5, datetime(2026, 10, 5), sold=datetime(2026, 10, 11, 12)),
                item(12, 1, datetime(2026, 10, 9)),  # user 1's own listing
                item(13, 5, datetime(2026, 10, 12)),  # listed after the as-of: "new"
            ],
            ITEMS,
        ),
        catalog.BRONZE_ITEMS,
    )
    t.overwrite(
        spark.createDataFrame(
            [
                (1, 1, 10, "view", datetime(2026, 10, 8), 1, "home"),
                (2, 2, 11, "view", datetime(2026, 10, 9), 2, "home"),
                (3, 1, 11, "view", datetime(2026, 10, 11, 11), 3, "home"),
                (4, 1, 11, "purchase", datetime(2026, 10, 11, 12), 3, "home"),  # user 1 buys 11: top of their list
                (5, 2, 10, "purchase", datetime(2026, 10, 13), 4, "home"),  # user 2 buys 10: not in their list
                (6, 2, 13, "add_to_bag", datetime(2026, 10, 14), 4, "home"),  # a new listing: no batch list has it
                (7, 3, 12, "purchase", datetime(2026, 10, 14), 5, "home"),  # user 3 signed up after the as-of
                (8, 2, 12, "view", datetime(2026, 10, 20), 6, "home"),  # the data covers the horizon
            ],
            EVENTS,
        ),
        catalog.BRONZE_EVENTS,
    )
    t.overwrite(
        spark.createDataFrame(
            [(1, 2, 3.0, [1.0, 0.0]), (2, 2, 3.0, [0.0, 1.0])],
            "user_id long, size_class int, log_price_level double, utility_vector array<float>",
        ),
        catalog.SIM_USERS,
    )
    t.overwrite(
        spark.createDataFrame(
            [(10, [0.9, 0.1]), (11, [0.2, 0.8]), (12, [5.0, 5.0]), (13, [1.0, 1.0])],
            "item_id long, utility_vector array<float>",
        ),
        catalog.SIM_ITEMS,
    )
    # two runs: the one of AS_OF, then a later one that the evaluation must not use
    t.overwrite(
        spark.createDataFrame(
            [(1, [11, 10], "als", "run-a", datetime(2026, 10, 11)), (2, [11], "als", "run-a", datetime(2026, 10, 11))],
            LISTS,
        ),
        catalog.GOLD_USER_CANDIDATES,
    )
    t.overwrite(
        spark.createDataFrame([(1, [13], "als", "run-b", datetime(2026, 10, 15))], LISTS), catalog.GOLD_USER_CANDIDATES
    )
    runs.write_run(t, {"run_id": "run-a", "as_of": AS_OF, "status": "published"})
    ctx = JobContext.for_settings("evaluate", settings, spark)
    summary = evaluate(ctx, CONFIG, AS_OF)
    table = t.read(catalog.MONITORING_FUTURE_EVALUATION).toPandas().set_index(["list", "target", "segment"])
    yield summary, table, t
    mlflow.set_tracking_uri(None)


def test_the_runs_lists_are_scored_against_the_next_days(evaluated):
    summary, table, _ = evaluated
    assert summary["run_id"] == "run-a" and summary["as_of"] == "2026-10-10"
    pipeline = table.loc[("pipeline", "purchase", "all")]
    assert pipeline.users == 2 and pipeline.targets == 2  # user 3 joined after the as-of
    assert pipeline.recall_at_1 == 0.5 and pipeline.recall_at_10 == 0.5  # user 1's hit; user 2 missed
    assert table.loc[("pipeline", "purchase", "warm")].recall_at_1 == 0.5
    assert table.loc[("pipeline", "add_to_bag", "new")].recall_at_10 == 0.0


def test_the_oracle_ranks_live_items_by_true_utility_without_own_listings(evaluated):
    _, table, _ = evaluated
    oracle = table.loc[("oracle", "purchase", "all")]
    # user 1: 10 (0.9) before 11 (0.2), own 12 excluded -> target 11 at rank 1; user 2: 12 (5.0), 11, 10 -> 10 at rank 2
    assert oracle.recall_at_1 == 0.0 and oracle.recall_at_10 == 1.0
    assert {"recent_popularity", "newest_in_taste"} <= set(table.index.get_level_values("list"))


def test_the_figures_join_the_runs_record_and_its_mlflow_run(evaluated):
    summary, _, t = evaluated
    record = runs.read_run(t, "run-a")
    assert record["future"]["pipeline/purchase/7d/all/recall_at_1"] == 0.5
    assert record["future"] == summary["figures"] and record["status"] == "published"
    tracking.configure(t.settings)
    mirrored = mlflow.search_runs(filter_string=f"tags.`{tracking.PIPELINE_RUN_TAG}` = 'run-a'", output_format="list")
    assert mirrored[0].data.metrics["future.pipeline/purchase/7d/all/recall_at_1"] == 0.5


def test_recall_per_buyer_segment_lands_with_intervals_in_the_measures_and_the_record(evaluated):
    """Buyers of the week after the as-of who had signed up: user 1 (11 at the top of their list: recall 1) and
    user 2 (10 not in theirs: 0), both French, established, size M (their events' listings), price tercile low."""
    summary, _, t = evaluated
    rows = t.read(catalog.MONITORING_RESPONSIBLE_MEASURES).where("run_id = 'run-a'").toPandas()
    got = sorted((r.dimension, r.segment, r.users, r.value) for r in rows.itertuples() if r.measure == "recall")
    assert got == [
        ("country", "FR", 2, 0.5),
        ("price_level", "low", 2, 0.5),
        ("size_class", "M", 2, 0.5),
        ("tenure", "established", 2, 0.5),
    ]
    assert all(r.low <= 0.5 <= r.high for r in rows.itertuples())
    assert summary["parity"] == {}  # one segment per dimension, under min_segment_users: no ratio to report
    assert runs.read_run(t, "run-a")["future"] == summary["figures"]


def test_by_default_the_newest_run_whose_horizon_has_passed_is_scored(evaluated, spark):
    """Events end on 10-20: run-b (as-of 10-14) has only 6 of its 7 days, so run-a is the one to score."""
    _, _, t = evaluated
    ctx = JobContext.for_settings("evaluate", t.settings, spark)
    assert evaluate(ctx, CONFIG)["run_id"] == "run-a"


def test_an_as_of_without_lists_is_a_clear_error(evaluated, spark):
    _, _, t = evaluated
    ctx = JobContext.for_settings("evaluate", t.settings, spark)
    with pytest.raises(LookupError, match="no version holds the lists of as-of 2026-09-01"):
        evaluate(ctx, CONFIG, date(2026, 9, 1))
