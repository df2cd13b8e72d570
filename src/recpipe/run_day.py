"""The run's day, in one place: the as-of (a run covers data up to the end of that day), how a command line names
it (``--as-of D``, or ``--run-date R``: the day a scheduled run starts, whose as-of is the day before, the last
complete day), and how lists carry it (``generated_at``: the as-of's exclusive end, midnight UTC after it)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta


def as_of_end(as_of: date) -> datetime:
    """The exclusive end of an as-of date: midnight UTC after it. Events strictly before it are processed."""
    return datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)


def as_of_from_end(end: datetime) -> date:
    """The as-of date whose exclusive end is ``end`` (the inverse of ``as_of_end``)."""
    return (end - timedelta(days=1)).date()


@dataclass(frozen=True, order=True)
class RunDay:
    """One run's day: ``as_of``, its exclusive ``end`` and the scheduler's ``run_date`` (the day after)."""

    as_of: date

    @classmethod
    def from_run_date(cls, run_date: date) -> RunDay:
        return cls(run_date - timedelta(days=1))

    @classmethod
    def from_end(cls, end: datetime) -> RunDay:
        return cls(as_of_from_end(end))

    @property
    def end(self) -> datetime:
        return as_of_end(self.as_of)

    @property
    def run_date(self) -> date:
        return self.as_of + timedelta(days=1)

    def __str__(self) -> str:
        return self.as_of.isoformat()


def add_as_of_arguments(parser: argparse.ArgumentParser, default_help: str = "") -> None:
    """``--as-of`` or ``--run-date``, one per run: the scheduler passes its run date to every task; `recpipe run`
    passes the as-of it was given or found."""
    when = parser.add_mutually_exclusive_group()
    when.add_argument(
        "--as-of",
        type=date.fromisoformat,
        help=f"the run's as-of day: data up to the end of this day (YYYY-MM-DD){default_help}",
    )
    when.add_argument(
        "--run-date",
        type=date.fromisoformat,
        help="the day the run starts (YYYY-MM-DD); its as-of is the day before, the last complete day",
    )


def requested_day(args: argparse.Namespace) -> RunDay | None:
    """The run's day named on the command line (``--as-of``, or the day before ``--run-date``), None without one."""
    if getattr(args, "as_of", None):
        return RunDay(args.as_of)
    run_date = getattr(args, "run_date", None)
    return RunDay.from_run_date(run_date) if run_date else None
