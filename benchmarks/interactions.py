"""Benchmark: the interactions job (validation + silver tables) on generated events.

    python benchmarks/interactions.py --users 100000 --items 50000 --events 5000000

Generates the bronze tables first (not timed), then times `recpipe interactions` end to end and prints
events per second, with the validation stage and the interaction building stage on their own.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from recpipe import catalog
from recpipe.config import GenerateConfig, InteractionsConfig, Settings
from recpipe.jobs.context import JobContext
from recpipe.jobs.generate import write_marketplace
from recpipe.jobs.interactions import build
from recpipe.progress import configure_logging
from recpipe.spark import get_spark
from recpipe.tables import Tables

GOAL_EVENTS_PER_S = 250_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--data-dir", type=Path, help="reuse bronze tables written here by an earlier run")
    parser.add_argument("--driver-memory", default="8g")
    args = parser.parse_args()
    configure_logging()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="recpipe-bench-"))
    settings = Settings(small_frames=False, data_dir=data_dir, spark_driver_memory=args.driver_memory)
    spark = get_spark(settings, "recpipe-bench-interactions")
    tables = Tables(spark, settings)
    if not tables.exists(catalog.BRONZE_EVENTS):
        gen_ctx = JobContext.for_settings("generate", settings, spark)
        write_marketplace(gen_ctx, GenerateConfig(users=args.users, items=args.items, events=args.events), replace=True)

    ctx = JobContext.for_settings("interactions", settings, spark)
    start = time.perf_counter()
    summary = build(ctx, InteractionsConfig())
    elapsed = time.perf_counter() - start
    events = summary["rows"][catalog.BRONZE_EVENTS]
    for stage, seconds in summary["seconds"].items():
        print(f"{stage:<26} {seconds:8.1f} s")
    rate = events / elapsed
    print(
        f"interactions job: {events:,} events -> {summary['rows'][catalog.SILVER_INTERACTIONS]:,} interactions "
        f"in {elapsed:.1f} s = {rate:,.0f} events/s on {os.cpu_count()} cores "
        f"(goal {GOAL_EVENTS_PER_S:,} events/s: {rate / GOAL_EVENTS_PER_S:.2f}x)"
    )


if __name__ == "__main__":
    main()
