#!/usr/bin/env bash
# Metaverse Search in two commands:
#   ./run.sh          set up a virtualenv (first time / when requirements change) and start the app on :7860
#   ./run.sh test     set up (with test tools) and run the whole test suite, browser tests included
# Anything after the command is passed on (to app.py, or to pytest).
set -euo pipefail
cd "$(dirname "$0")"
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False PIP_DISABLE_PIP_VERSION_CHECK=1
# Two malloc arenas instead of glibc's 8 per core: under bursts of threads RSS grew 7.4 % after warm-up with the
# default and 3.8 % with this (python -m backend soak, BENCHMARKS.md); latency was the same.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"

setup() {  # $1 = requirements file
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  local want stamp="$VENV/.installed-$1"   # one stamp per requirements file: app and test set-ups don't undo each other
  want="$(cat requirements.txt "$1" | sha256sum | cut -c1-16)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "[run.sh] installing $1 into $VENV (first run takes a few minutes)…" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip >&2
    "$VENV/bin/python" -m pip install -q -r "$1" >&2
    "$VENV/bin/python" -m backend build text-graph >&2   # MiniLM for ONNX Runtime, once, into .cache/
    echo "$want" > "$stamp"
  fi
}

case "${1:-app}" in
  test)
    shift
    setup requirements-dev.txt
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  setup)
    setup requirements-dev.txt
    ;;
  app|*)
    [ "${1:-}" = app ] && shift
    setup requirements.txt
    exec "$VENV/bin/python" app.py "$@"
    ;;
esac
