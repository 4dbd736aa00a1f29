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

The quantlens side is the bench binary kept open in --serve mode; each LiteRT
figure is taken right after the quantlens figures it is compared with.

single = one image per invoke over the 1000 images. For LiteRT that is the
time of `invoke()` alone (the input copy `set_tensor` is reported apart and
left out, which favours LiteRT); for quantlens a reused Workspace::run
(input copy included). batched = all 1000 images at once: LiteRT's input
resized to (1000, ...) and one invoke; quantlens run_batch_outputs.
Models with few golden images (MobileNetV2: 16, EfficientNet: 8, the full-width
EfficientNet-B0: 3) repeat the pass over their images so each repetition covers
at least 200 images.

cli = `quantlens run MODEL --input X.npy` as a user calls it (release build,
both cores, outputs-only): the wall time on N images minus the time on one
image, divided by N - 1 (the start-up, model read and plan are left out).
X is the golden images repeated to N >= 200.

profile = per op kind, quantlens tflite-ref Workspace::run with every step
timed: the sum of its steps' median µs per image (medians: a run preempted
by the machine's load does not charge its pause to one step) and the
multiply-accumulates per image (benches/README.md).
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


def cargo_executable(args, target):
    """Build with `cargo ARGS --message-format=json` and return the path of TARGET's executable."""
    cmd = ["cargo"] + args + ["--message-format=json"]
    out = subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    exe = None
    for line in out.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == target and msg.get("executable"):
            exe = msg["executable"]
    if exe is None:
        sys.exit("could not find the %s executable" % target)
    return exe


def build_cli():
    return cargo_executable(["build", "--release", "--bin", "quantlens"], "quantlens")


class Cli:
    """`quantlens run` on N images and on 1 image: (T_N - T_1) / (N - 1) per rep."""

    def __init__(self, exe, model, x, tmp):
        self.exe, self.model = exe, model
        # 2 000 images: on the EfficientNets 200 images took ~20 ms, within the jitter of
        # a start-up that reads and packs the model (tens of ms), so (T_N - T_1) / (N - 1)
        # moved by 2x between runs.
        n = max(2000, x.shape[0])
        xs = np.concatenate([x] * -(-n // x.shape[0]))[:n]
        self.n = n
        self.many, self.one = os.path.join(tmp, "many.npy"), os.path.join(tmp, "one.npy")
        np.save(self.many, xs)
        np.save(self.one, x[:1])

    def _wall(self, path):
        t = time.perf_counter()
        subprocess.run([self.exe, "run", self.model, "--input", path], check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t

    def time(self, reps):
        self._wall(self.one)
        v = []
        for _ in range(reps):
            tn, t1 = self._wall(self.many), self._wall(self.one)
            v.append((tn - t1) / (self.n - 1) * 1e6)
        return v


def build_rust():
    return cargo_executable(["bench", "--bench", "speed", "--no-default-features", "--no-run"], "speed")


class Rust:
    """The bench binary in --serve mode: one request line in, one JSON line out."""

    def __init__(self, exe):
        self.p = subprocess.Popen([exe, "--serve"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def time(self, model, profile, mode, threads, reps):
        self.p.stdin.write("%s %s %s %d %d\n" % (model, profile, mode, threads, reps))
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def profile(self, model, passes):
        self.p.stdin.write("%s tflite-ref profile 1 %d\n" % (model, passes))
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def close(self):
        self.p.stdin.close()
        self.p.wait()


class LiteRT:
    """One LiteRT interpreter for single images and one resized to the whole batch."""

    def __init__(self, model, runtime, x):
        from ai_edge_litert import interpreter as litert
        res = {"xnnpack": litert.OpResolverType.AUTO,
               "builtin": litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
               "ref": litert.OpResolverType.BUILTIN_REF}[runtime]
        mk = lambda: litert.Interpreter(model_path=model, num_threads=1, experimental_op_resolver_type=res)
        self.n = x.shape[0]
        self.one = mk()
        self.one.allocate_tensors()
        self.i = self.one.get_input_details()[0]["index"]
        shape = list(self.one.get_input_details()[0]["shape"])
        self.xs = [np.ascontiguousarray(x[k:k + 1].reshape(shape)) for k in range(self.n)]
        # Models with a fixed batch of 1 inside (MobileNetV2's and EfficientNet's
        # RESHAPE to [1, ...]) cannot be resized: no batched figure then.
        try:
            self.many = mk()
            self.many.resize_tensor_input(self.i, [self.n] + shape[1:])
            self.many.allocate_tensors()
            self.many.set_tensor(self.i, x.reshape([self.n] + shape[1:]))
            o = self.many.get_output_details()[0]["index"]
            self.many.invoke()
            self.batch_out = self.many.get_tensor(o)
        except (RuntimeError, ValueError) as e:
            print("LiteRT %s on %s: no batched invoke (%s)" % (runtime, os.path.basename(model), str(e).splitlines()[0]), file=sys.stderr)
            self.many = None

    def single(self, reps):
        """-> (invoke-only us/image per rep, set_tensor us/image per rep)."""
        it, i, xs = self.one, self.i, self.xs * passes(self.n)
        for xk in xs[:20]:
            it.set_tensor(i, xk)
            it.invoke()
        inv, st = [], []
        for _ in range(reps):
            t = time.perf_counter()
            for xk in xs:
                it.set_tensor(i, xk)
                it.invoke()
            both = time.perf_counter() - t
            t = time.perf_counter()
            for xk in xs:
                it.set_tensor(i, xk)
            s = time.perf_counter() - t
            inv.append((both - s) / len(xs) * 1e6)
            st.append(s / len(xs) * 1e6)
        return inv, st

    def batch(self, reps):
        if self.many is None:
            return []
        v = []
        for _ in range(reps * passes(self.n)):
            t = time.perf_counter()
            self.many.invoke()
            v.append((time.perf_counter() - t) / self.n * 1e6)
        return v


class TFLM:
    def __init__(self, model, x):
        from tflite_micro.python.tflite_micro import runtime as tflm
        self.it = tflm.Interpreter.from_file(model)
        shape = self.it.get_input_details(0)["shape"]
        self.xs = [np.ascontiguousarray(x[k:k + 1].reshape(shape)) for k in range(x.shape[0])]

    def single(self, reps):
        it, xs = self.it, self.xs * passes(len(self.xs))
        for xk in xs[:20]:
            it.set_input(xk, 0)
            it.invoke()
        inv, st = [], []
        for _ in range(reps):
            t = time.perf_counter()
            for xk in xs:
                it.set_input(xk, 0)
                it.invoke()
            both = time.perf_counter() - t
            t = time.perf_counter()
            for xk in xs:
                it.set_input(xk, 0)
            s = time.perf_counter() - t
            inv.append((both - s) / len(xs) * 1e6)
            st.append(s / len(xs) * 1e6)
        return inv, st


def passes(n):
    """Passes over n images so that one repetition covers at least 200."""
    return max(1, -(-200 // n))


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
    ap.add_argument("--models", default="mlp_ptq_int8_per_tensor,mlp_ptq_uint8io,cnn_ptq_int8,mobilenetv2_ptq_int8,efficientnet_b0w05_ptq_int8"
                    ",efficientnet_b0_ptq_int8")  # effb0: the full-width EfficientNetB0
    ap.add_argument("--no-cli", action="store_true", help="skip the `quantlens run` timing")
    ap.add_argument("--no-tflm", action="store_true")
    ap.add_argument("--json", help="also write every measurement here")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]

    print("building the Rust bench (cargo bench --no-run) ...", file=sys.stderr)
    exe = build_rust()
    cli_exe = None if args.no_cli else build_cli()
    inputs = {m: np.load(os.path.join(ROOT, "data", "goldens", m, "input.npy")) for m in models}
    paths = {m: os.path.join(ROOT, "data", "models", m + ".tflite") for m in models}

    ql = {}  # (model, profile, path, mode, threads) -> [us]
    rt = {}  # (model, runtime, mode) -> [us]
    kernel_path = None
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rust = Rust(exe)
    engines = {}
    import tempfile
    tmpdir = tempfile.mkdtemp(prefix="quantlens-bench-")
    clis = {} if cli_exe is None else {m: Cli(cli_exe, paths[m], inputs[m], tempfile.mkdtemp(dir=tmpdir)) for m in models}
    for m in models:
        for runtime in ("xnnpack", "builtin", "ref"):
            e = engines[(m, runtime)] = LiteRT(paths[m], runtime, inputs[m])
            # The batched invoke must really compute every image: compare with the golden outputs.
            if e.many is None:
                continue
            out_idx = e.many.get_output_details()[0]["index"]
            with np.load(os.path.join(ROOT, "data", "goldens", m, runtime + ".npz")) as g:
                gold = g["t%d" % out_idx]
            ok = np.array_equal(e.batch_out.reshape(gold.shape), gold)
            print("%s %s batched output == golden: %s" % (m, runtime, ok), file=sys.stderr)
        if not args.no_tflm:
            try:
                engines[(m, "tflm")] = TFLM(paths[m], inputs[m])
            except Exception as e:  # noqa: BLE001 - TFLM may refuse a model
                print("TFLM on %s: %s" % (m, e), file=sys.stderr)

    def rust_time(m, profile, mode, threads=1):
        nonlocal kernel_path
        reps = args.reps * passes(inputs[m].shape[0])
        rec = rust.time(m, profile, mode, threads, reps)
        kernel_path = rec["path"]
        ql.setdefault((m, profile, rec["path"], mode, threads), []).extend(rec["us_per_image"])

    # Each LiteRT / TFLM figure is taken right after the quantlens figures it is compared with.
    for r in range(args.rounds):
        print("round %d/%d ..." % (r + 1, args.rounds), file=sys.stderr)
        for m in models:
            for runtime in ("xnnpack", "builtin", "ref", "tflm"):
                e = engines.get((m, runtime))
                if e is None:
                    continue
                rust_time(m, "tflite-ref", "single")
                if RUNTIME_PROFILE[runtime] != "tflite-ref":
                    rust_time(m, RUNTIME_PROFILE[runtime], "single")
                inv, st = e.single(args.reps)
                rt.setdefault((m, runtime, "single"), []).extend(inv)
                rt.setdefault((m, runtime, "set_tensor"), []).extend(st)
                if runtime == "tflm":
                    continue
                rust_time(m, "tflite-ref", "batch", 1)
                rust_time(m, "tflite-ref", "batch", 2)
                if RUNTIME_PROFILE[runtime] != "tflite-ref":
                    rust_time(m, RUNTIME_PROFILE[runtime], "batch", 1)
                rt.setdefault((m, runtime, "batch"), []).extend(e.batch(args.reps))
            rust_time(m, "tflite-ref", "traced")
            if m in clis:
                rt.setdefault((m, "cli", "single"), []).extend(clis[m].time(max(1, args.reps // 2) if r else 1))
    profiles = {m: rust.profile(m, args.reps * passes(inputs[m].shape[0])) for m in models}
    rust.close()

    def q(m, profile, mode, threads=1):
        return med(ql.get((m, profile, kernel_path, mode, threads), []))

    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print()
    print("Machine: %s, %d logical CPUs, %s; load average %.1f at start, %.1f at end; kernel path %s; "
          "LiteRT num_threads=1; %d rounds x %d reps, medians, us/image."
          % (cpu_name(), os.cpu_count() or 0, platform.system(), load_start, load_end, kernel_path, args.rounds, args.reps))
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
                name = RUNTIME_NAME[runtime]
                if r_us != r_us and mode == "batch" and runtime != "tflm":
                    # The model does not resize in LiteRT: its own per-image loop is its batch.
                    r_us, name = med(rt.get((m, runtime, "single"), [])), name + " (per-image loop: no batched invoke)"
                if r_us != r_us:  # nan: not measured
                    continue
                prof = RUNTIME_PROFILE[runtime]
                ref_us, same_us = q(m, "tflite-ref", mode), q(m, prof, mode)
                two = q(m, "tflite-ref", mode, 2) if mode == "batch" else float("nan")
                rows.append(dict(model=m, mode=mode, runtime=runtime, runtime_us=r_us, quantlens_ref_us=ref_us,
                                 quantlens_same_us=same_us, quantlens_ref_2threads_us=two))
                print("| %s | %s | %s | %.2f | %.2f | **%.2f×** | %.2f (%s) | %.2f× | %s | %s |" % (
                    m, "single image" if mode == "single" else "batch of %d" % inputs[m].shape[0], name,
                    r_us, ref_us, ref_us / r_us, same_us, prof, same_us / r_us,
                    "%.2f" % two if two == two else "", "%.2f×" % (two / r_us) if two == two else ""))
    print()
    for m in models:
        for mode in ("single", "batch"):
            a, b = ql.get((m, "tflite-ref", kernel_path, mode, 1), []), rt.get((m, "xnnpack", mode), [])
            if a and b:
                print("%s %s: best of all repetitions (least disturbed by load): quantlens tflite-ref %.2f µs, "
                      "LiteRT XNNPACK %.2f µs, ratio %.2f×" % (m, mode, min(a), min(b), min(a) / min(b)))
    for m in models:
        print("%s: quantlens traced run (every tensor kept) %.2f µs/image; LiteRT set_tensor alone %.2f µs (XNNPACK)"
              % (m, q(m, "tflite-ref", "traced"), med(rt.get((m, "xnnpack", "set_tensor"), []))))
    if clis:
        print()
        print("The CLI as a user calls it: `quantlens run MODEL --input X.npy` (release, both cores), "
              "(T_N - T_1) / (N - 1), against LiteRT XNNPACK's single-image invoke:")
        print()
        print("| model | N | quantlens run µs/image | LiteRT XNNPACK single µs | ratio |")
        print("|---|---|---|---|---|")
        for m in models:
            c, x = med(rt.get((m, "cli", "single"), [])), med(rt.get((m, "xnnpack", "single"), []))
            print("| %s | %d | %.2f | %.2f | **%.2f×** |" % (m, clis[m].n, c, x, c / x))
    print()
    print("Where the time goes (quantlens tflite-ref, one image at a time, every step timed; "
          "MMAC = million multiply-accumulates per image):")
    for m in models:
        p = profiles[m]
        steps = sum(k["us"] for k in p["kinds"])
        print()
        print("%s: %.1f µs/image, the sum of the steps' medians (whole runs: mean %.1f µs under this load; "
              "LiteRT XNNPACK single: median %.1f µs, best %.1f µs)"
              % (m, steps, p["us_total"], med(rt.get((m, "xnnpack", "single"), [])), min(rt.get((m, "xnnpack", "single"), [float("nan")]))))
        print()
        print("| op kind | ops | µs/image | share | MMAC/image | GMAC/s |")
        print("|---|---|---|---|---|---|")
        for k in sorted(p["kinds"], key=lambda k: -k["us"]):
            gmacs = "%.1f" % (k["macs"] / k["us"] / 1e3) if k["macs"] and k["us"] > 0 else ""
            print("| %s | %d | %.1f | %.0f %% | %s | %s |" % (k["kind"], k["ops"], k["us"], 100 * k["us"] / steps,
                                                      "%.3f" % (k["macs"] / 1e6) if k["macs"] else "", gmacs))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": cpu_name(), "kernel_path": kernel_path, "rows": rows, "profiles": profiles,
                       "quantlens": [dict(zip(("model", "profile", "path", "mode", "threads"), k), us=v) for k, v in ql.items()],
                       "runtimes": [dict(zip(("model", "runtime", "mode"), k), us=v) for k, v in rt.items()]}, f, indent=1)


if __name__ == "__main__":
    main()
