#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite. pytest exits non-zero when no test ran.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec python -m pytest "$@"
