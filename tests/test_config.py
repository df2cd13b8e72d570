from pathlib import Path

import pytest

from recpipe.config import (
    JOB_CONFIGS, ConfigError, GenerateConfig, InteractionsConfig, Settings, load_config, load_job_config, load_settings,
    parse_overrides,
)

from .conftest import REPO_ROOT


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_unknown_key_names_file_and_field(tmp_path):
    path = write(tmp_path, "generate.yml", "users: 10\nusres: 20\n")
    with pytest.raises(ConfigError) as err:
        load_config(GenerateConfig, path)
    assert str(path) in str(err.value)
    assert "field 'usres'" in str(err.value)
    assert "unknown key" in str(err.value)


def test_wrong_type_names_file_and_field(tmp_path):
    path = write(tmp_path, "generate.yml", "users: many\n")
    with pytest.raises(ConfigError) as err:
        load_config(GenerateConfig, path)
    message = str(err.value)
    assert str(path) in message and "field 'users'" in message and "'many'" in message


def test_missing_file_gives_embedded_defaults(tmp_path):
    assert load_config(GenerateConfig, tmp_path / "absent.yml") == GenerateConfig()


def test_overrides_environment_then_command_line(tmp_path):
    path = write(tmp_path, "generate.yml", "users: 10\nitems: 20\n")
    env = {"RECPIPE_GENERATE__ITEMS": "30", "RECPIPE_GENERATE__SEED": "7"}
    config = load_config(GenerateConfig, path, ["seed=9"], env_prefix="RECPIPE_GENERATE__", environ=env)
    assert (config.users, config.items, config.seed) == (10, 30, 9)


def test_bad_override_is_named_as_the_source(tmp_path):
    with pytest.raises(ConfigError, match=r"override --set days: field 'days'"):
        load_config(GenerateConfig, None, ["days=-1"])
    with pytest.raises(ConfigError, match="expected FIELD=VALUE"):
        parse_overrides(["days"])


def test_targets_differ_only_in_where():
    path = REPO_ROOT / "conf" / "targets.yml"
    local = load_settings("local", path, environ={})
    prod = load_settings("prod", path, environ={})
    assert local.platform == "local" and prod.platform == "databricks"
    assert prod.catalog == "recpipe_prod"
    assert set(Settings.model_fields) >= {"catalog", "redis_url", "data_dir"}


def test_unknown_target_and_env_overrides(tmp_path):
    path = REPO_ROOT / "conf" / "targets.yml"
    with pytest.raises(ConfigError, match="unknown target 'qa'"):
        load_settings("qa", path, environ={})
    settings = load_settings("local", path, environ={"REDIS_URL": "redis://h:1/0", "RECPIPE_DATA_DIR": str(tmp_path)})
    assert settings.redis_url == "redis://h:1/0" and settings.data_dir == tmp_path


def test_secret_values_are_not_echoed(tmp_path):
    path = write(tmp_path, "targets.yml", "local:\n  redis_url: [\"redis://:hunter2@h:1\"]\n")
    with pytest.raises(ConfigError) as err:
        load_settings("local", path, environ={})
    assert "hunter2" not in str(err.value) and "field 'redis_url'" in str(err.value)


@pytest.mark.parametrize("conf_file", sorted((REPO_ROOT / "conf").glob("*.yml")), ids=lambda p: p.name)
def test_shipped_config_files_load(conf_file):
    if conf_file.stem == "targets":
        for target in ("local", "dev", "staging", "prod"):
            load_settings(target, conf_file, environ={})
    else:
        load_config(JOB_CONFIGS[conf_file.stem], conf_file)


@pytest.mark.parametrize("overlay", sorted((REPO_ROOT / "conf" / "profiles").glob("*/*.yml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_profiles_load_over_their_base(overlay):
    load_config(JOB_CONFIGS[overlay.stem], REPO_ROOT / "conf" / f"{overlay.stem}.yml", overlay=overlay)


def test_a_profile_overlays_the_base_file_and_names_itself_in_errors(tmp_path, monkeypatch):
    write(tmp_path, "interactions.yml", "half_life_days: 30\nmin_user_interactions: 2\nvalidation:\n  max_quarantine_share: 0.05\n")
    (tmp_path / "profiles" / "ratings").mkdir(parents=True)
    write(tmp_path / "profiles" / "ratings", "interactions.yml", "half_life_days: 1000\nvalidation:\n  platform_start: 1990-01-01\n")
    monkeypatch.setenv("RECPIPE_CONF_DIR", str(tmp_path))
    monkeypatch.setenv("RECPIPE_PROFILE", "ratings")
    config = load_job_config("interactions", InteractionsConfig)
    assert config.half_life_days == 1000 and config.min_user_interactions == 2
    assert config.validation.max_quarantine_share == 0.05 and str(config.validation.platform_start) == "1990-01-01"
    write(tmp_path / "profiles" / "ratings", "interactions.yml", "half_life_days: soon\n")
    with pytest.raises(ConfigError, match=r"profiles/ratings/interactions\.yml: field 'half_life_days'"):
        load_job_config("interactions", InteractionsConfig)
    monkeypatch.setenv("RECPIPE_PROFILE", "weekly")
    with pytest.raises(ConfigError, match="RECPIPE_PROFILE=weekly: no profile folder .* \\(profiles: ratings\\)"):
        load_job_config("interactions", InteractionsConfig)


def test_a_config_file_named_but_missing_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.yml: config file of job generate not found"):
        load_job_config("generate", GenerateConfig, tmp_path / "missing.yml")
