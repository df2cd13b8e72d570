"""Rollbacks, recorded without Spark: a rollback is an incident tool and must take seconds.

Each rollback appends one JSON line to ``<artifacts>/monitoring/rollbacks.jsonl``; ``recpipe report`` marks the run of the
abandoned version rolled back in monitoring.pipeline_runs and on its page.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Rollback:
    at: str
    abandoned: dict[str, str]  # surface -> the version that was live
    restored: dict[str, str]  # surface -> the version live again


def log_path(artifacts: Path) -> Path:
    return artifacts / "monitoring" / "rollbacks.jsonl"


def record(artifacts: Path, abandoned: dict[str, str], restored: dict[str, str]) -> Rollback:
    """Append one rollback to the log and return it."""
    event = Rollback(datetime.now(UTC).isoformat(timespec="seconds"), abandoned, restored)
    path = log_path(artifacts)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as log:
        log.write(json.dumps(asdict(event)) + "\n")
    return event


def read(artifacts: Path) -> list[Rollback]:
    path = log_path(artifacts)
    if not path.exists():
        return []
    return [Rollback(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def abandoned_versions(events: list[Rollback]) -> set[str]:
    """Versions taken off the air by a rollback (the for-you surface names a run's version)."""
    return {event.abandoned["foryou"] for event in events if "foryou" in event.abandoned}
