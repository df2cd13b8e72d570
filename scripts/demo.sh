#!/usr/bin/env bash
# Set up (if needed) and run the whole pipeline locally on generated data (`recpipe run`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec recpipe run "$@"
