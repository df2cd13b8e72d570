"""`recpipe run` runs the bundle's task graph locally (its runs on existing bronze are in test_deploy, on the
wheel run's data)."""

import pytest

from recpipe.dag import (
    Task,
    TaskGraphError,
    check_run_overrides,
    generating_first,
    pipeline_job,
    pipeline_tasks,
    resolve_parameters,
)
from recpipe.errors import RecpipeError


def test_job_parameters_resolve_and_an_unset_one_drops_its_flag():
    params = ("train", "--run-date", "{{job.parameters.run_date}}", "--incremental")
    assert resolve_parameters(params, {"run_date": "2026-11-02"}) == [
        "train",
        "--run-date",
        "2026-11-02",
        "--incremental",
    ]
    assert resolve_parameters(params, {"run_date": None}) == ["train", "--incremental"]


def test_a_task_listed_before_its_dependency_is_rejected():
    job = {
        "tasks": [
            {"task_key": "b", "depends_on": [{"task_key": "a"}], "python_wheel_task": {"parameters": ["x"]}},
            {"task_key": "a", "python_wheel_task": {"parameters": ["y"]}},
        ]
    }
    with pytest.raises(TaskGraphError, match="task b depends on \\['a'\\], listed later"):
        pipeline_tasks(job)
    assert Task("a", ("gate", "--x")).job == "gate"


def test_run_overrides_name_a_section_of_the_run_config():
    check_run_overrides(["train.als.factors=8", "gate.min_list_length=1", "model.name=x"])
    with pytest.raises(RecpipeError, match="expected SECTION.FIELD=VALUE"):
        check_run_overrides(["factors=8"])
    with pytest.raises(RecpipeError, match="expected SECTION.FIELD=VALUE"):
        check_run_overrides(["trian.als.factors=8"])


def test_the_graph_on_generated_data_starts_with_generate_and_keeps_the_jobs_tasks():
    tasks = pipeline_tasks(pipeline_job())
    graph = generating_first(tasks, ["--users=10", "--replace"])
    assert graph[0] == Task("generate", ("generate", "--users=10", "--replace"))
    assert graph[1:] == tasks
