//! float32 kernels: the same ops as the integer kernels, on real numbers.
//!
//! There is no quantization here, so the only question is the one floating
//! point always asks: **in which order are the roundings done?** f32
//! addition is not associative, so `Σ x·w` summed in another order differs
//! in the last bits. quantlens follows LiteRT's *reference* kernels
//! (`tflite/kernels/internal/reference/*.h`, `OpResolverType.BUILTIN_REF`),
//! which TFLite Micro shares, exactly:
//!
//! * every sum starts from `0.0f` and adds its terms one by one in the
//!   reference loop order (CONV_2D: filter row, filter column, input
//!   channel; DEPTHWISE_CONV_2D and AVERAGE_POOL_2D: filter row, column;
//!   MEAN: the input in memory order), each `x·w` rounded to f32 before it
//!   is added (no fused multiply-add: Rust never contracts `a * b + c`);
//! * then `+ bias` (`+ 0.0` without a bias), then the fused activation as
//!   `min(max(v, lo), hi)` with TFLite's `CalculateActivationRange`
//!   (`lo = −FLT_MAX`, `hi = FLT_MAX` for NONE, so ±∞ clamps to ±FLT_MAX);
//! * the transcendental functions are the same libm calls (`expf`, `tanhf`)
//!   and the same formulas ([`logistic`], [`hard_swish`]).
//!
//! The optimized kernels and XNNPACK sum in SIMD and GEMM orders; they are
//! not emulated, and `tests/goldens_float.rs` reports how far (in ULPs) they
//! land from these kernels. The ops that only move values (RESHAPE, SHAPE,
//! PACK, STRIDED_SLICE, CONCATENATION, PAD) are the integer kernels' own
//! files, which copy float32 as well; FULLY_CONNECTED and SOFTMAX have their
//! float path in their own files.

pub mod binary;
pub mod conv;
pub mod depthwise_conv;
pub mod hard_swish;
pub mod leaky_relu;
pub mod logistic;
pub mod mean;
pub mod pool;
pub mod relu;
pub mod tanh;

use super::OpContext;
use crate::error::EngineError;
use crate::model::{DType, OpKind};
use crate::tensor::{Data, Value};

/// A prepared float32 operator.
#[derive(Clone, Debug)]
pub enum FloatKernel {
    Conv2d(conv::Params),
    DepthwiseConv2d(depthwise_conv::DepthwiseParams),
    /// MAX_POOL_2D and AVERAGE_POOL_2D.
    Pool(pool::Params),
    /// ADD, SUB and MUL.
    Binary(binary::Params),
    Mean(mean::Params),
    /// LOGISTIC, TANH, RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, HARD_SWISH.
    Unary(Unary),
}

/// True when this operator is a float32 op with a kernel here: its kind is
/// one of [`FloatKernel`]'s and its data input, output (and for the
/// convolutions, filter) are float32. Hybrid ops (float input, int8 weights)
/// are not: they are the dynamic-range kernels' business.
pub(crate) fn runs(ctx: &OpContext) -> bool {
    use OpKind::*;
    let f32_at = |t: Option<usize>| t.is_some_and(|t| ctx.dtype(t) == DType::F32);
    let io = f32_at(ctx.op.input(0)) && f32_at(ctx.op.outputs.first().copied());
    match ctx.op.kind {
        Conv2d | DepthwiseConv2d => io && f32_at(ctx.op.input(1)),
        MaxPool2d | AveragePool2d | Add | Sub | Mul | Mean | Logistic | Tanh | Relu | Relu6 | ReluN1To1 | LeakyRelu | HardSwish => io,
        _ => false,
    }
}

/// Prepare a float32 operator (one for which [`runs`] is true).
pub(crate) fn prepare(ctx: &OpContext) -> Result<FloatKernel, EngineError> {
    use OpKind::*;
    Ok(match ctx.op.kind {
        Conv2d => FloatKernel::Conv2d(conv::prepare(ctx)?),
        DepthwiseConv2d => FloatKernel::DepthwiseConv2d(depthwise_conv::prepare(ctx)?),
        MaxPool2d | AveragePool2d => FloatKernel::Pool(pool::prepare(ctx)?),
        Add | Sub | Mul => FloatKernel::Binary(binary::prepare(ctx)?),
        Mean => FloatKernel::Mean(mean::prepare(ctx)?),
        Logistic | Tanh | Relu | Relu6 | ReluN1To1 | LeakyRelu | HardSwish => FloatKernel::Unary(Unary::prepare(ctx)?),
        _ => return Err(ctx.unsupported("float32")),
    })
}

impl FloatKernel {
    /// Evaluate on the run-time inputs, in [`inputs`](Self::inputs) order.
    pub fn eval(&self, vals: &[&Value]) -> Result<Value, EngineError> {
        let (x, t) = (vals[0], self.data_input());
        let out = match self {
            FloatKernel::Conv2d(p) => p.eval(sized(x, t, p.geometry.in_len())?),
            FloatKernel::DepthwiseConv2d(p) => p.eval(sized(x, t, p.conv.geometry.in_len())?),
            FloatKernel::Pool(p) => p.eval(sized(x, t, p.geometry.in_len())?),
            FloatKernel::Binary(p) => {
                let y = vals.get(1).ok_or_else(|| EngineError::BadInput(format!("tensor {} has no value yet", p.inputs[1])))?;
                p.eval(sized(x, t, p.lens[0])?, sized(y, p.inputs[1], p.lens[1])?)
            }
            FloatKernel::Mean(p) => p.eval(sized(x, t, p.reduction.input_shape.iter().product())?),
            FloatKernel::Unary(p) => p.eval(floats(x, t)?),
        };
        Ok(Value { shape: self.output_shape().to_vec(), data: Data::F32(out) })
    }

    /// The tensors read at run time (constants are folded into the parameters).
    pub fn inputs(&self) -> Vec<usize> {
        match self {
            FloatKernel::Binary(p) => p.inputs.to_vec(),
            _ => vec![self.data_input()],
        }
    }

    /// The (first) data input.
    pub fn data_input(&self) -> usize {
        match self {
            FloatKernel::Conv2d(p) => p.input,
            FloatKernel::DepthwiseConv2d(p) => p.conv.input,
            FloatKernel::Pool(p) => p.input,
            FloatKernel::Binary(p) => p.inputs[0],
            FloatKernel::Mean(p) => p.input,
            FloatKernel::Unary(p) => p.input,
        }
    }

    /// The tensor written.
    pub fn output(&self) -> usize {
        match self {
            FloatKernel::Conv2d(p) => p.output,
            FloatKernel::DepthwiseConv2d(p) => p.conv.output,
            FloatKernel::Pool(p) => p.output,
            FloatKernel::Binary(p) => p.output,
            FloatKernel::Mean(p) => p.output,
            FloatKernel::Unary(p) => p.output,
        }
    }

    fn output_shape(&self) -> &[usize] {
        match self {
            FloatKernel::Conv2d(p) => &p.output_shape,
            FloatKernel::DepthwiseConv2d(p) => &p.conv.output_shape,
            FloatKernel::Pool(p) => &p.output_shape,
            FloatKernel::Binary(p) => &p.broadcast.output_shape,
            FloatKernel::Mean(p) => &p.reduction.output_shape,
            FloatKernel::Unary(p) => &p.output_shape,
        }
    }
}

/// The elements of float32 value `v` (tensor `t`), or an error naming the tensor.
pub(crate) fn floats(v: &Value, t: usize) -> Result<&[f32], EngineError> {
    v.as_f32().ok_or_else(|| EngineError::BadInput(format!("tensor {t} is {} where float32 was expected", v.dtype())))
}

/// [`floats`], and exactly `len` of them (the kernel indexes by its geometry).
fn sized(v: &Value, t: usize, len: usize) -> Result<&[f32], EngineError> {
    let f = floats(v, t)?;
    if f.len() != len {
        return Err(EngineError::BadInput(format!("tensor {t} has {} elements where {len} were expected", f.len())));
    }
    Ok(f)
}

/// The float32 contents of constant tensor `t` (weights, bias), or an error naming it.
///
/// `ctx.model` is the *prepared* model: [`Plan`](crate::Plan) has already
/// folded every operator on constants ([`super::fold`]: DEQUANTIZE float16 →
/// float32, DENSIFY) and written its result into the output tensor's data.
/// So a float16 model's weights, stored as FLOAT16 behind a DEQUANTIZE, arrive
/// here as an ordinary float32 constant: this one function serves weights from
/// the file and folded weights alike, for every float kernel (proven by
/// `tests/goldens_float16.rs` on CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED).
pub(crate) fn const_f32(ctx: &OpContext, t: usize, role: &str) -> Result<Vec<f32>, EngineError> {
    let tensor = &ctx.model.tensors[t];
    let v = Value::from_constant(tensor).ok_or_else(|| ctx.unsupported(format!("non-constant {role} (tensor {t})")))?;
    v.as_f32().map(<[f32]>::to_vec).ok_or_else(|| ctx.unsupported(format!("{role} tensor {t} ({}) of dtype {} in a float32 op", tensor.name, tensor.dtype)))
}

/// An optional float32 bias of `n` elements (zeros when absent, as the
/// reference kernels add `0.0f`).
pub(crate) fn bias_or_zeros(ctx: &OpContext, bias: Option<usize>, n: usize) -> Result<Vec<f32>, EngineError> {
    match bias {
        None => Ok(vec![0.0; n]),
        Some(t) => {
            let b = const_f32(ctx, t, "bias")?;
            if b.len() != n {
                return Err(ctx.bad(format!("bias tensor {t} has {} elements for {n} output channels", b.len())));
            }
            Ok(b)
        }
    }
}

/// TFLite's `CalculateActivationRange` for float ([`crate::quant::activation_range_f32`]).
pub use crate::quant::activation_range_f32 as activation_range;

/// TFLite's `ActivationFunctionWithMinMax`: `std::min(std::max(x, lo), hi)`,
/// i.e. `x < lo ? lo : x`, then `hi < y ? hi : y` (so −0.0 and NaN pass
/// through as they do there).
#[inline]
pub fn clamp(x: f32, (lo, hi): (f32, f32)) -> f32 {
    let y = if x < lo { lo } else { x };
    if hi < y {
        hi
    } else {
        y
    }
}

/// What a one-input elementwise float op computes per element.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryFn {
    Logistic,
    Tanh,
    /// RELU (`hi` = +∞), RELU6, RELU_N1_TO_1.
    Relu { lo: f32, hi: f32 },
    LeakyRelu { alpha: f32 },
    HardSwish,
}

impl UnaryFn {
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            UnaryFn::Logistic => logistic::logistic(x),
            UnaryFn::Tanh => tanh::tanh(x),
            UnaryFn::Relu { lo, hi } => relu::relu(x, lo, hi),
            UnaryFn::LeakyRelu { alpha } => leaky_relu::leaky_relu(x, alpha),
            UnaryFn::HardSwish => hard_swish::hard_swish(x),
        }
    }
}

/// A prepared one-input elementwise float op.
#[derive(Clone, Debug)]
pub struct Unary {
    pub input: usize,
    pub output: usize,
    pub output_shape: Vec<usize>,
    pub f: UnaryFn,
}

impl Unary {
    fn prepare(ctx: &OpContext) -> Result<Unary, EngineError> {
        let (input, output) = (ctx.input(0)?, ctx.output(0)?);
        super::same_element_count(ctx, input, output)?;
        let f = match ctx.op.kind {
            OpKind::Logistic => UnaryFn::Logistic,
            OpKind::Tanh => UnaryFn::Tanh,
            OpKind::Relu | OpKind::Relu6 | OpKind::ReluN1To1 => relu::prepare(ctx)?,
            OpKind::LeakyRelu => leaky_relu::prepare(ctx)?,
            OpKind::HardSwish => UnaryFn::HardSwish,
            _ => return Err(ctx.unsupported("float32")),
        };
        Ok(Unary { input, output, output_shape: ctx.shape(output), f })
    }

    fn eval(&self, x: &[f32]) -> Vec<f32> {
        x.iter().map(|&v| self.f.apply(v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Activation;
    use crate::ops::add::Broadcast;
    use crate::ops::conv::Geometry;

    #[test]
    fn fused_activation_clamps_like_activation_function_with_min_max() {
        // NONE clamps to ±FLT_MAX, not ±∞.
        assert_eq!(clamp(f32::INFINITY, activation_range(Activation::None)), f32::MAX);
        assert_eq!(clamp(f32::NEG_INFINITY, activation_range(Activation::None)), f32::MIN);
        // std::max(−0.0, 0.0) keeps −0.0; NaN passes through.
        assert_eq!(clamp(-0.0, activation_range(Activation::Relu)).to_bits(), (-0.0f32).to_bits());
        assert!(clamp(f32::NAN, activation_range(Activation::Relu6)).is_nan());
        assert_eq!(clamp(7.5, activation_range(Activation::Relu6)), 6.0);
        assert_eq!(clamp(-2.0, activation_range(Activation::ReluN1To1)), -1.0);
    }

    #[test]
    fn elementwise_formulas() {
        assert_eq!(logistic::logistic(0.0), 0.5);
        assert_eq!(logistic::logistic(17.0), 1.0);
        assert_eq!(logistic::logistic(-10.0), (-10.0f32).exp());
        assert_eq!(logistic::CUTOFF_UPPER, "16.619047164916992188".parse::<f32>().unwrap());
        assert_eq!(hard_swish::hard_swish(1.0), 4.0 / 6.0);
        assert_eq!(hard_swish::hard_swish(3.5), 3.5);
        assert_eq!(hard_swish::hard_swish(-4.0), 0.0);
        // The division by 6 is not a multiplication by 1/6: they round apart somewhere.
        let differs = (1..10_000).map(|i| i as f32 * 1e-3 - 3.0).any(|x| {
            let r = (x + 3.0).clamp(0.0, 6.0);
            x * r / 6.0 != x * (1.0 / 6.0) * r
        });
        assert!(differs);
        assert_eq!(relu::relu(-0.5, 0.0, f32::INFINITY), 0.0);
        assert_eq!(leaky_relu::leaky_relu(-2.0, 0.2), -2.0 * 0.2);
        assert_eq!(UnaryFn::Tanh.apply(0.5), 0.5f32.tanh());
    }

    #[test]
    fn broadcast_binary_ops_with_fused_activation() {
        // a: [2, 3], b: [3] broadcast along the rows.
        let broadcast = Broadcast { output_shape: vec![2, 3], a_strides: vec![3, 1], b_strides: vec![0, 1], same_shape: false };
        let a = [1.0, -2.0, 3.0, 4.0, 5.0, -6.0];
        let b = [2.0, 2.0, 0.5];
        let p = |op, act| binary::Params { op, inputs: [0, 1], lens: [6, 3], output: 2, broadcast: broadcast.clone(), act: activation_range(act) };
        assert_eq!(p(binary::BinaryOp::Mul, Activation::Relu6).eval(&a, &b), vec![2.0, 0.0, 1.5, 6.0, 6.0, 0.0]);
        assert_eq!(p(binary::BinaryOp::Sub, Activation::None).eval(&a, &b), vec![-1.0, -4.0, 2.5, 2.0, 3.0, -6.5]);
        assert_eq!(p(binary::BinaryOp::Add, Activation::ReluN1To1).eval(&a, &b), vec![1.0, 0.0, 1.0, 1.0, 1.0, -1.0]);
    }

    fn geometry(in_hw: usize, k: usize, stride: usize, out_hw: usize, pad: usize) -> Geometry {
        Geometry {
            batches: 1,
            in_h: in_hw,
            in_w: in_hw,
            in_c: 1,
            out_h: out_hw,
            out_w: out_hw,
            out_c: 1,
            k_h: k,
            k_w: k,
            stride_h: stride,
            stride_w: stride,
            dil_h: 1,
            dil_w: 1,
            pad_h: pad,
            pad_w: pad,
        }
    }

    #[test]
    fn pools_skip_the_padding() {
        // 3×3 input, 2×2 window, stride 2, SAME: the last row/column windows hang over.
        let g = geometry(3, 2, 2, 2, 0);
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, -9.0];
        let p = |pooling| pool::Params { pooling, input: 0, output: 1, geometry: g, act: activation_range(Activation::None), output_shape: vec![1, 2, 2, 1] };
        assert_eq!(p(crate::ops::pool::Pooling::Average).eval(&x), vec![3.0, 4.5, 7.5, -9.0]);
        assert_eq!(p(crate::ops::pool::Pooling::Max).eval(&x), vec![5.0, 6.0, 8.0, -9.0]);
    }

    #[test]
    fn conv_sums_taps_then_channels_then_adds_bias() {
        // 2×2 input with 2 channels, 2×2 filter, VALID: one output per filter.
        let mut g = geometry(2, 2, 1, 1, 0);
        g.in_c = 2;
        g.out_c = 1;
        let x = [1.0, 1e8, -1e8, 1.0, 0.5, 0.25, 3.0, -1.0];
        let w = [1.0; 8];
        let p = conv::Params { input: 0, output: 1, geometry: g, weights: w.to_vec(), bias: vec![0.5], act: activation_range(Activation::None), output_shape: vec![1, 1, 1, 1] };
        // Sequential: ((((((0 + 1) + 1e8) − 1e8) + 1) + 0.5) + 0.25 + 3 − 1) + 0.5; 1 is lost in 1e8.
        let mut total = 0.0f32;
        for v in x {
            total += v;
        }
        assert_eq!(p.eval(&x), vec![total + 0.5]);
        assert_ne!(total, x.iter().map(|&v| v as f64).sum::<f64>() as f32);
    }

    #[test]
    fn data_moving_ops_copy_float32_values() {
        use crate::ops::{concatenation, pack, pad, strided_slice};
        let f = |shape: &[usize], v: &[f32]| Value { shape: shape.to_vec(), data: Data::F32(v.to_vec()) };
        let (a, b) = (f(&[2, 1], &[1.5, -0.0]), f(&[2, 2], &[f32::NAN, 2.0, 3.0, 4.0]));
        // CONCATENATION along axis 1 of [2,1] and [2,2], the second a constant.
        let c = concatenation::Params {
            inputs: vec![0, 1],
            constants: vec![None, Some(b.clone())],
            output: 2,
            axis: 1,
            outer: 2,
            chunk: vec![1, 2],
            output_shape: vec![2, 3],
            output_dtype: DType::F32,
            rescale: vec![None, None],
        };
        let bits = |v: Value| v.as_f32().unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let expect = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(c.eval(&[&a]).unwrap()), expect(&[1.5, f32::NAN, 2.0, -0.0, 3.0, 4.0]));
        // PACK two [2,1] along a new axis 0.
        let p = pack::Params { inputs: vec![0, 1], constants: vec![None, None], output: 2, outer: 1, inner: 2, output_shape: vec![2, 2, 1], output_dtype: DType::F32 };
        assert_eq!(bits(p.eval(&[&a, &a]).unwrap()), expect(&[1.5, -0.0, 1.5, -0.0]));
        // STRIDED_SLICE: rows 1.., columns 0 and 1 reversed.
        let s = strided_slice::Params { input: 0, output: 1, indices: vec![vec![1], vec![1, 0]], input_shape: vec![2, 2], output_shape: vec![1, 2], output_dtype: DType::F32 };
        assert_eq!(bits(s.eval(&b).unwrap()), expect(&[4.0, 3.0]));
        // PAD [2,1] by one column on the right: fills with +0.0.
        let p = pad::Params { input: 0, output: 1, paddings: vec![(0, 0), (0, 1)], input_shape: vec![2, 1], output_shape: vec![2, 2], pad_value: 0, output_dtype: DType::F32 };
        assert_eq!(bits(p.eval(&a).unwrap()), expect(&[1.5, 0.0, -0.0, 0.0]));
    }

    #[test]
    fn a_short_input_is_an_error_naming_the_tensor() {
        let g = geometry(3, 2, 2, 2, 0);
        let k = FloatKernel::Pool(pool::Params { pooling: crate::ops::pool::Pooling::Max, input: 4, output: 5, geometry: g, act: activation_range(Activation::None), output_shape: vec![1, 2, 2, 1] });
        let short = Value { shape: vec![1, 2, 2, 1], data: Data::F32(vec![0.0; 4]) };
        let err = k.eval(&[&short]).unwrap_err().to_string();
        assert!(err.contains("tensor 4") && err.contains("9"), "{err}");
        let ints = Value { shape: vec![1, 3, 3, 1], data: Data::I8(vec![0; 9]) };
        assert!(k.eval(&[&ints]).unwrap_err().to_string().contains("float32"));
    }
}
