//! MAX_POOL_2D (int8, uint8): the largest input in each window (positions in the padding
//! are skipped), clamped to the fused activation's range. Input and output
//! share scale and zero point, so no arithmetic happens on the values.

use super::conv::Geometry;
use super::{fused_range, ints, narrow, OpContext};
use crate::error::EngineError;
use crate::model::{Activation, DType, Options, Padding};
use crate::profile::Profile;
use crate::tensor::Value;

/// Pool options, shared by MAX_POOL_2D and AVERAGE_POOL_2D.
pub(crate) fn pool_geometry(ctx: &OpContext) -> Result<(usize, usize, Geometry, Activation, Padding), EngineError> {
    let (padding, stride_w, stride_h, filter_w, filter_h, activation) = match &ctx.op.options {
        Options::Pool2d { padding, stride_w, stride_h, filter_w, filter_h, activation } => {
            (*padding, *stride_w, *stride_h, *filter_w, *filter_h, *activation)
        }
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    if !matches!(activation, Activation::None | Activation::Relu | Activation::Relu6 | Activation::ReluN1To1) {
        return Err(ctx.unsupported(format!("fused activation {}", activation.name())));
    }
    if filter_h < 1 || filter_w < 1 {
        return Err(ctx.bad(format!("filter {filter_h}×{filter_w}")));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    ctx.require_int8_or_uint8(input, "input")?;
    ctx.require_same(input, output, true)?;
    let g = Geometry::new(ctx, input, output, filter_h as usize, filter_w as usize, (stride_h, stride_w), (1, 1), padding)?;
    if g.in_c != g.out_c {
        return Err(ctx.bad("input and output channels differ"));
    }
    Ok((input, output, g, activation, padding))
}

/// Everything MAX_POOL_2D needs, computed once.
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

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = ints(input, self.input)?;
        let g = &self.geometry;
        let mut out = Vec::with_capacity(g.out_len());
        for b in 0..g.batches {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for c in 0..g.out_c {
                        let mut max = i32::MIN;
                        for ky in 0..g.k_h {
                            for kx in 0..g.k_w {
                                if let Some((iy, ix)) = g.tap(oy, ox, ky, kx) {
                                    max = max.max(x[g.in_index(b, iy, ix, c)]);
                                }
                            }
                        }
                        out.push(max.clamp(self.act_min, self.act_max));
                    }
                }
            }
        }
        Ok(narrow(self.output_dtype, &self.output_shape, out))
    }
}
