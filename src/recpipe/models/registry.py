"""The model registry of an artifact: every kind of model a saved artifact may hold (importing this module
registers them all for ``load_model``), and the files a registered version carries (``write_artifacts``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recpipe.models.als import ALSRecommender
from recpipe.models.base import KINDS, Recommender, load_model, save_model
from recpipe.models.blend import BlendRecommender
from recpipe.models.ease import EASERecommender
from recpipe.models.hybrid import AttributeALSRecommender
from recpipe.models.item2vec import Item2VecRecommender
from recpipe.models.popularity import PopularityRecommender
from recpipe.models.ranker import LearnedRanker
from recpipe.models.training_set import TrainingData
from recpipe.models.two_tower import TwoTowerRecommender

# Every kind of saved model, by name: the classes above registered themselves (``models.base.KINDS``).
MODEL_KINDS: dict[str, type[Recommender]] = {
    cls.name: cls
    for cls in (
        ALSRecommender,
        AttributeALSRecommender,
        BlendRecommender,
        EASERecommender,
        Item2VecRecommender,
        PopularityRecommender,
        TwoTowerRecommender,
    )
}
assert MODEL_KINDS.items() <= KINDS.items()


def write_artifacts(
    tmp: Path,
    model: Recommender,
    item2vec,
    data: TrainingData,
    feature_min_count: int,
    ranker: LearnedRanker | None = None,
) -> dict[str, Path]:
    """The model, id maps, the served rules' inputs as of the data's as-of (exclusions, sellers, for sale), the
    listing feature encoder (what encodes a listing created after training) and the learned ranker if any."""
    paths = {"model": save_model(model, tmp / model.name), "item2vec": save_model(item2vec, tmp / "item2vec")}
    if ranker is not None:
        paths["ranker"] = ranker.save(tmp / "ranker")
    if data.items is not None:
        paths["listing_features"] = tmp / "listing_features.json"
        data.listing_encoder(feature_min_count).save(paths["listing_features"])
    for_sale = np.zeros(data.n_items, dtype=bool)
    for_sale[data.availability.loc[data.availability["status"] == "active", "item_idx"].to_numpy()] = True
    for name, array in (
        ("user_ids", data.user_ids),
        ("item_ids", data.item_ids),
        ("sellers", data.sellers),
        ("for_sale", for_sale),
    ):
        paths[name] = tmp / f"{name}.npy"
        np.save(paths[name], array)
    paths["excluded"] = tmp / "excluded.npz"
    sp.save_npz(paths["excluded"], data.exclusions())
    return paths


__all__ = ["MODEL_KINDS", "load_model", "save_model", "write_artifacts"]
