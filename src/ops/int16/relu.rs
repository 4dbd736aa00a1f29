//! RELU, RELU6, RELU_N1_TO_1 and LEAKY_RELU as standalone 16x8 ops.
//!
//! * RELU family: the int8 choice [`Profile::relu_method`] holds for int16
//!   too — LiteRT (and TFLite Micro's RELU) requantize,
//!   `y = clamp(round(M·x), q(lo), q(hi))` with `M = S_in/S_out` divided in
//!   f32 and the bounds `q(v) = round(v/S_out)`; TFLite Micro's RELU6 and
//!   RELU_N1_TO_1 clamp in the input's scale and copy, ignoring the output's.
//! * LEAKY_RELU: two multipliers, `S_in/S_out` for `x ≥ 0` and
//!   `S_in·α/S_out` below (f32 products), gemmlowp double rounding, in every
//!   runtime (XNNPACK takes no int16 op).

use super::{i16s, require_int16, value16};
use crate::error::EngineError;
use crate::model::{OpKind, Options};
use crate::ops::OpContext;
use crate::profile::{Multiplier, Profile, ReluMethod, Rounding};
use crate::tensor::Value;

/// The computation, with its constants.
#[derive(Clone, Debug)]
pub enum Relu16 {
    /// `clamp(round(M·x), lo, hi)` (LEAKY_RELU: `M_alpha` below zero, no clamp but the dtype's).
    Requantize { identity: Multiplier, alpha: Option<Multiplier>, lo: i32, hi: i32 },
    /// `clamp(x, lo, hi)` in the input's scale.
    ClampInInputScale { lo: i32, hi: i32 },
}

/// Everything a 16x8 RELU-family op or LEAKY_RELU needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub arith: Relu16,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    let s_in = require_int16(ctx, input, "input")?;
    let s_out = require_int16(ctx, output, "output")?;
    crate::ops::same_element_count(ctx, input, output)?;
    // `Z + round(v/S)` within int16, as `CalculateReluOpData` / `FloatToQuantizedType`.
    let q = |v: f32, s: f32| -> i32 { if v.is_infinite() { 32767 } else { ((v / s).round() as i64).clamp(-32768, 32767) as i32 } };
    let range = match ctx.op.kind {
        OpKind::Relu => Some((0.0, f32::INFINITY)),
        OpKind::Relu6 => Some((0.0, 6.0)),
        OpKind::ReluN1To1 => Some((-1.0, 1.0)),
        _ => None,
    };
    let arith = match range {
        Some((lo, hi)) => match profile.relu_method(&ctx.op.kind) {
            ReluMethod::Requantize(_) => {
                Relu16::Requantize { identity: Multiplier::from_real((s_in / s_out) as f64), alpha: None, lo: q(lo, s_out), hi: q(hi, s_out) }
            }
            ReluMethod::ClampInInputScale => Relu16::ClampInInputScale { lo: q(lo, s_in), hi: q(hi, s_in) },
        },
        None => {
            let alpha = match &ctx.op.options {
                Options::LeakyRelu { alpha } => *alpha,
                other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
            };
            Relu16::Requantize {
                identity: Multiplier::from_real((s_in / s_out) as f64),
                alpha: Some(Multiplier::from_real((s_in * alpha / s_out) as f64)),
                lo: -32768,
                hi: 32767,
            }
        }
    };
    Ok(Params { input, output, arith, output_shape: ctx.shape(output) })
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = i16s(input, self.input)?;
        let out = x
            .iter()
            .map(|&q| {
                let q = q as i32;
                let y = match &self.arith {
                    Relu16::Requantize { identity, alpha, lo, hi } => {
                        let m = match alpha {
                            Some(a) if q < 0 => a,
                            _ => identity,
                        };
                        Rounding::FixedPointDoubleRounding.apply(q, m).clamp(*lo, *hi)
                    }
                    Relu16::ClampInInputScale { lo, hi } => q.clamp(*lo, *hi),
                };
                y as i16
            })
            .collect();
        Ok(value16(&self.output_shape, out))
    }

    /// The profile choice behind this op, for `inspect`.
    pub fn choice(&self) -> String {
        match &self.arith {
            Relu16::Requantize { alpha: Some(_), .. } => "none: LEAKY_RELU is computed the same way in every runtime".into(),
            Relu16::Requantize { .. } => "relu_method = requantize".into(),
            Relu16::ClampInInputScale { .. } => "relu_method = clamp in the input's scale (output scale ignored)".into(),
        }
    }
}
