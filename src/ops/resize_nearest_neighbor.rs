//! RESIZE_NEAREST_NEIGHBOR: each output pixel copies the input pixel nearest
//! its source position.
//!
//! With `scale = in / out` (or `(in − 1)/(out − 1)` when `align_corners`)
//! computed in f32, and `offset = 0.5` with `half_pixel_centers`, output
//! coordinate y reads
//!
//! ```text
//! align_corners:   min(round((y + offset)·scale), in − 1)    (round: half away from zero)
//! otherwise:       min(floor((y + offset)·scale), in − 1)
//! half_pixel_centers: then max(·, 0)
//! ```
//!
//! all in f32, as LiteRT's `reference_ops::GetNearestNeighbor` (which every
//! runtime runs for int8 and float32). The map is computed once.

use super::index_map::{flat, require_4d, same_type_io, Fill, IndexMap};
use super::OpContext;
use crate::error::EngineError;
use crate::model::Options;
use crate::profile::Profile;

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<IndexMap, EngineError> {
    let (input, output, _, _) = same_type_io(ctx)?;
    let [n, h, w, c] = require_4d(ctx, input, "input")?;
    require_pixels(ctx, &[n, h, w, c])?;
    let (align, half) = resize_flags(ctx)?;
    let (oh, ow) = output_size(ctx)?;
    let expected = [n, oh, ow, c];
    if ctx.shape(output) != expected {
        return Err(ctx.bad(format!("output shape {:?}, expected {expected:?}", ctx.shape(output))));
    }
    let ys: Vec<usize> = (0..oh).map(|y| nearest(y, h, oh, align, half)).collect();
    let xs: Vec<usize> = (0..ow).map(|x| nearest(x, w, ow, align, half)).collect();
    Ok(IndexMap::build(input, output, &[n, h, w, c], &expected, Fill::Int(0), |o| {
        Some(flat(&[o[0], ys[o[1]], xs[o[2]], o[3]], &[n, h, w, c]))
    }))
}

/// The input coordinate output coordinate `v` reads (LiteRT `GetNearestNeighbor`).
pub fn nearest(v: usize, in_size: usize, out_size: usize, align_corners: bool, half_pixel_centers: bool) -> usize {
    let scale = if align_corners && out_size > 1 {
        (in_size - 1) as f32 / (out_size - 1) as f32
    } else {
        in_size as f32 / out_size as f32
    };
    let offset = if half_pixel_centers { 0.5f32 } else { 0.0 };
    let pos = (v as f32 + offset) * scale;
    let i = if align_corners { pos.round() as i64 } else { pos.floor() as i64 };
    let i = i.min(in_size as i64 - 1);
    (if half_pixel_centers { i.max(0) } else { i }) as usize
}

/// `(align_corners, half_pixel_centers)` of RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR.
pub(crate) fn resize_flags(ctx: &OpContext) -> Result<(bool, bool), EngineError> {
    match ctx.op.options {
        Options::Resize { align_corners, half_pixel_centers } => Ok((align_corners, half_pixel_centers)),
        Options::None => Ok((false, false)),
        ref other => Err(ctx.bad(format!("resize options expected, found {other:?}"))),
    }
}

/// The constant `size` input `[out_height, out_width]` of the resize ops.
pub(crate) fn output_size(ctx: &OpContext) -> Result<(usize, usize), EngineError> {
    let s = ctx.const_i32(ctx.input(1)?, "size")?;
    match s[..] {
        [h, w] if h >= 1 && w >= 1 => Ok((h as usize, w as usize)),
        _ => Err(ctx.bad(format!("size {s:?} (two positive values expected)"))),
    }
}

/// An image with no rows or no columns has no pixel to resize from (a
/// bit-flipped shape): refused, naming the input shape.
pub(crate) fn require_pixels(ctx: &OpContext, input_shape: &[usize; 4]) -> Result<(), EngineError> {
    if input_shape[1] == 0 || input_shape[2] == 0 {
        return Err(ctx.bad(format!("input shape {input_shape:?} has no pixel to resize from")));
    }
    Ok(())
}
