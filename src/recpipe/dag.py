"""The pipeline's task graph, run locally in order with the same entry points the Databricks job uses."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from types import ModuleType

log = logging.getLogger(__name__)

HELP = "Run the whole pipeline locally, task by task, stopping at the first failure."
DESCRIPTION = """\
Runs the tasks of the Databricks job in the same order with the same entry points and config, stops at the
first failing task (later tasks do not run) and prints a summary table."""


@dataclass(frozen=True)
class Task:
    name: str
    job: str
    args: tuple[str, ...] = ()


def pipeline_tasks(args: argparse.Namespace) -> list[Task]:
    """Tasks in dependency order; generating data is the local stand-in for upstream ingestion."""
    tasks: list[Task] = []
    if not args.skip_generate:
        tasks.append(Task("generate", "generate", tuple(f"--{k}={v}" for k, v in (("users", args.users), ("items", args.items)) if v)))
    tasks.append(Task("interactions", "interactions"))
    tasks.append(Task("train", "train"))
    tasks.append(Task("candidates", "candidates"))
    return tasks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip-generate", action="store_true", help="use the bronze tables already there")
    parser.add_argument("--users", type=int, help="users to generate")
    parser.add_argument("--items", type=int, help="items to generate")


def _job_argv(args: argparse.Namespace, task: Task) -> list[str]:
    argv = [task.job, *task.args]
    if args.target:
        argv.append(f"--target={args.target}")
    if args.targets_file:
        argv.append(f"--targets-file={args.targets_file}")
    return argv


def run(args: argparse.Namespace, jobs: dict[str, ModuleType]) -> int:
    """Run every task in order; return 0, or 1 at the first failure (later tasks are reported as skipped)."""
    from recpipe.cli import build_parser  # the same parser as the standalone entry points

    results: list[tuple[str, str, float, str]] = []
    tasks = pipeline_tasks(args)
    failed = False
    for task in tasks:
        if failed:
            results.append((task.name, "skipped", 0.0, ""))
            continue
        start = time.perf_counter()
        try:
            summary = jobs[task.job].run(build_parser().parse_args(_job_argv(args, task)))
            rows = ", ".join(f"{k}={v:,}" for k, v in summary.get("rows", {}).items())
            results.append((task.name, "ok", time.perf_counter() - start, rows))
        except Exception as exc:  # noqa: BLE001 - any failure stops the graph and is reported
            log.exception("task %s failed", task.name)
            results.append((task.name, "FAILED", time.perf_counter() - start, str(exc).splitlines()[0][:120]))
            failed = True
    print(format_summary(results))
    if failed:
        name = next(r[0] for r in results if r[1] == "FAILED")
        print(f"recpipe run: task {name} failed; later tasks did not run", file=sys.stderr)
        return 1
    return 0


def format_summary(results: list[tuple[str, str, float, str]]) -> str:
    header = f"{'task':<14} {'status':<8} {'seconds':>8}  rows / reason"
    lines = [header, "-" * len(header)]
    lines += [f"{name:<14} {status:<8} {seconds:>8.1f}  {detail}" for name, status, seconds, detail in results]
    return "\n".join(lines)
