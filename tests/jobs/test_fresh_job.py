"""`recpipe fresh` after a real daily run (generate -> interactions -> train -> candidates -> publish) on a small
world, with a real Redis: a listing appended to bronze reaches a matching user's list after one fresh run, scored
as the batch would score it; overlays merge run after run, drop sold listings, and end at the next publish."""

from datetime import timedelta

import mlflow
import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from recpipe import catalog, ranking_stage, tracking
from recpipe.config import (
    CandidatesConfig,
    FreshConfig,
    GenerateConfig,
    InteractionsConfig,
    PublishConfig,
    RunConfig,
    Settings,
    TrainConfig,
)
from recpipe.jobs.candidates import generate_candidates
from recpipe.jobs.context import JobContext
from recpipe.jobs.fresh import refresh
from recpipe.jobs.generate import write_marketplace
from recpipe.jobs.interactions import build
from recpipe.jobs.publish import publish
from recpipe.jobs.train import train
from recpipe.run_day import as_of_from_end
from recpipe.serving import keys, overlays
from recpipe.serving.connection import RedisTarget
from recpipe.serving.local_redis import RedisProcess
from recpipe.serving.reader import RecommendationReader
from recpipe.tables import to_pandas
from recpipe.transforms import ranking_features
from recpipe.transforms.training_inputs import LISTING_ATTRIBUTES, with_seller_country

pytestmark = pytest.mark.slow  # runs the daily jobs and the fresh job end to end

RULES = CandidatesConfig(top_n=10, overfetch=2.0, min_user_interactions=2, similar_n=5)
PUBLISHING = PublishConfig(require_gate=False, foryou_buckets=8, similar_buckets=8, write_partitions=2)
FRESH = FreshConfig(overlay_length=10)
TRAINING = TrainConfig.model_validate(
    {
        "families": ["als_attributes"],
        "als": {"factors": 8, "iterations": 5, "use_gpu": False},
        "item2vec": {"vector_size": 8, "epochs": 2},
        "evaluation": {"holdout_days": 3},
        "use_tuned_params": False,
    }
)


@pytest.fixture(scope="module")
def daily(spark, tmp_path_factory):
    """One published daily run; its context, Redis target and the live version."""
    root = tmp_path_factory.mktemp("fresh")
    server = RedisProcess(root / "redis").start()
    settings = Settings(data_dir=root, shuffle_partitions=2, mlflow_experiment="fresh-tests")
    run_config = RunConfig(candidates=RULES, publish=PUBLISHING, fresh=FRESH)
    ctx = JobContext.for_settings("fresh", settings, spark, config=run_config)
    write_marketplace(ctx, GenerateConfig(users=150, items=300, days=14, events_per_user=30))
    build(ctx, InteractionsConfig())
    train(ctx, TRAINING)
    generate_candidates(ctx, RULES)
    target = RedisTarget(server.url)
    publish(ctx, PUBLISHING, target)
    yield ctx, target
    server.stop()
    mlflow.set_tracking_uri(None)


def append_listing(ctx: JobContext, target: RedisTarget, like_item: int, item_id: int, after: timedelta) -> None:
    """A new listing with the attributes and seller of ``like_item``, listed ``after`` the live lists' data end."""
    live = overlays.live_batch(target.client())
    new = (
        ctx.tables.read(catalog.BRONZE_ITEMS)
        .where(F.col("item_id") == like_item)
        .select(
            F.lit(item_id).cast("long").alias("item_id"),
            "seller_id",
            "category",
            "brand",
            "size",
            "price",
            "condition",
            F.lit(live.generated_at + after).cast("timestamp").alias("listed_at"),
            F.lit(None).cast("timestamp").alias("sold_at"),
            F.lit(None).cast("timestamp").alias("deleted_at"),
            F.lit("active").alias("status"),
        )
    )
    ctx.tables.append(new, catalog.BRONZE_ITEMS)


def purchase(ctx: JobContext, item_id: int, at) -> None:
    row = [(10**9 + item_id, 1, item_id, "purchase", at, 1, "home")]
    ctx.tables.append(ctx.spark.createDataFrame(row, catalog.columns(catalog.BRONZE_EVENTS)), catalog.BRONZE_EVENTS)


def popular_listing(ctx: JobContext) -> int:
    """The listing most often first in the personal lists: its attributes are ones users like."""
    firsts = to_pandas(
        ctx.tables.read(catalog.GOLD_USER_CANDIDATES)
        .where(F.col("source") == "personal")
        .select(F.col("item_ids")[0].alias("i"))
    )
    return int(firsts["i"].mode()[0])


def factors_of(ctx: JobContext, table: str, key: str, ids: list[int], version: str) -> dict[int, np.ndarray]:
    rows = ctx.tables.read(table).where(F.col(key).isin(ids) & (F.col("model_version") == version)).collect()
    return {r[key]: np.asarray(r.factors, np.float32) for r in rows}


def ranked_scores(ctx: JobContext, live, item_id: int, dot: dict[int, float]) -> dict[int, float]:
    """The registered ranker's score of (user, new listing) with the listing's features at its listing time."""
    listing = to_pandas(ctx.tables.read(catalog.BRONZE_ITEMS).where(F.col("item_id") == item_id))
    now = pd.Timestamp(listing["listed_at"].iloc[0]).to_pydatetime()
    tables, _ = ranking_stage.fresh_feature_tables(ctx, as_of_from_end(live.generated_at), listing, now)
    pairs = ctx.spark.createDataFrame(
        [(u, item_id, score, 1) for u, score in dot.items()],
        "user_id long, item_id long, model_score double, model_rank int",
    )
    featured = to_pandas(pairs.transform(ranking_features.with_features(tables)))
    ranker = tracking.learned_ranker(ctx.settings, ctx.config.model.name, live.model_version)
    assert ranker is not None
    return dict(zip(featured["user_id"], ranker.predict(featured)))


def test_a_new_listing_reaches_matching_users_lists_scored_as_the_batch_scores(daily):
    ctx, target = daily
    live = overlays.live_batch(target.client())
    new_item = 10**7 + 1
    append_listing(ctx, target, popular_listing(ctx), new_item, timedelta(hours=1))
    summary = refresh(ctx, FRESH, target)
    assert summary["listings"] == 1 and summary["users"] > 0 and summary["entries"] == summary["users"]

    overlay = to_pandas(ctx.tables.read(catalog.GOLD_FRESH_OVERLAYS))
    assert set(overlay["batch_version"]) == {live.version}
    vector = factors_of(ctx, catalog.GOLD_FRESH_LISTINGS, "item_id", [new_item], live.model_version)[new_item]
    users = factors_of(ctx, catalog.GOLD_USER_FACTORS, "user_id", overlay["user_id"].tolist(), live.model_version)
    # the overlay's score is the batch's ranker on the pair's features, the model's dot product among them: the
    # same scorer as the batch lists
    expected = ranked_scores(ctx, live, new_item, {u: float(users[u] @ vector) for u in users})
    for row in overlay.itertuples():
        assert list(row.item_ids) == [new_item]
        np.testing.assert_allclose(row.scores[0], expected[row.user_id], rtol=1e-5)
    best = int(overlay.loc[overlay["scores"].map(lambda s: s[0]).idxmax(), "user_id"])
    reader = RecommendationReader(target)
    rec = reader.for_user(best, n=RULES.list_length + 1)
    assert new_item in rec.item_ids and rec.sources[rec.item_ids.index(new_item)] == "fresh"
    personal = [s for s, src in zip(rec.scores, rec.sources) if src in ("foryou", "fresh")]
    assert personal == sorted(personal, reverse=True)  # merged by score


def test_the_fresh_path_gives_a_listing_without_history_its_batch_vector(daily):
    """One feature code path: the registered listing side, fed a listing's attributes as the fresh job feeds them,
    returns the vector training wrote for that listing (listings for sale without history)."""
    ctx, target = daily
    live = overlays.live_batch(target.client())
    indexed = ctx.tables.read(catalog.SILVER_ITEM_INDEX).select("item_id")
    cold = (
        ctx.tables.read(catalog.SILVER_ITEMS)
        .join(ctx.tables.read(catalog.GOLD_ITEM_FACTORS).where(F.col("model_version") == live.model_version), "item_id")
        .join(indexed, "item_id", "left_anti")
        .transform(with_seller_country(ctx.tables.read(catalog.SILVER_USERS)))
        .select("item_id", "factors", *LISTING_ATTRIBUTES)
        .orderBy("item_id")
    )
    listings = to_pandas(cold)
    assert len(listings) >= 3
    side = tracking.listing_side(ctx.settings, ctx.config.model.name, live.model_version)
    assert side is not None
    np.testing.assert_allclose(side.vectors(listings), np.stack(listings["factors"]), rtol=1e-5, atol=1e-6)


def test_overlays_merge_run_after_run_drop_sold_listings_and_end_at_the_next_publish(daily):
    ctx, target = daily
    reader = RecommendationReader(target)
    like = popular_listing(ctx)
    first, second, third = 10**7 + 11, 10**7 + 12, 10**7 + 13
    append_listing(ctx, target, like, first, timedelta(hours=2))
    refresh(ctx, FRESH, target)
    again = refresh(ctx, FRESH, target)  # nothing new: nothing changes
    assert again["listings"] == 0
    append_listing(ctx, target, like, second, timedelta(hours=3))
    refresh(ctx, FRESH, target)
    overlay = to_pandas(ctx.tables.read(catalog.GOLD_FRESH_OVERLAYS))
    assert overlay["item_ids"].map(lambda ids: {first, second} <= set(ids)).any()  # merged with the previous run

    live = overlays.live_batch(target.client())
    purchase(ctx, first, live.generated_at + timedelta(hours=3, minutes=30))
    append_listing(ctx, target, like, third, timedelta(hours=4))
    summary = refresh(ctx, FRESH, target)
    overlay = to_pandas(ctx.tables.read(catalog.GOLD_FRESH_OVERLAYS))
    assert not overlay["item_ids"].map(lambda ids: first in set(ids)).any()  # sold: dropped
    assert overlay["item_ids"].map(lambda ids: {second, third} <= set(ids)).any()
    assert reader.live_version(keys.FRESH_SURFACE) == summary["fresh_version"]
    user = int(overlay["user_id"].iloc[0])
    assert "fresh" in reader.for_user(user, n=RULES.list_length + FRESH.overlay_length).sources

    assert publish(ctx, PUBLISHING, target)["unchanged"]  # the live lists again: nothing written, overlays stay
    assert reader.live_version(keys.FRESH_SURFACE) == summary["fresh_version"]
    lists = ctx.tables.read(catalog.GOLD_USER_CANDIDATES)
    next_batch = ctx.spark.createDataFrame(lists.collect(), lists.schema)
    ctx.tables.overwrite(next_batch, catalog.GOLD_USER_CANDIDATES)  # the next batch's lists: a new Delta version
    publish(ctx, PUBLISHING, target)  # the next full publish ends the overlays
    assert reader.live_version(keys.FRESH_SURFACE) is None
    assert "fresh" not in reader.for_user(user, n=RULES.list_length + FRESH.overlay_length).sources
