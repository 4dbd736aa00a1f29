//! HARD_SWISH on int8: `y = x · relu6(x + 3) / 6`, computed as TFLite's
//! reference kernel does in 16-bit fixed point (every runtime here uses it:
//! XNNPACK does not take the int8 op):
//!
//! 1. `x − Z_in` is moved to a "hi-res" scale `S_in/128` (`· 2^7`);
//! 2. its product with the output multiplier `(S_in/128)/S_out` (an int16
//!    Q15 mantissa and an exponent ≤ 0) is kept for later;
//! 3. the "reluish" factor `relu6(x + 3)/6` is the hi-res value times
//!    `(S_in/128)/(3/32768)` (int16 mantissa, exponent applied by saturating
//!    left shifts or a rounding right shift), mapped from [−1, 1] to [0, 1]
//!    by `(v + 2^15) >> 1`;
//! 4. a truncating Q15 product of the two, a rounding shift by the output
//!    exponent, `+ Z_out`, clamp.

use super::{ints, narrow, Int8Unary, OpContext};
use crate::error::EngineError;
use crate::model::DType;
use crate::profile::Profile;
use crate::quant;
use crate::tensor::Value;

/// Everything HARD_SWISH needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub z_in: i32,
    pub z_out: i32,
    pub output_multiplier: i16,
    pub output_exponent: i32,
    pub reluish_multiplier: i16,
    pub reluish_exponent: i32,
    pub output_shape: Vec<usize>,
    pub output_dtype: DType,
}

/// TFLite's `DownScaleInt32ToInt16Multiplier`: the Q31 mantissa rounded to Q15.
pub fn downscale_multiplier(m: i32) -> i16 {
    if m >= i32::MAX - (1 << 15) {
        return i16::MAX;
    }
    ((m + (1 << 15)) >> 16) as i16
}

/// gemmlowp's 16-bit `SaturatingRoundingDoublingHighMul`.
pub fn srdhm16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let ab = a as i32 * b as i32;
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// The reference kernel's non-rounding 16-bit doubling high multiply.
pub fn doubling_high_mul16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((a as i32 * b as i32) / (1 << 15)) as i16
}

/// gemmlowp's 16-bit `RoundingDivideByPOT` (ties away from zero).
pub fn rounding_divide_by_pot16(x: i16, exponent: i32) -> i16 {
    quant::rounding_divide_by_pot(x as i32, exponent) as i16
}

fn saturating_left_shift16(v: i16, amount: i32) -> i16 {
    ((v as i64) * (1i64 << amount)).clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    let Int8Unary { input, output, s_in, z_in, s_out, z_out } = ctx.eight_bit_unary()?;
    let hires_input_scale = (1.0f32 / 128.0) * s_in;
    let reluish_scale = 3.0f32 / 32768.0;
    let (m_out, output_exponent) = quant::quantize_multiplier((hires_input_scale / s_out) as f64);
    if output_exponent > 0 {
        return Err(ctx.unsupported(format!("output multiplier exponent {output_exponent} > 0 (output scale too small)")));
    }
    let (m_rel, reluish_exponent) = quant::quantize_multiplier((hires_input_scale / reluish_scale) as f64);
    Ok(Params {
        input,
        output,
        z_in,
        z_out,
        output_multiplier: downscale_multiplier(m_out),
        output_exponent,
        reluish_multiplier: downscale_multiplier(m_rel),
        reluish_exponent,
        output_shape: ctx.shape(output),
        output_dtype: ctx.dtype(output),
    })
}

impl Params {
    /// One output value.
    pub fn element(&self, q: i32) -> i32 {
        let input_value = (q - self.z_in) as i16;
        let hires = input_value.wrapping_mul(1 << 7);
        let preshift_output = srdhm16(hires, self.output_multiplier);
        let mut reluish = hires;
        if self.reluish_exponent > 0 {
            reluish = saturating_left_shift16(reluish, self.reluish_exponent - 1);
        }
        reluish = srdhm16(reluish, self.reluish_multiplier);
        if self.reluish_exponent > 0 {
            reluish = saturating_left_shift16(reluish, 1);
        }
        if self.reluish_exponent < 0 {
            reluish = rounding_divide_by_pot16(reluish, -self.reluish_exponent);
        }
        let reluish = ((reluish as i32 + (1 << 15)) >> 1) as i16;
        let preshift = doubling_high_mul16(reluish, preshift_output);
        let out = rounding_divide_by_pot16(preshift, -self.output_exponent).wrapping_add(self.z_out as i16);
        let (q_min, q_max) = super::int_range(self.output_dtype);
        (out as i32).clamp(q_min, q_max)
    }

    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = ints(input, self.input)?;
        let out = x.iter().map(|&q| self.element(q)).collect();
        Ok(narrow(self.output_dtype, &self.output_shape, out))
    }
}
