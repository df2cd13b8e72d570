"""Publishing into a real redis-server: versions, pointer switch, expiry, rollback, faults and bad input."""

import time
import zlib
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
import redis

from recpipe import catalog
from recpipe.config import PublishConfig, Settings
from recpipe.jobs.context import JobContext
from recpipe.jobs.publish import dry_run, publish, roll_back
from recpipe.monitoring import rollbacks, runs
from recpipe.serving import keys
from recpipe.serving.connection import RedisSetupError, RedisTarget, resolve_target
from recpipe.serving.local_redis import RedisProcess
from recpipe.serving.publisher import PublishError, rollback
from recpipe.serving.reader import RecommendationReader
from recpipe.tables import Tables
from recpipe.transforms.candidates import with_encoded_lists

from .proxy import DroppingProxy

N_USERS, N_ITEMS = 300, 80
SOLD_AFTER_RUN = 5  # sold after the lists were built: the reader must drop it
PURCHASED_AFTER_RUN = 50  # a purchase event after the lists were built (its row not updated yet): dropped too
GONE_AFTER_RUN = {SOLD_AFTER_RUN, PURCHASED_AFTER_RUN}
TOPUP_EXCLUDED = [1, 3]  # user 0 saw these: never a top-up for them
# These tests cover loading and switching; the gate in front of publish has its own tests (tests/jobs/test_gate_job.py).
CONFIG = PublishConfig(
    foryou_buckets=16,
    similar_buckets=8,
    batch_size=50,
    retries=0,
    write_partitions=2,
    expire_after_s=1,
    require_gate=False,
)

pytestmark = pytest.mark.slow  # runs jobs end to end on Spark


def write_gold(tables: Tables, run: str) -> dict[int, list[int]]:
    rng = np.random.default_rng(zlib.crc32(run.encode()))  # stable across processes, unlike hash()
    spark = tables.spark
    lists = {u: rng.choice(N_ITEMS, size=12, replace=False).tolist() for u in range(N_USERS)}
    stamp = {"model_version": "1", "run_id": f"candidates-{run}", "generated_at": datetime(2026, 11, 1)}
    users = pd.DataFrame(
        {
            "user_id": list(lists),
            "item_ids": list(lists.values()),
            "scores": [sorted(rng.random(12).astype(np.float32).tolist(), reverse=True) for _ in lists],
            "source": "personal",
            **stamp,
        }
    )
    tables.overwrite(
        spark.createDataFrame(
            users,
            "user_id long, item_ids array<long>, scores array<float>, source string, model_version string, run_id string, generated_at timestamp",
        ).transform(with_encoded_lists()),
        catalog.GOLD_USER_CANDIDATES,
    )
    similar = pd.DataFrame(
        {
            "item_id": range(N_ITEMS),
            "similar_item_ids": [[(i + 1) % N_ITEMS, (i + 2) % N_ITEMS] for i in range(N_ITEMS)],
            "scores": [[0.9, 0.8]] * N_ITEMS,
            "source": "vectors",
            **stamp,
        }
    )
    tables.overwrite(
        spark.createDataFrame(
            similar,
            "item_id long, similar_item_ids array<long>, scores array<float>, source string, model_version string, run_id string, generated_at timestamp",
        ).transform(with_encoded_lists("similar_item_ids")),
        catalog.GOLD_SIMILAR_ITEMS,
    )
    fallback = pd.DataFrame(
        {
            "segment": ["global", "country=FR"],
            "item_ids": [[1, 2, 3, 4, 5, 6], [7, 8, 9]],
            "scores": [[6.0, 5, 4, 3, 2, 1], [3.0, 2, 1]],
            **stamp,
        }
    )
    tables.overwrite(
        spark.createDataFrame(
            fallback,
            "segment string, item_ids array<long>, scores array<float>, model_version string, run_id string, generated_at timestamp",
        ).transform(with_encoded_lists()),
        catalog.GOLD_FALLBACK_CANDIDATES,
    )
    # user 0 has seen items 1 and 3 of the global fallback list: a top-up must skip them
    topups = pd.DataFrame(
        {"user_id": [0], "item_ids": [TOPUP_EXCLUDED], "scores": [[0.0] * len(TOPUP_EXCLUDED)], **stamp}
    )
    tables.overwrite(
        spark.createDataFrame(
            topups,
            "user_id long, item_ids array<long>, scores array<float>, model_version string, run_id string, generated_at timestamp",
        ).transform(with_encoded_lists()),
        catalog.GOLD_TOPUP_EXCLUSIONS,
    )
    items = pd.DataFrame(
        {
            "item_id": range(N_ITEMS),
            "status": ["sold" if i == SOLD_AFTER_RUN else "active" for i in range(N_ITEMS)],
            "listed_at": datetime(2026, 10, 1),
        }
    )
    tables.overwrite(
        spark.createDataFrame(items, "item_id long, status string, listed_at timestamp"), catalog.BRONZE_ITEMS
    )
    events = [
        (1, 7, PURCHASED_AFTER_RUN, "purchase", datetime(2026, 11, 2, 9)),
        (2, 7, 3, "view", datetime(2026, 11, 2)),
    ]
    tables.overwrite(
        spark.createDataFrame(
            events, "event_id long, user_id long, item_id long, event_type string, event_ts timestamp"
        ),
        catalog.BRONZE_EVENTS,
    )
    return lists


def gold_context(spark, data_dir, run: str) -> tuple[JobContext, dict[int, list[int]]]:
    settings = Settings(data_dir=data_dir, shuffle_partitions=2)
    ctx = JobContext.for_settings("publish", settings, spark)
    return ctx, write_gold(ctx.tables, run)


@pytest.fixture(scope="module")
def run_a(spark, tmp_path_factory):
    """Gold tables of one candidates run, shared by the tests (each test has its own redis-server)."""
    return gold_context(spark, tmp_path_factory.mktemp("gold_a"), "a")


@pytest.fixture(scope="module")
def run_b(spark, tmp_path_factory):
    """A later run's gold tables: publishing it makes a new version."""
    return gold_context(spark, tmp_path_factory.mktemp("gold_b"), "b")


def expected(lists, user, n=12):
    return [i for i in lists[user] if i not in GONE_AFTER_RUN][:n]


def personal(reader: RecommendationReader, lists, user) -> bool:
    """The user's published list, sold item dropped (the reader tops short lists up from the fallbacks)."""
    want = expected(lists, user)
    return reader.for_user(user, n=12).item_ids[: len(want)] == want


def test_publish_then_read_back_every_list(run_a, redis_server):
    ctx, lists = run_a
    summary = publish(ctx, CONFIG, RedisTarget(redis_server.url))
    reader = RecommendationReader(redis_server.url)
    assert summary["surfaces"]["foryou"]["entries"] == N_USERS
    for user in range(N_USERS):
        rec = reader.for_user(user, n=12)
        assert rec.item_ids[: len(expected(lists, user))] == expected(lists, user)
        assert rec.scores == sorted(rec.scores, reverse=True) or set(rec.sources) != {"foryou"}
    assert reader.similar_items(3, n=2).item_ids == [4, 6 % N_ITEMS] or reader.similar_items(3, n=2).item_ids == [4]
    # fallbacks: an unknown user gets the country list, then the global one, without sold items
    new_user = reader.for_user(10**9, n=8, country="FR")
    assert new_user.item_ids == [7, 8, 9, 1, 2, 3, 4, 6]
    assert new_user.sources == ["fallback:country=FR"] * 3 + ["fallback:global"] * 5  # one source per item
    # a known user's short list is topped up without the items they have seen (surface "exclude")
    topped = reader.for_user(0, n=16)
    own = [i for i in lists[0] if i not in GONE_AFTER_RUN]
    fill = [i for i in (1, 2, 3, 4, 6) if i not in own and i not in TOPUP_EXCLUDED]
    assert topped.item_ids == own + fill[: 16 - len(own)]
    assert topped.sources == ["foryou"] * len(own) + ["fallback:global"] * len(topped.item_ids[len(own) :])
    assert not set(TOPUP_EXCLUDED) & set(topped.item_ids[len(own) :])
    manifest = ctx.tables.read(catalog.MONITORING_PUBLISH_MANIFESTS).collect()
    assert {r.surface for r in manifest} == set(keys.BATCH_SURFACES)
    listed = {i for items in lists.values() for i in items} | set(range(1, 10))
    assert {int(i) for i in reader.client.smembers(keys.UNAVAILABLE_KEY)} == GONE_AFTER_RUN & listed


def test_second_publish_switches_and_the_first_version_expires(run_a, run_b, redis_server):
    config = CONFIG.model_copy(update={"keep_versions": 1, "expire_after_s": 8})
    first = publish(run_a[0], config, RedisTarget(redis_server.url))["version"]
    ctx, lists = run_b
    second = publish(ctx, config, RedisTarget(redis_server.url))["version"]
    client = redis.Redis.from_url(redis_server.url)
    assert first != second and client.get(keys.pointer_key("foryou")).decode() == second
    assert 0 < client.ttl(keys.bucket_key("foryou", first, 0)) <= 8
    assert client.ttl(keys.bucket_key("foryou", second, 0)) == -1
    assert personal(RecommendationReader(redis_server.url), lists, 7)
    deadline = time.monotonic() + 15
    while client.exists(keys.bucket_key("foryou", first, 0)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not client.exists(keys.bucket_key("foryou", first, 0), keys.manifest_key("foryou", first))


def test_rollback_points_back_expires_the_abandoned_version_and_is_recorded(run_a, run_b, redis_server, tmp_path):
    ctx, first_lists = run_a
    first = publish(ctx, CONFIG, RedisTarget(redis_server.url))["version"]
    second = publish(run_b[0], CONFIG, RedisTarget(redis_server.url))["version"]
    settings = Settings(data_dir=tmp_path)  # the rollback needs settings and Redis only: no Spark, no tables
    summary = roll_back(settings, CONFIG, redis_server.url)
    assert summary["rolled_back_to"] == {s: first for s in keys.BATCH_SURFACES}
    assert summary["abandoned"] == {s: second for s in keys.BATCH_SURFACES}
    assert personal(RecommendationReader(redis_server.url), first_lists, 3)
    client = redis.Redis.from_url(redis_server.url)
    abandoned = [keys.manifest_key("foryou", second), keys.bucket_key("foryou", second, 0)]
    assert all(0 < client.ttl(name) <= CONFIG.expire_after_s for name in abandoned)  # expires like a superseded one
    assert rollbacks.abandoned_versions(rollbacks.read(settings.artifacts)) == {second}
    tables = run_b[0].tables  # the report's step: the abandoned version's run is marked in monitoring
    runs.write_run(
        tables, {"run_id": "run-b", "as_of": date(2026, 11, 1), "status": "published", "published_version": second}
    )
    assert runs.mark_rolled_back(tables, {second}) == 1 and runs.read_run(tables, "run-b")["status"] == runs.ROLLED_BACK
    with pytest.raises(PublishError, match="no previous version"):
        rollback(RedisTarget(redis_server.url).check(), ["foryou"], CONFIG.expire_after_s)


def test_dropped_connection_mid_load_keeps_the_live_version_and_a_rerun_switches(run_a, run_b, redis_server):
    old_ctx, old_lists = run_a
    old = publish(old_ctx, CONFIG, RedisTarget(redis_server.url))["version"]
    ctx, new_lists = run_b
    proxy = DroppingProxy(redis_server.port, drop_after_bytes=6_000)
    try:
        with pytest.raises(Exception, match="(?i)connection"):
            publish(ctx, CONFIG, RedisTarget(proxy.url, retries=0))
        assert proxy.dropped.is_set()
    finally:
        proxy.close()
    reader = RecommendationReader(redis_server.url)
    assert reader.live_version("foryou") == old
    assert all(personal(reader, old_lists, u) for u in range(0, N_USERS, 7))
    new = publish(ctx, CONFIG, RedisTarget(redis_server.url))["version"]
    assert reader.live_version("foryou") == new != old
    assert personal(reader, new_lists, 11)


def test_retries_ride_over_a_dropped_connection(run_a, redis_server):
    ctx, lists = run_a
    proxy = DroppingProxy(redis_server.port, drop_after_bytes=6_000)
    try:
        publish(ctx, CONFIG.model_copy(update={"retries": 3}), RedisTarget(proxy.url, retries=3))
        assert proxy.dropped.is_set()
    finally:
        proxy.close()
    assert personal(RecommendationReader(redis_server.url), lists, 42)


def test_failed_verification_never_switches_the_pointer(run_a, run_b, redis_server):
    old = publish(run_a[0], CONFIG, RedisTarget(redis_server.url))["version"]
    ctx = run_b[0]

    def lose_a_bucket(client):
        client.delete(*[k for k in client.keys("recpipe:foryou:*:3") if old.encode() not in k])

    with pytest.raises(PublishError, match="verification of foryou .* failed.*unchanged"):
        publish(ctx, CONFIG, RedisTarget(redis_server.url), before_verify=lose_a_bucket)
    assert RecommendationReader(redis_server.url).live_version("foryou") == old


def test_dry_run_estimates_without_connecting(run_a, capsys):
    report = dry_run(run_a[0], CONFIG)
    assert report["surfaces"]["foryou"]["entries"] == N_USERS
    assert report["surfaces"]["foryou"]["bytes_per_entry"] == 5 + 12 * 8
    assert "[dry-run] foryou" in capsys.readouterr().out


def test_bad_url_wrong_password_and_unreachable_server_are_clear_and_secret_free(tmp_path):
    with pytest.raises(RedisSetupError, match="invalid Redis URL") as err:
        RedisTarget("http://:hunter2@localhost:1")
    assert "hunter2" not in str(err.value)
    guarded = RedisProcess(tmp_path, password="s3cret-pass")
    guarded.start()
    try:
        with pytest.raises(RedisSetupError, match="refused the credentials|needs valid credentials") as err:
            RedisTarget(f"redis://127.0.0.1:{guarded.port}/0", password="wrong-pass").check()
        assert "wrong-pass" not in str(err.value) and "s3cret" not in str(err.value)
        target = resolve_target(f"redis://127.0.0.1:{guarded.port}/0", environ={"REDIS_PASSWORD": "s3cret-pass"})
        assert target.check().ping() and "s3cret" not in repr(target)
    finally:
        guarded.stop()
    with pytest.raises(RedisSetupError, match=r"cannot reach Redis at redis://\*\*\*@127.0.0.1:1/0") as err:
        RedisTarget("redis://user:topsecret@127.0.0.1:1/0", retries=0, timeout_s=1).check()
    assert "topsecret" not in str(err.value)
    with pytest.raises(RedisSetupError, match="no Redis configured"):
        resolve_target(None, environ={})
