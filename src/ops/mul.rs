//! MUL of two int8 tensors, with NumPy broadcasting:
//!
//! ```text
//!     y = clamp( Z_out + round(M · (a − Z_a)·(b − Z_b)) ),   M = S_a·S_b / S_out
//! ```
//!
//! `round(M · ·)` is the profile's [`Profile::mul_rounding`].

use super::add::{Binary, Broadcast};
use super::{ints, narrow, OpContext};
use crate::error::EngineError;
use crate::model::{Activation, DType};
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
    let Binary { activation, a, b, output, s_a, z_a, s_b, z_b, s_out, z_out, broadcast, act_min, act_max, output_dtype } =
        Binary::read(ctx, |t, role| ctx.require_int8_or_uint8(t, role))?;
    Ok(Params {
        inputs: [a, b],
        output,
        broadcast,
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
        let out = self.broadcast.map(&x, &y, |p, q| self.element(p, q));
        Ok(narrow(self.output_dtype, &self.broadcast.output_shape, out))
    }

    /// One output element from one element of each input.
    #[inline]
    pub fn element(&self, p: i32, q: i32) -> i32 {
        let prod = (p - self.z_a).wrapping_mul(q - self.z_b);
        (self.rounding.apply(prod, &self.multiplier) as i64 + self.z_out as i64).clamp(self.act_min as i64, self.act_max as i64) as i32
    }
}
