"""Topic `float16_cnn`: the convolutional models with float16 weights (issue 11, part 3).

The same trained Keras models as `cnn_float32`, `resnet_float32`, `ops_float32` (the builders,
epochs and seeds of make_data.py / data_float.py) and as `mobilenetv2_ptq_int8` and
`vision_ops_float32` (data_vision.py's builders, seeds and training images), converted with `supported_types=[tf.float16]`: every conv,
depthwise and dense weight and bias is stored as FLOAT16 behind a DEQUANTIZE (float16 -> float32),
and every op runs in float32. TFLite Micro refuses float16 DEQUANTIZE (recorded as
`tflm_refusal`). As for `mlp_float16`, the DEQUANTIZE outputs of constant weights (the same for
every image) are left out of the probe and the goldens (data_float16.golden_entry_float16).

Goldens: few images (float feature maps do not compress like int8 ones) from LiteRT ref, builtin
and XNNPACK.

Run: python scripts/make_data.py --only float16_cnn
"""
import numpy as np
import tensorflow as tf

import data_float
import data_float16
import data_vision

N_GOLDEN = {"cnn_float16": 8, "resnet_float16": 8, "ops_float16": 8, "mobilenetv2_float16": 4, "vision_ops_float16": 8}


def convert_float16(model, shape):
    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name="image")])
    def serve(x):
        return model(x, training=False)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]
    return conv.convert()


def _entry(md, out, stem, description, x_te, y_te, extra):
    entry = data_float16.golden_entry_float16(md, out, stem, description, x_te, y_te, extra, N_GOLDEN[stem])
    entry["op_kinds"] = sorted({o["op"] for o in entry["ops"]})
    entry["runtimes_that_ran"] = sorted(entry["goldens"], key=md.gl.RUNTIMES.index)
    entry["golden_images"] = N_GOLDEN[stem]
    return entry


def make(out, split, md):
    xf_tr = (split.x_tr.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    x_te = split.x_te.reshape(-1, 28, 28, 1)  # uint8 pixels: golden_entry feeds a float model pixel / 255
    (out / "models" / "probe").mkdir(parents=True, exist_ok=True)
    models = {}
    for family, (builder, k, dynamic) in data_float.FAMILIES.items():
        seed = md.SEED + 1 + k
        model = md.train_conv(getattr(md, builder), md.CONV_EPOCHS[family], seed, xf_tr, split.y_tr)
        stem = family + "_float16"
        flat = convert_float16(model, [None if dynamic else 1, 28, 28, 1])
        (out / "models" / (stem + ".tflite")).write_bytes(flat)
        md.log("wrote %s %d bytes" % (stem, len(flat)))
        desc = data_float.DESCRIPTIONS[family + "_float32"].replace("float32", "float16 weights "
                                                                    "(supported_types=[tf.float16]), float32 ops")
        models[stem] = _entry(md, out, stem, desc, x_te, split.y_te,
                              {"family": family, "training": "float.training.%s (the same Keras weights as %s_float32)"
                               % (family, family)})
    # MobileNetV2 (alpha 0.35) as data_vision.py trains it: same seed, same images, one epoch.
    n = data_vision.N_TRAIN
    xs_tr = data_vision.to_rgb32(split.x_tr[:n]).astype(np.float32) / 255.0
    xs_te = data_vision.to_rgb32(split.x_te)
    model = data_vision.train(md, data_vision.build_mobilenetv2, 11, xs_tr, split.y_tr[:n], batch=32)
    stem = "mobilenetv2_float16"
    flat = convert_float16(model, [1] + list(xs_tr.shape[1:]))
    (out / "models" / (stem + ".tflite")).write_bytes(flat)
    md.log("wrote %s %d bytes" % (stem, len(flat)))
    entry = _entry(md, out, stem, "%s, float16 weights (supported_types=[tf.float16]), float32 ops"
                   % data_vision.ARCH["mobilenetv2"], xs_te, split.y_te,
                   {"family": "mobilenetv2", "input_transform": "pad2_rgb3",
                    "training": "vision_training.mobilenetv2 (the same Keras weights as mobilenetv2_ptq_int8)"})
    entry["tensors"] = [t for t in entry["tensors"]
                        if t["index"] in entry["op_produced_tensors"] or t["index"] == entry["input"]["index"]]
    entry["tensors_note"] = "op-produced tensors and the input only; constants are in the .tflite"
    models[stem] = entry
    # data_vision.py's op chain (TRANSPOSE_CONV, PRELU, PADV2, resizes, space/batch moves), seed 15,
    # the first 1000 training images: the same Keras weights as vision_ops_float32 / vision_ops_ptq_int8.
    xs_tr = data_vision.to_28(split.x_tr[:1000]).astype(np.float32) / 255.0
    model = data_vision.train(md, data_vision.build_vision_ops, 15, xs_tr, split.y_tr[:1000], batch=32)
    stem = "vision_ops_float16"
    (out / "models" / (stem + ".tflite")).write_bytes(convert_float16(model, [1, 28, 28, 1]))
    models[stem] = _entry(md, out, stem, "%s, float16 weights (supported_types=[tf.float16]), float32 ops"
                          % data_vision.ARCH["vision_ops"], x_te, split.y_te,
                          {"family": "vision_ops", "input_transform": "none",
                           "training": "vision_training.vision_ops (the same Keras weights as vision_ops_float32)"})
    return {"about": __doc__.strip().splitlines()[0], "models": models}
