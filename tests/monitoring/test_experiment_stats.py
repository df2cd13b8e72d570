"""The experiment statistics on known answers: hand-computed sums, the delta method against a simulation, CUPED's
variance reduction, the sample-ratio test and the interleaving sign test."""

import math

import numpy as np
import pytest

from recpipe.monitoring import experiment_stats as es


def test_mean_difference_equals_welchs_hand_computation():
    control, treatment = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 6.0])
    d = es.mean_difference(es.MomentSums.of(control), es.MomentSums.of(treatment))
    se = math.sqrt(control.var(ddof=1) / 4 + treatment.var(ddof=1) / 3)
    assert d.difference == pytest.approx(4.0 - 2.5)
    assert d.low == pytest.approx(1.5 - 1.959964 * se, rel=1e-5) and d.high == pytest.approx(
        1.5 + 1.959964 * se, rel=1e-5
    )
    assert d.relative == pytest.approx(0.6)


def test_sums_add_up_like_the_pooled_sample():
    a, b = np.array([1.0, 5.0]), np.array([2.0, 2.0, 9.0])
    pooled = es.MomentSums.of(a, a * 2) + es.MomentSums.of(b, b * 2)
    direct = es.MomentSums.of(np.r_[a, b], np.r_[a, b] * 2)
    assert pooled == direct
    assert pooled.var_y == pytest.approx(np.r_[a, b].var(ddof=1))
    assert pooled.cov_xy == pytest.approx(np.cov(np.r_[a, b], np.r_[a, b] * 2)[0, 1])


def test_cuped_keeps_the_difference_and_narrows_the_interval_by_the_correlation():
    rng = np.random.default_rng(3)
    pre = rng.gamma(2.0, 1.0, 20_000)
    post = 0.8 * pre + rng.normal(0, 0.5, 20_000)
    post[10_000:] += 0.05  # the true effect
    c, t = es.MomentSums.of(post[:10_000], pre[:10_000]), es.MomentSums.of(post[10_000:], pre[10_000:])
    plain, cuped = es.mean_difference(c, t), es.cuped_difference(c, t)
    rho = np.corrcoef(pre, post)[0, 1]
    assert cuped.width == pytest.approx(plain.width * math.sqrt(1 - rho**2), rel=0.03)
    assert cuped.low < 0.05 < cuped.high
    assert abs(cuped.difference - 0.05) < abs(plain.difference - 0.05) + 0.02
    assert es.cuped_theta(c, t) == pytest.approx(0.8, abs=0.02)


def test_the_delta_method_variance_of_a_ratio_matches_its_sampling_distribution():
    rng = np.random.default_rng(5)
    ratios, variances = [], []
    for _ in range(400):
        impressions = rng.poisson(20, 500) + 1
        views = rng.binomial(impressions, 0.1)
        sums = es.MomentSums.of(views, impressions)
        ratios.append(sums.y / sums.x)
        variances.append(es.ratio_variance(sums))
    assert np.mean(variances) == pytest.approx(np.var(ratios), rel=0.15)


def test_sample_ratio_mismatch_flags_a_broken_split_and_passes_a_fair_one():
    assert es.sample_ratio_mismatch([5_000, 5_050], [1, 1]) > 0.5
    assert es.sample_ratio_mismatch([5_000, 5_400], [1, 1]) < 0.001
    assert es.sample_ratio_mismatch([2_000, 8_000], [0.2, 0.8]) == pytest.approx(1.0)


def test_interleaving_preference_is_the_share_of_decided_users_with_a_sign_test():
    p = es.interleaving_preference(control_wins=40, treatment_wins=60, ties=900)
    assert p.share == pytest.approx(0.6) and p.low < 0.6 < p.high
    assert p.p_value == pytest.approx(0.0569, abs=0.001)  # two-sided binomial, 60 of 100
    assert es.interleaving_preference(0, 0, 10).p_value == 1.0


def test_users_needed_scales_with_the_square_of_the_observed_z():
    assert es.users_needed(1_000, 1.959964) == pytest.approx(1_000, rel=1e-4)
    assert es.users_needed(1_000, 3.919928) == pytest.approx(250, rel=1e-4)
