from pathlib import Path

import pytest

from recpipe.config import (
    SECTIONS,
    ConfigError,
    GenerateConfig,
    InteractionsConfig,
    Settings,
    load_config,
    load_job_config,
    load_run_config,
    load_settings,
    parse_overrides,
    profiles_dir,
)


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


def test_settings_are_local_by_default_and_set_by_recpipe_variables(tmp_path):
    assert load_settings(environ={}) == Settings(platform="local")
    settings = load_settings(
        environ={
            "REDIS_URL": "redis://h:1/0",
            "RECPIPE_DATA_DIR": str(tmp_path),
            "RECPIPE_SHUFFLE_PARTITIONS": "2",
            "RECPIPE_MLFLOW_EXPERIMENT": "exp",
        }
    )
    assert (settings.redis_url, settings.data_dir, settings.shuffle_partitions) == ("redis://h:1/0", tmp_path, 2)
    assert settings.mlflow_experiment == "exp" and settings.artifacts == tmp_path  # artifacts: the data folder locally
    assert (
        load_settings(environ={"REDIS_URL": "redis://a:1", "RECPIPE_REDIS_URL": "redis://b:2"}).redis_url
        == "redis://b:2"
    )


def test_a_databricks_runtime_means_platform_databricks_with_a_catalog(monkeypatch):
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")
    with pytest.raises(ConfigError, match="platform databricks needs a catalog"):
        load_settings()
    settings = load_settings(environ={"DATABRICKS_RUNTIME_VERSION": "17.3", "RECPIPE_CATALOG": "cat"})
    assert settings.platform == "databricks" and str(settings.artifacts) == "/Volumes/cat/monitoring/artifacts"


def test_bad_settings_name_the_variable_and_hide_secrets():
    with pytest.raises(ConfigError, match="environment RECPIPE_SHUFFLE_PARTITIONS: field 'shuffle_partitions'"):
        load_settings(environ={"RECPIPE_SHUFFLE_PARTITIONS": "many"})
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"RECPIPE_PLATFORM": "cloud", "REDIS_URL": "redis://:hunter2@h:1"})
    assert "hunter2" not in str(err.value) and "RECPIPE_PLATFORM" in str(err.value)
    with pytest.raises(ConfigError, match="environment RECPIPE_SPARK_CONF: field 'spark_conf': .*JSON object"):
        load_settings(environ={"RECPIPE_SPARK_CONF": "spark.ui.retainedJobs=10"})


def test_spark_configuration_comes_from_the_environment_as_a_json_object():
    settings = load_settings(environ={"RECPIPE_SPARK_CONF": '{"spark.ui.retainedJobs": "100000"}'})
    assert settings.spark_conf == {"spark.ui.retainedJobs": "100000"}


@pytest.mark.parametrize(
    ("variable", "closest"),
    [
        ("RECPIPE_REDIS_ULR", "RECPIPE_REDIS_URL"),
        ("RECPIPE_DATADIR", "RECPIPE_DATA_DIR"),
        ("RECPIPE_GENRATE__SEED", "RECPIPE_GENERATE__SEED"),  # a job's prefix mistyped
    ],
)
def test_an_unknown_recpipe_variable_is_an_error_naming_the_closest_name(variable, closest):
    with pytest.raises(
        ConfigError, match=f"environment variable {variable} is not a recpipe setting: did you mean {closest}"
    ):
        load_settings(environ={variable: "x"})


def test_every_recpipe_variable_the_project_reads_is_known():
    known = {
        "RECPIPE_DATA_DIR": "d",
        "RECPIPE_REDIS_SECRET_SCOPE": "s",
        "RECPIPE_CONF_DIR": "c",
        "RECPIPE_PROFILE": "ratings",
        "RECPIPE_RUN_ID": "r",
        "RECPIPE_NB_USER_ID": "7",
        "RECPIPE_GENERATE__SEED": "3",
        "RECPIPE_CANDIDATES__MAX_PER_SELLER": "2",
    }
    assert load_settings(environ=known).data_dir == Path("d")


def test_the_profiles_ship_inside_the_package_and_load():
    overlays = sorted(profiles_dir().glob("*/*.yml"))
    assert {p.parent.name for p in overlays} == {"ratings"}
    for overlay in overlays:
        load_config(SECTIONS[overlay.stem], None, overlay=overlay)


def test_conf_dir_files_and_a_profile_overlay_the_defaults_and_name_themselves(tmp_path, monkeypatch):
    write(tmp_path, "interactions.yml", "min_user_interactions: 3\nvalidation:\n  max_quarantine_share: 0.05\n")
    monkeypatch.setenv("RECPIPE_CONF_DIR", str(tmp_path))
    monkeypatch.setenv("RECPIPE_PROFILE", "ratings")
    config = load_job_config("interactions", InteractionsConfig)
    assert config.half_life_days == 1_000_000_000 and config.min_user_interactions == 1  # the profile wins
    assert config.validation.max_quarantine_share == 0.05 and str(config.validation.platform_start) == "1990-01-01"
    write(tmp_path, "interactions.yml", "half_life_days: soon\n")
    monkeypatch.delenv("RECPIPE_PROFILE")
    with pytest.raises(ConfigError, match=r"interactions\.yml: field 'interactions.half_life_days'"):
        load_job_config("interactions", InteractionsConfig)
    monkeypatch.setenv("RECPIPE_PROFILE", "weekly")
    with pytest.raises(ConfigError, match="RECPIPE_PROFILE=weekly: no such profile \\(profiles: ratings\\)"):
        load_job_config("generate", GenerateConfig)
    monkeypatch.setenv("RECPIPE_CONF_DIR", str(tmp_path / "absent"))
    monkeypatch.delenv("RECPIPE_PROFILE")
    with pytest.raises(ConfigError, match="RECPIPE_CONF_DIR=.*absent: no such folder"):
        load_job_config("generate", GenerateConfig)


def test_without_files_a_job_runs_on_the_one_set_of_embedded_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no conf folder is looked up relative to the working directory
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf", "generate.yml", "users: 5\n")
    assert load_job_config("generate", GenerateConfig) == GenerateConfig()


def test_a_config_file_named_but_missing_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.yml: config file of job generate not found"):
        load_job_config("generate", GenerateConfig, tmp_path / "missing.yml")


def test_an_override_of_one_section_reaches_every_job_that_reads_it():
    """One configuration per run: train, the list gate and fresh read the served rules of the same run config."""
    for job in ("train", "gate", "fresh", "candidates"):
        run = load_run_config(job, None, ["candidates.max_per_seller=1", "model.name=shop"])
        assert run.candidates.max_per_seller == 1 and run.model.name == "shop", job
    own = load_run_config("train", None, ["seed=5", "als.factors=8", "train.promotion.metric=ndcg"])
    assert (own.train.seed, own.train.als.factors, own.train.promotion.metric) == (5, 8, "ndcg")
    with pytest.raises(
        ConfigError, match=r"override --set candidates.max_per_seller: field 'candidates.max_per_seller'"
    ):
        load_run_config("train", None, ["candidates.max_per_seller=0"])
    with pytest.raises(ConfigError, match="expected SECTION.FIELD=VALUE"):
        load_run_config(None, None, ["factors=8"])


def test_no_section_has_a_field_named_like_a_section():
    """A job's --set FIELD=VALUE reads its own field first, SECTION.FIELD=VALUE another section: never ambiguous."""
    for section, model in SECTIONS.items():
        assert not set(model.model_fields) & set(SECTIONS), section


def test_the_reference_conf_files_are_the_embedded_defaults():
    """conf/<section>.yml (shipped in the wheel) and docs/configuration.md are generated from the models: they hold
    every default, and loading one gives the defaults back."""
    import yaml

    from recpipe.config.reference import reference_markdown, reference_yaml
    from recpipe.config.shipped import shipped_dir

    for section, model in SECTIONS.items():
        text = (shipped_dir("conf") / f"{section}.yml").read_text()
        assert text == reference_yaml(section), f"conf/{section}.yml: run python -m recpipe.config.reference"
        assert model.model_validate(yaml.safe_load(text)) == model()
    docs = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
    assert docs.read_text() == reference_markdown(), "docs/configuration.md: run python -m recpipe.config.reference"
