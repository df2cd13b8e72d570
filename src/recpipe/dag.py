"""`recpipe run`: the Databricks job's task graph, read from the bundle's job file, run locally in order."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from recpipe import catalog
from recpipe.errors import RecpipeError

log = logging.getLogger(__name__)

PIPELINE_FILE = "pipeline.job.yml"
PIPELINE_JOB = "recpipe_pipeline"
RUN_DATE = "run_date"

HELP = "Run the pipeline job's task graph locally, task by task; then show a few users' lists."
DESCRIPTION = """\
Runs the tasks of the Databricks pipeline job (read from the job file the bundle deploys) in order with the same
entry points and parameters: interactions -> tune -> train -> candidates -> gate -> publish -> report. A failing
task stops the graph (later tasks are skipped, nothing is published; tasks marked run_if ALL_DONE, the report, still
run). The run's as-of is --as-of, else the day of the last valid event, found by interactions and passed on to every
later task. Bronze tables are generated first only when there are none, or with --generate (which replaces only
tables recpipe generated). Without a configured Redis (--redis-url, RECPIPE_REDIS_URL or REDIS_URL) it starts a
local redis-server. --set JOB.FIELD=VALUE and --conf FOLDER (of <job>.yml files) reach the tasks."""


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
    text = path.read_text() if path else (resources.files("recpipe") / "bundle" / PIPELINE_FILE).read_text()
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of", type=date.fromisoformat, help="the run's as-of (YYYY-MM-DD; default: the last valid event's day)"
    )
    parser.add_argument(
        "--generate",
        action="store_true",
        help="generate bronze tables first even when there are some "
        "(replaces only tables recpipe generate or ingest wrote)",
    )
    parser.add_argument("--users", type=int, help="users to generate")
    parser.add_argument("--items", type=int, help="items to generate")
    parser.add_argument(
        "--redis-url", help="publish here (default: RECPIPE_REDIS_URL, REDIS_URL, else a local redis-server)"
    )
    parser.add_argument("--show", type=int, default=3, help="users whose recommendations are printed at the end")


def task_overrides(pairs: Sequence[str], jobs: Sequence[str]) -> dict[str, list[str]]:
    """``--set JOB.FIELD=VALUE`` of `recpipe run` -> {job: ["FIELD=VALUE", ...]}."""
    by_job: dict[str, list[str]] = {}
    for pair in pairs:
        job, sep, rest = pair.partition(".")
        if not sep or job not in jobs or "=" not in rest:
            raise RecpipeError(
                f"recpipe run --set {pair!r}: expected JOB.FIELD=VALUE with JOB one of {', '.join(jobs)}"
            )
        by_job.setdefault(job, []).append(rest)
    return by_job


def _redis_url(args: argparse.Namespace) -> str | None:
    from recpipe.config import load_settings
    from recpipe.serving.local_redis import ensure_local_redis

    settings = load_settings()
    url = args.redis_url or settings.redis_url
    if url or settings.platform == "databricks":
        return url
    return ensure_local_redis(settings.data_dir)


@contextmanager
def _environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """The tasks' environment (what a job cluster's variables are on Databricks), restored afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _bronze_missing() -> bool:
    from recpipe.config import load_settings
    from recpipe.spark import get_spark
    from recpipe.tables import Tables

    settings = load_settings()
    tables = Tables(get_spark(settings), settings)
    return not any(tables.exists(name) for name in catalog.BRONZE)


def _common_flags(args: argparse.Namespace) -> list[str]:
    return ["--verbose"] if args.verbose else []


def run_tasks(args: argparse.Namespace, tasks: list[Task]) -> list[TaskResult]:
    """Run tasks in order; after a failure the rest are skipped, except tasks that run_if ALL_DONE."""
    from recpipe.cli import load_job, parse_args  # the same parser as the standalone entry points

    overrides = task_overrides(args.set, sorted({t.job for t in tasks}))
    job_parameters: dict[str, str | None] = {RUN_DATE: str(args.as_of + timedelta(days=1)) if args.as_of else None}
    results: list[TaskResult] = []
    failed = False
    for task in tasks:
        if failed and task.run_if != "ALL_DONE":
            results.append(TaskResult(task.name, "skipped"))
            continue
        argv = [
            *resolve_parameters(task.parameters, job_parameters),
            *_common_flags(args),
            *(f"--set={o}" for o in overrides.get(task.job, [])),
        ]
        start = time.perf_counter()
        try:
            log.info("task %s: recpipe %s", task.name, " ".join(argv))
            summary = load_job(task.job).run(parse_args(argv))
            rows = ", ".join(f"{k}={v:,}" for k, v in summary.get("rows", {}).items()) or summary.get("report", "")
            results.append(TaskResult(task.name, "ok", time.perf_counter() - start, rows))
            if (
                job_parameters[RUN_DATE] is None and "as_of" in summary
            ):  # found from validated events: one as-of per run
                job_parameters[RUN_DATE] = str(date.fromisoformat(summary["as_of"]) + timedelta(days=1))
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


def show_recommendations(redis_url: str, n_users: int) -> None:
    """Read a few users' lists back through the reader an app backend would use, with item attributes."""
    from recpipe.config import load_settings
    from recpipe.serving import RecommendationReader
    from recpipe.spark import get_spark
    from recpipe.tables import Tables, to_pandas

    settings = load_settings()
    tables = Tables(get_spark(settings), settings)
    users = (
        tables.read(catalog.GOLD_USER_CANDIDATES)
        .orderBy("source", "user_id")
        .select("user_id", "source")
        .limit(n_users)
        .collect()
    )
    items = to_pandas(tables.read(catalog.SILVER_ITEMS).select("item_id", "category", "brand", "size", "price"))
    items = items.set_index("item_id")
    reader = RecommendationReader(redis_url)
    for row in users:
        rec = reader.for_user(row.user_id, n=5)
        print(f"\nuser {row.user_id} ({row.source}), read from Redis {reader.target.safe_url}:")
        for item, score in zip(rec.item_ids, rec.scores):
            a = items.loc[item] if item in items.index else None
            described = (
                f"{a.category:<12} {a.brand:<14} size {a['size']:<3} {a.price:7.2f} EUR" if a is not None else ""
            )
            print(f"  item {item:<8} score {score:7.3f}  {described}")


def _task_environment(args: argparse.Namespace, redis_url: str | None) -> dict[str, str | None]:
    from recpipe.config import CONF_DIR_ENV

    if args.conf is not None and not args.conf.is_dir():
        raise RecpipeError(f"recpipe run --conf {args.conf}: expected a folder of <job>.yml files")
    return {"RECPIPE_REDIS_URL": redis_url, CONF_DIR_ENV: str(args.conf) if args.conf else None}


def run(args: argparse.Namespace) -> int:
    """Run every task in order; return 0, or at the first failure 2 when the user can fix it, else 1."""
    redis_url = _redis_url(args)
    tasks = pipeline_tasks(pipeline_job())
    with _environment(_task_environment(args, redis_url)):
        sizes_asked = bool(args.users or args.items)
        if args.generate or _bronze_missing():
            sizes = [f"--{k}={v}" for k, v in (("users", args.users), ("items", args.items)) if v]
            tasks = [Task("generate", ("generate", *sizes, *(["--replace"] if args.generate else []))), *tasks]
        elif sizes_asked:
            raise RecpipeError("recpipe run: bronze tables exist and are kept; --users/--items apply with --generate")
        results = run_tasks(args, tasks)
    print(format_summary(results))
    failed = [r for r in results if r.status == "FAILED"]
    if failed:
        print(
            f"recpipe run: task {failed[0].name} failed: {failed[0].detail}; later tasks did not run", file=sys.stderr
        )
        return 2 if failed[0].fixable else 1
    if redis_url and args.show:
        show_recommendations(redis_url, args.show)
    return 0
