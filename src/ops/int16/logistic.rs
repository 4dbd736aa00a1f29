//! LOGISTIC and TANH, 16x8 (`reference_integer_ops::Logistic` / `Tanh`):
//! interpolation in the 256-entry table of `sigmoid(i/24)`
//! ([`SIGMOID_TABLE_UINT16`]), with `tanh(x) = 2·sigmoid(2x) − 1`.
//!
//! The input is first brought to the table's grid, `1/(3·4096)` per step
//! for LOGISTIC (so ±2^17 spans ±10.7):
//!
//! ```text
//!     M = S_in · 4096 · 3, doubled (k times) while M ≤ 32767/2;   m = int(M)
//!     v = (x · m + 2^(k−1)) >> k
//!     LOGISTIC: u = |v|;  t = T[u >> 9]·2^9 + (u mod 2^9)·(T[(u >> 9) + 1] − T[u >> 9])
//!               y = (v ≥ 0 ? t + 2^9 : 2^25 − t + 2^9 − 1) >> 10
//!     TANH:     u = |v|;  t = T[u >> 8]·2^8 + (u mod 2^8)·(T[(u >> 8) + 1] − T[u >> 8])
//!               y = (v ≥ 0 ? t − 2^23 + 2^7 : 2^23 − t + 2^7 − 1) >> 8
//! ```
//!
//! (`u >> 9` or `u >> 8` ≥ 255 saturates). When the input scale is a power
//! of two that puts the input in Q3.12 (S_in = 2^-12; for TANH also
//! S_in = 2^-11, Q4.11) LiteRT sets `m = 0`: its reference kernel then runs
//! the table with `m = 3·2^k`, but its optimized kernels take gemmlowp's
//! int16 fixed point ([`Profile::activation16_pot`],
//! [`crate::quant::fixedpoint16`]):
//!
//! ```text
//!     LOGISTIC: y = logistic(Q3.12 x)                       (Q0.15 out)
//!     TANH:     y = tanh(Q3.12 x), x first doubled with saturation when S_in = 2^-11
//! ```

use super::{i16s, require_int16, value16};
use crate::error::EngineError;
use crate::model::OpKind;
use crate::ops::OpContext;
use crate::profile::{Activation16Pot, Profile};
use crate::quant::int16::SIGMOID_TABLE_UINT16 as T;
use crate::tensor::Value;

/// Everything a 16x8 LOGISTIC or TANH needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub tanh: bool,
    /// `m` and `k` of the rescaling (for a power-of-two scale: `3·2^k` and 0).
    pub input_multiplier: i32,
    pub input_left_shift: i32,
    pub pot: Activation16Pot,
    pub output_shape: Vec<usize>,
    /// int16_pot: `Some(k)` when the kernel runs gemmlowp's fixed point on
    /// the input doubled `k` times (0 or 1) instead of the table.
    pub fixed_point: Option<i32>,
}

/// TFLite's `CheckedLog2`: `round(log2(x))`, and whether `x` is within
/// 1e-3 (in log2) of that power of two. In f32, as the source.
pub fn checked_log2(x: f32) -> (i32, bool) {
    let x_log2 = x.ln() * (1.0f32 / 2.0f32.ln());
    let rounded = x_log2.round();
    (rounded as i32, (x_log2 - rounded).abs() < 1e-3)
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let tanh = ctx.op.kind == OpKind::Tanh;
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    let s_in = require_int16(ctx, input, "input")?;
    require_int16(ctx, output, "output")?;
    crate::ops::same_element_count(ctx, input, output)?;
    const INPUT_INTEGER_BITS: i32 = 3;
    let (log2, is_pot) = checked_log2(s_in);
    let mut left_shift = (15 - INPUT_INTEGER_BITS) + log2;
    let pot_shift_ok = if tanh { left_shift == 0 || left_shift == 1 } else { left_shift == 0 };
    let pot = profile.activation16_pot();
    let mut fixed_point = None;
    let multiplier = if is_pot && pot_shift_ok {
        if pot == Activation16Pot::GemmlowpFixedPoint {
            fixed_point = Some(left_shift);
        }
        let m = 3 << left_shift;
        left_shift = 0;
        m
    } else {
        let mut m = s_in as f64 * 4096.0 * 3.0;
        left_shift = 0;
        while m <= 32767.0 / 2.0 && left_shift <= 30 {
            left_shift += 1;
            m *= 2.0;
        }
        m as i32
    };
    Ok(Params { input, output, tanh, input_multiplier: multiplier, input_left_shift: left_shift, pot, output_shape: ctx.shape(output), fixed_point })
}

impl Params {
    /// One output from one input.
    #[inline]
    pub fn element(&self, x: i16) -> i16 {
        if let Some(doublings) = self.fixed_point {
            use crate::quant::fixedpoint16 as fp;
            return if self.tanh { fp::tanh(fp::multiply_by_pot(x, doublings), 3) } else { fp::logistic(x, 3) };
        }
        let k = self.input_left_shift;
        let round = if k > 0 { 1i32 << (k - 1) } else { 0 };
        let v = (x as i32).wrapping_mul(self.input_multiplier).wrapping_add(round) >> k;
        let u = v.unsigned_abs();
        let (bits, saturated) = if self.tanh { (8, 0xFFFFu32 << 8) } else { (9, 0x7FFFu32 << 10) };
        let uh = (u >> bits) as usize;
        let t = if uh >= 255 {
            saturated
        } else {
            let (ua, ub) = (T[uh] as u32, T[uh + 1] as u32);
            (ua << bits) + (u & ((1 << bits) - 1)) * (ub - ua)
        };
        if self.tanh {
            let t = t as i32;
            let r = if v >= 0 { t - (1 << 23) + (1 << 7) } else { -t + (1 << 23) + (1 << 7) - 1 };
            (r >> 8) as i16
        } else {
            let r = if v >= 0 { t + (1 << 9) } else { (1u32 << 25) - t + (1 << 9) - 1 };
            (r >> 10) as i16
        }
    }

    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = i16s(input, self.input)?;
        Ok(value16(&self.output_shape, x.iter().map(|&q| self.element(q)).collect()))
    }
}
