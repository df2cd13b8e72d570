"""`recpipe publish`: load gold candidate lists into Redis as a new verified version, then switch pointers."""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from typing import Any

from recpipe import catalog
from recpipe.config import PublishConfig, Settings, load_run_config, load_settings
from recpipe.jobs.context import JobContext, requested_as_of
from recpipe.monitoring import rollbacks, runs
from recpipe.run_day import add_as_of_arguments, as_of_from_end
from recpipe.serving import keys, publication, publisher
from recpipe.serving.connection import RedisTarget, target_for
from recpipe.spark import get_spark
from recpipe.tables import rows_frame

log = logging.getLogger(__name__)

NAME = "publish"
DESCRIPTION = """\
Writes gold.user_candidates, gold.similar_items and gold.fallback_candidates into Redis under a new version from
the executors (pipelined, retried), reads everything back to verify counts and checksums, records manifests in
Redis and in monitoring.publish_manifests, then switches every surface's pointer in one transaction. Versions past
keep_versions expire. --rollback points every surface back at its previous complete version (Redis only, no Spark).
--dry-run prints what would be written and the estimated memory, without connecting. Redis: --redis-url,
RECPIPE_REDIS_URL or REDIS_URL, else the secret scope; password: REDIS_PASSWORD or the secret scope (never logged)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser)
    parser.add_argument("--rollback", action="store_true", help="point every surface back at its previous version")
    parser.add_argument("--dry-run", action="store_true", help="print what would be written and the memory estimate")
    parser.add_argument("--redis-url", help="override the target's Redis URL (credentials go in REDIS_PASSWORD)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    run_config, settings = load_run_config(NAME, args.conf, args.set), load_settings()
    config = run_config.publish
    if args.rollback:
        return roll_back(settings, config, args.redis_url)
    target = None if args.dry_run else target_for(settings, config, args.redis_url)
    if target is not None:
        target.check()  # before Spark starts: a wrong URL fails in seconds, not after a minute of start-up
    spark = get_spark(settings, app_name=f"recpipe-{NAME}")
    ctx = JobContext.for_settings(NAME, settings, spark, requested_as_of(args), run_config)
    return publish(ctx, config, target) if target is not None else dry_run(ctx, config)


def roll_back(settings: Settings, config: PublishConfig, redis_url: str | None) -> dict[str, Any]:
    """Point every surface at its previous version: Redis only, no Spark; recorded for the report."""
    target = target_for(settings, config, redis_url)
    abandoned, restored = publisher.rollback(
        target.check(), list(keys.BATCH_SURFACES), config.expire_after_s, keys.OPTIONAL_SURFACES
    )
    event = rollbacks.record(settings.artifacts, abandoned, restored)
    return {"job": NAME, "rolled_back_to": restored, "abandoned": abandoned, "at": event.at}


def versioned_surfaces(ctx: JobContext, config: PublishConfig):
    """The surfaces to publish, the lists' version id and manifest; the lists must be of the run's as-of."""
    published = publication.surfaces(ctx.tables, config)
    stamp = publication.lists_stamp(ctx.tables)
    ctx.check_as_of(catalog.GOLD_USER_CANDIDATES, as_of_from_end(stamp.generated_at), "recpipe candidates")
    version, manifest = publication.version_of(ctx.tables, stamp, [table for table, _, _ in published.values()])
    return published, version, manifest


def dry_run(ctx: JobContext, config: PublishConfig) -> dict[str, Any]:
    published, version, _ = versioned_surfaces(ctx, config)
    report = publication.dry_run_report(published, version, config.batch_size)
    return {"job": NAME, "dry_run": True, "version": version, "surfaces": report}


def publish(ctx: JobContext, config: PublishConfig, target: RedisTarget, before_verify=None) -> dict[str, Any]:
    """Write the gold lists under a version no reader is sent to, verify, then switch; a publish of the lists
    already live (and verifying) writes nothing. A lost connection ends in one line; the live version stays."""
    with publisher.lost_connection_in_one_line(target):
        published, base, manifest = versioned_surfaces(ctx, config)
        if config.require_gate:
            publication.require_passed_gate(ctx.tables, manifest["run_id"])
        client, names = target.check(), list(published)
        if publisher.is_live(client, base, names) and publisher.verify_live(ctx.spark, target, base, names):
            log.info("version %s of these lists is live and verifies: nothing to publish", base)
            runs.mark_published(ctx.tables, ctx.settings, ctx.stages.summary(), manifest, base)
            return {**ctx.stages.summary(), "version": base, "unchanged": True, "redis": target.safe_url}
        version = publisher.unreferenced_version(client, base, names, {s: b for s, (_, _, b) in published.items()})
        stats = {}
        for surface, (_, df, buckets) in published.items():
            with ctx.stages.stage(f"write {surface}"):
                stats[surface] = publisher.publish_surface(
                    ctx.spark, df, target, surface, version, buckets, config.batch_size, manifest,
                    verify=config.verify, before_verify=before_verify,
                )  # fmt: skip
                ctx.stages.count(f"redis {surface} entries", stats[surface].entries)
        with ctx.stages.stage("switch"):
            unavailable = publication.unavailable_listed_items(ctx.tables)
            built_at = datetime.fromisoformat(manifest["generated_at"]).replace(tzinfo=UTC).timestamp()
            publisher.switch(
                target.check(), version, list(stats), unavailable, config.keep_versions, config.expire_after_s,
                lists_built_at=built_at,
            )  # fmt: skip
            ctx.stages.count("unavailable listed items", len(unavailable))
    gold_version = ctx.tables.versions_read[catalog.GOLD_USER_CANDIDATES]
    rows = publication.manifest_rows(version, stats, manifest, gold_version)
    table = catalog.MONITORING_PUBLISH_MANIFESTS
    ctx.tables.replace_where(rows_frame(ctx.spark, table, rows), table, f"version = '{version}'")
    log.info("published version %s to %s", version, target.safe_url)
    runs.mark_published(ctx.tables, ctx.settings, ctx.stages.summary(), manifest, version)
    surfaces = {k: {"entries": v.entries, "checksum": str(v.checksum), "bytes": v.bytes} for k, v in stats.items()}
    return {**ctx.stages.summary(), "version": version, "redis": target.safe_url, "surfaces": surfaces}
