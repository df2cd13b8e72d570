"""The run's day: one value for the as-of, its exclusive end and the scheduler's run date."""

import argparse
from datetime import UTC, date, datetime

import pytest

from recpipe.run_day import RunDay, add_as_of_arguments, as_of_end, as_of_from_end, requested_day


def test_the_as_of_its_end_and_the_run_date_are_one_value():
    day = RunDay(date(2026, 10, 31))
    assert day.end == datetime(2026, 11, 1, tzinfo=UTC) == as_of_end(date(2026, 10, 31))
    assert day.run_date == date(2026, 11, 1)
    assert RunDay.from_run_date(date(2026, 11, 1)) == day == RunDay.from_end(day.end)
    assert as_of_from_end(datetime(2026, 11, 1)) == date(2026, 10, 31) and str(day) == "2026-10-31"


def test_a_command_line_names_the_day_by_as_of_or_run_date_not_both():
    parser = argparse.ArgumentParser()
    add_as_of_arguments(parser)
    assert requested_day(parser.parse_args(["--as-of", "2026-10-31"])) == RunDay(date(2026, 10, 31))
    assert requested_day(parser.parse_args(["--run-date", "2026-11-01"])) == RunDay(date(2026, 10, 31))
    assert requested_day(parser.parse_args([])) is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--as-of", "2026-10-31", "--run-date", "2026-11-01"])
