"""Shared helpers for make_data.py and check_goldens.py.

Imports only numpy, ai_edge_litert and tflite_micro (never tensorflow), so
check_goldens.py can run from a venv built from requirements-check.txt.
"""
import contextlib
import io
import os
import sys
import tempfile
import zipfile

import numpy as np
from ai_edge_litert import interpreter as litert

RUNTIMES = ("ref", "builtin", "xnnpack", "tflm")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


# --------------------------------------------------------------------------
# deterministic .npz / .npy I/O
# --------------------------------------------------------------------------
def _key_order(key):
    return (0, int(key[1:])) if key[:1] == "t" and key[1:].isdigit() else (1, key)


def write_npz(path, arrays):
    """Like np.savez_compressed, but byte-reproducible (fixed zip timestamps).

    Members are named '<key>.npy' exactly as numpy does, in a fixed order.
    """
    tmp = str(path) + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays, key=_key_order):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    os.replace(tmp, path)


def read_npz(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def tensor_key(k):
    return "t%d" % k


# --------------------------------------------------------------------------
# model introspection (via LiteRT, no delegates)
# --------------------------------------------------------------------------
def plain_interpreter(model_path, resolver=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES):
    it = litert.Interpreter(model_path=str(model_path), experimental_op_resolver_type=resolver,
                            experimental_preserve_all_tensors=True, num_threads=1)
    it.allocate_tensors()
    return it


def describe_model(model_path):
    """Tensor table, op list, I/O indices and the op-produced tensor indices."""
    it = plain_interpreter(model_path)
    ops = []
    for op in it._get_ops_details():
        ops.append({"index": int(op["index"]), "op": op["op_name"],
                    "inputs": [int(i) for i in op["inputs"]],
                    "outputs": [int(i) for i in op["outputs"]]})
    produced = sorted({o for op in ops for o in op["outputs"] if o >= 0})
    tensors = []
    for t in sorted(it.get_tensor_details(), key=lambda d: d["index"]):
        qp = t["quantization_parameters"]
        scales = [float(s) for s in np.asarray(qp["scales"]).ravel()]
        zps = [int(z) for z in np.asarray(qp["zero_points"]).ravel()]
        tensors.append({"index": int(t["index"]), "name": t["name"],
                        "dtype": np.dtype(t["dtype"]).name,
                        "shape": [int(s) for s in t["shape"]],
                        "scales": scales, "zero_points": zps,
                        "quantized_dimension": int(qp["quantized_dimension"]),
                        "produced_by_op": next((op["index"] for op in ops if t["index"] in op["outputs"]), None)})
    inp = it.get_input_details()[0]
    out = it.get_output_details()[0]
    return {"ops": ops, "tensors": tensors, "produced": produced,
            "input": {"index": int(inp["index"]), "dtype": np.dtype(inp["dtype"]).name,
                      "shape": [int(s) for s in inp["shape"]],
                      "scale": float(inp["quantization"][0]), "zero_point": int(inp["quantization"][1])},
            "output": {"index": int(out["index"]), "dtype": np.dtype(out["dtype"]).name,
                       "shape": [int(s) for s in out["shape"]],
                       "scale": float(out["quantization"][0]), "zero_point": int(out["quantization"][1])}}


def quantize_input(pixels_u8, dtype, scale, zero_point):
    """uint8 pixels -> model input, as TFLite's float->int quantization of pixel/255.

    x = float32(pixel / 255); q = clamp(round_half_away_from_zero(x / scale) + zp).
    A float model (scale 0) gets float32 pixel / 255.
    """
    x = (pixels_u8.astype(np.float64) / 255.0).astype(np.float32)
    dt = np.dtype(dtype)
    if dt == np.float32:
        return x
    v = x / np.float32(scale)  # float32 arithmetic like the kernel
    r = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))
    q = r.astype(np.int64) + int(zero_point)
    info = np.iinfo(dt)
    return np.clip(q, info.min, info.max).astype(dt)


# --------------------------------------------------------------------------
# runtimes
# --------------------------------------------------------------------------
def _run_litert_it(it, x, in_idx, tensor_ids, tensor_reader):
    out = None
    for i in range(x.shape[0]):
        it.set_tensor(in_idx, x[i:i + 1].reshape(it.get_input_details()[0]["shape"]))
        it.invoke()
        vals = {k: tensor_reader(k) for k in tensor_ids}
        if out is None:
            out = {k: np.empty((x.shape[0],) + v.shape, v.dtype) for k, v in vals.items()}
        for k, v in vals.items():
            out[k][i] = v
    return out


def run_litert(model_path, runtime, x, tensor_ids):
    """ref / builtin: preserve all tensors, read every requested tensor."""
    resolver = {"ref": litert.OpResolverType.BUILTIN_REF,
                "builtin": litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}[runtime]
    it = plain_interpreter(model_path, resolver)
    in_idx = it.get_input_details()[0]["index"]
    return _run_litert_it(it, x, in_idx, tensor_ids, it.get_tensor)


def xnnpack_interpreter(model_path):
    it = litert.Interpreter(model_path=str(model_path), num_threads=1,
                            experimental_op_resolver_type=litert.OpResolverType.AUTO)
    it.allocate_tensors()
    return it


def delegation_facts(model_path):
    """Which nodes the default (XNNPACK) delegate replaced, as LiteRT reports them."""
    it = xnnpack_interpreter(model_path)
    ops = [{"index": int(o["index"]), "op": o["op_name"],
            "inputs": [int(i) for i in o["inputs"]], "outputs": [int(i) for i in o["outputs"]]}
           for o in it._get_ops_details()]
    delegate_nodes = [o for o in ops if o["op"] == "DELEGATE"]
    originals = [o for o in ops if o["op"] != "DELEGATE"]
    producer = {t: o for o in originals for t in o["outputs"]}
    covered = set()
    for d in delegate_nodes:
        # walk back from the delegate's outputs, stopping at the delegate's inputs
        d_in = set(d["inputs"])
        mine = set()
        stack = list(d["outputs"])
        while stack:
            o = producer.get(stack.pop())
            if o is None or o["index"] in mine:
                continue
            mine.add(o["index"])
            stack.extend(i for i in o["inputs"] if i >= 0 and i not in d_in)
        d["replaces_ops"] = sorted(mine)
        covered |= mine
    delegated_ops = [{"index": o["index"], "op": o["op"]} for o in originals if o["index"] in covered]
    kept_ops = [{"index": o["index"], "op": o["op"]} for o in originals if o["index"] not in covered]
    return {"delegated": bool(delegate_nodes), "delegate_nodes": delegate_nodes,
            "ops_run_by_xnnpack": delegated_ops, "ops_left_to_builtin_kernels": kept_ops,
            "ops_details": ops}


def run_xnnpack_probe(probe_path, x, tensor_ids):
    """Default resolver (XNNPACK) on the probe model whose outputs are every op-produced tensor."""
    it = xnnpack_interpreter(probe_path)
    outs = {int(d["index"]): d["index"] for d in it.get_output_details()}
    missing = set(tensor_ids) - set(outs)
    assert not missing, "probe lacks outputs %s" % sorted(missing)
    in_idx = it.get_input_details()[0]["index"]
    return _run_litert_it(it, x, in_idx, tensor_ids, it.get_tensor)


def run_xnnpack_final(model_path, x):
    """Unmodified model, default resolver: final output only."""
    it = xnnpack_interpreter(model_path)
    in_idx = it.get_input_details()[0]["index"]
    out_idx = it.get_output_details()[0]["index"]
    return _run_litert_it(it, x, in_idx, [out_idx], it.get_tensor)[out_idx]


@contextlib.contextmanager
def capture_fds():
    """Capture C-level stdout+stderr (TFLM prints its errors with MicroPrintf)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    with tempfile.TemporaryFile(mode="w+b") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        box = {}
        try:
            yield box
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            f.seek(0)
            box["text"] = f.read().decode("utf-8", "replace")


def tflm_interpreter(model_path):
    from tflite_micro.python.tflite_micro import runtime as tflm
    return tflm.Interpreter.from_file(str(model_path),
                                      intrepreter_config=tflm.InterpreterConfig.kPreserveAllTensors)


def tflm_try_load(model_path, x0):
    """Returns (interpreter, None) or (None, {'exception':..., 'log':...}) if TFLM refuses."""
    with capture_fds() as cap:
        try:
            it = tflm_interpreter(model_path)
            it.set_input(x0, 0)
            it.invoke()
            err = None
        except Exception as e:  # noqa: BLE001 - we record whatever TFLM raises
            it, err = None, {"exception_type": type(e).__name__, "exception": str(e)}
    if err is not None:
        err["log"] = cap["text"]
    return it, err


def run_tflm(model_path, x, tensor_ids, input_shape):
    it, err = tflm_try_load(model_path, x[0:1].reshape(input_shape))
    if err is not None:
        raise RuntimeError("TFLM refused %s: %r" % (model_path, err))
    out = None
    for i in range(x.shape[0]):
        it.set_input(x[i:i + 1].reshape(input_shape), 0)
        it.invoke()
        vals = {k: np.array(it.GetTensor(k, 0)["tensor_data"], copy=True) for k in tensor_ids}
        if out is None:
            out = {k: np.empty((x.shape[0],) + v.shape, v.dtype) for k, v in vals.items()}
        for k, v in vals.items():
            out[k][i] = v
    return out


def run_runtime(runtime, model_path, probe_path, x, tensor_ids, input_shape):
    if runtime in ("ref", "builtin"):
        return run_litert(model_path, runtime, x, tensor_ids)
    if runtime == "xnnpack":
        return run_xnnpack_probe(probe_path, x, tensor_ids)
    if runtime == "tflm":
        return run_tflm(model_path, x, tensor_ids, input_shape)
    raise ValueError(runtime)


# --------------------------------------------------------------------------
# effb0: the probe, derived without TensorFlow
# --------------------------------------------------------------------------
def write_probe(model_path, probe_path, produced):
    """Write the probe of a model: the same model whose subgraph-0 outputs are every op-produced
    tensor (original outputs first, then the rest in index order), as make_data.make_probe
    writes it, with the flatbuffers schema ai_edge_litert ships instead of TensorFlow's
    flatbuffer_utils. For models whose probe is too large to commit (`probe_derived`)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    with open(model_path, "rb") as f:
        buf = bytearray(f.read())
    m = schema.ModelT.InitFromPackedBuf(buf, 0)
    sg = m.subgraphs[0]
    orig = [int(o) for o in sg.outputs]
    sg.outputs = np.array(orig + [k for k in produced if k not in orig], dtype=np.int32)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with open(probe_path, "wb") as f:
        f.write(b.Output())
