"""Topic `uint8`: uint8 versions of the graph ops (issue 14), proven by rewriting int8 models.

The converter no longer emits uint8 activations, so each model here is a fresh full-integer int8
conversion REWRITTEN into uint8 (`to_uint8`, the same tool as `squeeze_rewrite` in data_arch.py:
tensorflow.lite.tools.flatbuffer_utils): every int8 tensor becomes UINT8 with zero point +128 and,
for a constant, every byte +128, so every real value S(q - Z) is unchanged. The graphs contain no
convolution / fully-connected filter (LiteRT's uint8 kernels want uint8 filters; those are proven
by the legacy models), so no tensor stays int8. Operator versions stay those the converter wrote
for int8 (the LiteRT resolvers and TFLite Micro pick kernels by dtype, not by version).

Every op is first converted and rewritten alone (a one-branch probe, not committed) and run in
LiteRT ref, LiteRT builtin and TFLite Micro: what a runtime refuses is recorded in the manifest
(`uint8_refusals`). The committed models hold the branches both LiteRT resolvers run:

- `uint8_ops`: the 784 pixels read as (1,14,14,4), times/plus random constants into two maps a, b
  (spread about +-3); one branch per op (`branches()`); every branch's result is a model output.
  Untrained. 30 golden images.
- `uint8_ops_builtin`: the branches LiteRT ref's resolver lacks an operator version for (TILE 3,
  DEPTH_TO_SPACE 2); goldens from builtin and XNNPACK, ref's refusal recorded.

A branch is named after the op it asks for; the converter may write another op or leave the branch
float between DEQUANTIZE and QUANTIZE (in uint8_ops: EQUAL, NOT_EQUAL, NEG and the
STRIDED_SLICE/TRANSPOSE branch run float32, SELECT_V2 is written as SELECT, RELU6 fused into the op before it).
The manifest's `probe_ops` lists what each branch became alone, the entry's `ops` the model.

Run: python scripts/make_data.py --only uint8
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf
import keras
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

SEED = 1408
N_GOLDEN = 30
FILTER_OPS = {schema.BuiltinOperator.CONV_2D, schema.BuiltinOperator.DEPTHWISE_CONV_2D,
              schema.BuiltinOperator.FULLY_CONNECTED, schema.BuiltinOperator.TRANSPOSE_CONV}

ARCH = ("Input: the 784 pixels as (1,14,14,4) = x; a = x*Wa + Ba, b = x*Wb + Bb (random (14,14,4) "
        "constants, values about +-3); one branch per op on a, b; every branch an output")


def _prelu():
    layer = keras.layers.PReLU(shared_axes=[1, 2], name="prelu")
    layer.build((None, 14, 14, 4))
    layer.set_weights([np.array([[[0.25, -0.5, 0.1, 1.5]]], np.float32)])
    return layer


def branches():
    """(name, fn(a, b)) for every op proven in uint8; a and b are (1, 14, 14, 4) float maps."""
    prelu = _prelu()
    c = tf.constant(np.random.default_rng(SEED + 3).normal(0, 1, (1, 14, 14, 4)).astype(np.float32))
    c4 = tf.constant(np.array([0.5, -1.0, 0.0, 2.0], np.float32))
    return [
        ("LOG_SOFTMAX", lambda a, b: tf.nn.log_softmax(a, axis=-1)),
        ("L2_NORMALIZATION", lambda a, b: tf.math.l2_normalize(a, axis=-1)),
        ("HARD_SWISH", lambda a, b: a * tf.nn.relu6(a + 3.0) * (1.0 / 6.0)),
        ("MAXIMUM", lambda a, b: tf.maximum(a, b)),
        ("MINIMUM", lambda a, b: tf.minimum(a, b)),
        ("LESS", lambda a, b: tf.where(a < b, a, c)),
        ("GREATER", lambda a, b: tf.where(a > b, b, c)),
        ("GREATER_EQUAL", lambda a, b: tf.where(a >= c, a, b)),
        ("LESS_EQUAL", lambda a, b: tf.where(b <= c, b, a)),
        ("EQUAL", lambda a, b: tf.where(tf.equal(tf.nn.relu(a), tf.nn.relu(b)), a, b)),
        ("NOT_EQUAL", lambda a, b: tf.where(tf.not_equal(tf.nn.relu(b), tf.nn.relu(a)), b, a)),
        ("SELECT_V2", lambda a, b: tf.where(a < c4, a, b)),
        ("SUM", lambda a, b: tf.reduce_sum(a, axis=[1])),
        ("REDUCE_MAX", lambda a, b: tf.reduce_max(a, axis=[2])),
        ("REDUCE_MIN", lambda a, b: tf.reduce_min(a, axis=[1, 2])),
        ("REDUCE_PROD", lambda a, b: tf.reduce_prod(a[:, :3] * 0.5, axis=[1])),
        ("MEAN", lambda a, b: tf.reduce_mean(a, axis=[1, 2], keepdims=True)),
        ("ARG_MAX", lambda a, b: tf.cast(tf.argmax(a, axis=-1, output_type=tf.int32), tf.float32)),
        ("ARG_MIN", lambda a, b: tf.cast(tf.argmin(a, axis=1, output_type=tf.int32), tf.float32)),
        ("TRANSPOSE", lambda a, b: tf.transpose(a, [0, 3, 1, 2])),
        ("GATHER", lambda a, b: tf.gather(a, [3, 0, 0, 2], axis=3)),
        ("TILE", lambda a, b: tf.tile(a[:, :4], [1, 2, 1, 2])),
        ("SLICE", lambda a, b: tf.slice(a, [0, 2, 3, 1], [1, 5, 7, 2])),
        ("STRIDED_SLICE", lambda a, b: a[:, 1:12:3, ::2, :]),
        ("SPLIT", lambda a, b: tf.concat(tf.split(a, 2, axis=2)[::-1], axis=1)),
        ("SPLIT_V", lambda a, b: tf.concat(tf.split(a, [1, 3], axis=3)[::-1], axis=3)),
        ("CONCATENATION", lambda a, b: tf.concat([a, b], axis=3)),
        ("PAD", lambda a, b: tf.pad(a, [[0, 0], [1, 2], [0, 1], [0, 0]])),
        ("PADV2", lambda a, b: tf.pad(a, [[0, 0], [1, 0], [2, 1], [0, 0]], constant_values=1.5)),
        ("MIRROR_PAD", lambda a, b: tf.pad(a, [[0, 0], [2, 1], [1, 2], [0, 0]], mode="REFLECT")),
        ("ADD", lambda a, b: a + b),
        ("SUB", lambda a, b: a - b),
        ("MUL", lambda a, b: a * b),
        ("DIV", lambda a, b: a / (tf.nn.relu(b) + 0.5)),
        ("SQUARED_DIFFERENCE", lambda a, b: tf.math.squared_difference(a, b)),
        ("RELU", lambda a, b: tf.nn.relu(a)),
        ("RELU6", lambda a, b: tf.nn.relu6(tf.maximum(a, b) * 0.5 + tf.minimum(a, b))),
        ("LOGISTIC", lambda a, b: tf.sigmoid(a)),
        ("TANH", lambda a, b: tf.tanh(a)),
        ("LEAKY_RELU", lambda a, b: tf.nn.leaky_relu(a, alpha=0.2)),
        ("PRELU", lambda a, b: prelu(a)),
        ("GELU", lambda a, b: tf.nn.gelu(a, approximate=True)),
        ("ABS", lambda a, b: tf.abs(a)),
        ("NEG", lambda a, b: -a),
        ("RSQRT", lambda a, b: tf.math.rsqrt(tf.nn.relu(a) + 0.25)),
        ("SQRT", lambda a, b: tf.sqrt(tf.nn.relu(a))),
        ("EXP", lambda a, b: tf.exp(a * 0.5)),
        ("LOG", lambda a, b: tf.math.log(tf.nn.relu(a) + 0.25)),
        ("SOFTMAX", lambda a, b: tf.nn.softmax(a, axis=-1)),
        ("RESIZE_BILINEAR", lambda a, b: tf.compat.v1.image.resize_bilinear(a, [20, 9], half_pixel_centers=True)),
        ("RESIZE_NEAREST_NEIGHBOR", lambda a, b: tf.compat.v1.image.resize_nearest_neighbor(a, [21, 10])),
        ("DEPTH_TO_SPACE", lambda a, b: tf.nn.depth_to_space(a, 2)),
        ("SPACE_TO_DEPTH", lambda a, b: tf.nn.space_to_depth(a, 2)),
        ("SPACE_TO_BATCH_ND", lambda a, b: tf.reduce_max(tf.space_to_batch_nd(a, [2, 2], [[0, 0], [0, 0]]), axis=0, keepdims=True)),
        ("BATCH_TO_SPACE_ND", lambda a, b: tf.batch_to_space(tf.reshape(a, [4, 7, 7, 4]), [2, 2], [[0, 0], [1, 1]])),
    ]


def convert(fns, rep, preamble=True):
    """Full-integer int8 PTQ of the branches fns (int8 I/O, one output per branch). The input is
    the 784 pixels as (1, 14, 14, 4); without the preamble a = b = the input (a probe whose first
    op is the op probed)."""
    rng = np.random.default_rng(SEED)
    wa, wb = (tf.constant(rng.normal(0, 3, (14, 14, 4)).astype(np.float32)) for _ in range(2))
    ba, bb = (tf.constant(rng.normal(0, 1, (14, 14, 4)).astype(np.float32)) for _ in range(2))

    @tf.function(input_signature=[tf.TensorSpec([1, 14, 14, 4], tf.float32, name="image")])
    def serve(x):
        a, b = (x * wa + ba, x * wb + bb) if preamble else (x, x)
        return [f(a, b) for f in fns]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]

    def gen():
        for img in rep:
            yield [img.reshape(1, 14, 14, 4)]

    conv.representative_dataset = gen
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def to_uint8(flat):
    """Rewrite every int8 tensor as uint8: zero point +128, constant bytes +128 (real values kept).

    Returns the new bytes and a summary of what changed."""
    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(flat))
    sg = m.subgraphs[0]
    codes = [c.builtinCode if c.builtinCode else c.deprecatedBuiltinCode for c in m.operatorCodes]
    for op in sg.operators:
        assert codes[op.opcodeIndex] not in FILTER_OPS, "a filter op in a uint8 coverage graph"
    n_act, n_const, done = 0, 0, set()
    for t in sg.tensors:
        if t.type != schema.TensorType.INT8:
            continue
        t.type = schema.TensorType.UINT8
        q = t.quantization
        assert q is not None and len(q.zeroPoint) == 1, t.name
        q.zeroPoint = [int(q.zeroPoint[0]) + 128]
        buf = m.buffers[t.buffer]
        if buf.data is not None and len(buf.data) > 0:
            n_const += 1
            if t.buffer in done:  # a constant the converter shares between int8 tensors
                continue
            done.add(t.buffer)
            buf.data = (np.asarray(buf.data, np.uint8).view(np.int8).astype(np.int16) + 128).astype(np.uint8)
        else:
            n_act += 1
    versions = {}
    for op in sg.operators:
        c = m.operatorCodes[op.opcodeIndex]
        versions[schema_name(codes[op.opcodeIndex])] = int(c.version)
    return (bytes(flatbuffer_utils.convert_object_to_bytearray(m)),
            {"activation_tensors": n_act, "constant_tensors": n_const, "op_versions": versions})


def schema_name(code):
    return next(k for k, v in vars(schema.BuiltinOperator).items() if v == code)


def input_quant(flat):
    """(scale, zero point, shape) of input 0 of a model."""
    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(flat))
    t = m.subgraphs[0].tensors[m.subgraphs[0].inputs[0]]
    return float(t.quantization.scale[0]), int(t.quantization.zeroPoint[0]), [int(d) for d in t.shape]


TFLM_PROBE = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[3])
import goldenlib as gl
from tflite_micro.python.tflite_micro import runtime as tflm
with gl.capture_fds() as cap:
    try:
        it = tflm.Interpreter.from_file(sys.argv[1], arena_size=1 << 22)
        it.set_input(np.load(sys.argv[2]), 0)
        it.invoke()
        err = None
    except Exception as e:
        err = {"exception": str(e)}
if err is not None:
    err["log"] = cap["text"]
print(json.dumps(err))
"""


def tflm_probe(path, x0):
    """TFLite Micro on one probe, in a child process (uint8 kernels without a dtype check crash
    it) with a 4 MiB arena (so that a refusal is about the op, not the arena): None if it ran,
    else what it said (or the signal that killed it)."""
    fd, npy = tempfile.mkstemp(suffix=".npy")
    os.close(fd)
    np.save(npy, x0)
    r = subprocess.run([sys.executable, "-c", TFLM_PROBE, str(path), npy, str(pathlib.Path(__file__).parent)],
                       capture_output=True, text=True, timeout=300)
    os.unlink(npy)
    if r.returncode < 0:
        return "crashed: killed by signal %s (%s) while running the model" % (
            -r.returncode, signal.Signals(-r.returncode).name)
    err = json.loads(r.stdout.strip().splitlines()[-1])
    if err is None:
        return None
    return (err["exception"] + " | " + err["log"].replace("\r\n", "\n").strip())[:400]


def probe_runtimes(md, path, x0):
    """Run a uint8 probe once in LiteRT ref and builtin and TFLite Micro: {runtime: refusal}."""
    refused = {}
    for rt in ("ref", "builtin"):
        try:
            md.gl.run_litert(path, rt, x0, [])
        except Exception as e:  # noqa: BLE001 - recorded
            refused[rt] = "%s: %s" % (type(e).__name__, str(e).strip())
    err = tflm_probe(path, x0)
    if err is not None:
        refused["tflm"] = err
    return refused


def make(out, split, md):
    rep = split.x_tr[:md.N_REPRESENTATIVE].astype(np.float32).reshape(-1, 28, 28, 1) / 255.0
    all_branches = branches()
    refusals, probe_ops, accepted = {}, {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in all_branches:
            flat, info = to_uint8(convert([fn], rep, preamble=False))
            path = pathlib.Path(tmp) / (name + ".tflite")
            path.write_bytes(flat)
            ops = sorted(info["op_versions"].items())
            probe_ops[name] = info["op_versions"]
            scale, zp, shape = input_quant(flat)
            x0 = md.gl.quantize_input(split.x_te[:1], "uint8", scale, zp).reshape(shape)
            r = probe_runtimes(md, path, x0)
            md.log("uint8 probe %-24s ops %s refused %s" % (name, ops, {k: v[:150] for k, v in r.items()}))
            if r:
                refusals[name] = r
            if "ref" not in r and "builtin" not in r:
                accepted.append((name, fn))
    # LiteRT ref lacks some operator versions the int8 converter writes (TILE 3, DEPTH_TO_SPACE 2):
    # those branches go to a second model, whose ref refusal golden_entry records.
    def resolver_gap(r):
        return "ref" in r and "builtin" not in r and "Didn't find op" in r["ref"]

    groups = [("uint8_ops", [b for b in accepted if not resolver_gap(refusals.get(b[0], {}))]),
              ("uint8_ops_builtin", [b for b in all_branches if resolver_gap(refusals.get(b[0], {}))])]
    entries = {}
    (out / "models" / "probe").mkdir(parents=True, exist_ok=True)
    for stem, group in groups:
        flat, summary = to_uint8(convert([fn for _, fn in group], rep))
        path = out / "models" / (stem + ".tflite")
        path.write_bytes(flat)
        scale, zp, shape = input_quant(flat)
        tflm = tflm_probe(path, md.gl.quantize_input(split.x_te[:1], "uint8", scale, zp).reshape(shape))
        # golden_entry and check_goldens.py run TFLite Micro in-process: it must refuse cleanly
        assert tflm is None or not tflm.startswith("crashed"), tflm
        e = md.golden_entry(out, stem, "uint8 op coverage (an int8 PTQ conversion rewritten into uint8), "
                            "untrained: " + ARCH, split.x_te, split.y_te, n_images=N_GOLDEN)
        e["op_kinds"] = sorted({o["op"] for o in e["ops"]})
        e["runtimes_that_ran"] = sorted(e["goldens"], key=md.gl.RUNTIMES.index)
        e["golden_images"] = N_GOLDEN
        e["branches"] = [n for n, _ in group]
        e["uint8_rewrite"] = dict(summary, how=(
            "full-integer int8 PTQ (int8 I/O), then every INT8 tensor rewritten as UINT8 with zero point "
            "+128 and constant bytes +128 (real values unchanged); no conv/FC filter in the graph; "
            "operator versions as the converter wrote them for int8"))
        entries[stem] = e
    return {"models": entries,
            "uint8_refusals": {
                "what": "each branch converted and rewritten alone (a = b = the uint8 input; a probe, not "
                        "committed) and run once in LiteRT ref, LiteRT builtin and TFLite Micro (in a child "
                        "process: several TFLM kernels crash on uint8). A branch refused by LiteRT ref or "
                        "builtin is left out, except a ref resolver gap (branch in uint8_ops_builtin). "
                        "TFLM probes run with a 4 MiB arena.",
                "probe_ops": probe_ops, "refused": refusals,
                "left_out": sorted(n for n, _ in all_branches
                                   if n not in {b for _, g in groups for b, _ in g})}}
