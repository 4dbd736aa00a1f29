//! RELU, RELU6 and RELU_N1_TO_1 (float32): the input clamped to `[0, ∞)`,
//! `[0, 6]` or `[−1, 1]`, as the reference kernels write it:
//! `x > hi ? hi : x < lo ? lo : x` (so −0.0 stays −0.0).

use super::UnaryFn;
use crate::error::EngineError;
use crate::model::OpKind;
use crate::ops::OpContext;

pub(crate) fn prepare(ctx: &OpContext) -> Result<UnaryFn, EngineError> {
    let (lo, hi) = match ctx.op.kind {
        OpKind::Relu => (0.0, f32::INFINITY),
        OpKind::Relu6 => (0.0, 6.0),
        OpKind::ReluN1To1 => (-1.0, 1.0),
        _ => return Err(ctx.unsupported("float32")),
    };
    Ok(UnaryFn::Relu { lo, hi })
}

/// `x` clamped to `[lo, hi]`.
#[inline]
pub fn relu(x: f32, lo: f32, hi: f32) -> f32 {
    if x > hi {
        hi
    } else if x < lo {
        lo
    } else {
        x
    }
}
