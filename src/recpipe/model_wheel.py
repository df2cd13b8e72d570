"""The recpipe wheel that travels with a registered model, so ``mlflow.pyfunc.load_model`` works anywhere: built
from the running package (a job cluster's installed wheel, or a checkout's editable install), with the package's
declared dependencies, byte for byte the same for the same code."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import zipfile
from pathlib import Path

import recpipe
from recpipe.config.shipped import shipped_dir

WHEEL_TAG = "py3-none-any"
# A fixed time stamp for every entry: the same code gives the same bytes, whenever it is built
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def wheel_name(version: str) -> str:
    return f"recpipe-{version}-{WHEEL_TAG}.whl"


def _package_files() -> list[tuple[str, bytes]]:
    """The package's files as the wheel lays them out (recpipe/..., recpipe/_shipped/conf, recpipe/_shipped/jobs)."""
    package = Path(recpipe.__file__).parent
    files = {
        f"recpipe/{path.relative_to(package).as_posix()}": path.read_bytes()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    for name in ("conf", "jobs"):  # an editable install reads these from the repository
        folder = shipped_dir(name)
        for path in folder.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                files.setdefault(f"recpipe/_shipped/{name}/{path.relative_to(folder).as_posix()}", path.read_bytes())
    return sorted(files.items())


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(folder: Path) -> Path:
    """Write the running recpipe as a wheel into ``folder`` and return its path."""
    distribution = importlib.metadata.distribution("recpipe")
    version = distribution.version
    info = f"recpipe-{version}.dist-info"
    metadata = [
        (f"{info}/METADATA", (distribution.read_text("METADATA") or "").encode()),
        (f"{info}/entry_points.txt", (distribution.read_text("entry_points.txt") or "").encode()),
        (
            f"{info}/WHEEL",
            f"Wheel-Version: 1.0\nGenerator: recpipe\nRoot-Is-Purelib: true\nTag: {WHEEL_TAG}\n".encode(),
        ),
    ]
    entries = _package_files() + metadata
    record = "\n".join([*(_record_line(n, d) for n, d in entries), f"{info}/RECORD,,"]) + "\n"
    path = folder / wheel_name(version)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name, data in [*entries, (f"{info}/RECORD", record.encode())]:
            entry = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
    return path
