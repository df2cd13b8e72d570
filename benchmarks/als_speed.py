"""Benchmark 2 (speed): ALS training with `implicit` vs Spark MLlib ALS on the same matrix, one after the other.

    python benchmarks/als_speed.py --users 200000 --items 50000 --nnz 5300000 --factors 64 --iterations 15

The matrix is generated with planted taste groups (numpy, seeded). Both libraries train implicit-feedback ALS
with the same rank, iterations and regularization on the same (user, item, confidence) triples; Spark gets the
triples as a cached DataFrame so its timing covers training only. Prints both wall times and the ratio, and,
so that speed is not bought with quality, Recall@10 of both models on one held-out interaction per sampled user.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recpipe.config import Settings
from recpipe.models.als import ALSRecommender
from recpipe.models.base import recommend_all
from recpipe.models.evaluation import ranking_metrics
from recpipe.models.matrix import to_csr


def planted_matrix(n_users: int, n_items: int, nnz: int, groups: int, seed: int):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, size=nnz)
    in_group = rng.random(nnz) < 0.8
    group = np.where(in_group, users % groups, rng.integers(0, groups, size=nnz))
    per_group = n_items // groups
    rank = np.floor(per_group * rng.random(nnz) ** 3).astype(np.int64)  # long-tailed popularity
    items = rank * groups + group
    confidence = rng.integers(1, 10, size=nnz).astype(np.float32)
    matrix = to_csr(users, items, confidence, n_users, n_items)
    return matrix


def hold_out_one(matrix, n_users: int, seed: int):
    """Move one random interaction of each of ``n_users`` sampled users (with >= 2) into a test matrix."""
    rng = np.random.default_rng(seed)
    eligible = np.flatnonzero(np.diff(matrix.indptr) >= 2)
    users = np.sort(rng.choice(eligible, size=min(n_users, len(eligible)), replace=False))
    picks = matrix.indptr[users] + (rng.random(len(users)) * np.diff(matrix.indptr)[users]).astype(np.int64)
    test = to_csr(users, matrix.indices[picks], np.ones(len(users)), *matrix.shape)
    train = matrix.copy()
    train.data[picks] = 0
    train.eliminate_zeros()
    return train, test, users


def recall_at_10(user_factors: np.ndarray, item_factors: np.ndarray, train, test, users) -> float:
    model = ALSRecommender()
    model.user_factors, model.item_factors = user_factors, item_factors
    ids, _ = recommend_all(model, users, train, 10)
    return ranking_metrics(users, ids, test, 10, train).recall


def factor_array(factors_df, rows: int) -> np.ndarray:
    """Spark's (id, features) factors as a dense array indexed by id (ids with no interactions stay zero)."""
    frame = factors_df.toPandas()
    dense = np.zeros((rows, len(frame["features"].iloc[0])), dtype=np.float32)
    dense[frame["id"].to_numpy()] = np.stack(frame["features"].to_numpy())
    return dense


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--nnz", type=int, default=5_300_000, help="draws; duplicates merge, leaving about 5.05M pairs")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--regularization", type=float, default=0.1)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--cg-steps", type=int, default=2)
    parser.add_argument("--eval-users", type=int, default=10_000, help="users with one held-out interaction each")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--driver-memory", default="12g")
    args = parser.parse_args()

    matrix, test, eval_users = hold_out_one(
        planted_matrix(args.users, args.items, args.nnz, groups=20, seed=42), args.eval_users, seed=7
    )
    print(
        f"matrix: {matrix.shape[0]:,} users x {matrix.shape[1]:,} items, {matrix.nnz:,} interactions; "
        f"rank {args.factors}, {args.iterations} iterations, {args.threads} threads"
    )

    start = time.perf_counter()
    ours = ALSRecommender(
        factors=args.factors,
        regularization=args.regularization,
        alpha=args.alpha,
        iterations=args.iterations,
        cg_steps=args.cg_steps,
        num_threads=args.threads,
        use_gpu=False,
    ).fit(matrix)
    implicit_s = time.perf_counter() - start
    implicit_recall = recall_at_10(ours.user_factors, ours.item_factors, matrix, test, eval_users)
    print(f"implicit ALS (CPU, {args.cg_steps} CG steps): {implicit_s:8.1f} s   Recall@10 {implicit_recall:.4f}")

    from pyspark.ml.recommendation import ALS

    from recpipe.spark import get_spark  # here: the matrix helpers above also serve where Spark is absent

    settings = Settings(
        small_frames=False,
        data_dir=Path(tempfile.mkdtemp(prefix="recpipe-bench-")),
        spark_driver_memory=args.driver_memory,
        shuffle_partitions=args.threads * 2,
    )
    spark = get_spark(settings, "recpipe-bench-als")
    coo = matrix.tocoo()
    triples = pd.DataFrame({"user": coo.row.astype(np.int32), "item": coo.col.astype(np.int32), "confidence": coo.data})
    ratings = spark.createDataFrame(triples).repartition(args.threads * 2).cache()
    ratings.count()
    als = ALS(
        rank=args.factors,
        maxIter=args.iterations,
        regParam=args.regularization,
        alpha=args.alpha,
        implicitPrefs=True,
        userCol="user",
        itemCol="item",
        ratingCol="confidence",
        seed=42,
        numUserBlocks=args.threads * 2,
        numItemBlocks=args.threads * 2,
    )
    start = time.perf_counter()
    model = als.fit(ratings)
    model.userFactors.count()
    spark_s = time.perf_counter() - start
    spark_recall = recall_at_10(
        factor_array(model.userFactors, matrix.shape[0]),
        factor_array(model.itemFactors, matrix.shape[1]),
        matrix,
        test,
        eval_users,
    )
    print(f"Spark MLlib ALS (implicitPrefs=True): {spark_s:8.1f} s   Recall@10 {spark_recall:.4f}")
    print(f"speed-up implicit vs Spark MLlib: {spark_s / implicit_s:.1f}x (goal: >= 20x)")


if __name__ == "__main__":
    main()
