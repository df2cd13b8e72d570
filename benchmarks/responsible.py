"""Benchmark: the trade-off the re-ranking knobs buy, measured on what ships.

    python benchmarks/responsible.py --users 20000 [--data-dir DIR] [--skip-run]

1. `recpipe run` as shipped (every task) on the default world with --users at an as-of --holdout-days before the
   window's end (skipped with --skip-run: the run already in --data-dir, e.g. the one benchmarks/ranking.py left).
2. For each knob setting (`responsible.rerank`): the candidates job on the same data and model version, in this
   process, then the gate's list measures and `recpipe evaluate`'s scoring of the same lists: recall@100 of the
   next week's purchases, the Gini of position-weighted exposure over live sellers (top 20 of every list), the
   share of live sellers with any exposure, intra-list diversity (category and vector, top 10), the worst buyer
   segment's recall over the best's. Printed as a table with each setting's ratio to the shipped lists, and a
   chart of the curve (recall vs seller Gini, diversity as the marker's colour).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config import GenerateConfig, RunConfig, Settings, load_job_config
from recpipe.config.responsible import RerankConfig
from recpipe.jobs.candidates import generate_candidates
from recpipe.jobs.context import JobContext
from recpipe.jobs.evaluate import evaluate_future
from recpipe.monitoring import responsible
from recpipe.progress import configure_logging
from recpipe.spark import get_spark
from recpipe.tables import Tables

RECALL = "pipeline/purchase/7d/all/recall_at_100"
SETTINGS = {  # name -> knobs; the first is what ships
    "shipped (no re-ranking)": RerankConfig(),
    "seller discount 0.2": RerankConfig(seller_discount=0.2),
    "new-seller floor 0.2": RerankConfig(new_seller_share=0.2),
    "discount 0.1 + floor 0.2 + diversity 0.1": RerankConfig(
        seller_discount=0.1, new_seller_share=0.2, diversity_weight=0.1
    ),
}


RUN_IDS: dict[str, str] = {}  # run id -> setting


def measured(ctx: JobContext, as_of, name: str) -> dict[str, float]:
    """The candidates job with these knobs, then the gate's list measures and evaluate's recall and parity."""
    start = time.perf_counter()
    summary = generate_candidates(ctx, ctx.config.candidates)
    lists = ctx.tables.read(catalog.GOLD_USER_CANDIDATES)
    served = responsible.served_inputs(ctx.tables, lists, as_of, summary["model_version"])
    figures = responsible.measure_lists(served, ctx.config.responsible.measures)
    scored = evaluate_future(ctx, ctx.config.evaluate, as_of)
    figures["recall_at_100"] = scored["figures"][RECALL]
    RUN_IDS[scored["run_id"]] = name
    figures["parity"] = scored["parity"].get("parity.worst", float("nan"))
    figures["seconds"] = time.perf_counter() - start
    print(f"  {name}: {figures['seconds']:.0f} s", flush=True)
    return figures


def chart(results: dict[str, dict[str, float]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    points = ax.scatter(
        [r["seller_gini"] for r in results.values()],
        [r["recall_at_100"] for r in results.values()],
        c=[r["category_diversity"] for r in results.values()],
        cmap="viridis",
        s=80,
    )
    for name, r in results.items():
        ax.annotate(name, (r["seller_gini"], r["recall_at_100"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
    fig.colorbar(points, label="intra-list category diversity (top 10)")
    ax.set_xlabel("Gini of seller exposure (top 20, position-weighted)")
    ax.set_ylabel("recall@100 of next-week purchases")
    ax.set_title("Re-ranking knobs: recall vs seller exposure")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--holdout-days", type=int, default=8, help="as-of = window end minus this many days")
    parser.add_argument("--data-dir", type=Path, help="where to run (default: a temporary directory)")
    parser.add_argument("--skip-run", action="store_true", help="reuse the run already in --data-dir")
    args = parser.parse_args()
    configure_logging()
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="recpipe-bench-responsible-"))
    root.mkdir(parents=True, exist_ok=True)
    world = load_job_config("generate", GenerateConfig)
    items = int(args.users * world.items / world.users)
    as_of = world.end_date - timedelta(days=args.holdout_days)
    if not args.skip_run:
        command = ["run", "--users", str(args.users), "--items", str(items), "--as-of", str(as_of), "--no-show"]
        subprocess.run([sys.executable, "-m", "recpipe.cli", *command], cwd=root, check=True)
    settings = Settings(data_dir=root / ".recpipe")
    spark = get_spark(settings, "recpipe-bench-responsible")
    results = {}
    for name, knobs in SETTINGS.items():
        shipped = RunConfig()
        config = shipped.model_copy(update={"responsible": shipped.responsible.model_copy(update={"rerank": knobs})})
        ctx = JobContext.for_settings("candidates", settings, spark, as_of, config)
        results[name] = measured(ctx, as_of, name)
        spark.catalog.clearCache()

    tables = Tables(spark, settings)
    users = tables.read(catalog.SILVER_USERS).count()
    live = int(results[next(iter(SETTINGS))]["live_sellers"])
    print(f"\nthe default world at {users:,} users; as-of {as_of}; {live:,} live sellers; exposure over the top 20")
    header = f"{'setting':<44}{'R@100':>8}{'ratio':>7}{'seller Gini':>12}{'change':>8}{'exposed':>9}{'top 1%':>8}"
    header += f"{'new sellers':>12}{'cat div':>9}{'vec div':>9}{'parity':>8}"
    print(header)
    base = results[next(iter(SETTINGS))]
    for name, r in results.items():
        print(
            f"{name:<44}{r['recall_at_100']:>8.4f}{r['recall_at_100'] / base['recall_at_100']:>7.3f}"
            f"{r['seller_gini']:>12.3f}{r['seller_gini'] / base['seller_gini'] - 1:>+8.1%}{r['sellers_exposed']:>9.3f}"
            f"{r['top_sellers_share']:>8.3f}{r['new_seller_exposure_share']:>12.3f}{r['category_diversity']:>9.3f}"
            f"{r.get('vector_diversity', float('nan')):>9.3f}{r['parity']:>8.3f}"
        )
    goal = [
        name
        for name, r in results.items()
        if r["seller_gini"] <= 0.8 * base["seller_gini"]
        and r["sellers_exposed"] >= 0.9
        and r["recall_at_100"] >= 0.98 * base["recall_at_100"]
    ]
    print(f"settings with Gini -20% or more, 90%+ of live sellers exposed, at most 2% of recall lost: {goal or 'none'}")
    parity = (
        tables.read(catalog.MONITORING_RESPONSIBLE_MEASURES)
        .where((F.col("measure") == responsible.PARITY_RATIO) & F.col("run_id").isin(list(RUN_IDS)))
        .orderBy("run_id", "dimension")
        .toPandas()
    )
    print("\nworst / best segment recall@100 (95% bootstrap intervals), every setting's run:")
    for row in parity.itertuples(index=False):
        print(
            f"  {RUN_IDS[row.run_id]:<44} {row.dimension:<12} {row.segment:<22} {row.value:.2f} [{row.low:.2f}, {row.high:.2f}] ({row.users:,} buyers)"
        )
    path = root / "responsible_tradeoff.png"
    chart(results, path)
    print(f"\nchart: {path}")


if __name__ == "__main__":
    main()
