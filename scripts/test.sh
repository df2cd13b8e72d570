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
if [ $# -gt 0 ]; then
  exec python -m pytest -n 2 --dist loadfile "$@"
fi
# PyTorch is optional for users (the two towers' GPU loop): the module that tests that loop runs last, with
# PyTorch from its own folder, installed while the rest of the suite runs.
torch_tests=tests/models/test_two_tower_torch.py
start_torch_install &
torch_install=$!
status=0
python -m pytest -n 2 --dist loadfile --ignore "$torch_tests" || status=$?
wait "$torch_install" || { echo "[test] installing PyTorch into $TORCH_DIR failed: see $TORCH_DIR.log" >&2; exit 1; }
PYTHONPATH="$TORCH_DIR" RECPIPE_TEST_TORCH=required python -m pytest -p no:cacheprovider "$torch_tests" || status=$?
exit "$status"
