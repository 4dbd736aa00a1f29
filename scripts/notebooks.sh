#!/usr/bin/env bash
# The quantlens notebooks (evcxr, Rust kernel).
#
#   scripts/notebooks.sh              set up, then open JupyterLab on notebooks/01_where_is_s3.ipynb
#   scripts/notebooks.sh --headless   set up, then execute every notebook and write
#                                     target/notebooks/*.html (scripts/check_notebooks.py);
#                                     exit status 1 if any notebook fails or its outputs
#                                     differ from the committed ones
#   scripts/notebooks.sh --headless --write-outputs
#                                     the same, and write the executed notebooks (with
#                                     outputs) back into notebooks/ to be committed
#   scripts/notebooks.sh --headless --matrix
#                                     run the notebooks that take the reader's model on
#                                     other committed models (QUANTLENS_MODEL, ...)
#
# Setup is idempotent:
#   * .venv-notebooks/ (repo root, gitignored) with scripts/requirements-notebooks.txt,
#     reinstalled only when that file changes;
#   * evcxr_jupyter via `cargo install evcxr_jupyter --locked` only if it is not on PATH
#     (or in ~/.cargo/bin);
#   * the `rust` Jupyter kernel via `evcxr_jupyter --install` only if it is missing;
#   * the mold linker (Debian package) when running as root and it is missing: evcxr
#     links every cell with mold when it is on PATH, ~0.3 s faster per cell. Optional:
#     without it (no root, no apt) evcxr uses the system linker.
#
# evcxr builds the crate in a persistent directory (EVCXR_TMPDIR, default
# target/evcxr/tmp), so only the first run compiles quantlens and its dependencies.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-notebooks"
REQ="$ROOT/scripts/requirements-notebooks.txt"
HEADLESS=0
CHECK_ARGS=()
for arg in "$@"; do
    case "$arg" in
        --headless) HEADLESS=1 ;;
        --write-outputs|--matrix|--no-compare) CHECK_ARGS+=("$arg") ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg (use --headless [--write-outputs|--matrix|--no-compare] or nothing)" >&2; exit 2 ;;
    esac
done
if [ "${#CHECK_ARGS[@]}" -gt 0 ] && [ "$HEADLESS" = 0 ]; then
    echo "${CHECK_ARGS[*]} needs --headless" >&2; exit 2
fi

# 1. Python environment for Jupyter.
if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV"
    python3 -m venv "$VENV"
fi
STAMP="$VENV/.requirements-notebooks.sha256"
WANT="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    echo "installing $REQ"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r "$REQ"
    echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$HOME/.cargo/bin:$PATH"

# 2. The evcxr kernel binary.
if ! command -v evcxr_jupyter >/dev/null 2>&1; then
    echo "installing evcxr_jupyter (cargo install evcxr_jupyter --locked; this takes a while)"
    cargo install evcxr_jupyter --locked
fi

# 3. The kernel spec.
if ! jupyter kernelspec list 2>/dev/null | awk '{print $1}' | grep -qx rust; then
    echo "installing the rust kernel spec (evcxr_jupyter --install)"
    evcxr_jupyter --install
fi

# 4. Optional: a faster linker for evcxr's per-cell builds.
if ! command -v mold >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing mold (apt-get; optional, speeds up evcxr's per-cell linking)"
    (apt-get install -y -qq mold >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq mold >/dev/null 2>&1; }) \
        || echo "  mold not installed; evcxr will use the system linker"
fi

# 5. MathJax for the exported pages, offline (Debian's libjs-mathjax).
if [ "$HEADLESS" = 1 ] && [ ! -f "${MATHJAX_DIR:-/usr/share/javascript/mathjax}/MathJax.js" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing libjs-mathjax (apt-get; the exported pages render math offline with it)"
    (apt-get install -y -qq libjs-mathjax >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq libjs-mathjax >/dev/null 2>&1; }) \
        || echo "  libjs-mathjax not installed; set MATHJAX_DIR to a MathJax 2 directory"
fi

export EVCXR_TMPDIR="${EVCXR_TMPDIR:-$ROOT/target/evcxr/tmp}"
# The project's own evcxr config directory (check_notebooks.py: no :cache, which would serve a stale quantlens).
export EVCXR_CONFIG_DIR="${EVCXR_CONFIG_DIR:-$ROOT/target/evcxr/config}"

if [ "$HEADLESS" = 1 ]; then
    exec "$VENV/bin/python" "$ROOT/scripts/check_notebooks.py" "${CHECK_ARGS[@]}"
fi

# Interactive: the same build settings as the headless run (see check_notebooks.py).
"$VENV/bin/python" -c "import sys; sys.path.insert(0, '$ROOT/scripts'); import check_notebooks as c; from pathlib import Path; c.prepare_evcxr_dir(Path('$EVCXR_TMPDIR')); c.prepare_evcxr_config(Path('$EVCXR_CONFIG_DIR'))"
PORT="${PORT:-8888}"
echo "JupyterLab on http://127.0.0.1:$PORT/lab/tree/01_where_is_s3.ipynb"
echo "  (JupyterLab prints the same address with its access token below; PORT=... to change the port)"
echo "  The notebooks share evcxr's build directory: run one notebook's kernel at a time."
EXTRA=()
if [ "$(id -u)" = 0 ]; then EXTRA+=(--allow-root); fi   # containers often run as root
cd "$ROOT/notebooks"
exec jupyter lab --ip 127.0.0.1 --port "$PORT" --ServerApp.port_retries=0 --no-browser "${EXTRA[@]}" "01_where_is_s3.ipynb"
