"""Benchmark: what tuning on a share of the users (`tune.user_share`) costs the lists that ship.

    python benchmarks/tune_share_served.py --users 10000 --shares 1.0 0.25 0.1 --root DIR

Per share, in its own folder (the same seeded world each time): `recpipe run --set tune.user_share=S` (every task,
tune included, as shipped otherwise) at an as-of --holdout-days before the window's end, then `recpipe evaluate`:
the served lists against the next 7 days' purchases. Prints per share the tune task's seconds and the served
recall@10 / @100, with the ratios against the search on every user (share 1.0, the baseline).
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

from pyspark.sql import functions as F
from ranking import recpipe, served_figures

from recpipe import catalog
from recpipe.config import GenerateConfig, Settings, load_job_config
from recpipe.progress import configure_logging
from recpipe.spark import get_spark
from recpipe.tables import Tables

HORIZON = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--shares", type=float, nargs="+", default=[1.0, 0.25, 0.1])
    parser.add_argument("--holdout-days", type=int, default=8, help="as-of = window end minus this many days")
    parser.add_argument("--root", type=Path, required=True, help="a folder per share is made under it")
    args = parser.parse_args()
    configure_logging()
    world = load_job_config("generate", GenerateConfig)
    items = int(args.users * world.items / world.users)
    as_of = str(world.end_date - timedelta(days=args.holdout_days))
    for share in args.shares:
        folder = args.root / f"share-{share:g}"
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / ".recpipe" / "monitoring").exists():
            recpipe(folder, "run", "--users", str(args.users), "--items", str(items), "--as-of", as_of, "--no-show",
                    "--set", f"tune.user_share={share}")  # fmt: skip
            recpipe(folder, "evaluate", "--as-of", as_of)
        print(f"share {share:g}: run and evaluated in {folder}", flush=True)

    rows = []
    spark = None
    for share in args.shares:
        settings = Settings(data_dir=args.root / f"share-{share:g}" / ".recpipe")
        spark = spark or get_spark(settings, "recpipe-bench-tune-share")
        tables = Tables(spark, settings)
        run_id = tables.read(catalog.GOLD_USER_CANDIDATES).select("run_id").first()[0]
        served = served_figures(tables, run_id, "pipeline")
        served = served[(served.horizon_days == HORIZON) & (served.list == "pipeline") & (served.segment == "all")]
        record = tables.read(catalog.MONITORING_PIPELINE_RUNS).where(F.col("run_id") == run_id).first()
        tune_seconds = (record["task_seconds"] or {}).get("tune") if record is not None else None
        rows.append((share, tune_seconds, float(served.recall_at_10.iloc[0]), float(served.recall_at_100.iloc[0])))
    base = rows[0]
    print(
        f"\nthe default world at {args.users:,} users; as-of {as_of}; served recall of purchases within {HORIZON} days"
    )
    print(f"{'share':>6}{'tune s':>9}{'R@10':>9}{'R@100':>9}{'R@10 kept':>11}{'R@100 kept':>12}")
    for share, seconds, r10, r100 in rows:
        shown = f"{seconds:.0f}" if seconds is not None else "?"
        print(f"{share:>6g}{shown:>9}{r10:>9.4f}{r100:>9.4f}{r10 / base[2]:>11.2f}{r100 / base[3]:>12.2f}")


if __name__ == "__main__":
    main()
