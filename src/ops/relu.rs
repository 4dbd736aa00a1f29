//! RELU, RELU6 and RELU_N1_TO_1 as standalone ops on int8. The output may
//! have its own scale ([`ReluMethod`]):
//!
//! * **requantize** (LiteRT; TFLite Micro for RELU):
//!   `y = clamp(Z_out + round(M·(x − Z_in)), q(lo), q(hi))` with
//!   `M = S_in/S_out` in M0·2^(shift−31) form (gemmlowp double rounding) and the
//!   bounds `q(v) = Z_out + round(v/S_out)` of the output;
//! * **clamp in the input's scale** (TFLite Micro's RELU6 and RELU_N1_TO_1):
//!   `y = clamp(x, Z_in + round(lo/S_in), Z_in + round(hi/S_in))` — the
//!   output's scale and zero point are ignored.

use super::{ints, narrow, Int8Unary, OpContext};
use crate::error::EngineError;
use crate::model::{DType, OpKind};
use crate::profile::{Multiplier, Profile, ReluMethod, Rounding};
use crate::tensor::Value;

/// The computation, with its constants.
#[derive(Clone, Debug)]
pub enum ReluArith {
    Requantize { z_in: i32, z_out: i32, multiplier: Multiplier, rounding: Rounding, lo: i32, hi: i32 },
    ClampInInputScale { lo: i32, hi: i32 },
}

/// Everything RELU / RELU6 / RELU_N1_TO_1 need, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    /// The real clamp range `(lo, hi)`.
    pub range: (f32, f32),
    pub arith: ReluArith,
    pub output_shape: Vec<usize>,
    pub output_dtype: DType,
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let range = match ctx.op.kind {
        OpKind::Relu => (0.0, f32::INFINITY),
        OpKind::Relu6 => (0.0, 6.0),
        OpKind::ReluN1To1 => (-1.0, 1.0),
        _ => return Err(ctx.bad("not a RELU")),
    };
    let Int8Unary { input, output, s_in, z_in, s_out, z_out } = ctx.eight_bit_unary()?;
    let (q_min, q_max) = super::int_range(ctx.dtype(output));
    let q = |v: f32, s: f32, z: i32| -> i32 {
        if v.is_infinite() {
            q_max
        } else {
            // Saturating: v / s may be huge (a tiny output scale), and `as i64` saturates.
            (z as i64).saturating_add((v / s).round() as i64).clamp(q_min as i64, q_max as i64) as i32
        }
    };
    let arith = match profile.relu_method(&ctx.op.kind) {
        ReluMethod::Requantize(rounding) => ReluArith::Requantize {
            z_in,
            z_out,
            // LiteRT and TFLite Micro divide the scales in f32 before widening.
            multiplier: Multiplier::from_real((s_in / s_out) as f64),
            rounding,
            lo: q(range.0, s_out, z_out),
            hi: q(range.1, s_out, z_out),
        },
        ReluMethod::ClampInInputScale => ReluArith::ClampInInputScale { lo: q(range.0, s_in, z_in), hi: q(range.1, s_in, z_in) },
    };
    Ok(Params { input, output, range, arith, output_shape: ctx.shape(output), output_dtype: ctx.dtype(output) })
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = ints(input, self.input)?;
        let out = match &self.arith {
            ReluArith::Requantize { z_in, z_out, multiplier, rounding, lo, hi } => x
                .iter()
                .map(|&q| (*z_out as i64 + rounding.apply(q - z_in, multiplier) as i64).clamp(*lo as i64, *hi as i64) as i32)
                .collect(),
            ReluArith::ClampInInputScale { lo, hi } => x.iter().map(|&q| q.clamp(*lo, *hi)).collect(),
        };
        Ok(narrow(self.output_dtype, &self.output_shape, out))
    }
}
