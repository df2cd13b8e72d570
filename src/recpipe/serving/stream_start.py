"""Where the availability stream's first start begins, chosen once and kept in its checkpoint folder.

By default it catches up from the live lists' data end (the ``generated_at`` of the live ``foryou`` manifest: sales
before it are in the lists); ``--since`` names a time and ``--starting-version`` Delta versions of the bronze
tables. A stream that has started resumes from its checkpoint, so a start option then is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from recpipe import catalog
from recpipe.config import ConfigError
from recpipe.serving import overlays
from recpipe.serving.connection import RedisTarget
from recpipe.serving.publisher import PublishError

MARKER = "recpipe_start.json"
STREAMED_TABLES = (catalog.BRONZE_ITEMS, catalog.BRONZE_EVENTS)


@dataclass(frozen=True)
class StreamStart:
    """Where a stream's first start begins, kept in its checkpoint folder: a time from which signals apply (the
    tables are read whole, then followed), or Delta versions of the bronze tables."""

    since: datetime | None = None
    versions: dict[str, int] | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.versions is not None:
            return f"Delta versions {self.versions} ({self.reason})"
        if self.since is not None:
            return f"{self.since.isoformat()} ({self.reason})"
        return f"the tables' beginning ({self.reason})"


def requested_start(since: datetime | None, versions: list[str]) -> StreamStart | None:
    """The start asked for on the command line: ``--since`` or ``--starting-version [TABLE=]N``."""
    if since is not None:
        return StreamStart(since=since, reason="--since")
    if not versions:
        return None
    found: dict[str, int] = {}
    for token in versions:
        table, sep, number = token.rpartition("=")
        names = [table] if sep else list(STREAMED_TABLES)
        if not number.isdigit() or any(n not in STREAMED_TABLES for n in names):
            raise ConfigError(
                f"--starting-version {token!r}: expected VERSION or TABLE=VERSION with TABLE "
                f"{catalog.BRONZE_ITEMS} or {catalog.BRONZE_EVENTS}"
            )
        found |= dict.fromkeys(names, int(number))
    return StreamStart(versions=found, reason="--starting-version")


def lists_data_end(target: RedisTarget) -> StreamStart:
    """The default first start: the live lists' data end (sales before it are in the lists); the tables'
    beginning when nothing is published."""
    try:
        live = overlays.live_batch(target.client())
    except PublishError:
        return StreamStart(reason="nothing is published")
    return StreamStart(since=live.generated_at, reason=f"the data end of the live foryou version {live.version}")


def stream_start(checkpoint: Path, target: RedisTarget, asked: StreamStart | None = None) -> StreamStart:
    """The start kept in the checkpoint folder, or, at the first start, the one asked for (else the live lists'
    data end), recorded there; asking for a start when a checkpoint exists is an error."""
    marker = checkpoint / MARKER
    if marker.exists():
        if asked is not None:
            raise ConfigError(
                f"{checkpoint} holds a started stream, which resumes where it stopped: --since and --starting-version "
                "apply to a first start only (remove the checkpoint folder to start over)"
            )
        kept = json.loads(marker.read_text())
        if "reason" not in kept:  # kept by an earlier release: Delta versions only
            return StreamStart(versions={k: int(v) for k, v in kept.items()}, reason="kept in the checkpoint")
        since = datetime.fromisoformat(kept["since"]) if kept["since"] else None
        return StreamStart(since, kept["versions"], kept["reason"])
    chosen = asked or lists_data_end(target)
    checkpoint.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        json.dumps(
            {
                "since": chosen.since.isoformat() if chosen.since else None,
                "versions": chosen.versions,
                "reason": chosen.reason,
            }
        )
    )
    return chosen
