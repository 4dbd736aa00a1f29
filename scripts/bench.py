#!/usr/bin/env python3
"""quantlens vs LiteRT vs TFLite Micro, in one run, on the committed models and 1000 images.

Usage (from the repository root; `bash scripts/bench.sh` sets up Python first):

    python scripts/bench.py [--rounds 5] [--models mlp_ptq_int8_per_tensor,mlp_ptq_uint8io] [--json out.json]

Rounds alternate between the Rust bench binary (benches/speed.rs, built here
with `cargo bench --no-run`) and the Python interpreters, so both see the same
machine load; each figure is the median over all repetitions of all rounds,
in microseconds per image. LiteRT runs with num_threads=1:

  * XNNPACK  = the default resolver (XNNPACK delegate),
  * builtin  = BUILTIN_WITHOUT_DEFAULT_DELEGATES (optimized kernels),
  * ref      = BUILTIN_REF (reference kernels),
  * TFLM     = tflite_micro's Python interpreter (single image only).

single = one image per invoke over the 1000 images. For LiteRT that is the
time of `invoke()` alone (the input copy `set_tensor` is reported apart and
left out, which favours LiteRT); for quantlens a reused Workspace::run
(input copy included). batched = all 1000 images at once: LiteRT's input
resized to (1000, ...) and one invoke; quantlens run_batch_outputs.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNTIME_PROFILE = {"xnnpack": "tflite-xnnpack", "builtin": "tflite-builtin", "ref": "tflite-ref", "tflm": "tflm"}
RUNTIME_NAME = {"xnnpack": "LiteRT XNNPACK", "builtin": "LiteRT builtin", "ref": "LiteRT ref", "tflm": "TFLite Micro"}


def build_rust():
    cmd = ["cargo", "bench", "--bench", "speed", "--no-default-features", "--no-run", "--message-format=json"]
    out = subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    exe = None
    for line in out.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "speed" and msg.get("executable"):
            exe = msg["executable"]
    if exe is None:
        sys.exit("could not find the speed bench executable")
    return exe


def run_rust(exe, models, reps, extra):
    out = subprocess.run([exe, "--reps", str(reps), "--models", ",".join(models)] + extra, cwd=ROOT, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def litert_interpreter(model, runtime):
    from ai_edge_litert import interpreter as litert
    res = {"xnnpack": litert.OpResolverType.AUTO,
           "builtin": litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
           "ref": litert.OpResolverType.BUILTIN_REF}[runtime]
    it = litert.Interpreter(model_path=model, num_threads=1, experimental_op_resolver_type=res)
    it.allocate_tensors()
    return it


def time_litert(model, runtime, x, reps):
    """-> {'single': [...], 'set_tensor': [...], 'batch': [...]} in us/image, and the outputs for a check."""
    n = x.shape[0]
    it = litert_interpreter(model, runtime)
    i = it.get_input_details()[0]["index"]
    o = it.get_output_details()[0]["index"]
    shape = it.get_input_details()[0]["shape"]
    xs = [np.ascontiguousarray(x[k:k + 1].reshape(shape)) for k in range(n)]
    for k in range(min(n, 50)):
        it.set_tensor(i, xs[k])
        it.invoke()
    res = {"single": [], "set_tensor": [], "batch": []}
    for _ in range(reps):
        t = time.perf_counter()
        for k in range(n):
            it.set_tensor(i, xs[k])
            it.invoke()
        both = time.perf_counter() - t
        t = time.perf_counter()
        for k in range(n):
            it.set_tensor(i, xs[k])
        st = time.perf_counter() - t
        res["single"].append((both - st) / n * 1e6)
        res["set_tensor"].append(st / n * 1e6)
    it.resize_tensor_input(i, [n] + list(shape[1:]))
    it.allocate_tensors()
    it.set_tensor(i, x.reshape([n] + list(shape[1:])))
    it.invoke()
    for _ in range(reps):
        t = time.perf_counter()
        it.invoke()
        res["batch"].append((time.perf_counter() - t) / n * 1e6)
    return res, it.get_tensor(o)


def time_tflm(model, x, reps):
    from tflite_micro.python.tflite_micro import runtime as tflm
    it = tflm.Interpreter.from_file(model)
    shape = it.get_input_details(0)["shape"]
    xs = [np.ascontiguousarray(x[k:k + 1].reshape(shape)) for k in range(x.shape[0])]
    for k in range(min(len(xs), 20)):
        it.set_input(xs[k], 0)
        it.invoke()
    res = {"single": [], "set_tensor": []}
    for _ in range(reps):
        t = time.perf_counter()
        for xk in xs:
            it.set_input(xk, 0)
            it.invoke()
        both = time.perf_counter() - t
        t = time.perf_counter()
        for xk in xs:
            it.set_input(xk, 0)
        st = time.perf_counter() - t
        res["single"].append((both - st) / len(xs) * 1e6)
        res["set_tensor"].append(st / len(xs) * 1e6)
    return res


def med(v):
    return statistics.median(v) if v else float("nan")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3, help="repetitions per round and figure")
    ap.add_argument("--models", default="mlp_ptq_int8_per_tensor,mlp_ptq_uint8io")
    ap.add_argument("--no-tflm", action="store_true")
    ap.add_argument("--json", help="also write every measurement here")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]

    print("building the Rust bench (cargo bench --no-run) ...", file=sys.stderr)
    exe = build_rust()
    inputs = {m: np.load(os.path.join(ROOT, "data", "goldens", m, "input.npy")) for m in models}
    paths = {m: os.path.join(ROOT, "data", "models", m + ".tflite") for m in models}

    ql = {}  # (model, profile, path, mode, threads) -> [us]
    rt = {}  # (model, runtime, mode) -> [us]
    kernel_path = None
    for r in range(args.rounds):
        print("round %d/%d ..." % (r + 1, args.rounds), file=sys.stderr)
        for rec in run_rust(exe, models, args.reps, []):
            key = (rec["model"], rec["profile"], rec["path"], rec["mode"], rec["threads"])
            ql.setdefault(key, []).extend(rec["us_per_image"])
            kernel_path = rec["path"]
        for m in models:
            for runtime in ("xnnpack", "builtin", "ref"):
                res, out = time_litert(paths[m], runtime, inputs[m], args.reps)
                for mode, v in res.items():
                    rt.setdefault((m, runtime, mode), []).extend(v)
            if not args.no_tflm:
                try:
                    for mode, v in time_tflm(paths[m], inputs[m], args.reps).items():
                        rt.setdefault((m, "tflm", mode), []).extend(v)
                except Exception as e:  # noqa: BLE001 - TFLM may refuse a model
                    print("TFLM on %s: %s" % (m, e), file=sys.stderr)

    def q(m, profile, mode, threads=1):
        return med(ql.get((m, profile, kernel_path, mode, threads), []))

    print()
    print("Machine: %s, %d logical CPUs, %s; kernel path %s; LiteRT num_threads=1; %d rounds x %d reps, medians, us/image."
          % (cpu_name(), os.cpu_count() or 0, platform.system(), kernel_path, args.rounds, args.reps))
    print()
    hdr = ("| model | mode | runtime | runtime µs | quantlens tflite-ref µs | ratio | quantlens same-profile µs | ratio "
           "| quantlens 2 threads µs | ratio |")
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    rows = []
    for m in models:
        for mode in ("single", "batch"):
            for runtime in ("xnnpack", "builtin", "ref", "tflm"):
                r_us = med(rt.get((m, runtime, mode), []))
                if r_us != r_us:  # nan: not measured
                    continue
                prof = RUNTIME_PROFILE[runtime]
                ref_us, same_us = q(m, "tflite-ref", mode), q(m, prof, mode)
                two = q(m, "tflite-ref", mode, 2) if mode == "batch" else float("nan")
                rows.append(dict(model=m, mode=mode, runtime=runtime, runtime_us=r_us, quantlens_ref_us=ref_us,
                                 quantlens_same_us=same_us, quantlens_ref_2threads_us=two))
                print("| %s | %s | %s | %.2f | %.2f | **%.2f×** | %.2f (%s) | %.2f× | %s | %s |" % (
                    m, "single image" if mode == "single" else "batch of %d" % inputs[m].shape[0], RUNTIME_NAME[runtime],
                    r_us, ref_us, ref_us / r_us, same_us, prof, same_us / r_us,
                    "%.2f" % two if two == two else "", "%.2f×" % (two / r_us) if two == two else ""))
    print()
    for m in models:
        print("%s: quantlens traced run (every tensor kept) %.2f µs/image; LiteRT set_tensor alone %.2f µs (XNNPACK)"
              % (m, q(m, "tflite-ref", "traced"), med(rt.get((m, "xnnpack", "set_tensor"), []))))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": cpu_name(), "kernel_path": kernel_path, "rows": rows,
                       "quantlens": [dict(zip(("model", "profile", "path", "mode", "threads"), k), us=v) for k, v in ql.items()],
                       "runtimes": [dict(zip(("model", "runtime", "mode"), k), us=v) for k, v in rt.items()]}, f, indent=1)


if __name__ == "__main__":
    main()
