#!/usr/bin/env python3
"""Re-run the committed quantized models on a sample of held-out images and
check every op-produced tensor against the committed goldens, bit for bit.

Needs only ai-edge-litert, tflite-micro and numpy (scripts/requirements-check.txt);
never imports tensorflow.  One check per model x runtime (the TFLM refusal of each
legacy uint8 model counts as that model's tflm check).  Prints
'N passed, M failed' last and exits non-zero if anything failed.

Usage:  python scripts/check_goldens.py [--data data] [--sample 50] [--seed 20240601] [--all]
"""
import argparse
import json
import pathlib
import sys
import time
import traceback

import numpy as np

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import goldenlib as gl  # noqa: E402


def sample_indices(n, k, seed):
    rng = np.random.default_rng(seed)
    middle = rng.choice(np.arange(1, n - 1), size=min(k, n - 2), replace=False)
    return np.unique(np.concatenate([[0, n - 1], middle]))


def model_indices(entry, idx, args):
    """Models with goldens for only the first n held-out images get their own sample of 0..n-1."""
    n = entry.get("golden_images", None)
    if n is None:
        return idx
    return np.arange(n) if args.all else sample_indices(n, args.sample, args.seed)


def check_runtime(data, stem, entry, rt, idx, pixels):
    model = data / entry["path"]
    probe = data / entry["probe_path"]
    inp = entry["input"]
    produced = entry["op_produced_tensors"]
    x_all = np.load(data / entry["input_file"])
    x = x_all[idx]
    # input.npy must still be the quantization of the held-out pixels
    px = pixels[idx]
    if entry.get("input_transform") == "pad2_rgb3":  # vision topic: 32x32x3 digits
        px = np.repeat(np.pad(px.reshape(-1, 28, 28), ((0, 0), (2, 2), (2, 2)))[..., None], 3, axis=-1)
    q = gl.quantize_input(px, inp["dtype"], inp["scale"], inp["zero_point"]).reshape(x.shape)
    assert x.dtype == np.dtype(inp["dtype"]) and np.array_equal(q, x), "input.npy != quantized pixels"
    golden = gl.read_npz(data / entry["goldens"][rt])
    want_keys = {gl.tensor_key(k) for k in produced}
    assert set(golden) == want_keys, "golden keys %s != op-produced %s" % (sorted(golden), sorted(want_keys))
    got = gl.run_runtime(rt, model, probe, x, produced, inp["shape"])
    bad = []
    for k in produced:
        g = golden[gl.tensor_key(k)][idx]
        r = got[k]
        if r.dtype != g.dtype or r.shape != g.shape:
            bad.append("t%d: dtype/shape %s%s vs golden %s%s" % (k, r.dtype, r.shape, g.dtype, g.shape))
        elif not np.array_equal(r, g):
            bad.append("t%d: %d of %d elements differ" % (k, int(np.count_nonzero(r != g)), r.size))
    if rt == "xnnpack":
        plain = gl.run_xnnpack_final(model, x)
        if not np.array_equal(plain, got[entry["output"]["index"]]):
            bad.append("probe final output != unmodified model's XNNPACK output")
    assert not bad, "; ".join(bad)
    return "%d tensors x %d images equal" % (len(produced), len(idx))


def check_tflm_refusal(data, entry):
    inp = entry["input"]
    x0 = np.load(data / entry["input_file"])[0:1].reshape(inp["shape"])
    _, err = gl.tflm_try_load(data / entry["path"], x0)
    assert err is not None, "TFLM no longer refuses this model"
    want = entry["tflm_refusal"]
    log = err["log"].replace("\r\n", "\n")
    note = "still refused: %s" % err["exception"]
    if err["exception"] != want["exception"] or log != want["log"]:
        note += " (message changed: %r, was %r)" % (log.strip(), want["log"].strip())
    return note


def check_litert_refusal(data, entry, rt):
    """A LiteRT resolver that lacked an op version (vision topic: ref and TILE v3) still does."""
    resolver = {"ref": gl.litert.OpResolverType.BUILTIN_REF,
                "builtin": gl.litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}[rt]
    try:
        gl.plain_interpreter(data / entry["path"], resolver)
    except ValueError as e:
        want = entry["litert_refusals"][rt]["exception"]
        return "still refused" + ("" if str(e) == want else " (message changed: %r, was %r)" % (str(e), want))
    raise AssertionError("%s no longer refuses this model" % rt)


def main():
    here = pathlib.Path(__file__).resolve().parent
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(here.parent / "data"))
    ap.add_argument("--sample", type=int, default=50)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--all", action="store_true", help="check all held-out images, not a sample")
    args = ap.parse_args()
    data = pathlib.Path(args.data)
    manifest = json.loads((data / "manifest.json").read_text())
    # Topic manifests (scripts/data_<topic>.py) add their models beside the base ones.
    for extra in sorted((data / "manifests").glob("*.json")):
        manifest["models"].update(json.loads(extra.read_text()).get("models", {}))
    pixels = np.load(data / manifest["split"]["test_images"])
    if args.all:
        idx = np.arange(pixels.shape[0])
    else:
        idx = sample_indices(pixels.shape[0], args.sample, args.seed)
    print("checking %d images (indices %d..%d, seed %d)" % (len(idx), idx[0], idx[-1], args.seed), flush=True)

    passed = failed = 0
    for stem, entry in manifest["models"].items():
        if entry["input"]["dtype"] == "float32":
            continue  # float goldens are informational (CPU-dependent rounding); not checked
        idx_m = model_indices(entry, idx, args)
        for rt in gl.RUNTIMES:
            label = "%s/%s" % (stem, rt)
            t0 = time.time()
            try:
                if rt in entry["goldens"]:
                    msg = check_runtime(data, stem, entry, rt, idx_m, pixels)
                elif rt == "tflm" and "tflm_refusal" in entry:
                    msg = check_tflm_refusal(data, entry)
                elif rt in entry.get("litert_refusals", {}):
                    msg = check_litert_refusal(data, entry, rt)
                else:
                    raise AssertionError("no goldens and no recorded refusal")
                passed += 1
                print("PASS %-36s %s (%.1fs)" % (label, msg, time.time() - t0), flush=True)
            except Exception as e:  # noqa: BLE001
                failed += 1
                print("FAIL %-36s %s: %s" % (label, type(e).__name__, e), flush=True)
                if not isinstance(e, AssertionError):
                    traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
