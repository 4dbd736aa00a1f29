//! MAX_POOL_2D and AVERAGE_POOL_2D (float32), LiteRT's reference loops over
//! the window taps inside the input (padding is skipped, not counted):
//!
//! ```text
//!     max:      m = −FLT_MAX;  for each tap: m = std::max(m, x)      (m < x ? x : m)
//!     average:  total = 0.0f, count = 0.0f;  for each tap: total += x, count += 1;  total / count
//! ```
//!
//! then the fused activation's clamp. Options and geometry are the integer
//! pools' `ops::pool::read`.

use super::{activation_range, clamp};
use crate::error::EngineError;
use crate::model::OpKind;
use crate::ops::conv::Geometry;
use crate::ops::pool::Pooling;
use crate::ops::OpContext;

/// Everything a float32 pool needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub pooling: Pooling,
    pub input: usize,
    pub output: usize,
    pub geometry: Geometry,
    pub act: (f32, f32),
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let pooling = match ctx.op.kind {
        OpKind::MaxPool2d => Pooling::Max,
        _ => Pooling::Average,
    };
    let (input, output, geometry, _, activation) = crate::ops::pool::read(ctx)?;
    Ok(Params { pooling, input, output, geometry, act: activation_range(activation), output_shape: ctx.shape(output) })
}

impl Params {
    pub fn eval(&self, x: &[f32]) -> Vec<f32> {
        let g = &self.geometry;
        let mut out = Vec::with_capacity(g.out_len());
        for b in 0..g.batches {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for c in 0..g.out_c {
                        let window = g.inside(oy, ox).map(|(_, _, iy, ix)| x[g.in_index(b, iy, ix, c)]);
                        let v = match self.pooling {
                            Pooling::Max => window.fold(f32::MIN, |m, v| if m < v { v } else { m }),
                            Pooling::Average => {
                                let (total, count) = window.fold((0.0f32, 0.0f32), |(t, n), v| (t + v, n + 1.0));
                                // An empty window (the reference refuses it) cannot happen:
                                // Geometry::new checked that every window meets the input.
                                total / count
                            }
                        };
                        out.push(clamp(v, self.act));
                    }
                }
            }
        }
        out
    }
}
