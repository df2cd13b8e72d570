"""Typed configuration.

Two kinds of settings, kept apart on purpose:

* *where* (``settings.Settings``): platform, data directory, catalog, Redis, MLflow, artifact location, from
  ``RECPIPE_<FIELD>`` environment variables.
* *what* (``run.RunConfig``): one section per job plus the registered model, loaded once per run from the embedded
  defaults and the run's overrides (``loader``); ``recpipe config <job>`` prints the result.

Every model rejects unknown keys and wrong types; the error names the file (or override) and the field. The
generator's world model lives next to the generator (``recpipe.data.config``).
"""

from recpipe.config.base import PLATFORM_START, SECRET_FIELDS, ConfigError, EventTypes, StrictModel, build_model
from recpipe.config.evaluation import FutureEvaluationConfig
from recpipe.config.interactions import DEFAULT_EVENT_WEIGHTS, InteractionsConfig, ValidationConfig
from recpipe.config.loader import (
    check_environment,
    conf_dir,
    load_config,
    load_job_config,
    load_run_config,
    load_settings,
    parse_overrides,
    profile_overlay,
    profiles_dir,
)
from recpipe.config.ranking import RankerConfig, RankingConfig, RetrievalConfig
from recpipe.config.run import SECTIONS, RunConfig
from recpipe.config.serving import (
    AvailabilityConfig,
    CandidatesConfig,
    FreshConfig,
    KafkaSource,
    ListGateConfig,
    PublishConfig,
)
from recpipe.config.settings import (
    CONF_DIR_ENV,
    NOTEBOOK_ENV_PREFIX,
    PROFILE_ENV,
    RUN_ID_ENV,
    Settings,
    runtime_platform,
)
from recpipe.config.training import (
    MODEL_FAMILIES,
    ALSConfig,
    AttributeALSConfig,
    EvaluationConfig,
    Item2VecConfig,
    ModelFamily,
    ModelMetric,
    ModelReference,
    PromotionConfig,
    TrainConfig,
    TuneConfig,
    TwoTowerConfig,
)
from recpipe.data.config import GenerateConfig

__all__ = [
    "CONF_DIR_ENV",
    "DEFAULT_EVENT_WEIGHTS",
    "MODEL_FAMILIES",
    "NOTEBOOK_ENV_PREFIX",
    "PLATFORM_START",
    "PROFILE_ENV",
    "RUN_ID_ENV",
    "SECRET_FIELDS",
    "SECTIONS",
    "ALSConfig",
    "AttributeALSConfig",
    "AvailabilityConfig",
    "CandidatesConfig",
    "ConfigError",
    "EvaluationConfig",
    "EventTypes",
    "FreshConfig",
    "FutureEvaluationConfig",
    "GenerateConfig",
    "InteractionsConfig",
    "Item2VecConfig",
    "KafkaSource",
    "ListGateConfig",
    "ModelFamily",
    "ModelMetric",
    "ModelReference",
    "PromotionConfig",
    "PublishConfig",
    "RankerConfig",
    "RankingConfig",
    "RetrievalConfig",
    "RunConfig",
    "Settings",
    "StrictModel",
    "TrainConfig",
    "TuneConfig",
    "TwoTowerConfig",
    "ValidationConfig",
    "build_model",
    "check_environment",
    "conf_dir",
    "load_config",
    "load_job_config",
    "load_run_config",
    "load_settings",
    "parse_overrides",
    "profile_overlay",
    "profiles_dir",
    "runtime_platform",
]
