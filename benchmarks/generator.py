"""Benchmark: synthetic marketplace generation into Delta (the `recpipe generate` code path).

    python benchmarks/generator.py --users 100000 --items 50000 --events 5000000

Prints wall time per table and rows per second for the whole generation (written and committed to Delta).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from recpipe.config import GenerateConfig, Settings
from recpipe.jobs.context import JobContext
from recpipe.jobs.generate import write_marketplace
from recpipe.progress import configure_logging
from recpipe.spark import get_spark

GOAL_ROWS_PER_S = 200_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--data-dir", type=Path, help="where to write (default: a temporary directory)")
    parser.add_argument("--driver-memory", default="8g")
    args = parser.parse_args()
    configure_logging()

    settings = Settings(
        small_frames=False,
        data_dir=args.data_dir or Path(tempfile.mkdtemp(prefix="recpipe-bench-")),
        spark_driver_memory=args.driver_memory,
    )
    spark = get_spark(settings, "recpipe-bench-generator")
    ctx = JobContext.for_settings("generate", settings, spark)
    config = GenerateConfig(users=args.users, items=args.items, events=args.events, days=args.days)

    start = time.perf_counter()
    write_marketplace(ctx, config, replace=True)
    elapsed = time.perf_counter() - start
    total_rows = sum(ctx.stages.rows.values())
    for table, rows in ctx.stages.rows.items():
        print(f"{table:<14} {rows:>12,} rows  {ctx.stages.seconds[f'write {table}']:8.1f} s")
    rate = total_rows / elapsed
    print(
        f"generator: {total_rows:,} rows in {elapsed:.1f} s = {rate:,.0f} rows/s on {os.cpu_count()} cores "
        f"({args.users:,} users, {args.items:,} items, {args.events:,} events requested; "
        f"goal {GOAL_ROWS_PER_S:,} rows/s: {rate / GOAL_ROWS_PER_S:.2f}x)"
    )


if __name__ == "__main__":
    main()
