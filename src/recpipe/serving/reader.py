"""What an app backend does: follow the surface pointer, read a list, drop items sold since the run, fall back
from the personal list to the user's segment to global popularity."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import cast

import numpy as np
import redis

from recpipe.serving import encoding, keys
from recpipe.serving.connection import RedisTarget


@dataclass(frozen=True)
class Recommendation:
    """A response: items best first. ``sources[i]`` says where item i came from (``foryou``,
    ``fallback:country=FR``, ``fallback:global``, ``similar``); ``scores[i]`` is its score in that source, so scores
    compare only within one source: the ranking across sources is the order (the position is the rank)."""

    item_ids: list[int]
    scores: list[float]
    sources: list[str]


class RecommendationReader:
    """Read precomputed lists from Redis.

    Args:
        url: ``redis://`` or ``rediss://`` URL (or a ``RedisTarget`` with credentials).
    """

    def __init__(self, url: str | RedisTarget):
        self.target = url if isinstance(url, RedisTarget) else RedisTarget(url)
        self._client: redis.Redis | None = None
        self._buckets: dict[tuple[str, str], int] = {}

    @property
    def client(self) -> redis.Redis:
        if self._client is None:  # created lazily: constructing a reader never blocks
            self._client = self.target.client()
        return self._client

    def live_version(self, surface: str) -> str | None:
        value = cast(bytes | None, self.client.get(keys.pointer_key(surface)))
        return value.decode() if value is not None else None

    def _list(self, surface: str, entity_id: int | str) -> tuple[np.ndarray, np.ndarray] | None:
        version = self.live_version(surface)
        if version is None:
            return None
        if (surface, version) not in self._buckets:
            buckets = self.client.hget(keys.manifest_key(surface, version), "buckets")
            self._buckets[(surface, version)] = int(buckets or 1)
        key, field = keys.entry_location(surface, version, entity_id, self._buckets[(surface, version)])
        value = cast(bytes | None, self.client.hget(key, field))
        return encoding.decode(value) if value is not None else None

    def _available(self, ids: np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros(0, dtype=bool)
        flags = self.client.smismember(keys.UNAVAILABLE_KEY, [str(i) for i in ids])
        return ~np.asarray(flags, dtype=bool)

    def _collect(
        self, chain: list[tuple[str, str, int | str]], n: int, skip: AbstractSet[int] = frozenset()
    ) -> Recommendation:
        """The chain's lists in order, available items only, no duplicates; ``skip``: ids no fallback may add."""
        item_ids: list[int] = []
        scores: list[float] = []
        sources: list[str] = []
        for label, surface, entity in chain:
            found = self._list(surface, entity)
            if found is None:
                continue
            ids, values = found
            keep = self._available(ids)
            skipped = skip if surface == "fallback" else frozenset()
            for item, score in zip(ids[keep].tolist(), values[keep].tolist()):
                if item not in item_ids and item not in skipped:
                    item_ids.append(item)
                    scores.append(score)
                    sources.append(label)
                if len(item_ids) == n:
                    break
            if len(item_ids) == n:
                break
        return Recommendation(item_ids, scores, sources)

    def for_user(self, user_id: int, n: int = 20, country: str | None = None) -> Recommendation:
        """The user's list; when it is missing or short after sold items are dropped, the user's country list,
        then the global list fill the rest, without the user's seen items and own listings (surface ``exclude``)."""
        chain: list[tuple[str, str, int | str]] = [("foryou", "foryou", user_id)]
        if country:
            chain.append((f"fallback:country={country}", "fallback", f"country={country}"))
        chain.append(("fallback:global", "fallback", "global"))
        excluded = self._list("exclude", user_id)
        return self._collect(chain, n, set(excluded[0].tolist()) if excluded is not None else set())

    def similar_items(self, item_id: int, n: int = 20) -> Recommendation:
        """Items similar to ``item_id`` that are still for sale."""
        return self._collect([("similar", "similar", item_id)], n)
