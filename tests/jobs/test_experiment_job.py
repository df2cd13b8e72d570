"""`recpipe experiment analyze` on real Delta tables: a hand-made A/B test whose reading is computed by hand; a
bad impression is quarantined with its rule, a user logged under two variants is left out, a rerun writes the
same rows."""

from datetime import date, datetime

import pytest

from recpipe import catalog
from recpipe.config import RunConfig
from recpipe.config.experiments import ExperimentConfig, ExperimentsConfig, VariantConfig
from recpipe.jobs.context import JobContext
from recpipe.jobs.experiment import analyze
from recpipe.tables import to_pandas

from .test_evaluate_job import EVENTS, ITEMS, item

pytestmark = pytest.mark.slow  # a job end to end on Spark
AB = ExperimentConfig(
    name="ab",
    start=date(2026, 11, 2),
    end=date(2026, 11, 3),
    variants=(VariantConfig(name="A"), VariantConfig(name="B")),
)
CONFIG = RunConfig(experiments=ExperimentsConfig(active=(AB,), attribution_days=1, pre_period_days=7))
IMPRESSIONS = catalog.columns(catalog.BRONZE_IMPRESSIONS)


def shown(impression_id, user, item_id, variant, at, position=0):
    return (impression_id, user, item_id, position, "for_you", "foryou", "v1", "3", "ab", variant, at)


def event(event_id, user, item_id, kind, at):
    return (event_id, user, item_id, kind, at, event_id, "for_you")


def test_an_ab_reading_equals_the_hand_computation(spark, settings):
    ctx = JobContext.for_settings("experiment", settings, spark, None, CONFIG)
    t = ctx.tables
    day = lambda d, h=10: datetime(2026, 11, d, h)
    impressions = [
        shown(1, 1, 10, "A", day(2)),
        shown(2, 2, 11, "A", day(2)),
        shown(3, 3, 12, "B", day(2)),
        shown(4, 4, 13, "B", day(3)),
        shown(5, 5, 10, "A", day(2)),
        shown(6, 5, 11, "B", day(3)),  # user 5 under both variants: left out
        shown(7, 2, 11, "A", day(2), position=-1),  # a negative position: quarantined
    ]
    t.overwrite(spark.createDataFrame(impressions, IMPRESSIONS), catalog.BRONZE_IMPRESSIONS)
    events = [
        event(1, 1, 10, "view", day(2, 11)),
        event(2, 1, 10, "purchase", day(2, 12)),
        event(3, 3, 12, "view", day(2, 11)),
        event(4, 3, 12, "purchase", day(2, 12)),
        event(5, 3, 14, "add_to_bag", day(2, 13)),
        event(6, 4, 15, "purchase", day(1)),  # pre-period
        event(7, 4, 13, "view", day(3, 11)),
        event(8, 4, 16, "purchase", day(4)),  # within the attribution day
        event(9, 2, 11, "view", day(2, 9)),  # before user 2 was shown item 11: not an impressed view
        event(10, 4, 17, "purchase", day(6)),  # after the window
    ]
    t.overwrite(spark.createDataFrame(events, EVENTS), catalog.BRONZE_EVENTS)
    listed = datetime(2026, 10, 1)
    t.overwrite(spark.createDataFrame([item(i, 9, listed) for i in range(10, 18)], ITEMS), catalog.SILVER_ITEMS)
    summary = analyze(ctx, "ab")
    rows = {(r["metric"], r["method"]): r for r in summary["results"]}
    purchases = rows[("purchases_per_user", "plain")]
    assert (purchases["control_value"], purchases["variant_value"]) == (0.5, 1.0)  # A: [1, 0], B: [1, 1]
    assert purchases["difference"] == pytest.approx(0.5)
    assert purchases["high"] - purchases["difference"] == pytest.approx(1.959964 * 0.5, rel=1e-5)  # sqrt(0.5/2 + 0)
    assert purchases["users"] == 4 and purchases["srm_p_value"] == pytest.approx(1.0) and not purchases["blocked"]
    views = rows[("views_per_impression", "delta")]
    assert (views["control_value"], views["variant_value"]) == (0.5, 1.0)
    value = rows[("purchase_value_per_user", "plain")]
    assert (value["control_value"], value["variant_value"]) == (10.0, 20.0)  # every listing costs 20
    cuped = rows[("purchases_per_user", "cuped")]  # B's pre-period purchase (user 4) adjusts the means
    assert cuped["difference"] != purchases["difference"]
    quarantined = to_pandas(t.read(catalog.QUARANTINE_IMPRESSIONS))
    assert len(quarantined) == 1 and quarantined["failed_rules"][0] == ["impressions.position.between"]
    written = to_pandas(t.read(catalog.MONITORING_EXPERIMENT_RESULTS)).sort_values(["metric", "method"])
    analyze(ctx, "ab")
    again = to_pandas(t.read(catalog.MONITORING_EXPERIMENT_RESULTS)).sort_values(["metric", "method"])
    assert written.reset_index(drop=True).equals(again.reset_index(drop=True))
    assert len(to_pandas(t.read(catalog.QUARANTINE_IMPRESSIONS))) == 1
    record = to_pandas(t.read(catalog.MONITORING_TASK_RUNS))
    assert list(record["task"]) == ["experiment"] and record["rows"][0][catalog.MONITORING_EXPERIMENT_RESULTS] == 9
