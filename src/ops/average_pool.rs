//! AVERAGE_POOL_2D (int8, uint8): the mean of the inputs in each window that lie inside the
//! input (padding is not counted), rounded to nearest with ties away from
//! zero in integers — `(Σ ± n/2) / n` with C's truncating division — then
//! clamped to the fused activation's range. Input and output share scale and
//! zero point, so the zero point passes through the mean unchanged.

use super::conv::Geometry;
use super::max_pool::pool_geometry;
use super::{fused_range, ints, narrow, OpContext};
use crate::error::EngineError;
use crate::model::{DType, Padding};
use crate::profile::Profile;
use crate::tensor::Value;

/// Everything AVERAGE_POOL_2D needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub geometry: Geometry,
    pub padding: Padding,
    pub act_min: i32,
    pub act_max: i32,
    pub output_dtype: DType,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    let (input, output, geometry, activation, padding) = pool_geometry(ctx)?;
    let (s, z) = ctx.per_tensor_quant(output, "output")?;
    let output_dtype = ctx.dtype(output);
    let (act_min, act_max) = fused_range(activation, output_dtype, s, z);
    Ok(Params { input, output, geometry, padding, act_min, act_max, output_dtype, output_shape: ctx.shape(output) })
}

/// `sum / count` rounded half away from zero, as the integer kernels do it.
#[inline]
pub fn rounded_mean(sum: i32, count: i32) -> i32 {
    if sum > 0 {
        (sum + count / 2) / count
    } else {
        (sum - count / 2) / count
    }
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = ints(input, self.input)?;
        let g = &self.geometry;
        let mut out = Vec::with_capacity(g.out_len());
        for b in 0..g.batches {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for c in 0..g.out_c {
                        let (mut sum, mut count) = (0i32, 0i32);
                        for ky in 0..g.k_h {
                            for kx in 0..g.k_w {
                                if let Some((iy, ix)) = g.tap(oy, ox, ky, kx) {
                                    sum += x[g.in_index(b, iy, ix, c)];
                                    count += 1;
                                }
                            }
                        }
                        if count == 0 {
                            return Err(EngineError::BadInput(format!("AVERAGE_POOL_2D output t{}: empty window", self.output)));
                        }
                        out.push(rounded_mean(sum, count).clamp(self.act_min, self.act_max));
                    }
                }
            }
        }
        Ok(narrow(self.output_dtype, &self.output_shape, out))
    }
}
