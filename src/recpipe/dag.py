"""The Databricks pipeline job's task graph, read from the bundle's job file (``jobs/pipeline.job.yml``), and
running it in order with the same command lines (``recpipe run``)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from recpipe.config.shipped import shipped_dir
from recpipe.errors import RecpipeError
from recpipe.run_day import RunDay

log = logging.getLogger(__name__)

PIPELINE_FILE = "pipeline.job.yml"
PIPELINE_JOB = "recpipe_pipeline"
RUN_DATE = "run_date"


@dataclass(frozen=True)
class Task:
    name: str
    parameters: tuple[str, ...]  # the python_wheel_task's command line, job parameter references unresolved
    run_if: str = "ALL_SUCCESS"

    @property
    def job(self) -> str:
        return self.parameters[0]


@dataclass
class TaskResult:
    name: str
    status: str
    seconds: float = 0.0
    detail: str = ""
    fixable: bool = False  # failed on something the user can fix (a RecpipeError): the run exits 2


class TaskGraphError(RecpipeError):
    """The job file's task graph is not a list of wheel tasks in dependency order."""


def pipeline_job(path: Path | None = None) -> dict[str, Any]:
    """The pipeline job of the bundle, from the job file shipped in the package."""
    text = (path or shipped_dir("jobs") / PIPELINE_FILE).read_text()
    return yaml.safe_load(text)["resources"]["jobs"][PIPELINE_JOB]


def pipeline_tasks(job: Mapping[str, Any]) -> list[Task]:
    """The job's wheel tasks; each must depend only on tasks listed before it (the order they run in locally)."""
    tasks: list[Task] = []
    seen: set[str] = set()
    for spec in job["tasks"]:
        needs = {d["task_key"] for d in spec.get("depends_on", [])}
        if not needs <= seen:
            raise TaskGraphError(
                f"{PIPELINE_FILE}: task {spec['task_key']} depends on {sorted(needs - seen)}, listed later"
            )
        if "python_wheel_task" not in spec:
            raise TaskGraphError(f"{PIPELINE_FILE}: task {spec['task_key']} is not a python_wheel_task")
        seen.add(spec["task_key"])
        tasks.append(
            Task(spec["task_key"], tuple(spec["python_wheel_task"]["parameters"]), spec.get("run_if", "ALL_SUCCESS"))
        )
    return tasks


def generating_first(tasks: list[Task], flags: Sequence[str] = ()) -> list[Task]:
    """The graph on generated data: `recpipe generate` with ``flags``, then ``tasks`` (locally; upstream on a
    cluster)."""
    return [Task("generate", ("generate", *flags)), *tasks]


def resolve_parameters(parameters: Sequence[str], job_parameters: Mapping[str, str | None]) -> list[str]:
    """Replace ``{{job.parameters.NAME}}``; a flag whose value is an unset job parameter is left out with it."""
    resolved: list[str] = []
    for token in parameters:
        found = re.fullmatch(r"\{\{job\.parameters\.(\w+)\}\}", token)
        if found is None:
            resolved.append(token)
        elif job_parameters.get(found.group(1)) is not None:
            resolved.append(str(job_parameters[found.group(1)]))
        elif resolved and resolved[-1].startswith("--"):
            resolved.pop()
        else:
            raise TaskGraphError(f"job parameter {found.group(1)} has no value")
    return resolved


def check_run_overrides(pairs: Sequence[str]) -> None:
    """``--set`` of `recpipe run` names a section of the run's configuration: ``SECTION.FIELD=VALUE`` (the
    loader's rule for an override outside a job; raises its ConfigError)."""
    from recpipe.config.loader import parse_overrides, scoped_override

    for dotted in parse_overrides(pairs):
        scoped_override(dotted, None)


def run_tasks(
    tasks: list[Task],
    run_task: Callable[[list[str]], dict[str, Any]],
    overrides: Sequence[str] = (),
    day: RunDay | None = None,
    flags: Sequence[str] = (),
) -> list[TaskResult]:
    """Run tasks in order with ``run_task`` (a command line -> the job's summary); after a failure the rest are
    skipped, except tasks that run_if ALL_DONE. Every task gets the run's ``overrides`` (``SECTION.FIELD=VALUE``):
    one configuration per run. The run's day is ``day``, else the first task that reports an as-of decides it."""
    check_run_overrides(overrides)
    job_parameters: dict[str, str | None] = {RUN_DATE: str(day.run_date) if day else None}
    results: list[TaskResult] = []
    failed = False
    for task in tasks:
        if failed and task.run_if != "ALL_DONE":
            results.append(TaskResult(task.name, "skipped"))
            continue
        argv = [
            *resolve_parameters(task.parameters, job_parameters),
            *flags,
            *(f"--set={o}" for o in overrides),
        ]
        start = time.perf_counter()
        try:
            log.info("task %s: recpipe %s", task.name, " ".join(argv))
            summary = run_task(argv)
            rows = ", ".join(f"{k}={v:,}" for k, v in summary.get("rows", {}).items()) or summary.get("report", "")
            results.append(TaskResult(task.name, "ok", time.perf_counter() - start, rows))
            if (
                job_parameters[RUN_DATE] is None and "as_of" in summary
            ):  # found from validated events: one as-of per run
                job_parameters[RUN_DATE] = str(RunDay(date.fromisoformat(summary["as_of"])).run_date)
        except Exception as exc:
            log.error("task %s failed", task.name, exc_info=not isinstance(exc, RecpipeError))
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            fixable = isinstance(exc, RecpipeError)
            results.append(TaskResult(task.name, "FAILED", time.perf_counter() - start, reason, fixable))
            failed = True
    return results


def format_summary(results: list[TaskResult]) -> str:
    header = f"{'task':<14} {'status':<8} {'seconds':>8}  rows / reason"
    lines = [header, "-" * len(header)]
    lines += [f"{r.name:<14} {r.status:<8} {r.seconds:>8.1f}  {r.detail[:160]}" for r in results]
    return "\n".join(lines)
