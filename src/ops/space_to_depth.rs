//! SPACE_TO_DEPTH: each `bs × bs` block of pixels becomes `bs·bs` channel groups.
//!
//! `out[b, y, x, (dy·bs + dx)·C_in + c] = in[b, y·bs + dy, x·bs + dx, c]`
//! (LiteRT `reference_ops::SpaceToDepth`; a pure copy, see [`super::index_map`]).

use super::depth_to_space::block_size;
use super::index_map::{flat, require_4d, same_type_io, Fill, IndexMap};
use super::OpContext;
use crate::error::EngineError;
use crate::profile::Profile;

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<IndexMap, EngineError> {
    let (input, output, _, _) = same_type_io(ctx)?;
    let [n, h, w, c] = require_4d(ctx, input, "input")?;
    let bs = block_size(ctx)?;
    let expected = [n, h / bs, w / bs, c * bs * bs];
    if h % bs != 0 || w % bs != 0 || ctx.shape(output) != expected {
        return Err(ctx.bad(format!("input {:?} with block size {bs} cannot give output {:?}", [n, h, w, c], ctx.shape(output))));
    }
    Ok(IndexMap::build(input, output, &[n, h, w, c], &expected, Fill::Int(0), |o| {
        let (b, y, x, k) = (o[0], o[1], o[2], o[3]);
        let (block, ch) = (k / c, k % c);
        Some(flat(&[b, y * bs + block / bs, x * bs + block % bs, ch], &[n, h, w, c]))
    }))
}
