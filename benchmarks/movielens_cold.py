"""Benchmark: cold-start items on MovieLens 100k, the hybrid models next to LightFM in the same run.

    python benchmarks/movielens_cold.py /path/to/ml-100k        # the folder that holds u.data and u.item

Item features: every genre of the film and its release year (five-year bands), from u.item.

Cold protocol: 20% of the films are held out entirely (seeded); models train on the ratings of the rest (every
rating is an implicit interaction); for each user with a rating of a held-out film, only the held-out films are
ranked; recall@20 and nDCG@20 against the held-out ratings. LightFM (WARP, item features = identity + the same
features; a held-out film is described by its features only) is the baseline.

Warm protocol: the stratified 75/25 split per user of benchmarks/movielens.py (seed 42), k = 10, training items
removed from the lists; every model here plus LightFM, next to the published best (BiVAE nDCG@10 0.475).

LightFM is a baseline, not a dependency. Its 1.17 source distribution needs, after numpy and scipy:
    pip install wheel
    pip download --no-deps --no-binary :all: lightfm==1.17   # or fetch the sdist from PyPI
    # in setup.py, replace `__builtins__.__LIGHTFM_SETUP__ = True` by
    # `import builtins; builtins.__LIGHTFM_SETUP__ = True`, then in the unpacked folder:
    pip install --no-build-isolation .
Without it the LightFM rows are skipped with a note.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recpipe.config import ALSConfig
from recpipe.data.movielens import film_features, movielens
from recpipe.models.base import Recommender, recommend_all
from recpipe.models.evaluation import RankingMetrics, ranking_metrics, stratified_split
from recpipe.models.features import FeatureEncoder
from recpipe.models.hybrid import AttributeALSRecommender
from recpipe.models.matrix import to_csr
from recpipe.models.topk import top_k_rows
from recpipe.models.training import build_als
from recpipe.models.two_tower import TwoTowerRecommender

ALS = ALSConfig(use_gpu=False).model_dump()  # the train job's defaults, as benchmarks/movielens.py's ALS row


def hybrid_models(features: sp.csr_matrix, seed: int) -> dict[str, Recommender]:
    return {
        "als_attributes": AttributeALSRecommender(features, **{**ALS, "seed": seed}),
        "two_tower": TwoTowerRecommender(
            features, factors=64, epochs=20, batch_size=512, learning_rate=0.05, seed=seed
        ),
        "two_tower (shared taste)": TwoTowerRecommender(
            features, factors=64, epochs=20, batch_size=512, learning_rate=0.05, shared_taste=True, seed=seed
        ),
    }


def lightfm_scores(
    train: sp.csr_matrix,
    item_features: sp.csr_matrix,
    users: np.ndarray,
    items: np.ndarray,
    seed: int,
    epochs: int = 30,
) -> tuple[np.ndarray, float]:
    """LightFM WARP with item features; scores of ``users`` x ``items`` and the training seconds."""
    from lightfm import LightFM

    start = time.perf_counter()
    model = LightFM(no_components=64, loss="warp", learning_rate=0.05, random_state=seed)
    model.fit(train.tocoo(), item_features=item_features, epochs=epochs, num_threads=2)
    seconds = time.perf_counter() - start
    item_bias, item_vectors = model.get_item_representations(item_features)
    user_bias, user_vectors = model.get_user_representations()
    scores = user_vectors[users] @ item_vectors[items].T + item_bias[items][None, :] + user_bias[users][:, None]
    return scores.astype(np.float32), seconds


def lightfm_available() -> bool:
    try:
        import lightfm  # noqa: F401
    except ImportError:
        return False
    return True


def metrics_row(
    name: str, users: np.ndarray, ids: np.ndarray, truth: sp.csr_matrix, k: int, seconds: float
) -> RankingMetrics:
    m = ranking_metrics(users, ids, truth, k)
    print(f"{name:<26}{m.recall:>11.4f}{m.ndcg:>10.4f}{m.precision:>13.4f}{m.map:>8.4f}{seconds:>10.1f}")
    return m


def header(k: int) -> None:
    print(f"{'model':<26}{f'recall@{k}':>11}{f'nDCG@{k}':>10}{f'precision@{k}':>13}{'MAP':>8}{'fit s':>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path, help="MovieLens 100k folder (u.data, u.item)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cold-share", type=float, default=0.2)
    args = parser.parse_args()

    ratings = movielens(args.path).events[["user_id", "item_id"]].copy()  # every rating, checked as ingest reads it
    films = film_features(args.path)
    item_ids = np.sort(films["item_id"].to_numpy())
    user_ids = np.sort(ratings["user_id"].unique())
    ratings["user_idx"] = np.searchsorted(user_ids, ratings["user_id"])
    ratings["item_idx"] = np.searchsorted(item_ids, ratings["item_id"])
    films = films.set_index("item_id").loc[item_ids].reset_index()
    features = FeatureEncoder(("genres", "era")).fit(films).transform(films)
    n_users, n_items = len(user_ids), len(item_ids)
    print(
        f"MovieLens: {len(ratings):,} ratings, {n_users:,} users, {n_items:,} films, {features.shape[1]} item features"
    )

    # ---- cold items ----------------------------------------------------------------------------------------
    rng = np.random.default_rng(args.seed)
    cold = np.sort(rng.choice(n_items, size=round(args.cold_share * n_items), replace=False))
    is_cold = np.isin(ratings["item_idx"], cold)
    train_rows, test_rows = ratings[~is_cold], ratings[is_cold]
    train = to_csr(train_rows["user_idx"], train_rows["item_idx"], np.ones(len(train_rows)), n_users, n_items)
    test = to_csr(test_rows["user_idx"], test_rows["item_idx"], np.ones(len(test_rows)), n_users, n_items)
    users = np.unique(test_rows["user_idx"].to_numpy())
    k = 20
    truth = test[:, cold]  # positions among the held-out films
    print(
        f"\ncold items: {len(cold)} films held out (seed {args.seed}), {len(test_rows):,} of their ratings, "
        f"{len(users):,} users; only held-out films are ranked"
    )
    header(k)
    results = {}
    for name, model in hybrid_models(features, args.seed).items():
        start = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - start
        user_vectors, item_vectors = model.embed(users, train)
        ids, _ = top_k_rows(user_vectors @ item_vectors[cold].T, k)
        results[name] = metrics_row(name, users, ids, truth, k, seconds)
    # attribute popularity: the share of training ratings on films with each feature, no personalisation
    popularity = np.asarray(features.T @ np.asarray(train.sum(axis=0)).ravel())
    ids, _ = top_k_rows(np.tile(features[cold] @ popularity, (len(users), 1)), k)
    metrics_row("feature popularity", users, ids, truth, k, 0.0)
    if lightfm_available():
        described = sp.diags(np.where(np.isin(np.arange(n_items), cold), 0.0, 1.0)) @ sp.identity(n_items)
        lightfm_features = sp.hstack([described, features], format="csr").astype(np.float32)  # held out: features only
        scores, seconds = lightfm_scores(train, lightfm_features, users, cold, args.seed)
        ids, _ = top_k_rows(scores, k)
        results["lightfm"] = metrics_row("lightfm (WARP, features)", users, ids, truth, k, seconds)
        for name in ("als_attributes", "two_tower", "two_tower (shared taste)"):
            print(f"  {name} recall@{k} / LightFM's: {results[name].recall / results['lightfm'].recall:.2f}")
    else:
        print("  lightfm not installed: its baseline row is skipped (see the module docstring)")

    # ---- warm protocol -----------------------------------------------------------------------------------
    fit_rows, held = stratified_split(ratings, 0.75, by="user_idx", seed=args.seed)
    train = to_csr(fit_rows["user_idx"], fit_rows["item_idx"], np.ones(len(fit_rows)), n_users, n_items)
    test = to_csr(held["user_idx"], held["item_idx"], np.ones(len(held)), n_users, n_items)
    users = np.unique(held["user_idx"].to_numpy())
    k = 10
    print(
        f"\nwarm protocol: stratified 75/25 per user (seed {args.seed}), k = {k}; published best nDCG@10 0.475 (BiVAE)"
    )
    header(k)
    warm_models = {
        **hybrid_models(features, args.seed),
        "als (no attributes)": build_als(ALSConfig(use_gpu=False), args.seed),
    }
    for name, model in warm_models.items():
        start = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - start
        ids, _ = recommend_all(model, users, train, k)
        metrics_row(name, users, ids, test, k, seconds)
    if lightfm_available():
        lightfm_features = sp.hstack([sp.identity(n_items, format="csr"), features], format="csr").astype(np.float32)
        scores, seconds = lightfm_scores(train, lightfm_features, users, np.arange(n_items), args.seed)
        ids, _ = top_k_rows(scores, k, train[users])
        metrics_row("lightfm (WARP, features)", users, ids, test, k, seconds)


if __name__ == "__main__":
    main()
