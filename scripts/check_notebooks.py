#!/usr/bin/env python3
"""Execute the evcxr (Rust) notebooks and fail on anything that went wrong.

    .venv-notebooks/bin/python scripts/check_notebooks.py [NOTEBOOK ...]

Runs every notebook (default: notebooks/*.ipynb, in name order) with
nbclient on the `rust` kernel (evcxr_jupyter), with the notebook's directory
as the working directory, and writes the executed notebook as HTML to
target/notebooks/<name>.html.

A notebook FAILS when
  * any cell has an `error` output (compile errors, `?` errors evcxr turns
    into errors, kernel errors), or
  * any cell has a `stream` output named `stderr` (evcxr reports panics and
    runtime errors only on stderr, which nbclient does not treat as failure), or
  * no cell produced an `image/svg+xml` output (every notebook shows a chart), or
  * execution itself failed (timeout, dead kernel).

evcxr's build directory is persistent (EVCXR_TMPDIR, default target/evcxr/tmp)
so that the quantlens crate and its dependencies are compiled once and reused;
target/evcxr/.cargo/config.toml compiles quantlens with opt-level 2 and
everything else (its dependencies, the small per-cell crates) without
optimization, so that the first, cold run is mostly quantlens's own build;
the repository's Cargo.lock is copied into the build directory so the
notebooks use the dependency versions the tests use.

Prints each notebook's wall time and, last, exactly `N passed, M failed`. The kernel's
own output (cargo progress, evcxr notices) goes to target/notebooks/<name>.kernel.log.
Exit status 1 if any notebook failed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CARGO_CONFIG = """\
# Written by scripts/check_notebooks.py for evcxr's build directory below.
# Only quantlens, where the notebooks' arithmetic runs, is optimized. Every
# other crate (ndarray, plotters, the npy/zip readers, and the proc-macro and
# build-script crates behind them) and the small per-cell crates evcxr compiles
# are built without optimization: the first run compiles them all, and on a
# 2-core machine that build is most of a cold notebook run.
[profile.dev]
opt-level = 0
# Not even the thin "local" LTO cargo runs by default between a crate's codegen
# units: for quantlens at opt-level 2 it is 40 % of the compile time.
lto = "off"

[profile.dev.package.quantlens]
opt-level = 2
incremental = false
codegen-units = 4
"""


def prepare_evcxr_dir(tmpdir: Path) -> None:
    """Create EVCXR_TMPDIR, the cargo config in its parent, and seed its Cargo.lock.

    evcxr resolves the notebooks' `:dep quantlens = { path = ".." }` in a crate of its
    own, which would otherwise pick the newest version of every dependency. Copying
    the repository's Cargo.lock there makes the notebooks build with exactly the
    versions the tests ran with (cargo adds evcxr's own crate to it).
    """
    tmpdir.mkdir(parents=True, exist_ok=True)
    cfg = tmpdir.parent / ".cargo" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    if not cfg.exists() or cfg.read_text() != CARGO_CONFIG:
        cfg.write_text(CARGO_CONFIG)
    lock = (ROOT / "Cargo.lock").read_text()
    seeded = tmpdir / "Cargo.lock"
    stamp = tmpdir / ".Cargo.lock.seeded-from"
    if not seeded.exists() or not stamp.exists() or stamp.read_text() != lock:
        seeded.write_text(lock)
        stamp.write_text(lock)


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def clean(text: str, limit: int = 800) -> str:
    """Without terminal colours, cut to `limit` characters."""
    text = ANSI.sub("", text).strip()
    return text if len(text) <= limit else text[:limit] + " …"


def problems_of(nb) -> list[str]:
    """Every error / stderr output of an executed notebook, and a missing chart."""
    problems = []
    svg = 0
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        stderr = ""
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "error":
                problems.append(f"cell {i}: error: {clean(out.get('evalue', '') or chr(10).join(out.get('traceback', [])))}")
            elif kind == "stream" and out.get("name") == "stderr":
                stderr += "".join(out.get("text", ""))
            elif kind in ("display_data", "execute_result") and "image/svg+xml" in out.get("data", {}):
                svg += 1
        if stderr:
            problems.append(f"cell {i}: stderr: {clean(stderr)}")
    if svg == 0:
        problems.append("no image/svg+xml output (every notebook must show a chart)")
    return problems


def run_one(path: Path, out_dir: Path, timeout: int) -> tuple[bool, float, list[str]]:
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="rust",
        timeout=timeout,
        startup_timeout=120,
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.monotonic()
    problems: list[str] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    # The kernel process's own output (cargo's "Compiling ...", evcxr notices) goes to a log.
    log_path = out_dir / f"{path.stem}.kernel.log"
    with open(log_path, "w") as log:
        try:
            client.execute(stdout=log, stderr=log)
        except Exception as e:  # timeout, dead kernel, ...
            problems.append(f"execution failed: {type(e).__name__}: {clean(str(e))} (kernel log: {log_path})")
    elapsed = time.monotonic() - start
    problems += problems_of(nb)
    html, _ = HTMLExporter().from_notebook_node(nb)
    (out_dir / f"{path.stem}.html").write_text(html, encoding="utf-8")
    nbformat.write(nb, out_dir / f"{path.stem}.ipynb")
    return not problems, elapsed, problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800: the first cell may compile the crate)")
    ap.add_argument("--out", type=Path, default=ROOT / "target" / "notebooks", help="where the executed HTML goes")
    args = ap.parse_args()

    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not notebooks:
        print("no notebooks found")
        print("0 passed, 0 failed")
        return 1

    tmpdir = Path(os.environ.get("EVCXR_TMPDIR") or ROOT / "target" / "evcxr" / "tmp").resolve()
    os.environ["EVCXR_TMPDIR"] = str(tmpdir)
    prepare_evcxr_dir(tmpdir)

    passed = failed = 0
    for nb_path in notebooks:
        nb_path = nb_path.resolve()
        ok, elapsed, problems = run_one(nb_path, args.out, args.timeout)
        status = "ok  " if ok else "FAIL"
        print(f"{status} {nb_path.name}  {elapsed:6.1f} s  -> {args.out / (nb_path.stem + '.html')}", flush=True)
        for p in problems:
            print("     " + p.replace("\n", "\n     "), flush=True)
        if ok:
            passed += 1
        else:
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
