"""The package's modules form no import cycle (module-level or deferred imports alike), and each imports alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The recpipe modules a file imports anywhere (functions included), except under ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if _type_checking_only(node) for n in ast.walk(node)}
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    # importing a.b.c first runs the __init__ of a and a.b: an edge to each, except the importer's own packages
    # (initialised before the importer runs)
    own = set(_ancestors(module_name(path)))
    found |= {parent for name in found for parent in _ancestors(name) if parent in known and parent not in own}
    return found


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in SRC.rglob("*.py")}
    known = set(files)
    return {m: (imported_modules(p, known) - {m}) for m, p in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    graph = import_graph()
    assert {"recpipe.cli", "recpipe.dag", "recpipe.models.registry"} <= set(graph)
    assert cycles(graph) == []


# Each module is imported in a child forked from an interpreter that has loaded only these third-party libraries
# (what costs seconds per import), never a recpipe module: an import order problem inside recpipe still shows.
THIRD_PARTY = ("numpy", "pandas", "pyarrow", "scipy", "pyspark.sql", "mlflow", "great_expectations", "lightgbm",
               "implicit", "redis", "yaml", "pydantic", "matplotlib.pyplot")  # fmt: skip
FORKED_IMPORTS = """
import importlib, os, sys, traceback
for library in sys.argv[1].split(","):
    try:
        importlib.import_module(library)
    except ImportError:
        pass  # an optional library: the module that needs it says so itself
assert not [m for m in sys.modules if m.split(".")[0] == "recpipe"]
print(f"checking {len(sys.argv) - 2} modules", file=sys.stderr)
running = 0
for module in sys.argv[2:]:
    if running == os.cpu_count():
        os.wait()
        running -= 1
    if os.fork() == 0:
        try:
            importlib.import_module(module)
        except BaseException:
            print(f"FAILED {module}", file=sys.stderr)
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    running += 1
while running:
    os.wait()
    running -= 1
"""


@pytest.mark.slow
def test_every_module_imports_on_its_own(tmp_path):
    """Each module in its own interpreter, forked before any recpipe import: an import that only works after another
    module was imported fails."""
    modules = sorted(import_graph())
    # A script file, not `python -c`: under -c pyspark.sql.connect (which Great Expectations imports) takes the
    # interpreter for a doctest run and exits 0 on the spot when grpc is absent, which would pass every module
    script = tmp_path / "import_each.py"
    script.write_text(FORKED_IMPORTS)
    result = subprocess.run([sys.executable, script, ",".join(THIRD_PARTY), *modules], capture_output=True, text=True)
    assert f"checking {len(modules)} modules" in result.stderr, result.stderr[-3000:]  # it got past the libraries
    assert result.returncode == 0 and "FAILED" not in result.stderr, result.stderr[-3000:]
