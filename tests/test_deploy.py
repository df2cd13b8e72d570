"""The suite's one end-to-end run: the wheel, built as the bundle builds it, installed into a fresh virtual
environment with the Spark stack provided separately (as the Databricks runtime provides it), runs every task of
the bundle's pipeline and evaluate jobs with their exact parameters from an empty working directory. The notebooks
then run on its output, a gate that fails makes its task exit non-zero, and `recpipe run` on its bronze tables keeps
them."""

import json
import os
import runpy
import shlex
import subprocess
import sys
import sysconfig
from datetime import date, timedelta
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import redis
import yaml
from mlflow import MlflowClient

import recpipe
from recpipe import catalog, model_wheel, tracking
from recpipe.cli import execute
from recpipe.config import GenerateConfig, load_settings
from recpipe.dag import resolve_parameters
from recpipe.serving import keys
from recpipe.serving.local_redis import RedisProcess
from recpipe.serving.reader import RecommendationReader
from recpipe.tables import Tables

from .conftest import REPO_ROOT, SMALL_FRAME_SHUFFLE_PARTITIONS
from .test_bundle import load_bundle

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.py"))
RUNNER = REPO_ROOT / "tests" / "resources" / "wheel_task_runner.py"
USERS, ITEMS = 150, 400
# A week before the generated data ends: the evaluate job then finds a run whose horizons have passed.
RUN_DATE = GenerateConfig().end_date - timedelta(days=7)


def build_command() -> list[str]:
    """The bundle's artifact build command, run with this interpreter."""
    command = shlex.split(
        yaml.safe_load((REPO_ROOT / "databricks.yml").read_text())["artifacts"]["recpipe_wheel"]["build"]
    )
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory):
    """A fresh venv with only the wheel installed; the project's environment stands in for the runtime's libraries."""
    root = tmp_path_factory.mktemp("deploy")
    build = subprocess.run(build_command(), cwd=REPO_ROOT, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = max((REPO_ROOT / "dist").glob("recpipe-*.whl"), key=os.path.getmtime)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the runtime: Spark, Delta, MLflow and the rest on the path, but not the project's source checkout
    (Path(site) / "runtime.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)], check=True
    )
    return python


def wheel_tasks(job: str) -> list[dict]:
    tasks = load_bundle()["resources"]["jobs"][job]["tasks"]
    return [
        {
            "task_key": t["task_key"],
            **t["python_wheel_task"],
            "parameters": resolve_parameters(t["python_wheel_task"]["parameters"], {"run_date": str(RUN_DATE)}),
        }
        for t in tasks
    ]


def run_tasks(python, tasks: list[dict], workdir, env: dict[str, str]) -> list[dict]:
    spec = workdir.parent / f"{workdir.name}-tasks.json"
    spec.write_text(json.dumps(tasks))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RECPIPE_", "REDIS_", "MLFLOW_", "PYTHONPATH"))}
    result = subprocess.run([python, RUNNER, spec], cwd=workdir, env={**clean, **env}, capture_output=True, text=True)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"task_key"')]
    assert result.returncode == 0 and len(lines) == len(tasks), result.stdout[-3000:] + result.stderr[-5000:]
    return lines


@pytest.fixture(scope="module")
def deployed_run(installed_wheel, tmp_path_factory):
    """generate (the upstream stand-in, small), every pipeline task, then evaluate: from an empty directory."""
    workdir, data_dir = tmp_path_factory.mktemp("empty-cwd"), tmp_path_factory.mktemp("deployed-data")
    server = RedisProcess(data_dir)
    server.start()
    env = {
        "RECPIPE_DATA_DIR": str(data_dir),
        "REDIS_URL": server.url,
        # a cluster brings its own Spark settings; this small world runs with the suite's partitions (and the
        # small-frame settings every local session has by default)
        "RECPIPE_SHUFFLE_PARTITIONS": str(SMALL_FRAME_SHUFFLE_PARTITIONS),
    }
    generate = {
        "task_key": "generate",
        "package_name": "recpipe",
        "entry_point": "recpipe",
        "parameters": ["generate", "--users", str(USERS), "--items", str(ITEMS)],
    }
    # last, in the same driver (a cluster runs many tasks per process): a gate no list can pass must fail its task
    [gate] = [t for t in wheel_tasks("recpipe_pipeline") if t["task_key"] == "gate"]
    failing_gate = {
        **gate,
        "task_key": "gate_failing",
        "parameters": [*gate["parameters"], "--set=min_list_length=100000"],
    }
    # the continuous stream's command line, told to stop once it has caught up; then a fresh run
    freshness = [
        {**t, "parameters": [*t["parameters"], "--once"]} for t in wheel_tasks("recpipe_availability")
    ] + wheel_tasks("recpipe_fresh")
    try:
        results = run_tasks(
            installed_wheel,
            [generate, *wheel_tasks("recpipe_pipeline"), *freshness, *wheel_tasks("recpipe_evaluate"), failing_gate],
            workdir,
            env,
        )
        yield results, data_dir, server, workdir, env
    finally:
        server.stop()


@pytest.mark.slow
def test_every_bundle_task_runs_from_the_installed_wheel(deployed_run, installed_wheel):
    results, data_dir, server, workdir, _ = deployed_run
    results = [r for r in results if r["task_key"] != "gate_failing"]
    assert [(r["task_key"], r["exit_code"]) for r in results] == [
        ("generate", 0),
        ("interactions", 0),
        ("tune", 0),
        ("train", 0),
        ("candidates", 0),
        ("gate", 0),
        ("publish", 0),
        ("monitor", 0),
        ("report", 0),
        ("availability", 0),
        ("fresh", 0),
        ("evaluate", 0),
        ("monitor", 0),
    ]
    assert all(str(installed_wheel.parent.parent) in r["module_file"] for r in results)  # the wheel, not the checkout
    assert list(workdir.iterdir()) == []  # nothing lands in the working directory
    reader = RecommendationReader(server.url)
    version = reader.live_version("foryou")
    assert version.startswith(
        RUN_DATE.strftime("%Y%m%d")
    )  # lists as of the day before the run date, stamped at its end
    entries = int(redis.Redis.from_url(server.url).hget(keys.manifest_key("foryou", version), "entries"))
    assert entries == USERS and len(reader.for_user(0, n=10).item_ids) == 10
    assert (data_dir / "reports" / "pipeline_health.html").exists()  # artifacts under the configured location
    assert any((data_dir / "validation").rglob("*.json"))


@pytest.mark.slow
def test_the_wheel_carries_conf_and_jobs_and_reads_them_from_itself(installed_wheel, tmp_path):
    """conf/ (reference configuration, profiles) and jobs/ (the bundle's job files) ship in the wheel: an installed
    recpipe reads its profiles and the task graph from its own package, whatever the working directory."""
    probe = (
        "from recpipe.config.shipped import shipped_dir; from recpipe.dag import pipeline_job, pipeline_tasks\n"
        "print(shipped_dir('conf')); print(shipped_dir('jobs')); print(len(pipeline_tasks(pipeline_job())))"
    )
    out = subprocess.run([installed_wheel, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    conf, jobs, tasks = out.stdout.split()
    venv = installed_wheel.parent.parent
    assert Path(conf).is_relative_to(venv) and Path(jobs).is_relative_to(venv)
    assert (Path(conf) / "candidates.yml").exists() and (Path(conf) / "profiles" / "ratings" / "train.yml").exists()
    assert int(tasks) == len(wheel_tasks("recpipe_pipeline"))


@pytest.mark.slow
def test_every_table_a_full_run_writes_has_its_registered_columns(deployed_run, spark, monkeypatch):
    _, data_dir, _, _, _ = deployed_run
    monkeypatch.setenv("RECPIPE_DATA_DIR", str(data_dir))
    tables = Tables(spark, load_settings())
    written = [name for name, spec in catalog.REGISTRY.items() if spec.enforced and tables.exists(name)]
    assert len(written) >= 24  # every layer the pipeline and the evaluation write
    problems = {
        name: catalog.schema_problems(
            name, [(f.name, f.dataType.simpleString()) for f in tables.read(name).schema], complete=True
        )
        for name in written
    }
    assert {name: p for name, p in problems.items() if p} == {}


@pytest.mark.slow
def test_a_failed_gate_makes_its_task_exit_non_zero(deployed_run):
    results, _, _, _, _ = deployed_run
    assert [r["exit_code"] for r in results if r["task_key"] == "gate_failing"] == [2]


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_run_on_the_pipeline_output(deployed_run, notebook, monkeypatch):
    _, data_dir, _, _, _ = deployed_run
    monkeypatch.setenv("RECPIPE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RECPIPE_NB_HOLDOUT_DAYS", "7")
    runpy.run_path(str(notebook), run_name="__main__")
    mlflow.set_tracking_uri(None)


@pytest.mark.slow
def test_run_on_existing_bronze_keeps_it_and_a_failing_task_stops_the_graph(deployed_run, spark, monkeypatch, capsys):
    _, data_dir, server, _, _ = deployed_run
    monkeypatch.setenv("RECPIPE_DATA_DIR", str(data_dir))
    settings_tables = Tables(spark, load_settings())
    before = {name: settings_tables.version(name) for name in catalog.BRONZE}
    live = redis.Redis.from_url(server.url).get(keys.pointer_key("foryou"))
    past_the_data = date.today() + timedelta(days=400)
    assert (
        execute(["run", "--as-of", str(past_the_data), "--redis-url", server.url, "--set", "gate.min_list_length=1"])
        == 2  # the failing task's error is the user's to fix (an as-of past the data): exit 2, as a job alone
    )
    out, err = capsys.readouterr()
    assert "generate" not in out.split("-----")[-1]  # bronze existed: nothing was generated
    assert {name: settings_tables.version(name) for name in catalog.BRONZE} == before
    assert "interactions   FAILED" in out and "candidates     skipped" in out and "publish        skipped" in out
    assert "report         ok" in out  # run_if ALL_DONE, as on Databricks
    assert "after the last valid event" in err.strip().splitlines()[-1]  # the output ends with the reason
    assert redis.Redis.from_url(server.url).get(keys.pointer_key("foryou")) == live


@pytest.mark.slow
def test_one_override_reaches_the_lists_the_evaluation_and_the_registered_model(deployed_run, spark, monkeypatch):
    """`recpipe run --set candidates.max_per_seller=1`: the served lists, train's time-split evaluation and the
    registered model's rules all hold at most one listing per seller (one configuration per run)."""
    _, data_dir, server, _, _ = deployed_run
    monkeypatch.setenv("RECPIPE_DATA_DIR", str(data_dir))
    # a deliberate change of the rules: the list gate is told not to hold the new lists against the last ones
    overrides = ["--set", "candidates.max_per_seller=1", "--set", "gate.min_list_length=1"]
    overrides += ["--set", "gate.compare_with_previous=false"]
    assert execute(["run", "--redis-url", server.url, "--no-show", *overrides]) == 0
    tables = Tables(spark, load_settings())
    sellers = tables.read(catalog.SILVER_ITEMS).select("item_id", "seller_id").toPandas().set_index("item_id")
    lists = tables.read(catalog.GOLD_USER_CANDIDATES).where("source = 'personal'").toPandas()
    assert len(lists) > 0
    for items in lists["item_ids"]:
        assert sellers.loc[list(items), "seller_id"].is_unique  # the served lists
    tracking.configure(load_settings())
    client = MlflowClient()
    champion = client.get_model_version_by_alias("recpipe_recommender", "champion")
    latest_train = client.search_runs(
        [mlflow.get_experiment_by_name("recpipe").experiment_id],
        "attributes.run_name = 'train'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )[0]
    assert latest_train.data.params["rules.max_per_seller"] == "1"  # the time-split evaluation's rules
    model = mlflow.pyfunc.load_model(f"models:/recpipe_recommender/{champion.version}")
    assert champion.run_id == latest_train.info.run_id  # the same configuration retrained ties: the fresh one wins
    served = model.predict(pd.DataFrame({"user_id": lists["user_id"].head(5).tolist()}))
    for items in served["item_ids"]:
        assert sellers.loc[list(items), "seller_id"].is_unique  # the registered model's rules
    mlflow.set_tracking_uri(None)


PROBE = """\
import json, sys
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
ranked = model.predict(pd.DataFrame({"user_id": json.loads(sys.argv[2])}))
import recpipe
print(json.dumps({"lists": {str(u): [int(i) for i in items] for u, items in zip(ranked.user_id, ranked.item_ids)},
                  "recpipe": recpipe.__file__, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


@pytest.mark.slow
def test_the_registered_model_ranks_in_a_fresh_environment_as_the_served_lists(
    deployed_run, spark, monkeypatch, tmp_path_factory
):
    """`models:/recpipe_recommender@champion` in a new virtual environment that has only what the model's
    requirements.txt names (MLflow and the recpipe wheel logged with the model, with its declared dependencies:
    no Spark), run from an empty folder: it ranks users exactly as gold.user_candidates does for that version with
    its rules and the ranking stage off (the pyfunc serves the retrieval model; the ranker's features are Spark's)."""
    _, data_dir, _, _, _ = deployed_run
    monkeypatch.setenv("RECPIPE_DATA_DIR", str(data_dir))
    tracking.configure(load_settings())
    client = MlflowClient()
    champion = client.get_model_version_by_alias("recpipe_recommender", "champion")
    params = client.get_run(champion.run_id).data.params
    rules = ["--set", f"max_per_seller={params['rules.max_per_seller']}", "--set", "ranking.enabled=false"]
    assert execute(["candidates", "--model-version", str(champion.version), *rules]) == 0
    served = (
        Tables(spark, load_settings())
        .read(catalog.GOLD_USER_CANDIDATES)
        .where("source = 'personal'")
        .select("user_id", "item_ids", "model_version")
        .orderBy("user_id")
        .toPandas()
    )
    assert set(served["model_version"]) == {str(champion.version)} and len(served) >= 20

    root = tmp_path_factory.mktemp("fresh-model-env")
    model_dir = Path(
        mlflow.artifacts.download_artifacts(
            f"models:/recpipe_recommender/{champion.version}", dst_path=str(root / "model")
        )
    )
    mlflow.set_tracking_uri(None)
    requirements = (model_dir / "requirements.txt").read_text().split()
    wheel = f"artifacts/{model_wheel.wheel_name(recpipe.__version__)}"
    assert requirements == [f"mlflow=={mlflow.__version__}", wheel]
    assert (model_dir / requirements[1]).is_file()  # the wheel is inside the model
    env = yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]["python_function"]["env"]
    assert "-r requirements.txt" in (model_dir / env["virtualenv"]).read_text().splitlines()[-1]
    assert requirements[1] in (model_dir / env["conda"]).read_text()
    assert "recpipe==" not in (model_dir / env["conda"]).read_text()  # nothing asks an index for recpipe
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("RECPIPE_", "MLFLOW_", "PYTHONPATH", "VIRTUAL_ENV"))
    }
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", "requirements.txt"],
        cwd=model_dir,  # the requirements name the wheel by its place in the model
        env=clean,
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    users = served["user_id"].head(20).tolist()
    uri = f"sqlite:///{data_dir.resolve() / 'mlflow.db'}"
    probe = subprocess.run(
        [python, "-c", PROBE, "models:/recpipe_recommender@champion", json.dumps(users)],
        cwd=tmp_path_factory.mktemp("empty"),
        env={**clean, "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert Path(result["recpipe"]).is_relative_to(venv)  # the model's wheel, not the checkout
    assert "pyspark" not in result["modules"]
    for user, items in zip(served["user_id"].head(20), served["item_ids"].head(20)):
        ranked = result["lists"][str(user)]
        assert ranked and ranked == list(items)[: len(ranked)], user
