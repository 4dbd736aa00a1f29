"""Topic `uint8_graph`: uint8 graphs written op by op with the TFLite schema (issue 14).

The converter does not write these uint8 forms: in the int8 conversions that data_uint8.py
rewrites into uint8 it left EQUAL / NOT_EQUAL / TRANSPOSE as float islands, wrote SELECT for
SELECT_V2 and fused RELU6 into the op before it. LiteRT
has them all in uint8, so each model here is written directly, tensor by tensor, with the object
API of the flatbuffer schema (`Graph`): every activation uint8 with its own per-tensor scale and zero
point, chosen as a converter would (the range of the values the tensor holds), except where
the point is that two operands differ.

- `uint8_graph`: the MNIST digit x (1,28,28,1), scale 1/255, zero point 0, and
  - TRANSPOSE: the image transposed (4-D, perm 0,2,1,3); x as (1,14,14,4) to NCHW (perm 0,3,1,2);
    x as (4,7,7,4) with perm 3,1,0,2; a 3-D (28,7,4) view of h with perm 2,0,1;
  - xt = the transposed image requantized (QUANTIZE uint8 -> uint8) to another scale and zero
    point, so every comparison of x with xt rescales both sides (LiteRT's ComparisonWithScaling);
  - EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL of x with xt and with constants
    of their own scales that broadcast over rows, columns or everything;
  - SELECT_V2 broadcasting between cond, x and y (xt' = xt requantized back to x's scale, as
    SELECT wants x, y and the output on one): (x > xt, a colour (1,1,1,3), x) and
    (x == xt, colour, xt') -> (1,28,28,3); (x < a column threshold, x, xt'); a (1,28,1,1) row
    mask with x and the colour -> (1,28,28,3); one (cond, xt', x) per other comparison;
  - RELU6: h = SELECT_V2(xt <= x, c, x) with c and x on a wide scale (14/255, zero point 73), c a
    constant spread over [-4, 10]; RELU6 into two output quantizations different from h's (zero
    point 0 and zero point 10), so it requantizes and clamps at both ends.
  Untrained: no classifier. 40 golden images, goldens from LiteRT ref, builtin and XNNPACK.

TFLite Micro has none of these ops in uint8. Every op is first written alone as a one-op probe
(not committed) and run in LiteRT ref, builtin and TFLite Micro; what each runtime refused is
in the manifest (`uint8_refusals`: also LiteRT's uint8 NEG), and the model's TFLite Micro
refusal in its entry.

No uint8 ADD here: an ADD x + c first fed RELU6, and LiteRT builtin's uint8 ADD differed from ref
on 9 of 31 360 elements (exact ties: these scales are all k/255). Builtin runs each full block of
8 elements through NEON intrinsics (on x86 via NEON_2_SSE) that shift the rescaled inputs right
truncating (`vshlq_s32` by a negative count), not rounding as the scalar tail and the reference
do; the engine models it as the profile's `add_blocks`, proven by topic `add_ties`.

Run: python scripts/make_data.py --only uint8_graph
"""
import pathlib
import tempfile

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

import data_uint8

SEED = 1414
N_GOLDEN = 40
OP = schema.BuiltinOperator
TT = schema.TensorType
S_IMAGE = 1.0 / 255.0

# op -> (options type, options class or None); uint8 is every op's version-1 dtype
OPTIONS = {
    OP.RESHAPE: (schema.BuiltinOptions.ReshapeOptions, schema.ReshapeOptionsT),
    OP.TRANSPOSE: (schema.BuiltinOptions.TransposeOptions, schema.TransposeOptionsT),
    OP.QUANTIZE: (schema.BuiltinOptions.QuantizeOptions, schema.QuantizeOptionsT),
    OP.EQUAL: (schema.BuiltinOptions.EqualOptions, schema.EqualOptionsT),
    OP.NOT_EQUAL: (schema.BuiltinOptions.NotEqualOptions, schema.NotEqualOptionsT),
    OP.LESS: (schema.BuiltinOptions.LessOptions, schema.LessOptionsT),
    OP.LESS_EQUAL: (schema.BuiltinOptions.LessEqualOptions, schema.LessEqualOptionsT),
    OP.GREATER: (schema.BuiltinOptions.GreaterOptions, schema.GreaterOptionsT),
    OP.GREATER_EQUAL: (schema.BuiltinOptions.GreaterEqualOptions, schema.GreaterEqualOptionsT),
    OP.SELECT_V2: (schema.BuiltinOptions.SelectV2Options, schema.SelectV2OptionsT),
    OP.RELU6: (None, None),
    OP.NEG: (schema.BuiltinOptions.NegOptions, schema.NegOptionsT),
    # uint8_tconv (data_uint8_tconv.py)
    OP.CONV_2D: (schema.BuiltinOptions.Conv2DOptions, schema.Conv2DOptionsT),
    OP.TRANSPOSE_CONV: (schema.BuiltinOptions.TransposeConvOptions, schema.TransposeConvOptionsT),
}
NUMPY = {TT.UINT8: np.uint8, TT.INT32: np.int32}


class Graph:
    """One subgraph written tensor by tensor (flatbuffer object API); `model()` gives the bytes."""

    def __init__(self, description):
        self.description = description
        self.tensors, self.buffers, self.ops, self.codes = [], [schema.BufferT()], [], []
        self.inputs, self.outputs = [], []
        self.versions = {}  # op code -> version written (1 when absent)

    def tensor(self, name, shape, ttype=TT.UINT8, quant=None, data=None):
        """A tensor; quant = (scale, zero point); data (a constant) is stored as ttype."""
        t = schema.TensorT()
        t.name, t.shape, t.type = name, list(shape), ttype
        b = schema.BufferT()
        if data is not None:
            arr = np.asarray(data, NUMPY[ttype]).reshape(shape)
            b.data = np.frombuffer(arr.tobytes(), np.uint8)
        self.buffers.append(b)
        t.buffer = len(self.buffers) - 1
        if quant is not None:
            q = schema.QuantizationParametersT()
            q.scale, q.zeroPoint = [float(np.float32(quant[0]))], [int(quant[1])]
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def const_i32(self, name, values):
        return self.tensor(name, [len(values)], TT.INT32, data=values)

    def op(self, code, inputs, outputs, **options):
        if code not in self.codes:
            self.codes.append(code)
        o = schema.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.codes.index(code), list(inputs), list(outputs)
        otype, ocls = OPTIONS[code]
        if otype is not None:
            o.builtinOptionsType, o.builtinOptions = otype, ocls()
            for k, v in options.items():
                setattr(o.builtinOptions, k, v)
        self.ops.append(o)
        return outputs[0]

    def quant(self, t):
        q = self.tensors[t].quantization
        return float(q.scale[0]), int(q.zeroPoint[0])

    def shape(self, t):
        return list(self.tensors[t].shape)

    # one op -> its output tensor
    def unary(self, code, x, name, shape=None, quant=None, ttype=TT.UINT8, extra=(), **options):
        y = self.tensor(name, shape or self.shape(x), ttype, quant or self.quant(x))
        return self.op(code, [x, *extra], [y], **options)

    def reshape(self, x, shape, name):
        return self.unary(OP.RESHAPE, x, name, shape, extra=[self.const_i32(name + "/shape", shape)], newShape=list(shape))

    def transpose(self, x, perm, name):
        return self.unary(OP.TRANSPOSE, x, name, [self.shape(x)[p] for p in perm],
                          extra=[self.const_i32(name + "/perm", perm)])

    def broadcast(self, *ts):
        """The numpy broadcast of the tensors' shapes."""
        return list(np.broadcast_shapes(*(tuple(self.shape(t)) for t in ts)))

    def compare(self, code, a, b, name):
        return self.op(code, [a, b], [self.tensor(name, self.broadcast(a, b), TT.BOOL)])

    def select_v2(self, cond, x, y, name):
        assert self.quant(x) == self.quant(y)
        return self.op(OP.SELECT_V2, [cond, x, y], [self.tensor(name, self.broadcast(cond, x, y), TT.UINT8, self.quant(x))])

    def model(self):
        m = schema.ModelT()
        m.version, m.description, m.buffers = 3, self.description, self.buffers
        m.operatorCodes = []
        for c in self.codes:
            oc = schema.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = c, min(c, 127), self.versions.get(c, 1)
            m.operatorCodes.append(oc)
        sg = schema.SubGraphT()
        sg.name, sg.tensors, sg.operators = "main", self.tensors, self.ops
        sg.inputs, sg.outputs = list(self.inputs), list(self.outputs)
        m.subgraphs = [sg]
        return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


def quantize_const(rng_values, scale, zp):
    """A constant's bytes, as the converter quantizes it: round(v/S) + Z, clamped to uint8."""
    return np.clip(np.round(np.asarray(rng_values, np.float64) / scale) + zp, 0, 255).astype(np.uint8)


def image_graph(description):
    g = Graph(description)
    x = g.tensor("image", [1, 28, 28, 1], quant=(S_IMAGE, 0))
    g.inputs = [x]
    return g, x


ARCH = ("the MNIST digit x (1,28,28,1) uint8, scale 1/255; TRANSPOSE 4-D (0,2,1,3; 0,3,1,2; 3,1,0,2) "
        "and 3-D (2,0,1); xt = the transposed image requantized (scale 1.51/255, zero point 21); "
        "EQUAL/NOT_EQUAL/LESS/LESS_EQUAL/GREATER/GREATER_EQUAL of x, xt and broadcast constants on "
        "their own scales; SELECT_V2 broadcasting cond/x/y; RELU6 of values over [-4, 10] into two "
        "other output quantizations")


def build_main():
    """uint8_graph (see the module doc). Returns the model bytes."""
    rng = np.random.default_rng(SEED)
    g, x = image_graph("quantlens uint8_graph: uint8 TRANSPOSE, comparisons, SELECT_V2, RELU6 written with the schema")
    outs = []
    # TRANSPOSE, 4-D and 3-D, non-trivial perms
    t_img = g.transpose(x, [0, 2, 1, 3], "transpose/image")
    x14 = g.reshape(x, [1, 14, 14, 4], "x14")
    outs.append(g.transpose(x14, [0, 3, 1, 2], "transpose/nchw"))
    x7 = g.reshape(x, [4, 7, 7, 4], "x7")
    outs.append(g.transpose(x7, [3, 1, 0, 2], "transpose/perm3102"))
    # xt: the transposed image on another scale and zero point (real range [-0.12, 1.39])
    xt = g.unary(OP.QUANTIZE, t_img, "xt", quant=(1.51 / 255, 21))
    # comparisons of two run-time tensors on different scales, and against constants
    k_col = g.tensor("k/col", [1, 1, 28, 1], quant=(1.2 / 255, 30),
                     data=quantize_const(rng.uniform(-0.05, 0.8, 28), 1.2 / 255, 30))
    k_row = g.tensor("k/row", [1, 28, 1, 1], quant=(0.9 / 255, 3),
                     data=quantize_const(rng.uniform(0.0, 0.9, 28), 0.9 / 255, 3))
    k_one = g.tensor("k/one", [1], quant=(2.0 / 255, 128), data=quantize_const([0.0], 2.0 / 255, 128))
    eq = g.compare(OP.EQUAL, x, xt, "equal/x_xt")
    ne = g.compare(OP.NOT_EQUAL, xt, k_one, "not_equal/xt_zero")
    lt = g.compare(OP.LESS, x, k_col, "less/x_col")
    le = g.compare(OP.LESS_EQUAL, xt, x, "less_equal/xt_x")
    gt = g.compare(OP.GREATER, x, xt, "greater/x_xt")
    ge = g.compare(OP.GREATER_EQUAL, k_row, xt, "greater_equal/row_xt")
    ne2 = g.compare(OP.NOT_EQUAL, x, k_col, "not_equal/x_col")
    eq2 = g.compare(OP.EQUAL, k_row, x, "equal/row_x")
    # SELECT_V2, broadcasting between cond, x and y
    colour = g.tensor("colour", [1, 1, 1, 3], quant=(S_IMAGE, 0), data=[255, 96, 0])
    outs.append(g.select_v2(gt, colour, x, "select_v2/paint"))
    xt_back = g.unary(OP.QUANTIZE, xt, "xt/requant", quant=(S_IMAGE, 0))
    outs.append(g.select_v2(lt, x, xt_back, "select_v2/x_or_xt"))
    outs.append(g.select_v2(eq, colour, xt_back, "select_v2/equal_colour"))
    row_mask = g.compare(OP.GREATER, k_row, k_one, "greater/row_zero")
    outs.append(g.select_v2(row_mask, x, colour, "select_v2/rows"))
    for b in (ne, le, ge, ne2, eq2):
        outs.append(g.select_v2(b, xt_back, x, "select_v2/" + g.tensors[b].name.replace("/", "_")))
    # RELU6 of h, which holds values over [-4, 10]: where xt <= x a constant spread over that
    # range, elsewhere the image, both on h's scale (14/255, zero point 73)
    h_q = (14.0 / 255, 73)
    c = g.tensor("c", [1, 28, 28, 1], quant=h_q, data=quantize_const(rng.uniform(-4.0, 10.0, 784), *h_q))
    xw = g.unary(OP.QUANTIZE, x, "x/wide", quant=h_q)
    h = g.select_v2(le, c, xw, "h")
    outs.append(g.unary(OP.RELU6, h, "relu6/zp0", quant=(6.0 / 255, 0)))
    outs.append(g.unary(OP.RELU6, h, "relu6/zp10", quant=(7.4 / 245, 10)))
    h3 = g.reshape(h, [28, 7, 4], "h3")
    outs.append(g.transpose(h3, [2, 0, 1], "transpose/3d"))
    # output 0 (what the outputs-only paths return) depends on most of the graph
    g.outputs = [outs[-2]] + [o for o in outs if o != outs[-2]]
    return g.model()


def one_op_probes():
    """(name, model bytes) of each uint8 op alone on the image, for the refusal table."""
    def probe(name, fn):
        g, x = image_graph("probe " + name)
        g.outputs = [fn(g, x)]
        return name, g.model()

    k = lambda g: g.tensor("k", [1], quant=(2.0 / 255, 128), data=[140])  # noqa: E731
    probes = [
        probe("TRANSPOSE", lambda g, x: g.transpose(x, [0, 2, 1, 3], "t")),
        probe("QUANTIZE", lambda g, x: g.unary(OP.QUANTIZE, x, "q", quant=(1.51 / 255, 21))),
        probe("RELU6", lambda g, x: g.unary(OP.RELU6, x, "r", quant=(0.5 / 255, 10))),
        probe("RESHAPE", lambda g, x: g.reshape(x, [1, 14, 14, 4], "r")),
        # LiteRT has no uint8 NEG ("Neg only currently supports int64, int32, and float32"): recorded
        probe("NEG", lambda g, x: g.unary(OP.NEG, x, "n", quant=(S_IMAGE, 255))),
        probe("SELECT_V2", lambda g, x: g.select_v2(
            g.compare(OP.LESS, x, k(g), "c"), x, g.tensor("y", [1], quant=(S_IMAGE, 0), data=[7]), "s")),
    ]
    for code in (OP.EQUAL, OP.NOT_EQUAL, OP.LESS, OP.LESS_EQUAL, OP.GREATER, OP.GREATER_EQUAL):
        probes.append(probe(data_uint8.schema_name(code), lambda g, x, c=code: g.compare(c, x, k(g), "b")))
    return probes


def image_model_entry(out, split, md, stem, arch, n_golden):
    """The golden entry of data/models/<stem>.tflite (already written), a schema-written model on
    the uint8 digit (1,28,28,1) at 1/255, untrained ([`schema_model_entry`])."""
    flat = (out / "models" / (stem + ".tflite")).read_bytes()
    return schema_model_entry(md, out, split, stem, flat, ("uint8", S_IMAGE, 0),
                              "uint8 graph written with the TFLite schema (no converter), untrained: " + arch,
                              n_golden)


def make(out, split, md):
    refusals = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, flat in one_op_probes():
            path = pathlib.Path(tmp) / (name + ".tflite")
            path.write_bytes(flat)
            x0 = md.gl.quantize_input(split.x_te[:1], "uint8", S_IMAGE, 0).reshape(1, 28, 28, 1)
            r = data_uint8.probe_runtimes(md, path, x0)
            md.log("uint8_graph probe %-14s refused %s" % (name, {k: v[:150] for k, v in r.items()}))
            if r:
                refusals[name] = r
    models = [("uint8_graph", build_main())]
    entries = {}
    (out / "models" / "probe").mkdir(parents=True, exist_ok=True)
    for stem, flat in models:
        (out / "models" / (stem + ".tflite")).write_bytes(flat)
        entries[stem] = image_model_entry(out, split, md, stem, ARCH, N_GOLDEN)
    return {"models": entries,
            "uint8_refusals": {
                "what": "each op written alone on the uint8 image (a probe, not committed) and run once in "
                        "LiteRT ref, LiteRT builtin and TFLite Micro (in a child process)",
                "refused": refusals}}


# one schema-written model's entry (uint8_graph, uint8_tconv, int16_ties, audit_gaps)
def schema_model_entry(md, out, split, stem, flat, input_quant, description, n_images):
    """Write model `stem` (bytes `flat`, an image input of (dtype, scale, zero point)
    `input_quant`), check that TFLite Micro refuses it cleanly if it refuses it (golden_entry runs
    TFLite Micro in-process), and make its goldens: the manifest entry."""
    (out / "models" / "probe").mkdir(parents=True, exist_ok=True)
    path = out / "models" / (stem + ".tflite")
    path.write_bytes(flat)
    x0 = md.gl.quantize_input(split.x_te[:1], *input_quant).reshape(1, 28, 28, 1)
    tflm = data_uint8.tflm_probe(path, x0)
    assert tflm is None or not tflm.startswith("crashed"), tflm
    e = md.golden_entry(out, stem, description, split.x_te, split.y_te, n_images=n_images)
    e["op_kinds"] = sorted({o["op"] for o in e["ops"]})
    e["runtimes_that_ran"] = sorted(e["goldens"], key=md.gl.RUNTIMES.index)
    e["golden_images"] = n_images
    return e
