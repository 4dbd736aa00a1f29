//! MEAN over constant axes of an int8 tensor, with its own output scale.
//!
//! The sum over the reduced axes is taken in int32. Then ([`MeanMethod`]):
//!
//! * **integer** (LiteRT reference and builtin kernels, TFLite Micro's
//!   `QuantizedMeanOrSum`): `M = S_in/S_out` as `M0·2^(shift−31)`; the division
//!   by the count `n` is folded into the multiplier,
//!   `M0' = (M0 · 2^k) / n` with `k = min(⌊log2 n⌋, 32, 31 + shift)`,
//!   `shift' = shift − k`, and
//!   `y = clamp(Z_out + round(M0'·2^(shift'−31) · (Σx − n·Z_in)))` under the profile's rounding.
//! * **biased sum** (LiteRT builtin, for a 4-D input reduced over axes 1 and 2
//!   with `keep_dims`: `optimized_integer_ops::Mean`, [`Profile::mean_keep_dims_hw_optimized`]):
//!   the raw sum Σq (no zero point subtracted) times `M = S_in/(f32(n)·S_out)`
//!   (f32) as M0/shift, plus `bias = Z_out − round(Z_in·S_in/S_out)` (f32,
//!   half away from zero): `y = clamp(bias + round(M·Σq))`. Channels go 16 at
//!   a time through the NEON code (on x86 through NEON_2_SSE), whose
//!   `vrshlq` rounds the final shift ties up; the last `C mod 16` channels
//!   take the scalar `MultiplyByQuantizedMultiplier` (ties away).
//! * **f32** (XNNPACK's reduce operator: an int32 sum, then its reference
//!   int32→qs8 convert): the raw sum Σq (no zero point subtracted) goes to f32
//!   and is scaled by `s = f32(S_in/S_out) · (1/f32(n))`; the input zero point
//!   is folded into a *float* output zero point `z = Z_out − f32(n)·Z_in·s`
//!   (every step in f32), and `y = clamp(round_half_even(f32(Σq)·s + z))`.
//!   Subtracting `n·Z_in` in f32 after the product, rather than in int32 before
//!   it, rounds a few exact halves differently (ViT LayerNorm variance).

use super::{ints, narrow, strides, Int8Unary, OpContext};
use crate::error::EngineError;
use crate::model::{DType, Options};
use crate::profile::{MeanMethod, Multiplier, Profile, Rounding};
use crate::tensor::Value;

/// The requantization of the sum.
#[derive(Clone, Debug)]
pub enum MeanArith {
    Integer { multiplier: Multiplier, rounding: Rounding },
    /// `y = round_half_even(f32(Σq)·scale + zero_point)` (XNNPACK).
    Float { scale: f32, zero_point: f32 },
    /// `y = bias + round(M·Σq)` (LiteRT's optimized 4-D keep-dims mean over H, W).
    BiasedSum { multiplier: Multiplier, bias: i32, depth: usize, vector_channels: usize },
}

/// Everything MEAN needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub input_shape: Vec<usize>,
    /// Per input dimension, true when it is reduced.
    pub reduced: Vec<bool>,
    /// Elements per output (`n`).
    pub count: usize,
    pub z_in: i32,
    pub z_out: i32,
    pub arith: MeanArith,
    pub output_shape: Vec<usize>,
    pub output_dtype: DType,
}

/// The reduction MEAN computes for every dtype: which input dimensions are
/// reduced and how many elements each output averages (shared with the
/// float32 kernel, [`super::float::mean`]).
#[derive(Clone, Debug)]
pub struct Reduction {
    pub input_shape: Vec<usize>,
    pub reduced: Vec<bool>,
    pub count: usize,
    pub output_shape: Vec<usize>,
}

impl Reduction {
    /// Read the constant axes and check the output shape against them.
    pub(crate) fn read(ctx: &OpContext, input: usize, output: usize) -> Result<Reduction, EngineError> {
        let keep_dims = match &ctx.op.options {
            Options::Reducer { keep_dims } => *keep_dims,
            Options::None => false,
            other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
        };
        let is = ctx.shape(input);
        let rank = is.len() as i32;
        let mut reduced = vec![false; is.len()];
        for a in ctx.const_i32(ctx.input(1)?, "axis")? {
            let r = if a < 0 { a + rank } else { a };
            if r < 0 || r >= rank {
                return Err(ctx.bad(format!("axis {a} for rank {rank}")));
            }
            reduced[r as usize] = true;
        }
        let expected: Vec<usize> = is
            .iter()
            .zip(&reduced)
            .filter_map(|(&n, &r)| if r { keep_dims.then_some(1) } else { Some(n) })
            .collect();
        let os = ctx.shape(output);
        if os.iter().product::<usize>() != expected.iter().product::<usize>() {
            return Err(ctx.bad(format!("output shape {os:?}, expected {expected:?}")));
        }
        let count: usize = is.iter().zip(&reduced).filter(|(_, &r)| r).map(|(&n, _)| n).product();
        if count == 0 {
            return Err(ctx.unsupported("an empty reduction"));
        }
        Ok(Reduction { input_shape: is, reduced, count, output_shape: os })
    }
}

/// The output index of every input element, in input order (the order in
/// which every runtime adds them up), for `input_shape` reduced along the
/// dimensions marked in `reduced`.
pub(crate) fn output_indices<'a>(input_shape: &'a [usize], reduced: &'a [bool]) -> impl Iterator<Item = usize> + 'a {
    let st = strides(input_shape);
    let ost = strides(&reduced_dims(input_shape, reduced));
    let n: usize = input_shape.iter().product();
    (0..n).map(move |i| {
        let mut o = 0;
        for d in 0..st.len() {
            if !reduced[d] {
                o += ((i / st[d]) % input_shape[d]) * ost[d];
            }
        }
        o
    })
}

/// `input_shape` with every reduced dimension set to 1.
pub(crate) fn reduced_dims(input_shape: &[usize], reduced: &[bool]) -> Vec<usize> {
    input_shape.iter().zip(reduced).map(|(&n, &r)| if r { 1 } else { n }).collect()
}

/// `M = S_in/S_out` as `M0·2^(shift−31)` with `1/n` folded in, as
/// `QuantizedMeanOrSum` does: `M0' = (M0·2^k)/n`, `k = min(⌊log2 n⌋, 32, 31 + shift)`,
/// `shift' = shift − k` (shared with the 16x8 kernel, [`super::int16`]).
pub(crate) fn folded_multiplier(s_in: f32, s_out: f32, count: usize) -> Multiplier {
    let (m0, shift) = crate::quant::quantize_multiplier(s_in as f64 / s_out as f64);
    let mut k = 63 - (count as u64).leading_zeros() as i32;
    k = k.min(32).min(31 + shift);
    let m0n = ((m0 as i64) << k) / count as i64;
    let real = s_in as f64 / s_out as f64 / count as f64;
    Multiplier { real, real_f32: real as f32, m0: m0n as i32, shift: shift - k }
}

/// The int32 sums of `x` (of `input_shape`) over the `reduced` dimensions,
/// added in input order, in output order (shared with the 16x8 kernel).
pub(crate) fn sums(x: impl Iterator<Item = i32>, input_shape: &[usize], reduced: &[bool]) -> Vec<i32> {
    let mut sums = vec![0i32; reduced_dims(input_shape, reduced).iter().product()];
    for (o, v) in output_indices(input_shape, reduced).zip(x) {
        sums[o] = sums[o].wrapping_add(v);
    }
    sums
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let Int8Unary { input, output, s_in, z_in, s_out, z_out } = ctx.eight_bit_unary()?;
    let Reduction { input_shape: is, reduced, count, output_shape: os } = Reduction::read(ctx, input, output)?;
    let mut axes = ctx.const_i32(ctx.input(1)?, "axis")?;
    axes.sort_unstable();
    let keep_dims = matches!(&ctx.op.options, crate::model::Options::Reducer { keep_dims: true });
    let hw_keep_dims = keep_dims && is.len() == 4 && axes == [1, 2];
    let arith = match profile.mean_method() {
        _ if hw_keep_dims && profile.mean_keep_dims_hw_optimized() => {
            let real = s_in / (count as f32 * s_out);
            let t = z_in as f32 * s_in / s_out;
            let bias = z_out - (if t > 0.0 { t + 0.5 } else { t - 0.5 }) as i32;
            let depth = is[3];
            MeanArith::BiasedSum { multiplier: Multiplier::from_real(real as f64), bias, depth, vector_channels: depth / 16 * 16 }
        }
        MeanMethod::FoldedMultiplier(rounding) => {
            MeanArith::Integer { multiplier: folded_multiplier(s_in, s_out, count), rounding }
        }
        MeanMethod::Float32 => {
            // XNNPACK: `scale = (S_in/S_out) · (1/n)`, then
            // `y_zero_point −= (n·Z_in)·scale`, with `n·Z_in` an int32 times a
            // float zero point: all f32 (`reduce-nd.c`, `xnn_update_qs8_reduce_scalar_params`).
            let scale = (s_in / s_out) * (1.0f32 / count as f32);
            let zero_point = z_out as f32 - (count as i32 as f32 * z_in as f32) * scale;
            MeanArith::Float { scale, zero_point }
        }
    };
    Ok(Params { input, output, input_shape: is, reduced, count, z_in, z_out, arith, output_shape: os, output_dtype: ctx.dtype(output) })
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = ints(input, self.input)?;
        let sums = sums(x.into_iter(), &self.input_shape, &self.reduced);
        let out = sums.into_iter().enumerate().map(|(j, s)| self.finish(j, s)).collect();
        Ok(narrow(self.output_dtype, &self.output_shape, out))
    }

    /// Output `j` from the int32 sum `s` of its inputs.
    #[inline]
    pub fn finish(&self, j: usize, s: i32) -> i32 {
        let n = self.count as i32;
        let (q_min, q_max) = super::int_range(self.output_dtype);
        let centered = s.wrapping_sub(self.z_in.wrapping_mul(n));
        let scaled = match &self.arith {
            MeanArith::BiasedSum { multiplier, bias, depth, vector_channels } => {
                let rounding = if j % depth < *vector_channels { Rounding::FixedPointTiesUp } else { Rounding::FixedPointDoubleRounding };
                return (rounding.apply(s, multiplier) + bias).clamp(q_min, q_max);
            }
            MeanArith::Integer { multiplier, rounding } => rounding.apply(centered, multiplier) as i64,
            MeanArith::Float { scale, zero_point } => {
                // `x·inv_scale + zero_point` as two f32 operations (no FMA).
                let y = (s as f32 * scale + zero_point).round_ties_even();
                return y.clamp(q_min as f32, q_max as f32) as i32;
            }
        };
        (scaled + self.z_out as i64).clamp(q_min as i64, q_max as i64) as i32
    }
}
