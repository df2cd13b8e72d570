"""The reader merges a live fresh overlay into the user's list by score, only when the overlay was built for the
live lists; sold items are dropped from both."""

import redis

from recpipe.serving import encoding, keys
from recpipe.serving.reader import RecommendationReader


def serve(client, surface: str, version: str, lists: dict[int, tuple[list[int], list[float]]], **manifest) -> None:
    client.set(keys.pointer_key(surface), version)
    client.hset(keys.manifest_key(surface, version), mapping={"buckets": 1, **manifest})
    for user, (ids, scores) in lists.items():
        client.hset(keys.bucket_key(surface, version, 0), str(user), encoding.encode(ids, scores))


def test_an_overlay_of_the_live_lists_merges_by_score_and_sold_items_leave_both(redis_server):
    reader = RecommendationReader(redis_server.url)
    client = reader.client
    serve(client, "foryou", "v1", {7: ([1, 2, 3], [0.9, 0.5, 0.1])})
    serve(client, "fresh", "v1-f1", {7: ([50, 51], [0.7, 0.05])}, batch_version="v1")
    rec = reader.for_user(7, n=5)
    assert rec.item_ids == [1, 50, 2, 3, 51]
    assert rec.sources == ["foryou", "fresh", "foryou", "foryou", "fresh"]
    assert reader.for_user(8, n=5).item_ids == []  # no list, no overlay, no fallbacks
    client.sadd(keys.UNAVAILABLE_KEY, 50, 2)
    assert reader.for_user(7, n=5).item_ids == [1, 3, 51]


def test_an_overlay_built_for_other_lists_is_ignored(redis_server):
    reader = RecommendationReader(redis_server.url)
    serve(reader.client, "foryou", "v2", {7: ([1, 2], [0.9, 0.5])})
    serve(reader.client, "fresh", "v1-f1", {7: ([50], [0.7])}, batch_version="v1")
    assert reader.for_user(7, n=5).item_ids == [1, 2]


def commands_sent(redis_server, call) -> list[str]:
    """The commands a client sent the server while ``call`` ran (MONITOR; commands a script ran are not sent)."""
    watcher, sentinel = redis.Redis.from_url(redis_server.url), redis.Redis.from_url(redis_server.url)
    sentinel.ping()  # connected before: its handshake is not counted
    with watcher.monitor() as monitor:
        call()
        sentinel.echo("end-of-call")
        sent = []
        while (command := monitor.next_command())["command"] != "ECHO end-of-call":
            if command["client_type"] != "lua":
                sent.append(command["command"].split()[0])
    return sent


def test_a_request_is_one_round_trip_and_many_are_one_pipeline(redis_server):
    reader = RecommendationReader(redis_server.url)
    serve(reader.client, "foryou", "v1", {7: ([1, 2, 3], [0.9, 0.5, 0.1]), 8: ([4], [0.3])})
    serve(reader.client, "fallback", "v1", {"global": ([9, 3, 4], [5.0, 4.0, 3.0])})
    serve(reader.client, "exclude", "v1", {7: ([9], [0.0])})
    serve(reader.client, "similar", "v1", {1: ([2, 3], [0.8, 0.2])})
    reader.for_user(7)  # the script is loaded once per server
    assert commands_sent(redis_server, lambda: reader.for_user(7, n=4)) == ["EVALSHA"]
    assert commands_sent(redis_server, lambda: reader.similar_items(1)) == ["EVALSHA"]
    batch = []
    assert commands_sent(redis_server, lambda: batch.extend(reader.for_users([7, 8], n=4))) == ["EVALSHA"] * 2
    assert batch == [reader.for_user(7, n=4), reader.for_user(8, n=4)]
    # the user's list, then the global list without the user's excluded item 9 and without duplicates
    assert batch[0].item_ids == [1, 2, 3, 4] and batch[0].sources[-1] == "fallback:global"
    assert batch[1].item_ids == [4, 9, 3]
    reader.client.script_flush()  # a restarted server: the batch loads the script and sends again
    assert reader.for_users([7, 8], n=4) == batch


def test_lists_with_64_bit_ids_are_checked_against_the_sold_items_too(redis_server):
    reader = RecommendationReader(redis_server.url)
    big = [2**40 + 1, 2**40 + 2, 5]
    serve(reader.client, "foryou", "v1", {7: (big, [0.9, 0.5, 0.1])})
    reader.client.sadd(keys.UNAVAILABLE_KEY, 2**40 + 1, 5)
    assert reader.for_user(7, n=5).item_ids == [2**40 + 2]
