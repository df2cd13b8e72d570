"""Benchmark: synthetic marketplace generation into Delta.

    python benchmarks/generator.py --users 100000 --items 50000 --events 5000000

Prints wall time per table and rows per second for the whole generation (written and committed to Delta).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from recpipe.config import GenerateConfig, Settings
from recpipe.data.generator import MarketplaceGenerator
from recpipe.spark import get_spark
from recpipe.tables import Tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--data-dir", type=Path, help="where to write (default: a temporary directory)")
    parser.add_argument("--driver-memory", default="8g")
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="recpipe-bench-"))
    settings = Settings(data_dir=data_dir, spark_driver_memory=args.driver_memory)
    spark = get_spark(settings, "recpipe-bench-generator")
    tables = Tables(spark, settings)
    config = GenerateConfig(users=args.users, items=args.items, events=args.events, days=args.days)
    generated = MarketplaceGenerator(config).generate(spark)

    total_rows, start = 0, time.perf_counter()
    for logical, df in (("bronze.users", generated.users), ("bronze.items", generated.items), ("bronze.events", generated.events)):
        t0 = time.perf_counter()
        tables.overwrite(df, logical)
        rows = tables.read(logical).count()
        total_rows += rows
        print(f"{logical:<14} {rows:>12,} rows  {time.perf_counter() - t0:8.1f} s")
    elapsed = time.perf_counter() - start
    cores = spark.sparkContext.defaultParallelism
    print(f"generator: {total_rows:,} rows in {elapsed:.1f} s = {total_rows / elapsed:,.0f} rows/s on {cores} cores "
          f"({args.users:,} users, {args.items:,} items, {args.events:,} events requested)")


if __name__ == "__main__":
    main()
