"""Where the pipeline runs (``Settings``): platform, data directory, catalog, Redis, MLflow, artifact location.

The defaults are the local ones; a deployment sets ``RECPIPE_<FIELD>`` environment variables (the Databricks bundle
sets them from its variables on every job cluster), so where a run reads and writes is decided in one place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from recpipe.config.base import StrictModel

CONF_DIR_ENV = "RECPIPE_CONF_DIR"  # a folder of <job>.yml files that change the embedded defaults
PROFILE_ENV = "RECPIPE_PROFILE"  # conf/profiles/<name>/<job>.yml overlays the job's config
RUN_ID_ENV = "RECPIPE_RUN_ID"  # an orchestrator's run id, used instead of the one derived from the inputs
NOTEBOOK_ENV_PREFIX = "RECPIPE_NB_"  # RECPIPE_NB_<NAME>: a notebook parameter outside Databricks
SETTINGS_ENV_PREFIX = "RECPIPE_"  # RECPIPE_<FIELD> sets a field of Settings
# Standard names a deployment may already set; the RECPIPE_ name wins.
SETTINGS_ENV_ALIASES = {"redis_url": "REDIS_URL", "mlflow_tracking_uri": "MLFLOW_TRACKING_URI"}


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
    alert_webhook_url: str | None = Field(
        default=None, description="where recpipe monitor posts breaches (a Slack or any JSON webhook; a secret)"
    )
    artifact_root: Path | None = Field(
        default=None,
        description="reports and validation results; default <data_dir> locally, a Unity Catalog volume on databricks",
    )
    spark_master: str = "local[*]"
    spark_driver_memory: str = "4g"
    shuffle_partitions: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        gt=0,
        description="partitions of a local session's shuffles; default: the machine's cores (the default world's "
        "frames are small: more reduce tasks than cores only add scheduling; large local runs set more)",
    )
    small_frames: bool = Field(
        default=True,
        description="a local session runs small frames (the default world, tests): Spark's code generation and "
        "adaptive execution off (recpipe.spark.SMALL_FRAME_SPARK_CONF); false for large local runs",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description="more Spark configuration of local sessions (a cluster has its own); in the environment a JSON "
        'object: RECPIPE_SPARK_CONF=\'{"spark.sql.shuffle.partitions": "16"}\'',
    )

    @field_validator("spark_conf", mode="before")
    @classmethod
    def _json_object(cls, value: object) -> object:
        """An environment variable is a string: a JSON object there."""
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"expected a JSON object of Spark settings ({exc.msg})") from None
        return value

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
