"""The gate in front of publish: each kind of bad list stops publishing, names its rule, and Redis keeps serving
the last good version. Also the run record (two runs, depletion) and the HTML report."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
import redis

from recpipe.config import CandidatesConfig, PublishConfig, QualityGateConfig
from recpipe.jobs.gate import QualityGateError, check
from recpipe.jobs.publish import publish
from recpipe.jobs.report import write_report
from recpipe.monitoring import runs
from recpipe.monitoring.report import TABLE_COLUMNS, format_figure
from recpipe.serving import RecommendationReader, keys
from recpipe.serving.connection import RedisTarget
from recpipe.serving.publisher import PublishError

from ..conftest import RedisServer
from . import gold_world as W

GATE = QualityGateConfig(min_list_length=5, max_missing_users=0, min_coverage=0.1, max_fallback_share=0.5,
                         overlap_at=5, min_overlap=0.0, max_coverage_change=0.5, max_score_shift=0.5)
CANDIDATES = CandidatesConfig()
PUBLISH = PublishConfig(foryou_buckets=4, similar_buckets=2, write_partitions=1, retries=0)


def with_list(user: int, items: list[int]) -> dict[int, list[int]]:
    lists = W.good_lists()
    lists[user] = items
    return lists


def duplicated(lists_user: int = 2) -> dict[int, list[int]]:
    items = W.good_lists()[lists_user]
    return with_list(lists_user, [*items[:-1], items[0]])


# kind -> (lists, scores override, the rule the gate must name). Deleted, seen and own items are counted by the
# same per-list check as sold ones (tests/quality/test_gold.py); each run here costs a full gate.
BAD_LISTS = {
    "sold item": (with_list(1, [W.SOLD, *W.good_lists()[1][1:]]), None, "gold.user_candidates.item_ids.no_unavailable_items"),
    "duplicate": (duplicated(), None, "gold.user_candidates.item_ids.no_duplicates"),
    "unsorted scores": (W.good_lists(), {3: [float(k) for k in range(W.LIST_LENGTH)]}, "gold.user_candidates.scores.sorted_descending"),
    "short list": (with_list(4, W.good_lists()[4][:2]), None, "gold.user_candidates.item_ids.min_length"),
    "missing user": ({u: items for u, items in W.good_lists().items() if u != 5}, None, "gold.user_candidates.user_id.every_user_covered"),
    "collapsed coverage": ({u: W.good_lists()[1] for u in W.USERS}, None, "previous_run.item_ids.coverage_change"),
}


@pytest.fixture(scope="module")
def live(spark, tmp_path_factory, spark_settings):
    """A good run gated and published to a private redis-server: the version every bad run must leave live."""
    server = RedisServer(tmp_path_factory.mktemp("redis_gate"))
    server.start()
    settings = spark_settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("gate_world")})
    ctx = W.context(spark, settings, "gate")
    W.write_silver(ctx.tables)
    W.write_gold(ctx.tables, W.good_lists(), "candidates-good")
    check(ctx, GATE, CANDIDATES)
    summary = publish(W.context(spark, settings, "publish"), PUBLISH, RedisTarget(server.url))
    yield settings, server, summary["version"]
    server.stop()


def test_good_lists_pass_and_are_published(live):
    settings, server, version = live
    assert redis.Redis.from_url(server.url).get(keys.pointer_key("foryou")).decode() == version
    assert RecommendationReader(server.url).for_user(1, n=8).item_ids == W.good_lists()[1]


@pytest.mark.parametrize("kind", list(BAD_LISTS))
def test_a_bad_list_stops_publishing_and_the_live_version_stays(kind, live, spark):
    settings, server, version = live
    lists, scores, rule = BAD_LISTS[kind]
    gate_ctx = W.context(spark, settings, "gate")
    run_id = f"candidates-bad-{kind.replace(' ', '-')}"
    W.write_gold(gate_ctx.tables, lists, run_id, scores=scores)

    with pytest.raises(QualityGateError, match=re.escape(rule)) as failure:
        check(gate_ctx, GATE, CANDIDATES)
    assert "nothing published" in str(failure.value)
    with pytest.raises(PublishError, match="failed the gate"):
        publish(W.context(spark, settings, "publish"), PUBLISH, RedisTarget(server.url))

    assert redis.Redis.from_url(server.url).get(keys.pointer_key("foryou")).decode() == version
    assert RecommendationReader(server.url).for_user(1, n=8).item_ids == W.good_lists()[1]
    results = gate_ctx.tables.read("monitoring.gate_results").where(f"run_id = '{run_id}'")
    assert {r.rule for r in results.where("NOT passed").collect()} == {rule}
    if kind == "sold item":  # the failing list is quarantined with its rule
        rows = gate_ctx.tables.read("quarantine.gold_lists").where(f"run_id = '{run_id}'").collect()
        assert [(r.table, r.record, r.reason) for r in rows] == [("gold.user_candidates", '{"user_id":1}', rule)]


def test_publish_refuses_lists_that_never_went_through_the_gate(live, spark):
    settings, server, version = live
    ctx = W.context(spark, settings, "publish")
    W.write_gold(ctx.tables, W.good_lists(), "candidates-ungated")
    with pytest.raises(PublishError, match="no gate result"):
        publish(ctx, PUBLISH, RedisTarget(server.url))
    assert redis.Redis.from_url(server.url).get(keys.pointer_key("foryou")).decode() == version


def test_two_runs_make_two_records_with_known_depletion_and_the_report_shows_them(spark, settings, redis_server, tmp_path):
    """Day 1 publishes 6 lists x 8 entries. Before day 2, items 100 (in user 1's list) and 104 (in users 1 and
    2's lists) sell: 3 of the 48 published entries, so day 2's depletion is 3 / 48."""
    first = W.good_lists()
    W.write_silver(W.context(spark, settings, "x").tables)
    W.write_gold(W.context(spark, settings, "x").tables, first, "candidates-day1")
    check(W.context(spark, settings, "gate"), GATE, CANDIDATES)
    publish(W.context(spark, settings, "publish"), PUBLISH, RedisTarget(redis_server.url))

    newly_sold = (100, 104)
    W.write_silver(W.context(spark, settings, "x").tables, sold=(W.SOLD, *newly_sold))
    pool = [i for i in sorted({i for items in first.values() for i in items}) if i not in newly_sold]
    second = {u: ([i for i in items if i not in newly_sold] + [i for i in pool if i not in items])[: W.LIST_LENGTH]
              for u, items in first.items()}
    W.write_gold(W.context(spark, settings, "x").tables, second, "candidates-day2", as_of=W.AS_OF + timedelta(days=1),
                 catalog=second[1])
    check(W.context(spark, settings, "gate"), GATE, CANDIDATES)

    tables = W.context(spark, settings, "x").tables
    records = {r.run_id: r for r in tables.read(runs.PIPELINE_RUNS).collect()}
    assert set(records) == {"candidates-day1", "candidates-day2"}
    assert records["candidates-day1"].status == "published" and records["candidates-day1"].depletion is None
    assert records["candidates-day2"].status == "gate_passed"
    assert records["candidates-day2"].depletion == pytest.approx(3 / 48)
    assert records["candidates-day2"].as_of == W.AS_OF + timedelta(days=1)
    assert records["candidates-day1"].users == 6 and records["candidates-day1"].fallback_share == pytest.approx(1 / 6)
    assert records["candidates-day1"].coverage == pytest.approx(23 / 28)

    output = write_report(W.context(spark, settings, "report"), limit=10, output=tmp_path / "health.html")["report"]
    page = open(output).read()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 5 and all(base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n") for png in images)
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(<td>.*?)</tr>", page)]
    columns = [c for c, _ in TABLE_COLUMNS]
    assert [row[columns.index("depletion")] for row in cells] == ["-", format_figure(records["candidates-day2"].depletion)]
    assert [row[columns.index("coverage")] for row in cells] == [format_figure(records[r].coverage) for r in ("candidates-day1", "candidates-day2")]
    assert [row[columns.index("status")] for row in cells] == ["published", "gate_passed"]
