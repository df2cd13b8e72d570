"""The ranking stage: retrieval sources, the learned ranker's training and the grades it learns from."""

from __future__ import annotations

from pydantic import Field, field_validator

from recpipe.config.base import StrictModel, check_event_types


class RetrievalConfig(StrictModel):
    """How many candidates each retrieval source proposes per user (0 turns a source off)."""

    model_k: int = Field(default=200, ge=0, description="the registered model's top K by its vectors")
    engaged_k: int = Field(default=50, ge=0, description="the user's own recently viewed, saved or bagged listings")
    engaged_days: int = Field(default=14, gt=0, description="how far back 'recently engaged' looks")
    neighbour_k: int = Field(
        default=50, ge=0, description="vector neighbours of the mean vector of the user's recently engaged listings"
    )
    neighbour_seeds: int = Field(default=5, gt=0, description="the most recent engaged listings the mean is over")
    taste_k: int = Field(
        default=50, ge=0, description="newest listings in the user's top categories and size, near their price level"
    )
    taste_categories: int = Field(default=3, gt=0, description="top categories of 'newest in taste'")
    popular_k: int = Field(default=50, ge=0, description="recent popularity in the user's country and size")
    popular_days: int = Field(default=7, gt=0, description="window of segment popularity")


class RankerConfig(StrictModel):
    """LightGBM LambdaRank over the retrieved candidates, grouped by user (``models.ranker``)."""

    num_leaves: int = Field(default=31, gt=1)
    learning_rate: float = Field(default=0.05, gt=0)
    max_rounds: int = Field(default=400, gt=0, description="boosting rounds before early stopping")
    early_stopping_rounds: int = Field(default=30, gt=0)
    min_child_samples: int = Field(default=50, gt=0)
    feature_fraction: float = Field(default=0.9, gt=0, le=1)
    validation_share: float = Field(
        default=0.2, gt=0, lt=1, description="users held out for early stopping and the ranked-vs-retrieval figures"
    )
    negatives_per_user: int = Field(
        default=400, gt=0, description="candidates without events kept per training user (a seeded sample)"
    )
    max_users: int = Field(default=50_000, gt=0, description="users with a positive label the ranker trains on")
    eval_at: int = Field(default=10, gt=0, description="nDCG depth early stopping watches")
    num_threads: int = Field(default=2, ge=1, description="pinned: the same seed gives the same ranker")


class RankingConfig(StrictModel):
    """Two stages: retrieval from several sources, then a learned ranker on features of (user, listing) at the
    as-of (``transforms.ranking_features``). Train fits the ranker on the time split and registers it with the
    model version; candidates (and fresh) rank with it. Off: lists are the model's top K (one stage)."""

    enabled: bool = Field(default=True, description="rank with the learned ranker; off: the model's dot product")
    retrieval: RetrievalConfig = RetrievalConfig()
    ranker: RankerConfig = RankerConfig()
    grades: dict[str, int] = Field(
        default={"purchase": 4, "add_to_bag": 3, "save": 2, "like": 2},
        description="label of a candidate by the best event on it in the days after the as-of (none: 0); views are "
        "no label: measured in benchmarks/ranking.py, a ranker taught views ranks what the feed exposes",
    )
    min_user_events: int = Field(
        default=1, ge=1, description="events a user needs for a ranked list (fewer: the segment fallback)"
    )

    @field_validator("grades")
    @classmethod
    def _known_events(cls, grades: dict[str, int]) -> dict[str, int]:
        check_event_types(grades)
        if any(grade <= 0 for grade in grades.values()):
            raise ValueError("grades are positive: a candidate without events is 0")
        return grades
