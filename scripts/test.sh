#!/usr/bin/env bash
# Set up (if needed), lint and type-check, then run the whole test suite. pytest exits non-zero when no test ran.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ruff check --quiet src tests benchmarks notebooks
ruff format --check --quiet src tests benchmarks notebooks
mypy
exec python -m pytest "$@"
