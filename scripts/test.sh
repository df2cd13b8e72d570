#!/usr/bin/env bash
# Set up (if needed), lint and type-check, then run the whole test suite. pytest exits non-zero when no test ran.
# With arguments, pytest runs with them alone (one module, -k, ...).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ruff check --quiet src tests benchmarks notebooks
ruff format --check --quiet src tests benchmarks notebooks
mypy
# Two workers, each a whole module at a time (module fixtures run once): one worker alone keeps about 1.4 of
# the 2 cores busy (Spark waits on the driver and the driver on Spark), two keep both busy.
# PyTorch is optional for users (the two towers' GPU loop); its test module imports it from ./.torch.
torch_failed() { echo "[test] installing PyTorch into $TORCH_DIR failed: see $TORCH_DIR.log" >&2; exit 1; }
if [ $# -gt 0 ]; then
  start_torch_install || torch_failed
  exec python -m pytest -n 2 --dist loadfile "$@"
fi
# The whole suite: PyTorch installs while the rest runs, and the module that needs it runs last.
torch_tests=tests/models/test_two_tower_torch.py
start_torch_install &
torch_install=$!
status=0
python -m pytest -n 2 --dist loadfile --ignore "$torch_tests" || status=$?
wait "$torch_install" || torch_failed
python -m pytest -p no:cacheprovider "$torch_tests" || status=$?
exit "$status"
