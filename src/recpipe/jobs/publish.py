"""`recpipe publish`: load gold candidate lists into Redis as a new verified version, then switch pointers."""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recpipe import catalog, tracking
from recpipe.config import PublishConfig, Settings, load_job_config, load_settings
from recpipe.jobs.context import JobContext, add_as_of_arguments, requested_as_of
from recpipe.monitoring import rollbacks, runs
from recpipe.quality.gold import require_encoded_lists
from recpipe.serving import keys
from recpipe.serving import publisher as P
from recpipe.serving.connection import RedisTarget, resolve_target
from recpipe.spark import get_spark
from recpipe.tables import first_row
from recpipe.transforms import availability as A
from recpipe.transforms import serving_inputs as S
from recpipe.transforms.interactions import as_of_from_end

log = logging.getLogger(__name__)

NAME = "publish"
DESCRIPTION = """\
Writes gold.user_candidates, gold.similar_items and gold.fallback_candidates into Redis under a new version from
the executors (pipelined, retried), reads everything back to verify counts and checksums, records manifests in
Redis and in monitoring.publish_manifests, then switches every surface's pointer in one transaction. Versions past
keep_versions expire. --rollback points every surface back at its previous complete version in seconds (Redis only,
no Spark), lets the abandoned version expire and records the rollback for the report. --dry-run prints what would
be written and the estimated memory, without connecting. Redis: --redis-url, RECPIPE_REDIS_URL or REDIS_URL, else
the secret scope RECPIPE_REDIS_SECRET_SCOPE; password: REDIS_PASSWORD or the secret scope (never logged)."""

# Redis memory per hash field beyond the value itself (field name, dict entry, allocator slack): measured ~60 B.
FIELD_OVERHEAD_BYTES = 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser)
    parser.add_argument("--rollback", action="store_true", help="point every surface back at its previous version")
    parser.add_argument("--dry-run", action="store_true", help="print what would be written and the memory estimate")
    parser.add_argument("--redis-url", help="override the target's Redis URL (credentials go in REDIS_PASSWORD)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = load_job_config(NAME, PublishConfig, args.conf, args.set)
    settings = load_settings()
    if args.rollback:
        return roll_back(settings, config, args.redis_url)
    # Redis is checked before Spark starts: a wrong URL fails in seconds, not after a minute of start-up
    target = (
        None
        if args.dry_run
        else resolve_target(
            args.redis_url or settings.redis_url,
            settings.redis_secret_scope,
            retries=config.retries,
            retry_budget_s=config.retry_budget_s,
        )
    )
    if target is not None:
        target.check()
    ctx = JobContext.for_settings(
        NAME, settings, get_spark(settings, app_name=f"recpipe-{NAME}"), requested_as_of(args)
    )
    if target is None:
        return dry_run(ctx, config)
    return publish(ctx, config, target)


def roll_back(settings: Settings, config: PublishConfig, redis_url: str | None) -> dict[str, Any]:
    """Point every surface at its previous version: Redis only, no Spark; recorded for the report."""
    target = resolve_target(redis_url or settings.redis_url, settings.redis_secret_scope, retries=config.retries)
    abandoned, restored = P.rollback(
        target.check(), list(keys.BATCH_SURFACES), config.expire_after_s, keys.OPTIONAL_SURFACES
    )
    event = rollbacks.record(settings.artifacts, abandoned, restored)
    return {"job": NAME, "rolled_back_to": restored, "abandoned": abandoned, "at": event.at}


def surfaces(ctx: JobContext, config: PublishConfig) -> dict[str, tuple[str, DataFrame, int]]:
    """surface -> (the gold table it comes from, its entries by bucket, buckets)."""
    read = lambda table: require_encoded_lists(ctx.tables.read(table), table)
    parts = config.write_partitions
    published = {
        "foryou": (
            catalog.GOLD_USER_CANDIDATES,
            S.foryou_entries(read(catalog.GOLD_USER_CANDIDATES)).transform(S.by_bucket(config.foryou_buckets, parts)),
            config.foryou_buckets,
        ),
        "similar": (
            catalog.GOLD_SIMILAR_ITEMS,
            S.similar_entries(read(catalog.GOLD_SIMILAR_ITEMS), config.similar_sources).transform(
                S.by_bucket(config.similar_buckets, parts)
            ),
            config.similar_buckets,
        ),
        "fallback": (
            catalog.GOLD_FALLBACK_CANDIDATES,
            S.fallback_entries(read(catalog.GOLD_FALLBACK_CANDIDATES)).transform(S.by_bucket(1, 1)),
            1,
        ),
    }
    if ctx.tables.exists(catalog.GOLD_TOPUP_EXCLUSIONS):  # lists built before it existed are published without it
        exclusions = S.exclusion_entries(read(catalog.GOLD_TOPUP_EXCLUSIONS))
        published["exclude"] = (
            catalog.GOLD_TOPUP_EXCLUSIONS,
            exclusions.transform(S.by_bucket(config.foryou_buckets, parts)),
            config.foryou_buckets,
        )
    return published


def version_of(ctx: JobContext, gold_tables: list[str]) -> tuple[str, dict[str, str]]:
    """The version id: the lists' as-of day and a digest of the data they come from (the run id and each gold
    table's location and Delta version), so two data folders sharing a Redis never share an id, and publishing the
    same lists again names the version already published."""
    row = first_row(
        ctx.tables.read(catalog.GOLD_USER_CANDIDATES).select("run_id", "model_version", "generated_at"),
        catalog.GOLD_USER_CANDIDATES,
        "recpipe candidates",
    )
    ctx.check_as_of(catalog.GOLD_USER_CANDIDATES, as_of_from_end(row.generated_at), "recpipe candidates")
    sources = [(ctx.tables.name(t), ctx.tables.version(t)) for t in gold_tables]
    version = P.version_id(row.generated_at, row.run_id, sources)
    return version, {"run_id": row.run_id, "model_version": row.model_version, "generated_at": str(row.generated_at)}


def dry_run(ctx: JobContext, config: PublishConfig) -> dict[str, Any]:
    published = surfaces(ctx, config)
    version, _ = version_of(ctx, [table for table, _, _ in published.values()])
    report = {}
    for surface, (_, df, buckets) in published.items():
        stats = P.write_surface(df, None, surface, version, buckets, config.batch_size)
        memory = stats.bytes + stats.entries * FIELD_OVERHEAD_BYTES
        report[surface] = {
            "entries": stats.entries,
            "value_bytes": stats.bytes,
            "keys": buckets,
            "estimated_memory_mb": round(memory / 1e6, 1),
            "bytes_per_entry": round(stats.bytes / max(stats.entries, 1), 1),
        }
        print(
            f"[dry-run] {surface}: {stats.entries:,} entries in {buckets} hashes {keys.bucket_key(surface, version, 0)} .. "
            f"~{memory / 1e6:,.1f} MB"
        )
    return {"job": NAME, "dry_run": True, "version": version, "surfaces": report}


def require_passed_gate(ctx: JobContext, run_id: str) -> None:
    """Refuse lists whose run has not passed `recpipe gate` (checked before anything is written)."""
    t = ctx.tables
    results = (
        t.read(catalog.MONITORING_GATE_RESULTS).where(F.col("run_id") == run_id).collect()
        if t.exists(catalog.MONITORING_GATE_RESULTS)
        else []
    )
    if not results:
        raise P.PublishError(f"run {run_id} has no gate result: run `recpipe gate` first (or set require_gate: false)")
    failed = sorted(r.rule for r in results if not r.passed)
    if failed:
        raise P.PublishError(
            f"run {run_id} failed the gate ({', '.join(failed)}): not published, the live version stays"
        )


def publish(ctx: JobContext, config: PublishConfig, target: RedisTarget, before_verify=None) -> dict[str, Any]:
    """Write the gold lists under a version no reader is sent to, verify, then switch; a publish of the lists
    already live (and verifying) writes nothing. A lost connection ends in one line; the live version stays."""
    with P.lost_connection_in_one_line(target):
        return _publish(ctx, config, target, before_verify)


def _publish(ctx: JobContext, config: PublishConfig, target: RedisTarget, before_verify=None) -> dict[str, Any]:
    published = surfaces(ctx, config)
    base, manifest = version_of(ctx, [table for table, _, _ in published.values()])
    if config.require_gate:
        require_passed_gate(ctx, manifest["run_id"])
    client = target.check()
    if P.is_live(client, base, list(published)) and P.verify_live(ctx.spark, target, base, list(published)):
        log.info("version %s of these lists is live and verifies: nothing to publish", base)
        _complete_run_record(ctx, manifest, base)
        return {**ctx.stages.summary(), "version": base, "unchanged": True, "redis": target.safe_url}
    version = P.unreferenced_version(client, base, list(published), {s: b for s, (_, _, b) in published.items()})
    gold_version = ctx.tables.versions_read[catalog.GOLD_USER_CANDIDATES]
    stats = {}
    for surface, (_, df, buckets) in published.items():
        with ctx.stages.stage(f"write {surface}"):
            written = P.publish_surface(
                ctx.spark,
                df,
                target,
                surface,
                version,
                buckets,
                config.batch_size,
                manifest,
                verify=config.verify,
                before_verify=before_verify,
            )
            stats[surface] = written
            ctx.stages.count(f"redis {surface} entries", written.entries)
    with ctx.stages.stage("switch"):
        gold = [
            ctx.tables.read(catalog.GOLD_USER_CANDIDATES).select("item_ids"),
            ctx.tables.read(catalog.GOLD_FALLBACK_CANDIDATES).select("item_ids"),
            ctx.tables.read(catalog.GOLD_SIMILAR_ITEMS).select(F.col("similar_item_ids").alias("item_ids")),
        ]
        gone = A.unavailable_in(ctx.tables.read(catalog.BRONZE_ITEMS), ctx.tables.read(catalog.BRONZE_EVENTS))
        unavailable = [r.item_id for r in S.unavailable_listed_items(gold, gone).collect()]
        built_at = datetime.fromisoformat(manifest["generated_at"]).replace(tzinfo=UTC).timestamp()
        P.switch(
            target.check(),
            version,
            list(stats),
            unavailable,
            config.keep_versions,
            config.expire_after_s,
            lists_built_at=built_at,
        )
        ctx.stages.count("unavailable listed items", len(unavailable))
    rows = [
        (
            surface,
            version,
            s.entries,
            str(s.checksum),
            s.bytes,
            manifest["run_id"],
            manifest["model_version"],
            gold_version,
        )
        for surface, s in stats.items()
    ]
    ctx.tables.replace_where(
        ctx.spark.createDataFrame(rows, catalog.columns(catalog.MONITORING_PUBLISH_MANIFESTS)),
        catalog.MONITORING_PUBLISH_MANIFESTS,
        f"version = '{version}'",
    )
    log.info("published version %s to %s", version, target.safe_url)
    _complete_run_record(ctx, manifest, version)
    return {
        **ctx.stages.summary(),
        "version": version,
        "redis": target.safe_url,
        "surfaces": {
            k: {"entries": v.entries, "checksum": str(v.checksum), "bytes": v.bytes} for k, v in stats.items()
        },
    }


def _complete_run_record(ctx: JobContext, manifest: dict[str, str], version: str) -> None:
    """Record the publish task and mark the run's pipeline_runs row published (when the gate wrote one)."""
    run_id, as_of = manifest["run_id"], as_of_from_end(datetime.fromisoformat(manifest["generated_at"]))
    runs.record_task(ctx.tables, ctx.stages.summary(), as_of, run_id)
    record = runs.read_run(ctx.tables, run_id)
    if record is None:
        return
    task_seconds, task_rows = runs.task_figures(ctx.tables, as_of)
    record.update(status="published", published_version=version, task_seconds=task_seconds, task_rows=task_rows)
    runs.write_run(ctx.tables, record)
    tracking.log_pipeline_run(ctx.settings, record)
