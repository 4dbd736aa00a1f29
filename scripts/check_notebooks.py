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

Outputs are golden files: the notebooks are committed WITH their outputs, and a
notebook also FAILS when its fresh outputs differ from the committed ones (after
normalizing volatile bits: durations, absolute paths; see `normalized`). After a
deliberate change, `--write-outputs` writes the executed notebooks back into
notebooks/ (then review the diff and commit).

`--matrix` runs instead the environment matrix (MATRIX below): the notebooks that
take the reader's model, with QUANTLENS_MODEL / QUANTLENS_INPUT pointing at other
committed models. Each run fails on an error or stderr output, on no chart, and when
its outputs never name the model it was given. Outputs are not compared there.

The exported HTML reads offline: MathJax comes from Debian's libjs-mathjax
(/usr/share/javascript/mathjax, or MATHJAX_DIR), copied next to the pages as
target/notebooks/mathjax/ (SVG output: no web fonts), and nothing is fetched from a
CDN (require.js, unused by these notebooks, is dropped). Text outputs do not wrap
mid-word: long lines scroll.

Prints each notebook's wall time and, last, exactly `N passed, M failed`. The kernel's
own output (cargo progress, evcxr notices) goes to target/notebooks/<name>.kernel.log.
Exit status 1 if any notebook failed.
"""

from __future__ import annotations

import argparse
import json
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


def prepare_evcxr_config(config_dir: Path) -> None:
    """An EVCXR_CONFIG_DIR of the project's own, so that a user's ~/.config/evcxr/init.evcxr
    cannot change the notebooks' outputs.

    It holds no `:cache` on purpose: evcxr's cache keys a crate's compiled output on the
    rustc command line only, not on its sources, and caches every non-incremental crate,
    quantlens included (incremental = false above), so an edited quantlens would be
    served from the cache stale. The persistent build directory already keeps the
    dependencies compiled, and cargo rebuilds quantlens when its sources change.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    init = config_dir / "init.evcxr"
    want = ""  # empty: evcxr_jupyter runs this file at start-up, and code would cost a build
    if not init.exists() or init.read_text() != want:
        init.write_text(want)


# The environment matrix: (model stem, notebooks that must run on it). The input is
# the model's committed held-out images. Add a notebook here once it reads the
# QUANTLENS_* variables (notebook::Setup::from_env).
MATRIX: list[tuple[str, list[str]]] = [
    ("mlp_legacy_uint8", ["01_where_is_s3", "02_one_mnist_image", "04_scales_and_zero_points", "05_rounding_and_runtimes", "07_to_hardware"]),
    ("cnn_ptq_int8", ["01_where_is_s3", "02_one_mnist_image", "04_scales_and_zero_points", "05_rounding_and_runtimes", "07_to_hardware"]),
    ("resnet_ptq_int8", ["08_convolution_step_through"]),
]

ENV_VARS = ("QUANTLENS_MODEL", "QUANTLENS_INPUT", "QUANTLENS_LABELS", "QUANTLENS_FLOAT_MODEL", "QUANTLENS_SAMPLE")


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


DURATION = re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:ns|µs|us|ms|s|seconds|min)\b")


def normalized(text: str) -> str:
    """An output text without what changes from run to run: durations and absolute paths."""
    text = ANSI.sub("", text).replace(str(ROOT), "<root>")
    return DURATION.sub("<time>", text)


def outputs_of(nb) -> list[list[dict]]:
    """Every code cell's outputs, normalized, for comparison."""
    cells = []
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        outs = []
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream":
                text = normalized("".join(out.get("text", "")))
                # The kernel may split one cell's printed text into several stream
                # messages, differently from run to run: compare the joined text.
                if outs and outs[-1].get("stream") == out.get("name"):
                    outs[-1]["text"] += text
                else:
                    outs.append({"stream": out.get("name"), "text": text})
            elif kind in ("display_data", "execute_result"):
                data = out.get("data", {})
                outs.append({k: normalized("".join(v) if isinstance(v, list) else str(v)) for k, v in sorted(data.items())})
            elif kind == "error":
                outs.append({"error": out.get("ename", "")})
        cells.append(outs)
    return cells


def stale(fresh, committed) -> list[str]:
    """How the fresh outputs differ from the committed ones (empty: identical)."""
    a, b = outputs_of(committed), outputs_of(fresh)
    if not any(a):
        return ["the committed notebook has no outputs (run scripts/notebooks.sh --headless --write-outputs and commit)"]
    if len(a) != len(b):
        return [f"{len(b)} code cells now, {len(a)} committed"]
    import difflib
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            xs = json.dumps(x, indent=0, ensure_ascii=False).splitlines()
            ys = json.dumps(y, indent=0, ensure_ascii=False).splitlines()
            diff = [l for l in difflib.unified_diff(xs, ys, "committed", "fresh", n=0, lineterm="") if not l.startswith(("---", "+++", "@@"))]
            return [f"code cell {i}: outputs differ from the committed ones (--write-outputs to accept):\n" + "\n".join(d[:200] for d in diff[:12])]
    return []


def clean_for_commit(nb) -> None:
    """Drop per-run metadata (timestamps) before the notebook is written back."""
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                out["text"] = ANSI.sub("", "".join(out.get("text", "")))


MATHJAX_PARTS = ["MathJax.js", "config", "extensions", "jax/input/TeX", "jax/output/SVG", "jax/element", "localization/en"]


def local_mathjax(out_dir: Path) -> str:
    """Copy Debian's MathJax (the parts the pages use) to out_dir/mathjax; return the script URL."""
    src = Path(os.environ.get("MATHJAX_DIR", "/usr/share/javascript/mathjax"))
    if not (src / "MathJax.js").is_file():
        raise SystemExit(f"MathJax not found in {src} (Debian: apt-get install libjs-mathjax, or set MATHJAX_DIR)")
    dst = out_dir / "mathjax"
    if not (dst / "MathJax.js").is_file():
        import shutil
        for part in MATHJAX_PARTS:
            s, d = src / part, dst / part
            if s.is_dir():
                shutil.copytree(s, d, dirs_exist_ok=True)
            elif s.is_file():
                d.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(s, d)
    return "mathjax/MathJax.js?config=TeX-AMS_SVG-full,Safe"


OFFLINE_CSS = """<style>
/* quantlens: long output lines scroll instead of wrapping mid-word; charts scale (nbconvert
   puts an SVG output in an <img>, which JupyterLab's own rule for .jp-RenderedSVG svg misses). */
.jp-RenderedText pre, .jp-OutputArea-output pre { white-space: pre; word-break: normal; overflow-wrap: normal; overflow-x: auto; }
.jp-RenderedSVG svg, .jp-OutputArea-output svg, .jp-RenderedSVG img, .jp-OutputArea-output img { max-width: 100%; height: auto; }
</style>
"""


def to_html(nb, mathjax_url: str) -> str:
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter(mathjax_url=mathjax_url).from_notebook_node(nb)
    # require.js from a CDN serves ipywidgets, which no notebook here uses.
    html = re.sub(r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/[^"]*"></script>\s*', "", html)
    return html.replace("</head>", OFFLINE_CSS + "</head>", 1)


def run_one(path: Path, out_dir: Path, timeout: int, mathjax_url: str = "", env: dict | None = None,
            compare: bool = False, write_back: bool = False, must_name: str | None = None,
            stem: str | None = None) -> tuple[bool, float, list[str]]:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    committed = nbformat.read(path, as_version=4) if compare else None
    saved = {k: os.environ.get(k) for k in ENV_VARS}
    for k in ENV_VARS:
        os.environ.pop(k, None)
    os.environ.update(env or {})
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
    log_path = out_dir / f"{stem or path.stem}.kernel.log"
    with open(log_path, "w") as log:
        try:
            client.execute(stdout=log, stderr=log)
        except Exception as e:  # timeout, dead kernel, ...
            problems.append(f"execution failed: {type(e).__name__}: {clean(str(e))} (kernel log: {log_path})")
    finally_restore(saved)
    elapsed = time.monotonic() - start
    problems += problems_of(nb)
    if must_name and must_name not in json.dumps(outputs_of(nb)):
        problems.append(f"no output names the model {must_name}")
    if committed is not None and not problems:
        problems += stale(nb, committed)
    stem = stem or path.stem
    (out_dir / f"{stem}.html").write_text(to_html(nb, mathjax_url), encoding="utf-8")
    clean_for_commit(nb)
    nbformat.write(nb, out_dir / f"{stem}.ipynb")
    if write_back and not problems_of(nb):
        nbformat.write(nb, path)
    return not problems, elapsed, problems


def finally_restore(saved: dict) -> None:
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800: the first cell may compile the crate)")
    ap.add_argument("--out", type=Path, default=ROOT / "target" / "notebooks", help="where the executed HTML goes")
    ap.add_argument("--write-outputs", action="store_true", help="write the executed notebooks (with outputs) back into notebooks/")
    ap.add_argument("--no-compare", action="store_true", help="do not compare outputs with the committed ones")
    ap.add_argument("--matrix", action="store_true", help="run the environment matrix (other models) instead")
    args = ap.parse_args()

    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not notebooks:
        print("no notebooks found")
        print("0 passed, 0 failed")
        return 1

    tmpdir = Path(os.environ.get("EVCXR_TMPDIR") or ROOT / "target" / "evcxr" / "tmp").resolve()
    os.environ["EVCXR_TMPDIR"] = str(tmpdir)
    prepare_evcxr_dir(tmpdir)
    config_dir = Path(os.environ.get("EVCXR_CONFIG_DIR") or ROOT / "target" / "evcxr" / "config").resolve()
    os.environ["EVCXR_CONFIG_DIR"] = str(config_dir)
    prepare_evcxr_config(config_dir)

    jobs = []  # (notebook, env, model stem or None)
    if args.matrix:
        args.out = args.out / "matrix"
        by_name = {p.stem: p for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}
        wanted = {p.resolve().stem for p in args.notebooks} if args.notebooks else None
        for stem, names in MATRIX:
            env = {"QUANTLENS_MODEL": str(ROOT / "data" / "models" / f"{stem}.tflite"),
                   "QUANTLENS_INPUT": str(ROOT / "data" / "goldens" / stem / "input.npy")}
            for name in names:
                if name in by_name and (wanted is None or name in wanted):
                    jobs.append((by_name[name], env, stem))
    else:
        jobs = [(p, {}, None) for p in notebooks]
    args.out.mkdir(parents=True, exist_ok=True)
    mathjax_url = local_mathjax(args.out)

    passed = failed = 0
    for nb_path, env, stem in jobs:
        nb_path = nb_path.resolve()
        name = f"{nb_path.stem}.{stem}" if stem else nb_path.stem
        ok, elapsed, problems = run_one(nb_path, args.out, args.timeout, mathjax_url, env,
                                        compare=not (args.matrix or args.write_outputs or args.no_compare),
                                        write_back=args.write_outputs and not args.matrix,
                                        must_name=stem, stem=name)
        status = "ok  " if ok else "FAIL"
        print(f"{status} {name}  {elapsed:6.1f} s  -> {args.out / (name + '.html')}", flush=True)
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
