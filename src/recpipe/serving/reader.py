"""What an app backend does: follow the surface pointers, read the lists, merge in the fresh overlay, drop items sold
since the run, fall back from the personal list to the user's segment to global popularity.

One request is one round trip: a server-side script (``READ_SCRIPT``) reads the pointers once, each list of the
request under the versions those pointers name, and which listed items are unavailable, atomically, so a publish
between two reads cannot mix versions. ``for_users`` sends many requests in one pipelined round trip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import redis

from recpipe.config.experiments import ExperimentConfig
from recpipe.models.merge import RankedRows, merge_ranked
from recpipe.serving import assignment, encoding, keys
from recpipe.serving.connection import RedisTarget

# ARGV: the key prefix, the number of items asked for, then (surface, entity id) pairs. Returns the foryou version
# and its model version, then per pair the list's value and the unavailability of its first items as a string of "0"/"1": only as many as
# the answer can need (a list's first n available items, a fallback's first 2n + the user's exclusions: items past
# those cannot reach the answer), false for a list of 64-bit ids (the client asks the set itself). A fresh overlay
# is read only when its manifest names the live foryou version. Once a personal list (foryou, fresh) has n
# available items the answer is within it: the exclusions and fallbacks after it are not read.
READ_SCRIPT = """
local prefix, n = ARGV[1], tonumber(ARGV[2])
local pointers, buckets = {}, {}
local function pointer(surface)
  if pointers[surface] == nil then
    pointers[surface] = redis.call('GET', prefix .. ':' .. surface .. ':current') or false
  end
  return pointers[surface]
end
local function value(surface, entity)
  local version = pointer(surface)
  if not version then return false end
  local manifest = prefix .. ':' .. surface .. ':manifest:' .. version
  if surface == 'fresh' and redis.call('HGET', manifest, 'batch_version') ~= pointer('foryou') then return false end
  if buckets[manifest] == nil then buckets[manifest] = tonumber(redis.call('HGET', manifest, 'buckets') or '1') end
  local bucket = 0
  if buckets[manifest] > 1 then bucket = tonumber(string.match(entity, '^%d+')) % buckets[manifest] end
  return redis.call('HGET', prefix .. ':' .. surface .. ':' .. version .. ':' .. bucket, entity)
end
local function unavailable(list, need)
  if not list or string.byte(list, 3) ~= 4 then return false, 0 end
  local size = struct.unpack('<H', list, 4)
  local flags, checked, available = {}, 0, 0
  while checked < size and available < need do
    local ids, last = {}, math.min(size, checked + need - available)
    for i = checked + 1, last do ids[#ids + 1] = tostring(struct.unpack('<I4', list, 6 + (i - 1) * 4)) end
    local found = redis.call('SMISMEMBER', prefix .. ':unavailable', unpack(ids))
    for i = 1, #found do
      flags[#flags + 1] = found[i]
      available = available + 1 - found[i]
    end
    checked = last
  end
  return table.concat(flags), available
end
local model_version = false
if pointer('foryou') then
  model_version = redis.call('HGET', prefix .. ':foryou:manifest:' .. pointer('foryou'), 'model_version') or false
end
local out, excluded, enough = {pointer('foryou'), model_version}, 0, false
for i = 3, #ARGV, 2 do
  local surface, list, flags, available = ARGV[i], false, false, 0
  if not (enough and (surface == 'exclude' or surface == 'fallback')) then
    list = value(surface, ARGV[i + 1])
    local need = n
    if surface == 'exclude' then
      need = 0
      if list then excluded = struct.unpack('<H', list, 4) end
    elseif surface == 'fallback' then
      need = 2 * n + excluded
    end
    flags, available = unavailable(list, need)
    if (surface == 'foryou' or surface == 'fresh') and available >= n then enough = true end
  end
  out[#out + 1] = list
  out[#out + 1] = flags
end
return out
"""

Request = tuple[str, int | str]  # (surface, entity id)


@dataclass(frozen=True)
class Recommendation:
    """A response: items best first. ``sources[i]`` says where item i came from (``foryou``, ``fresh``,
    ``fallback:country=FR``, ``fallback:global``, ``similar``); ``scores[i]`` is its score in that source, so scores
    compare only within one source: the ranking across sources is the order (the position is the rank).

    What the app logs with an impression (``serving.impressions``): the ``foryou`` version followed and its model
    version, the experiment and the user's variant (``interleaved`` under interleaving, where ``teams[i]`` names
    the variant whose list contributed item i)."""

    item_ids: list[int]
    scores: list[float]
    sources: list[str]
    served_version: str | None = None
    model_version: str | None = None
    experiment: str | None = None
    variant: str | None = None
    teams: list[str] | None = None


@dataclass(frozen=True)
class Lists:
    """One request's answer: each list found (ids, scores) and the ids among them that are unavailable."""

    foryou_version: str | None
    model_version: str | None
    found: dict[Request, tuple[np.ndarray, np.ndarray]]
    unavailable: frozenset[int]


class RecommendationReader:
    """Read precomputed lists from Redis, one round trip per request.

    Args:
        url: ``redis://`` or ``rediss://`` URL (or a ``RedisTarget`` with credentials).
        experiment: the live experiment: each user reads their variant's list (assigned by a hash of the salt and
            the user id), or under interleaving both variants' lists team-drafted into one.
        forced_variant: every user reads this variant of ``experiment`` (a QA check of an arm; the counterfactual
            runs of the closed-loop marketplace).
    """

    def __init__(
        self, url: str | RedisTarget, experiment: ExperimentConfig | None = None, forced_variant: str | None = None
    ):
        self.target = url if isinstance(url, RedisTarget) else RedisTarget(url)
        self.experiment = experiment
        self.forced_variant = forced_variant
        if forced_variant is not None and (
            experiment is None or forced_variant not in [v.name for v in experiment.variants]
        ):
            raise ValueError(f"forced variant {forced_variant!r} is not a variant of the experiment")
        self._client: redis.Redis | None = None
        self._sha = hashlib.sha1(READ_SCRIPT.encode()).hexdigest()  # the script's id on any server

    @property
    def client(self) -> redis.Redis:
        if self._client is None:  # created lazily: constructing a reader never blocks
            self._client = self.target.client()
        return self._client

    def live_version(self, surface: str) -> str | None:
        value = self.client.get(keys.pointer_key(surface))
        return value.decode() if isinstance(value, bytes) else None

    def for_user(self, user_id: int, n: int = 20, country: str | None = None) -> Recommendation:
        """The user's list, merged by score with their fresh overlay (listings created since the lists were built);
        when it is missing or short after sold items are dropped, the user's country list, then the global list
        fill the rest, without the user's seen items and own listings (surface ``exclude``)."""
        return self.for_users([user_id], n, [country])[0]

    def for_users(
        self, user_ids: Sequence[int], n: int = 20, countries: Sequence[str | None] | None = None
    ) -> list[Recommendation]:
        """``for_user`` of many users in one pipelined round trip."""
        countries = countries if countries is not None else [None] * len(user_ids)
        variants = [self.variant_of(user) for user in user_ids]
        requests = [
            _user_requests(user, country, variant, self.experiment)
            for user, country, variant in zip(user_ids, countries, variants)
        ]
        return [
            self._stamped(_user_recommendation(user, lists, n, variant, self.experiment), lists, variant)
            for user, lists, variant in zip(user_ids, self._read(requests, n), variants)
        ]

    def variant_of(self, user_id: int) -> str | None:
        """The user's variant of the live experiment (``interleaved`` under interleaving; None without one)."""
        experiment = self.experiment
        if experiment is None:
            return None
        if self.forced_variant is not None:
            return self.forced_variant
        if experiment.kind == "interleaving":
            return INTERLEAVED
        names, weights = [v.name for v in experiment.variants], [v.weight for v in experiment.variants]
        return assignment.assign(experiment.assignment_salt, user_id, names, weights)

    def _stamped(self, recommendation: Recommendation, lists: Lists, variant: str | None) -> Recommendation:
        return replace(
            recommendation,
            served_version=lists.foryou_version,
            model_version=lists.model_version,
            experiment=self.experiment.name if self.experiment else None,
            variant=variant,
        )

    def similar_items(self, item_id: int, n: int = 20) -> Recommendation:
        """Items similar to ``item_id`` that are still for sale."""
        [lists] = self._read([[("similar", item_id)]], n)
        return _collect([(lists.found.get(("similar", item_id)), "similar", False)], lists.unavailable, n)

    def _read(self, requests: list[list[Request]], n: int) -> list[Lists]:
        """Each request's lists, as far as an answer of ``n`` items can need them, in one round trip (pipelined
        when there are several)."""
        client = self.client
        argv = [[keys.PREFIX, str(n), *(str(part) for pair in request for part in pair)] for request in requests]
        try:
            replies = self._send(argv)
        except redis.exceptions.NoScriptError:  # a new, restarted or flushed server: load it once, send again
            client.script_load(READ_SCRIPT)
            replies = self._send(argv)
        return [self._lists(request, reply) for request, reply in zip(requests, replies)]

    def _send(self, argv: list[list[str]]) -> list[Any]:
        """EVALSHA per request: alone, or in one pipeline (redis-py's script pipelining would add a SCRIPT EXISTS
        round trip)."""
        if len(argv) == 1:
            return [self.client.evalsha(self._sha, 0, *argv[0])]
        pipe = self.client.pipeline(transaction=False)
        for args in argv:
            pipe.evalsha(self._sha, 0, *args)
        return pipe.execute()

    def _lists(self, request: list[Request], reply: list[Any]) -> Lists:
        found: dict[Request, tuple[np.ndarray, np.ndarray]] = {}
        unavailable: set[int] = set()
        for pair, value, flags in zip(request, reply[2::2], reply[3::2]):
            if not value:
                continue
            ids, scores = encoding.decode(value)
            if flags is None:  # 64-bit ids: asked of the set directly, every item
                flags = bytes(48 + f for f in self.client.smismember(keys.UNAVAILABLE_KEY, [str(i) for i in ids]))
            if pair[0] != "exclude":  # items past the checked ones cannot reach the answer
                ids, scores = ids[: len(flags)], scores[: len(flags)]
            if b"1" in flags:
                unavailable.update(ids[np.frombuffer(flags, np.uint8) == ord("1")].tolist())
            found[pair] = (ids, scores)
        version, model = (part.decode() if isinstance(part, bytes) else None for part in reply[:2])
        return Lists(version, model, found, frozenset(unavailable))


INTERLEAVED = "interleaved"


def _personal_entities(user_id: int, variant: str | None, experiment: ExperimentConfig | None) -> list[int | str]:
    """The foryou fields a user reads: their own, a variant's, or under interleaving both variants'."""
    if experiment is None or variant is None:
        return [user_id]
    control = experiment.variants[0].name
    names = [v.name for v in experiment.variants] if variant == INTERLEAVED else [variant]
    return [user_id if name == control else keys.variant_entity(user_id, name) for name in names]


def _user_requests(
    user_id: int, country: str | None, variant: str | None = None, experiment: ExperimentConfig | None = None
) -> list[Request]:
    fallbacks: list[Request] = [("fallback", f"country={country}")] if country else []
    return [
        *(("foryou", entity) for entity in _personal_entities(user_id, variant, experiment)),
        (keys.FRESH_SURFACE, user_id),
        ("exclude", user_id),
        *fallbacks,
        ("fallback", "global"),
    ]


def _user_recommendation(
    user_id: int, lists: Lists, n: int, variant: str | None = None, experiment: ExperimentConfig | None = None
) -> Recommendation:
    entities = _personal_entities(user_id, variant, experiment)
    if variant == INTERLEAVED and experiment is not None:
        return _interleaved(user_id, lists, n, entities, experiment)
    personal = lists.found.get(("foryou", entities[0]))
    overlay = lists.found.get((keys.FRESH_SURFACE, user_id))
    chain: list[tuple[Any, Any, bool]] = []
    if overlay is None:
        chain.append((personal, "foryou", False))
    else:  # merged by score: both come from the same model version
        merged, origin = merge_ranked([RankedRows.one(*(personal or ([], []))), RankedRows.one(*overlay)])
        labels = np.array(["foryou", keys.FRESH_SURFACE])[origin]
        chain.append(((merged.ids, merged.scores), labels, False))
    return _collect(chain + _fallbacks(lists), lists.unavailable, n, _excluded(lists, user_id))


def _fallbacks(lists: Lists) -> list[tuple[Any, Any, bool]]:
    return [
        (found, f"fallback:{entity}", True) for (surface, entity), found in lists.found.items() if surface == "fallback"
    ]


def _excluded(lists: Lists, user_id: int) -> frozenset[int]:
    excluded = lists.found.get(("exclude", user_id))
    return frozenset(excluded[0].tolist()) if excluded is not None else frozenset()


def _interleaved(
    user_id: int, lists: Lists, n: int, entities: list[int | str], experiment: ExperimentConfig
) -> Recommendation:
    """Team draft of the two variants' available items (``assignment.team_draft``); fallbacks fill what is short.
    ``teams[i]``: the variant credited with item i (``fallback`` for a filler)."""
    available = []
    for entity in entities:
        ids, scores = lists.found.get(("foryou", entity), ([], []))
        kept = [
            (i, s) for i, s in zip(np.asarray(ids).tolist(), np.asarray(scores).tolist()) if i not in lists.unavailable
        ]
        available.append(dict(kept))
    items, teams = assignment.team_draft(list(available[0]), list(available[1]), n, experiment.assignment_salt, user_id)
    names = [v.name for v in experiment.variants]
    drafted = (np.asarray(items, dtype=np.int64), np.asarray([available[t][i] for i, t in zip(items, teams)]))
    filled = _collect([(drafted, "foryou", False), *_fallbacks(lists)], lists.unavailable, n, _excluded(lists, user_id))
    credited = [names[t] for t in teams] + ["fallback"] * (len(filled.item_ids) - len(teams))
    return replace(filled, teams=credited)


def _collect(
    chain: list[tuple[Any, Any, bool]], unavailable: AbstractSet[int], n: int, skip: AbstractSet[int] = frozenset()
) -> Recommendation:
    """The chain's lists in order (each: (ids, scores) or None, its label or labels, whether it is a fallback),
    available items only, no duplicates; ``skip``: ids no fallback may add."""
    item_ids: list[int] = []
    scores: list[float] = []
    sources: list[str] = []
    seen: set[int] = set()
    for found, labels, is_fallback in chain:
        if found is None:
            continue
        ids, values = found
        names = [labels] * len(ids) if isinstance(labels, str) else list(labels)
        blocked = unavailable | skip if is_fallback else unavailable
        for item, score, label in zip(np.asarray(ids).tolist(), np.asarray(values).tolist(), names):
            if item in blocked or item in seen:
                continue
            seen.add(item)
            item_ids.append(item)
            scores.append(score)
            sources.append(str(label))
            if len(item_ids) == n:
                return Recommendation(item_ids, scores, sources)
    return Recommendation(item_ids, scores, sources)
