//! CONV_2D: a 2-D convolution over NHWC tensors, `y = act(W ⊛ x + b)`.
//!
//! Quantized, with input (S1, Z1), weights (S2[c], Z2), int32 bias with
//! scale S1·S2[c], output (S3, Z3), for output position (b, y, x) and channel c:
//!
//! ```text
//!     acc    = Σ_{ky,kx,ic} (x[b, y·sh − ph + ky·dh, x·sw − pw + kx·dw, ic] − Z1) · (W[c, ky, kx, ic] − Z2)  + bias[c]
//!     y[c]   = clamp( Z3 + round(M[c] · acc), act_min, act_max ),     M[c] = S1·S2[c] / S3
//! ```
//!
//! Two dtypes: **int8** activations with int8 weights, symmetric (Z2 = 0),
//! per output channel or per tensor; and **uint8** (legacy all-uint8 models)
//! with uint8 weights, one asymmetric (S2, Z2) for the whole tensor. For uint8
//! every runtime takes M from TFLite's legacy `GetQuantizedConvolutionMultipler`,
//! whose product S1·S2 is rounded to f32 before the division in double:
//! `M = double(float(S1·S2)) / S3` (int8: `double(S1)·double(S2) / S3`).
//!
//! Positions outside the input (the padding) contribute nothing: every
//! runtime treats them as the value `Z1`, i.e. real 0. The padding before
//! the first row/column is TFLite's `ComputePaddingHeightWidth`:
//! `max(((out − 1)·stride + (k − 1)·dilation + 1 − in) / 2, 0)`.
//! `round(M·acc)` is the profile's [`Profile::conv_rounding`].

use super::layer_quant::LayerQuant;
use super::{fused_range, ints, narrow, widen, OpContext};
use crate::error::EngineError;
use crate::model::{Activation, DType, Options, Padding};
use crate::profile::{Multiplier, Profile, Rounding};
use crate::tensor::Value;

/// The spatial geometry shared by convolutions and pools (NHWC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub batches: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub out_c: usize,
    pub k_h: usize,
    pub k_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dil_h: usize,
    pub dil_w: usize,
    /// Rows/columns of padding before the first input row/column.
    pub pad_h: usize,
    pub pad_w: usize,
}

/// An NHWC element position: (batch, row, column, channel).
pub(crate) type Position = (usize, usize, usize, usize);

/// The taps `t0..t1` of a `k`-tap window (dilation `d`) at padded position
/// `start` whose input position `start + t·d − pad` lands inside the input
/// `[0, n)`. Positions grow with `t`, so the taps inside are one contiguous run
/// (empty, `t0 == t1`, when the window misses the input).
#[inline(always)]
pub(crate) fn taps_inside(start: usize, k: usize, d: usize, pad: usize, n: usize) -> (usize, usize) {
    let ok = |t: usize| (pad..pad + n).contains(&(start + t * d));
    let t0 = (0..k).find(|&t| ok(t)).unwrap_or(k);
    let t1 = (t0..k).find(|&t| !ok(t)).unwrap_or(k);
    (t0, t1)
}

/// TFLite's `ComputePaddingHeightWidth` for one dimension.
pub fn padding_before(in_size: usize, out_size: usize, k: usize, stride: usize, dilation: usize) -> usize {
    let effective = (k as i64 - 1) * dilation as i64 + 1;
    let total = (out_size as i64 - 1) * stride as i64 + effective - in_size as i64;
    (total.max(0) / 2) as usize
}

/// TFLite's output size for a padding mode.
pub fn output_size(padding: Padding, in_size: usize, k: usize, stride: usize, dilation: usize) -> usize {
    let effective = (k - 1) * dilation + 1;
    match padding {
        Padding::Same => in_size.div_ceil(stride),
        Padding::Valid => (in_size + stride).saturating_sub(effective) / stride,
    }
}

impl Geometry {
    /// How many samples an input of `len` elements holds (the outputs-only
    /// paths push several through at once); an error naming `tensor` when
    /// `len` is not a whole number of samples.
    pub(crate) fn samples_in(&self, len: usize, tensor: usize) -> Result<usize, EngineError> {
        let per = self.in_h * self.in_w * self.in_c;
        let samples = len / per.max(1);
        if per == 0 || samples * per != len {
            return Err(EngineError::BadInput(format!("tensor {tensor} has {len} elements, not a multiple of {per}")));
        }
        Ok(samples)
    }

    /// Build and check the geometry from NHWC input/output shapes and the kernel size.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ctx: &OpContext,
        input: usize,
        output: usize,
        k_h: usize,
        k_w: usize,
        strides: (i32, i32),
        dilations: (i32, i32),
        padding: Padding,
    ) -> Result<Geometry, EngineError> {
        let (is, os) = (ctx.shape(input), ctx.shape(output));
        if is.len() != 4 || os.len() != 4 {
            return Err(ctx.unsupported(format!("input shape {is:?} / output shape {os:?} (NHWC, 4-D, expected)")));
        }
        let pos = |v: i32, what: &str| -> Result<usize, EngineError> {
            if v >= 1 {
                Ok(v as usize)
            } else {
                Err(ctx.bad(format!("{what} {v} must be ≥ 1")))
            }
        };
        let (stride_h, stride_w) = (pos(strides.0, "stride_h")?, pos(strides.1, "stride_w")?);
        let (dil_h, dil_w) = (pos(dilations.0, "dilation_h")?, pos(dilations.1, "dilation_w")?);
        let g = Geometry {
            batches: is[0],
            in_h: is[1],
            in_w: is[2],
            in_c: is[3],
            out_h: os[1],
            out_w: os[2],
            out_c: os[3],
            k_h,
            k_w,
            stride_h,
            stride_w,
            dil_h,
            dil_w,
            pad_h: padding_before(is[1], os[1], k_h, stride_h, dil_h),
            pad_w: padding_before(is[2], os[2], k_w, stride_w, dil_w),
        };
        let (eh, ew) = (
            output_size(padding, g.in_h, k_h, stride_h, dil_h),
            output_size(padding, g.in_w, k_w, stride_w, dil_w),
        );
        if os[0] != is[0] || eh != g.out_h || ew != g.out_w {
            return Err(ctx.bad(format!(
                "output shape {os:?} does not follow from input {is:?}, kernel {k_h}×{k_w}, strides {stride_h}/{stride_w}, dilation {dil_h}/{dil_w}, padding {padding:?} (expected {eh}×{ew})"
            )));
        }
        Ok(g)
    }

    /// The input row and column read by kernel tap (ky, kx) for output (oy, ox),
    /// or `None` when it falls into the padding.
    #[inline]
    pub fn tap(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let iy = (oy * self.stride_h + ky * self.dil_h) as i64 - self.pad_h as i64;
        let ix = (ox * self.stride_w + kx * self.dil_w) as i64 - self.pad_w as i64;
        (iy >= 0 && ix >= 0 && (iy as usize) < self.in_h && (ix as usize) < self.in_w).then_some((iy as usize, ix as usize))
    }

    /// The kernel taps `(ky, kx)` of output (oy, ox) in row-major order, each
    /// with the input row/column it reads ([`tap`](Self::tap): `None` in the padding).
    #[inline]
    pub fn window(&self, oy: usize, ox: usize) -> impl Iterator<Item = (usize, usize, Option<(usize, usize)>)> + '_ {
        (0..self.k_h).flat_map(move |ky| (0..self.k_w).map(move |kx| (ky, kx, self.tap(oy, ox, ky, kx))))
    }

    /// The taps of [`window`](Self::window) that fall inside the input: `(ky, kx, iy, ix)`.
    #[inline]
    pub fn inside(&self, oy: usize, ox: usize) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        self.window(oy, ox).filter_map(|(ky, kx, at)| at.map(|(iy, ix)| (ky, kx, iy, ix)))
    }

    /// One value per output element `(b, oy, ox, c)`, in NHWC order.
    pub fn map_outputs(
        &self,
        mut f: impl FnMut(usize, usize, usize, usize) -> Result<i32, EngineError>,
    ) -> Result<Vec<i32>, EngineError> {
        let mut out = Vec::with_capacity(self.out_len());
        for b in 0..self.batches {
            for oy in 0..self.out_h {
                for ox in 0..self.out_w {
                    for c in 0..self.out_c {
                        out.push(f(b, oy, ox, c)?);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Flat NHWC index of an input element.
    #[inline]
    pub fn in_index(&self, b: usize, y: usize, x: usize, c: usize) -> usize {
        ((b * self.in_h + y) * self.in_w + x) * self.in_c + c
    }

    /// Flat NHWC index of an output element.
    #[inline]
    pub fn out_index(&self, b: usize, y: usize, x: usize, c: usize) -> usize {
        ((b * self.out_h + y) * self.out_w + x) * self.out_c + c
    }

    /// (b, y, x, c) of a flat output index.
    pub fn out_position(&self, flat: usize) -> (usize, usize, usize, usize) {
        let c = flat % self.out_c;
        let x = (flat / self.out_c) % self.out_w;
        let y = (flat / (self.out_c * self.out_w)) % self.out_h;
        let b = flat / (self.out_c * self.out_w * self.out_h);
        (b, y, x, c)
    }

    /// Number of input elements.
    pub fn in_len(&self) -> usize {
        self.batches * self.in_h * self.in_w * self.in_c
    }

    /// Number of output elements.
    pub fn out_len(&self) -> usize {
        self.batches * self.out_h * self.out_w * self.out_c
    }
}

/// The per-output-channel requantization of a quantized convolution.
#[derive(Clone, Debug)]
pub struct Requant {
    /// S1, Z1: the input tensor's scale and zero point.
    pub s1: f32,
    pub z1: i32,
    /// S2[c]: one per output channel (repeated when per-tensor).
    pub s2: Vec<f32>,
    /// Z2: the filter's zero point (0 for int8; uint8 filters are asymmetric).
    pub z2: i32,
    /// S3, Z3: the output tensor's scale and zero point.
    pub s3: f32,
    pub z3: i32,
    pub per_channel: bool,
    /// int32 bias (zeros when absent).
    pub bias: Vec<i32>,
    /// M[c] = S1·S2[c]/S3.
    pub multipliers: Vec<Multiplier>,
    pub rounding: Rounding,
    pub act_min: i32,
    pub act_max: i32,
    pub output_dtype: DType,
}

impl Requant {
    /// `clamp(Z3 + round(M[c]·acc))` for `acc` that already includes the bias.
    #[inline]
    pub fn apply(&self, acc_with_bias: i32, c: usize) -> i32 {
        let scaled = self.rounding.apply(acc_with_bias, &self.multipliers[c]);
        (scaled as i64 + self.z3 as i64).clamp(self.act_min as i64, self.act_max as i64) as i32
    }

    /// [`apply`](Self::apply) in place to rows of `out_c` accumulators (bias
    /// included), channel `c` at position `c` of each row. The rounding is
    /// chosen once, outside the loop: each arm calls [`Rounding::apply`] on a
    /// constant variant, which the compiler inlines alone (the same arithmetic
    /// as `apply`, without a branch per element).
    pub fn apply_rows(&self, acc: &mut [i32], out_c: usize) {
        use crate::profile::Rounding as R;
        let (z3, lo, hi) = (self.z3 as i64, self.act_min as i64, self.act_max as i64);
        let ms = &self.multipliers[..out_c];
        macro_rules! with {
            ($r:expr) => {
                for row in acc.chunks_exact_mut(out_c) {
                    for (v, m) in row.iter_mut().zip(ms) {
                        *v = ($r.apply(*v, m) as i64 + z3).clamp(lo, hi) as i32;
                    }
                }
            };
        }
        match self.rounding {
            R::DoubleHalfAway => with!(R::DoubleHalfAway),
            R::FixedPointDoubleRounding => with!(R::FixedPointDoubleRounding),
            R::FixedPointSingleRounding => with!(R::FixedPointSingleRounding),
            R::FixedPointTiesUp => with!(R::FixedPointTiesUp),
            R::Float32HalfEven => with!(R::Float32HalfEven),
        }
    }

    /// [`apply`](Self::apply) to an accumulator that does not include the bias yet.
    #[inline]
    pub fn apply_with_bias(&self, acc: i32, c: usize) -> i32 {
        self.apply(acc.wrapping_add(self.bias[c]), c)
    }

    /// Read weights (per-channel along `axis`), bias and multipliers.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn prepare(
        ctx: &OpContext,
        profile: Profile,
        input: usize,
        filter: usize,
        bias: Option<usize>,
        output: usize,
        activation: Activation,
        out_c: usize,
        axis: usize,
    ) -> Result<(Requant, Vec<i32>), EngineError> {
        let legacy_uint8 = match (ctx.dtype(input), ctx.dtype(filter), ctx.dtype(output)) {
            (DType::I8, DType::I8, DType::I8) => false,
            (DType::U8, DType::U8, DType::U8) => true,
            (i, w, o) => {
                return Err(ctx.unsupported(format!(
                    "dtype combination input {i}, filter {w}, output {o} (int8/int8/int8 and uint8/uint8/uint8 are supported)"
                )))
            }
        };
        let q = LayerQuant::read(ctx, input, filter, bias, output, "filter", out_c, axis)?;
        if legacy_uint8 && q.per_channel {
            return Err(ctx.unsupported("uint8 filter with per-channel scales"));
        }
        if !legacy_uint8 && q.z2.iter().any(|&z| z != 0) {
            return Err(ctx.unsupported("int8 filter with a nonzero zero point"));
        }
        // One Z2 for the whole filter: 0 (int8) or the uint8 filter's per-tensor zero point.
        let z2 = q.z2.first().copied().unwrap_or(0);
        let w = &ctx.model.tensors[filter];
        let wv = Value::from_constant(w).ok_or_else(|| ctx.unsupported(format!("non-constant filter (tensor {filter})")))?;
        let weights: Vec<i32> = widen(&wv)
            .ok_or_else(|| ctx.unsupported(format!("filter dtype {}", w.dtype)))?
            .into_iter()
            .map(|q| q - z2)
            .collect();
        let multipliers = q.multipliers(legacy_uint8);
        let LayerQuant { s1, z1, s2, s3, z3, per_channel, bias: bias_v, .. } = q;
        let output_dtype = ctx.dtype(output);
        let (act_min, act_max) = fused_range(activation, output_dtype, s3, z3);
        Ok((
            Requant {
                s1,
                z1,
                s2,
                z2,
                s3,
                z3,
                per_channel,
                bias: bias_v,
                multipliers,
                rounding: profile.conv_rounding(),
                act_min,
                act_max,
                output_dtype,
            },
            weights,
        ))
    }
}

/// Everything CONV_2D needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub filter: usize,
    pub bias: Option<usize>,
    pub output: usize,
    pub geometry: Geometry,
    pub activation: Activation,
    pub padding: Padding,
    pub output_shape: Vec<usize>,
    /// Filter `[out_c][k_h][k_w][in_c]`, centered: `W − Z2`.
    pub weights: Vec<i32>,
    pub requant: Requant,
    /// The filter packed for the fast path ([`super::conv_gemm`]); `None` keeps the reference loop.
    pub packed: Option<super::conv_gemm::ConvPacked>,
}

/// One tap of a receptive field.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tap {
    pub ky: usize,
    pub kx: usize,
    /// Input channel.
    pub ic: usize,
    /// Input row/column, `None` in the padding.
    pub at: Option<(usize, usize)>,
    /// `x − Z1` (0 in the padding).
    pub x_centered: i32,
    /// The centered weight `W − Z2` (`W` itself for int8, whose Z2 is 0).
    pub w: i32,
}

/// The steps of one output element of a quantized convolution: the receptive
/// field, the accumulator and the requantization.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvSteps {
    /// Output (batch, row, column, channel).
    pub position: (usize, usize, usize, usize),
    pub receptive_field: Vec<Tap>,
    /// `Σ (x − Z1)·W`.
    pub accumulator: i32,
    pub bias: i32,
    pub acc_with_bias: i32,
    pub multiplier: Multiplier,
    /// The exact real product `M · acc`.
    pub scaled_real: f64,
    /// `round(M · acc)` under the profile's rounding.
    pub scaled: i32,
    pub with_zero_point: i32,
    pub output: i32,
    pub clamped: bool,
}

impl ConvSteps {
    /// The requantization half as FULLY_CONNECTED's [`Steps`](crate::ops::fully_connected::Steps)
    /// (channel = the output channel), e.g. for the step-trace chart.
    pub fn as_fc_steps(&self) -> crate::ops::fully_connected::Steps {
        crate::ops::fully_connected::Steps {
            channel: self.position.3,
            accumulator: self.accumulator,
            bias: self.bias,
            acc_with_bias: self.acc_with_bias,
            multiplier: self.multiplier,
            scaled_real: self.scaled_real,
            scaled: self.scaled,
            with_zero_point: self.with_zero_point,
            output: self.output,
            clamped: self.clamped,
        }
    }
}

/// Refuse a fused activation other than the clamps every runtime fuses
/// (NONE, RELU, RELU6, RELU_N1_TO_1). Shared by the convolutions, the pools
/// and ADD/SUB/MUL.
pub(crate) fn check_activation(ctx: &OpContext, activation: Activation) -> Result<(), EngineError> {
    if !matches!(activation, Activation::None | Activation::Relu | Activation::Relu6 | Activation::ReluN1To1) {
        return Err(ctx.unsupported(format!("fused activation {}", activation.name())));
    }
    Ok(())
}

/// A convolution's tensors: input, filter, optional bias, output, and the filter's shape.
pub(crate) type ConvTensors = (usize, usize, Option<usize>, usize, Vec<usize>);

/// The [`ConvTensors`] of a convolution, after [`check_activation`]. Shared
/// with DEPTHWISE_CONV_2D.
pub(crate) fn conv_tensors(ctx: &OpContext, activation: Activation) -> Result<ConvTensors, EngineError> {
    check_activation(ctx, activation)?;
    let (input, filter, output) = (ctx.input(0)?, ctx.input(1)?, ctx.output(0)?);
    Ok((input, filter, ctx.op.input(2), output, ctx.shape(filter)))
}

/// What CONV_2D reads alike for every dtype: its tensors, options and
/// geometry (shared with the float32 kernel, [`super::float::conv`]).
#[derive(Clone, Debug)]
pub(crate) struct ConvOp {
    pub input: usize,
    pub filter: usize,
    pub bias: Option<usize>,
    pub output: usize,
    pub geometry: Geometry,
    pub activation: Activation,
    pub padding: Padding,
}

impl ConvOp {
    /// Read the options, the tensors and the geometry; refuse grouped convolutions.
    pub(crate) fn read(ctx: &OpContext) -> Result<ConvOp, EngineError> {
        let (padding, stride_w, stride_h, dilation_w, dilation_h, activation) = match &ctx.op.options {
            Options::Conv2d { padding, stride_w, stride_h, dilation_w, dilation_h, activation } => {
                (*padding, *stride_w, *stride_h, *dilation_w, *dilation_h, *activation)
            }
            other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
        };
        let (input, filter, bias, output, fs) = conv_tensors(ctx, activation)?;
        if fs.len() != 4 {
            return Err(ctx.bad(format!("filter shape {fs:?}; expected [out_c, k_h, k_w, in_c]")));
        }
        let g = Geometry::new(ctx, input, output, fs[1], fs[2], (stride_h, stride_w), (dilation_h, dilation_w), padding)?;
        if fs[0] != g.out_c || fs[3] != g.in_c {
            return Err(ctx.unsupported(format!("filter shape {fs:?} for {} input and {} output channels (grouped convolution)", g.in_c, g.out_c)));
        }
        Ok(ConvOp { input, filter, bias, output, geometry: g, activation, padding })
    }
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let ConvOp { input, filter, bias, output, geometry: g, activation, padding } = ConvOp::read(ctx)?;
    let (requant, weights) = Requant::prepare(ctx, profile, input, filter, bias, output, activation, g.out_c, 0)?;
    let packed = super::conv_gemm::ConvPacked::new(&g, ctx.dtype(input), &requant, &weights);
    Ok(Params { input, filter, bias, output, geometry: g, activation, padding, output_shape: ctx.shape(output), weights, requant, packed })
}

impl Params {
    /// `Σ (x − Z1)·W` over the receptive field of output (b, oy, ox, oc).
    #[inline]
    fn accumulate(&self, x: &[i32], b: usize, oy: usize, ox: usize, oc: usize) -> i32 {
        let g = &self.geometry;
        let z1 = self.requant.z1;
        let mut acc = 0i32;
        for (ky, kx, iy, ix) in g.inside(oy, ox) {
            let xi = g.in_index(b, iy, ix, 0);
            let wi = ((oc * g.k_h + ky) * g.k_w + kx) * g.in_c;
            for ic in 0..g.in_c {
                acc = acc.wrapping_add((x[xi + ic] - z1).wrapping_mul(self.weights[wi + ic]));
            }
        }
        acc
    }

    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = ints(input, self.input)?;
        let out = self.geometry.map_outputs(|b, oy, ox, oc| Ok(self.requant.apply_with_bias(self.accumulate(&x, b, oy, ox, oc), oc)))?;
        Ok(narrow(self.requant.output_dtype, &self.output_shape, out))
    }

    /// The steps behind output element `element` (flat NHWC index).
    pub fn steps(&self, input: &Value, element: usize) -> Option<ConvSteps> {
        let g = &self.geometry;
        let (x, (b, oy, ox, oc)) = steps_input(g, input, element)?;
        let mut field = Vec::with_capacity(g.k_h * g.k_w * g.in_c);
        for (ky, kx, at) in g.window(oy, ox) {
            for ic in 0..g.in_c {
                let x_centered = at.map_or(0, |(iy, ix)| x[g.in_index(b, iy, ix, ic)] - self.requant.z1);
                let w = self.weights[((oc * g.k_h + ky) * g.k_w + kx) * g.in_c + ic];
                field.push(Tap { ky, kx, ic, at, x_centered, w });
            }
        }
        Some(requant_steps(&self.requant, (b, oy, ox, oc), field, self.accumulate(&x, b, oy, ox, oc)))
    }
}

/// The input as integers and the position of output element `element`, or
/// `None` past the end: the start of every `steps`, shared with DEPTHWISE_CONV_2D.
pub(crate) fn steps_input(g: &Geometry, input: &Value, element: usize) -> Option<(Vec<i32>, Position)> {
    if element >= g.out_len() {
        return None;
    }
    Some((widen(input)?, g.out_position(element)))
}

/// The requantization half of [`ConvSteps`] (FULLY_CONNECTED's [`Steps`](crate::ops::fully_connected::Steps)),
/// shared with DEPTHWISE_CONV_2D.
pub(crate) fn requant_steps(r: &Requant, position: (usize, usize, usize, usize), field: Vec<Tap>, accumulator: i32) -> ConvSteps {
    let c = position.3;
    let s = crate::ops::fully_connected::Steps::new(c, accumulator, r.bias[c], r.multipliers[c], r.rounding, r.z3, |acc| r.apply(acc, c));
    ConvSteps {
        position,
        receptive_field: field,
        accumulator,
        bias: s.bias,
        acc_with_bias: s.acc_with_bias,
        multiplier: s.multiplier,
        scaled_real: s.scaled_real,
        scaled: s.scaled,
        with_zero_point: s.with_zero_point,
        output: s.output,
        clamped: s.clamped,
    }
}
