"""Benchmark: the synthetic resale world, its calibration, and the default pipeline scored against the future.

    python benchmarks/world.py --users 20000

1. Generates the default world (the generate config's defaults with --users; items scale with users) and prints its
   calibration figures: time to sale and live-inventory age quantiles, the share of purchases on listings under
   1 and 7 days old, the share of events after a sale, purchases in the buyer's size.
2. Runs the default pipeline (interactions -> train -> candidates, shipped configuration: train compares the
   model families and registers the best) at an as-of --holdout-days before the window's end and scores its
   gold.user_candidates against the following 1 and 7 days (`recpipe evaluate`), next to the same pipeline with
   ALS as the only family, recent popularity, the newest listings in the user's taste and the oracle. Prints the
   time-split figures train chose the family by.
3. Seen-item rules, measured on what ships: the registered model's lists are generated again under each rule of
   SEEN_RULES (which event types exclude an item from the user's list) and scored against the same 7 days.
4. Generates --rate-events events (another world, not timed above) and prints the generator's rows per second.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd

from recpipe import catalog
from recpipe.config import (
    CandidatesConfig,
    FutureEvaluationConfig,
    GenerateConfig,
    InteractionsConfig,
    ModelReference,
    RunConfig,
    Settings,
    TrainConfig,
    load_job_config,
)
from recpipe.jobs.candidates import generate_candidates
from recpipe.jobs.context import JobContext
from recpipe.jobs.evaluate import evaluate
from recpipe.jobs.generate import check_calibration, write_marketplace
from recpipe.jobs.interactions import build
from recpipe.jobs.train import train
from recpipe.progress import configure_logging
from recpipe.schemas import EVENT_TYPES
from recpipe.spark import get_spark
from recpipe.tables import Tables

LISTS = ("pipeline", "pipeline (ALS only)", "recent_popularity", "newest_in_taste", "oracle")
ALS_ONLY = "pipeline (ALS only)"
SEEN_RULES = {  # which of a user's interactions exclude the item from their list
    "any event": EVENT_TYPES,
    "saved, bagged or bought": ("save", "add_to_bag", "purchase"),
    "bagged or bought": ("add_to_bag", "purchase"),
    "bought": ("purchase",),
}


def context(settings: Settings, spark, job: str, as_of=None, model: ModelReference | None = None) -> JobContext:
    """A job's context on the embedded defaults; ``model``: the registered model (name, version) it uses."""
    return JobContext.for_settings(job, settings, spark, as_of, RunConfig(model=model or ModelReference()))


def print_scoring_table(table, ks) -> None:
    """One block per (target, horizon): lists as rows, recall and hit rate at each k, recall@max(k) per segment."""
    k_max = max(ks)
    for (target, horizon), part in table.groupby(["target", "horizon_days"], sort=True):
        users = int(part[(part.segment == "all")].users.max())
        by_segment = {s: int(part[part.segment == s].users.max()) for s in ("warm", "cold", "new")}
        print(
            f"\n{target} within {horizon} day(s): {users:,} users with a target "
            f"(warm {by_segment['warm']:,}, cold {by_segment['cold']:,}, new {by_segment['new']:,})"
        )
        header = "".join(f"{f'recall@{k}':>11}{f'hit@{k}':>9}" for k in ks)
        print(f"{'list':<19}{header}{f'warm R@{k_max}':>13}{f'cold R@{k_max}':>13}{f'new R@{k_max}':>12}  vs oracle")
        oracle = part[(part.list == "oracle") & (part.segment == "all")][f"recall_at_{k_max}"]
        for name in LISTS:
            row = part[(part.list == name) & (part.segment == "all")]
            if row.empty:
                continue
            cells = "".join(
                f"{row[f'recall_at_{k}'].iloc[0]:>11.4f}{row[f'hit_rate_at_{k}'].iloc[0]:>9.4f}" for k in ks
            )
            segs = "".join(
                f"{part[(part.list == name) & (part.segment == s)][f'recall_at_{k_max}'].max():>{w}.4f}"
                for s, w in (("warm", 13), ("cold", 13), ("new", 12))
            )
            ratio = (
                row[f"recall_at_{k_max}"].iloc[0] / oracle.iloc[0] if len(oracle) and oracle.iloc[0] else float("nan")
            )
            print(f"{name:<19}{cells}{segs}  {ratio:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--holdout-days", type=int, default=8, help="as-of = window end minus this many days")
    parser.add_argument(
        "--rate-events", type=int, default=5_000_000, help="events of the generator-speed run (0: skip)"
    )
    parser.add_argument("--data-dir", type=Path, help="where to write (default: a temporary directory)")
    parser.add_argument("--driver-memory", default="8g")
    args = parser.parse_args()
    configure_logging()

    root = args.data_dir or Path(tempfile.mkdtemp(prefix="recpipe-bench-world-"))
    settings = Settings(data_dir=root / "world", spark_driver_memory=args.driver_memory)
    spark = get_spark(settings, "recpipe-bench-world")
    defaults = load_job_config("generate", GenerateConfig)
    config = defaults.model_copy(
        update={"users": args.users, "items": int(args.users * defaults.items / defaults.users)}
    )

    gen = context(settings, spark, "generate")
    start = time.perf_counter()
    write_marketplace(gen, config, replace=True)
    generate_seconds = time.perf_counter() - start
    figures = check_calibration(gen, config)
    print(
        f"\nworld: {config.users:,} users, {config.items:,} listings, {gen.stages.rows['bronze.events']:,} events over "
        f"{config.days} days, generated in {generate_seconds:.1f} s"
    )
    print("calibration (at the window's end):")
    for name, value in figures.items():
        bounds = getattr(config.calibration, name, None)
        print(f"  {name:<36} {value:>9.4f}" + (f"   range [{bounds[0]}, {bounds[1]}]" if bounds else ""))

    as_of = config.end_date - timedelta(days=args.holdout_days)
    evaluation = load_job_config("evaluate", FutureEvaluationConfig)
    build(context(settings, spark, "interactions", as_of), load_job_config("interactions", InteractionsConfig))
    tables, default_train = Tables(spark, settings), load_job_config("train", TrainConfig)
    scored, seconds, summaries = [], {}, {}
    for variant, train_config in (
        (ALS_ONLY, default_train.model_copy(update={"families": ("als",)})),
        ("pipeline", default_train),
    ):
        model = ModelReference(name="recpipe_als_only") if variant == ALS_ONLY else ModelReference()
        start = time.perf_counter()
        summaries[variant] = trained = train(context(settings, spark, "train", as_of, model), train_config)
        seconds[f"{variant}: train"] = time.perf_counter() - start
        trained_model = model.model_copy(update={"version": trained["model_version"]})
        candidates = load_job_config("candidates", CandidatesConfig)
        start = time.perf_counter()
        run_id = generate_candidates(context(settings, spark, "candidates", as_of, trained_model), candidates)["run_id"]
        seconds[f"{variant}: candidates"] = time.perf_counter() - start
        evaluate(context(settings, spark, "evaluate"), evaluation, as_of)
        table = tables.read(catalog.MONITORING_FUTURE_EVALUATION).where(f"run_id = '{run_id}'").toPandas()
        if variant == ALS_ONLY:  # the baselines are the same in both runs: keep one copy
            table = table[table.list == "pipeline"].assign(list=ALS_ONLY)
        scored.append(table)
    table = pd.concat(scored, ignore_index=True)
    print(
        f"\npipeline at as-of {as_of} ({', '.join(f'{j} {s:.0f} s' for j, s in seconds.items())}), "
        "its gold.user_candidates scored against the following days:"
    )
    print_scoring_table(table, evaluation.ks)
    chosen = summaries["pipeline"]
    split = default_train.evaluation
    print(
        f"\ntrain's time split (last {split.holdout_days} days, lists as served at the split): recall@{split.target_k} "
        f"of {', '.join(split.target_event_types)}; the family registered: {chosen['family']}"
    )
    print(f"{'model':<20}{'recall':>9}{'warm':>9}{'cold':>9}{f'nDCG@{split.k}':>10}{'fit s':>8}")
    for name, figures in chosen["metrics"].items():
        print(
            f"{name:<20}{figures['target_recall']:>9.4f}{figures['target_recall_warm']:>9.4f}"
            f"{figures['target_recall_cold']:>9.4f}{figures['ndcg']:>10.4f}{chosen['fit_seconds'].get(name, float('nan')):>8.1f}"
        )

    default_rule = load_job_config("candidates", CandidatesConfig)
    horizon, k = max(evaluation.horizons_days), max(evaluation.ks)
    print(
        f"\nseen-item rules on the served {chosen['family']} lists: purchases within {horizon} days, recall@{k} "
        f"(hit@{k}); the candidates config excludes {', '.join(default_rule.exclude_seen_event_types)}"
    )
    for name, event_types in SEEN_RULES.items():
        rule = default_rule.model_copy(update={"exclude_seen_event_types": event_types})
        champion = ModelReference(version=chosen["model_version"])
        run_id = generate_candidates(context(settings, spark, "candidates", as_of, champion), rule)["run_id"]
        evaluate(context(settings, spark, "evaluate"), evaluation, as_of)
        row = (
            tables.read(catalog.MONITORING_FUTURE_EVALUATION)
            .where(f"run_id = '{run_id}'")
            .toPandas()
            .query(f"list == 'pipeline' and segment == 'all' and target == 'purchase' and horizon_days == {horizon}")
        )
        print(f"  {name:<26} {row[f'recall_at_{k}'].iloc[0]:.4f} ({row[f'hit_rate_at_{k}'].iloc[0]:.4f})", flush=True)

    if args.rate_events:
        rate_settings = Settings(data_dir=root / "rate", spark_driver_memory=args.driver_memory)
        rate = context(rate_settings, spark, "generate")
        users = max(args.rate_events // 50, 1000)
        rate_config = defaults.model_copy(update={"users": users, "items": users // 2, "events": args.rate_events})
        start = time.perf_counter()
        write_marketplace(rate, rate_config, replace=True)
        elapsed = time.perf_counter() - start
        rows = sum(rate.stages.rows.values())
        events = rate.stages.rows[catalog.BRONZE_EVENTS]
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in rate.stages.seconds.items())
        print(
            f"\ngenerator: {rows:,} rows ({events:,} events, {users:,} users, {users // 2:,} listings) "
            f"in {elapsed:.1f} s = {rows / elapsed:,.0f} rows/s on {os.cpu_count()} cores; stages: {stages}"
        )


if __name__ == "__main__":
    main()
