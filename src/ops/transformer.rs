//! The transformer ops of issue 14 (the tiny ViT and its op-coverage model),
//! prepared into one [`Op`] each and dispatched from the plan's
//! `Kernel::Transformer`. Each op's arithmetic lives in its own file; this
//! module only routes: which prepare, which eval, which tensors, and what
//! `inspect` prints about it.
//!
//! SPLIT and SPLIT_V have several outputs; they are prepared as one [`Op`]
//! per output (each a box of the input), so every step of a plan still writes
//! exactly one tensor.

use super::{abs, arg_min_max, batch_matmul, cast, comparisons, div, exp, gather, gelu, l2_normalization, log, log_softmax, lut, maximum_minimum, neg, reduce, rsqrt, select, slice, sqrt, squared_difference, transpose, OpContext};
use super::{expand_dims, squeeze};
use crate::error::EngineError;
use crate::model::OpKind;
use crate::profile::Profile;
use crate::tensor::Value;

/// A prepared transformer op.
#[derive(Clone, Debug)]
pub enum Op {
    BatchMatmul(batch_matmul::Params),
    Transpose(transpose::Params),
    Gelu(gelu::Params),
    Rsqrt(rsqrt::Params),
    Sqrt(sqrt::Params),
    Abs(abs::Params),
    Neg(neg::Params),
    SquaredDifference(squared_difference::Params),
    /// EXP and LOG: a table on int8, the C function on float32.
    Table(lut::TableOp),
    /// SLICE, and each output of SPLIT / SPLIT_V.
    Slice(slice::Params),
    Gather(gather::Params),
    Cast(cast::Params),
    /// LESS … NOT_EQUAL, LOGICAL_AND, LOGICAL_OR.
    Compare(comparisons::Params),
    /// SELECT, SELECT_V2.
    Select(select::Params),
    MaximumMinimum(maximum_minimum::Params),
    /// SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD.
    Reduce(reduce::Params),
    ArgMinMax(arg_min_max::Params),
    Div(div::Params),
    L2Normalization(l2_normalization::Params),
    LogSoftmax(log_softmax::Params),
    // arch (issue 14)
    ExpandDims(expand_dims::Params),
    Squeeze(squeeze::Params),
}

/// Prepare `ctx.op` if it is one of the transformer ops; `None` otherwise.
pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Option<Vec<Op>>, EngineError> {
    let one = |op: Op| Ok(Some(vec![op]));
    match ctx.op.kind {
        OpKind::BatchMatmul => one(Op::BatchMatmul(batch_matmul::prepare(ctx)?)),
        OpKind::Transpose => one(Op::Transpose(transpose::prepare(ctx)?)),
        OpKind::Gelu => one(Op::Gelu(gelu::prepare(ctx)?)),
        OpKind::Rsqrt => one(Op::Rsqrt(rsqrt::prepare(ctx)?)),
        OpKind::Sqrt => one(Op::Sqrt(sqrt::prepare(ctx)?)),
        OpKind::Abs => one(Op::Abs(abs::prepare(ctx)?)),
        OpKind::Neg => one(Op::Neg(neg::prepare(ctx, profile)?)),
        OpKind::SquaredDifference => one(Op::SquaredDifference(squared_difference::prepare(ctx)?)),
        OpKind::Exp => one(Op::Table(exp::prepare(ctx)?)),
        OpKind::Log => one(Op::Table(log::prepare(ctx)?)),
        OpKind::Slice | OpKind::Split | OpKind::SplitV => Ok(Some(slice::prepare(ctx)?.into_iter().map(Op::Slice).collect())),
        OpKind::Gather => one(Op::Gather(gather::prepare(ctx)?)),
        OpKind::Cast => one(Op::Cast(cast::prepare(ctx)?)),
        OpKind::Less
        | OpKind::LessEqual
        | OpKind::Greater
        | OpKind::GreaterEqual
        | OpKind::Equal
        | OpKind::NotEqual
        | OpKind::LogicalAnd
        | OpKind::LogicalOr => one(Op::Compare(comparisons::prepare(ctx)?)),
        OpKind::Select | OpKind::SelectV2 => one(Op::Select(select::prepare(ctx)?)),
        OpKind::Maximum | OpKind::Minimum => one(Op::MaximumMinimum(maximum_minimum::prepare(ctx)?)),
        OpKind::Sum | OpKind::ReduceMax | OpKind::ReduceMin | OpKind::ReduceProd => one(Op::Reduce(reduce::prepare(ctx, profile)?)),
        OpKind::ArgMax | OpKind::ArgMin => one(Op::ArgMinMax(arg_min_max::prepare(ctx)?)),
        OpKind::Div => one(Op::Div(div::prepare(ctx)?)),
        OpKind::L2Normalization => one(Op::L2Normalization(l2_normalization::prepare(ctx)?)),
        OpKind::LogSoftmax => one(Op::LogSoftmax(log_softmax::prepare(ctx, profile)?)),
        OpKind::ExpandDims => one(Op::ExpandDims(expand_dims::prepare(ctx)?)),
        OpKind::Squeeze => one(Op::Squeeze(squeeze::prepare(ctx)?)),
        _ => Ok(None),
    }
}

impl Op {
    /// Evaluate on the values of [`Op::inputs`], in that order.
    pub fn eval(&self, vals: &[&Value]) -> Result<Value, EngineError> {
        let x = vals[0];
        match self {
            Op::BatchMatmul(p) => p.eval(vals),
            Op::Transpose(p) => p.eval(x),
            Op::Gelu(p) => p.eval(x),
            Op::Rsqrt(p) => p.eval(x),
            Op::Sqrt(p) => p.eval(x),
            Op::Abs(p) => p.eval(x),
            Op::Neg(p) => p.eval(x),
            Op::SquaredDifference(p) => p.eval(x, vals[1]),
            Op::Table(p) => p.eval(x),
            Op::Slice(p) => p.eval(x),
            Op::Gather(p) => p.eval(x),
            Op::Cast(p) => p.eval(x),
            Op::Compare(p) => p.eval(x, vals[1]),
            Op::Select(p) => p.eval(x, vals[1], vals[2]),
            Op::MaximumMinimum(p) => p.eval(x, vals[1]),
            Op::Reduce(p) => p.eval(x),
            Op::ArgMinMax(p) => p.eval(x),
            Op::Div(p) => p.eval(x, vals[1]),
            Op::L2Normalization(p) => p.eval(x),
            Op::LogSoftmax(p) => p.eval(x),
            Op::ExpandDims(p) => p.eval(x),
            Op::Squeeze(p) => p.eval(x),
        }
    }

    /// The tensors read at run time.
    pub fn inputs(&self) -> Vec<usize> {
        match self {
            Op::BatchMatmul(p) => p.runtime_inputs(),
            Op::Transpose(p) => vec![p.input],
            Op::Gelu(p) => vec![p.input],
            Op::Rsqrt(p) => vec![p.input],
            Op::Sqrt(p) => vec![p.input],
            Op::Abs(p) => vec![p.input],
            Op::Neg(p) => vec![p.input],
            Op::SquaredDifference(p) => vec![p.a, p.b],
            Op::Table(p) => vec![p.input],
            Op::Slice(p) => vec![p.input],
            Op::Gather(p) => vec![p.input],
            Op::Cast(p) => vec![p.input],
            Op::Compare(p) => vec![p.a, p.b],
            Op::Select(p) => vec![p.cond, p.x, p.y],
            Op::MaximumMinimum(p) => vec![p.a, p.b],
            Op::Reduce(p) => vec![p.input],
            Op::ArgMinMax(p) => vec![p.input],
            Op::Div(p) => vec![p.a, p.b],
            Op::L2Normalization(p) => vec![p.input],
            Op::LogSoftmax(p) => vec![p.input],
            Op::ExpandDims(p) => vec![p.input],
            Op::Squeeze(p) => vec![p.input],
        }
    }

    /// The tensor written.
    pub fn output(&self) -> usize {
        match self {
            Op::BatchMatmul(p) => p.output,
            Op::Transpose(p) => p.output,
            Op::Gelu(p) => p.output,
            Op::Rsqrt(p) => p.output,
            Op::Sqrt(p) => p.output,
            Op::Abs(p) => p.output,
            Op::Neg(p) => p.output,
            Op::SquaredDifference(p) => p.output,
            Op::Table(p) => p.output,
            Op::Slice(p) => p.output,
            Op::Gather(p) => p.output,
            Op::Cast(p) => p.output,
            Op::Compare(p) => p.output,
            Op::Select(p) => p.output,
            Op::MaximumMinimum(p) => p.output,
            Op::Reduce(p) => p.output,
            Op::ArgMinMax(p) => p.output,
            Op::Div(p) => p.output,
            Op::L2Normalization(p) => p.output,
            Op::LogSoftmax(p) => p.output,
            Op::ExpandDims(p) => p.output,
            Op::Squeeze(p) => p.output,
        }
    }

    /// The profile choice and the prepared parameters, for `inspect`.
    pub fn describe(&self) -> String {
        match self {
            Op::BatchMatmul(p) => p.describe(),
            Op::Transpose(p) => format!("none: moves elements; perm {:?}", p.perm),
            Op::Gelu(p) => p.describe(),
            Op::Rsqrt(p) => p.describe(),
            Op::Sqrt(p) => p.describe(),
            Op::Abs(p) => p.describe(),
            Op::Neg(p) => format!("neg_method = {:?} ({})", p.method, p.dtype),
            Op::SquaredDifference(p) => p.describe(),
            Op::Table(p) => p.describe(),
            Op::Slice(p) => format!("none: box begin {:?} size {:?}", p.begin, p.size),
            Op::Gather(p) => format!("none: axis {} indices {:?}", p.axis, p.indices),
            Op::Cast(p) => format!("none: static_cast to {}", p.to),
            Op::Compare(p) => p.describe(),
            Op::Select(_) => "none: cond ? x : y".into(),
            Op::MaximumMinimum(p) => format!("none: {} ({})", if p.maximum { "max" } else { "min" }, p.dtype),
            Op::Reduce(p) => p.describe(),
            Op::ArgMinMax(p) => format!("none: first {} along an axis of {}", if p.max { "maximum" } else { "minimum" }, p.len),
            Op::Div(p) => match &p.quant {
                Some(q) => format!("none: reciprocal of (b − {}) in fixed point, × M = {}·2^({} − 31), + {}", q.z_b, q.m0, q.shift, q.z_out),
                None => "none: float32 a / b".into(),
            },
            Op::L2Normalization(_) => "none: float32, f32 sum of squares in order, sqrtf, max 1e−6".into(),
            Op::LogSoftmax(p) => p.describe(),
            Op::ExpandDims(p) => format!("none: moves no element; a 1 inserted at axis {}", p.axis),
            Op::Squeeze(p) => format!("none: moves no element; shape {:?}", p.output_shape),
        }
    }
}

/// Prepare operator `op` of `model` alone (if it is a transformer op) and
/// evaluate it on `values` (indexed by tensor index; constants come from
/// the file). Returns the tensors it writes with their values, or `None`
/// when `op` is not a transformer op. This is how one op is checked against
/// a runtime's goldens in isolation: feed it the runtime's own inputs.
pub fn eval_op(
    model: &crate::model::Model,
    op: usize,
    profile: Profile,
    values: &[Option<Value>],
) -> Result<Option<Vec<(usize, Value)>>, EngineError> {
    let operator = model.operators.get(op).ok_or_else(|| EngineError::BadInput(format!("no operator {op}")))?;
    let ctx = OpContext { model, op: operator };
    let Some(prepared) = prepare(&ctx, profile)? else { return Ok(None) };
    let mut out = Vec::with_capacity(prepared.len());
    for k in prepared {
        let constants: Vec<Option<Value>> = k.inputs().into_iter().map(|t| Value::from_constant(&model.tensors[t])).collect();
        let vals: Vec<&Value> = k
            .inputs()
            .into_iter()
            .zip(&constants)
            .map(|(t, c)| {
                values.get(t).and_then(Option::as_ref).or(c.as_ref()).ok_or_else(|| EngineError::BadInput(format!("tensor {t} has no value")))
            })
            .collect::<Result<_, _>>()?;
        out.push((k.output(), k.eval(&vals)?));
    }
    Ok(Some(out))
}
