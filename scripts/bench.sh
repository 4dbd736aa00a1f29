#!/usr/bin/env bash
# One command: quantlens vs LiteRT (XNNPACK, builtin, ref) vs TFLite Micro, same models, same 1000 images.
#   bash scripts/bench.sh [--rounds N] [--models a,b] [--json out.json]
# Python: $PYTHON if set, else .venv-bench (created from scripts/requirements-check.txt on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ ! -x .venv-bench/bin/python ]; then
    echo "creating .venv-bench from scripts/requirements-check.txt ..." >&2
    python3 -m venv .venv-bench
    .venv-bench/bin/pip install -q -r scripts/requirements-check.txt
  fi
  PYTHON=.venv-bench/bin/python
fi
exec "$PYTHON" scripts/bench.py "$@"
