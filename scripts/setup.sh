#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian-like machine: Java, redis-server, a virtual environment with recpipe.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (it only does what is missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

apt_install() {
  local runner=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then runner=(sudo -n); else return 1; fi
  fi
  command -v apt-get >/dev/null || return 1
  log "apt-get install $*"
  "${runner[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  "${runner[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  log "Python >= 3.11 is required (found $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11"; exit 1; }

if ! command -v java >/dev/null && [ -z "${JAVA_HOME:-}" ]; then
  apt_install openjdk-17-jre-headless || { log "Java 17 is required: install openjdk-17-jre-headless or set JAVA_HOME"; exit 1; }
fi

if ! command -v redis-server >/dev/null; then
  if ! apt_install redis-server; then
    if [ -n "${REDIS_URL:-}" ]; then
      log "no redis-server here; using REDIS_URL for the pipeline"
    else
      log "redis-server is missing and cannot be installed (needs root or sudo with apt-get)."
      log "Install it (apt-get install redis-server) or set REDIS_URL=redis://host:port/0 to use an existing Redis."
      exit 1
    fi
  fi
fi

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PYTHON" -m venv .venv
fi
# Reinstall only when the package definition changed.
stamp=.venv/.recpipe-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "installing recpipe, the local Spark stack (extra local) and the test tools into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[local,dev]"
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"

# PyTorch for the tests of the two towers' GPU loop (optional for users; PyPI's Linux wheel brings its CUDA
# libraries, about 4.6 GB), in its own folder so the project's environment stays as users install it.
TORCH_DIR="$PWD/.torch"
TORCH_VERSION=2.11.0
start_torch_install() {
  if PYTHONPATH="$TORCH_DIR" .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    return 0
  fi
  log "installing PyTorch $TORCH_VERSION into $TORCH_DIR (in the background; log: $TORCH_DIR.log)"
  rm -rf "$TORCH_DIR"
  .venv/bin/python -m pip install -q --disable-pip-version-check --target "$TORCH_DIR" "torch==$TORCH_VERSION" >"$TORCH_DIR.log" 2>&1
}
