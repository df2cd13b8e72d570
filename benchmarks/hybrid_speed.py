"""Benchmark: training time of the model families on 5,000,000 interactions, 2 cores, one after the other.

    python benchmarks/hybrid_speed.py        # 200,000 users, 50,000 listings, 5.0M interactions

The matrix is benchmarks/als_speed.py's (planted taste groups, long-tailed popularity, seeded); each listing gets
attributes (category, brand, size, condition, price, seller country) drawn with its taste group, so the
attribute features say something. Times ALS (the train config's defaults), ALS with the attribute map and the
two-tower model (train config defaults: 3 epochs), and prints each next to ALS's time, with Recall@10 on one
held-out interaction per sampled user so that time is not bought with quality. Goal: under 5 minutes each.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from als_speed import hold_out_one, planted_matrix

from recpipe.config import ALSConfig, AttributeALSConfig, TwoTowerConfig
from recpipe.models.base import recommend_all
from recpipe.models.evaluation import ranking_metrics
from recpipe.models.features import listing_features
from recpipe.models.hybrid import AttributeALSRecommender
from recpipe.models.training import build_als
from recpipe.models.two_tower import TwoTowerRecommender
from recpipe.progress import configure_logging


def attributes(n_items: int, groups: int, seed: int) -> pd.DataFrame:
    """Listing attributes that follow the item's taste group (item % groups) half the time."""
    rng = np.random.default_rng(seed)
    group = np.arange(n_items) % groups
    follow = rng.random(n_items) < 0.5
    pick = lambda n: np.where(follow, group % n, rng.integers(0, n, n_items))
    return pd.DataFrame(
        {
            "category": [f"c{v}" for v in pick(10)],
            "brand": [f"b{v}" for v in pick(200)],
            "size": [f"s{v}" for v in pick(6)],
            "condition": [f"k{v}" for v in rng.integers(0, 4, n_items)],
            "price": np.exp(2.5 + 0.3 * (group % 7) + 0.4 * rng.standard_normal(n_items)),
            "country": [f"n{v}" for v in rng.integers(0, 8, n_items)],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--nnz", type=int, default=5_420_000, help="draws; duplicates merge, leaving about 5.0M pairs")
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    configure_logging()

    matrix = planted_matrix(args.users, args.items, args.nnz, args.groups, args.seed)
    train, test, users = hold_out_one(matrix, 10_000, args.seed)
    features, _ = listing_features(attributes(args.items, args.groups, args.seed))
    print(
        f"{train.nnz:,} interactions, {args.users:,} users, {args.items:,} listings, {features.shape[1]} features, "
        f"{os.cpu_count()} cores"
    )
    als = ALSConfig(use_gpu=False)
    models = {
        "als": build_als(als, args.seed),
        "als_attributes": AttributeALSRecommender(
            features, **AttributeALSConfig().model_dump(), **build_als(als, args.seed).params
        ),
        "two_tower": TwoTowerRecommender(
            features, seed=args.seed, **TwoTowerConfig().model_dump(exclude={"freshness_weight"})
        ),
    }
    seconds = {}
    print(f"{'model':<16}{'train s':>9}{'vs ALS':>8}{'recall@10':>11}")
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(train)
        seconds[name] = time.perf_counter() - start
        ids, _ = recommend_all(model, users, train, 10)
        recall = ranking_metrics(users, ids, test, 10, train).recall
        print(f"{name:<16}{seconds[name]:>9.1f}{seconds[name] / seconds['als']:>8.2f}{recall:>11.4f}", flush=True)


if __name__ == "__main__":
    main()
