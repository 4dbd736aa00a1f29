"""A/B per-op profile of two builds of the quantlens bench (benches/speed.rs --serve), timed in the same run.

Usage:
    python scripts/bench_ab.py BEFORE_EXE AFTER_EXE [--rounds N] [--models a,b] [--profile P] [--path scalar|avx2|avx512vnni]

BEFORE_EXE / AFTER_EXE are the `speed` bench executables of two builds
(`cargo bench --bench speed --no-run` prints the path; copy it aside before
rebuilding). Both are kept open; each round sends the same `profile` request
(`Workspace::time_steps`: every step timed, median per step over the 1000
golden images) to both, alternating which goes first, so they are timed under
the same machine load. Prints, per model and op kind, the median over rounds
of the per-kind sum of step medians (µs per image) and the ratio after/before.
TOTAL is the mean whole run (preemptions included): use the op rows.
"""
import argparse
import json
import statistics
import subprocess
from pathlib import Path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--models", default="mobilenetv2_ptq_int8,efficientnet_b0w05_ptq_int8")
    ap.add_argument("--profile", default="tflite-ref")
    ap.add_argument("--path", default="", help="kernel path (default: each binary's fastest)")
    a = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    procs = {
        name: subprocess.Popen([str(Path(exe).resolve()), "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=root)
        for name, exe in (("before", a.before), ("after", a.after))
    }
    models = [m for m in a.models.split(",") if m]
    res = {}
    for r in range(a.rounds):
        for m in models:
            for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
                p = procs[name]
                p.stdin.write(f"{m} {a.profile} profile 1 1 {a.path}\n")
                p.stdin.flush()
                line = json.loads(p.stdout.readline())
                d = res.setdefault((m, name), {})
                d.setdefault("TOTAL", []).append(line["us_total"])
                for k in line["kinds"]:
                    d.setdefault(k["kind"], []).append(k["us"])
    for p in procs.values():
        p.stdin.close()
        p.wait()
    for m in models:
        b, af = res[(m, "before")], res[(m, "after")]
        print(f"\n{m} ({a.profile} {a.path or 'default path'}, {a.rounds} rounds; µs per image, medians)")
        print(f"{'op kind':28s} {'before':>9s} {'after':>9s} {'after/before':>12s}")
        for k in b:
            mb, ma = statistics.median(b[k]), statistics.median(af.get(k, [float("nan")]))
            print(f"{k:28s} {mb:9.1f} {ma:9.1f} {ma / mb if mb else float('nan'):12.3f}")


if __name__ == "__main__":
    main()
