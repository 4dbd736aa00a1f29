"""Topic `dynamic_bmm`: hybrid BATCH_MATMUL (dynamic range; issue 11, part 2).

`tf.linalg.matmul(x, W)` with a float activation x and a constant W of at least 1024 elements,
converted with `optimizations = [Optimize.DEFAULT]` and no representative dataset, becomes a
BATCH_MATMUL whose RHS is an int8 constant (one per-tensor scale) and whose LHS and output stay
float32: LiteRT quantizes every LHS row at run time (S1, Z1 per row), multiplies in int32 and
scales back to float. The graph is untrained (random weights, fixed seed): it exists to exercise
every shape path of the kernel on MNIST digits.

- bmm_dynamic: the image as a [1, 28, 28] matrix, then
    1. adj_x: x^T [1,28,28] @ W1 [1,28,40]       (rows = image columns; the all-zero edge columns
                                                  get S1 = 1, Z1 = 0)
    2. RELU, RESHAPE [2,14,40]; W2 [2,40,32]     (one weight matrix per batch)
    3. RELU; adj_y: h @ W3^T, W3 [2,32,32]
    4. RESHAPE [2,2,7,32]; W4 [2,2,32,16]         (two batch dimensions > 1)
    5. W5 [2,1,16,64]                             (broadcast over the second batch dimension)
    6. RESHAPE [1, 1792]
  per-tensor weights, asymmetric run-time input quantization (the converter's
  asymmetric_quantize_inputs = true). 16 golden images.
- bmm_dynamic_per_channel: the same graph with every int8 weight tensor re-quantized in the
  flatbuffer with one scale per output column (quantized_dimension: the column axis, rank-1, or
  rank-2 under adj_y), from the dequantized per-tensor weights. The converter writes per-tensor
  scales only for BATCH_MATMUL. 8 golden images.
- bmm_dynamic_symmetric: bmm_dynamic with asymmetric_quantize_inputs = false on every
  BATCH_MATMUL (set in the flatbuffer): symmetric run-time quantization (Z1 = 0). 8 golden images.
"""
import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

SEED = 11
IMAGES = 16
VARIANT_IMAGES = 8


def build():
    rng = np.random.default_rng(SEED)

    def w(*shape):
        return tf.constant((rng.standard_normal(shape) / np.sqrt(shape[-2])).astype(np.float32))

    w1, w2, w3, w4, w5 = w(1, 28, 40), w(2, 40, 32), w(2, 32, 32), w(2, 2, 32, 16), w(2, 1, 16, 64)

    @tf.function(input_signature=[tf.TensorSpec([1, 28, 28], tf.float32, name="image")])
    def serve(x):
        h = tf.nn.relu(tf.linalg.matmul(x, w1, adjoint_a=True))   # [1, 28, 40]
        h = tf.reshape(h, [2, 14, 40])
        h = tf.nn.relu(tf.linalg.matmul(h, w2))                   # [2, 14, 32]
        h = tf.linalg.matmul(h, w3, adjoint_b=True)               # [2, 14, 32]
        h = tf.reshape(h, [2, 2, 7, 32])
        h = tf.linalg.matmul(h, w4)                               # [2, 2, 7, 16]
        h = tf.linalg.matmul(h, w5)                               # [2, 2, 7, 64]
        return tf.reshape(h, [1, 2 * 2 * 7 * 64])

    conv = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]  # and no representative dataset
    return conv.convert()


def _bmm_ops(m):
    codes = [i for i, c in enumerate(m.operatorCodes)
             if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.BATCH_MATMUL]
    return [op for op in m.subgraphs[0].operators if op.opcodeIndex in codes]


def check_hybrid(m):
    """Every BATCH_MATMUL: float32 LHS, int8 constant RHS with one scale, float32 output."""
    sg = m.subgraphs[0]
    ops = _bmm_ops(m)
    assert len(ops) == 5, len(ops)
    for op in ops:
        x, y, o = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[1]], sg.tensors[op.outputs[0]]
        assert x.type == schema.TensorType.FLOAT32 and o.type == schema.TensorType.FLOAT32
        assert y.type == schema.TensorType.INT8 and m.buffers[y.buffer].data is not None
        assert len(y.quantization.scale) == 1
        assert op.builtinOptions.asymmetricQuantizeInputs
    return ops


def per_channel(m):
    """Re-quantize every BATCH_MATMUL weight with one scale per output column."""
    sg = m.subgraphs[0]
    for op in _bmm_ops(m):
        t = sg.tensors[op.inputs[1]]
        shape = [int(d) for d in t.shape]
        buf = m.buffers[t.buffer]
        q = np.frombuffer(bytes(buf.data), np.int8).reshape(shape)
        real = q.astype(np.float32) * np.float32(t.quantization.scale[0])
        axis = len(shape) - (2 if op.builtinOptions.adjY else 1)
        other = tuple(a for a in range(len(shape)) if a != axis)
        scale = (np.max(np.abs(real), axis=other) / np.float32(127.0)).astype(np.float32)
        bshape = [1] * len(shape)
        bshape[axis] = shape[axis]
        qn = np.clip(np.round(real / scale.reshape(bshape)), -127, 127).astype(np.int8)
        buf.data = np.frombuffer(qn.tobytes(), np.uint8).copy()
        t.quantization.scale = [float(s) for s in scale]
        t.quantization.zeroPoint = [0] * len(scale)
        t.quantization.quantizedDimension = axis


def symmetric(m):
    for op in _bmm_ops(m):
        op.builtinOptions.asymmetricQuantizeInputs = False


def make(out, split, md):
    models = {}
    path = out / "models" / "bmm_dynamic.tflite"
    path.write_bytes(build())
    check_hybrid(flatbuffer_utils.read_model(str(path)))
    models["bmm_dynamic"] = md.golden_entry(
        out, "bmm_dynamic",
        "dynamic range (Optimize.DEFAULT, no representative dataset), untrained: five hybrid "
        "BATCH_MATMUL (float32 LHS x int8 constant RHS, per-tensor scale, asymmetric run-time input "
        "quantization per LHS row): adj_x, per-batch weights, adj_y, two batch dimensions, a "
        "broadcast batch dimension",
        split.x_te, split.y_te, n_images=IMAGES)
    for stem, edit, what in (
            ("bmm_dynamic_per_channel", per_channel,
             "bmm_dynamic with every int8 BATCH_MATMUL weight re-quantized per output column in the "
             "flatbuffer (quantized_dimension = the column axis)"),
            ("bmm_dynamic_symmetric", symmetric,
             "bmm_dynamic with asymmetric_quantize_inputs = false on every BATCH_MATMUL (set in the "
             "flatbuffer): symmetric run-time quantization, Z1 = 0")):
        m = flatbuffer_utils.read_model(str(path))
        edit(m)
        flatbuffer_utils.write_model(m, str(out / "models" / (stem + ".tflite")))
        models[stem] = md.golden_entry(out, stem, what, split.x_te, split.y_te, n_images=VARIANT_IMAGES)
    return {"models": models,
            "graph": "scripts/data_dynamic_bmm.py build (untrained, seed %d)" % SEED}
