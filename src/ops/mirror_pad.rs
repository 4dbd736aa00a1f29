//! MIRROR_PAD: padding by reflection.
//!
//! For a dimension of size n with `before` padding, output position i reads
//! input position j = i − before, reflected back into `[0, n)`:
//!
//! ```text
//! REFLECT   (offset 1, the edge is not repeated):  j < 0 → −j,       j ≥ n → 2n − 2 − j
//! SYMMETRIC (offset 0, the edge is repeated):      j < 0 → −j − 1,   j ≥ n → 2n − 1 − j
//! ```
//!
//! (LiteRT `mirror_pad.cc`, `GetInputDimension`; a pure copy.)

use super::index_map::{flat, same_type_io, Fill, IndexMap};
use super::OpContext;
use crate::error::EngineError;
use crate::model::Options;
use crate::profile::Profile;

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<IndexMap, EngineError> {
    let (input, output, is, os) = same_type_io(ctx)?;
    let offset: isize = match ctx.op.options {
        Options::MirrorPad { mode: 0 } => 1,
        Options::MirrorPad { mode: 1 } => 0,
        ref other => return Err(ctx.bad(format!("mirror pad mode missing or invalid: {other:?}"))),
    };
    let p = ctx.const_i32(ctx.input(1)?, "paddings")?;
    if p.len() != 2 * is.len() || p.iter().any(|&v| v < 0) {
        return Err(ctx.bad(format!("paddings {p:?} for rank {}", is.len())));
    }
    for (d, &n) in is.iter().enumerate() {
        let limit = n as i32 - offset as i32;
        if p[2 * d] > limit || p[2 * d + 1] > limit {
            return Err(ctx.bad(format!("paddings {:?} of dimension {d} exceed its size {n} for this mode", &p[2 * d..2 * d + 2])));
        }
    }
    let expected: Vec<usize> = is.iter().enumerate().map(|(d, &n)| n + (p[2 * d] + p[2 * d + 1]) as usize).collect();
    if os != expected {
        return Err(ctx.bad(format!("output shape {os:?}, expected {expected:?}")));
    }
    let mut idx = vec![0; is.len()];
    Ok(IndexMap::build(input, output, &is, &expected, Fill::Int(0), |o| {
        for d in 0..o.len() {
            let (n, j) = (is[d] as isize, o[d] as isize - p[2 * d] as isize);
            idx[d] = if j < 0 { -j - 1 + offset } else if j >= n { 2 * n - 1 - offset - j } else { j } as usize;
        }
        Some(flat(&idx, &is))
    }))
}
