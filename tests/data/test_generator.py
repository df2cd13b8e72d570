"""Invariants of the synthetic marketplace on a small generation."""

from datetime import datetime, timezone

import pytest
from pyspark.sql import functions as F

from recpipe.config import GenerateConfig
from recpipe.data.generator import MarketplaceGenerator

CONFIG = GenerateConfig(users=400, items=240, days=14, events_per_user=20, seed=7)


@pytest.fixture(scope="module")
def market(spark):
    tables = MarketplaceGenerator(CONFIG).generate(spark, partitions=2)
    users, items, events = (df.cache() for df in (tables.users, tables.items, tables.events))
    yield users, items, events
    for df in (users, items, events):
        df.unpersist()


def test_sizes_and_unique_ids(market):
    users, items, events = market
    assert users.count() == CONFIG.users and items.count() == CONFIG.items
    n_events = events.count()
    assert 0.8 * CONFIG.users * CONFIG.events_per_user <= n_events <= 1.05 * CONFIG.users * CONFIG.events_per_user
    assert events.select("event_id").distinct().count() == n_events


def test_events_reference_existing_users_and_items(market):
    users, items, events = market
    assert events.join(users, "user_id", "left_anti").count() == 0
    assert events.join(items, "item_id", "left_anti").count() == 0


def test_items_are_purchased_at_most_once_and_only_while_listed(market):
    _, items, events = market
    purchases = events.where(F.col("event_type") == "purchase")
    assert purchases.groupBy("item_id").count().where("count > 1").count() == 0
    joined = purchases.join(items, "item_id")
    assert joined.where((F.col("event_ts") < F.col("listed_at")) | (F.col("event_ts") > F.col("sold_at"))).count() == 0
    # sold items are exactly the purchased ones, sold at the purchase time
    assert items.where("status = 'sold'").count() == purchases.count() > 0
    assert joined.where(F.col("event_ts") != F.col("sold_at")).count() == 0


def test_no_event_before_listing_or_outside_the_window(market):
    _, items, events = market
    end = datetime(2026, 11, 1, tzinfo=timezone.utc)
    start = datetime(2026, 10, 18, tzinfo=timezone.utc)
    assert events.join(items, "item_id").where(F.col("event_ts") < F.col("listed_at")).count() == 0
    bounds = events.agg(F.min("event_ts").alias("lo"), F.max("event_ts").alias("hi")).first()
    assert start <= bounds.lo.replace(tzinfo=timezone.utc) and bounds.hi.replace(tzinfo=timezone.utc) < end


def test_new_items_are_listed_every_day(market):
    _, items, _ = market
    days_with_listings = items.where(F.col("listed_at") >= "2026-10-18").select(F.to_date("listed_at")).distinct().count()
    assert days_with_listings == CONFIG.days


def test_users_prefer_their_style_group(market):
    users, _, events = market
    gen = MarketplaceGenerator(CONFIG)
    share = events.select(
        (gen.user_group(F.col("user_id")) == gen.item_group(F.col("item_id"))).cast("double").alias("same")
    ).agg(F.avg("same")).first()[0]
    assert share > 3 / CONFIG.style_groups  # chance is 1 / style_groups


def test_popularity_is_long_tailed(market):
    _, _, events = market
    counts = [r["count"] for r in events.groupBy("item_id").count().orderBy(F.desc("count")).collect()]
    top_decile = sum(counts[: len(counts) // 10]) / sum(counts)
    assert top_decile > 0.3


def test_sellers_also_buy_and_bots_burst(market):
    _, items, events = market
    sellers = items.select(F.col("seller_id").alias("user_id")).distinct()
    assert sellers.join(events.select("user_id").distinct(), "user_id").count() > 0
    per_user_day = events.groupBy("user_id", F.to_date("event_ts")).count()
    assert per_user_day.agg(F.max("count")).first()[0] >= 200  # a bot burst


def test_same_seed_same_data_different_seed_different_data(spark, market):
    _, _, events = market
    again = MarketplaceGenerator(CONFIG).generate(spark, partitions=3).events  # partitioning must not matter
    assert events.exceptAll(again).count() == 0 and again.exceptAll(events).count() == 0
    other = MarketplaceGenerator(CONFIG.model_copy(update={"seed": 8})).generate(spark, partitions=2).events
    assert events.exceptAll(other).count() > 0


def test_too_few_items_for_the_groups_is_rejected():
    with pytest.raises(ValueError, match="style_groups"):
        MarketplaceGenerator(GenerateConfig(items=3, style_groups=12))
