#!/usr/bin/env bash
# Set up (if needed), lint and type-check, then run the whole test suite. pytest exits non-zero when no test ran.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ruff check --quiet src tests benchmarks notebooks
ruff format --check --quiet src tests benchmarks notebooks
mypy
# Two workers, each a whole module at a time (module fixtures run once): one worker alone keeps about 1.4 of
# the 2 cores busy (Spark waits on the driver and the driver on Spark), two keep both busy.
exec python -m pytest -n 2 --dist loadfile "$@"
