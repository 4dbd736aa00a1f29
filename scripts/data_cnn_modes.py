"""Topic `cnn_modes`: the project's CNN in the modes not yet built from cnn_float32's weights (issue 11, part 6).

cnn_float32, cnn_float16 and cnn_16x8 are one Keras model (md.base_conv). The base cnn_ptq_* come
from another training and cnn_dynamic is another architecture, so this topic converts the same
Keras model (md.base_conv(out, "cnn", md.build_cnn, True): the weights of models/cnn_float32.tflite,
asserted to convert back to it byte for byte) in the remaining modes, with static batch 1:

- cnn_modes_dynamic: Optimize.DEFAULT without a representative dataset (dynamic range). The
  converter keeps weight tensors of fewer than 1024 elements in float32, so conv1 (72 weights) and
  dw1 (72) stay float while conv2 (1152) and fc (1440) get per-channel int8 weights: a mixed graph
  of float and hybrid operators, as a user's small model is.
- cnn_modes_ptq_int8: full-integer PTQ, int8 I/O (md.convert_conv_ptq, the base conversion, with
  the base representative dataset: the first md.N_REPRESENTATIVE training images).
- cnn_modes_ptq_uint8io: the same with uint8 I/O (int8 inside, QUANTIZE at both ends), as the base
  cnn_ptq_uint8io / mlp_ptq_uint8io.

Goldens: the first 50 held-out images for the integer models, 8 for the dynamic-range one (its
float32 feature maps barely compress: ~64 KB per image over three runtimes; the topic stays under
3 MB), every op-produced tensor, from every runtime that runs the
model; TFLite Micro's refusal of the dynamic-range model is recorded (as in manifests/dynamic.json).
"""
import importlib

import numpy as np

N_IMAGES = {"cnn_modes_dynamic": 8, "cnn_modes_ptq_int8": 50, "cnn_modes_ptq_uint8io": 50}

DESCRIPTIONS = {
    "cnn_modes_dynamic": "cnn_float32's Keras model in dynamic range (Optimize.DEFAULT, no representative "
                         "dataset): CONV_2D conv1 and DEPTHWISE_CONV_2D dw1 float32 (< 1024 weights), hybrid "
                         "CONV_2D conv2 and FULLY_CONNECTED fc with per-channel int8 weights, float pools, SOFTMAX",
    "cnn_modes_ptq_int8": "cnn_float32's Keras model, full-integer PTQ, int8 I/O",
    "cnn_modes_ptq_uint8io": "cnn_float32's Keras model, full-integer PTQ, int8 inside, uint8 I/O "
                             "(QUANTIZE at both ends)",
}


def make(out, split, md):
    import tensorflow as tf
    model = md.base_conv(out, "cnn", md.build_cnn, True)  # the weights of cnn_float32.tflite
    rep = (split.x_tr[:md.N_REPRESENTATIVE].astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    dynamic = importlib.import_module("data_dynamic")
    flats = {
        "cnn_modes_dynamic": dynamic.convert_dynamic(model, [1, 28, 28, 1], "image"),
        "cnn_modes_ptq_int8": md.convert_conv_ptq(model, rep, tf.int8, False),
        "cnn_modes_ptq_uint8io": md.convert_conv_ptq(model, rep, tf.uint8, False),
    }
    training = ("md.base_conv: build_cnn with the weights of models/cnn_float32.tflite (the same Keras model "
                "as cnn_float32, cnn_float16, cnn_16x8), static batch 1")
    entries = {}
    for stem, flat in flats.items():
        (out / "models" / (stem + ".tflite")).write_bytes(flat)
        entry = md.golden_entry(out, stem, DESCRIPTIONS[stem], split.x_te, split.y_te,
                                extra={"topic": "cnn_modes", "family": "cnn", "training": training,
                                       "weights_of": "models/cnn_float32.tflite"},
                                n_images=N_IMAGES[stem])
        entry["op_kinds"] = sorted({o["op"] for o in entry["ops"]})
        entry["runtimes_that_ran"] = sorted(entry["goldens"], key=md.gl.RUNTIMES.index)
        entry["golden_images"] = N_IMAGES[stem]
        entries[stem] = entry
    return {"about": "the project's CNN (cnn_float32's weights) in dynamic range, int8 and uint8 I/O "
                     "(scripts/data_cnn_modes.py)",
            "models": entries}
