"""One as-of per run: the command line's as-of, and the check that a task's input was built for it."""

import argparse
from datetime import date

import pytest

from recpipe import catalog
from recpipe.config import Settings
from recpipe.errors import MissingInputError
from recpipe.jobs.context import JobContext, requested_as_of
from recpipe.progress import StageLog
from recpipe.run_day import add_as_of_arguments


def parse(argv):
    parser = argparse.ArgumentParser()
    add_as_of_arguments(parser)
    return parser.parse_args(argv)


def test_the_run_date_means_the_day_before_and_excludes_an_as_of(capsys):
    assert requested_as_of(parse(["--run-date", "2026-11-02"])) == date(2026, 11, 1)
    assert requested_as_of(parse(["--as-of", "2026-11-02"])) == date(2026, 11, 2)
    assert requested_as_of(parse([])) is None
    with pytest.raises(SystemExit):
        parse(["--as-of", "2026-11-02", "--run-date", "2026-11-02"])


def test_input_built_for_another_day_stops_the_task():
    ctx = JobContext(Settings(), spark=None, tables=None, stages=StageLog("train"), as_of=date(2026, 11, 1))
    ctx.check_as_of(catalog.SILVER_INTERACTIONS, date(2026, 11, 1), "recpipe interactions")
    with pytest.raises(
        MissingInputError,
        match="silver.interactions is as of 2026-10-31, this run is as of 2026-11-01: "
        "run `recpipe interactions --as-of 2026-11-01` first",
    ):
        ctx.check_as_of(catalog.SILVER_INTERACTIONS, date(2026, 10, 31), "recpipe interactions")
