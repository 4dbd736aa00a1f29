//! MUL, 16x8: `y = clamp(round(M · a · b))` with the int32 product `a·b`
//! (at most 2^30 in magnitude) and `M = S_a·S_b / S_out` as `M0·2^shift`,
//! rounded by the gemmlowp double rounding in every runtime. The runtimes
//! differ in how they compute `M` ([`MulMultiplier16`]): LiteRT multiplies
//! and divides the f32 scales in f32, TFLite Micro in double; the two `M0`
//! can differ in their last bits.

use crate::error::EngineError;
use crate::ops::add::Binary;
use crate::ops::mul::Params as MulParams;
use crate::ops::OpContext;
use crate::profile::{Multiplier, MulMultiplier16, Profile, Rounding};
use crate::tensor::Value;

/// Everything a 16x8 MUL needs: the int8 kernel's parameters with the
/// profile's multiplier.
#[derive(Clone, Debug)]
pub struct Params {
    pub inputs: [usize; 2],
    pub output: usize,
    pub multiplier_precision: MulMultiplier16,
    pub mul: MulParams,
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let Binary { activation, a, b, output, s_a, s_b, s_out, broadcast, act_min, act_max, output_dtype, .. } =
        Binary::read(ctx, |t, role| super::require_int16(ctx, t, role).map(|_| ()))?;
    let multiplier_precision = profile.mul16_multiplier();
    let multiplier = match multiplier_precision {
        MulMultiplier16::F32Product => Multiplier::from_real((s_a * s_b / s_out) as f64),
        MulMultiplier16::DoubleProduct => Multiplier::from_scales(s_a, s_b, s_out),
    };
    let mul = MulParams {
        inputs: [a, b],
        output,
        broadcast,
        activation,
        z_a: 0,
        z_b: 0,
        z_out: 0,
        multiplier,
        rounding: Rounding::FixedPointDoubleRounding,
        act_min,
        act_max,
        output_dtype,
    };
    Ok(Params { inputs: [a, b], output, multiplier_precision, mul })
}

impl Params {
    pub fn eval(&self, a: &Value, b: &Value) -> Result<Value, EngineError> {
        self.mul.eval(a, b)
    }
}
