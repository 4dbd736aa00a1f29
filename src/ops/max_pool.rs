//! MAX_POOL_2D (int8, uint8): the largest input in each window (positions in the padding
//! are skipped), clamped to the fused activation's range. Input and output
//! share scale and zero point, so no arithmetic happens on the values. The
//! options, geometry and loop are [`super::pool`]'s.

use super::pool::Pooling;
use super::OpContext;
use crate::error::EngineError;
use crate::profile::Profile;

/// Everything MAX_POOL_2D needs, computed once (shared with AVERAGE_POOL_2D).
pub use super::pool::Params;

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    super::pool::prepare(ctx, Pooling::Max)
}

/// The largest value of a window (`i32::MIN` for an empty one).
#[inline]
pub fn max(window: impl Iterator<Item = i32>) -> i32 {
    window.fold(i32::MIN, i32::max)
}
