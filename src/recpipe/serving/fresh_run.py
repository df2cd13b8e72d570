"""The steps of one fresh run (``recpipe fresh``): which users get an overlay, which listings are new and valid,
their vectors, the overlays scored and merged with what each user is served, and their publication as surface
``fresh`` while the lists they were built for are live."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config import CandidatesConfig, FreshConfig, PublishConfig, ValidationConfig
from recpipe.quality.bronze import validate_items
from recpipe.serving import keys, overlays, publisher
from recpipe.serving.connection import RedisTarget
from recpipe.tables import Tables, to_pandas
from recpipe.transforms import availability, candidates, fresh, serving_inputs
from recpipe.transforms.interactions import Transform
from recpipe.transforms.training_inputs import LISTING_ATTRIBUTES, with_seller_country


def overlay_users(tables: Tables, live: overlays.LiveBatch) -> DataFrame:
    """``user_id, factors`` of the users whose published list is personal: scores of the same model compare, so
    an overlay merges into their list (a fallback list's scores are counts). The lists as published: the Delta
    version of gold.user_candidates that publish recorded for the live version."""
    manifests = tables.read(catalog.MONITORING_PUBLISH_MANIFESTS)
    published = manifests.where((F.col("version") == live.version) & (F.col("surface") == "foryou")).first()
    if published is None:
        raise publisher.PublishError(
            f"{catalog.MONITORING_PUBLISH_MANIFESTS} has no row for live version {live.version}"
        )
    lists = tables.read(catalog.GOLD_USER_CANDIDATES, version=int(published.gold_version))
    personal = lists.where(F.col("source") == candidates.PERSONAL_SOURCE).select("user_id")
    factors = tables.read(catalog.GOLD_USER_FACTORS).where(F.col("model_version") == live.model_version)
    return factors.join(personal, "user_id").select("user_id", "factors")


def fresh_version_of(live: overlays.LiveBatch, listed_until: datetime) -> str:
    """Deterministic: a rerun over the same listings rewrites the same version."""
    return f"{live.version}-f{listed_until:%Y%m%d%H%M%S}"


def unavailable_since(
    items: DataFrame, events: DataFrame, live: overlays.LiveBatch, until: datetime | None
) -> DataFrame:
    """``item_id, at`` of listings sold or deleted since the lists' data end (by ``until``): from the listings
    created since and the purchases since."""
    events_since = events.where(F.col("event_ts") > F.lit(live.generated_at))
    if until is not None:
        events_since = events_since.where(F.col("event_ts") <= F.lit(until))
    gone = availability.unavailable_in(items.transform(fresh.listed_after(live.generated_at, until)), events_since)
    return gone if until is None else gone.where(F.col("at").isNull() | (F.col("at") <= F.lit(until)))


def valid_new_listings(
    tables: Tables, new: DataFrame, validation: ValidationConfig, run_id: str
) -> tuple[pd.DataFrame, int]:
    """New listings that pass the bronze item rules (the batch's validation, with the run's settings), with their
    sellers' country, on the driver (a few thousand rows); failing rows go to quarantine.items with the rules they
    broke. Returns them and the quarantined count."""
    if new.isEmpty():
        return pd.DataFrame(), 0
    checked = validate_items(new, validation, run_id, datetime.now(UTC))
    tables.replace_where(checked.quarantine, catalog.QUARANTINE_ITEMS, f"run_id = '{run_id}'")
    sellers = tables.read(catalog.SILVER_USERS)
    listings = checked.valid.transform(with_seller_country(sellers)).select("item_id", "seller_id", *LISTING_ATTRIBUTES)
    return to_pandas(listings).sort_values("item_id"), checked.quarantined


def listing_vectors(listings: pd.DataFrame, vectors: np.ndarray) -> candidates.ListingVectors:
    """The new listings' vectors as the scorer's catalog (ids, vectors, sellers)."""
    return candidates.ListingVectors(
        listings["item_id"].to_numpy(np.int64), vectors, listings["seller_id"].to_numpy(np.int64)
    )


def listing_frame(spark: SparkSession, listings: pd.DataFrame, vectors: np.ndarray, stamp: dict[str, str]) -> DataFrame:
    """gold.fresh_listings rows: each new listing's vector with the versions it was scored for."""
    rows = pd.DataFrame(
        {
            "item_id": listings["item_id"].to_numpy(np.int64),
            "seller_id": listings["seller_id"].to_numpy(np.int64),
            "listed_at": listings["listed_at"],
            "factors": list(vectors),
            **stamp,
        }
    )
    return spark.createDataFrame(rows, catalog.columns(catalog.GOLD_FRESH_LISTINGS))


def write_overlays(
    tables: Tables,
    target: RedisTarget,
    users: DataFrame,
    listings: candidates.ListingVectors,
    own: DataFrame,
    previous: overlays.LiveOverlay | None,
    gone: np.ndarray,
    config: FreshConfig,
    rules: CandidatesConfig,
    stamp: dict[str, str],
    rank: Transform | None = None,
) -> int:
    """Users (``user_id, factors``: ``overlay_users``) x new listings on the executors with the candidates job's
    scorer and the run's served rules (``own``: ``user_id, exclude``, each seller's new listings: a few rows,
    broadcast), merged by score with the overlay each user is served now (``previous``; ``gone`` ids dropped),
    written to gold.fresh_overlays with ``stamp``. ``rank``: the batch's learned ranker re-ranking each overlay
    (``ranking_stage.overlay_ranking``), so its scores compare with the lists'. Returns the users with an overlay."""
    spark = tables.spark
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(config.batch_size))
    scored_against = candidates.broadcast_listings(spark, listings)
    served_gone = spark.sparkContext.broadcast(np.unique(gone))
    merged = (
        users.transform(candidates.with_exclusions(F.broadcast(own)))
        .select("user_id", "factors", "exclude")
        .transform(candidates.score_top_k(scored_against, "user_id", config.overlay_length, rules.max_per_seller))
        .transform(rank or (lambda overlays: overlays))
        .transform(fresh.merged_with_served(target, previous, served_gone, config.overlay_length))
        .where(F.size("item_ids") > 0)
    )
    tables.overwrite(merged.select("*", *[F.lit(v).alias(k) for k, v in stamp.items()]), catalog.GOLD_FRESH_OVERLAYS)
    return tables.rows_written(catalog.GOLD_FRESH_OVERLAYS)


def publish_overlays(
    tables: Tables,
    target: RedisTarget,
    publishing: PublishConfig,
    fresh_version: str,
    manifest: dict[str, str],
    expire_s: int,
) -> publisher.SurfaceStats:
    """gold.fresh_overlays into Redis as surface ``fresh``: written, read back and verified like a publish, then
    switched while the lists it was built for (``manifest["batch_version"]``) are live."""
    entries = serving_inputs.foryou_entries(tables.read(catalog.GOLD_FRESH_OVERLAYS)).transform(
        serving_inputs.by_bucket(publishing.foryou_buckets, publishing.write_partitions)
    )
    written = publisher.publish_surface(
        tables.spark,
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
    return written


def run_record(fresh_version: str, live: overlays.LiveBatch, run_id: str, **figures: Any) -> dict[str, Any]:
    """monitoring.fresh_runs' row of a run (the next run starts after its listed_until)."""
    return {
        "fresh_version": fresh_version,
        "batch_version": live.version,
        "model_version": live.model_version,
        "run_id": run_id,
        **figures,
        "published_at": datetime.now(UTC).replace(tzinfo=None),
    }
