//! DEPTH_TO_SPACE: blocks of `bs·bs` channel groups become `bs × bs` pixels.
//!
//! `out[b, y, x, c] = in[b, y / bs, x / bs, ((y % bs)·bs + x % bs)·C_out + c]`
//! (LiteRT `reference_ops::DepthToSpace`; every runtime copies the same
//! bytes, see [`super::index_map`]).

use super::index_map::{flat, require_4d, same_type_io, Fill, IndexMap};
use super::OpContext;
use crate::error::EngineError;
use crate::model::Options;
use crate::profile::Profile;

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<IndexMap, EngineError> {
    let (input, output, _, _) = same_type_io(ctx)?;
    let [n, h, w, c] = require_4d(ctx, input, "input")?;
    let bs = block_size(ctx)?;
    let expected = [n, h * bs, w * bs, c / (bs * bs)];
    if c % (bs * bs) != 0 || ctx.shape(output) != expected {
        return Err(ctx.bad(format!("input {:?} with block size {bs} cannot give output {:?}", [n, h, w, c], ctx.shape(output))));
    }
    let c_out = expected[3];
    Ok(IndexMap::build(input, output, &[n, h, w, c], &expected, Fill::Int(0), |o| {
        let (b, y, x, k) = (o[0], o[1], o[2], o[3]);
        Some(flat(&[b, y / bs, x / bs, ((y % bs) * bs + x % bs) * c_out + k], &[n, h, w, c]))
    }))
}

/// The `block_size` option (≥ 1) of DEPTH_TO_SPACE and SPACE_TO_DEPTH.
pub(crate) fn block_size(ctx: &OpContext) -> Result<usize, EngineError> {
    match ctx.op.options {
        Options::BlockSize { block_size } if block_size >= 1 => Ok(block_size as usize),
        ref other => Err(ctx.bad(format!("block size option missing or invalid: {other:?}"))),
    }
}
