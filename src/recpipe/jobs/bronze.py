"""Who may write the bronze tables: `recpipe generate` and `recpipe ingest` never overwrite data they did not create."""

from __future__ import annotations

from recpipe import catalog
from recpipe.errors import ExistingDataError
from recpipe.tables import Tables


def writer_note(job: str) -> str:
    """The note a recpipe command leaves in the commits of the bronze tables it writes."""
    return f"recpipe {job}"


WRITERS = frozenset(writer_note(job) for job in ("generate", "ingest"))


def check_bronze_writable(tables: Tables, job: str, replace: bool) -> None:
    """Raise unless the bronze tables are absent, or ``replace`` is asked and recpipe wrote every existing one."""
    existing = [name for name in catalog.BRONZE if tables.exists(name)]
    if not existing:
        return
    if not replace:
        raise ExistingDataError(
            f"{', '.join(existing)} already exist: `recpipe {job}` keeps them "
            f"(pass --replace to overwrite tables written by recpipe generate or ingest)"
        )
    foreign = [name for name in existing if tables.last_writer(name) not in WRITERS]
    if foreign:
        raise ExistingDataError(
            f"{', '.join(foreign)} were not written by recpipe generate or ingest: never overwritten; "
            f"point RECPIPE_DATA_DIR (or RECPIPE_CATALOG) elsewhere to generate data"
        )
