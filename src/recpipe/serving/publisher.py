"""Atomic, versioned bulk publishing from Spark into Redis.

1. Every partition writes its entries from the executor with its own connection: the R1 values the candidates
   job stored become RESP records in Arrow (``resp``), grouped per bucket into multi-field HSETs and pipelined
   ``batch_size`` entries per round trip; connection errors are retried with exponential backoff (the writes are idempotent).
2. Verification reads every bucket back on the executors and compares the entry count and the checksum with
   what was written; a mismatch raises and the live pointer is never touched.
3. The manifest of each surface is written, then one MULTI/EXEC switches every surface's pointer, records the
   versions and replaces the unavailable-items set; versions past ``keep_versions`` get a TTL.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import pyarrow as pa
import redis
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from redis.typing import EncodableT, FieldT

from recpipe.errors import RecpipeError
from recpipe.serving import availability, keys, resp
from recpipe.serving.connection import RedisTarget

log = logging.getLogger(__name__)

STATS_SCHEMA = "entries long, checksum decimal(38,0), bytes long"


class PublishError(RecpipeError, RuntimeError):
    """Publishing failed; the live version is unchanged."""


@dataclass(frozen=True)
class SurfaceStats:
    entries: int
    checksum: int
    bytes: int


def _sum_stats(df: DataFrame) -> SurfaceStats:
    row = df.agg(F.sum("entries"), F.sum("checksum"), F.sum("bytes")).first()
    return SurfaceStats(int(row[0] or 0), int(row[1] or 0) % 2**64, int(row[2] or 0))


def _stats_batch(entries: int, checksum: int, size: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array([entries], pa.int64()), pa.array([checksum], pa.decimal128(38, 0)), pa.array([size], pa.int64())],
        names=["entries", "checksum", "bytes"],
    )


WRITE_LOST = "Redis connection lost while writing"  # how the driver recognises the executors' failure


def lost_connection(exc: BaseException) -> bool:
    """Whether a failure is Redis going away: on the driver, or on an executor (Spark wraps its Python error)."""
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return True
    text = str(exc)
    return WRITE_LOST in text or any(f"redis.exceptions.{name}" in text for name in ("ConnectionError", "TimeoutError"))


@contextmanager
def lost_connection_in_one_line(target: RedisTarget) -> Iterator[None]:
    """Turn Redis going away mid-publish (retries spent) into a ``PublishError`` of one line; the traceback is
    logged at debug level."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, PublishError) or not lost_connection(exc):
            raise
        log.debug("lost the connection to Redis", exc_info=True)
        found = re.search(r"gave up after (\d+) retries in ([\d.]+)s", str(exc))
        tried = f" (gave up after {found.group(1)} retries in {found.group(2)}s)" if found else ""
        raise PublishError(
            f"lost the connection to Redis at {target.safe_url} while publishing{tried}; the live version is "
            "unchanged: rerun `recpipe publish` when Redis answers (publish.retry_budget_s sets how long a write "
            "retries)"
        ) from None


def version_id(generated_at: datetime, run_id: str, sources: list[tuple[str, int]]) -> str:
    """``YYYYMMDD-<digest>``: the lists' as-of day and a digest of the run id and each source table's location and
    Delta version, so two data folders sharing a Redis never share an id (docs/redis-contract.md)."""
    digest = hashlib.sha256(json.dumps([run_id, *sources]).encode()).hexdigest()[:10]
    return f"{generated_at:%Y%m%d}-{digest}"


def send_with_retry(client: redis.Redis, commands: list[bytes], target: RedisTarget) -> None:
    """Send pipelined commands and read every reply; on a connection error reconnect, back off exponentially
    and resend (HSETs are idempotent) while ``target.retries`` and ``target.retry_budget_s`` last."""
    started = time.monotonic()
    for attempt in range(target.retries + 1):
        connection = client.connection_pool.get_connection()
        try:
            connection.send_packed_command(commands)
            for _ in commands:
                connection.read_response()
            return
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            connection.disconnect()
            delay = target.backoff_s(attempt)
            elapsed = time.monotonic() - started
            if attempt == target.retries or elapsed + delay > target.retry_budget_s:
                raise redis.exceptions.ConnectionError(
                    f"{WRITE_LOST} to {target.safe_url}: gave up after {attempt} retries in {elapsed:.1f}s "
                    f"({type(exc).__name__}: {exc})"
                ) from None
            log.warning(
                "connection to %s lost (%s); retry %d/%d in %.2fs",
                target.safe_url,
                exc,
                attempt + 1,
                target.retries,
                delay,
            )
            time.sleep(delay)
        finally:
            client.connection_pool.release(connection)


def write_surface(
    df: DataFrame, target: RedisTarget | None, surface: str, version: str, buckets: int, batch_size: int
) -> SurfaceStats:
    """Write a surface (``entity``, ``encoded_list``) from the executors; ``target=None`` only encodes
    (dry run). Returns what was written: entries, checksum and value bytes."""

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        client = target.client() if target is not None else None
        total = size = checksum = 0
        key_of = lambda bucket: keys.bucket_key(surface, version, bucket).encode()
        pending, pending_fields = [], 0
        for batch in batches:
            encoded = resp.records_of(batch, buckets)
            total, size = total + encoded.entries, size + encoded.value_bytes
            checksum = (checksum + encoded.checksum()) % 2**64
            if client is None:
                continue
            for fields, command in encoded.hsets(key_of, batch_size):
                pending.append(command)
                pending_fields += fields
                if pending_fields >= batch_size:
                    send_with_retry(client, pending, target)
                    pending, pending_fields = [], 0
        if pending:
            send_with_retry(client, pending, target)
        if client is not None:
            client.close()
        yield _stats_batch(total, checksum, size)

    return _sum_stats(df.mapInArrow(write, STATS_SCHEMA))


def read_back(spark: SparkSession, target: RedisTarget, surface: str, version: str, buckets: int) -> SurfaceStats:
    """Entry count and checksum of a written version, read bucket by bucket on the executors."""

    def read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        client = target.client()
        total = size = checksum = 0
        for batch in batches:
            for bucket in batch.column("id").to_pylist():
                entries = cast(dict[bytes, bytes], client.hgetall(keys.bucket_key(surface, version, bucket)))
                for field, value in entries.items():
                    checksum = (checksum + resp.entry_checksum(field, value)) % 2**64
                    total += 1
                    size += len(value)
        client.close()
        yield _stats_batch(total, checksum, size)

    parallelism = max(1, min(buckets, spark.sparkContext.defaultParallelism))
    return _sum_stats(spark.range(0, buckets, numPartitions=parallelism).mapInArrow(read, STATS_SCHEMA))


def referenced_versions(client: redis.Redis) -> set[str]:
    """Every version a reader may be sent to: each surface's pointer and its versions list."""
    with client.pipeline(transaction=False) as pipe:
        for surface in keys.SURFACES:
            pipe.get(keys.pointer_key(surface))
            pipe.lrange(keys.versions_key(surface), 0, -1)
        replies = pipe.execute()
    found = {cast(bytes, v).decode() for v in replies[0::2] if v is not None}
    return found | {v.decode() for listed in replies[1::2] for v in cast(list[bytes], listed)}


def is_live(client: redis.Redis, version: str, surfaces: list[str]) -> bool:
    """Every one of ``surfaces`` points at ``version``."""
    return all(cast(bytes | None, client.get(keys.pointer_key(s))) == version.encode() for s in surfaces)


def unreferenced_version(client: redis.Redis, base: str, surfaces: list[str], buckets: Mapping[str, int]) -> str:
    """The version id a publish attempt writes: ``base``, or ``base-2``, ``base-3``, ... when a pointer or a versions
    list names it. Keys an earlier, failed attempt left under the chosen id belong to no reader: they are deleted."""
    referenced = referenced_versions(client)
    version = next(v for n in itertools.count(1) if (v := base if n == 1 else f"{base}-{n}") not in referenced)
    for surface in surfaces:
        clear_unreferenced(client, surface, version, buckets[surface])
    return version


def clear_unreferenced(client: redis.Redis, surface: str, version: str, buckets: int) -> None:
    """Delete a version's keys, refusing when a pointer or a versions list names the version (a live one)."""
    if version in referenced_versions(client):
        raise PublishError(f"{surface} version {version} is live or listed: its keys are not touched")
    names = [keys.bucket_key(surface, version, b) for b in range(buckets)] + [keys.manifest_key(surface, version)]
    for start in range(0, len(names), 1000):
        client.delete(*names[start : start + 1000])


def verify_live(spark: SparkSession, target: RedisTarget, version: str, surfaces: list[str]) -> bool:
    """Whether every surface of a live ``version`` still holds what its manifest says was written (read back)."""
    client = target.check()
    for surface in surfaces:
        manifest = cast(dict[bytes, bytes], client.hgetall(keys.manifest_key(surface, version)))
        if not {b"entries", b"checksum", b"buckets"} <= set(manifest):
            return False
        found = read_back(spark, target, surface, version, int(manifest[b"buckets"]))
        if (found.entries, found.checksum) != (int(manifest[b"entries"]), int(manifest[b"checksum"])):
            log.warning("%s version %s is live but does not verify", surface, version)
            return False
    return True


def publish_surface(
    spark: SparkSession,
    df: DataFrame,
    target: RedisTarget,
    surface: str,
    version: str,
    buckets: int,
    batch_size: int,
    manifest: dict[str, str],
    verify: bool = True,
    before_verify=None,
) -> SurfaceStats:
    """Write and verify one surface and store its manifest; the pointer is switched later, for all at once.
    ``version`` is an id no reader is sent to (``unreferenced_version``)."""
    client = target.check()
    start = time.perf_counter()
    written = write_surface(df, target, surface, version, buckets, batch_size)
    elapsed = time.perf_counter() - start
    log.info(
        "%s %s: wrote %s entries (%.1f MB) in %.1fs = %s entries/s",
        surface,
        version,
        f"{written.entries:,}",
        written.bytes / 1e6,
        elapsed,
        f"{written.entries / max(elapsed, 1e-9):,.0f}",
    )
    if before_verify is not None:
        before_verify(client)
    if verify:
        found = read_back(spark, target, surface, version, buckets)
        if (found.entries, found.checksum) != (written.entries, written.checksum):
            raise PublishError(
                f"verification of {surface} version {version} failed: wrote {written.entries} entries "
                f"(checksum {written.checksum}), read back {found.entries} (checksum {found.checksum}); "
                "the live version is unchanged"
            )
    fields = {
        **manifest,
        "entries": written.entries,
        "checksum": written.checksum,
        "bytes": written.bytes,
        "buckets": buckets,
        "encoding": "R1",
        "verified": int(verify),
    }
    # redis-py types a mapping's keys as one union of key types; the manifest's str keys are among them
    client.hset(keys.manifest_key(surface, version), mapping=cast("Mapping[FieldT, EncodableT]", fields))
    return written


def switch(
    client: redis.Redis,
    version: str,
    surfaces: list[str],
    unavailable_items: list[int],
    keep_versions: int,
    expire_s: int,
    lists_built_at: float,
) -> None:
    """Point every surface at ``version`` in one transaction, then expire versions past ``keep_versions``.

    The same transaction replaces the unavailable set with ``unavailable_items`` plus what the availability stream
    logged as sold since ``lists_built_at`` (unix seconds), and ends the fresh overlays of the previous version:
    the new lists were built after them."""
    staging = f"{keys.UNAVAILABLE_KEY}:staging:{version}"
    client.delete(staging)
    for start in range(0, len(unavailable_items), 10_000):
        client.sadd(staging, *unavailable_items[start : start + 10_000])
    with client.pipeline(transaction=True) as tx:
        for surface in surfaces:
            tx.set(keys.pointer_key(surface), version)
            tx.lrem(keys.versions_key(surface), 0, version)
            tx.lpush(keys.versions_key(surface), version)
        tx.eval(
            availability.MERGE_LOG_SCRIPT,
            3,
            staging,
            keys.UNAVAILABLE_LOG_KEY,
            keys.UNAVAILABLE_KEY,
            lists_built_at,
        )
        tx.delete(keys.pointer_key(keys.FRESH_SURFACE))
        tx.execute()
    for surface in surfaces:
        expire_old_versions(client, surface, keep_versions, expire_s)
    expire_old_versions(client, keys.FRESH_SURFACE, 0, expire_s)


def version_keys(client: redis.Redis, surface: str, version: str) -> list[str]:
    buckets = int(client.hget(keys.manifest_key(surface, version), "buckets") or 0)
    return [keys.bucket_key(surface, version, b) for b in range(buckets)] + [keys.manifest_key(surface, version)]


def expire_old_versions(client: redis.Redis, surface: str, keep_versions: int, expire_s: int) -> list[str]:
    """Versions past the newest ``keep_versions`` get a TTL and leave the versions list."""
    old = [v.decode() for v in cast(list[bytes], client.lrange(keys.versions_key(surface), keep_versions, -1))]
    with client.pipeline(transaction=False) as pipe:
        for version in old:
            for name in version_keys(client, surface, version):
                pipe.expire(name, expire_s)
        if keep_versions:
            pipe.ltrim(keys.versions_key(surface), 0, keep_versions - 1)
        else:
            pipe.delete(keys.versions_key(surface))
        pipe.execute()
    return old


def rollback(
    client: redis.Redis, surfaces: list[str], expire_s: int, optional: frozenset[str] = frozenset()
) -> tuple[dict[str, str], dict[str, str]]:
    """Point each surface back at the previous complete version (its manifest and every bucket still exist);
    an ``optional`` surface without a previous version is left as it is. The abandoned version expires after
    ``expire_s`` like any superseded one. Returns (abandoned, restored): surface -> version."""
    switched, abandoned = {}, {}
    for surface in surfaces:
        versions = [v.decode() for v in cast(list[bytes], client.lrange(keys.versions_key(surface), 0, -1))]
        if len(versions) < 2 and surface in optional:
            log.info("%s: no previous version; left as it is", surface)
            continue
        if len(versions) < 2:
            raise PublishError(f"{surface}: no previous version to roll back to (versions: {versions})")
        current, previous = versions[0], versions[1]
        # Empty buckets are never written (few users per bucket on small data, sparse optional surfaces), and a
        # version's keys get their TTL together: a manifest that exists and is not expiring says the version is there.
        manifest = keys.manifest_key(surface, previous)
        if not client.exists(manifest) or client.ttl(manifest) != -1:
            raise PublishError(f"{surface}: previous version {previous} is incomplete or expired; not rolling back")
        with client.pipeline(transaction=True) as tx:
            tx.set(keys.pointer_key(surface), previous)
            tx.lrem(keys.versions_key(surface), 0, current)
            for name in version_keys(client, surface, current):
                tx.expire(name, expire_s)
            tx.execute()
        switched[surface], abandoned[surface] = previous, current
        log.info("%s: rolled back from %s to %s", surface, current, previous)
    return abandoned, switched
