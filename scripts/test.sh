#!/usr/bin/env bash
# Every test of quantlens, on a fresh machine (Rust toolchain + Python 3.11 + pip):
#   1. cargo test: the engine against the committed goldens (every op-produced tensor,
#      1 000 images, every profile), the reader, the CLI, the arithmetic. No Python needed.
#   2. the committed goldens re-checked against the real runtimes (LiteRT, TFLite Micro
#      from PyPI, in their own venv; no TensorFlow).
#   3. every notebook executed headless; fails on any error or stderr output.
set -euo pipefail
cd "$(dirname "$0")/.."

# iverilog simulates the Verilog export's self-checking testbench (tests/export.rs).
if ! command -v iverilog >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing iverilog (Debian)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null) || echo "warning: could not install iverilog; the Verilog testbench will not be simulated"
fi

echo "== 1/3 cargo test (release)"
cargo test --release

echo "== 2/3 goldens re-checked against LiteRT and TFLite Micro"
if [ ! -x .venv-check/bin/python ] || ! .venv-check/bin/python -c "import ai_edge_litert, tflite_micro" 2>/dev/null; then
  python3 -m venv .venv-check
  .venv-check/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-check.txt
fi
.venv-check/bin/python scripts/check_goldens.py

echo "== 3/3 notebooks (headless)"
bash scripts/notebooks.sh --headless
