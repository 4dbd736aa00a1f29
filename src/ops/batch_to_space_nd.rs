//! BATCH_TO_SPACE_ND: the inverse of SPACE_TO_BATCH_ND, then a crop.
//!
//! Output pixel `(y, x)` comes from the uncropped position `(y + crop_top,
//! x + crop_left)`, which lies in sub-grid `(sh, sw) = ((y + crop_top) % bh,
//! (x + crop_left) % bw)` at `((y + crop_top) / bh, (x + crop_left) / bw)`:
//! `out[b, y, x, c] = in[(sh·bw + sw)·N + b, (y + ct) / bh, (x + cl) / bw, c]`
//! (LiteRT `reference_ops::BatchToSpaceND`; a pure copy).

use super::index_map::{flat, require_4d, same_type_io, Fill, IndexMap};
use super::space_to_batch_nd::block_shape;
use super::OpContext;
use crate::error::EngineError;
use crate::profile::Profile;

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<IndexMap, EngineError> {
    let (input, output, _, _) = same_type_io(ctx)?;
    let [nb, h, w, c] = require_4d(ctx, input, "input")?;
    let (bh, bw) = block_shape(ctx)?;
    let p = ctx.const_i32(ctx.input(2)?, "crops")?;
    if p.len() != 4 || p.iter().any(|&v| v < 0) || nb % (bh * bw) != 0 {
        return Err(ctx.bad(format!("crops {p:?} with block shape {:?} on input {:?}", (bh, bw), [nb, h, w, c])));
    }
    let (ct, cb, cl, cr) = (p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize);
    let n = nb / (bh * bw);
    let expected = [n, (h * bh).saturating_sub(ct + cb), (w * bw).saturating_sub(cl + cr), c];
    if ctx.shape(output) != expected {
        return Err(ctx.bad(format!("output shape {:?}, expected {expected:?}", ctx.shape(output))));
    }
    Ok(IndexMap::build(input, output, &[nb, h, w, c], &expected, Fill::Int(0), |o| {
        let (yy, xx) = (o[1] + ct, o[2] + cl);
        let ib = ((yy % bh) * bw + xx % bw) * n + o[0];
        Some(flat(&[ib, yy / bh, xx / bw, o[3]], &[nb, h, w, c]))
    }))
}
