//! MEAN over constant axes of an int8 tensor, with its own output scale.
//!
//! The sum over the reduced axes is taken in int32. Then ([`MeanMethod`]):
//!
//! * **integer** (LiteRT reference and builtin kernels, TFLite Micro's
//!   `QuantizedMeanOrSum`): `M = S_in/S_out` as `M0·2^shift`; the division
//!   by the count `n` is folded into the multiplier,
//!   `M0' = (M0 · 2^k) / n` with `k = min(⌊log2 n⌋, 32, 31 + shift)`,
//!   `shift' = shift − k`, and
//!   `y = clamp(Z_out + round(M0'·2^shift' · (Σx − n·Z_in)))` under the profile's rounding.
//! * **f32** (XNNPACK): `y = clamp(Z_out + round_half_even(f32(Σx − n·Z_in) · s))`
//!   with `s = S_in / (S_out · n)` in f32.

use super::{ints, narrow, strides, Int8Unary, OpContext};
use crate::error::EngineError;
use crate::model::{DType, Options};
use crate::profile::{MeanMethod, Multiplier, Profile, Rounding};
use crate::tensor::Value;

/// The requantization of the sum.
#[derive(Clone, Debug)]
pub enum MeanArith {
    Integer { multiplier: Multiplier, rounding: Rounding },
    Float { scale: f32 },
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

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let keep_dims = match &ctx.op.options {
        Options::Reducer { keep_dims } => *keep_dims,
        Options::None => false,
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    let Int8Unary { input, output, s_in, z_in, s_out, z_out } = ctx.int8_unary()?;
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
    let arith = match profile.mean_method() {
        MeanMethod::FoldedMultiplier(rounding) => {
            let (m0, shift) = crate::quant::quantize_multiplier(s_in as f64 / s_out as f64);
            let mut k = 63 - (count as u64).leading_zeros() as i32;
            k = k.min(32).min(31 + shift);
            let m0n = ((m0 as i64) << k) / count as i64;
            let real = s_in as f64 / s_out as f64 / count as f64;
            let multiplier = Multiplier { real, real_f32: real as f32, m0: m0n as i32, shift: shift - k };
            MeanArith::Integer { multiplier, rounding }
        }
        MeanMethod::Float32 => MeanArith::Float { scale: s_in / (s_out * count as f32) },
    };
    Ok(Params { input, output, input_shape: is, reduced, count, z_in, z_out, arith, output_shape: os, output_dtype: ctx.dtype(output) })
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = ints(input, self.input)?;
        let st = strides(&self.input_shape);
        let out_dims: Vec<usize> = self.input_shape.iter().zip(&self.reduced).map(|(&n, &r)| if r { 1 } else { n }).collect();
        let ost = strides(&out_dims);
        let n_out: usize = out_dims.iter().product();
        let mut sums = vec![0i32; n_out];
        for (i, &v) in x.iter().enumerate() {
            let mut o = 0;
            for d in 0..st.len() {
                if !self.reduced[d] {
                    o += ((i / st[d]) % self.input_shape[d]) * ost[d];
                }
            }
            sums[o] = sums[o].wrapping_add(v);
        }
        let n = self.count as i32;
        let out = sums
            .into_iter()
            .map(|s| {
                let centered = s.wrapping_sub(self.z_in.wrapping_mul(n));
                let scaled = match &self.arith {
                    MeanArith::Integer { multiplier, rounding } => rounding.apply(centered, multiplier) as i64,
                    MeanArith::Float { scale } => (centered as f32 * scale).round_ties_even() as i64,
                };
                (scaled + self.z_out as i64).clamp(-128, 127) as i32
            })
            .collect();
        Ok(narrow(self.output_dtype, &self.output_shape, out))
    }
}
