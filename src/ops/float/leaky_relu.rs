//! LEAKY_RELU (float32): `x > 0 ? x : α·x`, the reference kernel's
//! expression (LiteRT's optimized path uses the same function).

use super::UnaryFn;
use crate::error::EngineError;
use crate::model::Options;
use crate::ops::OpContext;

pub(crate) fn prepare(ctx: &OpContext) -> Result<UnaryFn, EngineError> {
    match &ctx.op.options {
        Options::LeakyRelu { alpha } => Ok(UnaryFn::LeakyRelu { alpha: *alpha }),
        other => Err(ctx.bad(format!("unexpected options {other:?}"))),
    }
}

/// `x` if positive, else `alpha · x`.
#[inline]
pub fn leaky_relu(x: f32, alpha: f32) -> f32 {
    if x > 0.0 {
        x
    } else {
        x * alpha
    }
}
