//! AVERAGE_POOL_2D (int8, uint8): the mean of the inputs in each window that lie inside the
//! input (padding is not counted), rounded to nearest with ties away from
//! zero in integers — `(Σ ± n/2) / n` with C's truncating division — then
//! clamped to the fused activation's range. Input and output share scale and
//! zero point, so the zero point passes through the mean unchanged. The options,
//! geometry and loop are [`super::pool`]'s.

use super::pool::Pooling;
use super::OpContext;
use crate::error::EngineError;
use crate::profile::Profile;

/// Everything AVERAGE_POOL_2D needs, computed once (shared with MAX_POOL_2D).
pub use super::pool::Params;

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    super::pool::prepare(ctx, Pooling::Average)
}

/// `sum / count` rounded half away from zero, as the integer kernels do it.
#[inline]
pub fn rounded_mean(sum: i32, count: i32) -> i32 {
    if sum > 0 {
        (sum + count / 2) / count
    } else {
        (sum - count / 2) / count
    }
}

/// The rounded mean of the values of a window, `None` for an empty one.
#[inline]
pub fn mean(window: impl Iterator<Item = i32>) -> Option<i32> {
    let (sum, count) = window.fold((0i32, 0i32), |(sum, count), v| (sum + v, count + 1));
    (count > 0).then(|| rounded_mean(sum, count))
}
