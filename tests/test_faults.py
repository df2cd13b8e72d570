"""Fault injection: what an on-call engineer meets, each with its outcome asserted on real Redis and real Delta.

Nothing live is lost, a bad row is quarantined with its reason, and a fault the user can fix ends with exit 2 and
one line naming what failed and what to do. docs/pipeline.md's reliability table lists these cases.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest
import redis

from recpipe import catalog, cli
from recpipe.config import AvailabilityConfig, InteractionsConfig
from recpipe.jobs import availability as stream
from recpipe.jobs.context import JobContext
from recpipe.jobs.interactions import build
from recpipe.jobs.publish import publish, versioned_surfaces
from recpipe.serving import keys
from recpipe.serving.connection import RedisSetupError, RedisTarget
from recpipe.serving.local_redis import RedisProcess
from recpipe.serving.publisher import PublishError, clear_unreferenced
from recpipe.serving.reader import RecommendationReader
from recpipe.serving.stream_start import requested_start
from recpipe.transforms.availability import unavailable_in

from .serving.proxy import DroppingProxy
from .serving.test_publish import CONFIG, N_USERS, gold_context, personal

pytestmark = pytest.mark.slow  # publishes and validates on Spark


@pytest.fixture(scope="module")
def gold(spark, tmp_path_factory):
    """Two candidates runs' gold tables: a, live first, then b."""
    return gold_context(spark, tmp_path_factory.mktemp("a"), "a"), gold_context(
        spark, tmp_path_factory.mktemp("b"), "b"
    )


def all_keys(url: str) -> dict[bytes, bytes]:
    """Every key and a dump of its value: what a reader could be served."""
    client = redis.Redis.from_url(url)
    return {name: client.dump(name) for name in client.scan_iter(count=1000)}


def test_publishing_the_live_lists_again_writes_nothing(gold, redis_server):
    (ctx, lists), _ = gold
    first = publish(ctx, CONFIG, RedisTarget(redis_server.url))
    before = all_keys(redis_server.url)
    again = publish(ctx, CONFIG, RedisTarget(redis_server.url))
    assert again["version"] == first["version"] and again["unchanged"] is True
    assert all_keys(redis_server.url) == before  # not one key rewritten, deleted or added
    assert personal(RecommendationReader(redis_server.url), lists, 5)


def test_redis_killed_mid_publish_keeps_the_live_lists_and_the_rerun_completes(gold, tmp_path):
    (old_ctx, old_lists), (ctx, new_lists) = gold
    server = RedisProcess(tmp_path / "aof", appendonly=True).start()
    try:
        live = publish(old_ctx, CONFIG, RedisTarget(server.url))["version"]
        live_keys = {k for k in all_keys(server.url) if live.encode() in k}

        def kill(_client) -> None:  # the new version is written, not yet verified nor switched
            server.stop()  # SIGKILL: no shutdown, what the append-only file holds is what survives

        with pytest.raises(PublishError) as err:
            publish(ctx, CONFIG, RedisTarget(server.url, retries=1, retry_budget_s=1), before_verify=kill)
        assert len(str(err.value).splitlines()) == 1 and "live version is unchanged" in str(err.value)
        server.start()
        reader = RecommendationReader(server.url)
        assert reader.live_version("foryou") == live
        assert live_keys <= set(all_keys(server.url))  # the live version's buckets and manifests all survived
        assert all(personal(reader, old_lists, u) for u in range(0, N_USERS, 9))
        rerun = publish(ctx, CONFIG, RedisTarget(server.url))["version"]
        assert reader.live_version("foryou") == rerun != live
        assert all(personal(reader, new_lists, u) for u in range(0, N_USERS, 9))
    finally:
        server.stop()


def test_a_dropped_connection_mid_write_exits_2_in_one_line_and_the_reader_keeps_the_live_lists(
    gold, redis_server, monkeypatch, capsys
):
    (old_ctx, old_lists), (ctx, _) = gold
    live = publish(old_ctx, CONFIG, RedisTarget(redis_server.url))["version"]
    proxy = DroppingProxy(redis_server.port, drop_after_bytes=6_000)
    conf = ctx.settings.data_dir / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "publish.yml").write_text(json.dumps(CONFIG.model_dump(mode="json")))
    monkeypatch.setenv("RECPIPE_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setenv("RECPIPE_CONF_DIR", str(conf))
    try:
        code = cli.execute(["publish", "--redis-url", proxy.url])
    finally:
        proxy.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and proxy.dropped.is_set()
    assert err[-1].startswith("recpipe publish: error: lost the connection to Redis at redis://127.0.0.1:")
    assert "publish.retry_budget_s" in err[-1]
    assert "at org.apache.spark" not in "\n".join(err)  # no Java stack: Spark's task failure logs are off
    reader = RecommendationReader(redis_server.url)
    assert reader.live_version("foryou") == live and personal(reader, old_lists, 3)


def test_two_data_folders_with_the_same_run_never_share_a_version(spark, tmp_path):
    one, _ = gold_context(spark, tmp_path / "staging", "same-run")
    two, _ = gold_context(spark, tmp_path / "prod", "same-run")
    assert versioned_surfaces(one, CONFIG)[1] != versioned_surfaces(two, CONFIG)[1]


def test_a_version_a_reader_may_be_sent_to_is_never_cleared(gold, redis_server):
    (ctx, _), _ = gold
    live = publish(ctx, CONFIG, RedisTarget(redis_server.url))["version"]
    with pytest.raises(PublishError, match="is live or listed"):
        clear_unreferenced(redis.Redis.from_url(redis_server.url), "foryou", live, CONFIG.foryou_buckets)


def test_a_purchase_before_its_listing_is_quarantined_and_hides_nothing(spark, settings):
    """Bronze on Delta: a purchase dated before listing 11 went up passes no rule, so the listing stays live in
    silver, in the lists and in what publish and the stream count as sold."""
    ctx = JobContext.for_settings("interactions", settings, spark)
    ctx.tables.overwrite(
        spark.createDataFrame(
            [(1, "FR", datetime(2026, 1, 1)), (2, "FR", datetime(2026, 1, 1))], catalog.columns(catalog.BRONZE_USERS)
        ),
        catalog.BRONZE_USERS,
    )
    listed = datetime(2026, 10, 1)
    items = [(i, 9, "tops", "COS", "M", 20.0, "good", listed, None, None, "active") for i in (10, 11)]
    ctx.tables.overwrite(spark.createDataFrame(items, catalog.columns(catalog.BRONZE_ITEMS)), catalog.BRONZE_ITEMS)
    views = [(user, item, day) for day in range(2, 32) for user in (1, 2) for item in (10, 11)]
    events = [(e, u, i, "view", datetime(2026, 10, d, 12), u, "home") for e, (u, i, d) in enumerate(views)]
    events.append((500, 1, 11, "purchase", datetime(2026, 9, 20), 1, "home"))
    ctx.tables.overwrite(spark.createDataFrame(events, catalog.columns(catalog.BRONZE_EVENTS)), catalog.BRONZE_EVENTS)
    build(ctx, InteractionsConfig())
    quarantined = ctx.tables.read(catalog.quarantine_of(catalog.BRONZE_EVENTS)).collect()
    assert [r.reason for r in quarantined] == ["events.event_ts.purchase_after_listing"]
    assert '"event_id":500' in quarantined[0].record
    silver = {r.item_id: r.status for r in ctx.tables.read(catalog.SILVER_ITEM_AVAILABILITY).collect()}
    assert silver[11] == "active"
    bronze = ctx.tables
    assert unavailable_in(bronze.read(catalog.BRONZE_ITEMS), bronze.read(catalog.BRONZE_EVENTS)).count() == 0


def test_a_mistyped_setting_is_an_error_naming_the_closest_name(monkeypatch, capsys):
    monkeypatch.setenv("RECPIPE_REDIS_ULR", "redis://elsewhere:6379/0")
    assert cli.execute(["publish", "--rollback"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "recpipe publish: error: environment variable RECPIPE_REDIS_ULR is not a recpipe setting: "
        "did you mean RECPIPE_REDIS_URL?"
    ]


def test_a_missing_required_column_exits_2_in_one_line(spark, settings, monkeypatch, capsys):
    tables = JobContext.for_settings("interactions", settings, spark).tables
    users = spark.createDataFrame([(1, "FR", datetime(2026, 1, 1))], catalog.columns(catalog.BRONZE_USERS))
    tables.overwrite(users, catalog.BRONZE_USERS)
    for name in (catalog.BRONZE_ITEMS, catalog.BRONZE_EVENTS):
        frame = spark.createDataFrame([], catalog.columns(name))
        tables.overwrite(frame.drop("listed_at") if name == catalog.BRONZE_ITEMS else frame, name)
    monkeypatch.setenv("RECPIPE_DATA_DIR", str(settings.data_dir))
    assert cli.execute(["interactions"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "recpipe interactions: error: table bronze.items: table-level expectation failed: "
        "column 'listed_at' is missing (rule items.listed_at.exists)"
    )


def test_the_report_after_a_failed_first_run_says_no_completed_run_yet(spark, tmp_path, monkeypatch):
    monkeypatch.setenv("RECPIPE_DATA_DIR", str(tmp_path))
    assert cli.execute(["report"]) == 0
    assert "No completed run yet" in (tmp_path / "reports" / "pipeline_health.html").read_text()


def test_a_redis_with_a_password_reached_without_one_says_none_was_given(tmp_path):
    guarded = RedisProcess(tmp_path, password="s3cret").start()
    try:
        with pytest.raises(RedisSetupError) as err:
            RedisTarget(f"redis://127.0.0.1:{guarded.port}/0").check()
    finally:
        guarded.stop()
    assert str(err.value) == (
        f"Redis at redis://127.0.0.1:{guarded.port}/0 requires a password and none was given: set REDIS_PASSWORD "
        "(or redis-password in the secret scope)"
    )


def test_the_stream_first_start_catches_up_from_the_live_lists_data_end(spark, settings, redis_server, caplog):
    """A sale after the live lists were built but before the stream first started is applied; one before the
    lists' data end is in the lists already and is not; where the stream began is logged and kept."""
    ctx = JobContext.for_settings("availability", settings, spark)
    listed = datetime(2026, 10, 1)
    items = [(i, 9, "tops", "COS", "M", 20.0, "good", listed, None, None, "active") for i in (10, 11, 12)]
    ctx.tables.overwrite(spark.createDataFrame(items, catalog.columns(catalog.BRONZE_ITEMS)), catalog.BRONZE_ITEMS)
    sales = [
        (1, 1, 10, "purchase", datetime(2026, 10, 31, 20), 1, "home"),
        (2, 1, 11, "purchase", datetime(2026, 11, 1, 9), 1, "home"),
    ]
    ctx.tables.overwrite(spark.createDataFrame(sales, catalog.columns(catalog.BRONZE_EVENTS)), catalog.BRONZE_EVENTS)
    client = redis.Redis.from_url(redis_server.url)
    client.set(keys.pointer_key("foryou"), "v1")
    client.hset(
        keys.manifest_key("foryou", "v1"),
        mapping={"run_id": "r", "model_version": "1", "generated_at": "2026-11-01 00:00:00"},
    )
    target = RedisTarget(redis_server.url)
    with caplog.at_level("INFO"):
        stream.start(ctx, AvailabilityConfig(), target, once=True).awaitTermination()
    assert {int(i) for i in client.smembers(keys.UNAVAILABLE_KEY)} == {11}
    assert "first start began at 2026-11-01T00:00:00 (the data end of the live foryou version v1)" in caplog.text
    with pytest.raises(Exception, match="apply to a first start only"):
        stream.start(ctx, AvailabilityConfig(), target, once=True, asked=requested_start(None, ["3"]))


def test_job_help_imports_no_heavy_library():
    """`recpipe <job> --help` builds the job's parser without MLflow, Great Expectations or matplotlib (the
    seconds they take to import are what made help slow; benchmarks/cli_help.py times it)."""
    probe = (
        "import sys; from recpipe.commands import JOBS, build_parser\n"
        "for job in JOBS: build_parser(job)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mlflow', 'great_expectations', 'matplotlib'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
