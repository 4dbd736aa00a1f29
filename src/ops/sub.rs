//! SUB: [`super::add`] with the second input's scaled value subtracted
//! (`a' − b'` in the left-shift recipe, a negative multiplier for `b` in
//! XNNPACK's). Same [`super::add::Params`].

use super::add::{prepare_add_sub, Params};
use super::OpContext;
use crate::error::EngineError;
use crate::profile::Profile;

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    prepare_add_sub(ctx, profile, -1)
}
