"""Which item2vec engine: gensim (skip-gram, negative sampling) or Spark ML Word2Vec (skip-gram, hierarchical
softmax, distributed)? Measured on generated sessions whose listings' true styles are known.

    python benchmarks/item2vec_engines.py --users 20000 --items 5000

Quality: precision@10 of each item's nearest neighbours being among its 50 nearest by true style (the world's
ground truth; chance is 50 / items with a vector). Also the wall time of each engine, same vector size, window,
epochs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from pyspark.sql import functions as F

from recpipe.config import GenerateConfig, Settings
from recpipe.data.generator import MarketplaceGenerator
from recpipe.models.item2vec import Item2VecRecommender
from recpipe.spark import get_spark


def neighbour_precision(
    vectors: np.ndarray, known: np.ndarray, style: np.ndarray, k: int = 10, truth_k: int = 50
) -> float:
    """Share of each known item's ``k`` nearest learned neighbours that are among its ``truth_k`` nearest by style."""
    items = np.flatnonzero(known)

    def nearest(matrix: np.ndarray, n: int) -> np.ndarray:
        unit = matrix[items] / np.maximum(np.linalg.norm(matrix[items], axis=1, keepdims=True), 1e-12)
        scores = unit @ unit.T
        np.fill_diagonal(scores, -np.inf)
        return np.argpartition(-scores, n, axis=1)[:, :n]

    learned, truth = nearest(vectors, k), nearest(style, truth_k)
    return float(np.mean([np.isin(a, b).mean() for a, b in zip(learned, truth)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--vector-size", type=int, default=64)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()

    settings = Settings(
        small_frames=False, data_dir=Path(tempfile.mkdtemp(prefix="recpipe-bench-")), spark_driver_memory="8g"
    )
    spark = get_spark(settings, "recpipe-bench-item2vec")
    config = GenerateConfig(users=args.users, items=args.items, events_per_user=30)
    generator = MarketplaceGenerator(config)
    events = generator.generate(spark).events
    style = generator.world.catalog.style
    ordered = F.array_sort(F.collect_list(F.struct("event_ts", "item_id")))
    sessions = (
        events.groupBy("session_id")
        .agg(ordered.alias("e"))
        .select(F.transform("e", lambda x: x["item_id"].cast("string")).alias("items"))
        .where(F.size("items") > 1)
        .cache()
    )
    n_sessions = sessions.count()
    print(f"{n_sessions:,} sessions over {args.items:,} listings")

    sequences = [[int(i) for i in row["items"]] for row in sessions.toLocalIterator()]
    start = time.perf_counter()
    gensim_model = Item2VecRecommender(
        n_items=args.items, vector_size=args.vector_size, window=args.window, epochs=args.epochs, seed=42
    ).fit_sequences(sequences)
    gensim_s = time.perf_counter() - start
    known = np.linalg.norm(gensim_model.vectors, axis=1) > 0
    gensim_p = neighbour_precision(gensim_model.vectors, known, style)

    from pyspark.ml.feature import Word2Vec

    start = time.perf_counter()
    spark_model = Word2Vec(
        vectorSize=args.vector_size,
        windowSize=args.window,
        maxIter=args.epochs,
        minCount=1,
        seed=42,
        inputCol="items",
        numPartitions=1,
    ).fit(sessions)
    spark_s = time.perf_counter() - start
    table = spark_model.getVectors().toPandas()
    spark_vectors = np.zeros((args.items, args.vector_size), dtype=np.float32)
    spark_vectors[table["word"].astype(int).to_numpy()] = np.stack(table["vector"].map(lambda v: v.toArray()))
    spark_known = np.linalg.norm(spark_vectors, axis=1) > 0
    spark_p = neighbour_precision(spark_vectors, spark_known, style)

    print(f"chance: {50 / known.sum():.3f}")
    print(f"{'engine':<34} {'style P@10':>16} {'seconds':>8}")
    print(f"{'gensim (SGNS, 1 worker)':<34} {gensim_p:16.3f} {gensim_s:8.1f}")
    print(f"{'Spark ML Word2Vec (HS)':<34} {spark_p:16.3f} {spark_s:8.1f}")
    print(f"ratio gensim / Spark: quality {gensim_p / spark_p:.2f}x, speed {spark_s / gensim_s:.1f}x")


if __name__ == "__main__":
    main()
