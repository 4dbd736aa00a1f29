"""Topic `int16_pot`: 16x8 LOGISTIC and TANH whose input scale is a power of two (issue 11).

LiteRT's int16 LOGISTIC/TANH kernels check whether the input scale is 2^-12 (LOGISTIC, TANH:
Q3.12) or 2^-11 (TANH: Q4.11, doubled to Q3.12 first). If so, the reference kernel still runs the
256-entry sigmoid table, but the optimized builtin kernels take gemmlowp's int16 fixed-point
`logistic` / `tanh`. The converter never writes such scales in 16x8 mode (an int16 activation
scale is max|x| / 32767, not a power of two), so the scales are set in the flatbuffer: the
output scale of the FULLY_CONNECTED that feeds each activation is replaced (the runtimes derive
that layer's multiplier from it at prepare time, so the model stays consistent).

- pot_16x8: int16 I/O. The image (784) feeds three FULLY_CONNECTED layers of 60 units (60: the
  optimized kernels run 16 + 16 + 16 + 8 values through their SSE code and the last 4 through
  scalar code), each followed by an activation whose input scale is set as follows:
    LOGISTIC (input 2^-12), TANH (input 2^-12), TANH (input 2^-11);
  the three outputs (1/32768 each) are concatenated -> FULLY_CONNECTED (10) -> SOFTMAX.
  Trained 2 epochs on the training digits, converted with EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS
  _INT16_WEIGHTS_INT8 and the base representative dataset. 100 golden images from all four
  runtimes.
"""
import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

import data_int16 as d16

IMAGES = 100
EPOCHS = 2
UNITS = 60
# (activation, input scale written into the flatbuffer)
POT = (("LOGISTIC", 2.0 ** -12), ("TANH", 2.0 ** -12), ("TANH", 2.0 ** -11))


def build(md):
    L = md.keras.layers
    i = md.keras.Input((784,), name="pixels")
    branches = []
    for k, (act, _) in enumerate(POT):
        h = L.Dense(UNITS, name="fc_%d" % k)(i)
        branches.append(L.Activation("sigmoid" if act == "LOGISTIC" else "tanh", name="act_%d" % k)(h))
    x = L.Concatenate(name="concat")(branches)
    x = L.Dense(10, name="fc_out")(x)
    return md.keras.Model(i, L.Softmax(name="softmax")(x), name="pot_16x8")


def set_pot_scales(path):
    """Give each LOGISTIC/TANH input (an FC output) its power-of-two scale, in graph order."""
    m = flatbuffer_utils.read_model(str(path))
    sg = m.subgraphs[0]
    names = {v: k for k, v in schema.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    acts = []
    for op in sg.operators:
        c = m.operatorCodes[op.opcodeIndex]
        name = names[max(c.builtinCode, c.deprecatedBuiltinCode)]
        if name in ("LOGISTIC", "TANH"):
            acts.append((name, op))
    assert [a for a, _ in acts] == [a for a, _ in POT], [a for a, _ in acts]
    scales = {}
    for (name, op), (_, scale) in zip(acts, POT):
        t = sg.tensors[op.inputs[0]]
        assert t.type == schema.TensorType.INT16 and list(t.quantization.zeroPoint) == [0]
        scales[int(op.inputs[0])] = {"op": name, "converter_scale": float(t.quantization.scale[0]), "set_to": scale}
        t.quantization.scale = [scale]
    flatbuffer_utils.write_model(m, str(path))
    return scales


def make(out, split, md):
    xf_tr = split.x_tr.astype(np.float32) / 255.0
    md.setup_determinism()
    model = md.train_conv(lambda: build(md), EPOCHS, md.SEED + 16, xf_tr, split.y_tr)
    flat = d16.convert_16x8(md.concrete_fn(model), xf_tr[:md.N_REPRESENTATIVE], (1, 784), tf.int16)
    stem = "pot_16x8"
    path = out / "models" / (stem + ".tflite")
    path.write_bytes(flat)
    scales = set_pot_scales(path)
    entry = md.golden_entry(
        out, stem,
        "16x8 (int16 I/O): FULLY_CONNECTED x3 -> LOGISTIC (input scale 2^-12), TANH (2^-12), "
        "TANH (2^-11) -> CONCATENATION -> FULLY_CONNECTED -> SOFTMAX; the power-of-two input "
        "scales written into the flatbuffer",
        split.x_te, split.y_te, n_images=IMAGES,
        extra={"topic": "int16_pot", "pot_input_scales": scales,
               "training": "md.train_conv(build, %d epochs, seed %d)" % (EPOCHS, md.SEED + 16)})
    entry["runtimes_that_ran"] = sorted(entry["goldens"], key=md.gl.RUNTIMES.index)
    return {"about": "16x8 LOGISTIC/TANH with power-of-two input scales (scripts/data_int16_pot.py)",
            "models": {stem: entry}}
