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

from recpipe.serving import keys, resp
from recpipe.serving.publisher import PublishError, expire_old_versions, version_keys

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


@dataclass(frozen=True)
class LiveOverlay:
    """The served overlay of the live lists: the state the next fresh run merges into."""

    version: str
    buckets: int
    listed_until: datetime  # the newest listing it holds: the next run takes listings after it


def live_overlay(client: redis.Redis, batch_version: str) -> LiveOverlay | None:
    """The live ``fresh`` overlay when it was built for ``batch_version`` and its manifest is complete; None
    otherwise (the next run then starts again from the lists' data end)."""
    version = cast(bytes | None, client.get(keys.pointer_key(keys.FRESH_SURFACE)))
    if version is None:
        return None
    fields = cast(
        list[bytes | None],
        client.hmget(
            keys.manifest_key(keys.FRESH_SURFACE, version.decode()), ["batch_version", "buckets", "listed_until"]
        ),
    )
    if any(f is None for f in fields) or cast(bytes, fields[0]).decode() != batch_version:
        return None
    return LiveOverlay(
        version.decode(), int(cast(bytes, fields[1])), datetime.fromisoformat(cast(bytes, fields[2]).decode())
    )


def read_overlays(client: redis.Redis, overlay: LiveOverlay, user_ids: list[int]) -> list[bytes | None]:
    """The served overlay values of ``user_ids`` (None: none), in one pipelined round trip (the HGETs are packed
    as one buffer: building thousands of commands one by one costs more than the round trip)."""
    commands = b"".join(
        resp.command("HGET", *keys.entry_location(keys.FRESH_SURFACE, overlay.version, user, overlay.buckets))
        for user in user_ids
    )
    connection = client.connection_pool.get_connection()
    try:
        connection.send_packed_command([commands])
        return [cast(bytes | None, connection.read_response()) for _ in user_ids]
    except BaseException:
        connection.disconnect()  # a half-read reply must not reach the next caller
        raise
    finally:
        client.connection_pool.release(connection)


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
    with client.pipeline(transaction=False) as pipe:
        for name in version_keys(client, keys.FRESH_SURFACE, fresh_version):
            pipe.expire(name, expire_s)
        pipe.execute()
    expire_old_versions(client, keys.FRESH_SURFACE, 1, min(expire_s, 600))  # readers may hold the old one briefly
