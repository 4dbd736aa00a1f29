//! The export of any int8 model `run` supports as a graph of layers: every
//! op-produced tensor gets its own buffer, each layer reads its inputs'
//! buffers and writes its output's (residual ADDs, CONCATENATION of
//! branches). The MLP export ([`super::super::Export`]) stays as it is.
//!
//! Every layer is a [`Node`]: its constants and geometry as named integers
//! ([`Scalar`], `L<k>_…`), its arrays ([`Array`], `l<k>_…`: weights, bias,
//! per-channel `M0`/`shift`, tables, shapes), and the C statement that
//! computes it from the runtime of its op family. One Rust file per family
//! builds the nodes ([`conv`](super::conv), [`dense`](super::dense),
//! [`binary`](super::binary), [`unary`](super::unary),
//! [`moves`](super::moves), [`reduce`](super::reduce), [`vision`](super::vision)); the same nodes feed
//! the C ([`super::graph_c`]), JSON and Verilog writers
//! ([`super::graph_files`]).

use std::collections::HashSet;

use super::super::{Array, Golden, Scalar, TensorInfo};
use crate::error::Error;
use crate::model::DType;
use crate::plan::{Kernel, Plan, Step};
use crate::ops::transformer::Op;
use crate::profile::Profile;
use crate::tensor::Value;

/// One layer of the graph export.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Position in the export: the plan's steps in order, without the
    /// constants folded at prepare time (DENSIFY, DEQUANTIZE float16), which
    /// are constants of the export.
    pub index: usize,
    /// Operator index in the model.
    pub op: usize,
    pub op_kind: String,
    /// The tensors read at run time, in the kernel's order.
    pub inputs: Vec<TensorInfo>,
    pub output: TensorInfo,
    /// Constants and geometry, named `L<k>_…`.
    pub scalars: Vec<Scalar>,
    /// Arrays, named `l<k>_…`.
    pub arrays: Vec<Array>,
    /// C declarations the call needs (a geometry struct), emitted before the forward pass.
    pub decl: String,
    /// The C statement computing the output buffer `ql_t<out>` from the input buffers.
    pub call: String,
    /// The C runtime texts the call needs (each emitted once per `model.c`, in order).
    pub runtime: Vec<&'static str>,
}

/// What a family builder gets: the plan, the step and the layer's position.
pub struct Ctx<'a> {
    pub plan: &'a Plan,
    pub step: &'a Step,
    pub k: usize,
}

impl Ctx<'_> {
    /// The model's name of the op.
    pub fn op_name(&self) -> String {
        self.plan.model.operators[self.step.op].kind.name()
    }

    /// The C buffer of tensor `t`.
    pub fn buf(&self, t: usize) -> String {
        format!("ql_t{t}")
    }

    /// The C name of this layer's array `name`.
    pub fn arr(&self, name: &str) -> String {
        format!("ql_l{}_{name}", self.k)
    }

    /// A scalar `L<k>_NAME`.
    pub fn scalar(&self, name: &str, value: i64, doc: &str) -> Scalar {
        Scalar { name: format!("L{}_{name}", self.k), value, doc: doc.to_string() }
    }

    /// An array `l<k>_name`.
    pub fn array(&self, name: &str, dtype: DType, values: Vec<i64>, layout: String) -> Array {
        Array { name: format!("l{}_{name}", self.k), dtype, values, layout }
    }

    /// The tensor's export description.
    pub fn tensor(&self, t: usize) -> TensorInfo {
        TensorInfo::of(self.plan, t)
    }

    /// The export code of an integer rounding rule; the ones that need
    /// floating point (codes 3 and 4) are refused.
    pub fn rounding(&self, r: crate::profile::Rounding) -> Result<i64, Error> {
        let code = super::super::rounding_code(r);
        if code > 2 {
            return Err(self.refuse(format!("rounding {} needs floating point: export with --profile tflm", r.name())));
        }
        Ok(code)
    }

    /// A refusal naming this op.
    pub fn refuse(&self, why: impl std::fmt::Display) -> Error {
        super::super::unsupported(format!("op {} {} (layer {}): {why}", self.step.op, self.op_name(), self.k))
    }

    /// A node with the step's inputs and output; the builder fills in the rest.
    pub fn node(&self, scalars: Vec<Scalar>, arrays: Vec<Array>, decl: String, call: String, runtime: &[&'static str]) -> Node {
        Node {
            index: self.k,
            op: self.step.op,
            op_kind: self.op_name(),
            inputs: self.step.kernel.inputs().into_iter().map(|t| self.tensor(t)).collect(),
            output: self.tensor(self.step.kernel.output()),
            scalars,
            arrays,
            decl,
            call,
            runtime: runtime.to_vec(),
        }
    }
}

/// A C initializer list `{a, b, c}` of integers.
pub fn c_list<T: std::fmt::Display>(v: &[T]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("{{{}}}", parts.join(", "))
}

/// `v` as i64.
pub fn wide<T: Copy + Into<i64>>(v: &[T]) -> Vec<i64> {
    v.iter().map(|&x| x.into()).collect()
}

/// The model as a graph of integer-only layers.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphExport {
    pub model_name: String,
    pub profile: Profile,
    pub input: TensorInfo,
    pub output: TensorInfo,
    pub nodes: Vec<Node>,
    /// Tensors read at run time that no layer writes and that are not the
    /// input: the model's constants, as `(tensor, values)`.
    pub constants: Vec<(TensorInfo, Vec<i64>)>,
}

/// The ops the graph export covers, for messages and docs.
pub const COVERED: &str = "CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, MAX_POOL_2D, AVERAGE_POOL_2D, ADD, SUB, MUL, CONCATENATION, PACK, PAD, \
MEAN, SOFTMAX, LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, RELU, RELU6, RELU_N1_TO_1, QUANTIZE (8-bit to 8-bit), RESHAPE, SHAPE, STRIDED_SLICE, \
DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND, TILE, MIRROR_PAD, PADV2, RESIZE_NEAREST_NEIGHBOR, PRELU, RESIZE_BILINEAR, TRANSPOSE_CONV, \
EXPAND_DIMS, SQUEEZE, LOG_SOFTMAX (int8), ARG_MAX, ARG_MIN, \
QUANTIZE (float32 to 8-bit), DEQUANTIZE (8-bit to float32), BATCH_MATMUL (int8), TRANSPOSE, GELU (8-bit), RSQRT (int8), \
SQUARED_DIFFERENCE (int8), NEG (float32), \
LESS, LESS_EQUAL, GREATER, GREATER_EQUAL, EQUAL, NOT_EQUAL (8-bit, int32), LOGICAL_AND, LOGICAL_OR, SELECT, SELECT_V2, MAXIMUM, MINIMUM (integers), \
DIV, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD, L2_NORMALIZATION, EXP, LOG, ABS, SQRT (int8), SLICE, SPLIT, SPLIT_V, GATHER, CAST, \
RESHAPE and CONCATENATION (float32)";

impl GraphExport {
    /// Build the export of `plan`; refuses, by op name and index, any op outside [`COVERED`].
    pub fn new(plan: &Plan, model_name: &str) -> Result<GraphExport, Error> {
        let mut nodes = Vec::new();
        for step in &plan.steps {
            // float plumbing (issue 15, item 4): a folded constant is read from its array
            if matches!(step.kernel, Kernel::Folded(_)) {
                continue;
            }
            let cx = Ctx { plan, step, k: nodes.len() };
            let node = match &step.kernel {
                Kernel::Conv2d(p) => super::conv::conv(&cx, p)?,
                Kernel::DepthwiseConv2d(p) => super::conv::depthwise(&cx, p)?,
                Kernel::MaxPool2d(p) | Kernel::AveragePool2d(p) => super::conv::pool(&cx, p)?,
                Kernel::FullyConnected(p) => super::dense::fully_connected(&cx, p)?,
                Kernel::Softmax(p) => super::dense::softmax(&cx, p)?,
                Kernel::AddSub(p) => super::binary::add_sub(&cx, p)?,
                Kernel::Mul(p) => super::binary::mul(&cx, p)?,
                Kernel::Logistic(p) if super::unary::fixed_point(p) => super::unary::logistic_tanh(&cx, p, false)?,
                Kernel::Tanh(p) if super::unary::fixed_point(&p.0) => super::unary::logistic_tanh(&cx, &p.0, true)?,
                // float plumbing (issue 15, item 4): QUANTIZE of a float32 tensor
                Kernel::Quantize(p) if matches!(p.arith, crate::ops::quantize::Arith::FromFloat) => super::float::quantize(&cx, p)?,
                Kernel::Relu(_) | Kernel::LeakyRelu(_) | Kernel::Quantize(_) => super::unary::rescale(&cx)?,
                Kernel::HardSwish(p) if p.output_dtype == DType::I8 => super::unary::hard_swish(&cx, p)?,
                Kernel::Logistic(_) | Kernel::Tanh(_) | Kernel::HardSwish(_) => super::unary::table(&cx)?,
                // tops_ptq_int8: RESHAPE and CONCATENATION of float32 tensors
                Kernel::Reshape(_) | Kernel::Concatenation(_) if super::tops_float::float_output(&cx) => super::tops_float::moves(&cx)?,
                Kernel::Reshape(_) => super::moves::reshape(&cx)?,
                Kernel::Shape(_) => super::moves::shape(&cx)?,
                Kernel::Concatenation(p) => super::moves::concatenation(&cx, p)?,
                Kernel::Pack(p) => super::moves::pack(&cx, p)?,
                Kernel::Pad(p) => super::moves::pad(&cx, p)?,
                Kernel::StridedSlice(p) => super::moves::strided_slice(&cx, p)?,
                Kernel::Mean(p) => super::reduce::mean(&cx, p)?,
                Kernel::Vision(crate::ops::vision::VisionOp::Move(m)) => super::moves::gather(&cx, m)?,
                Kernel::Vision(crate::ops::vision::VisionOp::Prelu(p)) => super::vision::prelu(&cx, p)?,
                Kernel::Vision(crate::ops::vision::VisionOp::ResizeBilinear(p)) => super::vision::resize_bilinear(&cx, p)?,
                Kernel::Vision(crate::ops::vision::VisionOp::TransposeConv(p)) => super::vision::transpose_conv(&cx, p)?,
                // log_softmax, expand_dims, squeeze, arg (issue 15, item 4)
                Kernel::Transformer(Op::ExpandDims(_) | Op::Squeeze(_)) => super::moves::reshape(&cx)?,
                Kernel::Transformer(Op::LogSoftmax(p)) => super::dense::log_softmax(&cx, p)?,
                Kernel::Transformer(Op::ArgMinMax(p)) => super::reduce::arg_min_max(&cx, p)?,
                // vit (issue 15, item 4)
                Kernel::Transformer(Op::BatchMatmul(p)) => super::transformer::batch_matmul(&cx, p)?,
                Kernel::Transformer(Op::Transpose(p)) => super::transformer::transpose(&cx, p)?,
                Kernel::Transformer(Op::Gelu(p)) => super::transformer::gelu(&cx, p)?,
                Kernel::Transformer(Op::Rsqrt(p)) => super::transformer::rsqrt(&cx, p)?,
                Kernel::Transformer(Op::Neg(p)) => super::transformer::neg(&cx, p)?,
                Kernel::Transformer(Op::SquaredDifference(p)) => super::binary::squared_difference(&cx, p)?,
                // tops_ptq_int8: comparisons, logic, SELECT, MAXIMUM/MINIMUM, DIV, reductions, L2_NORMALIZATION, SLICE/SPLIT/GATHER, int8 EXP/LOG/ABS/SQRT
                Kernel::Transformer(op) if super::tops::covers(op) => super::tops::node(&cx, op)?,
                Kernel::Transformer(Op::Cast(p)) => super::tops_float::cast(&cx, p)?,
                Kernel::Dequantize(p) => super::float::dequantize(&cx, p)?,
                _ => return Err(cx.refuse(format!("outside the integer export, which covers {COVERED}"))),
            };
            // float plumbing (issue 15, item 4): the kernels whose C reads or writes `float` buffers.
            let float_kernel = matches!(step.kernel, Kernel::Quantize(_) | Kernel::Dequantize(_) | Kernel::Transformer(Op::Neg(_)))
                // tops_ptq_int8: CAST, SELECT, RESHAPE and CONCATENATION carry float32 values (src/export/c/tops_float.rs)
                || super::tops_float::carries_floats(&step.kernel);
            for t in std::iter::once(&node.output).chain(&node.inputs) {
                if !matches!(t.dtype, DType::I8 | DType::U8 | DType::I32 | DType::F32 | DType::Bool) {
                    return Err(cx.refuse(format!("tensor t{} is {}; the graph export carries int8, uint8, int32, float32 and bool tensors", t.index, t.dtype)));
                }
                if t.dtype == DType::F32 && !float_kernel {
                    return Err(cx.refuse(format!("tensor t{} is float32; this op's C kernel carries integers", t.index)));
                }
            }
            nodes.push(node);
        }
        let mut written: HashSet<usize> = nodes.iter().map(|n| n.output.index).collect();
        written.insert(plan.input());
        let mut constants = Vec::new();
        for n in &nodes {
            for t in &n.inputs {
                if written.insert(t.index) {
                    let tensor = &plan.model.tensors[t.index];
                    let v = Value::from_constant(tensor).and_then(|v| v.to_i64_vec()).ok_or_else(|| {
                        super::super::unsupported(format!("layer {} ({}) reads t{} ({}), which is neither computed nor a constant", n.index, n.op_kind, t.index, tensor.name))
                    })?;
                    constants.push((t.clone(), v));
                }
            }
        }
        Ok(GraphExport {
            model_name: model_name.to_string(),
            profile: plan.profile,
            input: TensorInfo::of(plan, plan.input()),
            output: TensorInfo::of(plan, plan.output()),
            nodes,
            constants,
        })
    }

    /// The first `n` of `inputs` and every layer's output on them.
    pub fn golden(&self, plan: &Plan, inputs: &[Value], n: usize) -> Result<Golden, Error> {
        let tensors: Vec<usize> = self.nodes.iter().map(|l| l.output.index).collect();
        Golden::of_tensors(plan, &tensors, inputs, n)
    }

    /// A text table: one line per layer with its scalars.
    pub fn table(&self) -> String {
        let mut s = format!("model {} — profile {} ({})\n", self.model_name, self.profile, self.profile.describe());
        for l in &self.nodes {
            let ins: Vec<String> = l.inputs.iter().map(|t| format!("t{} {}", t.index, t.dtype)).collect();
            s += &format!("layer {} (op {} {}): {} → t{} {} {:?}\n", l.index, l.op, l.op_kind, ins.join(", "), l.output.index, l.output.dtype, l.output.shape);
            let shown: Vec<String> = l.scalars.iter().map(|sc| format!("{} = {}", sc.name.split_once('_').map_or(&sc.name[..], |x| x.1), sc.value)).collect();
            if !shown.is_empty() {
                s += &format!("  {}\n", shown.join(", "));
            }
        }
        s
    }
}

/// True when the MLP export ([`super::super::Export`]) covers the plan: its
/// ops are FULLY_CONNECTED, QUANTIZE, RESHAPE and SOFTMAX only, and its
/// input is an integer tensor (float32 inputs and DEQUANTIZE outputs go to
/// the graph export).
pub fn is_mlp(plan: &Plan) -> bool {
    plan.model.tensors[plan.input()].dtype != DType::F32
        && plan.steps.iter().all(|s| matches!(s.kernel, Kernel::FullyConnected(_) | Kernel::Quantize(_) | Kernel::Reshape(_) | Kernel::Softmax(_)))
}

impl GraphExport {
    /// Write the export (and the golden vectors, if any) to `dir` in `format`. Returns the files written.
    pub fn write(&self, format: super::super::Format, dir: &std::path::Path, golden: Option<&Golden>) -> Result<Vec<std::path::PathBuf>, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io { path: dir.display().to_string(), message: e.to_string() })?;
        match format {
            super::super::Format::C => super::graph_c::write(self, dir, golden),
            super::super::Format::Json => super::graph_files::write_json(self, dir, golden),
            super::super::Format::Verilog => super::graph_files::write_verilog(self, dir, golden),
        }
    }
}
