"""The gate in front of publish: each kind of bad list stops publishing, names its rule, and Redis keeps serving
the last good version. Also the run record (two runs, depletion) and the HTML report."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from recpipe import catalog
from recpipe.config import ListGateConfig, PublishConfig
from recpipe.jobs.gate import check
from recpipe.jobs.publish import publish
from recpipe.jobs.report import write_report
from recpipe.monitoring import runs
from recpipe.monitoring.report import TABLE_COLUMNS
from recpipe.progress import format_figure
from recpipe.quality.list_gate import ListGateError
from recpipe.serving import keys
from recpipe.serving.connection import RedisTarget
from recpipe.serving.local_redis import RedisProcess
from recpipe.serving.publisher import PublishError
from recpipe.serving.reader import RecommendationReader

from . import gold_world as W

GATE = ListGateConfig(
    min_list_length=5,
    max_short_list_share=0.0,
    max_missing_users=0,
    min_coverage=0.1,
    max_fallback_share=0.5,
    overlap_at=5,
    min_overlap=0.0,
    max_coverage_change=0.5,
    max_score_shift=0.5,
    max_seller_exposure_share=0.3,
)

pytestmark = pytest.mark.slow  # runs jobs end to end on Spark
PUBLISH = PublishConfig(foryou_buckets=4, similar_buckets=2, write_partitions=1, retries=0)


def broken_lists() -> tuple[dict[int, list[int]], dict[int, list[float]]]:
    """One list per kind of defect: user 1 holds a sold item, user 2 a duplicate, user 3 unsorted scores,
    user 4 a short list, and user 5 has no list."""
    lists = W.good_lists()
    lists[1] = [W.SOLD, *lists[1][1:]]
    lists[2] = [*lists[2][:-1], lists[2][0]]
    lists[4] = lists[4][:2]
    del lists[5]
    return lists, {3: [float(k) for k in range(W.LIST_LENGTH)]}


def one_seller_first() -> dict[int, list[int]]:
    """Every list opens with the six listings of seller 1001 (items 100, 105, ..., 125), then two of other
    sellers: 1001 holds the exposure of positions 0-5 of every list, sum(1/log2(p + 2), p < 6) / the same over
    p < 8 = 0.835891 of all."""
    others = [i for i in range(101, 116) if i % 5]
    return {u: [100, 105, 110, 115, 120, 125, *others[2 * (u - 1) : 2 * u]] for u in W.USERS}


# run -> (lists, scores override, {rule the gate must name: how much it must report}). Deleted, seen, own and
# self items are counted by the same per-list check as sold ones (tests/quality/test_gold.py).
BAD_RUNS = {
    "broken-lists": (
        *broken_lists(),
        {
            "gold.user_candidates.item_ids.no_unavailable_items": "1 lists (20.00%) fail",
            "gold.user_candidates.item_ids.no_duplicates": "1 lists (20.00%) fail",
            "gold.user_candidates.scores.sorted_descending": "1 lists (20.00%) fail",
            "gold.user_candidates.item_ids.min_length": "1 lists (20.00%) fail",
            "gold.user_candidates.user_id.every_user_covered": "1 outside [0, 0]",
        },
    ),
    "collapsed-coverage": (
        {u: W.good_lists()[1] for u in W.USERS},
        None,
        {
            "previous_run.item_ids.coverage_change": "-0.652174 outside [-0.5, 0.5]",  # 8 of 28 items listed, was 23
            # every list the same: seller 1001's items 100 and 105 at positions 0 and 5 of each
            "gold.user_candidates.seller_id.max_exposure_share": "0.343043 outside [0, 0.3]",
        },
    ),
    "one-seller-dominates": (
        one_seller_first(),
        None,
        {"gold.user_candidates.seller_id.max_exposure_share": "0.835891 outside [0, 0.3]"},
    ),
}


@pytest.fixture(scope="module")
def live(spark, tmp_path_factory, spark_settings):
    """A good run gated and published to a private redis-server: the version every bad run must leave live."""
    server = RedisProcess(tmp_path_factory.mktemp("redis_gate"))
    server.start()
    settings = spark_settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("gate_world")})
    ctx = W.context(spark, settings, "gate")
    W.write_silver(ctx.tables)
    W.write_gold(ctx.tables, W.good_lists(), "candidates-good")
    check(ctx, GATE)
    summary = publish(W.context(spark, settings, "publish"), PUBLISH, RedisTarget(server.url))
    yield settings, server, summary["version"]
    server.stop()


def test_good_lists_pass_and_are_published(live):
    _settings, server, version = live
    assert redis.Redis.from_url(server.url).get(keys.pointer_key("foryou")).decode() == version
    assert RecommendationReader(server.url).for_user(1, n=8).item_ids == W.good_lists()[1]


def test_the_gate_records_who_the_lists_expose(live, spark):
    """Live sellers: 1001-1005 and user 1 (own item 128, on no list): 5 of 6 exposed; the measures are the run
    record's ``responsible`` map and rows of monitoring.responsible_measures."""
    settings, _, _ = live
    t = W.context(spark, settings, "x").tables
    measures = runs.read_run(t, "candidates-good")["responsible"]
    assert measures["live_sellers"] == 6 and measures["sellers_exposed"] == pytest.approx(5 / 6)
    assert 0 < measures["seller_gini"] < 1 and measures["top_seller_share"] < GATE.max_seller_exposure_share
    rows = t.read(catalog.MONITORING_RESPONSIBLE_MEASURES).where("run_id = 'candidates-good'").toPandas()
    assert dict(zip(rows.measure, rows.value, strict=True)) == pytest.approx(measures)


@pytest.mark.parametrize("run", list(BAD_RUNS))
def test_bad_lists_stop_publishing_naming_each_rule_and_the_live_version_stays(run, live, spark):
    settings, server, version = live
    lists, scores, rules = BAD_RUNS[run]
    gate_ctx = W.context(spark, settings, "gate")
    W.write_gold(gate_ctx.tables, lists, run, scores=scores)

    with pytest.raises(ListGateError) as failure:
        check(gate_ctx, GATE)
    assert "nothing published" in str(failure.value)
    for rule, how_much in rules.items():
        assert f"{rule}: {how_much}" in str(failure.value)
    with pytest.raises(PublishError, match="failed the gate"):
        publish(W.context(spark, settings, "publish"), PUBLISH, RedisTarget(server.url))

    assert redis.Redis.from_url(server.url).get(keys.pointer_key("foryou")).decode() == version
    assert RecommendationReader(server.url).for_user(1, n=8).item_ids == W.good_lists()[1]
    results = gate_ctx.tables.read(catalog.MONITORING_GATE_RESULTS).where(f"run_id = '{run}'")
    assert {r.rule for r in results.where("NOT passed").collect()} == set(rules)
    if run == "broken-lists":  # each broken list is quarantined with its rule
        rows = gate_ctx.tables.read(catalog.QUARANTINE_GOLD_LISTS).where(f"run_id = '{run}'").collect()
        assert sorted((r.record, r.reason) for r in rows) == [
            ('{"user_id":1}', "gold.user_candidates.item_ids.no_unavailable_items"),
            ('{"user_id":2}', "gold.user_candidates.item_ids.no_duplicates"),
            ('{"user_id":3}', "gold.user_candidates.scores.sorted_descending"),
            ('{"user_id":4}', "gold.user_candidates.item_ids.min_length"),
        ]


def test_publish_refuses_lists_that_never_went_through_the_gate(live, spark):
    settings, server, version = live
    ctx = W.context(spark, settings, "publish")
    W.write_gold(ctx.tables, W.good_lists(), "candidates-ungated")
    with pytest.raises(PublishError, match="no gate result"):
        publish(ctx, PUBLISH, RedisTarget(server.url))
    assert redis.Redis.from_url(server.url).get(keys.pointer_key("foryou")).decode() == version


def test_two_runs_make_two_records_with_known_depletion_and_the_report_shows_them(
    spark, settings, redis_server, tmp_path
):
    """Day 1 publishes 6 lists x 8 entries. Before day 2, items 100 (in user 1's list) and 104 (in users 1 and
    2's lists) sell: 3 of the 48 published entries, so day 2's depletion is 3 / 48."""
    first = W.good_lists()
    W.write_silver(W.context(spark, settings, "x").tables)
    W.write_gold(W.context(spark, settings, "x").tables, first, "candidates-day1")
    check(W.context(spark, settings, "gate"), GATE)
    publish(W.context(spark, settings, "publish"), PUBLISH, RedisTarget(redis_server.url))

    newly_sold = (100, 104)
    W.write_silver(W.context(spark, settings, "x").tables, sold=(W.SOLD, *newly_sold))
    pool = [i for i in sorted({i for items in first.values() for i in items}) if i not in newly_sold]
    second = {
        u: ([i for i in items if i not in newly_sold] + [i for i in pool if i not in items])[: W.LIST_LENGTH]
        for u, items in first.items()
    }
    W.write_gold(
        W.context(spark, settings, "x").tables,
        second,
        "candidates-day2",
        as_of=W.AS_OF + timedelta(days=1),
        for_sale=second[1],
    )
    check(W.context(spark, settings, "gate"), GATE)

    tables = W.context(spark, settings, "x").tables
    records = {r.run_id: r for r in tables.read(catalog.MONITORING_PIPELINE_RUNS).collect()}
    assert set(records) == {"candidates-day1", "candidates-day2"}
    assert records["candidates-day1"].status == "published" and records["candidates-day1"].depletion is None
    assert records["candidates-day2"].status == "gate_passed"
    assert records["candidates-day2"].depletion == pytest.approx(3 / 48)
    assert records["candidates-day2"].as_of == W.AS_OF + timedelta(days=1)
    assert records["candidates-day1"].users == 6 and records["candidates-day1"].fallback_share == pytest.approx(1 / 6)
    assert records["candidates-day1"].coverage == pytest.approx(23 / 28)

    output = write_report(W.context(spark, settings, "report"), limit=10, output=tmp_path / "health.html")["report"]
    page = Path(output).read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    # the latest run: who its lists expose, their diversity, list sources, lengths and scores (no model version with
    # figures here: no families chart; no evaluated run: no parity chart); over the two runs: coverage, depletion
    # (from the second run), concentration and durations; the model-quality chart waits for a model version with
    # metrics, and says so
    assert len(images) == 2 + 3 + 4 and all(base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n") for png in images)
    assert "Model quality" in page and "no data yet" in page
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(<td>.*?)</tr>", page)]
    columns = [c for c, _ in TABLE_COLUMNS]
    assert [row[columns.index("depletion")] for row in cells] == [
        "-",
        format_figure(records["candidates-day2"].depletion),
    ]
    assert [row[columns.index("coverage")] for row in cells] == [
        format_figure(records[r].coverage) for r in ("candidates-day1", "candidates-day2")
    ]
    assert [row[columns.index("status")] for row in cells] == ["published", "gate_passed"]
