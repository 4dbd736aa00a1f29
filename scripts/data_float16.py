"""Topic `float16`: the project's Keras MLP converted with supported_types=[tf.float16] (issue 11, part 3).

The MLP is the base model itself (md.base_mlp: the weights of mlp_float32.tflite), so mlp_float16
is mlp_float32 with every weight and bias rounded to float16.

The converter stores every weight and bias as FLOAT16 and puts a DEQUANTIZE (float16 -> float32)
in front of each FULLY_CONNECTED, which then runs in float32. TFLite Micro refuses the model
(recorded as `tflm_refusal` by md.golden_entry).

Goldens: the DEQUANTIZE outputs are constants (the same 784x512 weights for every image, 1.6 MB
each as float32), so they are left out of the probe and the goldens (see `_without_constant_dequantize`);
every activation tensor is in them. The Rust test (tests/float16.rs) checks the DEQUANTIZE outputs
through the FULLY_CONNECTED results, which use them bit for bit.
"""
import numpy as np
import tensorflow as tf

N_GOLDEN = 200
STEM = "mlp_float16"


def _without_constant_dequantize(describe):
    """Wrap goldenlib.describe_model: drop outputs of DEQUANTIZE ops whose input is a constant."""
    def wrapped(model_path):
        d = describe(model_path)
        produced_by = {t["index"]: t["produced_by_op"] for t in d["tensors"]}
        const_out = {o for op in d["ops"] if op["op"] == "DEQUANTIZE"
                     and all(produced_by.get(i) is None and i != d["input"]["index"] for i in op["inputs"])
                     for o in op["outputs"]}
        d["produced"] = [k for k in d["produced"] if k not in const_out]
        return d
    return wrapped


def golden_entry_float16(md, out, stem, description, x_te, y_te, extra, n_images):
    """md.golden_entry without the outputs of DEQUANTIZE of constant weights (probe and goldens)."""
    describe = md.gl.describe_model
    md.gl.describe_model = _without_constant_dequantize(describe)
    extra = dict(extra or {}, goldens_leave_out="outputs of DEQUANTIZE of constant weights (identical for every image)")
    try:
        return md.golden_entry(out, stem, description, x_te, y_te, extra=extra, n_images=n_images)
    finally:
        md.gl.describe_model = describe


def make(out, split, md):
    model = md.base_mlp(out)  # the base MLP's weights (mlp_float32.tflite), not a second training
    conv = tf.lite.TFLiteConverter.from_concrete_functions([md.concrete_fn(model)])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]
    flat = conv.convert()
    (out / "models" / (STEM + ".tflite")).write_bytes(flat)
    md.log("wrote %s %d bytes" % (STEM, len(flat)))
    entry = golden_entry_float16(md, out, STEM, "float16 weights (supported_types=[tf.float16]): DEQUANTIZE "
                                 "float16 -> float32, then float32 FULLY_CONNECTED", split.x_te, split.y_te,
                                 {"weights_of": "models/mlp_float32.tflite (the same Keras model as mlp_ptq_*)"},
                                 N_GOLDEN)
    return {"about": "float16 post-training quantization of the MLP (scripts/data_float16.py)",
            "models": {STEM: entry}}
