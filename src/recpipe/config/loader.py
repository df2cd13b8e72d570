"""Loading one run's configuration, in this order (later wins):

1. the embedded defaults (the config models; ``conf/<section>.yml`` is their reference copy, held equal by a test);
2. ``<folder>/<section>.yml`` of ``$RECPIPE_CONF_DIR`` (``recpipe run --conf FOLDER``), and a job's own ``--conf FILE``;
3. the profile ``conf/profiles/<name>/<section>.yml`` named by ``$RECPIPE_PROFILE`` (``--profile``);
4. ``RECPIPE_<SECTION>__FIELD__SUB`` environment variables;
5. ``--set`` overrides: ``FIELD=VALUE`` of the job's own section, or ``SECTION.FIELD=VALUE`` of any section.

Every job of a run reads the same sources, so a run has one configuration. Errors name the file, variable or
override, and the field.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from recpipe.config.base import ConfigError, T, build_model
from recpipe.config.run import SECTIONS, RunConfig
from recpipe.config.settings import (
    CONF_DIR_ENV,
    NOTEBOOK_ENV_PREFIX,
    PROFILE_ENV,
    RUN_ID_ENV,
    SETTINGS_ENV_PREFIX,
    Settings,
    runtime_platform,
    settings_environment,
)
from recpipe.config.shipped import shipped_dir


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
    """The profiles shipped with recpipe: ``conf/profiles/<name>/<section>.yml``."""
    return shipped_dir("conf") / "profiles"


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
    """Load one ``model`` from a YAML file (optional; missing means defaults), a profile's overlay file, environment
    variables ``{env_prefix}FIELD__SUB``, then ``FIELD.SUB=VALUE`` overrides."""
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


def profile_overlay(section: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """``conf/profiles/<profile>/<section>.yml`` of the profile named by ``$RECPIPE_PROFILE`` (None without one)."""
    environ = os.environ if environ is None else environ
    profile = environ.get(PROFILE_ENV)
    if not profile:
        return None
    folder = profiles_dir() / profile
    if not folder.is_dir():
        known = sorted(p.name for p in profiles_dir().iterdir() if p.is_dir())
        raise ConfigError(f"{PROFILE_ENV}={profile}: no such profile (profiles: {', '.join(known) or 'none'})")
    overlay = folder / f"{section}.yml"
    return overlay if overlay.exists() else None


def section_env_prefix(section: str) -> str:
    return f"{SETTINGS_ENV_PREFIX}{section.upper()}__"


def scoped_override(dotted: str, job: str | None) -> str:
    """The run-config path of an override: a field of the job's own section first, else ``SECTION.FIELD``."""
    head = dotted.split(".", 1)[0]
    if job in SECTIONS and head in SECTIONS[job].model_fields:
        return f"{job}.{dotted}"
    if head in SECTIONS and "." in dotted:
        return dotted
    if job in SECTIONS:
        return f"{job}.{dotted}"  # an unknown field of the job's section: the error names it there
    raise ConfigError(f"override --set {dotted}: expected SECTION.FIELD=VALUE, SECTION one of {', '.join(SECTIONS)}")


def load_run_config(
    job: str | None = None,
    path: Path | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> RunConfig:
    """The run's configuration (sources in the module's docstring). ``path``: the job's own ``--conf`` file, which
    must exist; ``overrides``: its ``--set`` values."""
    if path is not None and not path.exists():  # asked for by name: running on defaults instead would mislead
        raise ConfigError(f"{path}: config file of job {job} not found")
    if path is not None and job not in SECTIONS:
        raise ConfigError(f"--conf {path}: job {job} has no configuration (sections: {', '.join(SECTIONS)})")
    folder = conf_dir(environ)
    values: dict[str, Any] = {}
    overridden: dict[str, str] = {}
    for section in SECTIONS:
        file = path if section == job and path is not None else None
        if file is None and folder is not None and (folder / f"{section}.yml").exists():
            file = folder / f"{section}.yml"
        values[section] = _read_yaml(file) if file is not None else {}
        if file is not None:
            overridden[section] = str(file)
        if (overlay := profile_overlay(section, environ)) is not None:
            for dotted, value in _dotted_leaves(_read_yaml(overlay)).items():
                _set_dotted(values[section], dotted, value)
                overridden[f"{section}.{dotted}"] = str(overlay)
        prefix = section_env_prefix(section)
        for dotted, value in env_overrides(prefix, environ).items():
            _set_dotted(values[section], dotted, value)
            overridden[f"{section}.{dotted}"] = f"environment {prefix}{dotted.upper().replace('.', '__')}"
    for dotted, value in parse_overrides(overrides).items():
        scoped = scoped_override(dotted, job)
        _set_dotted(values, scoped, value)
        overridden[scoped] = f"override --set {dotted}"
    return build_model(RunConfig, values, "<defaults>", overridden)


def load_job_config(job: str, model: type[T], path: Path | None = None, overrides: Sequence[str] = ()) -> T:
    """One section of the run's configuration (``load_run_config``), typed as ``model``."""
    section = getattr(load_run_config(job, path, overrides), job)
    if not isinstance(section, model):
        raise TypeError(f"section {job} is a {type(section).__name__}, not a {model.__name__}")
    return section


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Every ``RECPIPE_*`` variable must mean something: a setting, a section's field prefix, the conf folder, the
    profile, the run id or a notebook parameter. A typo (``RECPIPE_REDIS_ULR``) would otherwise run against the
    defaults: it is an error naming the variable and the closest known name."""
    environ = os.environ if environ is None else environ
    exact = {CONF_DIR_ENV, PROFILE_ENV, RUN_ID_ENV} | {
        f"{SETTINGS_ENV_PREFIX}{field.upper()}" for field in Settings.model_fields
    }
    prefixes = [section_env_prefix(section) for section in SECTIONS]
    for name in sorted(environ):
        if not name.startswith(SETTINGS_ENV_PREFIX) or name in exact or name.startswith(NOTEBOOK_ENV_PREFIX):
            continue
        if any(name.startswith(prefix) and len(name) > len(prefix) for prefix in prefixes):
            continue  # the run config's loader checks the field
        head, sep, rest = name.partition("__")
        if sep:
            close = difflib.get_close_matches(f"{head}__", prefixes, n=1, cutoff=0.6)
            suggestion = f"{close[0]}{rest}" if close else None
        else:
            close = difflib.get_close_matches(name, sorted(exact), n=1, cutoff=0.6)
            suggestion = close[0] if close else None
        hint = (
            f"did you mean {suggestion}?"
            if suggestion
            else f"known: {', '.join(sorted(exact))}, RECPIPE_<SECTION>__<FIELD>"
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
