"""The Databricks bundle (databricks.yml plus the included job files) is valid against the bundle schema."""

import importlib
import json
import re
import tomllib

import jsonschema
import pytest
import yaml

from recpipe.commands import parse_args
from recpipe.config import load_settings
from recpipe.dag import pipeline_job, pipeline_tasks, resolve_parameters

from .conftest import REPO_ROOT

# The schema's patterns use Unicode property classes that Python's `re` lacks; translate them to equivalents
# (letters or digits inside a class, letters alone).
SCHEMA = json.loads(
    (REPO_ROOT / "tests" / "resources" / "bundle_schema.json")
    .read_text()
    .replace(r"[\\p{L}\\p{N}]", r"[^\\W_]")
    .replace(r"\\p{L}", r"[^\\W\\d_]")
)


def load_bundle() -> dict:
    """databricks.yml with its included job files (YAML anchors resolved, as the bundle CLI does)."""
    bundle = yaml.safe_load((REPO_ROOT / "databricks.yml").read_text())
    for pattern in bundle.get("include", []):
        for path in sorted(REPO_ROOT.glob(pattern)):
            for kind, resources in yaml.safe_load(path.read_text())["resources"].items():
                bundle.setdefault("resources", {}).setdefault(kind, {}).update(resources)
    return bundle


def wheel_tasks(bundle: dict) -> list[dict]:
    return [t for job in bundle["resources"]["jobs"].values() for t in job["tasks"] if "python_wheel_task" in t]


def test_bundle_matches_the_schema():
    jsonschema.validate(load_bundle(), SCHEMA)


def test_schema_rejects_a_broken_bundle():
    bundle = load_bundle()
    bundle["targets"]["dev"]["mode"] = 42
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bundle, SCHEMA)


def test_targets_differ_only_in_where():
    targets = load_bundle()["targets"]
    assert set(targets) == {"dev", "staging", "prod"}
    for target in targets.values():
        assert set(target) <= {"mode", "default", "workspace", "variables"}


def test_every_wheel_task_calls_a_declared_entry_point_that_answers_help(capsys):
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    tasks = wheel_tasks(load_bundle())
    assert {t["python_wheel_task"]["parameters"][0] for t in tasks} >= {
        "interactions",
        "tune",
        "train",
        "candidates",
        "gate",
        "publish",
        "report",
        "experiment",
        "monitor",
    }
    for task in tasks:
        wheel = task["python_wheel_task"]
        assert wheel["package_name"] == "recpipe" and wheel["entry_point"] in scripts
        module, function = scripts[wheel["entry_point"]].split(":")
        entry = getattr(importlib.import_module(module), function)
        job = wheel["parameters"][0]
        with pytest.raises(SystemExit) as exit_info:
            entry([job, "--help"])
        assert exit_info.value.code == 0, f"{job} --help"
        assert "--conf" in capsys.readouterr().out
        # the parameters themselves parse, job parameters resolved: the task would start
        parse_args(resolve_parameters(wheel["parameters"], {"run_date": "2026-11-02", "experiment": "ranker-vs-model"}))


def test_failures_of_the_pipeline_and_evaluate_jobs_notify_by_email_and_webhook_per_target():
    bundle = load_bundle()
    for name in ("recpipe_pipeline", "recpipe_evaluate"):
        job = bundle["resources"]["jobs"][name]
        assert job["email_notifications"]["on_failure"] == ["${var.notification_email}"]
        assert job["webhook_notifications"]["on_failure"] == [{"id": "${var.alert_destination}"}]
        assert job["tasks"][-1 if name == "recpipe_evaluate" else -2]["python_wheel_task"]["parameters"][0] == "monitor"
    destinations = {target["variables"]["alert_destination"] for target in bundle["targets"].values()}
    assert len(destinations) == 3  # each target pages its own channel


def test_the_local_graph_is_the_bundles_graph():
    job = load_bundle()["resources"]["jobs"]["recpipe_pipeline"]
    bundle_graph = [
        (t["task_key"], t["python_wheel_task"]["parameters"], t.get("run_if", "ALL_SUCCESS")) for t in job["tasks"]
    ]
    local_graph = [(t.name, list(t.parameters), t.run_if) for t in pipeline_tasks(pipeline_job())]
    assert local_graph == bundle_graph


def test_every_pipeline_task_gets_the_runs_date_and_every_cluster_the_where_variables():
    bundle = load_bundle()
    job = bundle["resources"]["jobs"]["recpipe_pipeline"]
    assert job["parameters"] == [{"name": "run_date", "default": "{{job.start_time.iso_date}}"}]
    for task in job["tasks"]:
        if task["task_key"] != "report":
            assert "{{job.parameters.run_date}}" in task["python_wheel_task"]["parameters"], task["task_key"]
    variables = set(bundle["variables"])
    for name, spec in bundle["resources"]["jobs"].items():
        for cluster in spec["job_clusters"]:
            env = cluster["new_cluster"]["spark_env_vars"]
            assert {"RECPIPE_CATALOG", "RECPIPE_ARTIFACT_ROOT", "RECPIPE_MLFLOW_EXPERIMENT"} <= set(env), name
            for value in env.values():  # only bundle variables: where is decided in databricks.yml
                assert re.fullmatch(r"\$\{var\.(\w+)\}", value) and value[6:-1] in variables
            runtime = {k: f"/Volumes/x/{k}" if "ARTIFACT" in k else "x" for k in env} | {
                "DATABRICKS_RUNTIME_VERSION": "17.3"
            }
            settings = load_settings(environ=runtime)  # every variable names a field of Settings
            assert settings.platform == "databricks" and settings.catalog == "x"
            assert "-ml-" in cluster["new_cluster"]["spark_version"]  # the ML runtime provides Spark, Delta, MLflow
    for target in bundle["targets"].values():
        assert set(target["variables"]) == variables - {"notification_email"}


def test_the_wheel_leaves_spark_delta_and_mlflow_to_the_runtime():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=\[ ]", d)[0] for d in project["dependencies"]}
    assert not names & {"pyspark", "delta-spark", "mlflow"}
    assert {re.split(r"[<>=]", d)[0] for d in project["optional-dependencies"]["local"]} == {
        "pyspark",
        "delta-spark",
        "mlflow",
    }


def test_pipeline_runs_the_jobs_in_order_with_retries_and_timeouts():
    job = load_bundle()["resources"]["jobs"]["recpipe_pipeline"]
    order = {t["task_key"]: t for t in job["tasks"]}
    assert list(order) == ["interactions", "tune", "train", "candidates", "gate", "publish", "monitor", "report"]
    assert order["tune"]["depends_on"] == [{"task_key": "interactions"}]
    assert order["train"]["depends_on"] == [{"task_key": "tune"}]
    assert order["gate"]["depends_on"] == [{"task_key": "candidates"}]
    assert order["publish"]["depends_on"] == [{"task_key": "gate"}]  # nothing reaches Redis without the gate
    assert order["monitor"]["depends_on"] == [{"task_key": "publish"}]
    assert order["report"]["run_if"] == "ALL_DONE"
    task_limits = [(t.get("timeout_seconds", 0), t.get("max_retries")) for t in job["tasks"]]
    assert all(limit > 0 and retries is not None for limit, retries in task_limits)  # configured, not measured
    assert job["schedule"]["quartz_cron_expression"] and job["email_notifications"]["on_failure"]
    assert load_bundle()["targets"]["dev"]["mode"] == "development"  # pauses the schedule in dev


def test_freshness_runs_beside_the_daily_pipeline():
    jobs = load_bundle()["resources"]["jobs"]
    stream = jobs["recpipe_availability"]
    assert stream["continuous"]["pause_status"] == "UNPAUSED" and "schedule" not in stream
    assert [t["python_wheel_task"]["parameters"] for t in stream["tasks"]] == [["availability"]]
    fresh = jobs["recpipe_fresh"]
    assert fresh["schedule"]["quartz_cron_expression"] == "0 */15 * * * ?" and fresh["max_concurrent_runs"] == 1
    assert [t["python_wheel_task"]["parameters"] for t in fresh["tasks"]] == [["fresh"]]
