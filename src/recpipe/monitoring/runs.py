"""What each run did, in Delta (monitoring.task_runs, monitoring.pipeline_runs) and in MLflow.

Every task records its stage timings and row counts under the as-of day it processed. The gate assembles one
pipeline_runs row per list run (the gold run id): task figures, quarantine counts, model version and metrics,
coverage, fallback share, depletion and gate results; publish completes it. Rows are keyed, so a rerun
replaces its own record instead of adding one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recpipe import catalog, tracking
from recpipe.config import Settings
from recpipe.run_day import as_of_from_end
from recpipe.tables import Tables


def future_key(list_name: str, target: str, horizon_days: int, segment: str, metric: str) -> str:
    """Key of a ``recpipe evaluate`` figure in a run record's ``future`` map, e.g.
    ``pipeline/purchase/7d/all/recall_at_100``."""
    return f"{list_name}/{target}/{horizon_days}d/{segment}/{metric}"


def holdout_key(list_name: str, metric: str) -> str:
    """Key of a holdout-protocol figure in ``future``, e.g. ``pipeline/holdout/ndcg_at_10``."""
    return f"{list_name}/holdout/{metric}"


FIGURES = (
    "users",
    "lists",
    "users_missing",
    "coverage",
    "fallback_share",
    "top_items_share",
    "median_score",
    "overlap_at_n",
    "coverage_change",
    "score_shift",
    "depletion",
)


def record_task(tables: Tables, summary: dict[str, Any], as_of: date, run_id: str) -> None:
    """Replace this task's record for ``as_of`` (a rerun of the day overwrites its own record)."""
    row = (
        as_of,
        summary["job"],
        run_id,
        float(sum(summary["seconds"].values())),
        {k: float(v) for k, v in summary["seconds"].items()},
        {k: int(v) for k, v in summary["rows"].items()},
    )
    df = tables.spark.createDataFrame([row], catalog.columns(catalog.MONITORING_TASK_RUNS))
    tables.replace_where(df, catalog.MONITORING_TASK_RUNS, f"as_of = '{as_of}' AND task = '{summary['job']}'")


def task_figures(tables: Tables, as_of: date) -> tuple[dict[str, float], dict[str, int]]:
    """Seconds per task and ``task/count`` row counts of the tasks recorded for ``as_of``."""
    if not tables.exists(catalog.MONITORING_TASK_RUNS):
        return {}, {}
    seconds, rows = {}, {}
    for record in tables.read(catalog.MONITORING_TASK_RUNS).where(F.col("as_of") == F.lit(as_of)).collect():
        seconds[record.task] = record.total_seconds
        rows.update({f"{record.task}/{k}": v for k, v in record.rows.items()})
    return seconds, rows


def quarantined(task_rows: dict[str, int]) -> int:
    """Rows the interactions task sent to quarantine, over all bronze tables."""
    return sum(v for k, v in task_rows.items() if k.startswith("interactions/quarantine."))


ROLLED_BACK = "rolled_back"


def write_run(tables: Tables, record: dict[str, Any]) -> None:
    """Upsert one pipeline_runs row (keyed by run_id)."""
    tables.merge(_frame(tables.spark, [record]), catalog.MONITORING_PIPELINE_RUNS, keys=["run_id"])


def read_run(tables: Tables, run_id: str) -> dict[str, Any] | None:
    if not tables.exists(catalog.MONITORING_PIPELINE_RUNS):
        return None
    row = tables.read(catalog.MONITORING_PIPELINE_RUNS).where(F.col("run_id") == run_id).first()
    return None if row is None else row.asDict(recursive=True)


def mark_rolled_back(tables: Tables, versions: set[str]) -> int:
    """Set status rolled_back on the runs whose published version was taken off the air; returns how many changed."""
    if not versions or not tables.exists(catalog.MONITORING_PIPELINE_RUNS):
        return 0
    changed = (
        tables.read(catalog.MONITORING_PIPELINE_RUNS)
        .where(F.col("published_version").isin(sorted(versions)))
        .where(F.col("status") != ROLLED_BACK)
        .collect()
    )
    for row in changed:
        write_run(tables, {**row.asDict(recursive=True), "status": ROLLED_BACK})
    return len(changed)


def latest_runs(tables: Tables, limit: int) -> DataFrame:
    """The ``limit`` most recent pipeline runs, oldest first."""
    runs = tables.read(catalog.MONITORING_PIPELINE_RUNS)
    return runs.orderBy(F.col("as_of").desc(), F.col("run_id").desc()).limit(limit).orderBy("as_of", "run_id")


def _frame(spark: SparkSession, records: list[dict[str, Any]]) -> DataFrame:
    spec = catalog.REGISTRY[catalog.MONITORING_PIPELINE_RUNS]
    return spark.createDataFrame([tuple(r.get(name) for name, _ in spec.fields()) for r in records], spec.columns)


def mark_published(
    tables: Tables, settings: Settings, summary: dict[str, Any], manifest: dict[str, str], version: str
) -> None:
    """Record the publish task and mark the run's pipeline_runs row published (when the gate wrote one), in Delta
    and in the run's MLflow mirror."""
    run_id, as_of = manifest["run_id"], as_of_from_end(datetime.fromisoformat(manifest["generated_at"]))
    record_task(tables, summary, as_of, run_id)
    record = read_run(tables, run_id)
    if record is None:
        return
    task_seconds, task_rows = task_figures(tables, as_of)
    record.update(status="published", published_version=version, task_seconds=task_seconds, task_rows=task_rows)
    write_run(tables, record)
    tracking.log_pipeline_run(settings, record)
