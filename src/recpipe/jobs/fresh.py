"""`recpipe fresh`: listings created since the live lists were built, scored for every user of those lists and
published as per-user overlays that readers merge with the lists by score."""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recpipe import catalog, schemas, tracking
from recpipe.config import (
    CandidatesConfig,
    FreshConfig,
    InteractionsConfig,
    PublishConfig,
    load_job_config,
    load_settings,
)
from recpipe.jobs.context import JobContext
from recpipe.quality.rules import bronze_rules
from recpipe.quality.validation import validate_table
from recpipe.serving import keys, overlays
from recpipe.serving import publisher as P
from recpipe.serving.connection import RedisTarget, resolve_target
from recpipe.spark import get_spark
from recpipe.tables import to_pandas
from recpipe.transforms import availability as A
from recpipe.transforms import candidates as C
from recpipe.transforms import fresh as FR
from recpipe.transforms import serving_inputs as S
from recpipe.transforms.training_inputs import LISTING_ATTRIBUTES, with_seller_country

log = logging.getLogger(__name__)

NAME = "fresh"
DESCRIPTION = """\
Reads the live foryou version from Redis (its manifest names the model version and when its lists' data ends),
takes the bronze.items listings created after those in the live overlay of that version (or after the lists'
data when there is none), still for sale and passing the bronze item rules (failing rows go to quarantine.items), computes their
vectors with the model version's listing side (the registered listing feature encoder and model: the vectors the
batch gives listings without history), scores them for every user with a personal list in the live version with
the candidates job's scorer and rules (own listings excluded, max_per_seller), merges the result by score with the
overlay the user is served now (read from Redis on the executors; sold listings dropped), writes gold.fresh_listings and gold.fresh_overlays, and publishes
the overlays to Redis as surface `fresh` under a new version: written, read back and verified, then switched only
while the same foryou version is live. The next publish ends the overlays. monitoring.fresh_runs records each run."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--until",
        type=datetime.fromisoformat,
        help="only listings and sales up to this UTC time (replays and backfills; default: all that has arrived)",
    )
    parser.add_argument("--redis-url", help="override the target's Redis URL (credentials go in REDIS_PASSWORD)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = load_job_config(NAME, FreshConfig, args.conf, args.set)
    settings = load_settings()
    publishing = load_job_config("publish", PublishConfig)
    target = resolve_target(
        args.redis_url or settings.redis_url,
        settings.redis_secret_scope,
        retries=publishing.retries,
        retry_budget_s=publishing.retry_budget_s,
    )
    target.check()  # before Spark starts: a wrong URL fails in seconds
    ctx = JobContext.for_settings(NAME, settings, get_spark(settings, app_name=f"recpipe-{NAME}"))
    return refresh(ctx, config, target, load_job_config("candidates", CandidatesConfig), publishing, args.until)


def overlay_users(ctx: JobContext, live: overlays.LiveBatch) -> DataFrame:
    """``user_id, factors`` of the users whose published list is personal: scores of the same model compare, so
    an overlay merges into their list (a fallback list's scores are counts). The lists as published: the Delta
    version of gold.user_candidates that publish recorded for the live version."""
    manifests = ctx.tables.read(catalog.MONITORING_PUBLISH_MANIFESTS)
    published = manifests.where((F.col("version") == live.version) & (F.col("surface") == "foryou")).first()
    if published is None:
        raise P.PublishError(f"{catalog.MONITORING_PUBLISH_MANIFESTS} has no row for live version {live.version}")
    lists = ctx.tables.read(catalog.GOLD_USER_CANDIDATES, version=int(published.gold_version))
    personal = lists.where(F.col("source") == C.PERSONAL_SOURCE).select("user_id")
    factors = ctx.tables.read(catalog.GOLD_USER_FACTORS).where(F.col("model_version") == live.model_version)
    return factors.join(personal, "user_id").select("user_id", "factors")


def fresh_version_of(live: overlays.LiveBatch, listed_until: datetime) -> str:
    """Deterministic: a rerun over the same listings rewrites the same version."""
    return f"{live.version}-f{listed_until:%Y%m%d%H%M%S}"


def score_overlays(
    ctx: JobContext,
    target: RedisTarget,
    users: DataFrame,
    listings: C.Catalog,
    own: DataFrame,
    previous: overlays.LiveOverlay | None,
    gone: np.ndarray,
    config: FreshConfig,
    rules: CandidatesConfig,
    stamp: dict[str, str],
) -> int:
    """Users (``user_id, factors``) x new listings on the executors with the candidates job's scorer and rules
    (``own``: ``user_id, exclude``, each seller's new listings: a few rows, broadcast), merged by score with the
    overlay each user is served now (``previous``; ``gone`` ids dropped), written to gold.fresh_overlays. One pass
    over the users, no shuffle. Returns the users with an overlay."""
    t, spark = ctx.tables, ctx.spark
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(config.batch_size))
    merged = (
        users.transform(C.with_exclusions(F.broadcast(own)))
        .select("user_id", "factors", "exclude")
        .transform(
            C.score_top_k(C.broadcast_catalog(spark, listings), "user_id", config.overlay_length, rules.max_per_seller)
        )
        .transform(
            FR.merged_with_served(
                target, previous, spark.sparkContext.broadcast(np.unique(gone)), config.overlay_length
            )
        )
    )
    stamped = merged.where(F.size("item_ids") > 0).select("*", *[F.lit(v).alias(k) for k, v in stamp.items()])
    t.overwrite(stamped, catalog.GOLD_FRESH_OVERLAYS)
    written = t.rows_written(catalog.GOLD_FRESH_OVERLAYS)
    ctx.stages.count(catalog.GOLD_FRESH_OVERLAYS, written)
    return written


def publish_overlays(
    ctx: JobContext,
    target: RedisTarget,
    publishing: PublishConfig,
    fresh_version: str,
    manifest: dict[str, str],
    expire_s: int,
) -> P.SurfaceStats:
    """gold.fresh_overlays into Redis as surface ``fresh``: written, read back and verified like a publish, then
    switched while the lists it was built for (``manifest["batch_version"]``) are live."""
    entries = S.foryou_entries(ctx.tables.read(catalog.GOLD_FRESH_OVERLAYS)).transform(
        S.by_bucket(publishing.foryou_buckets, publishing.write_partitions)
    )
    written = P.publish_surface(
        ctx.spark,
        entries,
        target,
        keys.FRESH_SURFACE,
        fresh_version,
        publishing.foryou_buckets,
        publishing.batch_size,
        manifest,
        verify=publishing.verify,
    )
    overlays.switch_overlay(target.check(), fresh_version, manifest["batch_version"], expire_s)
    ctx.stages.count("redis fresh entries", written.entries)
    return written


def unavailable_since(
    items: DataFrame, events: DataFrame, live: overlays.LiveBatch, until: datetime | None
) -> DataFrame:
    """``item_id, at`` of listings sold or deleted since the lists' data end (by ``until``): from the listings
    created since and the purchases since."""
    events_since = events.where(F.col("event_ts") > F.lit(live.generated_at))
    if until is not None:
        events_since = events_since.where(F.col("event_ts") <= F.lit(until))
    gone = A.unavailable_in(items.transform(FR.listed_after(live.generated_at, until)), events_since)
    return gone if until is None else gone.where(F.col("at").isNull() | (F.col("at") <= F.lit(until)))


def valid_new_listings(ctx: JobContext, candidates: DataFrame, run_id: str) -> tuple[pd.DataFrame, int]:
    """New listings that pass the bronze item rules, with their sellers' country, on the driver (a few thousand
    rows); failing rows go to quarantine.items with the rules they broke. Returns them and the quarantined count."""
    if candidates.isEmpty():
        return pd.DataFrame(), 0
    validation = load_job_config("interactions", InteractionsConfig).validation
    platform_start = datetime.combine(validation.platform_start, datetime.min.time())
    rules = bronze_rules("items", platform_start, datetime.now(UTC))
    checked = validate_table(candidates, "items", schemas.ITEMS, rules, run_id)
    ctx.tables.replace_where(checked.quarantine, catalog.QUARANTINE_ITEMS, f"run_id = '{run_id}'")
    ctx.stages.count(catalog.quarantine_of(catalog.BRONZE_ITEMS), checked.quarantined)
    sellers = ctx.tables.read(catalog.SILVER_USERS)
    listings = checked.valid.transform(with_seller_country(sellers)).select("item_id", "seller_id", *LISTING_ATTRIBUTES)
    return to_pandas(listings).sort_values("item_id"), checked.quarantined


def refresh(
    ctx: JobContext,
    config: FreshConfig,
    target: RedisTarget,
    rules: CandidatesConfig,
    publishing: PublishConfig,
    until: datetime | None = None,
) -> dict[str, Any]:
    """One fresh run; ``until``: consider only listings and sales up to then (a replay of a past day)."""
    t, stages, spark = ctx.tables, ctx.stages, ctx.spark
    started = time.perf_counter()
    live = overlays.live_batch(target.check())
    # the state is what is served: the live overlay of these lists holds every listing up to its listed_until
    previous = overlays.live_overlay(target.check(), live.version)
    since = previous.listed_until if previous is not None else live.generated_at
    items, events = t.read(catalog.BRONZE_ITEMS), t.read(catalog.BRONZE_EVENTS)
    summary: dict[str, Any] = {"batch_version": live.version, "model_version": live.model_version, "since": str(since)}

    with stages.stage("new listings"):
        run_id = ctx.run_id(live.version, str(since), str(until), sorted(t.versions_read.items()))
        gone = unavailable_since(items, events, live, until).cache()
        listings, quarantined = valid_new_listings(ctx, items.transform(FR.new_listings(since, gone, until)), run_id)
        stages.count("new listings", len(listings))
    if listings.empty:
        log.info("no new listings since %s for version %s: nothing to publish", since, live.version)
        gone.unpersist()
        return {**stages.summary(), **summary, "listings": 0}

    side = tracking.listing_side(ctx.settings, rules.model_name, live.model_version)
    if side is None:
        log.warning("model version %s has no listing side: new listings wait for the next batch", live.model_version)
        gone.unpersist()
        return {**stages.summary(), **summary, "listings": len(listings), "scored": 0}

    listed_until = pd.Timestamp(listings["listed_at"].max()).to_pydatetime()
    fresh_version = fresh_version_of(live, listed_until)
    stamp = {"model_version": live.model_version, "batch_version": live.version, "fresh_version": fresh_version}
    with stages.stage("vectors"):
        vectors = side.vectors(listings)
        t.replace_where(
            spark.createDataFrame(
                pd.DataFrame(
                    {
                        "item_id": listings["item_id"].to_numpy(np.int64),
                        "seller_id": listings["seller_id"].to_numpy(np.int64),
                        "listed_at": listings["listed_at"],
                        "factors": list(vectors),
                        **stamp,
                    }
                ),
                catalog.columns(catalog.GOLD_FRESH_LISTINGS),
            ),
            catalog.GOLD_FRESH_LISTINGS,
            f"fresh_version = '{fresh_version}'",
        )

    with stages.stage("overlays"):
        new = t.read(catalog.GOLD_FRESH_LISTINGS).where(F.col("fresh_version") == fresh_version)
        users = score_overlays(
            ctx,
            target,
            overlay_users(ctx, live),
            C.Catalog(listings["item_id"].to_numpy(np.int64), vectors, listings["seller_id"].to_numpy(np.int64)),
            FR.own_new_listings(new),
            previous,
            np.array([r.item_id for r in gone.collect()], dtype=np.int64),
            config,
            rules,
            stamp,
        )
    gone.unpersist()

    with stages.stage("publish"):
        manifest = {
            "batch_version": live.version,
            "model_version": live.model_version,
            "run_id": run_id,
            "listed_until": str(listed_until),
        }
        written = publish_overlays(ctx, target, publishing, fresh_version, manifest, config.expire_after_s)

    record = {
        "fresh_version": fresh_version,
        "batch_version": live.version,
        "model_version": live.model_version,
        "run_id": run_id,
        "listed_after": since,
        "listed_until": listed_until,
        "listings": len(listings),
        "quarantined": quarantined,
        "users": users,
        "entries": written.entries,
        "seconds": round(time.perf_counter() - started, 3),
        "published_at": datetime.now(UTC).replace(tzinfo=None),
    }
    t.replace_where(
        spark.createDataFrame([record], catalog.columns(catalog.MONITORING_FRESH_RUNS)),
        catalog.MONITORING_FRESH_RUNS,
        f"fresh_version = '{fresh_version}'",
    )
    log.info(
        "published fresh overlay %s (%d listings, %d users) over %s", fresh_version, len(listings), users, live.version
    )
    return {**stages.summary(), **summary, **{k: v for k, v in record.items() if k not in ("listed_after",)}}
