"""Topic `reader_corpus`: small valid .tflite files that exercise the reader (issue 11, part 6).

Each file is there to be *opened* by `quantlens inspect` (tests/inspect_corpus.rs); only the sparse
float model also gets goldens (its DENSIFY runs). Files go to data/corpus/ (not data/models/, so
the golden suites do not expect goldens for them). Every model is tiny (a few KB) and untrained:
random weights from a fixed seed, so the files are deterministic.

- corpus_sparse_float.tflite   Dense with 80 % of its weights zero, EXPERIMENTAL_SPARSITY: a sparse
                                constant (traversal order, dim metadata DENSE + SPARSE_CSR) and DENSIFY
- corpus_sparse_block.tflite    the same with a 1x4 block pattern (block_map, 3 dim metadata)
- corpus_sparse_int8.tflite     int8 PTQ + EXPERIMENTAL_SPARSITY: an int8 sparse constant and DENSIFY
- corpus_custom_op.tflite       one builtin op turned into a CUSTOM op with custom_code and options
- corpus_while.tflite           tf.while_loop -> WHILE with cond and body subgraphs
- corpus_if.tflite              tf.cond -> IF with then/else subgraphs
- corpus_every_dtype.tflite     a float ADD model plus one constant tensor of every TensorType
                                (INT4/UINT4/INT2 packed, STRING in TFLite's string-buffer format),
                                one with BlockwiseQuantization details
- corpus_buffer_offset.tflite   constant data outside the FlatBuffer, at Buffer.offset/size
                                (the converter's > 2 GB layout, `_experimental_use_buffer_offset`)
- corpus_dynamic_range.tflite   Optimize.DEFAULT without representative data (int8 weights, float I/O)
- corpus_16x8.tflite            EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
- corpus_float16.tflite         supported_types=[tf.float16] (float16 weights, DEQUANTIZE)
"""
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.lite.python import schema_py_generated as S
from tensorflow.lite.tools import flatbuffer_utils

SEED = 11


def tiny_mlp(hidden=16, sparse=None):
    keras.utils.set_random_seed(SEED)
    m = keras.Sequential([
        keras.Input(shape=(784,), name="pixels"),
        keras.layers.Dense(hidden, activation="relu", name="fc1"),
        keras.layers.Dense(10, name="fc2"),
        keras.layers.Softmax(name="softmax"),
    ], name="tiny")
    if sparse is not None:
        w, b = m.get_layer("fc1").get_weights()
        m.get_layer("fc1").set_weights([w * sparse(w.shape), b])
    return m


def concrete(model, shape=(1, 784)):
    @tf.function(input_signature=[tf.TensorSpec(list(shape), tf.float32, name="pixels")])
    def serve(x):
        return model(x, training=False)
    return serve.get_concrete_function()


def converter(fn):
    return tf.lite.TFLiteConverter.from_concrete_functions([fn])


def keras_converter(model):
    """from_keras_model writes a SignatureDef (serving_default), which the reader must show."""
    return tf.lite.TFLiteConverter.from_keras_model(model)


def rep_data(split):
    xs = split.x_tr[:64].astype(np.float32) / 255.0

    def rep():
        for x in xs:
            yield [x.reshape(1, 784)]
    return rep


def random_mask(shape):
    rng = np.random.default_rng(SEED)
    return (rng.random(shape) < 0.2).astype(np.float32)


def block_mask(shape):
    """Keep 20 % of 1x4 blocks (blocks along the input dimension of the [out, in] TFLite weights,
    i.e. along axis 0 of Keras' [in, out] kernel)."""
    rng = np.random.default_rng(SEED + 1)
    keep = (rng.random((shape[0] // 4, shape[1])) < 0.2).astype(np.float32)
    return np.repeat(keep, 4, axis=0)


def convert_sparse(mask, quantized, split):
    c = converter(concrete(tiny_mlp(sparse=mask)))
    c.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    if quantized:
        c.optimizations = [tf.lite.Optimize.DEFAULT, tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
        c.representative_dataset = rep_data(split)
    return c.convert()


def convert_custom_op():
    """A float tiny MLP whose SOFTMAX is renamed to a custom op (as a user's own kernel would be)."""
    m = flatbuffer_utils.convert_bytearray_to_object(converter(concrete(tiny_mlp())).convert())
    for oc in m.operatorCodes:
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == S.BuiltinOperator.SOFTMAX:
            oc.builtinCode = S.BuiltinOperator.CUSTOM
            oc.deprecatedBuiltinCode = S.BuiltinOperator.CUSTOM
            oc.customCode = "QuantlensTestSoftmax"
    for op in m.subgraphs[0].operators:
        if m.operatorCodes[op.opcodeIndex].builtinCode == S.BuiltinOperator.CUSTOM:
            op.builtinOptionsType = 0
            op.builtinOptions = None
            op.customOptions = list(b"\x01\x02beta=1")
            op.customOptionsFormat = S.CustomOptionsFormat.FLEXBUFFERS
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


def convert_while():
    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
    def loop(x):
        i = tf.constant(0)
        _, y = tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * 2.0 + 1.0), [i, x])
        return y
    return converter(loop.get_concrete_function()).convert()


def convert_if():
    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
    def branch(x):
        return tf.cond(tf.reduce_sum(x) > 0.0, lambda: x * 2.0, lambda: x - 1.0)
    return converter(branch.get_concrete_function()).convert()


def string_buffer(strings):
    """TFLite's string tensor buffer: int32 count, int32 offsets[count + 1], then the bytes."""
    head = 4 * (len(strings) + 2)
    offsets, pos = [], head
    for s in strings:
        offsets.append(pos)
        pos += len(s)
    offsets.append(pos)
    return np.array([len(strings)] + offsets, "<i4").tobytes() + b"".join(strings)


def convert_every_dtype():
    """A float ADD model, plus one constant tensor of every TensorType (unused by the ops)."""
    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
    def add(x):
        return x + tf.constant([1.0, 2.0, 3.0, 4.0])
    m = flatbuffer_utils.convert_bytearray_to_object(converter(add.get_concrete_function()).convert())
    sg = m.subgraphs[0]
    names = {v: k for k, v in vars(S.TensorType).items() if not k.startswith("_")}
    bits = {"FLOAT32": 32, "FLOAT16": 16, "INT32": 32, "UINT8": 8, "INT64": 64, "BOOL": 8, "INT16": 16,
            "COMPLEX64": 64, "INT8": 8, "FLOAT64": 64, "COMPLEX128": 128, "UINT64": 64, "UINT32": 32,
            "UINT16": 16, "INT4": 4, "UINT4": 4, "BFLOAT16": 16, "INT2": 2, "FLOAT8_E4M3FN": 8,
            "FLOAT8_E5M2": 8}
    rng = np.random.default_rng(SEED)
    for code in sorted(names):
        name = names[code]
        t = S.TensorT()
        t.name = "dtype_" + name.lower()
        t.type = code
        t.shape = np.array([2, 3], np.int32)
        if name == "STRING":
            t.shape = np.array([3], np.int32)
            data = string_buffer([b"quant", b"", b"lens\x00\xff"])
        elif name in ("RESOURCE", "VARIANT"):
            t.shape = np.array([], np.int32)
            data = b""
        else:
            n_bytes = (6 * bits[name] + 7) // 8
            data = rng.integers(0, 256, n_bytes, dtype=np.uint8).tobytes()
            if name == "BOOL":
                data = bytes(b & 1 for b in data)
        if data:
            buf = S.BufferT()
            buf.data = np.frombuffer(data, np.uint8)
            m.buffers.append(buf)
            t.buffer = len(m.buffers) - 1
        else:
            t.buffer = 0
        if name == "INT4":
            # blockwise quantization details (scales and zero points in other tensors)
            q = S.QuantizationParametersT()
            bq = S.BlockwiseQuantizationT()
            bq.scales, bq.zeroPoints, bq.blockSize = 0, 0, 2
            q.detailsType = S.QuantizationDetails.BlockwiseQuantization
            q.details = bq
            t.quantization = q
        sg.tensors.append(t)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


def convert_buffer_offset():
    c = keras_converter(tiny_mlp())
    c._experimental_use_buffer_offset = True
    return c.convert()


def convert_dynamic_range():
    c = keras_converter(tiny_mlp())
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    return c.convert()


def convert_16x8(split):
    c = keras_converter(tiny_mlp())
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = rep_data(split)
    c.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    return c.convert()


def convert_float16():
    c = keras_converter(tiny_mlp())
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.target_spec.supported_types = [tf.float16]
    return c.convert()


def litert_only_goldens(out, stem, desc, split, md, n_images=10):
    """Goldens from LiteRT's ref and builtin kernels only: XNNPACK fails to prepare the sparse int8
    FULLY_CONNECTED ("failed to delegate FULLY_CONNECTED node"), TFLM has no DENSIFY. Both
    refusals are recorded, with their messages."""
    gl = md.gl
    model_path = out / "models" / (stem + ".tflite")
    gdir = out / "goldens" / stem
    gdir.mkdir(parents=True, exist_ok=True)
    d = gl.describe_model(model_path)
    inp = d["input"]
    x = gl.quantize_input(split.x_te[:n_images], inp["dtype"], inp["scale"], inp["zero_point"])
    x = x.reshape((n_images,) + tuple(inp["shape"][1:]))
    np.save(gdir / "input.npy", x)
    goldens, refusals = {}, {}
    for rt in ("ref", "builtin"):
        res = gl.run_runtime(rt, model_path, None, x, d["produced"], inp["shape"])
        gl.write_npz(gdir / (rt + ".npz"), {gl.tensor_key(k): v for k, v in res.items()})
        goldens[rt] = "goldens/%s/%s.npz" % (stem, rt)
    try:
        gl.xnnpack_interpreter(model_path)
        raise AssertionError("XNNPACK ran %s; use md.golden_entry" % stem)
    except RuntimeError as e:
        refusals["xnnpack"] = str(e).strip()
    _, err = gl.tflm_try_load(model_path, x[0:1].reshape(inp["shape"]))
    if err is not None:
        err["log"] = err["log"].replace("\r\n", "\n")
        refusals["tflm"] = err
    md.log("  %s: goldens from ref, builtin; refused by %s" % (stem, sorted(refusals)))
    return {"description": desc, "path": "models/%s.tflite" % stem, "input": inp, "output": d["output"],
            "input_file": "goldens/%s/input.npy" % stem, "ops": d["ops"], "op_produced_tensors": d["produced"],
            "tensors": d["tensors"], "goldens": goldens, "golden_images": n_images,
            "runtimes_without_goldens": {rt: "refused (see refusals)" for rt in refusals}, "refusals": refusals}


def make(out, split, md):
    files = {
        "corpus_sparse_float": ("float tiny MLP, fc1 80 % zero, EXPERIMENTAL_SPARSITY (DENSIFY)",
                                lambda: convert_sparse(random_mask, False, split)),
        "corpus_sparse_block": ("float tiny MLP, fc1 kept in 1x4 blocks, EXPERIMENTAL_SPARSITY",
                                lambda: convert_sparse(block_mask, False, split)),
        "corpus_sparse_int8": ("int8 PTQ tiny MLP, fc1 in 1x4 blocks, DEFAULT + EXPERIMENTAL_SPARSITY",
                               lambda: convert_sparse(block_mask, True, split)),
        "corpus_custom_op": ("float tiny MLP, SOFTMAX renamed to CUSTOM 'QuantlensTestSoftmax'",
                             convert_custom_op),
        "corpus_while": ("tf.while_loop: WHILE, cond and body subgraphs", convert_while),
        "corpus_if": ("tf.cond: IF, then and else subgraphs", convert_if),
        "corpus_every_dtype": ("float ADD + one constant tensor of every TensorType", convert_every_dtype),
        "corpus_buffer_offset": ("float tiny MLP, buffers at Buffer.offset/size after the FlatBuffer",
                                 convert_buffer_offset),
        "corpus_dynamic_range": ("tiny MLP, Optimize.DEFAULT, no representative data", convert_dynamic_range),
        "corpus_16x8": ("tiny MLP, 16x8 (int16 activations, int8 weights)", lambda: convert_16x8(split)),
        "corpus_float16": ("tiny MLP, supported_types=[tf.float16]", convert_float16),
    }
    d = out / "corpus"
    d.mkdir(parents=True, exist_ok=True)
    corpus = {}
    # The sparse models with DENSIFY run (float and int8): they live in models/ with goldens from every
    # runtime (few images); the others live in corpus/ and are only opened.
    runs = ("corpus_sparse_float", "corpus_sparse_int8")
    models = {}
    for stem, (desc, make_file) in files.items():
        flat = make_file()
        rel = "%s/%s.tflite" % ("models" if stem in runs else "corpus", stem)
        (out / rel).write_bytes(flat)
        md.log("  %s: %d bytes" % (stem, len(flat)))
        corpus[stem] = {"description": desc, "path": rel, "bytes": len(flat)}
        if stem == "corpus_sparse_float":
            models[stem] = md.golden_entry(out, stem, desc, split.x_te, split.y_te, n_images=10)
        elif stem in runs:
            models[stem] = litert_only_goldens(out, stem, desc, split, md)
    return {"about": "reader corpus: valid files that exercise the reader (scripts/data_reader_corpus.py)",
            "corpus": corpus, "models": models}
