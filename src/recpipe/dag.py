"""The pipeline's task graph, run locally in order with the same entry points the Databricks job uses."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from types import ModuleType

log = logging.getLogger(__name__)

HELP = "Run the whole pipeline locally, task by task, stopping at the first failure; then show a few users' lists."
DESCRIPTION = """\
Runs the tasks of the Databricks job (generate -> interactions -> tune -> train -> candidates -> gate -> publish -> report) in order with
the same entry points and config, stops at the first failing task (later tasks do not run, nothing is published),
prints a summary table, and reads a few users' recommendations back from Redis. Without a configured Redis
(--redis-url, the target's redis_url or REDIS_URL) it starts a local redis-server."""


@dataclass(frozen=True)
class Task:
    name: str
    job: str
    args: tuple[str, ...] = ()


@dataclass
class TaskResult:
    name: str
    status: str
    seconds: float = 0.0
    detail: str = ""


def pipeline_tasks(args: argparse.Namespace, redis_url: str | None) -> list[Task]:
    """Tasks in dependency order; generating data is the local stand-in for upstream ingestion."""
    tasks: list[Task] = []
    if not args.skip_generate:
        sizes = tuple(f"--{k}={v}" for k, v in (("users", args.users), ("items", args.items)) if v)
        tasks.append(Task("generate", "generate", sizes))
    tasks += [Task("interactions", "interactions"), Task("tune", "tune"), Task("train", "train"), Task("candidates", "candidates"),
              Task("gate", "gate")]
    tasks.append(Task("publish", "publish", (f"--redis-url={redis_url}",) if redis_url else ()))
    tasks.append(Task("report", "report"))
    return tasks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip-generate", action="store_true", help="use the bronze tables already there")
    parser.add_argument("--users", type=int, help="users to generate")
    parser.add_argument("--items", type=int, help="items to generate")
    parser.add_argument("--redis-url", help="publish here (default: the target's, else REDIS_URL, else a local redis-server)")
    parser.add_argument("--show", type=int, default=3, help="users whose recommendations are printed at the end")


def _job_argv(args: argparse.Namespace, task: Task) -> list[str]:
    argv = [task.job, *task.args]
    if args.target:
        argv.append(f"--target={args.target}")
    if args.targets_file:
        argv.append(f"--targets-file={args.targets_file}")
    return argv


def _redis_url(args: argparse.Namespace) -> str:
    from recpipe.config import load_settings
    from recpipe.serving.local_redis import ensure_local_redis

    settings = load_settings(args.target)
    url = args.redis_url or settings.redis_url or os.environ.get("REDIS_URL")
    if url or settings.platform == "databricks":
        return url
    return ensure_local_redis(settings.data_dir)


def run_tasks(args: argparse.Namespace, jobs: dict[str, ModuleType], tasks: list[Task]) -> list[TaskResult]:
    """Run tasks in order; after a failure the rest are reported as skipped."""
    from recpipe.cli import build_parser  # the same parser as the standalone entry points

    results: list[TaskResult] = []
    failed = False
    for task in tasks:
        if failed:
            results.append(TaskResult(task.name, "skipped"))
            continue
        start = time.perf_counter()
        try:
            summary = jobs[task.job].run(build_parser().parse_args(_job_argv(args, task)))
            rows = ", ".join(f"{k}={v:,}" for k, v in summary.get("rows", {}).items()) or summary.get("report", "")
            results.append(TaskResult(task.name, "ok", time.perf_counter() - start, rows))
        except Exception as exc:  # noqa: BLE001 - any failure stops the graph and is reported
            log.exception("task %s failed", task.name)
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
            results.append(TaskResult(task.name, "FAILED", time.perf_counter() - start, reason))
            failed = True
    return results


def format_summary(results: list[TaskResult]) -> str:
    header = f"{'task':<14} {'status':<8} {'seconds':>8}  rows / reason"
    lines = [header, "-" * len(header)]
    lines += [f"{r.name:<14} {r.status:<8} {r.seconds:>8.1f}  {r.detail}" for r in results]
    return "\n".join(lines)


def show_recommendations(redis_url: str, n_users: int) -> None:
    """Read a few users' lists back through the reader an app backend would use, with item attributes."""
    from recpipe.config import load_settings
    from recpipe.serving import RecommendationReader
    from recpipe.spark import get_spark
    from recpipe.tables import Tables

    settings = load_settings(None)
    tables = Tables(get_spark(settings), settings)
    users = tables.read("gold.user_candidates").orderBy("source", "user_id").select("user_id", "source").limit(n_users).collect()
    items = tables.read("silver.items").select("item_id", "category", "brand", "size", "price").toPandas().set_index("item_id")
    reader = RecommendationReader(redis_url)
    for row in users:
        rec = reader.for_user(row.user_id, n=5)
        print(f"\nuser {row.user_id} ({row.source}), read from Redis {reader.target.safe_url}:")
        for item, score in zip(rec.item_ids, rec.scores):
            a = items.loc[item] if item in items.index else None
            described = f"{a.category:<12} {a.brand:<14} size {a['size']:<3} {a.price:7.2f} EUR" if a is not None else ""
            print(f"  item {item:<8} score {score:7.3f}  {described}")


def run(args: argparse.Namespace, jobs: dict[str, ModuleType]) -> int:
    """Run every task in order; return 0, or 1 at the first failure."""
    redis_url = _redis_url(args)
    results = run_tasks(args, jobs, pipeline_tasks(args, redis_url))
    print(format_summary(results))
    failed = [r for r in results if r.status == "FAILED"]
    if failed:
        print(f"recpipe run: task {failed[0].name} failed: {failed[0].detail}; later tasks did not run", file=sys.stderr)
        return 1
    if redis_url and args.show:
        show_recommendations(redis_url, args.show)
    return 0
