"""What an app backend does: follow the surface pointer, read a list, merge in the fresh overlay, drop items sold
since the run, fall back from the personal list to the user's segment to global popularity."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import cast

import numpy as np
import redis

from recpipe.models.merge import RankedRows, merge_ranked
from recpipe.serving import encoding, keys
from recpipe.serving.connection import RedisTarget

Found = tuple[np.ndarray, np.ndarray, list[str]]  # ids, scores, the source of each item
Source = tuple[Callable[[], Found | None], bool]  # fetches a list lazily; True: a fallback (the user's skips apply)


@dataclass(frozen=True)
class Recommendation:
    """A response: items best first. ``sources[i]`` says where item i came from (``foryou``, ``fresh``,
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
        self._manifests: dict[tuple[str, str, str], str | None] = {}

    @property
    def client(self) -> redis.Redis:
        if self._client is None:  # created lazily: constructing a reader never blocks
            self._client = self.target.client()
        return self._client

    def live_version(self, surface: str) -> str | None:
        value = cast(bytes | None, self.client.get(keys.pointer_key(surface)))
        return value.decode() if value is not None else None

    def _manifest_field(self, surface: str, version: str, field: str) -> str | None:
        """A field of a version's manifest, cached: a version never changes once its pointer is set."""
        if (surface, version, field) not in self._manifests:
            value = cast(bytes | None, self.client.hget(keys.manifest_key(surface, version), field))
            self._manifests[(surface, version, field)] = value.decode() if value is not None else None
        return self._manifests[(surface, version, field)]

    def _list_of(self, surface: str, version: str, entity_id: int | str) -> tuple[np.ndarray, np.ndarray] | None:
        buckets = int(self._manifest_field(surface, version, "buckets") or 1)
        key, field = keys.entry_location(surface, version, entity_id, buckets)
        value = cast(bytes | None, self.client.hget(key, field))
        return encoding.decode(value) if value is not None else None

    def _list(self, surface: str, entity_id: int | str) -> tuple[np.ndarray, np.ndarray] | None:
        version = self.live_version(surface)
        return None if version is None else self._list_of(surface, version, entity_id)

    def _personal(self, user_id: int) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
        """The user's list merged by score with their fresh overlay, when one is live for the live lists."""
        batch = self.live_version("foryou")
        if batch is None:
            return None
        found = self._list_of("foryou", batch, user_id)
        fresh = self.live_version(keys.FRESH_SURFACE)
        overlay = None
        if fresh is not None and self._manifest_field(keys.FRESH_SURFACE, fresh, "batch_version") == batch:
            overlay = self._list_of(keys.FRESH_SURFACE, fresh, user_id)
        if overlay is None:
            return None if found is None else (found[0], found[1], ["foryou"] * len(found[0]))
        merged, origin = merge_ranked([RankedRows.one(*(found or ([], []))), RankedRows.one(*overlay)])
        return merged.ids, merged.scores, [("foryou", keys.FRESH_SURFACE)[o] for o in origin]

    def _available(self, ids: np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros(0, dtype=bool)
        flags = self.client.smismember(keys.UNAVAILABLE_KEY, [str(i) for i in ids])
        return ~np.asarray(flags, dtype=bool)

    def _collect(self, chain: list[Source], n: int, skip: AbstractSet[int] = frozenset()) -> Recommendation:
        """The chain's lists in order, available items only, no duplicates; ``skip``: ids no fallback may add."""
        item_ids: list[int] = []
        scores: list[float] = []
        sources: list[str] = []
        for fetch, is_fallback in chain:
            found = fetch()
            if found is None:
                continue
            ids, values, labels = found
            keep = self._available(ids)
            skipped = skip if is_fallback else frozenset()
            for item, score, label in zip(ids[keep].tolist(), values[keep].tolist(), np.asarray(labels)[keep].tolist()):
                if item not in item_ids and item not in skipped:
                    item_ids.append(item)
                    scores.append(score)
                    sources.append(label)
                if len(item_ids) == n:
                    break
            if len(item_ids) == n:
                break
        return Recommendation(item_ids, scores, sources)

    def _labelled(self, label: str, surface: str, entity: int | str) -> Callable[[], Found | None]:
        def fetch() -> Found | None:
            found = self._list(surface, entity)
            return None if found is None else (found[0], found[1], [label] * len(found[0]))

        return fetch

    def for_user(self, user_id: int, n: int = 20, country: str | None = None) -> Recommendation:
        """The user's list, merged by score with their fresh overlay (listings created since the lists were built);
        when it is missing or short after sold items are dropped, the user's country list, then the global list
        fill the rest, without the user's seen items and own listings (surface ``exclude``)."""
        chain: list[Source] = [(lambda: self._personal(user_id), False)]
        if country:
            chain.append((self._labelled(f"fallback:country={country}", "fallback", f"country={country}"), True))
        chain.append((self._labelled("fallback:global", "fallback", "global"), True))
        excluded = self._list("exclude", user_id)
        return self._collect(chain, n, set(excluded[0].tolist()) if excluded is not None else set())

    def similar_items(self, item_id: int, n: int = 20) -> Recommendation:
        """Items similar to ``item_id`` that are still for sale."""
        return self._collect([(self._labelled("similar", "similar", item_id), False)], n)
