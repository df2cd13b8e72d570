"""`recpipe monitor` on Delta tables with a real HTTP server receiving its POST: a planted collapse of event
volume is an alert row, a message and exit 2; a steady day posts nothing."""

from __future__ import annotations

import json
import math
import threading
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pandas as pd
import pytest

from recpipe import catalog
from recpipe.config.responsible import MonitorConfig
from recpipe.jobs.context import JobContext
from recpipe.jobs.monitor import MonitorBreach, monitor
from recpipe.monitoring import monitors

AS_OF = date(2026, 11, 1)
pytestmark = pytest.mark.slow  # runs the job on Spark


class Receiver:
    """A local HTTP server that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:  # quiet
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/recpipe"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_world(ctx: JobContext, as_of_events: int) -> None:
    """100 events a day (alternating views and likes, one user per 5 events) on the 7 days before the as-of and
    ``as_of_events`` on it; 6 lists, 5 personal."""
    rows, event_id = [], 0
    for day in range(8):
        when = datetime.combine(AS_OF - timedelta(days=7 - day), datetime.min.time()) + timedelta(hours=12)
        for k in range(100 if day < 7 else as_of_events):
            event_id += 1
            rows.append((event_id, k // 5, k, "view" if k % 2 else "like", when, event_id, "feed"))
    t = ctx.tables
    t.overwrite(ctx.spark.createDataFrame(rows, catalog.columns(catalog.BRONZE_EVENTS)), catalog.BRONZE_EVENTS)
    lists = [(u, [1, 2], [0.9, 0.8], "personal" if u < 6 else "fallback") for u in range(1, 7)]
    schema = "user_id long, item_ids array<long>, scores array<float>, source string"
    t.overwrite(ctx.spark.createDataFrame(lists, schema), catalog.GOLD_USER_CANDIDATES)
    items = [(1, 7, "tops", "b", "M", 20.0, "good", datetime(2026, 10, 1), None, None, "active")]
    t.overwrite(ctx.spark.createDataFrame(items, catalog.columns(catalog.SILVER_ITEMS)), catalog.SILVER_ITEMS)


def test_a_collapse_of_event_volume_alerts_posts_and_fails_the_task(spark, settings):
    ctx = JobContext.for_settings("monitor", settings, spark, AS_OF)
    write_world(ctx, as_of_events=20)  # 20 against 100 a day: ratio 0.2 < 0.5
    with Receiver() as receiver, pytest.raises(MonitorBreach, match="event_volume 0.2 outside"):
        monitor(ctx, MonitorConfig(), "publish", receiver.url)
    [message] = receiver.received
    assert message["text"].startswith("recpipe monitor (publish, as-of 2026-11-01): 1 threshold(s) breached")
    assert "BLOCKING event_volume 0.2 outside [0.5, inf]" in message["text"]
    assert [(a["check"], a["observed"], a["blocking"]) for a in message["alerts"]] == [("event_volume", 0.2, True)]
    [alert] = ctx.tables.read(catalog.MONITORING_ALERTS).collect()
    assert (alert.check, alert.observed, alert.bound, alert.blocking) == ("event_volume", 0.2, "[0.5, inf]", True)

    # a rerun after the day's late events landed: no breach, no message, the day's alerts replaced by none
    write_world(ctx, as_of_events=100)
    with Receiver() as receiver:
        summary = monitor(ctx, MonitorConfig(), "publish", receiver.url)
    assert receiver.received == [] and summary["breached"] == [] and summary["posted"] is None
    assert ctx.tables.read(catalog.MONITORING_ALERTS).count() == 0
    assert summary["checks"] == 3  # volume, personal share, activity drift (no listing was created: no drift)


def test_a_non_blocking_breach_alerts_without_failing_to_the_webhook_of_the_settings(spark, settings):
    with Receiver() as receiver:
        where = settings.model_copy(update={"alert_webhook_url": receiver.url})  # RECPIPE_ALERT_WEBHOOK_URL
        ctx = JobContext.for_settings("monitor", where, spark, AS_OF)
        write_world(ctx, as_of_events=100)
        summary = monitor(ctx, MonitorConfig(min_personal_share=0.9), "publish")
    assert summary["breached"] == ["personal_share"]  # 5 of 6 lists personal
    assert receiver.received[0]["alerts"][0]["observed"] == pytest.approx(5 / 6)


def test_population_stability_by_hand():
    same = pd.Series({"a": 50, "b": 50})
    assert monitors.population_stability(same, same) == 0.0
    shifted = pd.Series({"a": 90, "b": 10})  # (0.9 - 0.5) ln(1.8) + (0.1 - 0.5) ln(0.2)
    expected = 0.4 * math.log(1.8) - 0.4 * math.log(0.2)
    assert monitors.population_stability(same, shifted) == pytest.approx(expected)


def test_record_checks_recall_drop_and_exposure():
    key = monitors.RECALL_KEY
    records = pd.DataFrame(
        {
            "run_id": ["r1", "r2", "r3"],
            "depletion": [None, 0.1, 0.5],
            "future": [{key: 0.10}, {key: 0.10}, {key: 0.05}],
            "responsible": [None, {"seller_gini": 0.97, "sellers_exposed": 0.2}, None],
        }
    )
    checks = {c.check: c for c in monitors.record_checks(records, MonitorConfig())}
    assert checks["recall_drop"].observed == pytest.approx(0.5) and checks["recall_drop"].breached
    assert checks["depletion"].observed == 0.5 and checks["depletion"].breached
    assert checks["seller_gini"].breached and checks["sellers_exposed"].breached
    assert "parity_ratio" not in checks  # no run measured parity yet
