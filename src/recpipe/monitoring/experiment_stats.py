"""The statistics of an online experiment, from per-variant sums (what Spark aggregates over exposed users), so
a reading over tens of millions of users never collects them to the driver.

- ``mean_difference``: a per-user metric (purchases per exposed user), the treatment's mean minus the control's
  with a normal interval (Welch: each variant's own variance).
- ``cuped_difference``: the same with CUPED (Deng et al. 2013): the metric minus theta times its pre-period value,
  theta = cov(y, x) / var(x) pooled over the variants; the estimate stays unbiased (the pre-period is independent
  of the assignment) and the variance falls by the squared correlation.
- ``ratio_difference``: a ratio of sums whose unit is not the randomised unit (views per impression), with the
  delta method's variance of each variant's ratio.
- ``sample_ratio_mismatch``: a chi-square test of exposed users per variant against the configured weights;
  a mismatch means the assignment or the logging is broken and no difference may be read.
- ``interleaving_preference``: the share of users whose engagements credited the treatment's team more, among
  those who preferred one, against one half (a sign test).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class MomentSums:
    """Per variant: users, and sums of y (the metric), x (its pre-period value), their squares and product.
    For a ratio metric, y is the numerator and x the denominator of each user."""

    n: float
    y: float
    y2: float
    x: float = 0.0
    x2: float = 0.0
    xy: float = 0.0

    @classmethod
    def of(cls, y: np.ndarray, x: np.ndarray | None = None) -> MomentSums:
        y = np.asarray(y, dtype=np.float64)
        x = np.zeros_like(y) if x is None else np.asarray(x, dtype=np.float64)
        return cls(
            float(len(y)),
            float(y.sum()),
            float((y * y).sum()),
            float(x.sum()),
            float((x * x).sum()),
            float((x * y).sum()),
        )

    def __add__(self, other: MomentSums) -> MomentSums:
        return MomentSums(*(a + b for a, b in zip(_fields(self), _fields(other))))

    @property
    def mean_y(self) -> float:
        return self.y / self.n

    @property
    def mean_x(self) -> float:
        return self.x / self.n

    @property
    def var_y(self) -> float:
        return _variance(self.y2, self.y, self.n)

    @property
    def var_x(self) -> float:
        return _variance(self.x2, self.x, self.n)

    @property
    def cov_xy(self) -> float:
        return (self.xy - self.x * self.y / self.n) / max(self.n - 1, 1)


def _fields(sums: MomentSums) -> tuple[float, ...]:
    return (sums.n, sums.y, sums.y2, sums.x, sums.x2, sums.xy)


def _variance(sum_squares: float, total: float, n: float) -> float:
    return max(sum_squares - total * total / n, 0.0) / max(n - 1, 1)


@dataclass(frozen=True)
class Difference:
    """Treatment minus control, with its interval at ``1 - alpha`` and the two-sided p-value."""

    control: float
    treatment: float
    difference: float
    low: float
    high: float
    p_value: float

    @property
    def relative(self) -> float:
        return self.difference / self.control if self.control else float("nan")

    @property
    def width(self) -> float:
        return self.high - self.low


def _difference(control: float, treatment: float, variance: float, alpha: float) -> Difference:
    diff = treatment - control
    se = math.sqrt(max(variance, 0.0))
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else (0.0 if diff else 1.0)
    return Difference(control, treatment, diff, diff - z * se, diff + z * se, p)


def mean_difference(control: MomentSums, treatment: MomentSums, alpha: float = 0.05) -> Difference:
    variance = control.var_y / control.n + treatment.var_y / treatment.n
    return _difference(control.mean_y, treatment.mean_y, variance, alpha)


def cuped_theta(*variants: MomentSums) -> float:
    """cov(y, x) / var(x) over all variants pooled (0 when the pre-period value does not vary)."""
    pooled = variants[0]
    for sums in variants[1:]:
        pooled = pooled + sums
    return pooled.cov_xy / pooled.var_x if pooled.var_x > 0 else 0.0


def cuped_difference(control: MomentSums, treatment: MomentSums, alpha: float = 0.05) -> Difference:
    """Means of y - theta (x - mean x over both variants): the same expected difference, less variance."""
    theta = cuped_theta(control, treatment)
    mean_x = (control.x + treatment.x) / (control.n + treatment.n)

    def adjusted(sums: MomentSums) -> tuple[float, float]:
        mean = sums.mean_y - theta * (sums.mean_x - mean_x)
        variance = sums.var_y - 2 * theta * sums.cov_xy + theta * theta * sums.var_x
        return mean, variance / sums.n

    (c_mean, c_var), (t_mean, t_var) = adjusted(control), adjusted(treatment)
    return _difference(c_mean, t_mean, c_var + t_var, alpha)


def ratio_variance(sums: MomentSums) -> float:
    """Delta-method variance of sum(y) / sum(x) over users (y numerator, x denominator per user)."""
    mean_y, mean_x = sums.mean_y, sums.mean_x
    if mean_x == 0:
        return 0.0
    return (sums.var_y / mean_x**2 - 2 * mean_y * sums.cov_xy / mean_x**3 + mean_y**2 * sums.var_x / mean_x**4) / sums.n


def ratio_difference(control: MomentSums, treatment: MomentSums, alpha: float = 0.05) -> Difference:
    ratio = lambda s: s.y / s.x if s.x else 0.0
    return _difference(ratio(control), ratio(treatment), ratio_variance(control) + ratio_variance(treatment), alpha)


def sample_ratio_mismatch(users: list[float], weights: list[float]) -> float:
    """The chi-square test's p-value of ``users`` per variant against the configured ``weights``."""
    observed = np.asarray(users, dtype=np.float64)
    if observed.sum() == 0:
        return 1.0
    expected = np.asarray(weights, dtype=np.float64) / np.sum(weights) * observed.sum()
    return float(stats.chisquare(observed, expected).pvalue)


@dataclass(frozen=True)
class Preference:
    """Interleaving: users whose credited engagements favoured each team, the ties, and the share of the decided
    users who preferred the treatment with its interval and the sign test's p-value."""

    control_wins: int
    treatment_wins: int
    ties: int
    share: float
    low: float
    high: float
    p_value: float


def interleaving_preference(control_wins: int, treatment_wins: int, ties: int, alpha: float = 0.05) -> Preference:
    decided = control_wins + treatment_wins
    if decided == 0:
        return Preference(control_wins, treatment_wins, ties, 0.5, 0.0, 1.0, 1.0)
    share = treatment_wins / decided
    z = float(stats.norm.ppf(1 - alpha / 2))
    se = math.sqrt(share * (1 - share) / decided)
    p = float(stats.binomtest(treatment_wins, decided, 0.5).pvalue)
    return Preference(control_wins, treatment_wins, ties, share, share - z * se, share + z * se, p)


def users_needed(users: float, z_observed: float, alpha: float = 0.05) -> float:
    """Users at which an effect read with ``z_observed`` from ``users`` would just reach significance (the
    standard error shrinks as one over the square root of the users)."""
    z = float(stats.norm.ppf(1 - alpha / 2))
    return users * (z / z_observed) ** 2 if z_observed else float("inf")
