"""Seeded, partition-independent randomness as Spark column expressions.

Every draw is a hash of (seed, salt, ids), so a value depends only on *what* row it belongs to, never on how
Spark partitioned the data: the same seed gives the same tables on a laptop and on a cluster.
"""

from __future__ import annotations

import math

from pyspark.sql import Column
from pyspark.sql import functions as F

_MANTISSA_MASK = (1 << 53) - 1


def uniform(seed: int, salt: str, *cols: Column) -> Column:
    """A uniform draw in [0, 1) determined by (seed, salt, cols)."""
    hashed = F.xxhash64(F.lit(seed), F.lit(salt), *cols)
    return hashed.bitwiseAND(F.lit(_MANTISSA_MASK)).cast("double") / float(1 << 53)


def normal(seed: int, salt: str, *cols: Column) -> Column:
    """A standard normal draw (Box-Muller) determined by (seed, salt, cols)."""
    u1 = F.greatest(uniform(seed, salt + ":n1", *cols), F.lit(1e-12))
    u2 = uniform(seed, salt + ":n2", *cols)
    return F.sqrt(-2.0 * F.log(u1)) * F.cos(2.0 * math.pi * u2)


def pick(options: tuple[str, ...] | list[str], u: Column) -> Column:
    """The option at index floor(u * len(options)) for a draw u in [0, 1)."""
    return F.element_at(F.array(*[F.lit(o) for o in options]), (F.floor(u * len(options)) + 1).cast("int"))


def pick_weighted(weights: dict[str, float], u: Column) -> Column:
    """An option drawn with the given relative weights for a draw u in [0, 1)."""
    total = sum(weights.values())
    expr, cumulative = None, 0.0
    for option, weight in weights.items():
        cumulative += weight / total
        expr = (F.when(u < cumulative, F.lit(option)) if expr is None else expr.when(u < cumulative, F.lit(option)))
    return expr.otherwise(F.lit(list(weights)[-1]))  # type: ignore[union-attr]


def coprime_multiplier(n: int) -> int:
    """A multiplier a with gcd(a, n) == 1, so x -> (a*x + b) mod n permutes range(n)."""
    a = int(n * 0.6180339887) | 1
    while math.gcd(a, n) != 1:
        a += 2
    return max(a % n, 1) if n > 1 else 1
