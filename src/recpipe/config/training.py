"""Model training (``recpipe train``, ``recpipe tune``) and the registered model every stage refers to."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from recpipe.config.base import EventTypes, StrictModel


class ModelReference(StrictModel):
    """The registered model: train registers versions under ``name``; candidates and fresh load ``version`` (default:
    the champion). The name says what it serves, not which family won (a registry made under the old name
    ``recpipe_als`` keeps working with ``--set model.name=recpipe_als``)."""

    name: str = Field(default="recpipe_recommender", description="registered model name (Unity Catalog: in gold)")
    version: str | None = Field(default=None, description="the version lists are built from; default: the champion")


class ALSConfig(StrictModel):
    """Hyperparameters of implicit ALS (defaults: tuned on MovieLens 100k, docs/pipeline.md)."""

    factors: int = Field(default=128, gt=0)
    regularization: float = Field(default=20.0, ge=0)
    alpha: float = Field(default=2.0, gt=0)
    iterations: int = Field(default=15, gt=0)
    solver: Literal["cg", "cholesky"] = "cg"
    cg_steps: int = Field(
        default=2,
        ge=1,
        description="conjugate-gradient steps per update (solver: cg); 2 matches 3 on MovieLens, docs/pipeline.md",
    )
    weighting: Literal["none", "bm25"] = "none"
    normalize_confidence: bool = Field(
        default=True,
        description="divide confidences by their mean: alpha and regularization do not depend on the event weights' scale",
    )
    num_threads: int = Field(default=2, ge=1, description="pinned: results and timings do not depend on the machine")
    use_gpu: bool = Field(default=True, description="train on CUDA when it is present")


class Item2VecConfig(StrictModel):
    vector_size: int = Field(default=64, gt=0)
    window: int = Field(default=5, gt=0)
    negative: int = Field(default=5, gt=0)
    epochs: int = Field(default=10, gt=0)
    min_count: int = Field(default=1, ge=1)
    workers: int = Field(
        default=1,
        ge=1,
        description="gensim's training threads; more are faster, but a rerun's vectors then differ slightly",
    )


class AttributeALSConfig(StrictModel):
    """ALS plus a closed-form map from listing attributes to factors (``models.hybrid``); ALS parameters: ``als``."""

    shrinkage: float = Field(
        default=5.0, ge=0, description="users of history at which own factors and attributes weigh the same"
    )
    map_regularization: float = Field(default=1.0, gt=0, description="ridge penalty of the attribute -> factor map")


class TwoTowerConfig(StrictModel):
    """Two towers of feature embeddings trained with in-batch sampled softmax (``models.two_tower``)."""

    factors: int = Field(default=64, gt=0)
    epochs: int = Field(default=3, gt=0)
    batch_size: int = Field(default=1024, gt=1)
    learning_rate: float = Field(default=0.05, gt=0)
    regularization: float = Field(default=1e-4, ge=0)
    min_item_users: int = Field(default=2, ge=1, description="listings with fewer training users get no id embedding")
    shared_taste: bool = Field(
        default=False, description="a user's history attributes use the listing side's embeddings"
    )
    freshness_weight: float = Field(
        default=1.5,
        ge=0,
        description="weight of the measured log prior of the listing's age (models.freshness); 0: none",
    )
    als_weight: float = Field(
        default=4.0, ge=0, description="family two_tower_als: weight of the ALS score added to the two towers'"
    )
    num_threads: int = Field(default=2, ge=1)
    use_gpu: bool = Field(
        default=True, description="train with PyTorch on CUDA when both are present (the same steps as numpy's)"
    )


ModelFamily = Literal["als", "als_attributes", "two_tower", "two_tower_als"]
MODEL_FAMILIES: tuple[ModelFamily, ...] = get_args(ModelFamily)
ModelMetric = Literal["target_recall", "ndcg", "map", "precision", "recall"]  # what a model version is judged by


class EvaluationConfig(StrictModel):
    k: int = Field(default=10, gt=0)
    holdout_days: int = Field(default=7, gt=0, description="time split: the last N days are the test set")
    recent_days: int = Field(default=7, gt=0, description="window of the recent-popularity baseline")
    target_event_types: EventTypes = Field(
        default=("purchase",),
        min_length=1,
        description="the marketplace target: target_recall is the recall of these events",
    )
    target_k: int = Field(default=100, gt=0, description="list depth of target_recall")


class PromotionConfig(StrictModel):
    """Champion/challenger: a registered version becomes champion when its metric is within the tolerance."""

    metric: ModelMetric = Field(
        default="target_recall", description="one metric ranks model families and decides the champion"
    )
    tolerance: float = Field(default=0.005, ge=0)


class TrainConfig(StrictModel):
    """Silver -> the model families and item2vec, compared on the time split, tracked and promoted in MLflow; the
    served rules (seller cap, exclusions, list length) and the registered name come from the run's ``candidates``
    and ``model`` sections."""

    seed: int = 42
    use_tuned_params: bool = Field(
        default=True, description="start from `recpipe tune`'s best ALS parameters when present"
    )
    families: tuple[ModelFamily, ...] = Field(
        default=MODEL_FAMILIES, min_length=1, description="model families trained and compared; the best is registered"
    )
    feature_min_count: int = Field(default=2, ge=1, description="listings a feature value needs to get a column")
    als: ALSConfig = ALSConfig()
    als_attributes: AttributeALSConfig = AttributeALSConfig()
    two_tower: TwoTowerConfig = TwoTowerConfig()
    item2vec: Item2VecConfig = Item2VecConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    promotion: PromotionConfig = PromotionConfig()


class TuneConfig(StrictModel):
    """Seeded random search over ALS hyperparameters on the time split."""

    seed: int = 42
    trials: int = Field(default=12, gt=0)
    factors: tuple[int, ...] = (32, 64, 128)
    regularization: tuple[float, ...] = (0.5, 2.0, 8.0, 20.0)
    alpha: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0)
    iterations: tuple[int, ...] = (15,)
    weighting: tuple[Literal["none", "bm25"], ...] = ("none", "bm25")
    every_days: int = Field(
        default=7, ge=0, description="search again only when the last tuning is this many days old (0: always)"
    )
    user_share: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="search on this share of the users (seeded by user id; the split's both sides): the search's "
        "cost falls with it, train still fits on every user",
    )
