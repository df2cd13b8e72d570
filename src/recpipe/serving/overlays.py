"""Fresh overlays in Redis: which batch version is live, and the pointer switch of an overlay version.

An overlay belongs to one ``foryou`` version (``batch_version`` in its manifest): it holds listings created after
that version's lists were built. Its pointer is switched only while that version is still live (WATCH), and a
publish removes the pointer in its own switch, so a reader never merges an overlay into lists it was not made for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

import redis

from recpipe.serving import keys
from recpipe.serving.publisher import PublishError, expire_old_versions

BATCH_SURFACE = "foryou"  # the surface an overlay is merged into


@dataclass(frozen=True)
class LiveBatch:
    version: str
    run_id: str
    model_version: str
    generated_at: datetime  # when the lists' data ends: listings after it are fresh


def live_batch(client: redis.Redis) -> LiveBatch:
    """The live ``foryou`` version and what its manifest says; an error when nothing is published."""
    version = cast(bytes | None, client.get(keys.pointer_key(BATCH_SURFACE)))
    if version is None:
        raise PublishError(
            f"nothing is published ({keys.pointer_key(BATCH_SURFACE)} is unset): run `recpipe publish` first"
        )
    manifest = {
        k.decode(): v.decode()
        for k, v in cast(dict[bytes, bytes], client.hgetall(keys.manifest_key(BATCH_SURFACE, version.decode()))).items()
    }
    missing = {"run_id", "model_version", "generated_at"} - set(manifest)
    if missing:
        raise PublishError(f"the manifest of {BATCH_SURFACE} version {version.decode()} lacks {sorted(missing)}")
    return LiveBatch(
        version.decode(),
        manifest["run_id"],
        manifest["model_version"],
        datetime.fromisoformat(manifest["generated_at"]),
    )


def switch_overlay(client: redis.Redis, fresh_version: str, batch_version: str, expire_s: int) -> None:
    """Point ``fresh`` at ``fresh_version`` if ``batch_version`` is still live; the overlay's keys expire after
    ``expire_s`` (a publish ends it sooner) and earlier overlay versions expire now."""
    pointer = keys.pointer_key(BATCH_SURFACE)
    with client.pipeline(transaction=True) as tx:
        tx.watch(pointer)
        live = cast(bytes | None, tx.get(pointer))
        if live is None or live.decode() != batch_version:
            raise PublishError(
                f"overlay {fresh_version} was built for {BATCH_SURFACE} version {batch_version}, but "
                f"{live.decode() if live else 'none'} is live now: not switched (the next run builds for the new lists)"
            )
        tx.multi()
        tx.set(keys.pointer_key(keys.FRESH_SURFACE), fresh_version)
        tx.lrem(keys.versions_key(keys.FRESH_SURFACE), 0, fresh_version)
        tx.lpush(keys.versions_key(keys.FRESH_SURFACE), fresh_version)
        tx.execute()
    buckets = int(cast(bytes | None, client.hget(keys.manifest_key(keys.FRESH_SURFACE, fresh_version), "buckets")) or 0)
    with client.pipeline(transaction=False) as pipe:
        for name in [keys.bucket_key(keys.FRESH_SURFACE, fresh_version, b) for b in range(buckets)]:
            pipe.expire(name, expire_s)
        pipe.expire(keys.manifest_key(keys.FRESH_SURFACE, fresh_version), expire_s)
        pipe.execute()
    expire_old_versions(client, keys.FRESH_SURFACE, 1, min(expire_s, 600))  # readers may hold the old one briefly
