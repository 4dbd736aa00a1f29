//! SPACE_TO_BATCH_ND: the spatial grid, padded, is split into `bh·bw`
//! interleaved sub-grids stacked along the batch — how older converters
//! expressed a dilated convolution (SPACE_TO_BATCH_ND → CONV_2D →
//! BATCH_TO_SPACE_ND).
//!
//! For output batch `ob = (sh·bw + sw)·N + b`:
//! `out[ob, y, x, c] = in[b, y·bh + sh − pad_top, x·bw + sw − pad_left, c]`,
//! and the quantized 0.0 (the output's zero point) where that falls in the
//! padding (LiteRT `reference_ops::SpaceToBatchND`, `output_offset`).

use super::index_map::{flat, require_4d, same_type_io, zero_fill, IndexMap};
use super::OpContext;
use crate::error::EngineError;
use crate::profile::Profile;

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<IndexMap, EngineError> {
    let (input, output, _, _) = same_type_io(ctx)?;
    let [n, h, w, c] = require_4d(ctx, input, "input")?;
    let (bh, bw) = block_shape(ctx)?;
    let p = ctx.const_i32(ctx.input(2)?, "paddings")?;
    if p.len() != 4 || p.iter().any(|&v| v < 0) {
        return Err(ctx.bad(format!("paddings {p:?} (4 non-negative values for 2 spatial dimensions expected)")));
    }
    let (pt, pb, pl, pr) = (p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize);
    let (ph, pw) = (h + pt + pb, w + pl + pr);
    let expected = [n * bh * bw, ph / bh, pw / bw, c];
    if ph % bh != 0 || pw % bw != 0 || ctx.shape(output) != expected {
        return Err(ctx.bad(format!("output shape {:?}, expected {expected:?}", ctx.shape(output))));
    }
    Ok(IndexMap::build(input, output, &[n, h, w, c], &expected, zero_fill(ctx, output), |o| {
        let (b, s) = (o[0] % n, o[0] / n);
        let (y, x) = ((o[1] * bh + s / bw) as isize - pt as isize, (o[2] * bw + s % bw) as isize - pl as isize);
        ((0..h as isize).contains(&y) && (0..w as isize).contains(&x)).then(|| flat(&[b, y as usize, x as usize, o[3]], &[n, h, w, c]))
    }))
}

/// The constant `block_shape` input (two positive values) of SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND.
pub(crate) fn block_shape(ctx: &OpContext) -> Result<(usize, usize), EngineError> {
    let b = ctx.const_i32(ctx.input(1)?, "block_shape")?;
    match b[..] {
        [bh, bw] if bh >= 1 && bw >= 1 => Ok((bh as usize, bw as usize)),
        _ => Err(ctx.unsupported(format!("block_shape {b:?} (two positive values for a 4-D input are supported)"))),
    }
}
