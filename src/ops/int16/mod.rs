//! 16x8 kernels: int16 activations with zero point 0, int8 weights, int64 bias.
//!
//! The converter's `EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`
//! mode gives every activation 16 bits and keeps the weights at 8. The
//! equations are those of [`crate::quant`] with `Z = 0` everywhere; what
//! changes is the arithmetic that keeps 16-bit values in range:
//!
//! * matmul-like ops sum in **int64** and scale with the int64
//!   `MultiplyByQuantizedMultiplier` whose multiplier is reduced to 16 bits
//!   ([`crate::quant::int16`]) — except LiteRT's FULLY_CONNECTED, which scales
//!   in double ([`crate::profile::Scaling16`]);
//! * ADD and SUB shift their inputs left by 15 instead of 20;
//! * SOFTMAX, LOGISTIC and TANH use interpolated tables instead of gemmlowp.
//!
//! [`prepare`] takes the operators whose activations are int16 and returns
//! their kernels. The ops that only move values (MAX_POOL_2D, PAD,
//! CONCATENATION, RESHAPE), AVERAGE_POOL_2D (whose integer mean is the same
//! for 8 and 16 bits), DEQUANTIZE and QUANTIZE from float run their usual
//! kernels, which accept int16; QUANTIZE between integer types runs its
//! usual kernel with the rounding every runtime uses for int16.

pub mod add;
pub mod conv;
pub mod fully_connected;
pub mod layer;
pub mod logistic;
pub mod mean;
pub mod mul;
pub mod relu;
pub mod softmax;

use super::OpContext;
use crate::error::EngineError;
use crate::model::{DType, OpKind};
use crate::plan::Kernel;
use crate::profile::{Profile, Rounding};
use crate::tensor::Value;

/// A prepared 16x8 operator.
#[derive(Clone, Debug)]
pub enum Kernel16 {
    FullyConnected(fully_connected::Params),
    /// CONV_2D and DEPTHWISE_CONV_2D.
    Conv(conv::Params),
    /// ADD and SUB.
    AddSub(add::Params),
    Mul(mul::Params),
    Softmax(softmax::Params),
    /// LOGISTIC and TANH.
    Sigmoid(logistic::Params),
    Mean(mean::Params),
    /// RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU.
    Relu(relu::Params),
}

/// True when operator input 0 or output 0 is an int16 activation.
fn is_16x8(ctx: &OpContext) -> bool {
    let int16 = |t: Option<usize>| t.is_some_and(|t| ctx.dtype(t) == DType::I16);
    int16(ctx.op.input(0)) || int16(ctx.op.outputs.first().copied())
}

/// The kernel of a 16x8 operator, or `None` when the operator is not one
/// (or is one the dtype-generic kernels run: QUANTIZE, DEQUANTIZE, RESHAPE).
pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Option<Kernel>, EngineError> {
    if !is_16x8(ctx) {
        return Ok(None);
    }
    let k16 = |k: Kernel16| Ok(Some(Kernel::Int16(k)));
    match &ctx.op.kind {
        OpKind::FullyConnected => k16(Kernel16::FullyConnected(fully_connected::prepare(ctx, profile)?)),
        OpKind::Conv2d | OpKind::DepthwiseConv2d => k16(Kernel16::Conv(conv::prepare(ctx, profile)?)),
        OpKind::Add | OpKind::Sub => k16(Kernel16::AddSub(add::prepare(ctx, profile)?)),
        OpKind::Mul => k16(Kernel16::Mul(mul::prepare(ctx, profile)?)),
        OpKind::Softmax => k16(Kernel16::Softmax(softmax::prepare(ctx, profile)?)),
        OpKind::Logistic | OpKind::Tanh => k16(Kernel16::Sigmoid(logistic::prepare(ctx, profile)?)),
        OpKind::Mean => k16(Kernel16::Mean(mean::prepare(ctx, profile)?)),
        OpKind::Relu | OpKind::Relu6 | OpKind::ReluN1To1 | OpKind::LeakyRelu => {
            k16(Kernel16::Relu(relu::prepare(ctx, profile)?))
        }
        OpKind::Quantize if ctx.dtype(ctx.input(0)?) != DType::F32 => Ok(Some(Kernel::Quantize(requantize(ctx, profile)?))),
        _ => Ok(None),
    }
}

/// QUANTIZE between integer types with an int16 side: every runtime runs
/// `reference_ops::Requantize` (LiteRT's optimized `Requantize` has no int16
/// specialisation and XNNPACK takes no int16 op), the gemmlowp double
/// rounding of `M = S_in/S_out` — whatever the profile's int8 choice.
fn requantize(ctx: &OpContext, profile: Profile) -> Result<super::quantize::Params, EngineError> {
    let mut p = super::quantize::prepare(ctx, profile)?;
    if let super::quantize::Arith::Requantize { multiplier, rounding, table, .. } = &mut p.arith {
        *rounding = Rounding::FixedPointDoubleRounding;
        let (q_min, q_max) = super::int_range(p.output_dtype);
        **table = super::requant::RequantTable::new(*rounding, &[*multiplier; 8], p.z_out, q_min, q_max);
    }
    Ok(p)
}

/// Tensor `t` must be int16 with one scale and zero point 0; returns the scale.
pub(crate) fn require_int16(ctx: &OpContext, t: usize, role: &str) -> Result<f32, EngineError> {
    if ctx.dtype(t) != DType::I16 {
        return Err(ctx.unsupported(format!("{role} tensor {t} of dtype {} in a 16x8 operator (int16 expected)", ctx.dtype(t))));
    }
    let (s, z) = ctx.per_tensor_quant(t, role)?;
    if z != 0 {
        return Err(ctx.unsupported(format!("{role} tensor {t}: int16 zero point {z} (16x8 requires 0)")));
    }
    Ok(s)
}

/// The int16 elements of value `v` (input tensor `t`), or an error naming it.
pub(crate) fn i16s(v: &Value, t: usize) -> Result<&[i16], EngineError> {
    v.as_i16().ok_or_else(|| EngineError::BadInput(format!("tensor {t} is {} where int16 was expected", v.dtype())))
}

/// An int16 value of `shape` from elements already in range.
pub(crate) fn value16(shape: &[usize], q: Vec<i16>) -> Value {
    Value { shape: shape.to_vec(), data: crate::tensor::Data::I16(q) }
}

impl Kernel16 {
    /// Evaluate on the run-time inputs listed by [`inputs`](Self::inputs).
    pub fn eval(&self, vals: &[&Value]) -> Result<Value, EngineError> {
        match self {
            Kernel16::FullyConnected(p) => p.eval(vals[0]),
            Kernel16::Conv(p) => p.eval(vals[0]),
            Kernel16::AddSub(p) => p.eval(vals[0], vals[1]),
            Kernel16::Mul(p) => p.eval(vals[0], vals[1]),
            Kernel16::Softmax(p) => p.eval(vals[0]),
            Kernel16::Sigmoid(p) => p.eval(vals[0]),
            Kernel16::Mean(p) => p.eval(vals[0]),
            Kernel16::Relu(p) => p.eval(vals[0]),
        }
    }

    /// The tensors read at run time.
    pub fn inputs(&self) -> Vec<usize> {
        match self {
            Kernel16::AddSub(p) => p.inputs.to_vec(),
            Kernel16::Mul(p) => p.inputs.to_vec(),
            _ => vec![self.data_input()],
        }
    }

    /// The first tensor read at run time.
    pub fn data_input(&self) -> usize {
        match self {
            Kernel16::FullyConnected(p) => p.input,
            Kernel16::Conv(p) => p.input,
            Kernel16::AddSub(p) => p.inputs[0],
            Kernel16::Mul(p) => p.inputs[0],
            Kernel16::Softmax(p) => p.input,
            Kernel16::Sigmoid(p) => p.input,
            Kernel16::Mean(p) => p.input,
            Kernel16::Relu(p) => p.input,
        }
    }

    /// The tensor written.
    pub fn output(&self) -> usize {
        match self {
            Kernel16::FullyConnected(p) => p.output,
            Kernel16::Conv(p) => p.output,
            Kernel16::AddSub(p) => p.output,
            Kernel16::Mul(p) => p.output,
            Kernel16::Softmax(p) => p.output,
            Kernel16::Sigmoid(p) => p.output,
            Kernel16::Mean(p) => p.output,
            Kernel16::Relu(p) => p.output,
        }
    }

    /// The profile choice this kernel depends on (for `quantlens inspect`).
    pub fn profile_choice(&self) -> String {
        match self {
            Kernel16::FullyConnected(p) => format!("fc16_scaling = {:?}", p.scaling),
            Kernel16::Softmax(p) => format!("softmax16_lut_float = {:?}", p.lut_float),
            Kernel16::Mul(p) => format!("mul16_multiplier = {:?}", p.multiplier_precision),
            Kernel16::Sigmoid(p) => match p.fixed_point {
                Some(_) => format!("activation16_pot = {:?}: the input scale is a power of two, gemmlowp int16 fixed point", p.pot),
                None => format!("activation16_pot = {:?} (for power-of-two input scales only): sigmoid table", p.pot),
            },
            Kernel16::Relu(p) => p.choice(),
            Kernel16::AddSub(p) => p.choice(),
            Kernel16::Conv(_) | Kernel16::Mean(_) => {
                "none: every runtime computes the 16x8 op the same way".into()
            }
        }
    }
}
