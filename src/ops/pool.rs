//! What MAX_POOL_2D and AVERAGE_POOL_2D share, as in TFLite Micro's
//! `pooling.cc`: the options, the window geometry, the clamp range of the
//! fused activation and the loop over output positions. Input and output
//! share scale and zero point, so a pool only reduces each window
//! ([`super::max_pool::max`], [`super::average_pool::mean`]) and clamps.

use super::conv::Geometry;
use super::{fused_range, ints, narrow, OpContext};
use crate::error::EngineError;
use crate::model::{Activation, DType, Options, Padding};
use crate::tensor::Value;

/// How a pool reduces its window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    Max,
    Average,
}

/// Everything MAX_POOL_2D or AVERAGE_POOL_2D needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub pooling: Pooling,
    pub input: usize,
    pub output: usize,
    pub geometry: Geometry,
    pub padding: Padding,
    pub act_min: i32,
    pub act_max: i32,
    pub output_dtype: DType,
    pub output_shape: Vec<usize>,
}

/// What a pool reads alike for every dtype: input, output, geometry (the
/// window as a kernel with dilation 1), padding and fused activation
/// (shared with the float32 kernel, [`super::float::pool`]).
pub(crate) fn read(ctx: &OpContext) -> Result<(usize, usize, Geometry, Padding, Activation), EngineError> {
    let (padding, stride_w, stride_h, filter_w, filter_h, activation) = match &ctx.op.options {
        Options::Pool2d { padding, stride_w, stride_h, filter_w, filter_h, activation } => {
            (*padding, *stride_w, *stride_h, *filter_w, *filter_h, *activation)
        }
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    super::conv::check_activation(ctx, activation)?;
    if filter_h < 1 || filter_w < 1 {
        return Err(ctx.bad(format!("filter {filter_h}×{filter_w}")));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    ctx.require_same(input, output, true)?;
    let geometry = Geometry::new(ctx, input, output, filter_h as usize, filter_w as usize, (stride_h, stride_w), (1, 1), padding)?;
    if geometry.in_c != geometry.out_c {
        return Err(ctx.bad("input and output channels differ"));
    }
    Ok((input, output, geometry, padding, activation))
}

pub(crate) fn prepare(ctx: &OpContext, pooling: Pooling) -> Result<Params, EngineError> {
    if ctx.dtype(ctx.input(0)?) != DType::I16 {
        ctx.require_int8_or_uint8(ctx.input(0)?, "input")?; // int16: 16x8 models (topic int16)
    }
    let (input, output, geometry, padding, activation) = read(ctx)?;
    let (s, z) = ctx.per_tensor_quant(output, "output")?;
    let output_dtype = ctx.dtype(output);
    let (act_min, act_max) = fused_range(activation, output_dtype, s, z);
    Ok(Params { pooling, input, output, geometry, padding, act_min, act_max, output_dtype, output_shape: ctx.shape(output) })
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = ints(input, self.input)?;
        let g = &self.geometry;
        let out = g.map_outputs(|b, oy, ox, c| {
            let window = g.inside(oy, ox).map(|(_, _, iy, ix)| x[g.in_index(b, iy, ix, c)]);
            let reduced = match self.pooling {
                Pooling::Max => super::max_pool::max(window),
                Pooling::Average => super::average_pool::mean(window)
                    .ok_or_else(|| EngineError::BadInput(format!("AVERAGE_POOL_2D output t{}: empty window", self.output)))?,
            };
            Ok(reduced.clamp(self.act_min, self.act_max))
        })?;
        Ok(narrow(self.output_dtype, &self.output_shape, out))
    }
}
