"""The age prior on known counts, and the inventory it is measured against."""

import numpy as np
import pandas as pd

from recpipe.models.freshness import AGE_EDGES_DAYS, age_bands, age_prior, inventory_ages


def test_listings_bought_young_out_of_an_old_inventory_get_a_positive_prior_when_young():
    bought = np.array([0.1, 0.2, 0.3, 0.7])  # three in the first band (under half a day), one in the second
    inventory = np.array([0.1, 8.0, 8.0, 8.0, 15.0, 15.0, 15.0, 15.0])
    prior = age_prior(bought, inventory, smoothing=0.0 + 1e-9)
    young, week = age_bands(np.array([0.1]))[0], age_bands(np.array([8.0]))[0]
    np.testing.assert_allclose(prior[young], np.log((3 / 4) / (1 / 8)), rtol=1e-6)
    assert prior[week] < -10  # bought never, stocked often
    assert len(prior) == len(AGE_EDGES_DAYS) + 1
    np.testing.assert_array_equal(age_prior(np.array([]), inventory), np.zeros(len(AGE_EDGES_DAYS) + 1))


def test_inventory_counts_each_listing_on_the_days_it_was_for_sale():
    until = pd.Timestamp("2026-11-10")
    listed = pd.Series(pd.to_datetime(["2026-11-01 00:00", "2026-11-08 12:00", "2026-11-05 00:00"]))
    gone = pd.Series(pd.to_datetime([None, None, "2026-11-08 06:00"], format="ISO8601"))
    ages = inventory_ages(listed, gone, until, days=3)  # at the starts of Nov 9, 8 and 7
    expected = [
        8.0,
        7.0,
        6.0,  # listed Nov 1, still for sale
        0.5,  # listed Nov 8 noon: for sale on Nov 9 only
        3.0,
        2.0,
    ]  # listed Nov 5, sold Nov 8 06:00: for sale on Nov 8 and 7 at midnight
    np.testing.assert_allclose(sorted(ages), sorted(expected))
