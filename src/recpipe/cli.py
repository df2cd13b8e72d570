"""`recpipe <job> ...`: the entry point. Exit codes: 0 done; 2 a user error (RecpipeError: config, input, data),
one line without a traceback; 1 anything else, the traceback first and the one line last."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Sequence

from recpipe.commands import load_job, parse_args
from recpipe.config import PROFILE_ENV
from recpipe.errors import RecpipeError
from recpipe.progress import configure_logging
from recpipe.serving.connection import redact

EXIT_OK, EXIT_FAILED, EXIT_USER_ERROR = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> None:
    """The ``recpipe`` entry point. Raises ``SystemExit`` with the exit code: a runner that calls this function
    (as a Databricks ``python_wheel_task`` does) sees a failed job as a failed task."""
    raise SystemExit(execute(argv))


def execute(argv: Sequence[str] | None = None) -> int:
    """Run one command line and return its exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging(args.verbose)
    if args.profile:
        os.environ[PROFILE_ENV] = args.profile  # the tasks of `recpipe run` load their config after this
    try:
        result = load_job(args.job).run(args)
    except RecpipeError as exc:
        print(f"recpipe {args.job}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:
        traceback.print_exc()  # a bug or an outage: the traceback first, so the output still ends in one line
        reason = (str(exc).splitlines() or [""])[0][:300]
        print(f"recpipe {args.job}: failed: {type(exc).__name__}: {redact(reason)}", file=sys.stderr)
        return EXIT_FAILED
    if isinstance(result, int):  # `recpipe run` prints its own summary and returns its exit code
        return result
    print(json.dumps(result, indent=2, default=str))
    return EXIT_OK


if __name__ == "__main__":
    main()
