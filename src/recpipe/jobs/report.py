"""`recpipe report`: a self-contained HTML page of the latest pipeline runs."""

from __future__ import annotations

import argparse
import base64
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import functions as F

from recpipe import catalog, tracking
from recpipe.jobs.context import JobContext
from recpipe.monitoring import charts, responsible, rollbacks, runs
from recpipe.monitoring.report import NO_RUN_YET, experiments_section, render, render_no_runs, this_run
from recpipe.tables import to_pandas

log = logging.getLogger(__name__)

NAME = "report"
DESCRIPTION = """\
Reads the latest runs from monitoring.pipeline_runs and writes one HTML file with embedded PNG charts (model
metrics, catalog coverage and fallback share, depletion, popularity concentration, task durations; from the second
run on), the latest run's charts (the models train compared, list sources, lengths, scores) and a table
of each run's figures; runs whose lists were rolled back (`recpipe publish --rollback`) are marked so. Default
output: <artifacts>/reports/pipeline_health.html (the data folder locally, a Unity Catalog volume on Databricks)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=30, help="how many of the latest runs to show")
    parser.add_argument("--output", type=Path, help="HTML file to write")


def run(args: argparse.Namespace) -> dict[str, Any]:
    ctx = JobContext.create(NAME, args)
    return write_report(ctx, args.runs, args.output)


def write_report(ctx: JobContext, limit: int, output: Path | None = None) -> dict[str, Any]:
    output = output or ctx.settings.artifacts / "reports" / "pipeline_health.html"
    output.parent.mkdir(parents=True, exist_ok=True)
    if not ctx.tables.exists(catalog.MONITORING_PIPELINE_RUNS):  # a first run that failed before the gate
        output.write_text(render_no_runs())
        log.info("%s: %s is empty; the report says so", NO_RUN_YET, catalog.MONITORING_PIPELINE_RUNS)
        return {"job": NAME, "report": str(output), "runs": 0, "note": NO_RUN_YET}
    marked = runs.mark_rolled_back(ctx.tables, rollbacks.abandoned_versions(rollbacks.read(ctx.settings.artifacts)))
    frame = to_pandas(runs.latest_runs(ctx.tables, limit))
    version = frame.iloc[-1]["model_version"] if len(frame) else None
    names = charts.FAMILY_FIGURES
    families = tracking.compared_models(ctx.settings, ctx.config.model.name, str(version), names) if version else {}
    experiments = experiments_section(*experiment_readings(ctx))
    measures = frame.iloc[-1].get("responsible") if len(frame) and "responsible" in frame else None
    latest = this_run(charts.served_lists(ctx.tables), families, measures, segment_recall(ctx))
    output.write_text(render(frame, latest, experiments=experiments))
    return {"job": NAME, "report": str(output), "runs": len(frame), "marked_rolled_back": marked}


def segment_recall(ctx: JobContext) -> pd.DataFrame | None:
    """The recall-per-segment rows of the newest run evaluate measured parity for."""
    if not ctx.tables.exists(catalog.MONITORING_RESPONSIBLE_MEASURES):
        return None
    rows = ctx.tables.read(catalog.MONITORING_RESPONSIBLE_MEASURES).where(
        F.col("measure") == responsible.SEGMENT_RECALL
    )
    newest = rows.orderBy(F.col("as_of").desc(), F.col("run_id").desc()).select("run_id").first()
    return None if newest is None else to_pandas(rows.where(F.col("run_id") == newest.run_id))


def experiment_readings(ctx: JobContext) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """monitoring.experiment_results and each experiment's chart (base64 PNG) written by its analysis."""
    if not ctx.tables.exists(catalog.MONITORING_EXPERIMENT_RESULTS):
        return None, {}
    results = to_pandas(ctx.tables.read(catalog.MONITORING_EXPERIMENT_RESULTS))
    folder = ctx.settings.artifacts / "experiments"
    pngs = {name: folder / f"{name}.png" for name in results["experiment"].unique()}
    return results, {
        name: base64.b64encode(path.read_bytes()).decode("ascii") for name, path in pngs.items() if path.exists()
    }
