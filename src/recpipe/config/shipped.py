"""The folders shipped inside the wheel: ``conf/`` (reference configuration, profiles) and ``jobs/`` (the bundle's
job files). In the repository they are top-level folders; the wheel carries them as ``recpipe/_shipped/<name>``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from recpipe.errors import RecpipeError

ShippedFolder = Literal["conf", "jobs"]


def shipped_dir(name: ShippedFolder) -> Path:
    """The folder from the installed wheel; in an editable install (the package is the repository's ``src/``), the
    repository's own folder, so an edit is seen without reinstalling."""
    packaged = Path(str(resources.files("recpipe"))) / "_shipped" / name
    if packaged.is_dir():
        return packaged
    repository = Path(__file__).resolve().parents[3] / name
    if repository.is_dir() and (repository.parent / "src" / "recpipe").is_dir():
        return repository
    raise RecpipeError(f"recpipe/_shipped/{name} is missing from the installed package: reinstall recpipe")
