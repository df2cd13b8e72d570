"""Benchmark 1 (quality): MovieLens 100k with the Microsoft Recommenders protocol.

    python benchmarks/movielens.py /path/to/ml-100k        # the folder that holds u.data

Stratified 75/25 split (seed 42), k = 10, every test item relevant, training items removed from the lists.
Prints MAP, nDCG@10, Precision@10, Recall@10 and training seconds for popularity, ALS with the defaults of
conf/train.yml (found by `recpipe tune`-style search), and EASE, next to the published table.
The split is stratified per user by default, as `python_stratified_split` does in the published benchmark
notebook; `--split-by item` stratifies per item instead.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recpipe.config import ALSConfig
from recpipe.models.base import recommend_all
from recpipe.models.ease import EASERecommender
from recpipe.models.evaluation import ranking_metrics, stratified_split
from recpipe.models.matrix import to_csr
from recpipe.models.popularity import PopularityRecommender
from recpipe.models.training import build_als, sample_grid

PUBLISHED = {  # Microsoft Recommenders, MovieLens 100k, k = 10
    "BiVAE (published best)": (0.146, 0.475, 0.412, 0.219),
    "BPR (published)": (0.132, 0.442, 0.388, 0.213),
}


GRID = {
    "factors": (64, 128),
    "regularization": (2.0, 8.0, 20.0, 50.0),
    "alpha": (0.5, 2.0, 5.0),
    "weighting": ("none", "bm25"),
}


def tune_on_validation(train: pd.DataFrame, n_users: int, n_items: int, seed: int) -> ALSConfig:
    """Pick ALS parameters on a validation split carved from the training set only (the test set is never seen)."""
    fit_rows, valid_rows = stratified_split(train, 0.75, by="user_idx", seed=seed + 1)
    fit_m = to_csr(fit_rows["user_idx"], fit_rows["item_idx"], np.ones(len(fit_rows)), n_users, n_items)
    valid_m = to_csr(valid_rows["user_idx"], valid_rows["item_idx"], np.ones(len(valid_rows)), n_users, n_items)
    users = np.unique(valid_rows["user_idx"].to_numpy())
    best = (-1.0, None)
    for params in sample_grid(GRID, trials=10_000, seed=seed):
        config = ALSConfig(use_gpu=False, **params)
        ids, _ = recommend_all(build_als(config, seed).fit(fit_m), users, fit_m, 10)
        best = max(best, (ranking_metrics(users, ids, valid_m, 10).ndcg, config), key=lambda b: b[0])
    print(
        f"validation search over {len(sample_grid(GRID, 10_000, seed))} combinations: best nDCG@10 {best[0]:.4f} with "
        f"factors={best[1].factors} regularization={best[1].regularization} alpha={best[1].alpha} weighting={best[1].weighting}"
    )
    return best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path, help="MovieLens 100k folder (with u.data)")
    parser.add_argument("--split-by", choices=("user", "item"), default="user")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--tune", action="store_true", help="also grid-search ALS on a validation split of the training set"
    )
    args = parser.parse_args()

    ratings = pd.read_csv(args.path / "u.data", sep="\t", names=["user", "item", "rating", "ts"])
    ratings["user_idx"] = ratings["user"].astype("category").cat.codes
    ratings["item_idx"] = ratings["item"].astype("category").cat.codes
    n_users, n_items = ratings["user_idx"].max() + 1, ratings["item_idx"].max() + 1
    train, test = stratified_split(ratings, 0.75, by=f"{args.split_by}_idx", seed=args.seed)
    train_m = to_csr(train["user_idx"], train["item_idx"], np.ones(len(train)), n_users, n_items)
    test_m = to_csr(test["user_idx"], test["item_idx"], np.ones(len(test)), n_users, n_items)
    users = np.unique(test["user_idx"].to_numpy())

    tuned = tune_on_validation(train, n_users, n_items, args.seed) if args.tune else None
    models = {
        "popularity": PopularityRecommender(),
        "ALS (implicit, conf/train.yml)": build_als(ALSConfig(use_gpu=False), seed=args.seed),
        "EASE (l2=500)": EASERecommender(l2=500.0),
    }
    if tuned is not None:
        models["ALS (tuned on validation)"] = build_als(tuned, seed=args.seed)
    print(
        f"MovieLens 100k: {len(ratings):,} ratings, {n_users} users, {n_items} items; split by {args.split_by}, seed {args.seed}"
    )
    print(f"{'model':<34} {'MAP':>7} {'nDCG@10':>8} {'P@10':>7} {'R@10':>7} {'train s':>8}")
    ours = {}
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(train_m)
        seconds = time.perf_counter() - start
        ids, _ = recommend_all(model, users, train_m, 10)
        m = ranking_metrics(users, ids, test_m, 10, train_m)
        ours[name] = (m.map, m.ndcg, m.precision, m.recall)
        print(f"{name:<34} {m.map:7.4f} {m.ndcg:8.4f} {m.precision:7.4f} {m.recall:7.4f} {seconds:8.2f}")
    for name, values in PUBLISHED.items():
        print(f"{name:<34} " + " ".join(f"{v:7.3f}" for v in values) + f" {'':>8}")
    bivae = PUBLISHED["BiVAE (published best)"]
    for name in [n for n in ours if n != "popularity"]:
        ratios = " ".join(f"{o / b:.3f}" for o, b in zip(ours[name], bivae))
        print(f"ratio {name} / BiVAE (MAP nDCG P R): {ratios}")


if __name__ == "__main__":
    main()
