"""The health page's scoring-against-the-future section, from run records (no Spark)."""

import re
from datetime import date

import numpy as np
import pandas as pd
import pytest

from recpipe import catalog
from recpipe.monitoring.charts import ServedLists, y_limits
from recpipe.monitoring.report import experiments_section, future_table, headline, render, this_run
from recpipe.monitoring.runs import ROLLED_BACK


def runs_frame(futures):
    rows = []
    for i, future in enumerate(futures):
        row = {name: None for name, _ in catalog.REGISTRY[catalog.MONITORING_PIPELINE_RUNS].fields()}
        row.update(
            run_id=f"run-{i}",
            as_of=date(2026, 10, 20 + i),
            status="published",
            users=10,
            coverage=0.5,
            depletion=0.1,
            model_metrics={"ndcg": 0.1},
            task_seconds={"train": 3.0},
            future=future,
        )
        rows.append(row)
    return pd.DataFrame(rows)


FUTURE = {
    "pipeline/purchase/7d/all/recall_at_100": 0.05,
    "oracle/purchase/7d/all/recall_at_100": 0.25,
    "pipeline/purchase/1d/all/recall_at_100": 0.1,
    "oracle/purchase/1d/all/recall_at_100": 0.5,
}


def test_future_table_has_a_row_per_list_and_horizons_in_order():
    columns, rows = future_table(FUTURE)
    assert columns == ["purchase/1d/all/recall_at_100", "purchase/7d/all/recall_at_100"]
    assert rows == [["oracle", "0.5000", "0.2500"], ["pipeline", "0.1000", "0.0500"]]


def test_the_page_shows_the_latest_scored_run_and_charts_it():
    page = render(runs_frame([FUTURE, None]))
    section = page[page.index('<table id="future">') :]
    assert "Run run-0" in page and "<td>pipeline</td><td>0.1000</td><td>0.0500</td>" in section
    # model quality, coverage, depletion, durations and the future; popularity concentration has no value yet
    assert len(re.findall(r"<img ", page)) == 5
    assert "Popularity concentration" in page and "no data yet" in page


def test_without_a_scored_run_the_page_says_how_to_get_one():
    page = render(runs_frame([None]))
    assert 'id="future"' not in page and "recpipe evaluate --as-of D" in page
    # one run: lines would be single dots, so no run-over-run chart is drawn and the page says when they start
    assert len(re.findall(r"<img ", page)) == 0 and "start with the second run" in page


def test_the_headline_names_the_live_version_not_just_the_latest_run():
    runs = runs_frame([None, None, None])
    runs["published_version"] = ["v0", "v1", None]
    runs.loc[1, "status"] = ROLLED_BACK
    runs.loc[2, "status"] = "gate_failed"
    assert headline(runs) == (
        "Live: version v0 from run run-0 (as of 2026-10-20): 10 users, coverage 0.5000, "
        "depletion 0.1000. Latest run run-2 (as of 2026-10-22): gate_failed."
    )
    assert headline(runs_frame([None])).startswith("Nothing is live from these runs yet. Latest run run-0")


def test_shares_are_drawn_on_their_whole_range_and_other_figures_from_zero():
    assert y_limits([0.9705, 0.9710], share=True) == (0.0, 1.0)
    low, high = y_limits([0.9705, 0.9710], share=False)
    assert low == 0.0 and high == pytest.approx(0.9710 * 1.15)


def test_holdout_figures_make_a_table_too():
    columns, rows = future_table({"pipeline/holdout/ndcg_at_10": 0.48, "pipeline/holdout/map_at_10": 0.15})
    assert columns == ["holdout/map_at_10", "holdout/ndcg_at_10"] and rows == [["pipeline", "0.1500", "0.4800"]]


def test_the_first_run_shows_the_models_compared_and_the_served_lists():
    """From the first run on: the time-split figures of every model as bars, list sources, lengths and scores."""
    served = ServedLists({"personal": 8, "fallback:country=FR": 2}, {9: 8, 4: 2}, np.linspace(0.1, 0.9, 72))
    families = {"als": {"target_recall": 0.2, "ndcg": 0.3}, "popularity": {"target_recall": 0.1, "ndcg": 0.1}}
    latest = this_run(served, families)
    assert [c.caption.split(":")[0] for c in latest] == [
        "Time split",
        "Where the served lists come from",
        "How long the served lists are",
        "Scores of the personal lists",
    ]
    page = render(runs_frame([None]), latest)
    assert len(re.findall(r"<img ", page)) == 4 and page.index("This run") < page.index("Over runs")
    assert [c.caption for c in this_run(None, {})] == []  # nothing to draw before the first lists


def test_the_report_shows_each_experiments_reading_and_says_when_it_is_blocked():
    row = dict(metric="purchases_per_user", method="cuped", variant="model", control_value=0.5, variant_value=0.6)
    row |= dict(difference=0.1, low=-0.05, high=0.25, p_value=0.2, users=4_000, srm_p_value=0.5, blocked=False)
    results = pd.DataFrame([{**row, "experiment": "ab"}, {**row, "experiment": "other", "blocked": True}])
    page = experiments_section(results, {"ab": "iVBORw0KGgo="})
    assert "<h3>ab</h3><p>4,000 exposed users</p>" in page and 'src="data:image/png;base64,iVBORw0KGgo="' in page
    assert "<h3>other</h3><p>4,000 exposed users <strong>blocked: sample-ratio mismatch</strong></p>" in page
    assert page.count("<td>purchases_per_user</td>") == 2
    assert experiments_section(None, {}) == ""


def test_the_report_charts_who_the_lists_expose_their_diversity_and_each_segments_recall():
    measures = {"seller_gini": 0.8, "sellers_exposed": 0.6, "category_diversity": 0.7, "catalog_coverage": 0.3}
    parity = pd.DataFrame(
        {
            "dimension": ["country", "country", "tenure"],
            "segment": ["FR", "DE", "new"],
            "users": [120, 80, 40],
            "value": [0.10, 0.05, 0.07],
            "low": [0.08, 0.03, 0.04],
            "high": [0.12, 0.07, 0.10],
        }
    )
    charts = this_run(None, {}, measures, parity)
    assert [c.caption.split(":")[0].split(" (")[0] for c in charts] == [
        "Seller exposure",
        "Diversity",
        "Segment parity",
    ]
    assert all(c.png for c in charts)
    assert this_run(None, {}, None, None) == []  # a run without measures (no gate yet) charts nothing
