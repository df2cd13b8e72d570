"""Benchmark: `recpipe tune` on a share of the users (`tune.user_share`) against the search on every user.

    python benchmarks/tune_sample.py --users 20000 --shares 1.0 0.25 0.1 [--data-dir DIR]

Generates the default world at --users (listings users / 2; not timed) and builds silver with `recpipe
interactions`, then runs the tune job once per share (its own function, the shipped grid and trials, --force).
Each share's best parameters are then scored the same way: ALS fitted with them on every user's rows of train's
time split, target recall on the held-out days of every user. Prints per share the search seconds, the parameters
chosen and that recall, with the ratios against the search on every user: the speed-up and the recall kept.

That recall is the search's own measure (ALS alone on train's time split under the served rules), not a figure of
what ships: `benchmarks/tune_share_served.py` measures the served lists' cost of a share (`recpipe run --set
tune.user_share=S` then `recpipe evaluate`, per share).
"""

from __future__ import annotations

import argparse
import tempfile
from functools import partial
from pathlib import Path

from recpipe import catalog
from recpipe.config import GenerateConfig, RunConfig, Settings
from recpipe.jobs.context import JobContext
from recpipe.jobs.generate import write_marketplace
from recpipe.jobs.interactions import build
from recpipe.jobs.tune import trial_als, tune
from recpipe.models.training import evaluate_on_time_split
from recpipe.progress import configure_logging
from recpipe.spark import get_spark
from recpipe.tables import Tables
from recpipe.training_data import load_training_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--shares", type=float, nargs="+", default=[1.0, 0.25, 0.1])
    parser.add_argument("--data-dir", type=Path, help="reuse the world written here by an earlier run")
    parser.add_argument("--driver-memory", default="8g")
    args = parser.parse_args()
    configure_logging()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="recpipe-bench-tune-"))
    settings = Settings(data_dir=data_dir, spark_driver_memory=args.driver_memory)
    spark = get_spark(settings, "recpipe-bench-tune")
    config = RunConfig()
    if not Tables(spark, settings).exists(catalog.SILVER_INTERACTIONS):
        generate = GenerateConfig(users=args.users, items=args.users // 2)
        write_marketplace(JobContext.for_settings("generate", settings, spark), generate, replace=True)
        build(JobContext.for_settings("interactions", settings, spark, config=config), config.interactions)

    ctx = JobContext.for_settings("tune", settings, spark, config=config)
    train, rules = config.train, config.candidates
    data = load_training_data(ctx, holdout_days=train.evaluation.holdout_days)
    metric = train.promotion.metric
    rows = []
    for share in args.shares:
        searched = tune(ctx, config.tune.model_copy(update={"user_share": share}), train, force=True)
        als = train.als.model_copy(update=searched["best"])
        scored = evaluate_on_time_split(
            data,
            {"als": partial(trial_als, als, config.tune.seed)},
            train.evaluation,
            baselines=False,
            max_per_seller=rules.max_per_seller,
        )
        rows.append((share, searched["seconds"]["search"], searched["best"], scored.figure("als", metric)))
        print(
            f"share {share}: search {rows[-1][1]:.1f} s, best {rows[-1][2]}, {metric} on every user {rows[-1][3]:.4f}"
        )

    full_seconds, full_quality = rows[0][1], rows[0][3]
    print(
        f"\n{'user share':>10} | {'search s':>8} | {'speed-up':>8} | {'ALS ' + metric + ' on the split':>24} | kept | best"
    )
    for share, seconds, best, quality in rows:
        print(
            f"{share:>10} | {seconds:8.1f} | {full_seconds / seconds:7.2f}x | {quality:24.4f} | "
            f"{quality / full_quality:.2f} | {best}"
        )
    print(f"(against the first share, {args.shares[0]}; world: {args.users:,} users, data in {data_dir})")


if __name__ == "__main__":
    main()
