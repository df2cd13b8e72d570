"""A self-contained HTML page of the pipeline's health over its latest runs (PNG charts embedded as data URIs)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from recpipe.models.evaluation import MODEL_METRICS
from recpipe.monitoring import charts as draw
from recpipe.monitoring.charts import ServedLists, duration_chart, line_chart
from recpipe.monitoring.runs import ROLLED_BACK, future_key
from recpipe.progress import format_figure

# (column, header) of the run table; doubles are shown with format_figure so a reader can match them to Delta.
TABLE_COLUMNS = (
    ("as_of", "as of"),
    ("status", "status"),
    ("model_version", "model"),
    ("ndcg", "nDCG@k"),
    ("coverage", "coverage"),
    ("fallback_share", "fallback share"),
    ("depletion", "depletion"),
    ("top_items_share", "top 1% items' share"),
    ("overlap_at_n", "overlap at N"),
    ("quarantined", "quarantined rows"),
    ("seconds", "seconds"),
    ("gate_failures", "gate failures"),
    ("published_version", "published version"),
)


@dataclass(frozen=True)
class Chart:
    """A chart of the page, or the note shown in its place when there is nothing to chart yet."""

    caption: str
    png: str | None = None
    note: str | None = None


def _line(
    caption: str,
    x: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    title: str,
    ylabel: str,
    share: bool = False,
    no_data: str = "no data yet",
) -> Chart:
    """A line chart of the series that have a value; over one run a line is a dot, so the table says it instead."""
    present = {name: values for name, values in series.items() if any(v is not None for v in values)}
    if not present:
        return Chart(caption, note=no_data)
    return Chart(caption, png=line_chart(x, present, title, ylabel, share))


def this_run(
    served: ServedLists | None,
    families: Mapping[str, Mapping[str, float]],
    measures: Mapping[str, float] | None = None,
    parity: pd.DataFrame | None = None,
) -> list[Chart]:
    """Charts of the latest run, shown from the first run on: the models train compared, the served lists'
    sources, lengths and scores, who they expose and how diverse they are (``measures``: the record's
    ``responsible`` map), recall per buyer segment (``parity``: the latest evaluated run's segment rows)."""
    made = []
    if measures:
        made.append(
            Chart(
                "Seller exposure (top 20, position-weighted): Gini, top 1% sellers' share, live sellers exposed, "
                "new sellers' and fresh listings' share",
                png=draw.shares_chart(measures, draw.EXPOSURE_FIGURES, "Who the lists expose"),
            )
        )
        made.append(
            Chart(
                "Diversity (top 10, mean over pairs) and coverage of listings for sale",
                png=draw.shares_chart(measures, draw.DIVERSITY_FIGURES, "Diversity and coverage"),
            )
        )
    if parity is not None and len(parity):
        made.append(Chart("Segment parity: recall@100 of next-week purchases", png=draw.parity_chart(parity)))
    if families:
        made.append(
            Chart(
                "Time split: every model train compared (target recall at target_k, nDCG at k)",
                png=draw.families_chart(families),
            )
        )
    if served is not None:
        made.append(Chart("Where the served lists come from", png=draw.sources_chart(served.sources)))
        made.append(Chart("How long the served lists are", png=draw.lengths_chart(served.lengths)))
        if len(served.scores):
            made.append(Chart("Scores of the personal lists", png=draw.scores_chart(served.scores)))
    return made


def charts(runs: pd.DataFrame) -> list[Chart]:
    """The page's run-over-run charts, for runs ordered oldest first (none over a single run: a line of one point
    says nothing a table does not)."""
    if len(runs) < 2:
        return []
    x = [str(d) for d in runs["as_of"]]
    metrics = [m or {} for m in runs["model_metrics"]]
    figures = lambda column: [None if pd.isna(v) else float(v) for v in runs[column]]
    made = [
        _line(
            "Model quality (time split: target recall at target_k, the rest at k)",
            x,
            {m: [r.get(m) for r in metrics] for m in MODEL_METRICS},
            "Model quality",
            "metric",
        ),
        _line(
            "Catalog coverage and fallback share",
            x,
            {"catalog coverage": figures("coverage"), "users on fallback": figures("fallback_share")},
            "Coverage",
            "share",
            share=True,
        ),
        _line(
            "Depletion: previously published entries sold since",
            x,
            {"depletion": figures("depletion")},
            "Depletion",
            "share",
            share=True,
            no_data="measured from the second published run on",
        ),
        _line(
            "Popularity concentration: list slots held by the top 1% of items",
            x,
            {"top 1% share": figures("top_items_share")},
            "Popularity concentration",
            "share",
            share=True,
        ),
        Chart("Task durations", png=duration_chart(x, [s or {} for s in runs["task_seconds"]])),
    ]
    future = future_chart(x, _future(runs))
    if future:
        made.append(Chart("Scoring against the future: recall@100 of the next 7 days' purchases", png=future))
    return made


def _figure_html(chart: Chart) -> str:
    caption = html.escape(chart.caption)
    if chart.png is None:
        return (
            f'<figure class="empty"><p>{html.escape(chart.note or "")}</p><figcaption>{caption}</figcaption></figure>'
        )
    return f'<figure><img alt="{caption}" src="data:image/png;base64,{chart.png}"><figcaption>{caption}</figcaption></figure>'


def headline(runs: pd.DataFrame) -> str:
    """What is live (the newest published run that was not rolled back) and, when newer, the latest run."""
    latest = runs.iloc[-1]
    published = runs[runs["published_version"].notna() & (runs["status"] != ROLLED_BACK)]
    latest_text = f"Latest run {latest['run_id']} (as of {latest['as_of']}): {latest['status']}."
    if published.empty:
        return f"Nothing is live from these runs yet. {latest_text}"
    live = published.iloc[-1]
    live_text = (
        f"Live: version {live['published_version']} from run {live['run_id']} (as of {live['as_of']}): "
        f"{format_figure(_plain(live['users']))} users, coverage {format_figure(_plain(live['coverage']))}, "
        f"depletion {format_figure(_plain(live['depletion']))}."
    )
    return live_text if live["run_id"] == latest["run_id"] else f"{live_text} {latest_text}"


def _headline(list_name: str) -> str:
    """The series charted per list over runs: recall@100 of the next 7 days' purchases."""
    return future_key(list_name, "purchase", 7, "all", "recall_at_100")


def _future(runs: pd.DataFrame) -> list[dict[str, float]]:
    """Each run's ``recpipe evaluate`` figures (``<list>/<target>/<h>d/<segment>/recall_at_<k>``); {} if none."""
    if "future" not in runs.columns:
        return [{} for _ in range(len(runs))]
    return [dict(f) if isinstance(f, dict) else dict(f or []) for f in runs["future"]]


def future_chart(x: Sequence[str], future: list[dict[str, float]]) -> str | None:
    lists = sorted({key.split("/", 1)[0] for f in future for key in f if key == _headline(key.split("/", 1)[0])})
    if not lists:
        return None
    series = {name: [f.get(_headline(name)) for f in future] for name in lists}
    return line_chart(x, series, "Recall@100 of the next 7 days' purchases", "recall")


def _column_order(column: str) -> tuple:
    """``purchase/7d/all/recall_at_100``: by target, then horizon in days, then the rest; ``holdout/...`` as text."""
    parts = column.split("/")
    days = int(parts[1][:-1]) if len(parts) > 2 and parts[1][:-1].isdigit() else 0
    return parts[0], days, column


def future_table(future: dict[str, float]) -> tuple[list[str], list[list[str]]]:
    """The latest evaluation as a table: one row per list, one column per target, horizon, segment and k."""
    columns = sorted({key.split("/", 1)[1] for key in future}, key=_column_order)
    lists = sorted({key.split("/", 1)[0] for key in future})
    rows = [[name, *[format_figure(future.get(f"{name}/{c}")) for c in columns]] for name in lists]
    return columns, rows


def _future_section(runs: pd.DataFrame) -> str:
    evaluated = [(run_id, f) for run_id, f in zip(runs["run_id"], _future(runs)) if f]
    if not evaluated:
        return "<h2>Scoring against the future</h2><p>No run has been scored yet: run <code>recpipe evaluate --as-of D</code> once the days after D have happened.</p>"
    run_id, future = evaluated[-1]
    columns, rows = future_table(future)
    header = "".join(
        f"<th>{html.escape(c.replace('/', ' ').replace('recall_at_', 'recall@'))}</th>" for c in ["list", *columns]
    )
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return (
        f"<h2>Scoring against the future</h2><p>Run {html.escape(str(run_id))}: its served lists against the following days "
        f"(warm: the item had events at the as-of; cold: listed without events; new: listed later).</p>"
        f'<table id="future"><thead><tr>{header}</tr></thead><tbody>\n{body}\n</tbody></table>'
    )


def table_rows(runs: pd.DataFrame) -> list[list[str]]:
    """The run table's cells, formatted as the page shows them."""
    rows = []
    for _, run in runs.iterrows():
        values = {
            **run.to_dict(),
            "ndcg": (run["model_metrics"] or {}).get("ndcg"),
            "seconds": float(sum((run["task_seconds"] or {}).values())),
        }
        rows.append([format_figure(_plain(values[column])) for column, _ in TABLE_COLUMNS])
    return rows


def _plain(value):
    """numpy scalars and arrays from pandas -> Python values, so formatting does not depend on the dtype."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


NO_RUN_YET = "No completed run yet"


def render_no_runs(title: str = "recpipe pipeline health") -> str:
    """The page before any run got through the gate: says so, and what produces the first figures."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}</style></head>
<body><h1>{html.escape(title)}</h1><p id="headline">{NO_RUN_YET}: no run of the pipeline has reached
<code>recpipe gate</code>, which records a run. The failing task's message says what to fix; then run
<code>recpipe run</code> again.</p></body></html>
"""


def experiments_section(results: pd.DataFrame | None, charts: Mapping[str, str]) -> str:
    """Each experiment's reading (monitoring.experiment_results): its chart (base64 PNG by name) and its table."""
    if results is None or results.empty:
        return ""
    parts = ["<h2>Experiments</h2>"]
    columns = ["metric", "method", "variant", "control_value", "variant_value", "difference", "low", "high", "p_value"]
    for name, rows in results.groupby("experiment", sort=True):
        blocked = bool(rows["blocked"].any())
        note = " <strong>blocked: sample-ratio mismatch</strong>" if blocked else ""
        parts.append(f"<h3>{html.escape(str(name))}</h3><p>{int(rows['users'].max()):,} exposed users{note}</p>")
        if name in charts:
            parts.append(f'<img alt="experiment {html.escape(str(name))}" src="data:image/png;base64,{charts[name]}">')
        header = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "\n".join(
            "<tr>" + "".join(f"<td>{html.escape(format_figure(_plain(r[c])))}</td>" for c in columns) + "</tr>"
            for _, r in rows.iterrows()
        )
        parts.append(f'<table class="experiment"><thead><tr>{header}</tr></thead><tbody>\n{body}\n</tbody></table>')
    return "\n".join(parts)


def render(
    runs: pd.DataFrame,
    latest: Sequence[Chart] = (),
    title: str = "recpipe pipeline health",
    experiments: str = "",
) -> str:
    """The HTML page for ``runs`` (one row per pipeline run, oldest first) and the latest run's charts."""
    this = "\n".join(_figure_html(chart) for chart in latest)
    over_runs = charts(runs)
    images = (
        "\n".join(_figure_html(chart) for chart in over_runs)
        if over_runs
        else "<p>Run-over-run charts (model quality, coverage, depletion, concentration, durations) start with the second run.</p>"
    )
    header = "".join(f"<th>{html.escape(label)}</th>" for _, label in TABLE_COLUMNS)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in table_rows(runs)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} figure{{display:inline-block;margin:0.5em}}
figure.empty p{{width:28em;color:#666}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px}}</style></head>
<body><h1>{html.escape(title)}</h1><p id="headline">{html.escape(headline(runs))}</p>
<h2>This run</h2>
{this}
<h2>Over runs</h2>
{images}
<h2>Runs</h2><table id="runs"><thead><tr>{header}</tr></thead><tbody>
{body}
</tbody></table>
{_future_section(runs)}
{experiments}</body></html>
"""
