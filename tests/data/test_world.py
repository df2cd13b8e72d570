"""The numpy world model: seeded draws, listing slots, and true utility as one dot product (no Spark)."""

import numpy as np
import pytest

from recpipe.config import GenerateConfig
from recpipe.data.behaviour import EVENT_TYPES, NEVER, SaleState, SessionSimulator
from recpipe.data.hashing import Draws, Permutation
from recpipe.data.world import FIT_NEXT_SIZE, World

CONFIG = GenerateConfig(users=500, items=800, days=14, seed=3)


def test_draws_depend_only_on_seed_salt_and_id():
    ids = np.arange(1000)
    a, b = Draws(1), Draws(1)
    assert np.array_equal(a.uniform("x", ids), b.uniform("x", ids[::-1])[::-1])  # order and batching do not matter
    assert not np.array_equal(a.uniform("x", ids), a.uniform("y", ids))
    assert not np.array_equal(a.uniform("x", ids), Draws(2).uniform("x", ids))
    u = a.uniform("x", np.arange(200_000))
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.005
    z = a.normal("z", np.arange(200_000))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01


@pytest.mark.parametrize("n", [1, 7, 1000, 999_983])
def test_permutation_is_a_bijection_with_its_inverse(n):
    perm = Permutation(n, offset=12345)
    x = np.arange(min(n, 50_000))
    y = perm.forward(x)
    assert len(np.unique(y)) == len(x) and np.array_equal(perm.inverse(y), x)


def test_listing_slots_map_a_time_back_to_its_item():
    world = World(CONFIG)
    listed = world.listed_seconds(np.arange(CONFIG.items))
    assert np.array_equal(world.items_listed_around(listed), np.arange(CONFIG.items))
    assert world.window_start <= listed.min() and listed.max() < world.window_end
    assert world.items_listed_around(np.array([world.window_start - 1, world.window_end])).tolist() == [-1, -1]


def test_utility_is_taste_size_price_and_country():
    """The augmented dot product equals the utility written out term by term."""
    world = World(CONFIG)
    users, items = world.users(np.arange(50)), world.listings(np.arange(60))
    w = CONFIG.utility
    steps = np.abs(users.size_class[:, None] - items.size_class[None, :])
    fit = np.where(
        items.size_class[None, :] < 0, 1.0, np.where(steps == 0, 1.0, np.where(steps == 1, FIT_NEXT_SIZE, 0.0))
    )
    expected = (
        w.taste_weight * users.taste @ items.style.T
        + w.size_weight * (fit - 1.0)
        - w.price_weight * (np.log(items.price)[None, :] - users.log_price[:, None]) ** 2
        + w.country_weight * (users.country[:, None] == items.country[None, :])
    )
    actual = world.user_vectors(users) @ world.item_vectors(items).T
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-3)


def test_sellers_signed_up_before_the_window_and_new_users_during_it():
    world = World(CONFIG)
    sellers = world.listings(np.arange(CONFIG.items)).seller_id
    assert (world.users(sellers).signup_s < world.window_start).all()
    signups = world.users(np.arange(CONFIG.users)).signup_s
    new = (signups >= world.window_start).mean()
    assert new == pytest.approx(CONFIG.people.new_user_share, abs=0.01)


def test_hidden_listings_are_never_viewed_and_removing_losers_keeps_every_winner():
    """The sale passes rely on it: hiding listings changes only the views whose pick was hidden."""
    world = World(CONFIG)
    sessions = np.arange(3000)
    before = SessionSimulator(world, SaleState.unsold(CONFIG.items)).events(sessions)
    hidden_s = np.full(CONFIG.items, NEVER)
    hidden = np.arange(0, CONFIG.items, 3)
    hidden_s[hidden] = world.window_start  # a third of the listings never shows
    after = SessionSimulator(world, SaleState(hidden_s)).events(sessions)
    assert not np.isin(after.item_id, hidden).any()
    kept = ~np.isin(before.item_id, hidden)
    views = before.event_type == EVENT_TYPES.index("view")
    unchanged = np.intersect1d(before.event_id[kept & views], after.event_id)
    assert len(unchanged) == (kept & views).sum()  # every view whose pick is still shown happens again
    same = dict(zip(after.event_id.tolist(), after.item_id.tolist()))
    assert all(
        same[e] == i for e, i in zip(before.event_id[kept & views].tolist(), before.item_id[kept & views].tolist())
    )
