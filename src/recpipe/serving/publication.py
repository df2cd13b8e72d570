"""What one publish sends and records: the surfaces read from the gold tables, the lists' version id, the list
gate's verdict, the listed items already sold, and the manifest rows (``recpipe publish``)."""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config import PublishConfig
from recpipe.quality.gold import require_encoded_lists
from recpipe.serving.keys import bucket_key
from recpipe.serving.publisher import PublishError, SurfaceStats, version_id, write_surface
from recpipe.tables import Tables, first_row
from recpipe.transforms import serving_inputs
from recpipe.transforms.availability import unavailable_in


def surfaces(tables: Tables, config: PublishConfig) -> dict[str, tuple[str, DataFrame, int]]:
    """surface -> (the gold table it comes from, its entries by bucket, buckets)."""
    read = lambda table: require_encoded_lists(tables.read(table), table)
    parts = config.write_partitions
    published = {
        "foryou": (
            catalog.GOLD_USER_CANDIDATES,
            serving_inputs.foryou_entries(read(catalog.GOLD_USER_CANDIDATES), variant_lists(tables)).transform(
                serving_inputs.by_bucket(config.foryou_buckets, parts)
            ),
            config.foryou_buckets,
        ),
        "similar": (
            catalog.GOLD_SIMILAR_ITEMS,
            serving_inputs.similar_entries(read(catalog.GOLD_SIMILAR_ITEMS), config.similar_sources).transform(
                serving_inputs.by_bucket(config.similar_buckets, parts)
            ),
            config.similar_buckets,
        ),
        "fallback": (
            catalog.GOLD_FALLBACK_CANDIDATES,
            serving_inputs.fallback_entries(read(catalog.GOLD_FALLBACK_CANDIDATES)).transform(
                serving_inputs.by_bucket(1, 1)
            ),
            1,
        ),
    }
    if tables.exists(catalog.GOLD_TOPUP_EXCLUSIONS):  # lists built before it existed are published without it
        exclusions = serving_inputs.exclusion_entries(read(catalog.GOLD_TOPUP_EXCLUSIONS))
        published["exclude"] = (
            catalog.GOLD_TOPUP_EXCLUSIONS,
            exclusions.transform(serving_inputs.by_bucket(config.foryou_buckets, parts)),
            config.foryou_buckets,
        )
    return published


def variant_lists(tables: Tables) -> DataFrame | None:
    """A live experiment's other variants' lists built with gold.user_candidates (the same run), if any."""
    if not tables.exists(catalog.GOLD_VARIANT_CANDIDATES):
        return None
    lists = require_encoded_lists(tables.read(catalog.GOLD_VARIANT_CANDIDATES), catalog.GOLD_VARIANT_CANDIDATES)
    return lists.where(F.col("run_id") == lists_stamp(tables).run_id)


def lists_stamp(tables: Tables) -> Row:
    """The run id, model version and as-of end (``generated_at``) every row of gold.user_candidates carries."""
    return first_row(
        tables.read(catalog.GOLD_USER_CANDIDATES).select("run_id", "model_version", "generated_at"),
        catalog.GOLD_USER_CANDIDATES,
        "recpipe candidates",
    )


def version_of(tables: Tables, stamp: Row, gold_tables: list[str]) -> tuple[str, dict[str, str]]:
    """The version id: the lists' as-of day and a digest of the data they come from (the run id and each gold
    table's location and Delta version), so two data folders sharing a Redis never share an id, and publishing the
    same lists again names the version already published. With it, the manifest every surface records."""
    sources = [(tables.name(t), tables.version(t)) for t in gold_tables]
    version = version_id(stamp.generated_at, stamp.run_id, sources)
    return version, {
        "run_id": stamp.run_id,
        "model_version": stamp.model_version,
        "generated_at": str(stamp.generated_at),
    }


def require_passed_gate(tables: Tables, run_id: str) -> None:
    """Refuse lists whose run has not passed the list gate, `recpipe gate` (checked before anything is written)."""
    t = tables
    results = (
        t.read(catalog.MONITORING_GATE_RESULTS).where(F.col("run_id") == run_id).collect()
        if t.exists(catalog.MONITORING_GATE_RESULTS)
        else []
    )
    if not results:
        raise PublishError(f"run {run_id} has no gate result: run `recpipe gate` first (or set require_gate: false)")
    failed = sorted(r.rule for r in results if not r.passed)
    if failed:
        raise PublishError(f"run {run_id} failed the gate ({', '.join(failed)}): not published, the live version stays")


def unavailable_listed_items(tables: Tables) -> list[int]:
    """Listed items (user, variant, fallback and similar lists) already sold or deleted: the unavailable set at the
    switch."""
    gold = [
        tables.read(catalog.GOLD_USER_CANDIDATES).select("item_ids"),
        tables.read(catalog.GOLD_FALLBACK_CANDIDATES).select("item_ids"),
        tables.read(catalog.GOLD_SIMILAR_ITEMS).select(F.col("similar_item_ids").alias("item_ids")),
    ]
    variants = variant_lists(tables)
    if variants is not None:
        gold.append(variants.select("item_ids"))
    gone = unavailable_in(tables.read(catalog.BRONZE_ITEMS), tables.read(catalog.BRONZE_EVENTS))
    return [r.item_id for r in serving_inputs.unavailable_listed_items(gold, gone).collect()]


def manifest_rows(
    version: str, stats: dict[str, SurfaceStats], manifest: dict[str, str], gold_version: int
) -> list[dict[str, Any]]:
    """monitoring.publish_manifests rows: what each surface of a version holds and where it came from."""
    return [
        {
            "surface": surface,
            "version": version,
            "entries": s.entries,
            "checksum": str(s.checksum),
            "bytes": s.bytes,
            "run_id": manifest["run_id"],
            "model_version": manifest["model_version"],
            "gold_version": gold_version,
        }
        for surface, s in stats.items()
    ]


# Redis memory per hash field beyond the value itself (field name, dict entry, allocator slack): measured ~60 B.
FIELD_OVERHEAD_BYTES = 64


def dry_run_report(
    published: dict[str, tuple[str, DataFrame, int]], version: str, batch_size: int
) -> dict[str, dict[str, Any]]:
    """What a publish would write per surface and the Redis memory it would take, printed and returned; nothing
    connects to Redis."""
    report = {}
    for surface, (_, df, buckets) in published.items():
        stats = write_surface(df, None, surface, version, buckets, batch_size)
        memory = stats.bytes + stats.entries * FIELD_OVERHEAD_BYTES
        report[surface] = {
            "entries": stats.entries,
            "value_bytes": stats.bytes,
            "keys": buckets,
            "estimated_memory_mb": round(memory / 1e6, 1),
            "bytes_per_entry": round(stats.bytes / max(stats.entries, 1), 1),
        }
        print(
            f"[dry-run] {surface}: {stats.entries:,} entries in {buckets} hashes {bucket_key(surface, version, 0)} .. "
            f"~{memory / 1e6:,.1f} MB"
        )
    return report
