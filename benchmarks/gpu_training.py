"""Benchmark: the driver's model fits on one GPU (the two towers on PyTorch, implicit's CUDA ALS) against the CPU.

    python benchmarks/gpu_training.py                                            # hybrid_speed.py's matrix: 5.0M
    python benchmarks/gpu_training.py --users 1000000 --items 500000 --nnz 48000000 --epochs 1
                                                                                 # the 1M-user world's interactions
    python benchmarks/gpu_training.py --families two_tower --batch-size 4096     # the towers' batch

The matrix and listing attributes are benchmarks/hybrid_speed.py's (planted taste groups, long-tailed popularity,
seeded); the models are built from the train config's defaults (`use_gpu: true` for both families, as shipped).
Per family: the fit's seconds and the device it ran on, Recall@10 on one held-out interaction per sampled user (the
same protocol as hybrid_speed.py, so the CPU figures committed there compare: two towers 198.5 s and 0.1129 on 2
cores at 5.0M). ALS also runs on the CPU with ``--cpu-threads`` for a same-machine ratio. Where PyTorch or CUDA is
missing the towers train with numpy and the line says so.
"""

from __future__ import annotations

import argparse
import os
import time

from als_speed import hold_out_one, planted_matrix
from hybrid_speed import attributes

from recpipe.config import ALSConfig, TwoTowerConfig
from recpipe.models.als import gpu_available
from recpipe.models.base import recommend_all
from recpipe.models.evaluation import ranking_metrics
from recpipe.models.features import listing_features
from recpipe.models.training import build_als
from recpipe.models.two_tower import TwoTowerRecommender
from recpipe.models.two_tower_torch import training_device
from recpipe.progress import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--nnz", type=int, default=5_420_000, help="draws; duplicates merge (5.42M -> 5.0M pairs)")
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, help="the towers' epochs (default: the train config's)")
    parser.add_argument("--batch-size", type=int, help="the towers' batch (default: the train config's)")
    parser.add_argument("--cpu-threads", type=int, default=os.cpu_count(), help="threads of the CPU ALS fit")
    parser.add_argument("--families", nargs="+", default=["two_tower", "als_gpu", "als_cpu"])
    args = parser.parse_args()
    configure_logging()

    start = time.perf_counter()
    matrix = planted_matrix(args.users, args.items, args.nnz, args.groups, args.seed)
    train, test, users = hold_out_one(matrix, 10_000, args.seed)
    features, _ = listing_features(attributes(args.items, args.groups, args.seed))
    print(
        f"{train.nnz:,} interactions, {args.users:,} users, {args.items:,} listings, {features.shape[1]} features, "
        f"{os.cpu_count()} cores; built in {time.perf_counter() - start:.1f} s",
        flush=True,
    )
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size}
    towers = TwoTowerConfig(**{k: v for k, v in overrides.items() if v is not None})
    models = {
        "two_tower": (
            TwoTowerRecommender(
                features, seed=args.seed, **towers.model_dump(exclude={"freshness_weight", "als_weight"})
            ),
            training_device(towers.use_gpu) or f"numpy, {towers.num_threads} threads",
        ),
        "als_gpu": (build_als(ALSConfig(use_gpu=True), args.seed), "cuda" if gpu_available() else "cpu (no CUDA)"),
        "als_cpu": (
            build_als(ALSConfig(use_gpu=False, num_threads=args.cpu_threads), args.seed),
            f"cpu, {args.cpu_threads} threads",
        ),
    }
    print(f"{'model':<11}{'device':<20}{'fit s':>9}{'recall@10':>11}", flush=True)
    for name in args.families:
        model, device = models[name]
        start = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - start
        ids, _ = recommend_all(model, users, train, 10)
        recall = ranking_metrics(users, ids, test, 10, train).recall
        detail = (
            f" ({towers.epochs} epochs, batch {towers.batch_size}{gpu_peak(device)})" if name == "two_tower" else ""
        )
        print(f"{name:<11}{device:<20}{seconds:>9.1f}{recall:>11.4f}{detail}", flush=True)


def gpu_peak(device: str) -> str:
    """The most GPU memory PyTorch held at once, on CUDA."""
    if device != "cuda":
        return ""
    import torch

    return f", GPU peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"


if __name__ == "__main__":
    main()
