"""Which variant of an experiment a user sees, and team-draft interleaving of two variants' lists.

Both are deterministic functions of the experiment's salt and the user id (and, for interleaving, the list), so
an app backend in any language reproduces them from the contract (docs/redis-contract.md, "Experiments", with
test vectors): the assignment is sticky for the experiment's life without storing anything, and a re-salted
experiment reshuffles everyone.

    bucket(salt, user) = first 8 bytes of SHA-256("{salt}:{user_id}") as a big-endian integer, modulo 10000
    variant = the first variant whose cumulative weight share (times 10000, rounded) exceeds the bucket
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

BUCKETS = 10_000
# (salt, user id, bucket, variant of ["control", "treatment"] weighted 1:1): docs/redis-contract.md lists them
CONTRACT_VECTORS = (
    ("ranker-vs-model", 1, 2645, "control"),
    ("ranker-vs-model", 42, 7710, "treatment"),
    ("homepage-2027", 0, 8895, "treatment"),
    ("homepage-2027", 123456789, 9752, "treatment"),
)


def bucket(salt: str, user_id: int) -> int:
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def bucket_bounds(weights: Sequence[float]) -> list[int]:
    """The exclusive upper bucket of each variant (the last is always ``BUCKETS``)."""
    total = float(sum(weights))
    bounds, running = [], 0.0
    for weight in weights:
        running += weight
        bounds.append(round(BUCKETS * running / total))
    bounds[-1] = BUCKETS
    return bounds


def assign(salt: str, user_id: int, names: Sequence[str], weights: Sequence[float]) -> str:
    """The variant of ``user_id``: sticky (a hash, nothing stored) and in proportion to ``weights``."""
    b = bucket(salt, user_id)
    return next(name for name, bound in zip(names, bucket_bounds(weights)) if b < bound)


def assign_many(salt: str, user_ids: Sequence[int], names: Sequence[str], weights: Sequence[float]) -> np.ndarray:
    """``assign`` of many users (an array of variant names)."""
    buckets = np.fromiter((bucket(salt, int(u)) for u in user_ids), dtype=np.int64, count=len(user_ids))
    return np.asarray(names)[np.searchsorted(np.asarray(bucket_bounds(weights)), buckets, side="right")]


def team_draft(
    first: Sequence[int], second: Sequence[int], n: int, salt: str, user_id: int
) -> tuple[list[int], list[int]]:
    """Team-draft interleaving (Radlinski, Kurup and Joachims 2008) of two ranked lists into ``n`` items: in each
    round the team with fewer picks (a coin when even) adds its best item not yet shown. Returns the items and the
    team of each (0: ``first``, 1: ``second``). The coins are ``bucket(f"{salt}:draft", user_id) + round`` parities,
    so the same user sees the same list for the same inputs."""
    items: list[int] = []
    teams: list[int] = []
    shown: set[int] = set()
    picks = [0, 0]
    cursors = [0, 0]
    lists = (list(first), list(second))
    coin = bucket(f"{salt}:draft", user_id)
    rounds = 0
    while len(items) < n:
        if picks[0] != picks[1]:
            order = [0, 1] if picks[0] < picks[1] else [1, 0]
        else:
            order = [0, 1] if (coin + rounds) % 2 == 0 else [1, 0]
            rounds += 1
        picked = False
        for team in order:
            source = lists[team]
            while cursors[team] < len(source) and source[cursors[team]] in shown:
                cursors[team] += 1
            if cursors[team] < len(source):
                item = source[cursors[team]]
                items.append(item)
                teams.append(team)
                shown.add(item)
                picks[team] += 1
                picked = True
                break
        if not picked:  # both lists exhausted
            break
    return items, teams
