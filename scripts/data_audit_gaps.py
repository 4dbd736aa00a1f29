"""Topic `audit_gaps`: the op × dtype pairs of issue 14 that `scripts/audit_ops.py` found without a
committed proof, written op by op with the TFLite schema (the `Graph` writer of
`data_uint8_graph.py`).

The converter never writes these forms in the committed models: SQUEEZE and EXPAND_DIMS only
appear in int8 (`kws1d_ptq_int8`), CAST only from int32 or bool, EQUAL / NOT_EQUAL only on int32
(`tops_*`) or as float islands, PRELU only in int8 and float32. LiteRT has each of them in these
dtypes (`squeeze.cc` and `expand_dims.cc` copy any type, `cast.cc` casts from int8 and uint8,
`comparisons.cc` rescales int8 like uint8, `activations.cc` has a uint8 PRELU).

- `audit_gaps`: the MNIST digit x (1,28,28,1) uint8, scale 1/255, and
  - uint8: SQUEEZE (axis 3) → (1,28,28), EXPAND_DIMS (axis 1) → (1,1,28,28); CAST uint8 →
    float32; PRELU of h = x − a constant image (values over [−1, 1], scale 2/255, zero point 128)
    with a per-column α over [−0.5, 1.5] (scale 2/255, zero point 64) into its own output scale;
  - int8: x8 = x requantized to int8 (1/255, −128); CAST int8 → float32; EQUAL of x8 and the
    transposed image on another scale (1.51/255, −100), NOT_EQUAL of x8 and a constant on its
    own scale, each selecting (SELECT_V2) between x8 and the transposed image brought back to x8's
    scale;
  - float32: xf = CAST(x); SQUEEZE, EXPAND_DIMS (axis 2); EQUAL of xf and its transpose,
    NOT_EQUAL of xf and 0.5, each selecting between xf and the transpose.
  Untrained, no classifier. 24 golden images; goldens from every runtime that runs it (TFLite
  Micro's refusal is recorded in the entry).

Run: python scripts/make_data.py --only audit_gaps
"""
import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

import data_add_ties  # noqa: F401 - registers ADD, SUB, CONCATENATION with the Graph writer
import data_uint8_graph as ug

SEED = 1717
N_GOLDEN = 24
OP = schema.BuiltinOperator
TT = schema.TensorType
BO = schema.BuiltinOptions
S = 1.0 / 255.0

ug.OPTIONS.setdefault(OP.SQUEEZE, (BO.SqueezeOptions, schema.SqueezeOptionsT))
ug.OPTIONS.setdefault(OP.EXPAND_DIMS, (BO.ExpandDimsOptions, schema.ExpandDimsOptionsT))
ug.OPTIONS.setdefault(OP.CAST, (BO.CastOptions, schema.CastOptionsT))
ug.OPTIONS.setdefault(OP.PRELU, (None, None))
ug.NUMPY.setdefault(TT.INT8, np.int8)
ug.NUMPY.setdefault(TT.FLOAT32, np.float32)


def build():
    """audit_gaps (see the module doc). Returns the model bytes."""
    rng = np.random.default_rng(SEED)
    g, x = ug.image_graph("quantlens audit_gaps: uint8/int8/float32 forms of issue 14's ops the converter never writes")

    def op(code, inputs, name, shape, ttype, quant=None, **options):
        """One op whose output is a new tensor (float32 ones unquantized)."""
        return g.op(code, inputs, [g.tensor(name, shape, ttype, quant)], **options)

    def squeeze_expand(t, axis, name, ttype, quant):
        shape = g.shape(t)
        squeezed = op(OP.SQUEEZE, [t], name + "/squeeze", shape[:3], ttype, quant, squeezeDims=[3])
        grown = shape[:axis] + [1] + shape[axis:3]
        return squeezed, op(OP.EXPAND_DIMS, [squeezed, g.const_i32(name + "/axis", [axis])], name + "/expand_dims",
                            grown, ttype, quant)

    def cast(t, name, from_type):
        return op(OP.CAST, [t], name, g.shape(t), TT.FLOAT32, inDataType=from_type, outDataType=TT.FLOAT32)

    outs = []
    # uint8
    h_q = (2.0 * S, 128)
    c_img = g.tensor("c/image", [1, 28, 28, 1], quant=(S, 0), data=rng.integers(0, 256, 784))
    h = op(OP.SUB, [x, c_img], "h", [1, 28, 28, 1], TT.UINT8, h_q, fusedActivationFunction=0)
    alpha = g.tensor("c/alpha", [1, 28, 1], quant=(2.0 * S, 64), data=ug.quantize_const(rng.uniform(-0.5, 1.5, 28), 2.0 * S, 64))
    outs.append(op(OP.PRELU, [h, alpha], "prelu/uint8", [1, 28, 28, 1], TT.UINT8, (1.3 * S, 90)))
    outs.extend(squeeze_expand(x, 1, "uint8", TT.UINT8, (S, 0)))
    outs.append(cast(x, "cast/uint8", TT.UINT8))
    # int8
    x8 = g.unary(OP.QUANTIZE, x, "x8", quant=(S, -128), ttype=TT.INT8)
    outs.append(cast(x8, "cast/int8", TT.INT8))
    x8b = g.unary(OP.QUANTIZE, x, "x8b", quant=(1.51 * S, -100), ttype=TT.INT8)
    x8t = op(OP.TRANSPOSE, [x8b, g.const_i32("x8t/perm", [0, 2, 1, 3])], "x8t", [1, 28, 28, 1], TT.INT8, g.quant(x8b))
    x8back = g.unary(OP.QUANTIZE, x8t, "x8t/requant", quant=(S, -128), ttype=TT.INT8)
    k8 = g.tensor("k8", [1], TT.INT8, (2.0 * S, 0), data=[30])
    eq8 = g.compare(OP.EQUAL, x8, x8t, "equal/int8")
    ne8 = g.compare(OP.NOT_EQUAL, x8, k8, "not_equal/int8")
    for cond, name in ((eq8, "select_v2/equal_int8"), (ne8, "select_v2/not_equal_int8")):
        outs.append(op(OP.SELECT_V2, [cond, x8, x8back], name, [1, 28, 28, 1], TT.INT8, (S, -128)))
    # float32
    xf = cast(x, "xf", TT.UINT8)
    xft = op(OP.TRANSPOSE, [xf, g.const_i32("xft/perm", [0, 2, 1, 3])], "xft", [1, 28, 28, 1], TT.FLOAT32)
    outs.extend(squeeze_expand(xf, 2, "float32", TT.FLOAT32, None))
    half = g.tensor("k/half", [1], TT.FLOAT32, data=[0.5])
    eqf = g.compare(OP.EQUAL, xf, xft, "equal/float32")
    nef = g.compare(OP.NOT_EQUAL, xf, half, "not_equal/float32")
    for cond, name in ((eqf, "select_v2/equal_float32"), (nef, "select_v2/not_equal_float32")):
        outs.append(op(OP.SELECT_V2, [cond, xf, xft], name, [1, 28, 28, 1], TT.FLOAT32))
    g.outputs = outs
    return g.model()


def make(out, split, md):
    e = ug.schema_model_entry(md, out, split, "audit_gaps", build(), ("uint8", S, 0),
                              "uint8 SQUEEZE/EXPAND_DIMS/CAST/PRELU, int8 CAST/EQUAL/NOT_EQUAL, float32 "
                              "SQUEEZE/EXPAND_DIMS/EQUAL/NOT_EQUAL, written with the TFLite schema, untrained",
                              N_GOLDEN)
    return {"models": {"audit_gaps": e}}
