"""The wheel a registered model carries: the running package as pip installs it, the same bytes for the same code."""

import base64
import hashlib
import subprocess
import sys
import zipfile

from recpipe import model_wheel


def test_the_wheel_is_the_package_with_its_shipped_folders_and_dependencies(tmp_path):
    first = model_wheel.build_wheel((tmp_path / "a").mkdir() or tmp_path / "a")
    second = model_wheel.build_wheel((tmp_path / "b").mkdir() or tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()  # reproducible
    with zipfile.ZipFile(first) as wheel:
        names = set(wheel.namelist())
        assert {
            "recpipe/pyfunc.py",
            "recpipe/_shipped/conf/candidates.yml",
            "recpipe/_shipped/jobs/pipeline.job.yml",
        } <= names
        assert not any("__pycache__" in n for n in names)
        info = first.name.split("-py3")[0] + ".dist-info"
        assert "Requires-Dist: implicit==0.7.3" in wheel.read(f"{info}/METADATA").decode()
        for line in wheel.read(f"{info}/RECORD").decode().splitlines():  # what pip checks on install
            name, digest, size = line.split(",")
            if digest:
                data = wheel.read(name)
                expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
                assert digest == f"sha256={expected}" and int(size) == len(data)
    target = tmp_path / "installed"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(first)], check=True
    )
    probe = "import recpipe.config.shipped as s; print(s.shipped_dir('conf'))"
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == str(target / "recpipe" / "_shipped" / "conf")  # the installed copy, not the checkout
