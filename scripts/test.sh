#!/usr/bin/env bash
# Every test of quantlens, on a fresh machine (Rust toolchain + Python 3.11 + pip):
#   1. cargo test: the engine against the committed goldens (every op-produced tensor,
#      1 000 images, every profile), the reader, the CLI, the arithmetic. No Python needed.
#   2. the committed goldens re-checked against the real runtimes (LiteRT, TFLite Micro
#      from PyPI, in their own venv; no TensorFlow).
#   3. every notebook executed headless; fails on any error or stderr output, or on outputs
#      that differ from the committed ones; then the notebooks that take the reader's model
#      run on other committed models (the environment matrix).
#   4. the pages in headless Chromium: `quantlens report` of every committed quantized model
#      (written by tests/report.rs in step 1) and the notebooks' HTML: no page error, no
#      console error, no request leaving the file, no blank screenshot, no raw TeX.
set -euo pipefail
cd "$(dirname "$0")/.."

# iverilog and Verilator simulate the Verilog export's testbenches, Yosys synthesizes its
# datapath (tests/export.rs, tests/export_rtl.rs): Debian packages, installed when missing.
missing=""
for tool in iverilog verilator yosys; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing$missing (Debian)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null) || echo "warning: could not install$missing; tests/export_rtl.rs will fail and say which"
fi

# chromium runs the browser check (step 4), libjs-mathjax renders the notebook pages' math offline.
for pkg in chromium libjs-mathjax; do
  probe="$pkg"; [ "$pkg" = libjs-mathjax ] && probe=/usr/share/javascript/mathjax/MathJax.js
  if { [ "$pkg" = chromium ] && ! command -v chromium >/dev/null 2>&1; } || { [ "$pkg" = libjs-mathjax ] && [ ! -f "$probe" ]; }; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "== installing $pkg (Debian)"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null) || echo "warning: could not install $pkg"
    fi
  fi
done

echo "== 1/4 cargo test (release)"
cargo test --release

echo "== 2/4 goldens re-checked against LiteRT and TFLite Micro"
if [ ! -x .venv-check/bin/python ] || ! .venv-check/bin/python -c "import ai_edge_litert, tflite_micro" 2>/dev/null; then
  python3 -m venv .venv-check
  .venv-check/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-check.txt
fi
.venv-check/bin/python scripts/check_goldens.py
# issue 14's op list × int8/uint8/float32: a committed proof and a SUPPORTED_OPS.md row for each
.venv-check/bin/python scripts/audit_ops.py --quantlens target/release/quantlens

echo "== 3/4 notebooks (headless): outputs equal the committed ones; then other models"
bash scripts/notebooks.sh --headless
bash scripts/notebooks.sh --headless --matrix

echo "== 4/4 reports and notebook pages in headless Chromium"
python3 scripts/browser_check.py --reports
python3 scripts/browser_check.py --notebooks
