"""`recpipe monitor`: check the run against the monitors' thresholds, record breaches and alert a person."""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config.responsible import MonitorConfig
from recpipe.errors import RecpipeError
from recpipe.jobs.context import JobContext
from recpipe.monitoring import monitors, runs
from recpipe.run_day import add_as_of_arguments
from recpipe.tables import one_row, to_pandas

log = logging.getLogger(__name__)

NAME = "monitor"
STAGES = ("publish", "evaluate")
DESCRIPTION = """\
Runs after publish (event volume of the as-of day against the days before, share of personal lists, drift of new
listings' category, condition and price band and of user activity against the training window, as population
stability indices) and after evaluate; both also check the latest run records (depletion of the lists published
before, seller exposure Gini, share of live sellers exposed, the worst buyer segment's recall against the best,
recall@100 of purchases against the trailing runs). Thresholds: responsible.monitor. Breaches go to
monitoring.alerts and, with --webhook (or $RECPIPE_ALERT_WEBHOOK_URL), one JSON message is posted (Slack `text`
plus the alerts). A breached `blocking` check exits 2 so the task, and the job, fail."""


class MonitorBreach(RecpipeError):
    """A blocking threshold was breached: the task fails so the scheduler's failure notification fires."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser)
    parser.add_argument("--stage", choices=STAGES, default="publish", help="which task this monitor follows")
    parser.add_argument("--webhook", help="URL to POST breaches to (JSON, Slack-compatible)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    ctx = JobContext.create(NAME, args)
    return monitor(ctx, ctx.config.responsible.monitor, args.stage, args.webhook)


def monitor(ctx: JobContext, config: MonitorConfig, stage: str, webhook: str | None = None) -> dict[str, Any]:
    t, stages = ctx.tables, ctx.stages
    events = t.read(catalog.BRONZE_EVENTS).where(F.col("event_ts").isNotNull())
    as_of = ctx.as_of or one_row(events.agg(F.max(F.to_date("event_ts"))))[0]
    with stages.stage("checks"):
        found = []
        if stage == "publish":
            lists = t.read(catalog.GOLD_USER_CANDIDATES)
            items = t.read(catalog.SILVER_ITEMS)
            found += [
                monitors.event_volume(events, as_of, config),
                monitors.personal_share(lists, config),
                monitors.listing_drift(items, as_of, config),
                monitors.activity_drift(events, as_of, config),
            ]
        if t.exists(catalog.MONITORING_PIPELINE_RUNS):
            found += monitors.record_checks(to_pandas(runs.latest_runs(t, config.trailing_runs + 1)), config)
        checks = [c for c in found if c is not None]
        for check in checks:
            log.info("monitor: %-16s %.4g within %s: %s", check.check, check.observed, check.bound, not check.breached)
        rows = monitors.alert_rows(checks, as_of, stage, config.blocking, datetime.now(UTC).replace(tzinfo=None))
        monitors.write_alerts(t, rows, as_of, stage)
        stages.count(catalog.MONITORING_ALERTS, len(rows))

    url = webhook or ctx.settings.alert_webhook_url
    posted = None
    if rows and url:
        payload = monitors.message(checks, as_of, stage, config.blocking)
        try:
            posted = monitors.post(url, payload)
            log.info("monitor: %d alert(s) posted (HTTP %d)", len(rows), posted)
        except OSError as exc:  # the alert rows are written; a chat outage must not hide them
            log.error("monitor: could not post %d alert(s) to the webhook: %s", len(rows), exc)
    runs.record_task(t, stages.summary(), as_of, f"monitor-{stage}")
    blocking = [c for c in checks if c.breached and c.check in config.blocking]
    if blocking:
        raise MonitorBreach(
            f"monitor ({stage}, as-of {as_of}): blocking threshold breached: "
            + "; ".join(c.message() for c in blocking)
        )
    breached = [c.check for c in checks if c.breached]
    return {**stages.summary(), "as_of": str(as_of), "checks": len(checks), "breached": breached, "posted": posted}
