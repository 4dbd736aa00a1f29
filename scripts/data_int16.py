"""Topic `int16`: 16x8 post-training quantization (issue 11, part 5).

int16 activations (zero point 0), int8 weights, int64 bias: the project's MLP (the base model itself:
md.base_mlp reads the weights of mlp_float32.tflite), the CNN and the residual model with the
weights of cnn_float32 and resnet_float32 (md.base_conv; no training, so their int8 weights are the
int8 quantization of the float32 models' weights), and the op-coverage architecture without its
HARD_SWISH (build_ops16, trained with the ops seed: another architecture than ops_float32), converted with

    converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]

and the base representative dataset (first md.N_REPRESENTATIVE training images). All four
have int16 I/O. A last, hand-built model chains the conversions (the converter emits int16->int16 QUANTIZE
but never int16<->int8 or, with int16 I/O, float<->int16): float32 -> QUANTIZE -> int16 ->
QUANTIZE -> int8 -> QUANTIZE -> int16 -> DEQUANTIZE -> float32.

Goldens: the first 100 held-out images for the MLP and the conversion chain, 20 for the conv
models (their int16 feature maps barely compress: 100 images would take ~13 MB).
"""
import numpy as np
import tensorflow as tf

N_MLP = 100
N_CONV = 20
OPS16 = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]

# family -> the builder of the 16x8 model; dynamic batch of <family>_float32 (scripts/data_float.py)
CONV_FAMILIES = (("cnn", "build_cnn", True), ("resnet", "build_resnet", False), ("ops", "build_ops16", False))

DESCRIPTIONS = {
    "mlp_16x8": "the project's MLP, 16x8 PTQ (int16 activations, int8 weights, int64 bias), int16 I/O",
    "cnn_16x8": "the base CNN architecture (static batch), 16x8 PTQ, int16 I/O: CONV_2D, DEPTHWISE_CONV_2D, "
                "MAX_POOL_2D, AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX",
    "resnet_16x8": "the base residual architecture, 16x8 PTQ, int16 I/O: ADD (+relu), CONCATENATION, MEAN",
    "ops_16x8": "the base op-coverage architecture without HARD_SWISH, 16x8 PTQ, int16 I/O: AVERAGE_POOL_2D, "
                "PAD, dilated CONV_2D, RELU, RELU6, DEPTHWISE_CONV_2D (multiplier 2), LOGISTIC, TANH, MUL, "
                "LEAKY_RELU, SUB, CONCATENATION, RESHAPE, MEAN",
    "requant_16x8": "hand-built chain float32 -> QUANTIZE -> int16 -> QUANTIZE -> int8 -> QUANTIZE -> int16 "
                    "-> DEQUANTIZE -> float32",
}


def build_ops16(md, base):
    """The ops model `base` (md.build_ops) without its HARD_SWISH: the converter refuses it in 16x8
    ("Quantization to 16x8-bit not yet supported for op: 'HARD_SWISH'"). The same layers, with SUB's
    output fed to the concatenation directly (the unused hard_swish layer drops out of the model)."""
    g = base.get_layer("concat")([base.get_layer("sub").output, base.get_layer("conv_after_relu6").output])
    for name in ("reshape", "mean", "fc", "softmax"):
        g = base.get_layer(name)(g)
    return md.keras.Model(base.inputs, g, name="ops16")


def _rep(images, shape):
    def gen():
        for img in images:
            yield [img.reshape(shape).astype(np.float32)]
    return gen


def convert_16x8(fn, rep_images, shape, io_type):
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = _rep(rep_images, shape)
    conv.target_spec.supported_ops = OPS16
    conv.inference_input_type = io_type
    conv.inference_output_type = io_type
    return conv.convert()


def conv_fn(model):
    @tf.function(input_signature=[tf.TensorSpec([1, 28, 28, 1], tf.float32, name="image")])
    def serve(x):
        return model(x, training=False)
    return serve.get_concrete_function()


def requant_chain_model(s16_in, s8, s16_out, shape):
    """float32 -> QUANTIZE -> int16 (s16_in, 0) -> QUANTIZE -> int8 (s8, -3) -> QUANTIZE -> int16 (s16_out, 0)
    -> DEQUANTIZE -> float32."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils
    T = schema.TensorType
    m = schema.ModelT()
    m.version = 3
    m.description = "int16<->int8 requantization chain"
    codes = []
    for op in (schema.BuiltinOperator.QUANTIZE, schema.BuiltinOperator.DEQUANTIZE):
        c = schema.OperatorCodeT()
        c.builtinCode = c.deprecatedBuiltinCode = op
        c.version = 2
        codes.append(c)
    m.operatorCodes = codes
    m.buffers = [schema.BufferT()]
    specs = [("x", T.FLOAT32, None, None), ("x16", T.INT16, s16_in, 0), ("q8", T.INT8, s8, -3), ("q16", T.INT16, s16_out, 0),
             ("y", T.FLOAT32, None, None)]
    tensors = []
    for k, (name, ttype, scale, zp) in enumerate(specs):
        t = schema.TensorT()
        t.shape, t.type, t.buffer, t.name = list(shape), ttype, 0, name
        if scale is not None:
            qp = schema.QuantizationParametersT()
            qp.scale, qp.zeroPoint = [float(scale)], [int(zp)]
            t.quantization = qp
        tensors.append(t)
    ops = []
    for k, code in enumerate((0, 0, 0, 1)):
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = code, [k], [k + 1]
        ops.append(op)
    sg = schema.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = tensors, [0], [4], ops, "main"
    m.subgraphs = [sg]
    # TFLite Micro's Python interpreter sizes its tensor arena as 10x the file size; a file of
    # ~600 bytes gets too small an arena for its 5 x 784 tensors (and crashes while allocating).
    # 16 KiB of metadata padding makes the arena large enough; no runtime reads it.
    pad = schema.BufferT()
    pad.data = np.zeros(16384, np.uint8)
    m.buffers.append(pad)
    meta = schema.MetadataT()
    meta.name, meta.buffer = "arena_padding", len(m.buffers) - 1
    m.metadata = [meta]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


def make(out, split, md):
    xf_tr = split.x_tr.astype(np.float32) / 255.0
    rep = xf_tr[:md.N_REPRESENTATIVE]
    flats, n_images, training = {}, {}, {}

    mlp = md.base_mlp(out)  # the weights of mlp_float32.tflite, not a second training
    flats["mlp_16x8"] = convert_16x8(md.concrete_fn(mlp), rep, (1, 784), tf.int16)
    n_images["mlp_16x8"] = N_MLP
    training["mlp"] = "md.base_mlp: the base MLP with the weights of models/mlp_float32.tflite (the same Keras model as mlp_ptq_*)"

    for family, build, dynamic_batch in CONV_FAMILIES:
        stem = "%s_16x8" % family
        if build == "build_ops16":
            # another architecture than ops_float32 (no HARD_SWISH), trained as such with the ops seed
            seed = md.SEED + 3
            model = md.train_conv(lambda: build_ops16(md, md.build_ops()), md.CONV_EPOCHS[family], seed,
                                  xf_tr.reshape(-1, 28, 28, 1), split.y_tr)
            training[family] = "md.train_conv(build_ops16, %d epochs, seed %d), static batch 1" % (
                md.CONV_EPOCHS[family], seed)
        else:
            model = md.base_conv(out, family, getattr(md, build), dynamic_batch)
            training[family] = "md.base_conv: %s with the weights of models/%s_float32.tflite, static batch 1" % (
                build, family)
        flats[stem] = convert_16x8(conv_fn(model), rep, (1, 28, 28, 1), tf.int16)
        n_images[stem] = N_CONV

    # scales: the int16 grid of the converted models' inputs, a coarse int8 step, a finer int16 step
    flats["requant_16x8"] = requant_chain_model(1.0 / 32767.0, 1.0 / 200.0, 1.0 / 30000.0, (1, 784))
    n_images["requant_16x8"] = N_MLP
    training["requant"] = "no training: hand-built with tensorflow.lite.python.schema_py_generated"

    entries = {}
    for stem, flat in flats.items():
        (out / "models" / (stem + ".tflite")).write_bytes(flat)
        entry = md.golden_entry(out, stem, DESCRIPTIONS[stem], split.x_te, split.y_te,
                                extra={"topic": "int16", "training": training[stem.split("_")[0]]},
                                n_images=n_images[stem])
        entry["op_kinds"] = sorted({o["op"] for o in entry["ops"]})
        entry["runtimes_that_ran"] = sorted(entry["goldens"], key=md.gl.RUNTIMES.index)
        entry["golden_images"] = n_images[stem]
        entries[stem] = entry
    return {"about": "16x8 PTQ models (scripts/data_int16.py)", "models": entries}
