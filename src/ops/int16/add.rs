//! ADD and SUB, 16x8: the int8 recipe of [`crate::ops::add`] with a left
//! shift of **15** instead of 20 (`65535 · 2^15 < 2^31`, so the sum of the
//! two rescaled inputs still fits in int32), zero points 0:
//!
//! ```text
//!     a' = round(M_a · a · 2^15),  b' = round(M_b · b · 2^15),   M_a = S_a/(2·max), M_b = S_b/(2·max)
//!     y  = clamp(round(M_out · (a' ± b'))),                      M_out = 2·max / (2^15 · S_out)
//! ```
//!
//! every `round(M · ·)` the gemmlowp double rounding
//! (`MultiplyByQuantizedMultiplierSmallerThanOneExp`). LiteRT's reference and
//! optimized kernels and TFLite Micro agree on every committed tensor.
//! (LiteRT's optimized `AddElementwiseInt16` has an AVX2 block path that
//! floors its high-mul; the `ai-edge-litert` wheel the goldens come from is
//! not built with it, so there is nothing to choose.)

use crate::error::EngineError;
use crate::model::OpKind;
use crate::ops::add::{AddArith, Binary, Params as AddParams};
use crate::ops::OpContext;
use crate::profile::{Multiplier, Profile, Rounding};
use crate::tensor::Value;

/// The left shift of the 16-bit recipe.
pub const LEFT_SHIFT: i32 = 15;

/// Everything a 16x8 ADD or SUB needs: the int8 kernel's parameters with
/// the 16-bit constants.
#[derive(Clone, Debug)]
pub struct Params {
    pub inputs: [usize; 2],
    pub output: usize,
    pub add: AddParams,
}

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    let sign_b = if ctx.op.kind == OpKind::Sub { -1 } else { 1 };
    let Binary { activation, a, b, output, s_a, s_b, s_out, broadcast, act_min, act_max, output_dtype, .. } =
        Binary::read(ctx, |t, role| super::require_int16(ctx, t, role).map(|_| ()))?;
    let twice_max = 2.0 * s_a.max(s_b) as f64;
    let arith = AddArith::LeftShift {
        left_shift: LEFT_SHIFT,
        z_a: 0,
        z_b: 0,
        m_a: Multiplier::from_real(s_a as f64 / twice_max),
        m_b: Multiplier::from_real(s_b as f64 / twice_max),
        m_out: Multiplier::from_real(twice_max / ((1i64 << LEFT_SHIFT) as f64 * s_out as f64)),
        rounding: Rounding::FixedPointDoubleRounding,
        sign_b,
    };
    let add = AddParams { inputs: [a, b], output, broadcast, activation, z_out: 0, act_min, act_max, output_dtype, arith, neon: None };
    Ok(Params { inputs: [a, b], output, add })
}

impl Params {
    pub fn eval(&self, a: &Value, b: &Value) -> Result<Value, EngineError> {
        self.add.eval(a, b)
    }
}
