"""Audit issue 14's operator list against the committed proofs: for each op × dtype (int8, uint8
where LiteRT has a uint8 kernel, float32), which committed model proves it, and does
SUPPORTED_OPS.md name that model in a row of that op?

"Proves" is read from the data, not from the docs: a model under data/models whose manifest
(data/manifest.json, data/manifests/*.json) lists the op with its activation input (input 0;
TRANSPOSE_CONV's input 2, SELECT_V2's and SPLIT's input 1; CAST either side) of that dtype, has
goldens from at least one runtime, and is named by a Rust test suite (tests/*.rs). A row of SUPPORTED_OPS.md names the proof when its first cell names the op and some cell
names the model in backquotes (or a pattern such as `tops_*` that matches it) and mentions the
dtype ("int8", "uint8", "float32", or "any dtype").

Whether LiteRT has a uint8 kernel is read from the probes that topics `uint8` and `uint8_graph`
ran (each op alone in uint8 in LiteRT ref and builtin; `uint8_refusals` in their manifests): an
op refused by both LiteRT kernel sets, or left out because LiteRT refused it, has none. The five
ops no probe ran are read from LiteRT's kernel sources (`UINT8_FROM_SOURCE`).

With `--quantlens target/release/quantlens`, also runs `quantlens inspect` on every proving model
and checks that it names the op. (That the engine runs each proving model bit-exactly in every
profile whose runtime ran it is what the `cargo test` suites check, model by model.)

Prints the table; exit status 1 when an op × dtype LiteRT has lacks a proving model or a row, or
inspect does not name an op.

Run: python scripts/audit_ops.py [--data data] [--ops SUPPORTED_OPS.md] [--quantlens PATH]
"""
import argparse
import fnmatch
import json
import pathlib
import re
import sys

ISSUE_14_OPS = """BATCH_MATMUL TRANSPOSE GATHER TILE SQUEEZE EXPAND_DIMS SLICE SPLIT SPLIT_V CAST PRELU
TRANSPOSE_CONV RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR DEPTH_TO_SPACE SPACE_TO_DEPTH
BATCH_TO_SPACE_ND SPACE_TO_BATCH_ND GELU NEG RSQRT SQRT SQUARED_DIFFERENCE DIV EXP LOG ABS MAXIMUM
MINIMUM SUM REDUCE_MAX REDUCE_MIN REDUCE_PROD ARG_MAX ARG_MIN L2_NORMALIZATION LOG_SOFTMAX PADV2
HARD_SWISH MIRROR_PAD SELECT_V2 LESS GREATER EQUAL LESS_EQUAL GREATER_EQUAL NOT_EQUAL""".split()
DTYPES = ("int8", "uint8", "float32")

# LiteRT's uint8 kernels for the ops no uint8 probe ran, read in tflite/kernels/*.cc
UINT8_FROM_SOURCE = {
    "BATCH_MATMUL": False,  # batch_matmul.cc: float32, int8, int16 only
    "CAST": True,  # cast.cc: kTfLiteUInt8 in and out
    "EXPAND_DIMS": True,  # expand_dims.cc: copies the bytes of any type
    "SQUEEZE": True,  # squeeze.cc: a reshape of any type
    "TRANSPOSE_CONV": True,  # transpose_conv.cc: uint8 input, per-tensor uint8 weights
}

# LiteRT's int8 kernels that do not exist (read in tflite/kernels/*.cc; topic uint8_graph's probe
# recorded the same message for uint8)
INT8_FROM_SOURCE = {
    "NEG": False,  # neg.cc: "Neg only currently supports int64, int32, and float32"
}

# the activation input of an op, where it is not input 0
DATA_INPUT = {"TRANSPOSE_CONV": 2, "SELECT_V2": 1, "SPLIT": 1}
# ops whose dtype is that of either side (CAST int8 -> float32 proves CAST for int8 and float32)
EITHER_SIDE = {"CAST"}


def manifests(data):
    yield data / "manifest.json"
    yield from sorted((data / "manifests").glob("*.json"))


def litert_uint8(data):
    """{op: True/False} for every op a uint8 probe ran, and why."""
    has = {}
    for path in manifests(data):
        refusals = json.loads(path.read_text()).get("uint8_refusals")
        if not refusals:
            continue
        for op in refusals.get("probe_ops", {}):
            has.setdefault(op, True)
        for op, by in refusals.get("refused", {}).items():
            litert_refused = "ref" in by and "builtin" in by
            has[op] = has.get(op, True) and not litert_refused
        for op in refusals.get("left_out", []):
            has[op] = False
    return has


def schema():
    """The TFLite flatbuffer schema as LiteRT's wheel ships it (no TensorFlow needed)."""
    from ai_edge_litert import schema_py_generated
    return schema_py_generated


def model_dtypes(path, _cache={}):
    """{tensor index: dtype name} of a model's first subgraph, read from the file."""
    if "schema" not in _cache:
        _cache["schema"] = schema()
    s = _cache["schema"]
    names = {v: k.lower() for k, v in vars(s.TensorType).items() if not k.startswith("_")}
    g = s.Model.GetRootAsModel(path.read_bytes(), 0).Subgraphs(0)
    return {i: names[g.Tensors(i).Type()] for i in range(g.TensorsLength())}


def proofs(data):
    """{(op, dtype): [model stem, ...]}: models whose goldens hold the op in that dtype."""
    found = {}
    for path in manifests(data):
        for stem, e in json.loads(path.read_text()).get("models", {}).items():
            if not e.get("goldens") or not (data / e["path"]).exists():
                continue
            dtype = {t["index"]: t["dtype"] for t in e["tensors"]}
            if any(t >= 0 and t not in dtype for o in e["ops"] for t in o["inputs"] if t is not None):
                dtype = model_dtypes(data / e["path"])  # a manifest that lists only some tensors
            for o in e["ops"]:
                k = DATA_INPUT.get(o["op"], 0)
                sides = [o["inputs"][k] if k < len(o["inputs"]) else None]
                if o["op"] in EITHER_SIDE:
                    sides += o["outputs"][:1]
                for t in sides:
                    if t is not None and t in dtype:
                        found.setdefault((o["op"], dtype[t]), []).append(stem)
    return {k: sorted(set(v)) for k, v in found.items()}


def rows(supported_ops):
    """(op patterns of the first cell, model patterns in backquotes, dtypes the row mentions) of
    every table row; a pattern may hold `*` (`RESIZE_*`, `tops_*`)."""
    out = []
    for line in supported_ops.read_text().splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        ops = set(re.findall(r"(?<![A-Za-z0-9_])[A-Z][A-Z0-9_]*[A-Z0-9_*]", cells[0]))
        models = set(re.findall(r"`([a-z0-9_*]+)`", " ".join(cells[1:])))
        text = " ".join(cells)
        dtypes = set(DTYPES) if "any dtype" in text else {
            d for d in DTYPES if re.search(r"(?<![a-z0-9])%s(?![0-9])" % d, text)}
        out.append((ops, models, dtypes))
    return out


def named(table, op, dtype, models):
    """The proving models a row of `op` that mentions `dtype` names."""
    hits = set()
    for ops, patterns, dtypes in table:
        if dtype in dtypes and any(fnmatch.fnmatchcase(op, o) for o in ops):
            hits |= {m for m in models for p in patterns if fnmatch.fnmatchcase(m, p)}
    return sorted(hits)


def inspect_names(quantlens, data, report):
    """With the engine's CLI: each proving model's `quantlens inspect` must name the op. Returns
    the (op, dtype, model) it does not name."""
    import subprocess
    unnamed, seen = [], {}
    for op, dt, what in report:
        if what.startswith(("MISSING", "—", "unknown")):
            continue
        for stem in what.split(", "):
            if stem not in seen:
                r = subprocess.run([str(quantlens), "inspect", str(data / "models" / (stem + ".tflite"))],
                                   capture_output=True, text=True, check=True)
                seen[stem] = set(re.findall(r"\b[A-Z][A-Z0-9_]+\b", r.stdout))
            if op not in seen[stem]:
                unnamed.append((op, dt, stem))
    return unnamed


def tested(root):
    """The text of the Rust test suites (tests/*.rs), where each proving model must be named."""
    return "\n".join(p.read_text() for p in sorted((root / "tests").glob("*.rs")))


def audit(data, supported_ops):
    uint8 = litert_uint8(data)
    proved = proofs(data)
    suites = tested(supported_ops.parent)
    proved = {k: [m for m in v if m in suites] for k, v in proved.items()}
    table = rows(supported_ops)
    report, missing = [], []
    for op in ISSUE_14_OPS:
        for dt in DTYPES:
            if dt == "uint8":
                has = uint8.get(op, UINT8_FROM_SOURCE.get(op))
                if has is None:
                    report.append((op, dt, "unknown: no uint8 probe and no source entry"))
                    missing.append((op, dt))
                    continue
                if not has:
                    report.append((op, dt, "— (LiteRT has no uint8 kernel)"))
                    continue
            if dt == "int8" and not INT8_FROM_SOURCE.get(op, True):
                report.append((op, dt, "— (LiteRT has no int8 kernel)"))
                continue
            models = proved.get((op, dt), [])
            rows_name = named(table, op, dt, models)
            if rows_name:
                report.append((op, dt, ", ".join(rows_name)))
            elif models:
                report.append((op, dt, "MISSING ROW (proved by %s, not named in SUPPORTED_OPS.md)" % ", ".join(models)))
                missing.append((op, dt))
            else:
                report.append((op, dt, "MISSING: no committed model with goldens"))
                missing.append((op, dt))
    return report, missing


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = pathlib.Path(__file__).resolve().parent.parent
    ap.add_argument("--data", type=pathlib.Path, default=root / "data")
    ap.add_argument("--ops", type=pathlib.Path, default=root / "SUPPORTED_OPS.md")
    ap.add_argument("--quantlens", type=pathlib.Path,
                    help="the engine's CLI: also check that `quantlens inspect` of each proving model names the op")
    args = ap.parse_args()
    report, missing = audit(args.data, args.ops)
    width = max(len(op) for op in ISSUE_14_OPS)
    for op, dt, what in report:
        print("%-*s  %-7s  %s" % (width, op, dt, what))
    print("\n%d of %d op × dtype missing%s" % (len(missing), len(report),
                                                ": " + ", ".join("%s %s" % m for m in missing) if missing else ""))
    unnamed = inspect_names(args.quantlens, args.data, report) if args.quantlens else []
    for op, dt, stem in unnamed:
        print("quantlens inspect %s does not name %s (%s)" % (stem, op, dt))
    if args.quantlens:
        print("quantlens inspect names every op in its proving models" if not unnamed else "")
    return 1 if missing or unnamed else 0


if __name__ == "__main__":
    sys.exit(main())
