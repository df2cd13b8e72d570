"""`recpipe run`: the pipeline job's task graph run locally, task by task, with one configuration for the run."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from recpipe import catalog, dag
from recpipe.commands import load_job, parse_args
from recpipe.config import CONF_DIR_ENV, load_run_config, load_settings
from recpipe.errors import RecpipeError
from recpipe.run_day import add_as_of_arguments, requested_day

DESCRIPTION = """\
Runs the tasks of the Databricks pipeline job (jobs/pipeline.job.yml, the file the bundle deploys) in order with the
same command lines: interactions -> tune -> train -> candidates -> gate -> publish -> report. A failing task stops the
graph (later tasks are skipped, nothing is published; the report, run_if ALL_DONE, still runs). The as-of is --as-of,
else the day of the last valid event, found by interactions and passed to every later task. Bronze tables are
generated first when there are none, or with --generate (which replaces only tables recpipe wrote). Without a
configured Redis it starts a local redis-server. --set SECTION.FIELD=VALUE and --conf FOLDER (of <section>.yml
files) reach every task: one configuration per run. Exit code: 0, or at the first failure 2 when the failure is the
user's to fix (configuration, input, data), else 1."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser, default_help="; default: the last valid event's day")
    parser.add_argument(
        "--generate",
        action="store_true",
        help="generate bronze tables first even when there are some (replaces only tables recpipe wrote)",
    )
    parser.add_argument("--users", type=int, help="users to generate")
    parser.add_argument("--items", type=int, help="items to generate")
    parser.add_argument("--redis-url", help="publish here (default: RECPIPE_REDIS_URL, REDIS_URL, else a local one)")
    parser.add_argument("--show", action=argparse.BooleanOptionalAction, default=True, help="show users at the end")


@contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
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


def run(args: argparse.Namespace) -> int:
    """Run every task in order; return 0, or at the first failure 2 when the user can fix it, else 1."""
    from recpipe.serving.local_redis import ensure_local_redis

    if args.conf is not None and not args.conf.is_dir():
        raise RecpipeError(f"recpipe run --conf {args.conf}: expected a folder of <section>.yml files")
    conf_environment = {CONF_DIR_ENV: str(args.conf) if args.conf else None}
    with environment(conf_environment):
        load_run_config(None, None, args.set)  # one configuration for every task: a bad override fails before any
    settings = load_settings()
    redis_url = args.redis_url or settings.redis_url
    if not redis_url and settings.platform != "databricks":
        redis_url = ensure_local_redis(settings.data_dir)
    tasks = dag.pipeline_tasks(dag.pipeline_job())
    with environment({"RECPIPE_REDIS_URL": redis_url, **conf_environment}):
        if args.generate or not _bronze_exists():
            sizes = [f"--{k}={v}" for k, v in (("users", args.users), ("items", args.items)) if v]
            tasks = dag.generating_first(tasks, [*sizes, *(["--replace"] if args.generate else [])])
        elif args.users or args.items:
            raise RecpipeError("recpipe run: bronze tables exist and are kept; --users/--items apply with --generate")
        flags = ["--verbose"] if args.verbose else []
        run_task = lambda argv: load_job(argv[0]).run(parse_args(argv))  # the standalone entry points' parser
        results = dag.run_tasks(tasks, run_task, args.set, requested_day(args), flags)
    print(dag.format_summary(results))
    failed = [r for r in results if r.status == "FAILED"]
    if failed:
        print(
            f"recpipe run: task {failed[0].name} failed: {failed[0].detail}; later tasks did not run", file=sys.stderr
        )
        return 2 if failed[0].fixable else 1
    if redis_url and args.show:
        _show(redis_url)
    return 0


def _bronze_exists() -> bool:
    from recpipe.spark import get_spark
    from recpipe.tables import Tables

    settings = load_settings()
    tables = Tables(get_spark(settings), settings)
    return any(tables.exists(name) for name in catalog.BRONZE)


def _show(redis_url: str) -> None:
    from recpipe.serving import showcase
    from recpipe.serving.reader import RecommendationReader
    from recpipe.spark import get_spark
    from recpipe.tables import Tables

    settings = load_settings()
    showcase.show(Tables(get_spark(settings), settings), RecommendationReader(redis_url))
