"""Benchmark 2 (speed): ALS training with `implicit` vs Spark MLlib ALS on the same matrix, one after the other.

    python benchmarks/als_speed.py --users 200000 --items 50000 --nnz 5300000 --factors 64 --iterations 15

The matrix is generated with planted taste groups (numpy, seeded). Both libraries train implicit-feedback ALS
with the same rank, iterations and regularization on the same (user, item, confidence) triples; Spark gets the
triples as a cached DataFrame so its timing covers training only. Prints both wall times and the ratio.
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
from recpipe.models.matrix import to_csr
from recpipe.spark import get_spark


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--nnz", type=int, default=5_300_000, help="draws; duplicates merge, leaving about 5.05M pairs")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--regularization", type=float, default=0.1)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--driver-memory", default="12g")
    args = parser.parse_args()

    matrix = planted_matrix(args.users, args.items, args.nnz, groups=20, seed=42)
    print(f"matrix: {matrix.shape[0]:,} users x {matrix.shape[1]:,} items, {matrix.nnz:,} interactions; "
          f"rank {args.factors}, {args.iterations} iterations, {args.threads} threads")

    start = time.perf_counter()
    ALSRecommender(factors=args.factors, regularization=args.regularization, alpha=args.alpha,
                   iterations=args.iterations, num_threads=args.threads, use_gpu=False).fit(matrix)
    implicit_s = time.perf_counter() - start
    print(f"implicit ALS (CPU, conjugate gradient): {implicit_s:8.1f} s")

    from pyspark.ml.recommendation import ALS

    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="recpipe-bench-")), spark_driver_memory=args.driver_memory,
                        shuffle_partitions=args.threads * 2)
    spark = get_spark(settings, "recpipe-bench-als")
    coo = matrix.tocoo()
    triples = pd.DataFrame({"user": coo.row.astype(np.int32), "item": coo.col.astype(np.int32), "confidence": coo.data})
    ratings = spark.createDataFrame(triples).repartition(args.threads * 2).cache()
    ratings.count()
    als = ALS(rank=args.factors, maxIter=args.iterations, regParam=args.regularization, alpha=args.alpha,
              implicitPrefs=True, userCol="user", itemCol="item", ratingCol="confidence", seed=42,
              numUserBlocks=args.threads * 2, numItemBlocks=args.threads * 2)
    start = time.perf_counter()
    model = als.fit(ratings)
    model.userFactors.count()
    spark_s = time.perf_counter() - start
    print(f"Spark MLlib ALS (implicitPrefs=True):   {spark_s:8.1f} s")
    print(f"speed-up implicit vs Spark MLlib: {spark_s / implicit_s:.1f}x (goal: >= 20x)")


if __name__ == "__main__":
    main()
