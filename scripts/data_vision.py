"""Topic `vision`: the architectures people deploy for vision and keyword spotting (issue 14).

Models (each trained briefly on the project's MNIST digits, full-integer PTQ with int8 I/O):

- `mobilenetv2_ptq_int8`: keras.applications.MobileNetV2(alpha=0.35, weights=None) on 32x32x3
  (each digit zero-padded by 2 pixels and repeated over 3 channels);
- `efficientnet_b0w05_ptq_int8`: EfficientNet-B0's blocks (MBConv, squeeze-and-excitation, swish)
  at half width (keras' EfficientNet builder, width 0.5; the full B0 is 4.7 MB) on the same 32x32x3;
- `unet_ptq_int8`: a U-Net-like segmenter of the digit's foreground (strided convs down,
  Conv2DTranspose, UpSampling2D bilinear and nearest up, PReLU, skip Concatenate);
- `dscnn_ptq_int8`: the keyword-spotting DS-CNN (Conv2D on time x frequency, depthwise-separable
  blocks, average pool, dense) on the 28 rows of a digit as 28 time steps;
- `vision_ops_ptq_int8` and `vision_ops_float32`: one chain through every op the models above do
  not emit (RESIZE_* with each flag, SPACE_TO_DEPTH, SPACE_TO_BATCH_ND,
  BATCH_TO_SPACE_ND, PADV2, MIRROR_PAD both modes, PRELU, TRANSPOSE_CONV);
- `tile_ptq_int8` and `tile_float32`: TILE and DEPTH_TO_SPACE, apart because LiteRT's reference
  resolver refuses the versions the converter emits (TILE v3, int8 DEPTH_TO_SPACE v2; the U-Net's
  nearest UpSampling2D is RESHAPE → TILE → RESHAPE, so the reference refuses the U-Net too).

Set VISION_ONLY=stem1,stem2 to rebuild only those models (development; the other manifest
entries are kept).

Run: python scripts/make_data.py --only vision
"""
import json
import os
import time

import numpy as np
import tensorflow as tf
import keras

L = keras.layers

# golden images per model: few for the big feature maps, more for the small models
N_GOLDEN = {
    "mobilenetv2_ptq_int8": 16,
    "efficientnet_b0w05_ptq_int8": 8,
    "unet_ptq_int8": 16,
    "dscnn_ptq_int8": 16,
    "vision_ops_ptq_int8": 50,
    "vision_ops_float32": 20,
    "tile_ptq_int8": 100,
    "tile_float32": 50,
}
N_TRAIN = 2000  # training images for the two big networks (1 epoch)
N_REP = 100  # representative images for calibration

ARCH = {
    "mobilenetv2": "keras.applications.MobileNetV2(input_shape=(32,32,3), alpha=0.35, weights=None, classes=10)",
    "efficientnet_b0w05": "EfficientNet-B0's blocks at half width: keras EfficientNet(width_coefficient=0.5, "
                          "depth_coefficient=1.0, default_size=32, weights=None, input_shape=(32,32,3), classes=10) "
                          "(the full-width B0, 4.7 MB int8 and as much again for its probe, does not fit the data budget)",
    "unet": "Input(28,28,1) -> Conv2D(8,3,s2,same)+PReLU = e1 (14x14); Conv2D(16,3,s2,same)+PReLU (7x7) -> "
            "Conv2DTranspose(8,3,s2,same)+PReLU (14x14) -> Concatenate(e1) -> Conv2D(8,3,same,relu) -> "
            "UpSampling2D(2,bilinear) (28x28) = u; Conv2DTranspose(4,2,s2,valid)(e1)+PReLU(per element) = t; "
            "MaxPool(2)(u) -> UpSampling2D(2,nearest) = n; Concatenate(u, t, n) -> Conv2D(1,1) "
            "(foreground logit per pixel, trained on pixel > 0.5)",
    "dscnn": "Input(28,28,1) (time x frequency) -> Conv2D(32,(10,4),s(2,2),same)+BN+ReLU -> "
             "3 x [DepthwiseConv2D(3,same)+BN+ReLU -> Conv2D(32,1)+BN+ReLU] -> AveragePool(14,14) -> "
             "Flatten -> Dense(10) -> Softmax",
    "tile": "Input(28,28,1) -> tile [1,2,1,4] -> depth_to_space(2) -> Flatten -> Dense(10) -> Softmax",
    "vision_ops": "Input(28,28,1) -> resize bilinear 14x14 (half_pixel_centers) -> space_to_depth(2) -> "
                  "Conv2DTranspose(8,3,s2,same,bias) -> PReLU(per channel) -> "
                  "resize nearest 10x10 (align_corners) -> MirrorPad REFLECT ((1,2),(2,1)) -> "
                  "MirrorPad SYMMETRIC ((1,0),(0,1)) -> space_to_batch_nd([2,2]) -> PReLU(shared) -> "
                  "batch_to_space_nd([2,2], crops ((0,1),(1,0))) -> pad constant 0.5 (PADV2) -> "
                  "resize bilinear 8x12 (align_corners) -> resize bilinear 11x7 (legacy) -> "
                  "resize nearest 16x9 (half_pixel_centers) -> resize nearest 6x5 (legacy) -> "
                  "Conv2DTranspose(3,2,s1,valid,bias) -> Flatten -> Dense(10) -> Softmax",
}


def to_rgb32(x_u8):
    """uint8 (N,784) digits -> (N,32,32,3): zero-padded by 2 pixels, repeated over 3 channels
    (`input_transform: pad2_rgb3` in the manifest; check_goldens.py applies it)."""
    x = x_u8.reshape(-1, 28, 28)
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    return np.repeat(x[..., None], 3, axis=-1)


def to_28(x_u8):
    return x_u8.reshape(-1, 28, 28, 1)


def build_mobilenetv2():
    return keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10)


def build_efficientnet_b0w05():
    from keras.src.applications.efficientnet import EfficientNet
    return EfficientNet(0.5, 1.0, 32, name="efficientnet_b0w05", weights=None, input_shape=(32, 32, 3), classes=10)


def build_unet():
    i = keras.Input((28, 28, 1), name="image")
    e1 = L.PReLU(shared_axes=[1, 2], name="prelu1")(L.Conv2D(8, 3, strides=2, padding="same", name="down1")(i))
    e2 = L.PReLU(shared_axes=[1, 2], name="prelu2")(L.Conv2D(16, 3, strides=2, padding="same", name="down2")(e1))
    u1 = L.PReLU(shared_axes=[1, 2], name="prelu3")(
        L.Conv2DTranspose(8, 3, strides=2, padding="same", name="up1")(e2))
    c1 = L.Concatenate(name="skip1")([u1, e1])
    c1 = L.Conv2D(8, 3, padding="same", activation="relu", name="mix1")(c1)
    u = L.UpSampling2D(2, interpolation="bilinear", name="up_bilinear")(c1)
    t = L.PReLU(name="prelu4")(L.Conv2DTranspose(4, 2, strides=2, padding="valid", name="up_valid")(e1))
    n = L.UpSampling2D(2, interpolation="nearest", name="up_nearest")(L.MaxPooling2D(2, name="pool")(u))
    c2 = L.Concatenate(name="skip2")([u, t, n])
    o = L.Conv2D(1, 1, name="logit")(c2)
    return keras.Model(i, o, name="unet")


def build_dscnn():
    i = keras.Input((28, 28, 1), name="mfcc")
    x = L.Conv2D(32, (10, 4), strides=(2, 2), padding="same", use_bias=False, name="conv")(i)
    x = L.ReLU(name="relu")(L.BatchNormalization(name="bn")(x))
    for b in range(3):
        x = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw%d" % b)(x)
        x = L.ReLU(name="dw%d_relu" % b)(L.BatchNormalization(name="dw%d_bn" % b)(x))
        x = L.Conv2D(32, 1, use_bias=False, name="pw%d" % b)(x)
        x = L.ReLU(name="pw%d_relu" % b)(L.BatchNormalization(name="pw%d_bn" % b)(x))
    x = L.AveragePooling2D((14, 14), name="avg")(x)
    x = L.Dense(10, name="fc")(L.Flatten(name="flatten")(x))
    return keras.Model(i, L.Softmax(name="softmax")(x), name="dscnn")


def lam(f, name):
    return L.Lambda(f, name=name)


def build_vision_ops():
    i = keras.Input((28, 28, 1), name="image")
    x = lam(lambda t: tf.image.resize(t, [14, 14], "bilinear"), "resize_bilinear_half_pixel")(i)
    x = lam(lambda t: tf.nn.space_to_depth(t, 2), "space_to_depth")(x)
    x = L.Conv2DTranspose(8, 3, strides=2, padding="same", name="tconv_same")(x)
    x = L.PReLU(shared_axes=[1, 2], name="prelu_channel")(x)
    x = lam(lambda t: tf.compat.v1.image.resize_nearest_neighbor(t, [10, 10], align_corners=True),
            "resize_nearest_align")(x)
    x = lam(lambda t: tf.pad(t, [[0, 0], [1, 2], [2, 1], [0, 0]], mode="REFLECT"), "mirror_reflect")(x)
    x = lam(lambda t: tf.pad(t, [[0, 0], [1, 0], [0, 1], [0, 0]], mode="SYMMETRIC"), "mirror_symmetric")(x)
    x = lam(lambda t: tf.space_to_batch_nd(t, [2, 2], [[0, 0], [0, 0]]), "space_to_batch")(x)
    x = L.PReLU(shared_axes=[1, 2, 3], name="prelu_shared")(x)
    x = lam(lambda t: tf.batch_to_space(t, [2, 2], [[0, 1], [1, 0]]), "batch_to_space")(x)
    x = lam(lambda t: tf.pad(t, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=0.5), "padv2")(x)
    x = lam(lambda t: tf.compat.v1.image.resize_bilinear(t, [8, 12], align_corners=True),
            "resize_bilinear_align")(x)
    x = lam(lambda t: tf.compat.v1.image.resize_bilinear(t, [11, 7]), "resize_bilinear_legacy")(x)
    x = lam(lambda t: tf.image.resize(t, [16, 9], "nearest"), "resize_nearest_half_pixel")(x)
    x = lam(lambda t: tf.compat.v1.image.resize_nearest_neighbor(t, [6, 5]), "resize_nearest_legacy")(x)
    x = L.Conv2DTranspose(3, 2, strides=1, padding="valid", name="tconv_valid")(x)
    x = L.Dense(10, name="fc")(L.Flatten(name="flatten")(x))
    return keras.Model(i, L.Softmax(name="softmax")(x), name="vision_ops")


def build_tile():
    """TILE and DEPTH_TO_SPACE (with a dense layer to train): LiteRT's reference resolver lacks
    the versions the converter emits for them (TILE v3, int8 DEPTH_TO_SPACE v2), so they live
    outside `vision_ops`, whose other ops then get reference goldens."""
    i = keras.Input((28, 28, 1), name="image")
    x = lam(lambda t: tf.tile(t, [1, 2, 1, 4]), "tile")(i)
    x = lam(lambda t: tf.nn.depth_to_space(t, 2), "depth_to_space")(x)
    x = L.Dense(10, name="fc")(L.Flatten(name="flatten")(x))
    return keras.Model(i, L.Softmax(name="softmax")(x), name="tile")


def convert(model, shape, rep_images, quantize):
    @tf.function(input_signature=[tf.TensorSpec([1] + list(shape), tf.float32, name="image")])
    def serve(x):
        return model(x, training=False)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    if quantize:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]

        def rep():
            for img in rep_images:
                yield [img.reshape([1] + list(shape)).astype(np.float32)]

        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def train(md, build, seed, x, y, loss=None, epochs=1, batch=32):
    keras.utils.set_random_seed(seed)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=loss or keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=batch, shuffle=True, verbose=2)
    return model


def make(out, split, md):
    x_tr, y_tr, x_te, y_te = split.x_tr, split.y_tr, split.x_te, split.y_te
    entries, training = {}, {}
    plans = [
        # stem, family, build, input transform, seed, n train, loss
        ("mobilenetv2_ptq_int8", "mobilenetv2", build_mobilenetv2, to_rgb32, 11, N_TRAIN, None),
        ("efficientnet_b0w05_ptq_int8", "efficientnet_b0w05", build_efficientnet_b0w05, to_rgb32, 12, N_TRAIN, None),
        ("unet_ptq_int8", "unet", build_unet, to_28, 13, len(x_tr), "segment"),
        ("dscnn_ptq_int8", "dscnn", build_dscnn, to_28, 14, len(x_tr), None),
        ("vision_ops_ptq_int8", "vision_ops", build_vision_ops, to_28, 15, 1000, None),
        ("tile_ptq_int8", "tile", build_tile, to_28, 16, 1000, None),
    ]
    only = set(filter(None, os.environ.get("VISION_ONLY", "").split(",")))
    if only:  # development: rebuild some stems, keep the other manifest entries
        old = json.loads((out / "manifests" / "vision.json").read_text())
        known = {p[0] for p in plans} | {p[0].replace("ptq_int8", "float32") for p in plans}
        entries = {k: v for k, v in old["models"].items() if k in known}
        training = {k: v for k, v in old["vision_training"].items() if k in {p[1] for p in plans}}
        plans = [p for p in plans if p[0] in only]
    for stem, family, build, tr, seed, n, loss in plans:
        t0 = time.time()
        xs_tr = tr(x_tr[:n]).astype(np.float32) / 255.0
        xs_te = tr(x_te)
        if loss == "segment":
            target = (xs_tr > 0.5).astype(np.float32)
            model = train(md, build, seed, xs_tr, target,
                          loss=keras.losses.BinaryCrossentropy(from_logits=True), batch=32)
            pred = model.predict(xs_te.astype(np.float32) / 255.0, verbose=0) > 0
            acc = float(np.mean(pred == (xs_te > 127)))
            metric = "keras held-out foreground pixel accuracy"
        else:
            model = train(md, build, seed, xs_tr, y_tr[:n], batch=32)
            acc = float(np.mean(np.argmax(model.predict(xs_te.astype(np.float32) / 255.0, verbose=0), 1)
                                == y_te))
            metric = "keras held-out accuracy"
        training[family] = training_record(ARCH[family], n, seed, metric, acc)
        md.log("%s: %s %.4f (%.1fs)" % (family, metric, acc, time.time() - t0))
        shape = xs_tr.shape[1:]
        stems = [(stem, True)] + ([(stem.replace("ptq_int8", "float32"), False)] if family in ("vision_ops", "tile") else [])
        for s, q in stems:
            (out / "models" / (s + ".tflite")).write_bytes(convert(model, shape, xs_tr[:N_REP], q))
            entries[s] = vision_entry(out, md, s, family, ARCH[family], q, tr, xs_te, y_te, N_GOLDEN[s])
    return {"models": entries, "vision_training": training}


def vision_entry(out, md, stem, family, arch, quantized, transform, xs_te, y_te, n_golden):
    """`md.golden_entry` of one converted model (models/<stem>.tflite) with the vision topics'
    extra facts: its family and training record, input transform, op kinds, the runtimes that
    ran it, and a tensor table without the constants."""
    extra = {"family": family, "training": "vision_training.%s" % family,
             "input_transform": "pad2_rgb3" if transform is to_rgb32 else "none"}
    e = md.golden_entry(out, stem, "%s (%s)" % (arch, "full-integer PTQ, int8 I/O" if quantized else "float32"),
                        xs_te, y_te, extra=extra, n_images=n_golden)
    e["op_kinds"] = sorted({o["op"] for o in e["ops"]})
    e["runtimes_that_ran"] = sorted(e["goldens"], key=md.gl.RUNTIMES.index)
    e["golden_images"] = n_golden
    # the tensor table without the constants (their per-channel scales made the manifest MBs)
    e["tensors"] = [t for t in e["tensors"] if t["index"] in e["op_produced_tensors"] or t["index"] == e["input"]["index"]]
    e["tensors_note"] = "op-produced tensors and the input only; constants are in the .tflite"
    return e


def training_record(arch, n, seed, metric, acc):
    """How one vision model was trained (the manifest's `vision_training.<family>`)."""
    return {"architecture": arch, "epochs": 1, "training_images": int(n),
            "optimizer": "adam(1e-3)", "seed": seed, "input_scaling": "pixel / 255.0",
            metric: acc, "representative_dataset": "first %d training images" % N_REP}
