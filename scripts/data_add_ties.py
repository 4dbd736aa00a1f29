"""Topic `add_ties`: quantized ADDs whose exact ties separate LiteRT's optimized ADD from its
reference ADD (issue 14).

LiteRT's optimized ADD (the `builtin` kernel set) runs full blocks of elements through NEON
intrinsics (on x86 through NEON_2_SSE), the last `n mod block` elements of each call through
the scalar reference formula:

- uint8 `optimized_ops::AddElementwise` / `AddScalarBroadcast` and int8
  `optimized_integer_ops::AddScalarBroadcast`, blocks of 8: each rescaled input is
  `vqrdmulh(x·2^20, M0)` shifted right by `−shift` with `vshlq_s32` (a truncating shift), where
  the reference rounds (`RoundingDivideByPOT`);
- int8 `optimized_integer_ops::AddElementwiseInt8`, blocks of 16: the input shift is folded
  into the left shift, `vqrdmulh(x·2^(20+shift), M0)`, one rounding instead of two.

The output step is the same double rounding everywhere. Broadcast ADDs go through
`BinaryBroadcastFiveFold`, which calls the elementwise (innermost run `y4 > 1`) or scalar
(`y4 == 1`, runs of `y3`) kernel once per run, so blocks restart at each run; a broadcast that
does not fit the five-fold pattern takes the reference `BroadcastAdd6DSlow`. SUB's int8/uint8
kernels are the reference ones in every kernel set (the SUBs here show it).

The scales are multiples of 1/255 with small ratios, so `S_a·a + S_b·b` often lands exactly
half-way between two output steps; the 2^-20 the truncation loses then decides the rounding.

- `add_ties_uint8`: the MNIST digit x (1,28,28,1) uint8, scale 1/255; ADDs: x + a constant
  image (elementwise, 784 = 98 blocks); xc = CONCATENATION(x, a column) (1,28,29,1) + a constant
  (812: a tail of 4), fused RELU; x + a per-row constant (1,28,1,1) (scalar runs of 28: 3 blocks
  and a tail); a per-column constant (1,1,28,1) + x (elementwise runs of 28); x + a colour
  (1,1,1,3) (runs of 3: all tail); xc + a scalar (812: blocks and a tail); x + a (2,1,1,3)
  constant (not five-fold: the reference kernel); SUB of x and the row constant, and of x and the
  constant image.
- `add_ties_int8`: the same graph in int8 (zero points −128), where the elementwise blocks are
  16 wide (784 = 49 blocks, 812 = 50 blocks and a tail of 12).

Untrained, no classifier. Goldens: LiteRT ref, builtin, XNNPACK and TFLite Micro (whichever
runs the graph; a refusal is recorded in the entry).

Run: python scripts/make_data.py --only add_ties
"""
import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

import data_uint8
import data_uint8_graph as ug

SEED = 1515
N_GOLDEN = 24
OP = schema.BuiltinOperator
TT = schema.TensorType
S = 1.0 / 255.0

# the ops this topic writes besides the uint8_graph ones (the Graph writer reads these tables)
ug.OPTIONS.setdefault(OP.ADD, (schema.BuiltinOptions.AddOptions, schema.AddOptionsT))
ug.OPTIONS.setdefault(OP.SUB, (schema.BuiltinOptions.SubOptions, schema.SubOptionsT))
ug.OPTIONS.setdefault(OP.CONCATENATION, (schema.BuiltinOptions.ConcatenationOptions, schema.ConcatenationOptionsT))
ug.NUMPY.setdefault(TT.INT8, np.int8)

DTYPES = {"uint8": (TT.UINT8, 0, 0, 255), "int8": (TT.INT8, -128, -128, 127)}


def build(dtype):
    """add_ties_<dtype> (see the module doc). Returns the model bytes."""
    ttype, off, lo, hi = DTYPES[dtype]
    rng = np.random.default_rng(SEED)
    g = ug.Graph("quantlens add_ties_%s: ADDs whose exact ties separate LiteRT builtin from ref" % dtype)

    def q(scale_num, zp):
        return (scale_num * S, zp + off)

    def const(name, shape, quant):
        n = int(np.prod(shape))
        return g.tensor(name, shape, ttype, quant, data=rng.integers(lo, hi + 1, n))

    def tensor(name, shape, quant):
        return g.tensor(name, shape, ttype, quant)

    def binop(code, a, b, name, quant, act=0):
        y = tensor(name, g.broadcast(a, b), quant)
        opts = {"fusedActivationFunction": act} if code in (OP.ADD, OP.SUB) else {}
        return g.op(code, [a, b], [y], **opts)

    x = tensor("image", [1, 28, 28, 1], q(1, 0))
    g.inputs = [x]
    outs = []
    c_img = const("c/image", [1, 28, 28, 1], q(3, 5))
    outs.append(binop(OP.ADD, x, c_img, "add/elementwise", q(2, 3)))
    col = const("c/pad_column", [1, 28, 1, 1], q(1, 0))
    xc = g.op(OP.CONCATENATION, [x, col], [tensor("xc", [1, 28, 29, 1], q(1, 0))], axis=2)
    c_xc = const("c/xc", [1, 28, 29, 1], q(5, 0))
    outs.append(binop(OP.ADD, xc, c_xc, "add/elementwise_tail_relu", q(4, 1), act=schema.ActivationFunctionType.RELU))
    k_row = const("c/row", [1, 28, 1, 1], q(3, 9))
    outs.append(binop(OP.ADD, x, k_row, "add/rows", q(2, 0)))
    k_col = const("c/col", [1, 1, 28, 1], q(7, 2))
    outs.append(binop(OP.ADD, k_col, x, "add/cols", q(6, 4)))
    colour = const("c/colour", [1, 1, 1, 3], q(2, 0))
    outs.append(binop(OP.ADD, x, colour, "add/channels", q(3, 0)))
    k_one = const("c/scalar", [1], q(6, 11))
    outs.append(binop(OP.ADD, xc, k_one, "add/scalar", q(4, 2)))
    k_gen = const("c/generic", [2, 1, 1, 3], q(5, 3))
    outs.append(binop(OP.ADD, x, k_gen, "add/generic", q(4, 0)))
    outs.append(binop(OP.SUB, x, k_row, "sub/rows", q(2, 128)))
    outs.append(binop(OP.SUB, x, c_img, "sub/elementwise", q(2, 128)))
    g.outputs = outs
    return g.model()


def make(out, split, md):
    entries = {}
    (out / "models" / "probe").mkdir(parents=True, exist_ok=True)
    for dtype in DTYPES:
        stem = "add_ties_" + dtype
        path = out / "models" / (stem + ".tflite")
        path.write_bytes(build(dtype))
        x0 = md.gl.quantize_input(split.x_te[:1], dtype, S, DTYPES[dtype][1]).reshape(1, 28, 28, 1)
        tflm = data_uint8.tflm_probe(path, x0)
        # golden_entry runs TFLite Micro in-process: it must refuse cleanly
        assert tflm is None or not tflm.startswith("crashed"), tflm
        e = md.golden_entry(out, stem, "%s ADDs (elementwise, with tails, five-fold and generic broadcasts) and "
                            "SUBs on scales k/255, written with the TFLite schema, untrained" % dtype,
                            split.x_te, split.y_te, n_images=N_GOLDEN)
        e["op_kinds"] = sorted({o["op"] for o in e["ops"]})
        e["runtimes_that_ran"] = sorted(e["goldens"], key=md.gl.RUNTIMES.index)
        e["golden_images"] = N_GOLDEN
        entries[stem] = e
    return {"models": entries}
