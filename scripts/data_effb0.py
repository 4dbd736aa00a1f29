"""Topic `effb0`: the real full-width EfficientNet-B0 (issue 14).

- `efficientnet_b0_ptq_int8`: keras.applications.EfficientNetB0(weights=None,
  input_shape=(32,32,3), classes=10) -- 32x32 is the smallest input keras accepts -- trained for
  one epoch on 2000 of the project's MNIST digits (each zero-padded by 2 pixels and repeated over
  3 channels, `input_transform: pad2_rgb3`), full-integer PTQ with int8 I/O. The topic `vision`
  has the same blocks at half width (`efficientnet_b0w05_ptq_int8`); this is the network people
  deploy, at full width.

Training, conversion and the manifest entry are the vision topic's (`data_vision.train`,
`convert`, `to_rgb32`, `vision_entry`), imported, not copied.

Data budget: the int8 model is about 4.6 MB, so goldens are kept for the first 3 held-out images
only, and its probe (the same model with every op-produced tensor as an output, which only
XNNPACK's goldens read) is not committed: it is derived from the model when needed
(`goldenlib.write_probe`, no TensorFlow; `check_goldens.py` does it for entries marked
`probe_derived`).

Run: python scripts/make_data.py --only effb0
"""
import time

import keras
import numpy as np

import data_vision as vision

STEM = "efficientnet_b0_ptq_int8"
FAMILY = "efficientnet_b0"
N_GOLDEN = 3
SEED = 17
ARCH = ("keras.applications.EfficientNetB0(input_shape=(32,32,3), weights=None, classes=10) "
        "(full width and depth; 32x32 is the smallest input keras accepts)")


def build():
    return keras.applications.EfficientNetB0(input_shape=(32, 32, 3), weights=None, classes=10)


def make(out, split, md):
    t0 = time.time()
    n = vision.N_TRAIN
    xs_tr = vision.to_rgb32(split.x_tr[:n]).astype(np.float32) / 255.0
    xs_te = vision.to_rgb32(split.x_te)
    model = vision.train(md, build, SEED, xs_tr, split.y_tr[:n], batch=32)
    pred = model.predict(xs_te.astype(np.float32) / 255.0, verbose=0)
    acc = float(np.mean(np.argmax(pred, 1) == split.y_te))
    metric = "keras held-out accuracy"
    md.log("%s: %s %.4f (%.1fs)" % (FAMILY, metric, acc, time.time() - t0))
    (out / "models" / (STEM + ".tflite")).write_bytes(vision.convert(model, xs_tr.shape[1:], xs_tr[:vision.N_REP], True))
    e = vision.vision_entry(out, md, STEM, FAMILY, ARCH, True, vision.to_rgb32, xs_te, split.y_te, N_GOLDEN)
    # the probe is as large as the model: derive it when needed instead of committing it
    (out / e.pop("probe_path")).unlink()
    e["probe_derived"] = ("XNNPACK's goldens read every op-produced tensor from the model with all of "
                          "them as subgraph outputs; not committed (as large as the model): "
                          "goldenlib.write_probe derives it from the .tflite")
    return {"models": {STEM: e}, "vision_training": {FAMILY: vision.training_record(ARCH, n, SEED, metric, acc)}}
