"""Benchmark: the online-experiment analysis proven right on a closed-loop marketplace whose true effects are known.

    python benchmarks/experiments.py --users 20000 --days 7 [--data-dir DIR] [--resalts 200]

1. `recpipe run` as shipped on the default world at --users, as of --days + 1 days before the window's end, with
   one experiment configured for the following --days days: `ranked` (the shipped two-stage lists, control)
   against `model` (the same model version's lists without the ranker), both published to a real redis-server.
2. The closed loop (`recpipe.data.closed_loop`) runs those days: each day the reader serves the users of that
   day's served sessions their variant's list (sold listings dropped: every day's sales go to the unavailable set
   as the availability stream would put them); views, bags and purchases follow from true utility. Four runs over
   the same random numbers: everyone on `ranked`, everyone on `model` (the two give the true effect), the A/B
   experiment (users split by the hash), and a team-draft interleaving of the two.
3. The A/B run's impressions and events are landed as bronze tables and read by `recpipe experiment analyze`
   (in this process): per metric the estimate, its 95% interval plain and with CUPED, the true effect and whether
   the interval covers it.
4. A/A: the everyone-on-`ranked` run re-split by --resalts salts, each read like an experiment: the share of
   readings significant at 5% (the false-positive rate, expected within 2%-8%).
5. Interleaving: the preference for `ranked`, and the users each design needs to call the winner at 5% (from its
   observed z), with their ratio.

The lists are built once, before the days (no daily retraining inside the loop: one `recpipe run` at this size
takes minutes); sales between days reach the reader through the unavailable set.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config import GenerateConfig, RunConfig, Settings, load_job_config
from recpipe.config.experiments import ExperimentConfig, ExperimentsConfig, VariantConfig
from recpipe.data import closed_loop as cl
from recpipe.data.behaviour import NEVER
from recpipe.data.generator import MarketplaceGenerator
from recpipe.jobs.context import JobContext
from recpipe.jobs.experiment import analyze
from recpipe.monitoring import experiment_stats as es
from recpipe.progress import configure_logging
from recpipe.serving import assignment, keys
from recpipe.serving.availability import apply_batch
from recpipe.serving.local_redis import RedisProcess
from recpipe.serving.reader import RecommendationReader
from recpipe.spark import get_spark
from recpipe.tables import Tables
from recpipe.transforms import experiment_metrics as em

NAME, CONTROL, TREATMENT = "ranker-vs-model", "ranked", "model"


def experiment_config(start: date, days: int, kind: str = "ab") -> ExperimentConfig:
    variants = (VariantConfig(name=CONTROL), VariantConfig(name=TREATMENT, ranking=False))
    return ExperimentConfig(name=NAME, kind=kind, start=start, end=start + timedelta(days=days - 1), variants=variants)


def serve_from(url: str, experiment: ExperimentConfig, forced: str | None, shown: int) -> cl.Serve:
    reader = RecommendationReader(url, experiment, forced)

    def serve(users: np.ndarray, day: date) -> dict[int, cl.ServedList]:
        answers = reader.for_users(users.tolist(), n=shown)
        return {
            int(user): cl.ServedList(
                np.asarray(a.item_ids, dtype=np.int64),
                [f"team:{t}" for t in a.teams] if a.teams else a.sources,
                a.variant,
                a.experiment,
                a.served_version,
                a.model_version,
            )
            for user, a in zip(users, answers)
            if a.item_ids
        }

    return serve


def mark_sold(url: str, run: str):
    client = RecommendationReader(url).client

    def on_day(day: date, events, newly_sold: np.ndarray) -> None:
        apply_batch(client, f"closed-loop-{run}", day.toordinal(), newly_sold.tolist(), [None] * len(newly_sold))

    return on_day


def reset_unavailable(url: str, sold_before: np.ndarray) -> None:
    client = RecommendationReader(url).client
    client.delete(keys.UNAVAILABLE_KEY, keys.UNAVAILABLE_LOG_KEY, keys.AVAILABILITY_PROGRESS_KEY)
    ids = np.flatnonzero(sold_before != NEVER).tolist()
    for start in range(0, len(ids), 10_000):
        client.sadd(keys.UNAVAILABLE_KEY, *ids[start : start + 10_000])


def impressions_frame(spark, frame: pd.DataFrame):
    return spark.createDataFrame(frame, catalog.columns(catalog.BRONZE_IMPRESSIONS))


def outcomes(spark, history, prices, result: cl.LoopResult, world, experiment: ExperimentConfig, config):
    """Per exposed user: variant and outcomes, through the same transform the analysis reads with."""
    loop_events = spark.createDataFrame(cl.events_frame(result.events, world), history.schema)
    impressions = impressions_frame(spark, result.impressions)
    frame = em.user_outcomes(
        impressions, history.unionByName(loop_events), prices, NAME, experiment.start, experiment.end,
        config.attribution_days, config.pre_period_days,
    )  # fmt: skip
    return frame.toPandas().set_index("user_id")


def sums_of(frame: pd.DataFrame, arm: np.ndarray) -> dict[str, es.MomentSums]:
    pairs = {**em.USER_METRICS, **em.RATIO_METRICS}
    return {
        m: es.MomentSums.of(frame[y].to_numpy(float)[arm], frame[x].to_numpy(float)[arm]) for m, (y, x) in pairs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--resalts", type=int, default=200)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--skip-run", action="store_true", help="reuse the run already in --data-dir")
    args = parser.parse_args()
    configure_logging()
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="recpipe-bench-experiments-"))
    root.mkdir(parents=True, exist_ok=True)
    defaults = load_job_config("generate", GenerateConfig)
    items = int(args.users * defaults.items / defaults.users)
    world_config = defaults.model_copy(update={"users": args.users, "items": items})
    first_day = world_config.end_date - timedelta(days=args.days)
    as_of = first_day - timedelta(days=1)
    ab = experiment_config(first_day, args.days)
    conf = root / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "experiments.yml").write_text(yaml.safe_dump({"active": [ab.model_dump(mode="json")]}))

    redis = RedisProcess(root / "redis").start()
    started = time.perf_counter()
    if not args.skip_run:
        subprocess.run(
            [sys.executable, "-m", "recpipe.cli", "run", "--users", str(args.users), "--items", str(items),
             "--as-of", str(as_of), "--conf", str(conf), "--redis-url", redis.url, "--no-show"],
            cwd=root, check=True,
        )  # fmt: skip
    else:
        subprocess.run([sys.executable, "-m", "recpipe.cli", "publish", "--redis-url", redis.url], cwd=root, check=True)
    run_seconds = time.perf_counter() - started

    settings = Settings(data_dir=root / ".recpipe")
    spark = get_spark(settings, "recpipe-bench-experiments")
    tables = Tables(spark, settings)
    generator = MarketplaceGenerator(world_config)
    world, sessions = generator.world, generator.session_count()
    first_start = pd.Timestamp(first_day, tz="UTC")
    bronze_items = (
        tables.read(catalog.BRONZE_ITEMS).select("item_id", F.unix_timestamp("sold_at").alias("s")).toPandas()
    )
    sold_before = np.full(world_config.items, NEVER, dtype=np.int64)
    early = bronze_items[bronze_items.s.notna() & (bronze_items.s < first_start.timestamp())]
    sold_before[early.item_id.to_numpy()] = early.s.to_numpy(np.int64)
    history = tables.read(catalog.BRONZE_EVENTS).where(F.col("event_ts") < F.lit(first_start.to_pydatetime()))
    prices = tables.read(catalog.SILVER_ITEMS).select("item_id", "price").cache()
    served = cl.ServedSessionsConfig()
    config = ExperimentsConfig(active=(ab,))

    results: dict[str, cl.LoopResult] = {}
    runs = {
        "all ranked": (ab, CONTROL),
        "all model": (ab, TREATMENT),
        "A/B": (ab, None),
        "interleaving": (experiment_config(first_day, args.days, "interleaving"), None),
    }
    for label, (experiment, forced) in runs.items():
        started = time.perf_counter()
        reset_unavailable(redis.url, sold_before)
        serve = serve_from(redis.url, experiment, forced, served.shown)
        results[label] = cl.simulate_days(
            world, sessions, first_day, args.days, serve, served, sold_before, mark_sold(redis.url, label)
        )
        r = results[label]
        print(f"closed loop, {label}: {r.served_sessions:,} served sessions, {len(r.events.event_id):,} events, "
              f"{len(r.impressions):,} impressions, {time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip

    # the A/B run, landed and read by the job
    experiment_dir = Settings(data_dir=root / "experiment")
    t = Tables(spark, experiment_dir)
    t.overwrite(
        history.unionByName(spark.createDataFrame(cl.events_frame(results["A/B"].events, world), history.schema)),
        catalog.BRONZE_EVENTS,
    )
    t.overwrite(impressions_frame(spark, results["A/B"].impressions), catalog.BRONZE_IMPRESSIONS)
    t.overwrite(tables.read(catalog.SILVER_ITEMS), catalog.SILVER_ITEMS)
    ctx = JobContext.for_settings("experiment", experiment_dir, spark, None, RunConfig(experiments=config))
    started = time.perf_counter()
    reading = analyze(ctx, NAME)
    analysis_seconds = time.perf_counter() - started

    truth_a = outcomes(spark, history, prices, results["all ranked"], world, ab, config)
    truth_b = outcomes(spark, history, prices, results["all model"], world, ab, config)
    exposed = truth_a.index.intersection(truth_b.index)
    true_effect = {}
    for metric, (y, _) in em.USER_METRICS.items():
        true_effect[metric] = float((truth_b.loc[exposed, y] - truth_a.loc[exposed, y]).mean())
    for metric, (y, x) in em.RATIO_METRICS.items():
        ratios = [f.loc[exposed, y].sum() / f.loc[exposed, x].sum() for f in (truth_a, truth_b)]
        true_effect[metric] = float(ratios[1] - ratios[0])

    print(f"\nthe default world at {args.users:,} users, {items:,} listings; {args.days} days from {first_day}; "
          f"recpipe run {run_seconds:.0f} s, analysis {analysis_seconds:.0f} s; "
          f"sample-ratio p {reading['results'][0]['srm_p_value']:.3f}")  # fmt: skip
    print(
        f"\nA/B `{TREATMENT}` - `{CONTROL}` (treatment minus control), {reading['results'][0]['users']:,} exposed users"
    )
    print(f"{'metric':<26}{'method':<8}{'estimate':>11}{'95% interval':>26}{'true effect':>13}{'covered':>9}")
    coverage, widths = [], {}
    for row in reading["results"]:
        truth = true_effect[row["metric"]]
        covered = row["low"] <= truth <= row["high"]
        coverage.append(covered)
        widths[(row["metric"], row["method"])] = row["high"] - row["low"]
        interval = f"[{row['low']:.4f}, {row['high']:.4f}]"
        print(f"{row['metric']:<26}{row['method']:<8}{row['difference']:>11.4f}"
              f"{interval:>26}{truth:>13.4f}{'yes' if covered else 'NO':>9}")  # fmt: skip
    for metric in em.USER_METRICS:
        plain, cuped = widths[(metric, "plain")], widths[(metric, "cuped")]
        print(f"CUPED interval width / plain, {metric}: {cuped / plain:.3f}")
    print(f"intervals covering the true effect: {sum(coverage)} of {len(coverage)}")

    # A/A: the everyone-on-control run re-split by many salts
    users = truth_a.index.to_numpy()
    positives = {"plain": 0, "cuped": 0}
    for salt in range(args.resalts):
        arms = assignment.assign_many(f"aa-{salt}", users, ["a", "b"], [1, 1])
        a, b = sums_of(truth_a, arms == "a"), sums_of(truth_a, arms == "b")
        metric = "purchases_per_user"
        positives["plain"] += es.mean_difference(a[metric], b[metric]).p_value < 0.05
        positives["cuped"] += es.cuped_difference(a[metric], b[metric]).p_value < 0.05
    for method, count in positives.items():
        print(f"A/A, {args.resalts} re-salted readings of purchases per user ({method}): false-positive rate "
              f"{count / args.resalts:.3f} (expected 0.02-0.08)")  # fmt: skip

    # interleaving against the A/B reading
    inter = results["interleaving"]
    credit_frame = impressions_frame(spark, inter.impressions)
    loop = spark.createDataFrame(cl.events_frame(inter.events, world), history.schema)
    _, end = em.window(ab.start, ab.end, config.attribution_days)
    wins = em.interleaving_wins(em.interleaving_credit(credit_frame, loop, NAME, end), CONTROL, TREATMENT)
    exposed_inter = inter.impressions.user_id.nunique()
    pref = es.interleaving_preference(*wins, ties=exposed_inter - sum(wins))
    z_inter = (pref.share - 0.5) / max((pref.high - pref.low) / (2 * 1.959964), 1e-12)
    needed_inter = es.users_needed(exposed_inter, z_inter)
    print(f"\ninterleaving: {exposed_inter:,} users, {wins[0]:,} preferred {CONTROL}, {wins[1]:,} {TREATMENT}, "
          f"share for {TREATMENT} {pref.share:.3f} [{pref.low:.3f}, {pref.high:.3f}], p {pref.p_value:.2g}")  # fmt: skip
    winner_inter = TREATMENT if pref.share > 0.5 else CONTROL
    print(f"interleaving's winner: {winner_inter}; users it needs at 5%: {needed_inter:,.0f}")
    for metric in ("views_per_impression", "views_per_user", "purchases_per_user"):
        method = "delta" if metric in em.RATIO_METRICS else "cuped"
        row = next(r for r in reading["results"] if r["metric"] == metric and r["method"] == method)
        se = (row["high"] - row["low"]) / (2 * 1.959964)
        truth = true_effect[metric]
        needed_ab = es.users_needed(row["users"], truth / se if se else 0.0)  # the true effect at this noise
        winner_true = TREATMENT if truth > 0 else CONTROL
        ratio = needed_ab / needed_inter if math.isfinite(needed_ab) and needed_inter > 0 else float("inf")
        print(f"A/B on {metric} ({method}): true winner {winner_true} (effect {truth:+.4f}), users to detect it at 5% "
              f"{needed_ab:,.0f}; interleaving {'agrees' if winner_true == winner_inter else 'DISAGREES'}, "
              f"{ratio:,.1f}x fewer users")  # fmt: skip
    redis.stop()


if __name__ == "__main__":
    main()
