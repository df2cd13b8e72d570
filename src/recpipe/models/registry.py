"""Save and load any model by kind, so artifacts say what they hold."""

from __future__ import annotations

from pathlib import Path

from recpipe.models.als import ALSRecommender
from recpipe.models.base import Recommender
from recpipe.models.blend import BlendRecommender
from recpipe.models.ease import EASERecommender
from recpipe.models.hybrid import AttributeALSRecommender
from recpipe.models.item2vec import Item2VecRecommender
from recpipe.models.popularity import PopularityRecommender
from recpipe.models.two_tower import TwoTowerRecommender

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


def save_model(model: Recommender, path: Path) -> Path:
    model.save(path)
    (path / "kind").write_text(model.name)
    return path


def load_model(path: Path) -> Recommender:
    kind = (path / "kind").read_text().strip()
    if kind not in MODEL_KINDS:
        raise ValueError(f"{path}: unknown model kind {kind!r} (known: {', '.join(MODEL_KINDS)})")
    return MODEL_KINDS[kind].load(path)
