//! SOFTMAX, 16x8 (LiteRT's and TFLite Micro's `SoftmaxInt16`): two
//! interpolated 513-entry tables ([`lut_populate`], [`lut_lookup`]) instead
//! of gemmlowp's fixed-point `exp`.
//!
//! Per row, with `m = max x`:
//!
//! ```text
//!     d      = round(M_in · (x − m)) + 32767,    M_in = S_in·β / (10/65535)   [−65535, 0] ↦ [−10, 0]
//!     e      = exp_lut(clamp(d))                  Q0.15, exp over [−10, 0]
//!     Σ      = Σ e;   h = clz(Σ)
//!     r      = recip_lut(clamp(((Σ << (h − 1)) + 2^13 >> 14) − 3·2^15))      1/(1 + x) over [0, 1]
//!     y      = clamp((e · r + 2^(30 − h)) >> (31 − h), 0, 32767)
//! ```
//!
//! The tables come from `LUTPopulate<int16_t>`; LiteRT computes them in
//! double, TFLite Micro in float ([`Profile::softmax16_lut_float`]) — the
//! only place their int16 SOFTMAX differs.

use super::{i16s, require_int16, value16};
use crate::error::EngineError;
use crate::model::Options;
use crate::ops::OpContext;
use crate::profile::{LutFloat, Profile};
use crate::quant::int16::{lut_lookup, lut_populate};
use crate::quant::{multiply_by_quantized_multiplier_double_rounding, quantize_multiplier};
use crate::tensor::Value;

/// Everything a 16x8 SOFTMAX needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    /// Elements per row (the last dimension).
    pub depth: usize,
    /// `M_in` as `(M0, shift)`.
    pub input_multiplier: (i32, i32),
    pub lut_float: LutFloat,
    /// `exp(x)` for x in [−10, 0], Q0.15.
    pub exp_lut: Vec<i16>,
    /// `1/(1 + x)` for x in [0, 1], Q0.15.
    pub recip_lut: Vec<i16>,
    pub output_shape: Vec<usize>,
}

/// The two tables in the profile's float type.
pub fn tables(lut_float: LutFloat) -> (Vec<i16>, Vec<i16>) {
    const RANGE: i32 = 65535;
    match lut_float {
        LutFloat::F64 => (
            lut_populate(10.0 / RANGE as f64, 32767, 2.0 / RANGE as f64, 0, f64::exp),
            lut_populate(1.0 / RANGE as f64, -32768, 2.0 / RANGE as f64, 0, |x: f64| 1.0 / (1.0 + x)),
        ),
        LutFloat::F32 => (
            lut_populate(10.0f32 / RANGE as f32, 32767, 2.0f32 / RANGE as f32, 0, f32::exp),
            lut_populate(1.0f32 / RANGE as f32, -32768, 2.0f32 / RANGE as f32, 0, |x: f32| 1.0 / (1.0 + x)),
        ),
    }
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let beta = match &ctx.op.options {
        Options::Softmax { beta } => *beta,
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    let s_in = require_int16(ctx, input, "input")?;
    require_int16(ctx, output, "output")?;
    crate::ops::same_element_count(ctx, input, output)?;
    let depth = ctx.shape(input).last().copied().unwrap_or(1);
    if depth == 0 {
        return Err(ctx.bad("empty last dimension"));
    }
    // LiteRT: `input->params.scale * params->beta / (10.0 / 65535.0)`, the
    // product in f32; TFLite Micro widens both first. With β = 1 (every
    // converted Keras softmax) the two are equal.
    let input_multiplier = quantize_multiplier((s_in * beta) as f64 / (10.0 / 65535.0));
    let lut_float = profile.softmax16_lut_float();
    let (exp_lut, recip_lut) = tables(lut_float);
    Ok(Params { input, output, depth, input_multiplier, lut_float, exp_lut, recip_lut, output_shape: ctx.shape(output) })
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = i16s(input, self.input)?;
        let (m0, shift) = self.input_multiplier;
        let mut out = Vec::with_capacity(x.len());
        for row in x.chunks(self.depth) {
            let max = row.iter().copied().max().unwrap_or(i16::MIN) as i32;
            let start = out.len();
            let mut sum = 0i32;
            for &q in row {
                let scaled = multiply_by_quantized_multiplier_double_rounding(q as i32 - max, m0, shift);
                let e = lut_lookup((scaled + 32767).clamp(-32768, 32767) as i16, &self.exp_lut);
                sum = sum.wrapping_add(e as i32);
                out.push(e);
            }
            let headroom_plus_one = (sum as u32).leading_zeros() as i32;
            if headroom_plus_one == 0 || headroom_plus_one > 30 {
                return Err(EngineError::BadInput(format!("SOFTMAX t{}: sum of exponentials {sum} out of range", self.output)));
            }
            let shifted = ((((sum as i64) << (headroom_plus_one - 1)) + (1 << 13)) >> 14) as i32;
            let sym = (shifted - ((1 << 15) + (1 << 16))).clamp(-32768, 32767) as i16;
            let reciprocal = lut_lookup(sym, &self.recip_lut) as i64;
            let right_shift = 31 - headroom_plus_one;
            let round = 1i64 << (right_shift - 1);
            for e in &mut out[start..] {
                let y = ((*e as i64 * reciprocal + round) >> right_shift) as i32;
                *e = y.clamp(0, 32767) as i16;
            }
        }
        Ok(value16(&self.output_shape, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The choice is real, if rare: the `exp` tables agree, the `1/(1+x)`
    /// tables of float and double differ in a few entries (so a row whose sum
    /// of exponentials lands there gets another reciprocal).
    #[test]
    fn float_and_double_tables_differ_in_the_reciprocal_only() {
        let (e32, r32) = tables(LutFloat::F32);
        let (e64, r64) = tables(LutFloat::F64);
        let d = |a: &[i16], b: &[i16]| a.iter().zip(b).filter(|(x, y)| x != y).count();
        assert_eq!((e32.len(), r32.len()), (513, 513));
        assert_eq!(d(&e32, &e64), 0);
        assert!(d(&r32, &r64) > 0);
        // Both tables are monotone, as exp and 1/(1+x) are.
        assert!(e64.windows(2).all(|w| w[0] <= w[1]) && r64.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn a_row_of_equal_logits_gives_equal_probabilities() {
        let p = Params {
            input: 0,
            output: 1,
            depth: 4,
            input_multiplier: quantize_multiplier(0.001 / (10.0 / 65535.0)),
            lut_float: LutFloat::F64,
            exp_lut: tables(LutFloat::F64).0,
            recip_lut: tables(LutFloat::F64).1,
            output_shape: vec![1, 4],
        };
        let y = p.eval(&value16(&[1, 4], vec![100; 4])).unwrap();
        let y = y.as_i16().unwrap();
        assert!(y.iter().all(|&v| v == y[0]) && (8190..=8194).contains(&y[0]), "{y:?}");
    }
}
