"""The health page's scoring-against-the-future section, from run records (no Spark)."""

import re
from datetime import date

import pandas as pd

from recpipe.monitoring.report import future_table, render
from recpipe.monitoring.runs import PIPELINE_COLUMNS


def runs_frame(futures):
    rows = []
    for i, future in enumerate(futures):
        row = {name: None for name, _ in PIPELINE_COLUMNS}
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
    assert len(re.findall(r"<img ", page)) == 6  # five run charts and the future chart


def test_without_a_scored_run_the_page_says_how_to_get_one():
    page = render(runs_frame([None]))
    assert 'id="future"' not in page and "recpipe evaluate --as-of D" in page
    assert len(re.findall(r"<img ", page)) == 5


def test_holdout_figures_make_a_table_too():
    columns, rows = future_table({"pipeline/holdout/ndcg_at_10": 0.48, "pipeline/holdout/map_at_10": 0.15})
    assert columns == ["holdout/map_at_10", "holdout/ndcg_at_10"] and rows == [["pipeline", "0.1500", "0.4800"]]
