//! CONV_2D and DEPTHWISE_CONV_2D, 16x8: the int8 kernels' geometry
//! ([`Geometry`]) with int16 inputs, int8 weights, an int64 accumulator
//!
//! ```text
//!     conv:       acc[c]  = Σ_{ky,kx,ic} x[b, iy, ix, ic] · W[c, ky, kx, ic] + bias[c]
//!     depthwise:  acc[oc] = Σ_{ky,kx}    x[b, iy, ix, oc / mult] · W[0, ky, kx, oc] + bias[oc]
//! ```
//!
//! (taps in the padding contribute nothing: Z1 = 0) and the int64
//! `MultiplyByQuantizedMultiplier` with M0 reduced to 16 bits. LiteRT (both
//! kernel sets: its 16x8 convolutions fall back to `reference_integer_ops`
//! for an int64 bias) and TFLite Micro compute them the same way.

use super::layer::Layer16;
use super::{i16s, value16};
use crate::error::EngineError;
use crate::model::{OpKind, Options};
use crate::ops::conv::Geometry;
use crate::ops::OpContext;
use crate::profile::Profile;
use crate::tensor::Value;

/// Everything a 16x8 CONV_2D or DEPTHWISE_CONV_2D needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub geometry: Geometry,
    /// `Some(multiplier)` for DEPTHWISE_CONV_2D.
    pub depth_multiplier: Option<usize>,
    /// CONV_2D: `[out_c][k_h][k_w][in_c]`; DEPTHWISE: `[k_h][k_w][out_c]`.
    pub weights: Vec<i8>,
    pub layer: Layer16,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    let (input, filter, output) = (ctx.input(0)?, ctx.input(1)?, ctx.output(0)?);
    let fs = ctx.shape(filter);
    if fs.len() != 4 {
        return Err(ctx.bad(format!("filter shape {fs:?}; expected 4-D")));
    }
    let (geometry, depth_multiplier, activation, axis) = match (&ctx.op.kind, &ctx.op.options) {
        (OpKind::Conv2d, Options::Conv2d { padding, stride_w, stride_h, dilation_w, dilation_h, activation }) => {
            let g = Geometry::new(ctx, input, output, fs[1], fs[2], (*stride_h, *stride_w), (*dilation_h, *dilation_w), *padding)?;
            if fs[0] != g.out_c || fs[3] != g.in_c {
                return Err(ctx.bad(format!("filter shape {fs:?} for {} input and {} output channels", g.in_c, g.out_c)));
            }
            (g, None, *activation, 0)
        }
        (
            OpKind::DepthwiseConv2d,
            Options::DepthwiseConv2d { padding, stride_w, stride_h, depth_multiplier, dilation_w, dilation_h, activation },
        ) => {
            let g = Geometry::new(ctx, input, output, fs[1], fs[2], (*stride_h, *stride_w), (*dilation_h, *dilation_w), *padding)?;
            if fs[0] != 1 || fs[3] != g.out_c || g.in_c == 0 || g.out_c % g.in_c != 0 {
                return Err(ctx.bad(format!("filter shape {fs:?} for {} input and {} output channels", g.in_c, g.out_c)));
            }
            let mult = g.out_c / g.in_c;
            if *depth_multiplier > 0 && *depth_multiplier as usize != mult {
                return Err(ctx.bad(format!("depth_multiplier {depth_multiplier} but {} → {} channels", g.in_c, g.out_c)));
            }
            (g, Some(mult), *activation, 3)
        }
        (_, other) => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    let (layer, weights) = Layer16::read(ctx, input, filter, ctx.op.input(2), output, activation, geometry.out_c, axis)?;
    Ok(Params { input, output, geometry, depth_multiplier, weights, layer, output_shape: ctx.shape(output) })
}

impl Params {
    /// The int64 accumulator of output `(b, oy, ox, c)`, without the bias.
    #[inline]
    fn accumulate(&self, x: &[i16], b: usize, oy: usize, ox: usize, c: usize) -> i64 {
        let g = &self.geometry;
        let mut acc = 0i64;
        match self.depth_multiplier {
            None => {
                for (ky, kx, iy, ix) in g.inside(oy, ox) {
                    let xs = &x[g.in_index(b, iy, ix, 0)..][..g.in_c];
                    let ws = &self.weights[((c * g.k_h + ky) * g.k_w + kx) * g.in_c..][..g.in_c];
                    acc += xs.iter().zip(ws).map(|(&q1, &q2)| q1 as i64 * q2 as i64).sum::<i64>();
                }
            }
            Some(mult) => {
                for (ky, kx, iy, ix) in g.inside(oy, ox) {
                    acc += x[g.in_index(b, iy, ix, c / mult)] as i64 * self.weights[(ky * g.k_w + kx) * g.out_c + c] as i64;
                }
            }
        }
        acc
    }

    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = i16s(input, self.input)?;
        let g = &self.geometry;
        if x.len() != g.batches * g.in_h * g.in_w * g.in_c {
            return Err(EngineError::BadInput(format!("tensor {} has {} elements, expected {}", self.input, x.len(), g.batches * g.in_h * g.in_w * g.in_c)));
        }
        let out = g.map_outputs(|b, oy, ox, c| Ok(self.layer.reduced(self.accumulate(x, b, oy, ox, c), c) as i32))?;
        Ok(value16(&self.output_shape, out.into_iter().map(|v| v as i16).collect()))
    }
}
