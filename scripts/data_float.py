"""Topic `float`: float32 versions of the project's conv models (issue 11, part 4).

The `cnn`, `resnet` and `ops` architectures of make_data.py, trained the same way (same builders,
epochs, seeds, input scaling) and converted with no quantization at all, so every op runs its
float32 kernel. Goldens from every runtime on the first few held-out images (float feature maps
do not compress like int8 ones; the counts keep the topic under 6 MB).
"""
import numpy as np
import tensorflow as tf

# family -> (builder in make_data.py, index k of make_conv_models' seed SEED + 1 + k, dynamic batch)
FAMILIES = {"cnn": ("build_cnn", 0, True), "resnet": ("build_resnet", 1, False), "ops": ("build_ops", 2, False)}
N_GOLDEN = {"cnn": 16, "resnet": 24, "ops": 32}
# The residual model again, full-integer int8 inside but float32 I/O (the converter's default
# inference_input_type): QUANTIZE float32 -> int8 at the input, DEQUANTIZE int8 -> float32 at the output.
FLOAT_IO = "resnet_ptq_floatio"
FLOAT_IO_N_GOLDEN = 16
DESCRIPTIONS = {
    "cnn_float32": "the small CNN (Conv2D relu, DepthwiseConv2D relu, MaxPool, Conv2D stride 2 relu6, AveragePool, "
                   "Flatten with dynamic batch: SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE, Dense, Softmax), float32",
    "resnet_float32": "the residual model (stride-2 stem conv, ADD with fused relu, MaxPool, side conv, "
                      "CONCATENATION, MEAN, Dense, Softmax), float32",
    FLOAT_IO: "the residual model, full-integer PTQ with float32 I/O: QUANTIZE float32 -> int8 in front, "
              "int8 inside, DEQUANTIZE int8 -> float32 at the end",
    "ops_float32": "the op-coverage model (AveragePool, PAD, dilated conv, RELU, RELU6, depthwise with depth "
                   "multiplier 2, LOGISTIC, TANH, MUL, LEAKY_RELU, SUB, HARD_SWISH, CONCATENATION, RESHAPE, MEAN, "
                   "Dense, Softmax), float32",
}


def convert_float(model, dynamic_batch):
    batch = None if dynamic_batch else 1

    @tf.function(input_signature=[tf.TensorSpec([batch, 28, 28, 1], tf.float32, name="image")])
    def serve(x):
        return model(x, training=False)

    return tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()]).convert()


def make(out, split, md):
    xf_tr = (split.x_tr.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    xf_te = (split.x_te.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    (out / "models" / "probe").mkdir(parents=True, exist_ok=True)
    training, models = {}, {}
    for family, (builder, k, dynamic) in FAMILIES.items():
        seed = md.SEED + 1 + k
        model = md.train_conv(getattr(md, builder), md.CONV_EPOCHS[family], seed, xf_tr, split.y_tr)
        acc = float(np.mean(np.argmax(model.predict(xf_te, verbose=0), 1) == split.y_te))
        training[family] = {"architecture": md.CONV_ARCH[family], "epochs": md.CONV_EPOCHS[family],
                            "batch_size": md.BATCH, "optimizer": "adam(1e-3)", "seed": seed,
                            "input_scaling": "pixel / 255.0", "keras_heldout_accuracy": acc,
                            "conversion": "TFLiteConverter.from_concrete_functions, no optimizations "
                                          "(float32 everywhere)" + (", dynamic batch" if dynamic else "")}
        md.log("float/%s: keras held-out accuracy %.4f" % (family, acc))
        stem = family + "_float32"
        (out / "models" / (stem + ".tflite")).write_bytes(convert_float(model, dynamic))
        n = N_GOLDEN[family]
        entry = md.golden_entry(out, stem, DESCRIPTIONS[stem], split.x_te, split.y_te,
                                extra={"family": family, "training": "float.training.%s" % family}, n_images=n)
        entry["op_kinds"] = sorted({o["op"] for o in entry["ops"]})
        entry["runtimes_that_ran"] = sorted(entry["goldens"], key=md.gl.RUNTIMES.index)
        entry["golden_images"] = n
        models[stem] = entry
        if family == "resnet":
            (out / "models" / (FLOAT_IO + ".tflite")).write_bytes(
                md.convert_conv_ptq(model, xf_tr[:md.N_REPRESENTATIVE], tf.float32, False))
            entry = md.golden_entry(out, FLOAT_IO, DESCRIPTIONS[FLOAT_IO], split.x_te, split.y_te,
                                    extra={"family": family, "training": "float.training.%s" % family},
                                    n_images=FLOAT_IO_N_GOLDEN)
            entry["op_kinds"] = sorted({o["op"] for o in entry["ops"]})
            entry["runtimes_that_ran"] = sorted(entry["goldens"], key=md.gl.RUNTIMES.index)
            entry["golden_images"] = FLOAT_IO_N_GOLDEN
            models[FLOAT_IO] = entry
    return {"about": __doc__.strip().splitlines()[0], "training": training, "models": models}
