//! MUL of two int8 tensors, with NumPy broadcasting:
//!
//! ```text
//!     y = clamp( Z_out + round(M · (a − Z_a)·(b − Z_b)) ),   M = S_a·S_b / S_out
//! ```
//!
//! `round(M · ·)` is the profile's [`Profile::mul_rounding`].

use super::add::Broadcast;
use super::{fused_range, ints, narrow, OpContext};
use crate::error::EngineError;
use crate::model::{Activation, DType, Options};
use crate::profile::{Multiplier, Profile, Rounding};
use crate::tensor::Value;

/// Everything MUL needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub inputs: [usize; 2],
    pub output: usize,
    pub broadcast: Broadcast,
    pub activation: Activation,
    pub z_a: i32,
    pub z_b: i32,
    pub z_out: i32,
    pub multiplier: Multiplier,
    pub rounding: Rounding,
    pub act_min: i32,
    pub act_max: i32,
    pub output_dtype: DType,
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let activation = match &ctx.op.options {
        Options::Elementwise { activation } => *activation,
        Options::None => Activation::None,
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    if !matches!(activation, Activation::None | Activation::Relu | Activation::Relu6 | Activation::ReluN1To1) {
        return Err(ctx.unsupported(format!("fused activation {}", activation.name())));
    }
    let (a, b, output) = (ctx.input(0)?, ctx.input(1)?, ctx.output(0)?);
    for (t, role) in [(a, "input 0"), (b, "input 1"), (output, "output")] {
        ctx.require_int8(t, role)?;
    }
    let (s_a, z_a) = ctx.per_tensor_quant(a, "input 0")?;
    let (s_b, z_b) = ctx.per_tensor_quant(b, "input 1")?;
    let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
    let output_dtype = ctx.dtype(output);
    let (act_min, act_max) = fused_range(activation, output_dtype, s_out, z_out);
    Ok(Params {
        inputs: [a, b],
        output,
        broadcast: Broadcast::new(ctx, a, b, output)?,
        activation,
        z_a,
        z_b,
        z_out,
        multiplier: Multiplier::from_scales(s_a, s_b, s_out),
        rounding: profile.mul_rounding(),
        act_min,
        act_max,
        output_dtype,
    })
}

impl Params {
    pub fn eval(&self, a: &Value, b: &Value) -> Result<Value, EngineError> {
        let (x, y) = (ints(a, self.inputs[0])?, ints(b, self.inputs[1])?);
        let out = self.broadcast.map(&x, &y, |p, q| {
            let prod = (p - self.z_a).wrapping_mul(q - self.z_b);
            (self.rounding.apply(prod, &self.multiplier) as i64 + self.z_out as i64).clamp(self.act_min as i64, self.act_max as i64) as i32
        });
        Ok(narrow(self.output_dtype, &self.broadcast.output_shape, out))
    }
}
