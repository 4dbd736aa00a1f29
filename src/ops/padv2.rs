//! PADV2: PAD with an explicit constant.
//!
//! The fill is the optional third input, a one-element tensor of the
//! input's dtype. For a quantized tensor it is already quantized with the
//! output's scale and zero point (LiteRT requires that) and is copied as is;
//! without it the fill is the quantized 0.0, the zero point (LiteRT `pad.cc`).

use super::index_map::{flat, same_type_io, zero_fill, Fill, IndexMap};
use super::OpContext;
use crate::error::EngineError;
use crate::profile::Profile;
use crate::tensor::{Data, Value};

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<IndexMap, EngineError> {
    let (input, output, is, os) = same_type_io(ctx)?;
    let p = ctx.const_i32(ctx.input(1)?, "paddings")?;
    if p.len() != 2 * is.len() || p.iter().any(|&v| v < 0) {
        return Err(ctx.bad(format!("paddings {p:?} for rank {}", is.len())));
    }
    let expected: Vec<usize> = is.iter().enumerate().map(|(d, &n)| n + (p[2 * d] + p[2 * d + 1]) as usize).collect();
    if os != expected {
        return Err(ctx.bad(format!("output shape {os:?}, expected {expected:?}")));
    }
    let fill = match ctx.op.input(2) {
        None => zero_fill(ctx, output),
        Some(t) => {
            ctx.require_same(t, output, true)?;
            let v = Value::from_constant(&ctx.model.tensors[t]).ok_or_else(|| ctx.unsupported(format!("non-constant constant_values (tensor {t})")))?;
            match (&v.data, v.len()) {
                (Data::F32(x), 1) => Fill::Float(x[0]),
                (_, 1) => Fill::Int(v.to_i64_vec().unwrap_or_default()[0]),
                _ => return Err(ctx.bad(format!("constant_values tensor {t} has {} elements (1 expected)", v.len()))),
            }
        }
    };
    let mut idx = vec![0; is.len()];
    Ok(IndexMap::build(input, output, &is, &expected, fill, |o| {
        for d in 0..o.len() {
            let j = o[d] as isize - p[2 * d] as isize;
            if j < 0 || j >= is[d] as isize {
                return None;
            }
            idx[d] = j as usize;
        }
        Some(flat(&idx, &is))
    }))
}
