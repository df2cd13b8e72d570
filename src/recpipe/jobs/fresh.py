"""`recpipe fresh`: listings created since the live lists were built, scored for every user of those lists and
published as per-user overlays that readers merge with the lists by score."""

from __future__ import annotations

import argparse
import logging
import time
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from recpipe import catalog, ranking_stage, tracking
from recpipe.config import FreshConfig, load_run_config, load_settings
from recpipe.jobs.context import JobContext
from recpipe.run_day import as_of_from_end
from recpipe.serving import fresh_run, overlays
from recpipe.serving.connection import RedisTarget, target_for
from recpipe.spark import get_spark
from recpipe.tables import rows_frame
from recpipe.transforms import fresh

log = logging.getLogger(__name__)

NAME = "fresh"
DESCRIPTION = """\
Reads the live foryou version from Redis (its manifest names the model version and when its lists' data ends),
takes the bronze.items listings created since (after the live overlay's, else after the lists' data), still for sale
and passing the bronze item rules (failing rows go to quarantine.items), computes their vectors with the model
version's listing side, scores them for every user with a personal list in the live version with the candidates
scorer and the run's served rules, merges the result by score with the overlay the user is served now (sold
listings dropped), writes gold.fresh_listings and gold.fresh_overlays, and publishes the overlays as surface
`fresh`: verified, then switched only while the same foryou version is live. monitoring.fresh_runs records each."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--until",
        type=datetime.fromisoformat,
        help="only listings and sales up to this UTC time (replays and backfills; default: all that has arrived)",
    )
    parser.add_argument("--redis-url", help="override the target's Redis URL (credentials go in REDIS_PASSWORD)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    run_config, settings = load_run_config(NAME, args.conf, args.set), load_settings()
    target = target_for(settings, run_config.publish, args.redis_url)
    target.check()  # before Spark starts: a wrong URL fails in seconds
    spark = get_spark(settings, app_name=f"recpipe-{NAME}")
    ctx = JobContext.for_settings(NAME, settings, spark, config=run_config)
    return refresh(ctx, run_config.fresh, target, args.until)


def refresh(ctx: JobContext, config: FreshConfig, target: RedisTarget, until: datetime | None = None) -> dict[str, Any]:
    """One fresh run; ``until``: consider only listings and sales up to then (a replay of a past day)."""
    t, stages, started = ctx.tables, ctx.stages, time.perf_counter()
    live = overlays.live_batch(target.check())
    # the state is what is served: the live overlay of these lists holds every listing up to its listed_until
    previous = overlays.live_overlay(target.check(), live.version)
    since = previous.listed_until if previous is not None else live.generated_at
    items, events = t.read(catalog.BRONZE_ITEMS), t.read(catalog.BRONZE_EVENTS)
    summary: dict[str, Any] = {"batch_version": live.version, "model_version": live.model_version, "since": str(since)}

    with stages.stage("new listings"):
        run_id = ctx.run_id(live.version, str(since), str(until), sorted(t.versions_read.items()))
        gone = fresh_run.unavailable_since(items, events, live, until).cache()
        new = items.transform(fresh.new_listings(since, gone, until))
        validation = ctx.config.interactions.validation
        listings, quarantined = fresh_run.valid_new_listings(t, new, validation, run_id)
        stages.count(catalog.QUARANTINE_ITEMS, quarantined)
        stages.count("new listings", len(listings))
    side = None if listings.empty else tracking.listing_side(ctx.settings, ctx.config.model.name, live.model_version)
    if side is None:
        log.info("no new listings, or model version %s has no listing side: nothing to publish", live.model_version)
        gone.unpersist()
        return {**stages.summary(), **summary, "listings": len(listings), "scored": 0}

    listed_until = pd.Timestamp(listings["listed_at"].max()).to_pydatetime()
    fresh_version = fresh_run.fresh_version_of(live, listed_until)
    stamp = {"model_version": live.model_version, "batch_version": live.version, "fresh_version": fresh_version}
    with stages.stage("vectors"):
        vectors = side.vectors(listings)
        rows = fresh_run.listing_frame(ctx.spark, listings, vectors, stamp)
        t.replace_where(rows, catalog.GOLD_FRESH_LISTINGS, f"fresh_version = '{fresh_version}'")

    with stages.stage("overlays"):
        gone_ids = np.array([r.item_id for r in gone.collect()], dtype=np.int64)
        new_vectors = fresh_run.listing_vectors(listings, vectors)
        own = fresh.own_new_listings(t.read(catalog.GOLD_FRESH_LISTINGS).where(F.col("fresh_version") == fresh_version))
        users, rules = fresh_run.overlay_users(t, live), ctx.config.candidates
        as_of, length = as_of_from_end(live.generated_at), config.overlay_length
        rank = ranking_stage.overlay_ranking(  # the batch's ranker: overlay scores compare with the lists'
            ctx, live.model_version, as_of, listings, length, rules.max_per_seller, listed_until
        )
        scored = fresh_run.write_overlays(
            t, target, users, new_vectors, own, previous, gone_ids, config, rules, stamp, rank
        )
        stages.count(catalog.GOLD_FRESH_OVERLAYS, scored)
    gone.unpersist()

    with stages.stage("publish"):
        manifest = {"batch_version": live.version, "model_version": live.model_version, "run_id": run_id}
        manifest["listed_until"] = str(listed_until)
        publishing, expire_s = ctx.config.publish, config.expire_after_s
        written = fresh_run.publish_overlays(t, target, publishing, fresh_version, manifest, expire_s)
        stages.count("redis fresh entries", written.entries)

    record = fresh_run.run_record(
        fresh_version, live, run_id, listed_after=since, listed_until=listed_until, listings=len(listings),
        quarantined=quarantined, users=scored, entries=written.entries,
        seconds=round(time.perf_counter() - started, 3),
    )  # fmt: skip
    runs = rows_frame(ctx.spark, catalog.MONITORING_FRESH_RUNS, [record])
    t.replace_where(runs, catalog.MONITORING_FRESH_RUNS, f"fresh_version = '{fresh_version}'")
    log.info("published fresh overlay %s (%d listings, %d users) over %s", fresh_version, len(listings), scored, live.version)  # fmt: skip
    return {**stages.summary(), **summary, **{k: v for k, v in record.items() if k != "listed_after"}}
