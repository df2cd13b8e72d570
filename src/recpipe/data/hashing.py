"""Seeded, partition-independent randomness on numpy id arrays.

Every draw is a hash of (seed, salt, id): a value depends only on which entity it belongs to, never on how
Spark split the rows into batches, so the same seed gives the same world on a laptop and on a cluster.
SplitMix64's finaliser mixes the key; numpy's uint64 arithmetic wraps, which is what the mixer needs.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / float(1 << 53)


def _mix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def stream_key(seed: int, salt: str) -> np.uint64:
    """The key of one named stream of draws."""
    with np.errstate(over="ignore"):
        mixed = _mix(np.array([(seed * 0x9E3779B1 + zlib.crc32(salt.encode())) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
    return mixed[0]


class Draws:
    """Uniform, normal and categorical draws keyed by (seed, salt, ids[, k])."""

    def __init__(self, seed: int):
        self.seed = seed
        self._keys: dict[str, np.uint64] = {}

    def _key(self, salt: str) -> np.uint64:
        if salt not in self._keys:
            self._keys[salt] = stream_key(self.seed, salt)
        return self._keys[salt]

    def bits(self, salt: str, ids: np.ndarray, k: int | np.ndarray = 0) -> np.ndarray:
        """64 random bits per id (and per ``k``, broadcast against ``ids``)."""
        ids = np.asarray(ids).astype(np.uint64, copy=False)
        with np.errstate(over="ignore"):
            x = ids * _GOLDEN + self._key(salt) + np.asarray(k).astype(np.uint64) * _M2
            return _mix(_mix(x))

    def uniform(self, salt: str, ids: np.ndarray, k: int | np.ndarray = 0) -> np.ndarray:
        """Uniform in [0, 1)."""
        return (self.bits(salt, ids, k) >> np.uint64(11)).astype(np.float64) * _TO_UNIT

    def normal(self, salt: str, ids: np.ndarray, k: int | np.ndarray = 0) -> np.ndarray:
        """Standard normal (Box-Muller)."""
        u1 = np.maximum(self.uniform(salt + ":1", ids, k), 1e-300)
        u2 = self.uniform(salt + ":2", ids, k)
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)

    def exponential(self, salt: str, ids: np.ndarray, mean: float | np.ndarray, k: int | np.ndarray = 0) -> np.ndarray:
        return -np.log1p(-self.uniform(salt, ids, k)) * mean

    def gumbel(self, salt: str, ids: np.ndarray, k: int | np.ndarray = 0) -> np.ndarray:
        return -np.log(-np.log(np.maximum(self.uniform(salt, ids, k), 1e-300)))

    def choice(
        self, salt: str, ids: np.ndarray, weights: np.ndarray | Sequence[float], k: int | np.ndarray = 0
    ) -> np.ndarray:
        """Index into ``weights`` (relative, not necessarily normalised) per id."""
        cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
        picked = np.searchsorted(cumulative / cumulative[-1], self.uniform(salt, ids, k), side="right")
        return np.minimum(picked, len(cumulative) - 1)


def coprime_multiplier(n: int) -> int:
    """A multiplier a with gcd(a, n) == 1, so x -> (a*x + b) mod n permutes range(n)."""
    import math

    a = int(n * 0.6180339887) | 1
    while math.gcd(a, n) != 1:
        a += 2
    return max(a % n, 1) if n > 1 else 1


class Permutation:
    """x -> (a*x + b) mod n and its inverse, on int64 arrays."""

    def __init__(self, n: int, offset: int):
        self.n = max(n, 1)
        self.a = coprime_multiplier(self.n)
        self.b = offset % self.n
        self.a_inverse = pow(self.a, -1, self.n) if self.n > 1 else 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.int64) % self.n * self.a + self.b) % self.n

    def inverse(self, y: np.ndarray) -> np.ndarray:
        return ((np.asarray(y, dtype=np.int64) - self.b) % self.n * self.a_inverse) % self.n
