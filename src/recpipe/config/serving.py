"""Serving: the lists' rules, the list gate, publishing, the availability stream and fresh overlays."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from recpipe.config.base import EventTypes, StrictModel


class CandidatesConfig(StrictModel):
    """Precomputed lists: top-N per user, similar items, cold-start fallbacks. Its rules (list length, seller cap,
    exclusions) are the served rules every stage applies: train's evaluation and registered model, the fresh overlays
    and the list gate read them from the same run's configuration."""

    top_n: int = Field(default=100, gt=0, description="what the app shows")
    overfetch: float = Field(default=2.0, ge=1.0, description="lists hold top_n * overfetch to survive sales")
    max_per_seller: int = Field(default=3, gt=0)
    exclude_seen_event_types: EventTypes = Field(
        default=("purchase",),
        description="a user's items seen through these are never listed; measured in benchmarks/world.py: excluding "
        "viewed, saved or bagged listings loses the ones people come back to buy",
    )
    min_user_interactions: int = Field(default=3, ge=1, description="fewer: the user gets a fallback list")
    similar_n: int = Field(default=50, gt=0)
    similar_exclude_same_seller: bool = True
    fallback_days: int = Field(default=14, gt=0, description="popularity window of the segment fallbacks")
    batch_size: int = Field(default=2048, gt=0, description="users per Arrow batch on the executors")

    @property
    def list_length(self) -> int:
        return round(self.top_n * self.overfetch)


class PublishConfig(StrictModel):
    """Redis publishing (recpipe publish)."""

    foryou_buckets: int = Field(default=1024, gt=0)
    similar_buckets: int = Field(default=1024, gt=0)
    batch_size: int = Field(default=2000, gt=0, description="entries per pipeline round trip")
    retries: int = Field(default=3, ge=0, description="connection retries with exponential backoff")
    retry_budget_s: float = Field(
        default=30.0, gt=0, description="seconds a write keeps retrying a lost Redis connection before the job fails"
    )
    keep_versions: int = Field(default=2, ge=1, description="live + previous ones kept for rollback")
    expire_after_s: int = Field(default=86_400, gt=0, description="TTL of versions past keep_versions")
    similar_sources: tuple[Literal["vectors", "item2vec", "attributes"], ...] = ("vectors", "item2vec", "attributes")
    verify: bool = True
    write_partitions: int = Field(default=8, gt=0)
    require_gate: bool = Field(default=True, description="publish only lists whose run passed `recpipe gate`")


class ListGateConfig(StrictModel):
    """Bounds the gold lists must meet before they are published (recpipe gate)."""

    min_list_length: int = Field(default=10, ge=0, description="shortest allowed user list")
    max_short_list_share: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="share of user lists allowed below min_list_length (the reader tops them up)",
    )
    max_missing_users: int = Field(default=0, ge=0, description="users in silver.users without a list")
    min_coverage: float = Field(default=0.01, ge=0, le=1, description="distinct listed items / items for sale")
    max_coverage: float = Field(default=1.0, ge=0, le=1)
    max_fallback_share: float = Field(default=0.95, ge=0, le=1, description="users on a popularity list")
    compare_with_previous: bool = Field(default=True, description="check the change against the last published lists")
    overlap_at: int = Field(default=10, gt=0, description="N of overlap at N")
    min_overlap: float = Field(
        default=0.05, ge=0, le=1, description="mean share of a user's previous top N still in the top N"
    )
    max_coverage_change: float = Field(default=0.5, ge=0, description="relative change of catalog coverage")
    max_score_shift: float = Field(default=0.5, ge=0, description="relative change of the median top-N personal score")
    max_seller_exposure_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="one seller's share of the position-weighted exposure of all lists (responsible.measures): "
        "lists that open with the same seller for everyone reach 0.3; tighten it to the marketplace's size",
    )

    @model_validator(mode="after")
    def _ordered(self) -> ListGateConfig:
        if self.min_coverage > self.max_coverage:
            raise ValueError(f"min_coverage {self.min_coverage} > max_coverage {self.max_coverage}")
        return self


class FreshConfig(StrictModel):
    """Fresh overlays (``recpipe fresh``): listings created since the live lists were built, scored for every user
    of those lists with the live model's listing side; ranking rules come from the candidates config and Redis
    layout, retries and verification from the publish config."""

    overlay_length: int = Field(default=50, gt=0, description="fresh items kept per user")
    batch_size: int = Field(default=4096, gt=0, description="users per Arrow batch on the executors")
    expire_after_s: int = Field(
        default=172_800, gt=0, description="TTL of an overlay's keys (a publish ends overlays before that)"
    )


class KafkaSource(StrictModel):
    """A Kafka topic of listing states and events as JSON (``transforms.availability.kafka_messages``)."""

    bootstrap_servers: str
    topic: str
    starting_offsets: str = Field(default="latest", description="where a stream without a checkpoint starts")
    options: dict[str, str] = Field(default_factory=dict, description="more kafka.* options (security, ...)")


class AvailabilityConfig(StrictModel):
    """The availability stream (``recpipe availability``): sold and deleted listings into the Redis unavailable set."""

    source: Literal["delta", "kafka"] = Field(
        default="delta", description="delta: bronze.items and bronze.events; kafka: the topic in `kafka`"
    )
    kafka: KafkaSource | None = None
    items_change_feed: bool = Field(
        default=True,
        description="read bronze.items' change data feed, so status updates count (needs delta.enableChangeDataFeed); "
        "false: appended rows only",
    )
    trigger_seconds: float = Field(default=5.0, gt=0, description="micro-batch interval of the running stream")
    checkpoint: str | None = Field(
        default=None, description="checkpoint folder; default <artifacts>/checkpoints/availability"
    )

    @model_validator(mode="after")
    def _kafka_needs_a_topic(self) -> AvailabilityConfig:
        if self.source == "kafka" and self.kafka is None:
            raise ValueError("source kafka needs kafka.bootstrap_servers and kafka.topic")
        return self
