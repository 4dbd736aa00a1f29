//! Shared pieces of the kernels' unit tests: a seeded generator and
//! convolution geometries built from shapes the way `prepare` builds them.

use super::conv::{output_size, padding_before, Geometry};
use crate::model::Padding;

/// A 64-bit linear congruential generator; the high bits as u32.
pub(crate) fn lcg(seed: &mut u64) -> u32 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*seed >> 33) as u32
}

/// The geometry of a convolution (or pool) over an NHWC input
/// `(batches, in_h, in_w, in_c)` with `out_c` output channels.
pub(crate) fn geometry(
    batches: usize,
    (in_h, in_w, in_c): (usize, usize, usize),
    out_c: usize,
    k: (usize, usize),
    stride: (usize, usize),
    dil: (usize, usize),
    padding: Padding,
) -> Geometry {
    let (out_h, out_w) = (output_size(padding, in_h, k.0, stride.0, dil.0), output_size(padding, in_w, k.1, stride.1, dil.1));
    Geometry {
        batches,
        in_h,
        in_w,
        in_c,
        out_h,
        out_w,
        out_c,
        k_h: k.0,
        k_w: k.1,
        stride_h: stride.0,
        stride_w: stride.1,
        dil_h: dil.0,
        dil_w: dil.1,
        pad_h: padding_before(in_h, out_h, k.0, stride.0, dil.0),
        pad_w: padding_before(in_w, out_w, k.1, stride.1, dil.1),
    }
}
