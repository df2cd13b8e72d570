"""The reader merges a live fresh overlay into the user's list by score, only when the overlay was built for the
live lists; sold items are dropped from both."""

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
