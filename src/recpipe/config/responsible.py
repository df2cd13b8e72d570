"""Responsible recommendations: how exposure, diversity and segment parity are measured on the served lists, the
re-ranking knobs that control them, and the monitors' thresholds (``recpipe monitor``)."""

from __future__ import annotations

from pydantic import Field, field_validator

from recpipe.config.base import StrictModel


class RerankConfig(StrictModel):
    """A greedy re-ranking after the ranker (``models.reranking``), the same rule for the batch lists and the fresh
    overlays. Every knob at 0: the ranker's order, untouched."""

    diversity_weight: float = Field(
        default=0.0, ge=0, le=1, description="MMR: weight of similarity to the listings above (category, brand, vector)"
    )
    seller_discount: float = Field(
        default=0.0, ge=0, description="value subtracted per listing of the same seller already in the list"
    )
    new_seller_share: float = Field(
        default=0.0, ge=0, le=1, description="floor: every prefix of a list holds this share of new sellers' listings"
    )
    pool_factor: float = Field(
        default=1.5, ge=1, description="candidates re-ranked per list slot (the ranker's best list_length * this)"
    )


class MeasuresConfig(StrictModel):
    """Beyond-accuracy measures of the served lists (exposure, diversity, novelty, coverage) and of recall across
    user segments (``monitoring.responsible``)."""

    exposure_depth: int = Field(default=20, gt=0, description="list positions exposure is measured over")
    diversity_depth: int = Field(default=10, gt=0, description="list positions diversity is measured over")
    new_seller_days: int = Field(
        default=7, gt=0, description="a seller whose first listing is this recent is new (items sell within days)"
    )
    fresh_listing_hours: int = Field(default=24, gt=0, description="a listing this young at the as-of is fresh")
    new_user_days: int = Field(default=30, gt=0, description="segment tenure: signed up this recently is 'new'")
    parity_k: int = Field(default=100, gt=0, description="recall depth compared across user segments")
    parity_horizon_days: int = Field(default=7, gt=0, description="purchases within this many days after the as-of")
    bootstrap_samples: int = Field(default=1000, ge=100, description="resamples of users behind each interval")
    min_segment_users: int = Field(default=30, gt=0, description="segments with fewer buyers are not compared")
    seed: int = 7


MONITOR_CHECKS = (
    "event_volume",
    "personal_share",
    "depletion",
    "recall_drop",
    "seller_gini",
    "sellers_exposed",
    "parity_ratio",
    "listing_drift",
    "activity_drift",
)


class MonitorConfig(StrictModel):
    """Thresholds ``recpipe monitor`` checks after publish and after evaluate; a breach is a row of
    monitoring.alerts and a message; a breach of a ``blocking`` check fails the task (exit 2)."""

    trailing_days: int = Field(default=7, gt=0, description="event volume: the last day against this many before")
    min_event_volume_ratio: float = Field(default=0.5, ge=0, description="last day's events / trailing daily mean")
    min_personal_share: float = Field(default=0.5, ge=0, le=1, description="share of lists that are personal")
    max_depletion: float = Field(default=0.3, ge=0, le=1, description="share of the published entries sold since")
    trailing_runs: int = Field(default=5, gt=0, description="recall drop: against the mean of this many runs")
    max_recall_drop: float = Field(default=0.3, ge=0, le=1, description="relative drop of recall@100 of purchases")
    max_seller_gini: float = Field(default=0.95, ge=0, le=1, description="Gini of exposure over live sellers")
    min_sellers_exposed: float = Field(default=0.3, ge=0, le=1, description="share of live sellers with exposure")
    min_parity_ratio: float = Field(default=0.2, ge=0, le=1, description="worst segment's recall / the best's")
    max_psi: float = Field(
        default=0.25, ge=0, description="population stability index of listing attributes and user activity"
    )
    drift_days: int = Field(default=28, gt=0, description="the training window drift is measured against")
    blocking: tuple[str, ...] = Field(
        default=("event_volume",), description="checks whose breach fails the task (exit 2)"
    )

    @field_validator("blocking")
    @classmethod
    def _known_checks(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(names) - set(MONITOR_CHECKS))
        if unknown:
            raise ValueError(f"unknown checks {unknown}; known: {list(MONITOR_CHECKS)}")
        return names


class ResponsibleConfig(StrictModel):
    """Exposure across sellers, diversity and quality across buyers: measured on every run, controlled by the
    re-ranking, watched by the monitors."""

    measures: MeasuresConfig = MeasuresConfig()
    rerank: RerankConfig = RerankConfig()
    monitor: MonitorConfig = MonitorConfig()
