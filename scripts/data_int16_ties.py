"""Topic `int16_ties`: int16 ADD, SUB and MUL whose exact ties and power-of-two scales separate
the runtimes' 16-bit kernels (issue 14).

What each runtime runs for an int16 ADD/SUB/MUL (zero points 0), read in LiteRT's `add.cc`,
`sub.cc`, `mul.cc`, `optimized/integer_ops/{add,sub}.h`, `reference/add.h`, `reference_ops.h`
and TFLite Micro's `add.cc` / `sub.cc`, confirmed by this topic's goldens:

- **General scales** (`pot_scale_int16 = false`, or any of the three scales not a power of two):
  the 8-bit recipe with a left shift of 15 (`RoundingDivideByPOT(SRDHM(x·2^15, M0), −shift)` per
  input, the sum rescaled the same way).
  - LiteRT ref: that formula. TFLite Micro: that formula (its ADD/SUB never read the flag).
  - LiteRT builtin, **non-broadcast ADD**: `optimized_integer_ops::AddElementwiseInt16`. The
    wheel is built with NEON_2_SSE and without AVX2, so full blocks of 16 run the NEON form:
    `vqrdmulh(x·2^(15+shift), M0)`, the input's right shift folded into the left shift (one
    rounding instead of two), the output as the reference, the offset and clamp in 32 bits, then
    `vqmovn_s32`; the last `n mod 16` elements by the reference formula. Broadcast ADDs take
    `reference_ops::BroadcastAdd6DSlow` (the reference). SUB's `SubElementwiseInt16` has an AVX2
    block only: the scalar reference on this wheel. XNNPACK takes no int16 op: LiteRT's default
    interpreter runs builtin's kernels.
  - MUL: `reference_integer_ops::Mul` / `BroadcastMul6DSlow` in every LiteRT kernel set; TFLite
    Micro the same with its multiplier in double (the profile's `mul16_multiplier`).
- **Power-of-two scales** (`pot_scale_int16 = true`, the schema's default, and all three scales
  within 1e-3 of a power of two in log2, `CheckedLog2`): LiteRT (ref and builtin) shifts the input
  whose scale is finer right by the log2 difference (`RoundingDivideByPOT`), and adds/subtracts
  the other with int16 saturation (`reference_ops::Add` with pot, `Sub16`,
  `BroadcastSub16POTSlow`); the real scale factors are never used. TFLite Micro ignores the flag:
  the general formula.

The model (`int16_ties`): the MNIST digit x (1,28,28,1) int16, scale u = 1/16320 (x = 64·pixel),
constants on scales k·u so that `S_a·a + S_b·b` often falls exactly half-way between two output
steps (the rounding the folded shift skips then decides the output), and
- ADD x + an image (784 = 49 blocks; `pot_scale_int16` true but general scales: the flag alone
  changes nothing); xc = CONCATENATION(x, a constant row) (812: 50 blocks and a tail of 12, the
  tail in the constant row) + a constant on 5u/4, fused RELU; a constant image + x (input 1 the run-time one); x + a per-row constant
  (broadcast: reference everywhere);
- SUB x − the image, x − the row constant (reference everywhere); MUL xm · a constant (37u → 9u),
  xm = x with a constant row whose products fall where LiteRT's multiplier (`S_a·S_b/S_out` in
  f32) and TFLite Micro's (in double) give different outputs;
- xp = x requantized to 2^-14, cp a constant on 2^-12: ADD xp + cp → 2^-12 and SUB cp − xp →
  2^-12 with `pot_scale_int16` true (LiteRT's shift-and-saturate, TFLite Micro's general formula),
  the same ADD with the flag false (general everywhere, builtin's blocks), an ADD onto an output
  scale 2^-12·1.0004 (a power of two for `CheckedLog2`, so LiteRT ignores the 1.0004), and a
  broadcast pot SUB xp − a row constant on 2^-16 → 2^-14.

Untrained, no classifier. 24 golden images; goldens from LiteRT ref, builtin, XNNPACK and
TFLite Micro.

Run: python scripts/make_data.py --only int16_ties
"""
import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

import data_add_ties  # noqa: F401 - registers ADD, SUB, CONCATENATION with the Graph writer
import data_uint8_graph as ug

SEED = 1616
N_GOLDEN = 24
OP = schema.BuiltinOperator
TT = schema.TensorType
U = 1.0 / 16320.0

ug.OPTIONS.setdefault(OP.MUL, (schema.BuiltinOptions.MulOptions, schema.MulOptionsT))
ug.NUMPY.setdefault(TT.INT16, np.int16)


def quantize_multiplier(real):
    """TFLite's QuantizeMultiplier: (M0, shift) with real = M0·2^(shift−31), M0 in [2^30, 2^31)."""
    m, e = np.frexp(real)
    q = int(np.floor(m * 2.0 ** 31 + 0.5))
    return (q // 2, int(e) + 1) if q == 2 ** 31 else (q, int(e))


def srdhm(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int64 arrays (no saturation case here)."""
    ab = a.astype(np.int64) * b
    s = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    return np.sign(s) * (np.abs(s) >> 31)


def rdbp(x, e):
    """gemmlowp RoundingDivideByPOT."""
    mask = (1 << e) - 1
    return (x >> e) + ((x & mask) > (mask >> 1) + (x < 0))


def tie_pairs(rng, n, b_max, forms):
    """n pairs (a, b), a in [0, 16320], |b| <= b_max, on which the two outputs forms(a, b) gives
    differ (and lie strictly inside (0, 32767))."""
    a = rng.integers(0, 16321, 1000000).astype(np.int64)
    b = rng.integers(-b_max, b_max + 1, 1000000).astype(np.int64)
    y, z = forms(a, b)
    hit = np.flatnonzero((y != z) & (y > 0) & (y < 32767))[:n]
    assert len(hit) == n, len(hit)
    return a[hit], b[hit]


def add_forms(s_a, s_b, s_out):
    """The int16 ADD of the reference (each input rounded twice) and of builtin's NEON block (the
    input shift folded into the left shift)."""
    s_a, s_b, s_out = (float(np.float32(s)) for s in (s_a, s_b, s_out))
    twice_max = 2 * max(s_a, s_b)
    (ma, ea), (mb, eb), (mo, eo) = (quantize_multiplier(r) for r in (s_a / twice_max, s_b / twice_max,
                                                                       twice_max / (2 ** 15 * s_out)))
    out = lambda s: rdbp(srdhm(s, mo), -eo)  # noqa: E731
    fold = lambda x, m, e: srdhm(x << (15 + e), m) if e >= -15 else srdhm(x >> (-15 - e), m)  # noqa: E731
    return lambda a, b: (out(rdbp(srdhm(a << 15, ma), -ea) + rdbp(srdhm(b << 15, mb), -eb)),  # noqa: E731
                         out(fold(a, ma, ea) + fold(b, mb, eb)))


def mul_forms(s_a, s_b, s_out):
    """The int16 MUL with LiteRT's multiplier (S_a·S_b/S_out in f32) and TFLite Micro's (in double)."""
    f = np.float32
    (m32, e32), (m64, e64) = (quantize_multiplier(r) for r in (float(f(f(s_a) * f(s_b) / f(s_out))),
                                                              float(f(s_a)) * float(f(s_b)) / float(f(s_out))))
    return lambda a, b: (rdbp(srdhm(a * b, m32), -e32), rdbp(srdhm(a * b, m64), -e64))  # noqa: E731


def build():
    """int16_ties (see the module doc). Returns the model bytes."""
    rng = np.random.default_rng(SEED)
    g = ug.Graph("quantlens int16_ties: int16 ADD/SUB/MUL whose ties and power-of-two scales separate the runtimes")

    def tensor(name, shape, scale):
        return g.tensor(name, shape, TT.INT16, (scale, 0))

    def const(name, shape, scale, lo, hi):
        return g.tensor(name, shape, TT.INT16, (scale, 0), data=rng.integers(lo, hi + 1, int(np.prod(shape))))

    def binop(code, a, b, name, scale, act=0, pot=False):
        y = tensor(name, g.broadcast(a, b), scale)
        opts = {"fusedActivationFunction": act} if code != OP.MUL else {}
        if code in (OP.ADD, OP.SUB):
            opts["potScaleInt16"] = pot
        return g.op(code, [a, b], [y], **opts)

    x = tensor("image", [1, 28, 28, 1], U)
    g.inputs = [x]
    outs = []
    # general scales: builtin's elementwise ADD folds the input shift
    c_img = const("c/image", [1, 28, 28, 1], 9 * U, -3500, 3500)
    outs.append(binop(OP.ADD, x, c_img, "add/elementwise", 2 * U, pot=True))
    # the constant row (elements 784..811: 16 in the last block, 12 in the tail) and its addends
    # are pairs where the folded shift and the reference give different outputs
    row_vals, row_addends = tie_pairs(rng, 28, 1000, add_forms(U, 5 * U / 4, U / 2))
    pad_row = g.tensor("c/pad_row", [1, 1, 28, 1], TT.INT16, (U, 0), data=row_vals)
    xc = g.op(OP.CONCATENATION, [x, pad_row], [tensor("xc", [1, 29, 28, 1], U)], axis=1)
    c_vals = rng.integers(-1000, 1001, 812)
    c_vals[784:] = row_addends
    c_xc = g.tensor("c/xc", [1, 29, 28, 1], TT.INT16, (5 * U / 4, 0), data=c_vals)
    outs.append(binop(OP.ADD, xc, c_xc, "add/elementwise_tail_relu", U / 2, act=schema.ActivationFunctionType.RELU))
    c_img3 = const("c/image3", [1, 28, 28, 1], 3 * U, -8000, 8000)
    outs.append(binop(OP.ADD, c_img3, x, "add/const_first", 2 * U))
    k_row = const("c/row", [1, 28, 1, 1], 5 * U, -3000, 3000)
    outs.append(binop(OP.ADD, x, k_row, "add/rows", 2 * U))
    outs.append(binop(OP.SUB, x, c_img, "sub/elementwise", 2 * U))
    outs.append(binop(OP.SUB, x, k_row, "sub/rows", 2 * U))
    # MUL: the image and a constant row whose products fall where the two multipliers part
    mul_row, mul_factors = tie_pairs(rng, 28, 3500, mul_forms(U, 37 * U, 9 * U))
    xm = g.op(OP.CONCATENATION, [x, g.tensor("c/mul_row", [1, 1, 28, 1], TT.INT16, (U, 0), data=mul_row)],
              [tensor("xm", [1, 29, 28, 1], U)], axis=1)
    c_m = rng.integers(-3500, 3501, 812)
    c_m[784:] = mul_factors
    c_mul = g.tensor("c/mul", [1, 29, 28, 1], TT.INT16, (37 * U, 0), data=c_m)
    outs.append(binop(OP.MUL, xm, c_mul, "mul/elementwise", 9 * U))
    # power-of-two scales
    xp = g.unary(OP.QUANTIZE, x, "xp", quant=(2.0 ** -14, 0), ttype=TT.INT16)
    cp = const("c/pot", [1, 28, 28, 1], 2.0 ** -12, -32768, 32767)
    outs.append(binop(OP.ADD, xp, cp, "add/pot", 2.0 ** -12, pot=True))
    outs.append(binop(OP.SUB, cp, xp, "sub/pot", 2.0 ** -12, pot=True))
    outs.append(binop(OP.ADD, xp, cp, "add/pot_flag_false", 2.0 ** -12, pot=False))
    outs.append(binop(OP.ADD, xp, cp, "add/pot_near", 2.0 ** -12 * 1.0004, pot=True))
    row_p = const("c/row_pot", [1, 28, 1, 1], 2.0 ** -16, -32768, 32767)
    outs.append(binop(OP.SUB, xp, row_p, "sub/pot_rows", 2.0 ** -14, pot=True))
    g.outputs = outs
    return g.model()


def make(out, split, md):
    e = ug.schema_model_entry(md, out, split, "int16_ties", build(), ("int16", U, 0),
                              "int16 ADDs (elementwise with and without a tail, broadcast, power-of-two "
                              "scales with and without pot_scale_int16), SUBs and a MUL on scales k/16320 and 2^-k, "
                              "written with the TFLite schema, untrained",
                              N_GOLDEN)
    return {"models": {"int16_ties": e}}
