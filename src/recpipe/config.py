"""Typed configuration.

Two kinds of settings, kept apart on purpose:

* *where* (``Settings``): platform, data directory, catalog, Redis, MLflow, artifact location. The defaults are
  the local ones; a deployment sets ``RECPIPE_<FIELD>`` environment variables (the Databricks bundle sets them
  from its variables on every job cluster), so where a run reads and writes is decided in one place.
* *what* (one model per job, e.g. ``GenerateConfig``): the embedded defaults below are the only defaults.
  ``--conf FILE``, a profile shipped in the package (``recpipe/profiles/<name>/<job>.yml``), a folder named by
  ``$RECPIPE_CONF_DIR`` (``<job>.yml`` files), ``RECPIPE_<JOB>__FIELD__SUB`` variables and ``--set field.sub=value``
  change them. ``recpipe config <job>`` prints the result.

Every model rejects unknown keys and wrong types; the error names the file (or override) and the field.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recpipe.errors import RecpipeError

CONF_DIR_ENV = "RECPIPE_CONF_DIR"  # a folder of <job>.yml files that change the embedded defaults
PROFILE_ENV = "RECPIPE_PROFILE"  # recpipe/profiles/<name>/<job>.yml overlays the job's config
RUN_ID_ENV = "RECPIPE_RUN_ID"  # an orchestrator's run id, used instead of the one derived from the inputs
NOTEBOOK_ENV_PREFIX = "RECPIPE_NB_"  # RECPIPE_NB_<NAME>: a notebook parameter outside Databricks
SETTINGS_ENV_PREFIX = "RECPIPE_"  # RECPIPE_<FIELD> sets a field of Settings
# Standard names a deployment may already set; the RECPIPE_ name wins.
SETTINGS_ENV_ALIASES = {"redis_url": "REDIS_URL", "mlflow_tracking_uri": "MLFLOW_TRACKING_URI"}
# Values of these fields may carry credentials and are never echoed in errors.
SECRET_FIELDS = frozenset({"redis_url", "mlflow_tracking_uri"})


class ConfigError(RecpipeError, ValueError):
    """A configuration file or override is invalid; the message names the source and the field."""


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors and values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def runtime_platform(environ: Mapping[str, str] | None = None) -> Literal["local", "databricks"]:
    return "databricks" if "DATABRICKS_RUNTIME_VERSION" in (os.environ if environ is None else environ) else "local"


class Settings(StrictModel):
    """Where the pipeline runs: local defaults, set per deployment through ``RECPIPE_<FIELD>`` variables."""

    platform: Literal["local", "databricks"] = Field(
        default_factory=runtime_platform, description="default: databricks inside a Databricks runtime"
    )
    data_dir: Path = Field(default=Path(".recpipe"), description="local tables, MLflow store and artifacts")
    catalog: str | None = Field(default=None, description="Unity Catalog catalog of the tables (databricks)")
    schema_prefix: str = ""
    redis_url: str | None = Field(
        default=None, description="default: a local redis-server (locally), the secret scope (databricks)"
    )
    redis_secret_scope: str | None = None
    mlflow_tracking_uri: str | None = None
    mlflow_experiment: str = "recpipe"
    artifact_root: Path | None = Field(
        default=None,
        description="reports and validation results; default <data_dir> locally, a Unity Catalog volume on databricks",
    )
    spark_master: str = "local[*]"
    spark_driver_memory: str = "4g"
    shuffle_partitions: int = Field(default=8, gt=0)
    spark_conf: dict[str, str] = Field(
        default_factory=dict, description="more Spark configuration of local sessions (a cluster has its own)"
    )

    @model_validator(mode="after")
    def _databricks_needs_a_catalog(self) -> Settings:
        if self.platform == "databricks" and not self.catalog:
            raise ValueError("platform databricks needs a catalog (RECPIPE_CATALOG)")
        return self

    @property
    def checkpoints(self) -> Path:
        """Streaming checkpoints: next to the artifacts, so they outlive a job cluster."""
        return self.artifacts / "checkpoints"

    @property
    def artifacts(self) -> Path:
        """Where reports and validation results go: kept after a job cluster ends."""
        if self.artifact_root is not None:
            return self.artifact_root
        if self.platform == "databricks":
            return Path(f"/Volumes/{self.catalog}/{self.schema_prefix}monitoring/artifacts")
        return self.data_dir


class KafkaSource(StrictModel):
    """A Kafka topic of listing states and events as JSON (``transforms.availability.kafka_signals``)."""

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


class PeopleConfig(StrictModel):
    """Buyers (and sellers: every seller is a user who signed up before the window)."""

    new_user_share: float = Field(default=0.15, ge=0, lt=1, description="users who sign up during the window")
    activity_skew: float = Field(
        default=2.5, ge=1, description="sessions go to user index floor(n * u**skew): long tail"
    )
    taste_dims: int = Field(default=8, ge=2, description="dimensions of taste and style vectors")
    price_spread: float = Field(default=0.5, gt=0, description="std of users' log price level")
    power_seller_skew: float = Field(default=3.0, ge=1, description="listings go to seller floor(n * u**skew)")


class ListingsConfig(StrictModel):
    """What sellers list, and how long an unsold listing stays up."""

    style_from_attributes: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="share of style variance explained by category and brand (the rest: photos)",
    )
    delist_mean_days: float = Field(
        default=10.0, gt=0, description="mean days until a seller removes an unsold listing"
    )


class AttentionConfig(StrictModel):
    """Sessions of views over live listings; exposure decays with a listing's age."""

    mean_session_views: float = Field(default=8.0, ge=1)
    feed_age_days: float = Field(default=2.0, gt=0, description="mean age of the listings a feed shows (exponential)")
    search_share: float = Field(default=0.3, ge=0, le=1, description="sessions that search: listing age uniform")
    search_max_age_days: float = Field(default=30.0, gt=0)
    candidates_per_view: int = Field(default=12, ge=1, description="listings shown per view; the user picks one")
    choice_sharpness: float = Field(default=1.0, ge=0, description="softmax weight of utility in the pick")
    views_after_sale_share: float = Field(
        default=0.02, ge=0, le=1, description="views of a sold listing that still happen (old links)"
    )


class UtilityConfig(StrictModel):
    """True utility of (user, item): taste . style + size fit + price fit + same country."""

    taste_weight: float = Field(default=4.0, ge=0)
    size_weight: float = Field(default=2.5, ge=0, description="penalty of a size two or more steps off")
    price_weight: float = Field(default=1.0, ge=0, description="penalty per squared log-price distance")
    country_weight: float = Field(default=0.5, ge=0)


class FunnelConfig(StrictModel):
    """Per view, P(step) = sigmoid(bias + slope * utility); every purchase follows the buyer's view."""

    slope: float = Field(default=1.0, ge=0)
    like_bias: float = -3.0
    save_bias: float = -3.5
    bag_bias: float = -4.0
    buy_after_bag_bias: float = -1.5
    buy_direct_bias: float = -7.0
    return_buy_bias: float = Field(default=-3.0, description="a saved or bagged listing bought in a later session")
    return_mean_days: float = Field(default=1.0, gt=0)


class CalibrationRanges(StrictModel):
    """Ranges the generated world's figures must fall in (checked by tests and printed by the benchmark)."""

    purchases_on_listings_under_7d: tuple[float, float] = (0.5, 1.0)
    live_inventory_median_age_days: tuple[float, float] = (0.0, 14.0)
    views_on_sold_items: tuple[float, float] = (0.0, 0.05)
    purchases_in_buyer_size: tuple[float, float] = (0.6, 1.0)
    listings_never_sold: tuple[float, float] = (0.2, 0.9)


class GenerateConfig(StrictModel):
    """Synthetic resale marketplace: sizes, time window, and the behaviour of its people (see README)."""

    users: int = Field(default=2_000, gt=0)
    items: int = Field(default=3_000, gt=0, description="listings created during the window")
    days: int = Field(default=30, gt=0)
    seed: int = 42
    events_per_user: float = Field(default=40.0, gt=0)
    events: int | None = Field(
        default=None, gt=0, description="total events (approximate); default users * events_per_user"
    )
    end_date: date = date(2026, 11, 1)
    platform_start: date = date(2020, 1, 1)
    countries: tuple[str, ...] = ("FR", "DE", "GB", "IT", "ES", "NL", "PL", "SE")
    people: PeopleConfig = PeopleConfig()
    listings: ListingsConfig = ListingsConfig()
    attention: AttentionConfig = AttentionConfig()
    utility: UtilityConfig = UtilityConfig()
    funnel: FunnelConfig = FunnelConfig()
    calibration: CalibrationRanges = CalibrationRanges()

    @property
    def target_events(self) -> int:
        return self.events or int(self.users * self.events_per_user)


def _check_event_types(names: Any) -> Any:
    """Raise when a name is not an event type of bronze.events; return the names."""
    from recpipe.schemas import EVENT_TYPES

    unknown = sorted(set(names) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event types {unknown}; known: {list(EVENT_TYPES)}")
    return names


EventTypes = Annotated[tuple[str, ...], AfterValidator(_check_event_types)]  # names of bronze.events event types


class ValidationConfig(StrictModel):
    """Input validation of the bronze tables."""

    max_quarantine_share: float = Field(default=0.01, ge=0, le=1, description="fail above this share per table")
    platform_start: date = date(2020, 1, 1)


DEFAULT_EVENT_WEIGHTS = {"view": 1.0, "like": 3.0, "save": 3.0, "add_to_bag": 5.0, "purchase": 10.0}


class InteractionsConfig(StrictModel):
    """Validated bronze events -> silver interactions."""

    lookback_days: int = Field(default=90, gt=0)

    def first_window_day(self, as_of: date) -> date:
        """The first day of the interactions window that ends with ``as_of``."""
        return as_of - timedelta(days=self.lookback_days - 1)

    half_life_days: float = Field(default=30.0, gt=0)
    event_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    max_confidence: float = Field(default=100.0, gt=0, description="cap of the confidence of one (user, item)")
    bot_max_events_per_day: int = Field(default=150, gt=0)
    min_user_interactions: int = Field(default=2, ge=1)
    min_item_interactions: int = Field(default=2, ge=1)
    min_count_passes: int = Field(default=2, ge=1)
    incremental: bool = Field(default=False, description="MERGE the as-of day into the existing tables")
    validation: ValidationConfig = ValidationConfig()

    @field_validator("event_weights")
    @classmethod
    def _known_event_types(cls, weights: dict[str, float]) -> dict[str, float]:
        _check_event_types(weights)
        if any(w < 0 for w in weights.values()):
            raise ValueError("weights must be >= 0")
        return weights


class ALSConfig(StrictModel):
    """Hyperparameters of implicit ALS (defaults: tuned on MovieLens 100k, see README)."""

    factors: int = Field(default=128, gt=0)
    regularization: float = Field(default=20.0, ge=0)
    alpha: float = Field(default=2.0, gt=0)
    iterations: int = Field(default=15, gt=0)
    solver: Literal["cg", "cholesky"] = "cg"
    cg_steps: int = Field(
        default=2,
        ge=1,
        description="conjugate-gradient steps per update (solver: cg); 2 matches 3 on MovieLens, see README",
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


class GateConfig(StrictModel):
    metric: ModelMetric = Field(
        default="target_recall", description="one metric ranks model families and decides the champion"
    )
    tolerance: float = Field(default=0.005, ge=0)


class TrainConfig(StrictModel):
    """Silver -> the model families and item2vec, compared on the time split, tracked and gated in MLflow."""

    seed: int = 42
    model_name: str = "recpipe_als"
    top_n: int = Field(default=100, gt=0, description="list length the logged pyfunc model returns")
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
    gate: GateConfig = GateConfig()


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


class CandidatesConfig(StrictModel):
    """Precomputed lists: top-N per user, similar items, cold-start fallbacks."""

    model_name: str = "recpipe_als"
    model_version: str | None = Field(default=None, description="default: the champion")
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


class QualityGateConfig(StrictModel):
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

    @model_validator(mode="after")
    def _ordered(self) -> QualityGateConfig:
        if self.min_coverage > self.max_coverage:
            raise ValueError(f"min_coverage {self.min_coverage} > max_coverage {self.max_coverage}")
        return self


class FutureEvaluationConfig(StrictModel):
    """Scoring a run's served lists against the following days (recpipe evaluate)."""

    horizons_days: tuple[int, ...] = Field(default=(1, 7), min_length=1, description="days after the as-of")
    ks: tuple[int, ...] = Field(default=(10, 100), min_length=1, description="list depths scored")
    target_event_types: EventTypes = ("purchase", "add_to_bag")
    recent_days: int = Field(default=7, gt=0, description="window of the recent-popularity baseline")
    oracle: bool = Field(default=True, description="score the ground-truth oracle when sim tables exist")
    protocol: Literal["auto", "future", "holdout"] = Field(
        default="auto",
        description="holdout: against sim.holdout (ingested public data); future: the next days; auto: holdout when present",
    )
    holdout_k: int = Field(default=10, gt=0, description="k of the holdout protocol's metrics")


class FreshConfig(StrictModel):
    """Fresh overlays (``recpipe fresh``): listings created since the live lists were built, scored for every user
    of those lists with the live model's listing side; ranking rules come from the candidates config and Redis
    layout, retries and verification from the publish config."""

    overlay_length: int = Field(default=50, gt=0, description="fresh items kept per user")
    batch_size: int = Field(default=4096, gt=0, description="users per Arrow batch on the executors")
    expire_after_s: int = Field(
        default=172_800, gt=0, description="TTL of an overlay's keys (a publish ends overlays before that)"
    )


T = TypeVar("T", bound=StrictModel)

# job name -> the model of its config (files named by --conf or in $RECPIPE_CONF_DIR must satisfy it).
JOB_CONFIGS: dict[str, type[StrictModel]] = {
    "generate": GenerateConfig,
    "interactions": InteractionsConfig,
    "train": TrainConfig,
    "tune": TuneConfig,
    "candidates": CandidatesConfig,
    "gate": QualityGateConfig,
    "publish": PublishConfig,
    "evaluate": FutureEvaluationConfig,
    "availability": AvailabilityConfig,
    "fresh": FreshConfig,
}


def conf_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The folder named by ``$RECPIPE_CONF_DIR`` (None when unset); naming a missing folder is an error."""
    environ = os.environ if environ is None else environ
    if not environ.get(CONF_DIR_ENV):
        return None
    folder = Path(environ[CONF_DIR_ENV])
    if not folder.is_dir():
        raise ConfigError(f"{CONF_DIR_ENV}={folder}: no such folder")
    return folder


def profiles_dir() -> Path:
    """The profiles shipped in the package: ``recpipe/profiles/<name>/<job>.yml``."""
    return Path(str(resources.files("recpipe") / "profiles"))


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {part!r} is not a mapping")
    node[leaf] = value


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """Turn ``["a.b=1", "c=x"]`` into ``{"a.b": 1, "c": "x"}``; values are parsed as YAML scalars."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {pair!r}: expected FIELD=VALUE")
        parsed[key.strip()] = yaml.safe_load(raw) if raw.strip() else raw
    return parsed


def env_overrides(prefix: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Overrides from ``{prefix}FIELD__SUB=value`` environment variables."""
    environ = os.environ if environ is None else environ
    return {
        key[len(prefix) :].lower().replace("__", "."): yaml.safe_load(value)
        for key, value in environ.items()
        if key.startswith(prefix) and len(key) > len(prefix)
    }


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(loaded).__name__}")
    return loaded


def build_model(model: type[T], values: dict[str, Any], source: str, overridden: Mapping[str, str] | None = None) -> T:
    """Validate ``values`` into ``model``; errors name ``source`` (or the override) and the field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        overridden = overridden or {}
        lines = []
        for err in exc.errors():
            field = ".".join(str(part) for part in err["loc"]) or "<root>"
            origin = overridden.get(field, source)
            if err["type"] == "extra_forbidden":
                lines.append(f"{origin}: field '{field}': unknown key (allowed: {', '.join(model.model_fields)})")
            else:
                shown = "<redacted>" if field in SECRET_FIELDS else repr(err.get("input"))
                lines.append(f"{origin}: field '{field}': {err['msg']} (got {shown})")
        raise ConfigError("invalid configuration\n  " + "\n  ".join(lines)) from None


def _dotted_leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            leaves.update(_dotted_leaves(value, f"{prefix}{key}."))
        else:
            leaves[f"{prefix}{key}"] = value
    return leaves


def load_config(
    model: type[T],
    path: Path | None,
    overrides: Sequence[str] = (),
    env_prefix: str | None = None,
    environ: Mapping[str, str] | None = None,
    overlay: Path | None = None,
) -> T:
    """Load ``model`` from a YAML file (optional), a profile's overlay file, then environment, then command-line
    overrides.

    Args:
        model: the config class.
        path: YAML file; ``None`` or a missing file means embedded defaults only.
        overrides: ``FIELD.SUB=VALUE`` strings from the command line.
        env_prefix: prefix of environment overrides, e.g. ``RECPIPE_GENERATE__``.
        environ: environment to read (defaults to ``os.environ``).
        overlay: YAML file whose fields replace those of ``path`` (a profile, e.g. for ratings data).
    """
    values = _read_yaml(path) if path is not None and path.exists() else {}
    overridden: dict[str, str] = {}
    if overlay is not None:
        for dotted, value in _dotted_leaves(_read_yaml(overlay)).items():
            _set_dotted(values, dotted, value)
            overridden[dotted] = str(overlay)
    if env_prefix:
        for dotted, value in env_overrides(env_prefix, environ).items():
            _set_dotted(values, dotted, value)
            overridden[dotted] = f"environment {env_prefix}{dotted.upper().replace('.', '__')}"
    for dotted, value in parse_overrides(overrides).items():
        _set_dotted(values, dotted, value)
        overridden[dotted] = f"override --set {dotted}"
    return build_model(model, values, str(path) if path else "<defaults>", overridden)


def profile_overlay(job: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """``recpipe/profiles/<profile>/<job>.yml`` of the profile named by ``$RECPIPE_PROFILE`` (None without one)."""
    environ = os.environ if environ is None else environ
    profile = environ.get(PROFILE_ENV)
    if not profile:
        return None
    folder = profiles_dir() / profile
    if not folder.is_dir():
        known = sorted(p.name for p in profiles_dir().iterdir() if p.is_dir())
        raise ConfigError(f"{PROFILE_ENV}={profile}: no such profile (profiles: {', '.join(known) or 'none'})")
    overlay = folder / f"{job}.yml"
    return overlay if overlay.exists() else None


def load_job_config(job: str, model: type[T], path: Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Config of one job: embedded defaults, then ``path`` (or ``$RECPIPE_CONF_DIR/<job>.yml`` when present),
    then the profile's overlay (if ``$RECPIPE_PROFILE`` names one), env prefix ``RECPIPE_<JOB>__``, ``overrides``."""
    if path is not None and not path.exists():  # asked for by name: running on defaults instead would mislead
        raise ConfigError(f"{path}: config file of job {job} not found")
    if path is None and (folder := conf_dir()) is not None and (folder / f"{job}.yml").exists():
        path = folder / f"{job}.yml"
    return load_config(model, path, overrides, env_prefix=f"RECPIPE_{job.upper()}__", overlay=profile_overlay(job))


def settings_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``Settings`` fields set by the environment: ``RECPIPE_<FIELD>`` (or a standard alias such as ``REDIS_URL``)
    -> {field: value}."""
    environ = os.environ if environ is None else environ
    found: dict[str, str] = {}
    for field in Settings.model_fields:
        for name in (SETTINGS_ENV_ALIASES.get(field), f"{SETTINGS_ENV_PREFIX}{field.upper()}"):
            if name and environ.get(name):
                found[field] = name
    return found


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Every ``RECPIPE_*`` variable must mean something: a setting, a job's field prefix, the conf folder, the
    profile, the run id or a notebook parameter. A typo (``RECPIPE_REDIS_ULR``) would otherwise run against the
    defaults: it is an error naming the variable and the closest known name."""
    environ = os.environ if environ is None else environ
    exact = {CONF_DIR_ENV, PROFILE_ENV, RUN_ID_ENV} | {
        f"{SETTINGS_ENV_PREFIX}{field.upper()}" for field in Settings.model_fields
    }
    job_prefixes = [f"{SETTINGS_ENV_PREFIX}{job.upper()}__" for job in JOB_CONFIGS]
    for name in sorted(environ):
        if not name.startswith(SETTINGS_ENV_PREFIX) or name in exact or name.startswith(NOTEBOOK_ENV_PREFIX):
            continue
        if any(name.startswith(prefix) and len(name) > len(prefix) for prefix in job_prefixes):
            continue  # the job's own loader checks the field
        head, sep, rest = name.partition("__")
        if sep:
            close = difflib.get_close_matches(f"{head}__", job_prefixes, n=1, cutoff=0.6)
            suggestion = f"{close[0]}{rest}" if close else None
        else:
            close = difflib.get_close_matches(name, sorted(exact), n=1, cutoff=0.6)
            suggestion = close[0] if close else None
        hint = (
            f"did you mean {suggestion}?"
            if suggestion
            else f"known: {', '.join(sorted(exact))}, RECPIPE_<JOB>__<FIELD>"
        )
        raise ConfigError(f"environment variable {name} is not a recpipe setting: {hint}")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Where the pipeline runs: the embedded local defaults, changed by ``RECPIPE_<FIELD>`` environment variables
    (``REDIS_URL`` and ``MLFLOW_TRACKING_URI`` too). Errors name the variable; an unknown ``RECPIPE_*`` variable is
    one (``check_environment``)."""
    environ = os.environ if environ is None else environ
    check_environment(environ)
    names = settings_environment(environ)
    values = {"platform": runtime_platform(environ)} | {field: environ[name] for field, name in names.items()}
    overridden = {field: f"environment {name}" for field, name in names.items()}
    return build_model(Settings, values, "settings", overridden)
