"""`recpipe <job> ...`: one subcommand per job, plus `recpipe run` for the local task graph."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from recpipe import __version__, dag
from recpipe.config import PROFILE_ENV
from recpipe.errors import RecpipeError
from recpipe.jobs import (
    candidates, evaluate, gate, generate, ingest, interactions, publish, report, show_config, train, tune,
)
from recpipe.progress import configure_logging
from recpipe.serving.connection import redact

JOBS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (generate, ingest, interactions, train, tune, candidates, gate, publish, report, evaluate, show_config)
}

# Exit codes: a user error (RecpipeError: config, input, data) 2 without a traceback; anything else 1 with one.
EXIT_OK, EXIT_FAILED, EXIT_USER_ERROR = 0, 1, 2

log = logging.getLogger("recpipe")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conf", type=Path, help="job config file over the embedded defaults (must exist; default "
                                                  "$RECPIPE_CONF_DIR/<job>.yml when present)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a config field (repeatable)")
    parser.add_argument("--profile", help="config profile shipped with recpipe, overlaying the job's config "
                                          "(default $RECPIPE_PROFILE; e.g. ratings for public ratings data)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recpipe",
        description="Batch recommendations for a one-of-a-kind fashion marketplace: Delta -> models -> Redis.",
    )
    parser.add_argument("--version", action="version", version=f"recpipe {__version__}")
    sub = parser.add_subparsers(dest="job", required=True, metavar="<job>")
    for module in JOBS.values():
        job_parser = sub.add_parser(module.NAME, help=module.HELP, description=module.DESCRIPTION)
        _add_common(job_parser)
        module.add_arguments(job_parser)
    run_parser = sub.add_parser("run", help=dag.HELP, description=dag.DESCRIPTION)
    _add_common(run_parser)
    dag.add_arguments(run_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """The ``recpipe`` entry point. Raises ``SystemExit`` with the exit code: a runner that calls this function
    (as a Databricks ``python_wheel_task`` does) sees a failed job as a failed task."""
    raise SystemExit(execute(argv))


def execute(argv: Sequence[str] | None = None) -> int:
    """Run one command line and return its exit code."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    if args.profile:
        os.environ[PROFILE_ENV] = args.profile  # the tasks of `recpipe run` load their config after this
    try:
        if args.job == "run":
            return dag.run(args, JOBS)
        summary = JOBS[args.job].run(args)
    except RecpipeError as exc:
        print(f"recpipe {args.job}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:  # noqa: BLE001 - the reason comes first, in one line, for alerts; then the traceback
        reason = (str(exc).splitlines() or [""])[0][:300]
        print(f"recpipe {args.job}: failed: {type(exc).__name__}: {redact(reason)}", file=sys.stderr)
        traceback.print_exc()
        return EXIT_FAILED
    print(json.dumps(summary, indent=2, default=str))
    return EXIT_OK


if __name__ == "__main__":
    main()
