"""Per-stage log lines with row counts and timings, and the job summary they add up to."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("recpipe")


def configure_logging(verbose: bool = False) -> None:
    """One readable line per event on stderr; Spark and py4j chatter is kept at WARNING."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )
    for noisy in ("py4j", "pyspark", "great_expectations", "mlflow", "urllib3", "alembic", "gensim", "smart_open"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def format_figure(value: Any) -> str:
    """How logs and the report print a figure: four decimals for fractions, thousands separators for counts."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "none"
    return str(value)


@dataclass
class StageLog:
    """What a job did, stage by stage: seconds and row counts, for logs, MLflow and run records."""

    job: str
    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage and log its end: ``<job>/<stage> done in 1.2s``."""
        start = time.perf_counter()
        log.info("%s/%s ...", self.job, name)
        yield
        elapsed = time.perf_counter() - start
        self.seconds[name] = round(elapsed, 3)
        log.info("%s/%s done in %.1fs", self.job, name, elapsed)

    def count(self, name: str, rows: int) -> int:
        """Record and log a row count."""
        self.rows[name] = int(rows)
        log.info("%s: %s = %s rows", self.job, name, f"{rows:,}")
        return rows

    def summary(self) -> dict[str, Any]:
        return {"job": self.job, "seconds": dict(self.seconds), "rows": dict(self.rows)}
