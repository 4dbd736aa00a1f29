"""Topic `uint8_tconv`: uint8 TRANSPOSE_CONV written with the TFLite schema (issue 14).

LiteRT's reference and optimized kernels have a uint8 TRANSPOSE_CONV (the legacy form: uint8
input and output, uint8 weights with one scale and a zero point for the whole filter, int32
bias); the converter writes TRANSPOSE_CONV in int8 only. So the model is written tensor by
tensor with the schema, reusing the `Graph` writer of data_uint8_graph.py; scales and zero
points are chosen as a converter would: from the range of the values each tensor holds, in
float, over 200 training digits.

- `uint8_tconv`: the MNIST digit x (1,28,28,1), scale 1/255, zero point 0;
  h = CONV_2D 3x3 stride 2 SAME, 1 -> 4 channels, fused RELU, uint8 (the realistic input of
  the transposed convolutions: (1,14,14,4)); then six TRANSPOSE_CONVs of h, each with uint8
  weights whose zero point is neither 0 nor 128 and whose values are of both signs:
  - up2:    3x3, stride 2, SAME, 14 -> 28x28x3, bias (the U-Net upsampling step);
  - valid1: 3x3, stride 1, VALID, 14 -> 16x16x5, bias, fused RELU (version 4 carries it);
  - odd:    3x3, stride 2, SAME, 14 -> 27x27x3 (output not a multiple of the stride), bias;
  - tail:   3x3, stride 2, VALID, 14 -> 30x29x5 (the last row gets no tap: bias only), bias;
  - asym:   4x2, strides (2,1), SAME, 14 -> 28x14x17, no bias, fused RELU6;
  - ties:   3x3, stride 2, SAME, 14 -> 27x27x7, bias, its output scale float(S1·S2)·128 (zero
    point 128), so that M = 1/128 exactly and M·acc can be a tie: the one scale not chosen from
    the range, to separate the two roundings of LiteRT builtin's requantization. The flattened
    tail (the last 15 outputs) is the blank bottom-right corner on every digit: each bias is moved
    to the nearest value that makes the last pixel's sum an exact negative tie there.
  The flattened outputs (2352, 1280, 2187, 4350, 6664, 5103 elements) leave 0, 0, 11, 14, 8 and
  15 elements after the last whole block of 16 (builtin's blocks; the tail rounds as the reference).
  Untrained: no classifier. 32 golden images; goldens from LiteRT ref, builtin and XNNPACK.

TFLite Micro has no uint8 TRANSPOSE_CONV (nor uint8 CONV_2D): the probes and the model's entry
record its refusal. The XNNPACK delegate takes no uint8 filter: the XNNPACK resolver runs
LiteRT's optimized builtin kernel (the entry's `xnnpack` facts list what was delegated).

Run: python scripts/make_data.py --only uint8_tconv
"""
import pathlib
import tempfile

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema

import data_uint8
from data_uint8_graph import OP, TT, Graph, image_model_entry, quantize_const

SEED = 1408
N_GOLDEN = 32
N_CALIB = 200
S_IMAGE = 1.0 / 255.0
ACT = schema.ActivationFunctionType
PAD = schema.Padding

# name, (kh, kw), (sh, sw), padding, output (h, w, c), weight range (lo, hi), bias, activation
TCONVS = [
    ("up2", (3, 3), (2, 2), "SAME", (28, 28, 3), (-0.35, 0.55), True, ACT.NONE),
    ("valid1", (3, 3), (1, 1), "VALID", (16, 16, 5), (-0.3, 0.6), True, ACT.RELU),
    ("odd", (3, 3), (2, 2), "SAME", (27, 27, 3), (-0.25, 0.65), True, ACT.NONE),
    ("tail", (3, 3), (2, 2), "VALID", (30, 29, 5), (-0.5, 0.4), True, ACT.NONE),
    ("asym", (4, 2), (2, 1), "SAME", (28, 14, 17), (-0.3, 0.45), False, ACT.RELU6),
    ("ties", (3, 3), (2, 2), "SAME", (27, 27, 7), (-0.45, 0.5), True, ACT.NONE),
]
# "ties": output scale float(S1·S2)·2^7, so M = 1/128 exactly and M·acc often lands on a half —
# where builtin's vector blocks (ties up) and its scalar tail (ties away) part; 27·27·7 = 5103
# flattened outputs leave a tail of 15
TIES_SHIFT = 7
ARCH = ("the MNIST digit (1,28,28,1) uint8, scale 1/255; CONV_2D 3x3/2 SAME 1->4 RELU (uint8); six "
        "uint8 TRANSPOSE_CONVs of it with asymmetric per-tensor uint8 weights: 3x3/2 SAME -> 28x28x3; "
        "3x3/1 VALID -> 16x16x5 RELU; 3x3/2 SAME -> 27x27x3; 3x3/2 VALID -> 30x29x5; 4x2/(2,1) SAME "
        "-> 28x14x17 without bias, RELU6; 3x3/2 SAME -> 27x27x7 with M = 1/128 and its corner on ties")


def conv_pad(out, k, s, padding):
    """TFLite's padding before the first row of the convolution out -> in (ComputePaddingHeightWidth)."""
    conv_out = -(-out // s) if padding == "SAME" else (out + s - k) // s
    return max((conv_out - 1) * s + k - out, 0) // 2, conv_out


def tconv_float(x, w, stride, padding, out_hw):
    """The float transposed convolution (scatter) of x (N,H,W,Ci) with w (Co,kh,kw,Ci)."""
    n, h, wd, _ = x.shape
    co, kh, kw, _ = w.shape
    (sh, sw), (oh, ow) = stride, out_hw
    ph, _ = conv_pad(oh, kh, sh, padding)
    pw, _ = conv_pad(ow, kw, sw, padding)
    big = np.zeros((n, max((h - 1) * sh + kh, ph + oh), max((wd - 1) * sw + kw, pw + ow), co))
    for ky in range(kh):
        for kx in range(kw):
            big[:, ky:ky + (h - 1) * sh + 1:sh, kx:kx + (wd - 1) * sw + 1:sw, :] += x @ w[:, ky, kx, :].T
    return big[:, ph:ph + oh, pw:pw + ow, :]


def range_quant(v):
    """(scale, zero point) of a uint8 tensor holding v, as the converter picks them (0 inside the range)."""
    lo, hi = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
    scale = (hi - lo) / 255.0
    return scale, int(np.clip(round(-lo / scale), 0, 255))


def activate(v, act):
    return {ACT.NONE: v, ACT.RELU: np.maximum(v, 0), ACT.RELU6: np.clip(v, 0, 6)}[act]


def weights_u8(rng, shape, lo, hi):
    """Float weights over [lo, hi], their uint8 per-tensor quantization and its dequantized values."""
    scale = (hi - lo) / 255.0
    zp = int(round(-lo / scale))
    q = quantize_const(rng.uniform(lo, hi, shape), scale, zp)
    return q, (scale, zp), (q.astype(np.float64) - zp) * np.float32(scale)


def bias_i32(rng, n, s_in, s_w):
    """int32 bias with scale float(S1·S2), zero point 0 (what LiteRT's check compares with)."""
    s = float(np.float32(s_in) * np.float32(s_w))
    q = np.round(rng.uniform(-0.3, 0.3, n) / s).astype(np.int32)
    return q, s, q.astype(np.float64) * s


def build(calib, h_corner=None):
    """uint8_tconv (see the module doc) from the calibration digits (N,28,28) uint8. Returns the bytes
    and the index of h. With `h_corner` (h's uint8 values at its last pixel on a blank image, as LiteRT
    computed them), each bias of "ties" moves to the nearest value (the nearest such) that
    makes the last output pixel's sum a negative tie (−128·k − 64, 0 <= k <= 100): the flattened tail is a blank corner on every
    digit, and without this it would never hold a tie."""
    rng = np.random.default_rng(SEED)
    g = Graph("quantlens uint8_tconv: uint8 TRANSPOSE_CONV written with the TFLite schema")
    g.versions[OP.TRANSPOSE_CONV] = 4  # the fused activation is a version-4 field
    x = g.tensor("image", [1, 28, 28, 1], quant=(S_IMAGE, 0))
    g.inputs = [x]
    xf = calib.reshape(-1, 28, 28, 1).astype(np.float64) / 255.0
    # CONV_2D 3x3/2 SAME, RELU: 1 -> 4 channels (OHWI)
    wq, w_quant, wf = weights_u8(rng, (4, 3, 3, 1), -0.7, 0.9)
    bq, b_scale, bf = bias_i32(rng, 4, S_IMAGE, w_quant[0])
    hf = tf.nn.conv2d(xf, np.transpose(wf, (1, 2, 3, 0)), 2, "SAME").numpy() + bf
    hf = np.maximum(hf, 0)
    h_quant = range_quant(hf)
    w_t = g.tensor("conv/filter", [4, 3, 3, 1], quant=w_quant, data=wq)
    b_t = g.tensor("conv/bias", [4], TT.INT32, quant=(b_scale, 0), data=bq)
    h = g.tensor("conv", [1, 14, 14, 4], quant=h_quant)
    g.op(OP.CONV_2D, [x, w_t, b_t], [h], padding=PAD.SAME, strideW=2, strideH=2,
         fusedActivationFunction=ACT.RELU, dilationWFactor=1, dilationHFactor=1)
    # the float h the next layers see: its uint8 values dequantized
    hq = np.clip(np.round(hf / h_quant[0]) + h_quant[1], 0, 255)
    hd = (hq - h_quant[1]) * np.float32(h_quant[0])
    outs = []
    for name, k, stride, padding, (oh, ow, co), (lo, hi), has_bias, act in TCONVS:
        assert conv_pad(oh, k[0], stride[0], padding)[1] == 14 and conv_pad(ow, k[1], stride[1], padding)[1] == 14, name
        wq, w_quant, wf = weights_u8(rng, (co, k[0], k[1], 4), lo, hi)
        assert w_quant[1] not in (0, 128), (name, w_quant)
        yf = tconv_float(hd, wf, stride, padding, (oh, ow))
        inputs = [g.const_i32(name + "/output_shape", [1, oh, ow, co]),
                  g.tensor(name + "/filter", [co, k[0], k[1], 4], quant=w_quant, data=wq), h]
        if has_bias:
            bq, b_scale, bf = bias_i32(rng, co, h_quant[0], w_quant[0])
            if name == "ties" and h_corner is not None:
                # the last output pixel's integer sum on a blank image (exact in float64)
                blank = np.broadcast_to(np.asarray(h_corner, np.float64) - h_quant[1], (1, 14, 14, 4))
                acc = np.rint(tconv_float(blank, wq.astype(np.float64) - w_quant[1], stride, padding, (oh, ow))[0, -1, -1])
                half = 2 ** (TIES_SHIFT - 1)
                k_tie = np.clip(np.round(-(acc + bq + half) / 2 ** TIES_SHIFT), 0, 100)  # unclamped: Z3 - k - 1 >= 0
                bq = (-(2 ** TIES_SHIFT) * k_tie - half - acc).astype(np.int32)
                bf = bq.astype(np.float64) * b_scale
            inputs.append(g.tensor(name + "/bias", [co], TT.INT32, quant=(b_scale, 0), data=bq))
            yf = yf + bf
        else:
            inputs.append(-1)
        y_quant = range_quant(activate(yf, act))
        if name == "ties":
            y_quant = (float(np.float32(h_quant[0]) * np.float32(w_quant[0]) * np.float32(2 ** TIES_SHIFT)), 128)
        y = g.tensor("tconv/" + name, [1, oh, ow, co], quant=y_quant)
        outs.append(g.op(OP.TRANSPOSE_CONV, inputs, [y], padding=getattr(PAD, padding),
                         strideW=stride[1], strideH=stride[0], fusedActivationFunction=act))
    g.outputs = outs
    return g.model(), h


def probe_model():
    """TRANSPOSE_CONV alone on a uint8 (1,14,14,4) input: the refusal table's probe."""
    g = Graph("probe TRANSPOSE_CONV uint8")
    x = g.tensor("x", [1, 14, 14, 4], quant=(0.02, 3))
    g.inputs = [x]
    w = g.tensor("w", [3, 3, 3, 4], quant=(0.004, 97), data=np.arange(108) % 256)
    b = g.tensor("b", [3], TT.INT32, quant=(float(np.float32(0.02) * np.float32(0.004)), 0), data=[100, -50, 7])
    y = g.tensor("y", [1, 28, 28, 3], quant=(0.03, 120))
    g.outputs = [g.op(OP.TRANSPOSE_CONV, [g.const_i32("shape", [1, 28, 28, 3]), w, x, b], [y],
                      padding=PAD.SAME, strideW=2, strideH=2)]
    return g.model()


def make(out, split, md):
    refusals = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "TRANSPOSE_CONV.tflite"
        path.write_bytes(probe_model())
        x0 = np.random.default_rng(SEED).integers(0, 256, (1, 14, 14, 4), dtype=np.uint8)
        r = data_uint8.probe_runtimes(md, path, x0)
        md.log("uint8_tconv probe TRANSPOSE_CONV refused %s" % {k: v[:150] for k, v in r.items()})
        if r:
            refusals["TRANSPOSE_CONV"] = r
    stem = "uint8_tconv"
    path = out / "models" / (stem + ".tflite")
    flat, h = build(split.x_tr[:N_CALIB])
    path.write_bytes(flat)
    blank = np.zeros((1, 1, 28, 28, 1), np.uint8)
    h_corner = md.gl.run_litert(path, "ref", blank[0], [h])[h][0, 0, -1, -1]
    flat, _ = build(split.x_tr[:N_CALIB], h_corner)
    path.write_bytes(flat)
    e = image_model_entry(out, split, md, stem, ARCH, N_GOLDEN)
    e["transpose_convs"] = [{"name": n, "kernel": k, "stride": s, "padding": p, "output": o, "bias": b,
                             "activation": next(a for a, v in vars(ACT).items() if v == act)}
                            for n, k, s, p, o, _, b, act in TCONVS]
    return {"models": {stem: e},
            "uint8_refusals": {
                "what": "TRANSPOSE_CONV written alone on a uint8 (1,14,14,4) input (a probe, not committed) "
                        "and run once in LiteRT ref, LiteRT builtin and TFLite Micro (in a child process)",
                "refused": refusals}}
