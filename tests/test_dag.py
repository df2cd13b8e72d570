"""`recpipe run` runs the bundle's task graph locally; on existing bronze it never regenerates, and a failing task
stops the graph (the report, run_if ALL_DONE, still runs). Its full run is the wheel's run in test_deploy."""

from datetime import date, timedelta

import pytest
import redis

from recpipe.cli import execute
from recpipe.config import load_settings
from recpipe.dag import Task, TaskGraphError, pipeline_tasks, resolve_parameters, task_overrides
from recpipe.errors import RecpipeError
from recpipe.jobs.bronze import BRONZE
from recpipe.serving import keys
from recpipe.tables import Tables

from .test_deploy import deployed_run, installed_wheel  # noqa: F401 - the shared end-to-end run


def test_job_parameters_resolve_and_an_unset_one_drops_its_flag():
    params = ("train", "--run-date", "{{job.parameters.run_date}}", "--incremental")
    assert resolve_parameters(params, {"run_date": "2026-11-02"}) == ["train", "--run-date", "2026-11-02", "--incremental"]
    assert resolve_parameters(params, {"run_date": None}) == ["train", "--incremental"]


def test_a_task_listed_before_its_dependency_is_rejected():
    job = {"tasks": [{"task_key": "b", "depends_on": [{"task_key": "a"}], "python_wheel_task": {"parameters": ["x"]}},
                     {"task_key": "a", "python_wheel_task": {"parameters": ["y"]}}]}
    with pytest.raises(TaskGraphError, match="task b depends on \\['a'\\], listed later"):
        pipeline_tasks(job)
    assert Task("a", ("gate", "--x")).job == "gate"


def test_run_overrides_name_their_job():
    assert task_overrides(["train.als.factors=8", "gate.min_list_length=1"], ["gate", "train"]) == {
        "train": ["als.factors=8"], "gate": ["min_list_length=1"]}
    with pytest.raises(RecpipeError, match="expected JOB.FIELD=VALUE"):
        task_overrides(["factors=8"], ["train"])


@pytest.mark.slow
def test_run_on_existing_bronze_keeps_it_and_a_failing_task_stops_the_graph(deployed_run, spark, monkeypatch, capsys):
    _, data_dir, server, _, _ = deployed_run
    monkeypatch.setenv("RECPIPE_DATA_DIR", str(data_dir))
    settings_tables = Tables(spark, load_settings())
    before = {name: settings_tables.version(name) for name in BRONZE}
    live = redis.Redis.from_url(server.url).get(keys.pointer_key("foryou"))
    past_the_data = date.today() + timedelta(days=400)
    assert execute(["run", "--as-of", str(past_the_data), "--redis-url", server.url, "--set", "gate.min_list_length=1"]) == 1
    out, err = capsys.readouterr()
    assert "generate" not in out.split("-----")[-1]  # bronze existed: nothing was generated
    assert {name: settings_tables.version(name) for name in BRONZE} == before
    assert "interactions   FAILED" in out and "candidates     skipped" in out and "publish        skipped" in out
    assert "report         ok" in out  # run_if ALL_DONE, as on Databricks
    assert "after the last valid event" in err
    assert redis.Redis.from_url(server.url).get(keys.pointer_key("foryou")) == live
