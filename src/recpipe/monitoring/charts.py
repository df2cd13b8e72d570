"""The report's charts as PNGs: over runs (lines, task durations) and of the latest run, shown from the first run
on (the models train compared, where the served lists come from, how long they are, how their scores spread)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.plots import pyplot
from recpipe.tables import Tables, to_pandas
from recpipe.transforms.candidates import PERSONAL_SOURCE

FAMILY_FIGURES = ("target_recall", "ndcg")  # what the families are compared by on the time split
SCORE_SAMPLE = 50_000  # personal lists whose scores the histogram shows


@dataclass(frozen=True)
class ServedLists:
    """What the run's gold.user_candidates hold: users per source, lists per length, personal scores."""

    sources: dict[str, int]
    lengths: dict[int, int]
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


def served_lists(tables: Tables) -> ServedLists | None:
    """The served user lists in three small aggregations (None before the candidates job ran)."""
    if not tables.exists(catalog.GOLD_USER_CANDIDATES):
        return None
    lists = tables.read(catalog.GOLD_USER_CANDIDATES)
    sources = {r.source: r["count"] for r in lists.groupBy("source").count().collect()}
    lengths = {r.n: r["count"] for r in lists.groupBy(F.size("item_ids").alias("n")).count().collect()}
    personal = (
        lists.where(F.col("source") == PERSONAL_SOURCE).limit(SCORE_SAMPLE).select(F.explode("scores").alias("s"))
    )
    return ServedLists(sources, lengths, to_pandas(personal)["s"].to_numpy(np.float32))


def png(fig) -> str:
    """A figure as a base64 PNG (closed after)."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    pyplot().close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def families_chart(figures: Mapping[str, Mapping[str, float]]) -> str:
    """Grouped bars: the figures of every model compared on the time split (families and baselines)."""
    fig, ax = pyplot().subplots(figsize=(7, 3.2))
    models = list(figures)
    width = 0.8 / max(len(FAMILY_FIGURES), 1)
    for i, name in enumerate(FAMILY_FIGURES):
        ax.bar(
            [x + i * width for x in range(len(models))], [figures[m].get(name, 0.0) for m in models], width, label=name
        )
    ax.set_xticks([x + width * (len(FAMILY_FIGURES) - 1) / 2 for x in range(len(models))], models)
    ax.tick_params(axis="x", labelrotation=20)
    ax.set_title("Time split: models compared by train")
    ax.legend()
    return png(fig)


def sources_chart(sources: Mapping[str, int]) -> str:
    """Horizontal bars: users per list source (personal, each fallback segment)."""
    ordered = sorted(sources.items(), key=lambda kv: (kv[0] != PERSONAL_SOURCE, -kv[1]))[:12]
    fig, ax = pyplot().subplots(figsize=(7, 3.2))
    ax.barh([name for name, _ in ordered][::-1], [count for _, count in ordered][::-1])
    ax.set_title("Users per list source")
    ax.set_xlabel("users")
    return png(fig)


def lengths_chart(lengths: Mapping[int, int]) -> str:
    """Bars: lists per length (the gate's minimum and the configured length are where they cluster)."""
    fig, ax = pyplot().subplots(figsize=(7, 3.2))
    longest, total = max(lengths, default=0), sum(lengths.values())
    ax.bar(list(lengths), list(lengths.values()), width=max(longest / 60, 1))
    ax.set_xlim(0, longest * 1.05 + 1)  # from zero: short lists stand apart from full ones
    full = lengths.get(longest, 0) / total if total else 0.0
    ax.set_title(f"List lengths ({full:.0%} of {total:,} lists hold {longest})")
    ax.set_xlabel("items in the list")
    ax.set_ylabel("lists")
    return png(fig)


def scores_chart(scores: np.ndarray) -> str:
    """A histogram of the personal lists' scores (a shift between runs shows here first)."""
    fig, ax = pyplot().subplots(figsize=(7, 3.2))
    ax.hist(scores, bins=50)
    ax.set_title("Scores in personal lists")
    ax.set_xlabel("score")
    ax.set_ylabel("list entries")
    return png(fig)


def y_limits(values: Sequence[float], share: bool) -> tuple[float, float]:
    """Honest axes: shares span 0..1; other figures start at 0 with a little headroom, so a change of 0.0005 looks
    like one and not like a cliff."""
    if share:
        return 0.0, 1.0
    top = max((v for v in values if v is not None and v == v), default=0.0)
    return 0.0, top * 1.15 if top > 0 else 1.0


def line_chart(
    x: Sequence[str], series: Mapping[str, Sequence[float | None]], title: str, ylabel: str, share: bool = False
) -> str:
    """A line per series over runs; returns the PNG as base64."""
    fig, ax = pyplot().subplots(figsize=(7, 3.2))
    for name, values in series.items():
        ax.plot(range(len(x)), [float("nan") if v is None else v for v in values], marker="o", label=name)
    ax.set_ylim(*y_limits([v for values in series.values() for v in values if v is not None], share))
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend()
    _label_runs(ax, x)
    return png(fig)


def duration_chart(x: Sequence[str], seconds: Sequence[dict[str, float]]) -> str:
    """Stacked bars of seconds per task and run."""
    tasks = sorted({task for per_run in seconds for task in per_run})
    fig, ax = pyplot().subplots(figsize=(7, 3.2))
    bottom = [0.0] * len(x)
    for task in tasks:
        values = [per_run.get(task, 0.0) for per_run in seconds]
        ax.bar(range(len(x)), values, bottom=bottom, label=task)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_title("Task durations")
    ax.set_ylabel("seconds")
    ax.legend(fontsize=7)
    _label_runs(ax, x)
    return png(fig)


def _label_runs(ax, x: Sequence[str]) -> None:
    """One tick per run, labelled: runs sit at their positions, so two runs of one day stay apart (and matplotlib
    does not treat date-like labels as categories to guess about)."""
    ax.set_xticks(range(len(x)), list(x))
    ax.tick_params(axis="x", labelrotation=30)


EXPOSURE_FIGURES = (
    "seller_gini",
    "top_sellers_share",
    "sellers_exposed",
    "new_seller_exposure_share",
    "fresh_listing_exposure_share",
)
DIVERSITY_FIGURES = (
    "category_diversity",
    "brand_diversity",
    "vector_diversity",
    "catalog_coverage",
    "distributional_coverage",
    "item_gini",
)


def shares_chart(figures: Mapping[str, float], names: Sequence[str], title: str) -> str:
    """Horizontal bars of the named shares (0-1) of one run, each labelled with its value."""
    shown = [n for n in names if figures.get(n) is not None]
    fig, ax = pyplot().subplots(figsize=(7, 0.5 + 0.45 * len(shown)))
    values = [float(figures[n]) for n in shown]
    ax.barh(shown[::-1], values[::-1])
    for y, value in enumerate(values[::-1]):
        ax.text(min(value + 0.01, 0.9), y, f"{value:.3f}", va="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_title(title)
    return png(fig)


def parity_chart(rows: pd.DataFrame) -> str:
    """Recall per buyer segment with its 95% interval, one panel per dimension (``dimension, segment, value, low,
    high, users``)."""
    dimensions = list(dict.fromkeys(rows["dimension"]))
    fig, axes = pyplot().subplots(len(dimensions), 1, figsize=(7, 1.0 + 1.3 * len(dimensions)), squeeze=False)
    for ax, dimension in zip(axes[:, 0], dimensions, strict=True):
        part = rows[rows["dimension"] == dimension].reset_index(drop=True)
        for y, r in part.iterrows():
            ax.errorbar(r["value"], y, xerr=[[r["value"] - r["low"]], [r["high"] - r["value"]]], fmt="o", capsize=3)
        ax.set_yticks(range(len(part)), [f"{s} ({u:,})" for s, u in zip(part["segment"], part["users"], strict=True)])
        ax.set_title(f"recall by {dimension} (buyers)", fontsize=9)
    fig.suptitle("Recall of next-week purchases per buyer segment, 95% bootstrap intervals")
    fig.tight_layout()
    return png(fig)
