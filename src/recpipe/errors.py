"""The project's error types. A ``RecpipeError`` is something the person running a job can fix (a config value,
a missing input, bad data): the command line reports it in one line and exits 2. Anything else is a bug or an
outage: it exits 1 with its traceback."""

from __future__ import annotations


class RecpipeError(Exception):
    """A problem the user can fix; the message says what and where."""


class MissingInputError(RecpipeError, LookupError):
    """An input the job needs (a table, a model version, a run) does not exist yet."""


class MissingTableError(RecpipeError, FileNotFoundError):
    """A table the job reads does not exist: the job that writes it has not run."""


class ExistingDataError(RecpipeError, FileExistsError):
    """A command would overwrite data it did not create."""


class PromotionRefusedError(RecpipeError, PermissionError):
    """A model version asked to become champion did not pass its promotion gate."""
