"""The responsible-recommendation statistics on hand-computed values: Gini, top shares, entropy, bootstrap
intervals and segment parity."""

import numpy as np
import pandas as pd
import pytest

from recpipe.config.responsible import MeasuresConfig
from recpipe.monitoring import responsible


def test_gini_by_hand():
    assert responsible.gini(np.array([1.0, 1.0, 1.0, 1.0])) == pytest.approx(0.0)
    assert responsible.gini(np.array([0.0, 0.0, 0.0, 4.0])) == pytest.approx(0.75)  # (n - 1) / n: one holds all
    # sorted 1, 2, 3: 2 * (1 + 4 + 9) / (3 * 6) - 4 / 3 = 2/9
    assert responsible.gini(np.array([3.0, 1.0, 2.0])) == pytest.approx(2 / 9)
    assert responsible.gini(np.zeros(3)) == 0.0


def test_top_share_and_entropy_by_hand():
    values = np.array([50.0, *np.ones(150)])  # 151 holders: the top 1% is 2 of them (ceil 1.51)
    assert responsible.top_share(values, 0.01) == pytest.approx(51 / 200)
    assert responsible.normalized_entropy(np.array([1.0, 1.0]), 4) == pytest.approx(0.5)  # log 2 / log 4
    assert responsible.normalized_entropy(np.array([1.0, 1.0, 1.0, 1.0]), 4) == pytest.approx(1.0)


def test_bootstrap_interval_covers_the_mean_and_narrows_with_users():
    rng = np.random.default_rng(0)
    small = responsible.interval(responsible.bootstrap_means(np.array([0.0, 1.0] * 20), 2000, rng))
    large = responsible.interval(responsible.bootstrap_means(np.array([0.0, 1.0] * 2000), 2000, rng))
    assert small[0] < 0.5 < small[1] and large[0] < 0.5 < large[1]
    assert (large[1] - large[0]) < (small[1] - small[0]) / 5  # sqrt(100) = 10x narrower, allowing for noise
    # a binary mean's bootstrap interval is close to the normal one: 1.96 * sqrt(0.25 / 40) = 0.155
    assert small[1] - small[0] == pytest.approx(2 * 0.155, abs=0.04)


def test_segment_parity_names_worst_and_best_with_intervals():
    config = MeasuresConfig(min_segment_users=10, bootstrap_samples=500)
    buyers = pd.DataFrame(
        {
            "recall": [1.0] * 40 + [0.0] * 40 + [1.0] * 10 + [0.0] * 30 + [1.0] * 3,
            "country": ["FR"] * 80 + ["DE"] * 40 + ["IT"] * 3,  # IT: too few buyers to compare
            "tenure": ["new"] * 123,
        }
    )
    table = responsible.segment_parity(buyers, config, dimensions=("country", "tenure"))
    recall = table[table.measure == "recall"].set_index("segment")
    assert recall.loc["FR", "value"] == 0.5 and recall.loc["DE", "value"] == 0.25 and recall.loc["IT", "users"] == 3
    ratio = table[(table.measure == responsible.PARITY_RATIO) & (table.dimension == "country")].iloc[0]
    assert ratio.segment == "DE / FR" and ratio.value == pytest.approx(0.5)
    assert ratio.low < 0.5 < ratio.high
    assert table[table.dimension == "tenure"].measure.tolist() == ["recall"]  # one segment: no ratio
    figures = responsible.parity_figures(table)
    assert figures["parity.country"] == 0.5 and figures["parity.worst"] == 0.5
