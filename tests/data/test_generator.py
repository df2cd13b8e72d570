"""Invariants and calibration of the generated resale marketplace, on a small world generated once."""

from datetime import UTC, datetime

import numpy as np
import pytest
from pyspark.sql import functions as F

from recpipe import schemas
from recpipe.config import GenerateConfig
from recpipe.data import behaviour
from recpipe.data.calibration import calibration_figures, out_of_range
from recpipe.data.generator import MarketplaceGenerator
from recpipe.data.world import World

CONFIG = GenerateConfig(users=600, items=900, days=21, events_per_user=40, seed=7)
WINDOW_END = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def market(spark):
    tables = MarketplaceGenerator(CONFIG).generate(spark, partitions=2)
    frames = [df.cache() for df in (tables.users, tables.items, tables.events, tables.sim_users, tables.sim_items)]
    yield frames
    for df in frames:
        df.unpersist()


def test_tables_have_the_owned_schemas_and_unique_ids(market):
    users, items, events, sim_users, sim_items = market
    assert [f.name for f in users.schema] == [f.name for f in schemas.USERS]
    assert [f.name for f in items.schema] == [f.name for f in schemas.ITEMS]
    assert [f.name for f in events.schema] == [f.name for f in schemas.EVENTS]
    assert users.count() == sim_users.count() == CONFIG.users and items.count() == sim_items.count() == CONFIG.items
    n_events = events.count()
    assert 0.6 * CONFIG.target_events <= n_events <= 1.2 * CONFIG.target_events
    assert events.select("event_id").distinct().count() == n_events
    assert (
        events.join(users, "user_id", "left_anti").count() == 0
        and events.join(items, "item_id", "left_anti").count() == 0
    )


def test_every_purchase_follows_the_buyers_view(market):
    _, _, events, _, _ = market
    purchases = events.where("event_type = 'purchase'").select("user_id", "item_id", F.col("event_ts").alias("bought"))
    views = events.where("event_type = 'view'").select("user_id", "item_id", "event_ts")
    earlier_view = purchases.join(views, ["user_id", "item_id"]).where(F.col("event_ts") < F.col("bought"))
    assert purchases.count() > 100
    assert (
        purchases.join(
            earlier_view.select("user_id", "item_id").distinct(), ["user_id", "item_id"], "left_anti"
        ).count()
        == 0
    )


def test_no_event_precedes_its_listing_or_its_users_signup_or_leaves_the_window(market):
    users, items, events, _, _ = market
    joined = events.join(items.select("item_id", "listed_at"), "item_id").join(
        users.select("user_id", "signup_ts"), "user_id"
    )
    assert (
        joined.where((F.col("event_ts") < F.col("listed_at")) | (F.col("event_ts") < F.col("signup_ts"))).count() == 0
    )
    bounds = events.agg(F.min("event_ts").alias("lo"), F.max("event_ts").alias("hi")).first()
    assert bounds.hi.replace(tzinfo=UTC) < WINDOW_END
    assert (WINDOW_END - bounds.lo.replace(tzinfo=UTC)).days < CONFIG.days


def test_an_item_sells_once_at_its_purchase_while_it_is_live(market):
    _, items, events, _, _ = market
    purchases = events.where("event_type = 'purchase'")
    assert purchases.groupBy("item_id").count().where("count > 1").count() == 0
    sold = items.where("status = 'sold'")
    assert sold.count() == purchases.count()
    joined = purchases.join(items, "item_id")
    assert joined.where((F.col("event_ts") != F.col("sold_at")) | F.col("deleted_at").isNotNull()).count() == 0
    # after a sale only views remain (old links); deleted listings get nothing after their removal
    after_sale = events.join(sold.select("item_id", "sold_at"), "item_id").where(F.col("event_ts") > F.col("sold_at"))
    assert after_sale.where("event_type != 'view'").count() == 0
    deleted = items.where("status = 'deleted'").select("item_id", "deleted_at")
    assert deleted.count() > 0 and deleted.where(F.col("deleted_at").isNull()).count() == 0
    assert events.join(deleted, "item_id").where(F.col("event_ts") >= F.col("deleted_at")).count() == 0


def test_users_never_view_or_buy_their_own_listings(market):
    _, items, events, _, _ = market
    assert (
        events.join(items.select("item_id", "seller_id"), "item_id")
        .where(F.col("user_id") == F.col("seller_id"))
        .count()
        == 0
    )


def test_calibration_figures_fall_in_their_configured_ranges(market):
    _users, items, events, sim_users, _ = market
    figures = calibration_figures(sim_users, items, events, WINDOW_END)
    assert out_of_range(figures, CONFIG.calibration) == []
    assert figures["views_on_sold_items"] <= CONFIG.attention.views_after_sale_share
    assert figures["purchases_after_own_view"] == 1.0
    assert figures["time_to_sale_days_p50"] < 3


def test_a_world_outside_its_ranges_is_reported():
    figures = {
        "purchases_on_listings_under_7d": 0.2,
        "live_inventory_median_age_days": 40.0,
        "views_on_sold_items": 0.01,
        "purchases_in_buyer_size": 0.9,
        "listings_never_sold": 0.5,
    }
    assert out_of_range(figures, CONFIG.calibration) == [
        "purchases_on_listings_under_7d = 0.2 outside [0.5, 1.0]",
        "live_inventory_median_age_days = 40.0 outside [0.0, 14.0]",
    ]


def test_same_seed_same_tables_whatever_the_partitioning(spark, market):
    users, items, events, _, _ = market
    again = MarketplaceGenerator(CONFIG).generate(spark, partitions=3)
    for ours, theirs in ((events, again.events), (items, again.items), (users, again.users)):
        assert ours.exceptAll(theirs).count() == 0 and theirs.exceptAll(ours).count() == 0
    other = MarketplaceGenerator(CONFIG.model_copy(update={"seed": 8})).generate(spark, partitions=2).events
    assert events.exceptAll(other).count() > 0


def test_views_through_old_links_stay_inside_the_window(monkeypatch):
    """Views of sold listings through old links come seconds after a view; pushed 40 days later (every listing
    sold halfway through the window, so such views are many), each would fall past the window's end: none may."""
    monkeypatch.setattr(behaviour, "SLOT_OFFSET_S", (*behaviour.SLOT_OFFSET_S[:-1], 40 * 86_400))
    world = World(CONFIG)
    sold = np.full(CONFIG.items, (world.window_start + world.window_end) // 2, dtype=np.int64)
    sales = behaviour.SaleState(
        hidden_s=np.full(CONFIG.items, behaviour.NEVER), sold_s=sold, sale_event=-np.ones_like(sold)
    )
    events = behaviour.SessionSimulator(world, sales).events(np.arange(2_000))
    assert len(events.ts_s) > 0 and events.ts_s.max() < world.window_end
