#!/usr/bin/env bash
# How long a notebook takes to run headless, cold and warm, and how much of that is
# evcxr's own fixed cost.
#
#   bash scripts/notebook_timing.sh [NOTEBOOK]      (default notebooks/02_one_mnist_image.ipynb)
#
# Needs the setup `scripts/notebooks.sh` does (run it once first). Prints:
#   cold   NOTEBOOK in a new, empty evcxr build directory with an empty evcxr cache:
#          the first run on a fresh machine, compiling quantlens and its dependencies;
#   warm   NOTEBOOK again in that directory, in a new kernel ("restart kernel and
#          run all": what every later headless run costs);
#   rerun  all of NOTEBOOK's cells run a second time in the same, still running kernel
#          ("run all" while working in JupyterLab);
#   floor  a one-cell notebook (`:dep quantlens`, open the model, one chart) in the same
#          warm directory: evcxr's start-up, its rust-analyzer pass over the standard
#          library and the dependency graph, one cell build — the part of `warm` that
#          no notebook content can remove;
#   load   the 1-minute load average before and after (compare timings only from a
#          quiet machine).
# Times are check_notebooks.py's (kernel start to last cell).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NB="$(realpath "${1:-$ROOT/notebooks/02_one_mnist_image.ipynb}")"
PY="$ROOT/.venv-notebooks/bin/python"
[ -x "$PY" ] || { echo "run scripts/notebooks.sh once first (it creates .venv-notebooks)" >&2; exit 2; }
export PATH="$ROOT/.venv-notebooks/bin:$HOME/.cargo/bin:$PATH"

WORK="$(mktemp -d /tmp/quantlens-timing.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export EVCXR_TMPDIR="$WORK/evcxr/tmp"
export XDG_CACHE_HOME="$WORK/cache"     # evcxr's :cache lives under it: start empty

# Seconds of one headless run (fails if the notebook fails).
seconds() {
    "$PY" "$ROOT/scripts/check_notebooks.py" --out "$WORK/out" "$1" >"$WORK/log" 2>&1 || { cat "$WORK/log" >&2; exit 1; }
    awk '/^ok/ { print $3 }' "$WORK/log"
}

# The one-cell notebook.
mkdir -p "$WORK/nb"
"$PY" - "$WORK/nb/floor.ipynb" "$ROOT" <<'EOF'
import sys, nbformat
root = sys.argv[2]
nb = nbformat.v4.new_notebook()
nb.cells = [nbformat.v4.new_code_cell(
    f':dep quantlens = {{ path = "{root}", default-features = false, features = ["charts"] }}\n'
    ':cache 500\n\n'
    'use quantlens::{charts, io, lessons, Profile};\n'
    f'let plan = lessons::open_plan("{root}/data", "mlp_ptq_uint8io", Profile::TfliteRef)?;\n'
    f'let images = io::read_samples(lessons::input_path("{root}/data", "mlp_ptq_uint8io"))?;\n'
    'let trace = plan.run(&images.sample(0))?;\n'
    'charts::int_histogram("image 0: model output integers", "q", &trace.value(plan.output()).unwrap().to_i64_vec().unwrap(), (0, 255), &[])')]
nb.metadata["kernelspec"] = {"name": "rust", "display_name": "Rust", "language": "rust"}
nbformat.write(nb, sys.argv[1])
EOF

# Seconds of a second "run all" in a kernel that has already run the notebook once.
rerun() {
    "$PY" - "$1" <<'EOF'
import sys, time, pathlib, nbformat
from jupyter_client.manager import start_new_kernel
path = pathlib.Path(sys.argv[1])
cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
km, kc = start_new_kernel(kernel_name="rust", cwd=str(path.parent))
def run_all():
    start, problems = time.monotonic(), []
    for src in cells:
        msg_id = kc.execute(src)
        while True:
            m = kc.get_iopub_msg(timeout=600)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "error" or (m["msg_type"] == "stream" and m["content"]["name"] == "stderr"):
                problems.append(m["content"])
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
    if problems:
        sys.exit(f"cell errors: {problems}")
    return time.monotonic() - start
try:
    run_all()
    print(f"{run_all():.1f}")
finally:
    km.shutdown_kernel(now=True)
EOF
}

load() { cut -d' ' -f1 /proc/loadavg; }
L0="$(load)"
echo "cold   $(seconds "$NB") s   $(basename "$NB")"
echo "warm   $(seconds "$NB") s   $(basename "$NB")"
echo "rerun  $(rerun "$NB" | tail -1) s   $(basename "$NB"), run all again in the same kernel"
echo "floor  $(seconds "$WORK/nb/floor.ipynb") s   one-cell notebook"
echo "load   $L0 -> $(load)"
