"""The Redis key contract (docs/redis-contract.md). Pure functions: tested byte for byte without a server.

    recpipe:{surface}:current                  STRING  live version of the surface
    recpipe:{surface}:versions                 LIST    complete versions, newest first
    recpipe:{surface}:manifest:{version}       HASH    entries, checksum, buckets, run_id, model_version, ...
    recpipe:{surface}:{version}:{bucket}       HASH    field = entity id, value = encoded list
    recpipe:unavailable                        SET     item ids sold or deleted since the lists were built
    recpipe:unavailable:log                    ZSET    item ids the availability stream added, scored by when
                                                       they were sold (unix seconds): a publish keeps the recent ones
    recpipe:availability:progress              HASH    per stream source: last applied micro-batch, items applied

Surface ``exclude`` holds, per user, the fallback items the user must not be topped up with (seen or own).
Surface ``fresh`` holds, per user, listings created since the live ``foryou`` version was built (``recpipe fresh``);
its manifest names that ``foryou`` version (``batch_version``) and a reader merges the two lists by score.

An entity's bucket is ``int(id) % buckets`` of its leading decimal id (``buckets`` is in the manifest; string ids
use bucket 0 when the surface has one bucket). Buckets keep a version to a fixed number of keys, so expiring it is
cheap. A live experiment's other variants' lists sit in the same ``foryou`` version under ``{user_id}:{variant}``
(the user's bucket), so one pointer switch moves every variant at once.
"""

from __future__ import annotations

BATCH_SURFACES = ("foryou", "similar", "fallback", "exclude")  # what `recpipe publish` writes and rolls back
FRESH_SURFACE = "fresh"  # per-user overlays of `recpipe fresh`, between two publishes
SURFACES = (*BATCH_SURFACES, FRESH_SURFACE)
OPTIONAL_SURFACES = frozenset({"exclude"})  # absent in versions published before it existed
PREFIX = "recpipe"
UNAVAILABLE_KEY = f"{PREFIX}:unavailable"
UNAVAILABLE_LOG_KEY = f"{PREFIX}:unavailable:log"
AVAILABILITY_PROGRESS_KEY = f"{PREFIX}:availability:progress"


def _check_surface(surface: str) -> None:
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r} (surfaces: {', '.join(SURFACES)})")


def pointer_key(surface: str) -> str:
    _check_surface(surface)
    return f"{PREFIX}:{surface}:current"


def versions_key(surface: str) -> str:
    _check_surface(surface)
    return f"{PREFIX}:{surface}:versions"


def manifest_key(surface: str, version: str) -> str:
    _check_surface(surface)
    return f"{PREFIX}:{surface}:manifest:{version}"


VARIANT_SEPARATOR = ":"


def variant_entity(user_id: int, variant: str) -> str:
    """The field of a user's list in an experiment's variant (the control's is the plain user id)."""
    return f"{user_id}{VARIANT_SEPARATOR}{variant}"


def bucket_of(entity_id: int | str, buckets: int) -> int:
    """The bucket of an entity: its leading id modulo ``buckets`` (a variant's list goes with its user)."""
    if buckets == 1:
        return 0
    return int(str(entity_id).split(VARIANT_SEPARATOR, 1)[0]) % buckets


def bucket_key(surface: str, version: str, bucket: int) -> str:
    _check_surface(surface)
    if ":" in version:
        raise ValueError(f"version {version!r} must not contain ':'")
    return f"{PREFIX}:{surface}:{version}:{bucket}"


def entry_location(surface: str, version: str, entity_id: int | str, buckets: int) -> tuple[str, str]:
    """(hash key, field) where an entity's list lives."""
    return bucket_key(surface, version, bucket_of(entity_id, buckets)), str(entity_id)
