//! DIV, broadcasting. float32: `a / b`. int8/uint8 (LiteRT's
//! `DivElementwise`, the only kernel):
//!
//! ```text
//!     a' = a − Z_a, b' = b − Z_b            (both negated if b' < 0)
//!     1/b' ≈ r · 2^−e                        (GetReciprocal: Q0.31 reciprocal)
//!     h = leading sign bits of a'
//!     u = SRDHM(a'·2^h, r)                   (the quotient, scaled up by 2^h)
//!     q = clamp(Z_out + MBQM(u, M0, shift − e − h)),   M = S_a / (S_b·S_out) in f32
//! ```
//!
//! When `|a'|` is tiny and `b'` large, `h` is near 31 and the final right
//! shift `−(shift − e − h)` can reach 32 or more, outside gemmlowp's
//! `RoundingDivideByPOT` contract. LiteRT's x86 build then computes its mask
//! as `(int32)((1ll << exponent) − 1)` and shifts the int32 by `exponent mod 32`
//! (the `sar` instruction's count); [`rounding_divide_by_pot_x86`] does the
//! same (seen in `uint8_ops`: `a' = ±1` over `b' ≈ 100` saturates to 0 or 255).

use super::layout::{broadcast_pairs, f32s};
use super::{ints, narrow, OpContext};
use crate::error::EngineError;
use crate::model::DType;
use crate::quant::{self, fixedpoint};
use crate::tensor::{Data, Value};

/// The int8 constants.
#[derive(Clone, Copy, Debug)]
pub struct Quantized {
    pub z_a: i32,
    pub z_b: i32,
    pub z_out: i32,
    pub m0: i32,
    pub shift: i32,
    pub lo: i32,
    pub hi: i32,
}

/// Everything DIV needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub a: usize,
    pub b: usize,
    pub output: usize,
    pub pairs: Vec<(usize, usize)>,
    pub dtype: DType,
    pub quant: Option<Quantized>,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let (a, b, output) = (ctx.input(0)?, ctx.input(1)?, ctx.output(0)?);
    let activation = match &ctx.op.options {
        crate::model::Options::Elementwise { activation } => *activation,
        _ => crate::model::Activation::None,
    };
    let output_shape = ctx.shape(output);
    let pairs = broadcast_pairs(&ctx.shape(a), &ctx.shape(b), &output_shape).ok_or_else(|| ctx.bad("input shapes do not broadcast"))?;
    let dtype = ctx.dtype(output);
    let quant = match dtype {
        DType::F32 if activation == crate::model::Activation::None => None,
        DType::I8 | DType::U8 => {
            let (s_a, z_a) = ctx.per_tensor_quant(a, "input 0")?;
            let (s_b, z_b) = ctx.per_tensor_quant(b, "input 1")?;
            let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
            let (m0, shift) = quant::quantize_multiplier((s_a / (s_b * s_out)) as f64);
            let (lo, hi) = super::fused_range(activation, dtype, s_out, z_out);
            Some(Quantized { z_a, z_b, z_out, m0, shift, lo, hi })
        }
        other => return Err(ctx.unsupported(format!("dtype {other} (int8, uint8 and float32 without fused activation are supported)"))),
    };
    Ok(Params { a, b, output, pairs, dtype, quant, output_shape })
}

/// TFLite's `CountLeadingSignBits` of an i32 (`__builtin_clrsb`): the bits
/// after the sign bit equal to it, `clz(x ^ (x >> 31)) − 1` (−1 has 31; for a
/// negative `x` TFLite's portable form is `clz(2·|x| − 1)`, the same).
fn leading_sign_bits(x: i32) -> i32 {
    (x ^ (x >> 31)).leading_zeros() as i32 - 1
}

/// gemmlowp's `RoundingDivideByPOT(x, exponent)` as LiteRT's x86 build runs it
/// for `32 ≤ exponent < 64`: mask `(int32)((1ll << exponent) − 1)` (all ones),
/// `x >> (exponent mod 32)`, plus one when the remainder exceeds the threshold.
pub fn rounding_divide_by_pot_x86(x: i32, exponent: i32) -> i32 {
    let mask = ((1i64 << (exponent & 63)) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> (exponent & 31)).wrapping_add(i32::from(remainder > threshold))
}

impl Quantized {
    /// One element; `None` when the divisor is the zero point (division by zero).
    pub fn element(&self, a: i32, b: i32) -> Option<i32> {
        let (mut x, mut y) = (a - self.z_a, b - self.z_b);
        if y == 0 {
            return None;
        }
        if y < 0 {
            x = -x;
            y = -y;
        }
        let (r, e) = fixedpoint::get_reciprocal(y, 31);
        let h = leading_sign_bits(x);
        let u = quant::saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32.wrapping_shl(h as u32)), r);
        let total_shift = self.shift - e - h;
        let q = if total_shift > -32 {
            quant::multiply_by_quantized_multiplier_double_rounding(u, self.m0, total_shift)
        } else {
            rounding_divide_by_pot_x86(quant::saturating_rounding_doubling_high_mul(u, self.m0), -total_shift)
        } + self.z_out;
        Some(q.clamp(self.lo, self.hi))
    }
}

impl Params {
    pub fn eval(&self, a: &Value, b: &Value) -> Result<Value, EngineError> {
        match &self.quant {
            None => {
                let (x, y) = (f32s(a, self.a)?, f32s(b, self.b)?);
                Ok(Value { shape: self.output_shape.clone(), data: Data::F32(self.pairs.iter().map(|&(i, j)| x[i] / y[j]).collect()) })
            }
            Some(q) => {
                let (x, y) = (ints(a, self.a)?, ints(b, self.b)?);
                let out = self
                    .pairs
                    .iter()
                    .map(|&(i, j)| q.element(x[i], y[j]).ok_or_else(|| EngineError::BadInput(format!("DIV: tensor {} has a zero divisor", self.b))))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(narrow(self.dtype, &self.output_shape, out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_sign_bits_is_clrsb() {
        for (x, n) in [(0, 31), (1, 30), (-1, 31), (-2, 30), (-3, 29), (i32::MAX, 0), (i32::MIN, 0), (255, 23), (-256, 23)] {
            assert_eq!(leading_sign_bits(x), n, "{x}");
        }
    }

    #[test]
    fn a_shift_of_32_or_more_keeps_x_as_x86_does() {
        // mask all ones: the remainder is x itself, the threshold −1 (x ≥ 0) or 0 (x < 0)
        assert_eq!(rounding_divide_by_pot_x86(5, 32), 6);
        assert_eq!(rounding_divide_by_pot_x86(-5, 32), -5);
        assert_eq!(rounding_divide_by_pot_x86(-1, 32), -1);
        // 33: the shift is by 1, the mask still all ones
        assert_eq!(rounding_divide_by_pot_x86(6, 33), 4);
    }
}
