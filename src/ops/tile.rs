//! TILE: the input repeated `multiples[d]` times along each dimension d:
//! `out[i₀, …, i_k] = in[i₀ mod n₀, …, i_k mod n_k]` (a pure copy).

use super::index_map::{flat, same_type_io, Fill, IndexMap};
use super::OpContext;
use crate::error::EngineError;
use crate::profile::Profile;

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<IndexMap, EngineError> {
    let (input, output, is, os) = same_type_io(ctx)?;
    let m = ctx.const_i32(ctx.input(1)?, "multiples")?;
    if m.len() != is.len() || m.iter().any(|&v| v < 0) {
        return Err(ctx.bad(format!("multiples {m:?} for an input of rank {}", is.len())));
    }
    let expected: Vec<usize> = is.iter().zip(&m).map(|(&n, &k)| n * k as usize).collect();
    if os != expected {
        return Err(ctx.bad(format!("output shape {os:?}, expected {expected:?}")));
    }
    let mut idx = vec![0; is.len()];
    Ok(IndexMap::build(input, output, &is, &expected, Fill::Int(0), |o| {
        for d in 0..o.len() {
            idx[d] = o[d] % is[d];
        }
        Some(flat(&idx, &is))
    }))
}
