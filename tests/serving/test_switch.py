"""The publish switch and the availability stream's sink meet in Redis: a sale the stream logged after the lists
were built survives the switch, an older one leaves with the lists that excluded it, overlays end; a replayed
micro-batch changes nothing."""

import redis

from recpipe.serving import availability, keys
from recpipe.serving.publisher import switch

BUILT_AT = 1_790_000_000.0  # the new lists' data end, unix seconds


def test_a_switch_keeps_the_sales_the_stream_logged_since_the_lists_were_built(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    availability.apply_batch(client, "delta", 0, [10, 11], [BUILT_AT - 100, BUILT_AT + 50])
    client.set(keys.pointer_key(keys.FRESH_SURFACE), "v1-f1")
    client.lpush(keys.versions_key(keys.FRESH_SURFACE), "v1-f1")
    switch(client, "v2", ["foryou"], [5], keep_versions=2, expire_s=60, lists_built_at=BUILT_AT)
    assert {int(i) for i in client.smembers(keys.UNAVAILABLE_KEY)} == {5, 11}
    assert client.zrange(keys.UNAVAILABLE_LOG_KEY, 0, -1) == [b"11"]  # older entries: the lists left them out
    assert client.get(keys.pointer_key(keys.FRESH_SURFACE)) is None  # the overlays of the old lists end
    assert not client.exists(keys.versions_key(keys.FRESH_SURFACE))
    assert client.get(keys.pointer_key("foryou")) == b"v2"


def test_a_replayed_micro_batch_changes_nothing(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    first = availability.apply_batch(client, "delta", 3, [7], [None])
    again = availability.apply_batch(client, "delta", 3, [7, 8], [None, None])  # the same id: a replay
    assert first.applied and not again.applied
    assert availability.items_applied(client, "delta") == 1 and availability.last_batch(client, "delta") == 3
    assert {int(i) for i in client.smembers(keys.UNAVAILABLE_KEY)} == {7}
