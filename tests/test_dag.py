"""`recpipe run` end to end on tiny generated data into a real Redis; a failing task stops the graph; the
notebooks run on the result."""

import contextlib
import io
import os
import runpy

import mlflow
import pytest
import redis

from recpipe.cli import main
from recpipe.serving import RecommendationReader, keys

from .conftest import REPO_ROOT, RedisServer

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.py"))


@pytest.fixture(scope="module")
def pipeline_run(spark, tmp_path_factory):
    """One full local run shared by the end-to-end and notebook tests."""
    data_dir = tmp_path_factory.mktemp("pipeline")
    server = RedisServer(data_dir)
    server.start()
    env = {"RECPIPE_DATA_DIR": str(data_dir), "REDIS_URL": server.url}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["run", "--users", "150", "--items", "400", "--show", "2"])  # fresh listings sell fast: enough stay live for full lists
        yield code, data_dir, server, out.getvalue()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()
        mlflow.set_tracking_uri(None)


@pytest.mark.slow
def test_run_publishes_every_users_list(pipeline_run):
    code, _, server, out = pipeline_run
    assert code == 0, out
    for task in ("generate", "interactions", "tune", "train", "candidates", "gate", "publish", "report"):
        assert f"\n{task:<14} ok" in out
    assert "read from Redis" in out
    reader = RecommendationReader(server.url)
    client = redis.Redis.from_url(server.url)
    version = reader.live_version("foryou")
    entries = int(client.hget(keys.manifest_key("foryou", version), "entries"))
    assert entries == 150  # every user has a list
    assert len(reader.for_user(0, n=10).item_ids) == 10


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_run_on_the_pipeline_output(pipeline_run, notebook, monkeypatch):
    _, data_dir, _, _ = pipeline_run
    monkeypatch.setenv("RECPIPE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RECPIPE_NB_HOLDOUT_DAYS", "7")
    runpy.run_path(str(notebook), run_name="__main__")
    mlflow.set_tracking_uri(None)


@pytest.mark.slow
def test_a_failing_task_stops_the_graph_before_publish(tmp_path, redis_server, monkeypatch, capsys):
    monkeypatch.setenv("RECPIPE_DATA_DIR", str(tmp_path))  # no bronze tables: interactions must fail
    assert main(["run", "--skip-generate", "--redis-url", redis_server.url]) == 1
    out, err = capsys.readouterr()
    assert "interactions   FAILED" in out and "publish        skipped" in out and "candidates     skipped" in out
    assert "gate           skipped" in out
    assert "task interactions failed" in err and "bronze.users" in err
    assert redis.Redis.from_url(redis_server.url).get(keys.pointer_key("foryou")) is None
