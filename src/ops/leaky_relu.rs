//! LEAKY_RELU on int8: `y = x` for `x ≥ 0`, `α·x` below, with the output's
//! own scale ([`LeakyReluMethod`]):
//!
//! * **two multipliers** (LiteRT, TFLite Micro): `M_id = S_in/S_out` and
//!   `M_α = S_in·α/S_out` (both computed in f32, then M0·2^(shift−31));
//!   `y = clamp(Z_out + round(M·(x − Z_in)))` with the one for the sign of `x − Z_in`.
//! * **8-bit multipliers** (XNNPACK): `m_+ = lrint(256·S_in/S_out)`,
//!   `m_− = lrint(256·α·S_in/S_out)` (f32), and
//!   `y = clamp(Z_out + ((x − Z_in)·m + 128) >> 8)`.

use super::{ints, narrow, Int8Unary, OpContext};
use crate::error::EngineError;
use crate::model::{DType, Options};
use crate::profile::{LeakyReluMethod, Multiplier, Profile, Rounding};
use crate::tensor::Value;

/// The computation, with its constants.
#[derive(Clone, Debug)]
pub enum LeakyArith {
    TwoMultipliers { identity: Multiplier, alpha: Multiplier, rounding: Rounding },
    EightBit { positive: i32, negative: i32 },
}

/// Everything LEAKY_RELU needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub alpha: f32,
    pub z_in: i32,
    pub z_out: i32,
    pub arith: LeakyArith,
    pub output_shape: Vec<usize>,
    pub output_dtype: DType,
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let alpha = match &ctx.op.options {
        Options::LeakyRelu { alpha } => *alpha,
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    let Int8Unary { input, output, s_in, z_in, s_out, z_out } = ctx.eight_bit_unary()?;
    if alpha < 0.0 {
        return Err(ctx.unsupported(format!("negative alpha {alpha}")));
    }
    let arith = match profile.leaky_relu_method() {
        LeakyReluMethod::TwoMultipliers(rounding) => LeakyArith::TwoMultipliers {
            identity: Multiplier::from_real((s_in / s_out) as f64),
            alpha: Multiplier::from_real((s_in * alpha / s_out) as f64),
            rounding,
        },
        LeakyReluMethod::EightBitMultipliers => {
            let positive_scale = s_in / s_out;
            let negative_scale = positive_scale * alpha;
            LeakyArith::EightBit {
                positive: (256.0 * positive_scale).round_ties_even() as i32,
                negative: (256.0 * negative_scale).round_ties_even() as i32,
            }
        }
    };
    Ok(Params { input, output, alpha, z_in, z_out, arith, output_shape: ctx.shape(output), output_dtype: ctx.dtype(output) })
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = ints(input, self.input)?;
        let (q_min, q_max) = super::int_range(self.output_dtype);
        let out = x
            .iter()
            .map(|&q| {
                let d = q - self.z_in;
                let scaled = match &self.arith {
                    LeakyArith::TwoMultipliers { identity, alpha, rounding } => {
                        rounding.apply(d, if d >= 0 { identity } else { alpha }) as i64
                    }
                    LeakyArith::EightBit { positive, negative } => {
                        let m = if d >= 0 { *positive } else { *negative };
                        ((d * m + 128) >> 8) as i64
                    }
                };
                (scaled + self.z_out as i64).clamp(q_min as i64, q_max as i64) as i32
            })
            .collect();
        Ok(narrow(self.output_dtype, &self.output_shape, out))
    }
}
