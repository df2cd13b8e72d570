"""The closed-loop marketplace on a small world (numpy only): served lists change what buyers see and buy, the
same lists replay the same days exactly (common random numbers), a listing sells once, impressions are the rows
the contract names, and an A/B reading over the simulated days covers the effect known from the two
counterfactual runs."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from recpipe.data import closed_loop as cl
from recpipe.data.behaviour import EVENT_TYPES, NEVER
from recpipe.data.config import GenerateConfig
from recpipe.data.generator import MarketplaceGenerator
from recpipe.monitoring import experiment_stats as es
from recpipe.schemas import IMPRESSIONS
from recpipe.serving import assignment

CONFIG = GenerateConfig(users=400, items=600, days=14, seed=3)
DAYS = 4
PURCHASE = EVENT_TYPES.index("purchase")


@pytest.fixture(scope="module")
def world():
    generator = MarketplaceGenerator(CONFIG)
    return generator.world, generator.session_count()


def live_ids(world, day):
    start, _ = cl.day_bounds(day)
    catalog = world.catalog
    return np.flatnonzero((catalog.listed_s < start) & (catalog.delist_s > start))


def best_lists(world, variant="best"):
    """Each user's 20 truly best listings live at the day's start (the oracle): what a perfect model serves."""

    def serve(users, day):
        ids = live_ids(world, day)
        utility = world.user_vectors(world.users(users)) @ world.catalog_vectors[ids].T
        top = ids[np.argsort(-utility, axis=1)[:, :20]]
        return {u: cl.ServedList(row, ["foryou"] * 20, variant, "exp") for u, row in zip(users.tolist(), top)}

    return serve


def random_lists(world, variant="random"):
    def serve(users, day):
        ids, rng = live_ids(world, day), np.random.default_rng(day.toordinal())
        return {
            u: cl.ServedList(rng.choice(ids, 20, replace=False), ["foryou"] * 20, variant, "exp")
            for u in users.tolist()
        }

    return serve


def run(world, serve):
    w, sessions = world
    first = CONFIG.end_date - timedelta(days=DAYS)
    return cl.simulate_days(w, sessions, first, DAYS, serve, cl.ServedSessionsConfig(), np.full(CONFIG.items, NEVER))


def purchases_per_user(result, users):
    bought = pd.Series(result.events.user_id[result.events.event_type == PURCHASE]).value_counts()
    return bought.reindex(users, fill_value=0).to_numpy(dtype=float)


def test_better_lists_sell_more_and_the_same_lists_replay_the_same_days(world):
    best, random = run(world, best_lists(world[0])), run(world, random_lists(world[0]))
    assert best.served_sessions == random.served_sessions > 50  # who opens the list does not depend on it
    for_you = lambda r: ((r.events.surface == cl.FOR_YOU) & (r.events.event_type == PURCHASE)).sum()
    assert for_you(best) > 2 * for_you(random)
    again = run(world, best_lists(world[0]))
    np.testing.assert_array_equal(again.events.event_id, best.events.event_id)
    organic = best.events.surface != cl.FOR_YOU  # sessions that never read a list differ only through sales
    assert np.isin(best.events.event_id[organic], random.events.event_id).mean() > 0.9


def test_a_listing_sells_once_and_impressions_are_contract_rows(world):
    result = run(world, best_lists(world[0]))
    bought = result.events.item_id[result.events.event_type == PURCHASE]
    assert len(bought) == len(np.unique(bought)) > 0
    assert (result.sold_s[bought] < NEVER).all()
    frame = result.impressions
    assert list(frame.columns) == [f.name for f in IMPRESSIONS.fields]
    assert frame["impression_id"].is_unique and frame["position"].between(0, 19).all()
    assert len(frame) == 20 * result.served_sessions


def test_an_ab_reading_covers_the_effect_the_counterfactual_runs_know(world):
    """Users split by a hash: half read the oracle's lists, half random ones. Every user on one arm, then on the
    other (the same random numbers) gives the true effect; the mixed run's reading must cover it."""
    w, _ = world
    users = np.arange(CONFIG.users)
    arms = assignment.assign_many("closed-loop", users, ["random", "best"], [1, 1])
    best, random = best_lists(w), random_lists(w)

    def mixed(day_users, day):
        on_best = arms[day_users] == "best"
        return {**best(day_users[on_best], day), **random(day_users[~on_best], day)}

    truth = purchases_per_user(run(world, best), users) - purchases_per_user(run(world, random), users)
    experiment = run(world, mixed)
    exposed = np.unique(experiment.impressions["user_id"])
    y = purchases_per_user(experiment, exposed)
    control, treatment = arms[exposed] == "random", arms[exposed] == "best"
    reading = es.mean_difference(es.MomentSums.of(y[control]), es.MomentSums.of(y[treatment]))
    true_effect = truth[exposed].mean()
    assert true_effect > 0
    assert reading.low <= true_effect <= reading.high


def test_an_aa_split_is_significant_at_five_percent_about_one_time_in_twenty(world):
    """200 re-salted A/A readings of one simulated period (everyone served the same lists)."""
    result = run(world, best_lists(world[0]))
    exposed = np.unique(result.impressions["user_id"])
    views = result.events.user_id[result.events.event_type == EVENT_TYPES.index("view")]
    outcomes = {
        "views": pd.Series(views).value_counts().reindex(exposed, fill_value=0).to_numpy(float),
        "purchases": purchases_per_user(result, exposed),
    }
    for y in outcomes.values():
        significant = 0
        for salt in range(200):
            arms = assignment.assign_many(f"aa-{salt}", exposed, ["a", "b"], [1, 1])
            reading = es.mean_difference(es.MomentSums.of(y[arms == "a"]), es.MomentSums.of(y[arms == "b"]))
            significant += reading.p_value < 0.05
        assert 0.02 <= significant / 200 <= 0.08
