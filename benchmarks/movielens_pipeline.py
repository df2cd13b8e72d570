"""Benchmark: MovieLens 100k through the whole pipeline, scored on the lists it serves.

    python benchmarks/movielens_pipeline.py /path/to/ml-100k [--split-by item]

`recpipe ingest movielens` with a stratified 75/25 split (seed 42, Microsoft Recommenders' protocol) writes the
training ratings to bronze and the rest to sim.holdout; interactions -> train -> candidates run with the ratings
profile (conf/profiles/ratings) and the shipped model configuration; `recpipe evaluate` scores
gold.user_candidates against the held-out ratings at k = 10. In the same run, ALS with the same hyperparameters is
called directly on the same split (every rating confidence 1), and its figures are printed next to the pipeline's.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recpipe.config import (
    PROFILE_ENV,
    CandidatesConfig,
    FutureEvaluationConfig,
    InteractionsConfig,
    Settings,
    TrainConfig,
    load_job_config,
)
from recpipe.data.movielens import movielens
from recpipe.jobs.candidates import generate_candidates
from recpipe.jobs.context import JobContext
from recpipe.jobs.evaluate import evaluate, holdout_metrics
from recpipe.jobs.ingest import ingest
from recpipe.jobs.interactions import build
from recpipe.jobs.train import train
from recpipe.models.base import recommend_all
from recpipe.models.matrix import to_csr
from recpipe.models.training import build_als
from recpipe.monitoring.runs import holdout_key
from recpipe.progress import configure_logging
from recpipe.spark import get_spark

METRICS = ("map", "ndcg", "precision", "recall")


def direct_als(data, seed: int, k: int):
    """ALS of conf/train.yml fitted on the training ratings (confidence 1), top-k unseen items per user."""
    events = data.events
    users, user_codes = np.unique(events["user_id"], return_inverse=True)
    items, item_codes = np.unique(events["item_id"], return_inverse=True)
    matrix = to_csr(user_codes, item_codes, np.ones(len(events)), len(users), len(items))
    params = load_job_config("train", TrainConfig).als.model_copy(update={"use_gpu": False})
    start = time.perf_counter()
    model = build_als(params, seed).fit(matrix)
    seconds = time.perf_counter() - start
    ids, _ = recommend_all(model, np.arange(len(users)), matrix, k)
    served = pd.DataFrame({"user_id": users, "item_ids": [items[row[row >= 0]].tolist() for row in ids]})
    return holdout_metrics(served, data.holdout[["user_id", "item_id"]], k), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path, help="MovieLens 100k folder (with u.data and u.item)")
    parser.add_argument("--split-by", choices=("user", "item"), default="user")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, help="where to write (default: a temporary directory)")
    args = parser.parse_args()
    configure_logging()
    os.environ[PROFILE_ENV] = "ratings"

    settings = Settings(data_dir=args.data_dir or Path(tempfile.mkdtemp(prefix="recpipe-bench-ml-")))
    spark = get_spark(settings, "recpipe-bench-movielens")

    def context(job: str) -> JobContext:
        return JobContext.for_settings(job, settings, spark)

    data = movielens(args.path, holdout_share=0.25, split_by=args.split_by, seed=args.seed)
    seconds = {}
    for job, step in (
        ("ingest", lambda c: ingest(c, data)),
        ("interactions", lambda c: build(c, load_job_config("interactions", InteractionsConfig))),
        ("train", lambda c: train(c, load_job_config("train", TrainConfig))),
        ("candidates", lambda c: generate_candidates(c, load_job_config("candidates", CandidatesConfig))),
    ):
        start = time.perf_counter()
        step(context(job))
        seconds[job] = time.perf_counter() - start
    config = load_job_config("evaluate", FutureEvaluationConfig)
    figures = evaluate(context("evaluate"), config)["figures"]
    k = config.holdout_k
    pipeline = {m: figures[holdout_key("pipeline", f"{m}_at_{k}")] for m in (*METRICS, "n_users")}
    direct, fit_seconds = direct_als(data, args.seed, k)

    timings = ", ".join(f"{job} {s:.0f} s" for job, s in seconds.items())
    print(
        f"\nMovieLens 100k, stratified 75/25 by {args.split_by} (seed {args.seed}): {len(data.events):,} training "
        f"ratings in bronze, {len(data.holdout):,} held out; k = {k}; {timings}"
    )
    print(f"{'lists':<46} {'MAP':>7} {'nDCG@10':>8} {'P@10':>7} {'R@10':>7} {'users':>6}")
    print(
        f"{'pipeline: gold.user_candidates (served)':<46} "
        + " ".join(f"{pipeline[m]:7.4f}" for m in METRICS)
        + f" {int(pipeline['n_users']):6d}"
    )
    print(
        f"{'ALS called directly, same split and params':<46} "
        + " ".join(f"{getattr(direct, m):7.4f}" for m in METRICS)
        + f" {direct.n_users:6d}   (fit {fit_seconds:.1f} s)"
    )
    print(
        "ratio pipeline / direct (MAP nDCG P R): "
        + " ".join(f"{pipeline[m] / getattr(direct, m):.3f}" for m in METRICS)
    )
    print(f"goal nDCG@10 >= 0.49: pipeline {pipeline['ndcg']:.4f}")


if __name__ == "__main__":
    main()
