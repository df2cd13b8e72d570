"""PNG charts for MLflow artifacts and reports (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType


def pyplot() -> ModuleType:
    """matplotlib's pyplot, headless; imported on first use, so modules that chart start fast (a job's --help)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")


def _save(fig, ax, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)
    return path


def metrics_bar_chart(metrics_by_model: dict[str, dict[str, float]], k: int, path: Path) -> Path:
    """Grouped bars: one group per metric, one bar per model."""
    fig, ax = pyplot().subplots(figsize=(8, 4))
    width = 0.8 / max(len(metrics_by_model), 1)
    for i, (model, metrics) in enumerate(metrics_by_model.items()):
        ax.bar([x + i * width for x in range(len(METRICS))], [metrics.get(m, 0.0) for m in METRICS], width, label=model)
    ax.set_xticks([x + width * (len(metrics_by_model) - 1) / 2 for x in range(len(METRICS))])
    ax.set_xticklabels([f"{m}@{k}" if m not in ("coverage",) else m for m in METRICS])
    ax.set_title("time-split evaluation")
    return _save(fig, ax, path)


def lorenz_curve(counts: list[int], path: Path) -> Path:
    """Cumulative share of interactions against the share of items, least popular first."""
    import numpy as np

    values = np.sort(np.asarray(counts, dtype=float))
    cumulative = np.concatenate([[0.0], np.cumsum(values) / max(values.sum(), 1.0)])
    fig, ax = pyplot().subplots(figsize=(5, 5))
    ax.plot(np.linspace(0, 1, len(cumulative)), cumulative, label="items")
    ax.plot([0, 1], [0, 1], linestyle="--", label="equal popularity")
    ax.set_xlabel("share of items")
    ax.set_ylabel("share of interactions")
    return _save(fig, ax, path)


def importance_chart(importances: dict[str, float], path: Path, top: int = 25) -> Path:
    """Horizontal bars of the ranker's total gain per feature, largest on top."""
    names = list(importances)[:top][::-1]
    fig, ax = pyplot().subplots(figsize=(7, max(3.0, 0.25 * len(names))))
    ax.barh(names, [importances[n] for n in names], label="total gain")
    ax.set_title("ranker feature importance")
    return _save(fig, ax, path)


def interval_chart(rows: list[dict], path: Path, title: str) -> Path:
    """One panel per metric: each variant's (and method's) difference against the control with its interval."""
    plt = pyplot()
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    fig, axes = plt.subplots(len(metrics), 1, figsize=(7, 1.2 + 1.1 * len(metrics)), squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        shown = [r for r in rows if r["metric"] == metric]
        labels = [f"{r['variant']} ({r['method']})" for r in shown]
        for y, r in enumerate(shown):
            ax.errorbar(
                r["difference"],
                y,
                xerr=[[r["difference"] - r["low"]], [r["high"] - r["difference"]]],
                fmt="o",
                capsize=4,
            )
        ax.axvline(0.0, linestyle="--", color="grey")
        ax.set_yticks(range(len(shown)))
        ax.set_yticklabels(labels)
        ax.set_title(metric, fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
