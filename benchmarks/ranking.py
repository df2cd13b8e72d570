"""Benchmark: the ranking stage, measured on what ships.

    python benchmarks/ranking.py --users 20000 [--data-dir DIR] [--skip-run]

1. `recpipe run` as shipped (every task: generate, interactions, tune, train, candidates, gate, publish) on the
   default world with --users (items scale with users) at an as-of --holdout-days before the window's end, then
   `recpipe evaluate`: the served lists against the next 1 and 7 days' purchases, next to the oracle (the world's
   truly best live listings under the served rules), recent popularity and the newest listings in taste.
2. Retrieval only: `recpipe candidates --set ranking.enabled=false` on the same data and model version (the one
   stage the lists had before: the model's top K), evaluated the same way. Printed side by side, with the ratios.
3. Ablations on train's time split (in this process): the ranker refitted without each feature group and without
   each retrieval source's candidates and columns, recall@10 and @100 of the validation users' purchases.
4. Speed: retrieval + features + scoring of every rankable user at the as-of, in pairs per second, extrapolated
   to 1,000,000 users x 200 candidates (linear in pairs: every step is a per-pair join or map); ranker training
   time from train's stage log.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
from pyspark.sql import functions as F

from recpipe import catalog, ranking_stage, tracking
from recpipe.config import GenerateConfig, RunConfig, Settings, load_job_config
from recpipe.jobs.context import JobContext
from recpipe.models.ranker import LearnedRanker, recall_at
from recpipe.models.training import evaluate_on_time_split, model_factory
from recpipe.monitoring.tuning import effective_als_params
from recpipe.progress import configure_logging
from recpipe.spark import get_spark
from recpipe.tables import Tables
from recpipe.training_data import load_training_data
from recpipe.transforms import ranked_lists, ranking_features, retrieval

TARGET, HORIZONS, KS = "purchase", (1, 7), (10, 100)


def recpipe(data_dir: Path, *args: str) -> float:
    """Run a recpipe command in ``data_dir`` (its tables under ./.recpipe); return its seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "recpipe.cli", *args], cwd=data_dir, check=True)
    return time.perf_counter() - start


def served_figures(tables: Tables, run_id: str, label: str) -> pd.DataFrame:
    table = tables.read(catalog.MONITORING_FUTURE_EVALUATION).where(F.col("run_id") == run_id).toPandas()
    table = table[table.target == TARGET]
    if label != "pipeline":
        table = table[table.list == "pipeline"].assign(list=label)
    return table


def print_served(table: pd.DataFrame) -> None:
    for horizon in HORIZONS:
        part = table[table.horizon_days == horizon]
        users = int(part[(part.segment == "all") & (part.list == "oracle")].users.max())
        print(f"\n{TARGET}s within {horizon} day(s), {users:,} buyers; recall (ratio to the oracle)")
        print(f"{'list':<28}" + "".join(f"{f'R@{k}':>16}" for k in KS) + "".join(f"{f'light R@{k}':>18}" for k in KS))
        oracle = part[part.list == "oracle"].set_index("segment")
        for name in ("ranked (shipped)", "retrieval only", "recent_popularity", "newest_in_taste", "oracle"):
            rows = part[part.list == name].set_index("segment")
            cells = []
            for segment in ("all", "light_users"):
                for k in KS:
                    value, best = rows.at[segment, f"recall_at_{k}"], oracle.at[segment, f"recall_at_{k}"]
                    cells.append(f"{value:.4f} ({value / best:.2f})" if best else f"{value:.4f}")
            print(f"{name:<28}" + "".join(f"{c:>16}" for c in cells[:2]) + "".join(f"{c:>18}" for c in cells[2:]))
        ranked = part[(part.list == "ranked (shipped)") & (part.segment == "all")].iloc[0]
        plain = part[(part.list == "retrieval only") & (part.segment == "all")].iloc[0]
        print("ranked / retrieval only: " + ", ".join(
            f"R@{k} {ranked[f'recall_at_{k}'] / plain[f'recall_at_{k}']:.2f}x" for k in KS
        ))  # fmt: skip


def ablations(ctx: JobContext) -> None:
    """The ranker refitted on train's time split without each feature group and each source's candidates."""
    config, ranking = ctx.config.train, ctx.config.ranking
    as_of = ctx.interactions_as_of()
    data = load_training_data(ctx, config.evaluation.holdout_days, as_of)
    als, _ = effective_als_params(ctx.tables, config, as_of)
    family = os.environ.get("RANKING_BENCH_FAMILY", "two_tower_als")
    evaluation = evaluate_on_time_split(
        data, {family: model_factory(family, config, als, data)}, config.evaluation, False,
        ctx.config.candidates.max_per_seller,
    )  # fmt: skip
    split = evaluation.split
    assert split is not None
    split_day = ranking_stage.split_as_of(split.split_time)
    vectors = ranking_stage.split_vectors(ctx, data, evaluation, family)
    inputs = ranking_stage.ranking_inputs(ctx, split_day, *vectors, ranking)
    label_days = (split_day + timedelta(days=1), split_day + timedelta(days=config.evaluation.holdout_days))
    retrieved = retrieval.retrieve(inputs.retrieval, ranking.retrieval).cache()
    frame = ranking_stage.training_set(ctx, retrieved, inputs.features, label_days, ranking, config.seed)
    targets = ranking_stage.holdout_targets(ctx, *label_days, config.evaluation.target_event_types)
    share = ranking.ranker.validation_share
    held_out = targets[ranking_stage.validation_users(targets["user_id"], share, config.seed)]
    users = ctx.spark.createDataFrame(held_out[["user_id"]].drop_duplicates())
    pool = retrieved.join(users, "user_id").transform(ranking_features.with_features(inputs.features)).toPandas()
    valid = ranking_stage.validation_users(frame["user_id"], share, config.seed)

    def measured(features: tuple[str, ...], rows: pd.Series, pool_rows: pd.Series) -> dict[int, float]:
        categorical = tuple(c for c in ranking_features.CATEGORICAL if c in features)
        train = frame[rows & ~valid]
        ranker = LearnedRanker.fit(train, frame[rows & valid], features, categorical, ranking.ranker, config.seed)
        scored = pool[pool_rows].assign(order=lambda p: -ranker.predict(p))
        return recall_at(scored, "order", held_out, KS)

    everything = pd.Series(True, index=frame.index)
    print(f"\nablations on train's time split ({family}; {held_out.user_id.nunique():,} validation buyers, "
          f"{len(frame):,} training rows): recall of purchases in the validation users' ranked candidates")  # fmt: skip
    model_order = recall_at(pool, retrieval.rank_column(retrieval.MODEL_SOURCE), held_out, KS)
    print(f"{'variant':<34}" + "".join(f"{f'R@{k}':>9}" for k in KS))
    print(f"{'model order alone (one stage)':<34}" + "".join(f"{model_order[k]:>9.4f}" for k in KS))
    full = measured(ranking_features.FEATURES, everything, pd.Series(True, index=pool.index))
    print(f"{'ranked, every feature and source':<34}" + "".join(f"{full[k]:>9.4f}" for k in KS))
    for group, columns in ranking_features.FEATURE_GROUPS.items():
        kept = tuple(f for f in ranking_features.FEATURES if f not in columns)
        got = measured(kept, everything, pd.Series(True, index=pool.index))
        print(f"{f'without {group} features':<34}" + "".join(f"{got[k]:>9.4f}" for k in KS))
    for source in retrieval.SOURCES:
        rank = retrieval.rank_column(source)
        others = [retrieval.rank_column(s) for s in retrieval.SOURCES if s != source]
        kept = tuple(f for f in ranking_features.FEATURES if f not in (rank, retrieval.score_column(source)))
        # the candidates some other source proposed
        got = measured(kept, frame[others].notna().any(axis=1), pool[others].notna().any(axis=1))
        print(f"{f'without source {source}':<34}" + "".join(f"{got[k]:>9.4f}" for k in KS))
    retrieved.unpersist()
    inputs.release()


def speed(ctx: JobContext) -> None:
    """Retrieval, features and scoring of every rankable user at the as-of with the champion's vectors."""
    as_of, model = ctx.interactions_as_of(), ctx.config.model
    version = tracking.champion_version(ctx.settings, model.name)
    ranker = tracking.learned_ranker(ctx.settings, model.name, version)
    assert ranker is not None, "the champion has no ranker"
    of_version = F.col("model_version") == version
    user_factors = ctx.tables.read(catalog.GOLD_USER_FACTORS).where(of_version).select("user_id", "factors")
    item_factors = ctx.tables.read(catalog.GOLD_ITEM_FACTORS).where(of_version).select("item_id", "factors")
    inputs = ranking_stage.ranking_inputs(ctx, as_of, user_factors, item_factors, ctx.config.ranking)
    start = time.perf_counter()
    retrieved = retrieval.retrieve(inputs.retrieval, ctx.config.ranking.retrieval).cache()
    pairs, users = retrieved.count(), retrieved.select("user_id").distinct().count()
    retrieval_s = time.perf_counter() - start
    start = time.perf_counter()
    scored = retrieved.transform(ranking_features.with_features(inputs.features)).transform(
        ranked_lists.with_rank_scores(ranked_lists.broadcast_ranker(ctx.spark, ranker))
    )
    scored.write.format("noop").mode("overwrite").save()
    scoring_s = time.perf_counter() - start
    rate = pairs / scoring_s
    print(
        f"\nspeed at the as-of ({users:,} users, {pairs:,} candidate pairs, {os.cpu_count()} cores): retrieval "
        f"{retrieval_s:.1f} s; features + scoring {scoring_s:.1f} s = {rate:,.0f} pairs/s; "
        f"1,000,000 users x 200 candidates extrapolated: {200e6 / rate / 3600:.1f} h of features + scoring "
        f"on these cores ({200e6 / rate / 3600 / 16 * os.cpu_count():.2f} h on 16)"  # type: ignore[operator]
    )
    runs = ctx.tables.read(catalog.MONITORING_TASK_RUNS).where(F.col("task") == "train").toPandas()
    seconds = runs.iloc[-1]["seconds"]
    print(f"ranker training at train's time split (retrieval, features, fit, validation): {seconds['ranker']:.0f} s")
    retrieved.unpersist()
    inputs.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--holdout-days", type=int, default=8, help="as-of = window end minus this many days")
    parser.add_argument("--data-dir", type=Path, help="where to run (default: a temporary directory)")
    parser.add_argument("--skip-run", action="store_true", help="reuse the run already in --data-dir")
    parser.add_argument("--skip-ablations", action="store_true")
    args = parser.parse_args()
    configure_logging()
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="recpipe-bench-ranking-"))
    root.mkdir(parents=True, exist_ok=True)
    world = load_job_config("generate", GenerateConfig)
    items = int(args.users * world.items / world.users)
    as_of = str(world.end_date - timedelta(days=args.holdout_days))

    seconds = {}
    if not args.skip_run:
        seconds["recpipe run"] = recpipe(
            root, "run", "--users", str(args.users), "--items", str(items), "--as-of", as_of, "--no-show"
        )
    seconds["evaluate"] = recpipe(root, "evaluate", "--as-of", as_of)
    settings = Settings(small_frames=False, data_dir=root / ".recpipe")
    spark = get_spark(settings, "recpipe-bench-ranking")
    tables = Tables(spark, settings)
    ranked_run = tables.read(catalog.GOLD_USER_CANDIDATES).select("run_id").first()[0]
    ranked = served_figures(tables, ranked_run, "pipeline").replace({"list": {"pipeline": "ranked (shipped)"}})
    seconds["candidates, retrieval only"] = recpipe(
        root, "candidates", "--as-of", as_of, "--set", "ranking.enabled=false"
    )
    seconds["evaluate, retrieval only"] = recpipe(root, "evaluate", "--as-of", as_of)
    plain_run = tables.read(catalog.GOLD_USER_CANDIDATES).select("run_id").first()[0]
    plain = served_figures(tables, plain_run, "retrieval only")
    print(f"\nthe default world at {args.users:,} users, {items:,} listings; as-of {as_of}; "
          + ", ".join(f"{name} {s:.0f} s" for name, s in seconds.items()))  # fmt: skip
    print_served(pd.concat([ranked, plain], ignore_index=True))

    os.chdir(root)
    ctx = JobContext.for_settings("train", settings, spark, None, RunConfig())
    speed(ctx)
    if not args.skip_ablations:
        ablations(ctx)


if __name__ == "__main__":
    main()
