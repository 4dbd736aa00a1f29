"""Topic `arch` (issue 14): a Conv1D keyword-spotting model (EXPAND_DIMS, SQUEEZE, LOG_SOFTMAX).

- `kws1d_ptq_int8`: the keyword-spotting DS-CNN on the 28 rows of a digit read as a time series
  (28 steps of 28 features): Conv1D (stride 2) and two depthwise-separable Conv1D blocks
  (DepthwiseConv1D + pointwise Conv1D, BatchNorm, ReLU), global average pooling, Dense(10) and
  LOG_SOFTMAX on the logits. Trained briefly on the 4000 training digits, full-integer PTQ with
  int8 I/O. Converted with a dynamic batch, so the converter writes each 1-D convolution as
  EXPAND_DIMS -> CONV_2D / DEPTHWISE_CONV_2D -> RESHAPE (with a static batch the EXPAND_DIMS
  would be a RESHAPE too).

  The converter turns every squeeze whose result has at most one unknown dimension into a
  RESHAPE, so no converter output has a SQUEEZE with static shapes. This module therefore writes
  the RESHAPE that follows each convolution back as the SQUEEZE it came from
  (`squeeze_dims = [1]`, one input) with TensorFlow's own flatbuffer_utils; the rewritten file
  is what every runtime runs and what the goldens come from (the count of rewritten ops is in the
  manifest, `squeeze_rewrite`).

- `logsoftmax_ptq_int8`: LOG_SOFTMAX alone on many rows: the image's 28 rows times two random
  28x28 matrices (logits spread about ±20 and about ±2), LOG_SOFTMAX over each row of 28, the two
  concatenated (both outputs are on the fixed 16/256, 127 grid). Untrained; full-integer PTQ with
  int8 I/O. 100 golden images: 5 600 LOG_SOFTMAX outputs per image.

- `gelu_float32`: float32 GELU, exact and tanh-approximate, on a 39-element vector (its last 3
  elements fall outside LiteRT's 4-float SSE packets) and on a 28x27 map, inputs spread about ±6
  (random matrices times the image). Goldens: 24 images from LiteRT ref, builtin and XNNPACK
  (TFLite Micro has no GELU: refusal recorded).

Run: python scripts/make_data.py --only arch
"""
import numpy as np
import tensorflow as tf
import keras
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

L = keras.layers

KWS_SEED = 1401
KWS_EPOCHS = 8
KWS_N_GOLDEN = 100

KWS_ARCH = (
    "Input(28,28) (28 time steps x 28 features) -> Conv1D(24,5,s2,same)+BN+ReLU (14 steps) -> "
    "2 x [DepthwiseConv1D(3,same)+BN+ReLU -> Conv1D(24,1)+BN+ReLU] -> GlobalAveragePooling1D -> "
    "Dense(10) -> log_softmax; converted with a dynamic batch (EXPAND_DIMS before each 1-D "
    "convolution), the RESHAPE after each convolution written back as SQUEEZE(squeeze_dims=[1])")


def build_kws1d():
    i = keras.Input((28, 28), name="frames")
    x = L.Conv1D(24, 5, strides=2, padding="same", use_bias=False, name="conv0")(i)
    x = L.BatchNormalization(name="bn0")(x)
    x = L.ReLU(name="relu0")(x)
    for b in range(2):
        x = L.DepthwiseConv1D(3, padding="same", use_bias=False, name="dw%d" % b)(x)
        x = L.BatchNormalization(name="bn%da" % b)(x)
        x = L.ReLU(name="relu%da" % b)(x)
        x = L.Conv1D(24, 1, use_bias=False, name="pw%d" % b)(x)
        x = L.BatchNormalization(name="bn%db" % b)(x)
        x = L.ReLU(name="relu%db" % b)(x)
    x = L.GlobalAveragePooling1D(name="gap")(x)
    x = L.Dense(10, name="fc")(x)
    return keras.Model(i, L.Softmax(name="softmax")(x), name="kws1d")


def ptq_int8(serve, rep_images):
    """Full-integer PTQ of a tf.function on (1, 28, 28) frames, int8 I/O, int8 builtins only."""
    conv = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]

    def rep():
        for img in rep_images:
            yield [img.reshape(1, 28, 28).astype(np.float32)]

    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def convert_kws1d(model, rep_images):
    logits = keras.Model(model.input, model.get_layer("fc").output)

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32, name="frames")])
    def serve(x):
        return tf.nn.log_softmax(logits(x, training=False), axis=-1)

    return ptq_int8(serve, rep_images)


def reshapes_to_squeeze(flat):
    """Write each RESHAPE that drops the size-1 axis 1 a convolution's output has (the Conv1D's
    squeeze) as SQUEEZE(squeeze_dims=[1]) with one input. Returns the new bytes and the count."""
    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(flat))
    sg = m.subgraphs[0]
    codes = [c.builtinCode if c.builtinCode else c.deprecatedBuiltinCode for c in m.operatorCodes]
    producer = {t: op for op in sg.operators for t in op.outputs}
    conv_codes = {schema.BuiltinOperator.CONV_2D, schema.BuiltinOperator.DEPTHWISE_CONV_2D}
    squeeze_code = None
    n = 0
    for op in sg.operators:
        if codes[op.opcodeIndex] != schema.BuiltinOperator.RESHAPE:
            continue
        src = producer.get(op.inputs[0])
        if src is None or codes[src.opcodeIndex] not in conv_codes:
            continue
        si, so = list(sg.tensors[op.inputs[0]].shape), list(sg.tensors[op.outputs[0]].shape)
        if len(si) != 4 or si[1] != 1 or so != si[:1] + si[2:]:
            continue
        if squeeze_code is None:
            c = schema.OperatorCodeT()
            c.builtinCode = schema.BuiltinOperator.SQUEEZE
            c.deprecatedBuiltinCode = schema.BuiltinOperator.SQUEEZE
            c.version = 1
            m.operatorCodes.append(c)
            squeeze_code = len(m.operatorCodes) - 1
        op.opcodeIndex = squeeze_code
        op.inputs = [op.inputs[0]]
        opts = schema.SqueezeOptionsT()
        opts.squeezeDims = [1]
        op.builtinOptionsType = schema.BuiltinOptions.SqueezeOptions
        op.builtinOptions = opts
        n += 1
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m)), n


LOGSM_N_GOLDEN = 100
LOGSM_ARCH = ("Input(28,28) -> [x @ W1 (logits about +-20), x @ W2 (about +-2)] -> log_softmax over the "
              "last axis of each -> Concatenate(axis -1) -> (28, 56)")


def convert_logsoftmax(rep_images):
    rng = np.random.default_rng(KWS_SEED + 1)
    w1 = tf.constant(rng.normal(0, 1.5, (28, 28)).astype(np.float32))
    w2 = tf.constant(rng.normal(0, 0.15, (28, 28)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 28, 28], tf.float32, name="image")])
    def serve(x):
        return tf.concat([tf.nn.log_softmax(tf.matmul(x, w1), axis=-1),
                          tf.nn.log_softmax(tf.matmul(x, w2), axis=-1)], axis=-1)

    return ptq_int8(serve, rep_images)


GELU_N_GOLDEN = 24
GELU_ARCH = ("Input(28,28) -> flatten @ W1, W1' (784x39) -> GELU exact = a, GELU tanh = b; x @ W2, W2' (28x27) -> "
             "GELU exact = c, GELU tanh = d; flatten and concatenate [a, b, c, d]")


def convert_gelu_float(_rep_images):
    rng = np.random.default_rng(KWS_SEED + 2)
    w1 = [tf.constant(rng.normal(0, 0.6, (784, 39)).astype(np.float32)) for _ in range(2)]
    w2 = [tf.constant(rng.normal(0, 1.5, (28, 27)).astype(np.float32)) for _ in range(2)]

    @tf.function(input_signature=[tf.TensorSpec([1, 28, 28], tf.float32, name="image")])
    def serve(x):
        # one matmul per GELU: the converter fuses erf-GELU only when its input has no other use
        flat = tf.reshape(x, [1, 784])
        parts = [tf.nn.gelu(tf.matmul(flat, w1[0]), approximate=False),
                 tf.nn.gelu(tf.matmul(flat, w1[1]), approximate=True),
                 tf.nn.gelu(tf.matmul(x, w2[0]), approximate=False),
                 tf.nn.gelu(tf.matmul(x, w2[1]), approximate=True)]
        return tf.concat([tf.reshape(t, [1, -1]) for t in parts], axis=1)

    return tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()]).convert()


def make(out, split, md):
    (out / "models" / "probe").mkdir(parents=True, exist_ok=True)
    xf_tr = split.x_tr.astype(np.float32).reshape(-1, 28, 28) / 255.0
    xf_te = split.x_te.astype(np.float32).reshape(-1, 28, 28) / 255.0
    rep = xf_tr[:md.N_REPRESENTATIVE]
    model = md.train_conv(build_kws1d, KWS_EPOCHS, KWS_SEED, xf_tr, split.y_tr)
    keras_acc = float(np.mean(np.argmax(model.predict(xf_te, verbose=0), 1) == split.y_te))
    md.log("kws1d: keras held-out accuracy %.4f" % keras_acc)
    flat, n_squeeze = reshapes_to_squeeze(convert_kws1d(model, rep))
    assert n_squeeze == 5, n_squeeze
    models = [
        ("kws1d_ptq_int8", flat, "Conv1D keyword-spotting DS-CNN, full-integer PTQ, int8 I/O: " + KWS_ARCH,
         KWS_N_GOLDEN),
        ("logsoftmax_ptq_int8", convert_logsoftmax(rep),
         "LOG_SOFTMAX coverage, full-integer PTQ, int8 I/O, untrained: " + LOGSM_ARCH, LOGSM_N_GOLDEN),
        ("gelu_float32", convert_gelu_float(rep),
         "float32 GELU coverage (exact and tanh), untrained: " + GELU_ARCH, GELU_N_GOLDEN),
    ]
    entries = {}
    for stem, model_bytes, description, n in models:
        (out / "models" / (stem + ".tflite")).write_bytes(model_bytes)
        e = md.golden_entry(out, stem, description, split.x_te, split.y_te, n_images=n)
        e["op_kinds"] = sorted({o["op"] for o in e["ops"]})
        e["runtimes_that_ran"] = sorted(e["goldens"], key=md.gl.RUNTIMES.index)
        e["golden_images"] = n
        entries[stem] = e
    entries["kws1d_ptq_int8"]["squeeze_rewrite"] = {
        "reshapes_written_as_squeeze": n_squeeze, "squeeze_dims": [1],
        "why": "the converter writes every squeeze with at most one unknown dimension as RESHAPE"}
    training = {"kws1d": {"architecture": KWS_ARCH, "epochs": KWS_EPOCHS, "batch_size": md.BATCH,
                          "optimizer": "adam(1e-3)", "seed": KWS_SEED, "input_scaling": "pixel / 255.0",
                          "keras_heldout_accuracy": keras_acc,
                          "representative_dataset": "first %d training images" % md.N_REPRESENTATIVE}}
    return {"models": entries, "training": training}
