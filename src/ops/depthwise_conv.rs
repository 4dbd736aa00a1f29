//! DEPTHWISE_CONV_2D: each input channel `ic` is convolved with its own
//! `depth_multiplier` filters, giving output channels `oc = ic·mult + m`:
//!
//! ```text
//!     acc[oc] = Σ_{ky,kx} (x[b, y·sh − ph + ky·dh, x·sw − pw + kx·dw, ic] − Z1) · (W[0, ky, kx, oc] − Z2) + bias[oc]
//! ```
//!
//! The requantization is CONV_2D's ([`super::conv::Requant`]), per output
//! channel along the filter's last dimension, rounded by [`Profile::depthwise_rounding`].

use super::conv::{requant_steps, steps_input, ConvSteps, Geometry, Requant, Tap};
use super::{ints, narrow, OpContext};
use crate::error::EngineError;
use crate::model::{Activation, Options, Padding};
use crate::profile::Profile;
use crate::tensor::Value;

/// Everything DEPTHWISE_CONV_2D needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub filter: usize,
    pub bias: Option<usize>,
    pub output: usize,
    pub geometry: Geometry,
    pub depth_multiplier: usize,
    pub activation: Activation,
    pub padding: Padding,
    pub output_shape: Vec<usize>,
    /// Filter `[k_h][k_w][out_c]`, centered: `W − Z2`.
    pub weights: Vec<i32>,
    pub requant: Requant,
    /// The fast path's form ([`super::depthwise_fast`]); `None` keeps the reference loop.
    pub packed: Option<super::depthwise_fast::Packed>,
}

/// What DEPTHWISE_CONV_2D reads alike for every dtype: its tensors, options,
/// geometry and depth multiplier (shared with the float32 kernel,
/// [`super::float::depthwise_conv`]).
#[derive(Clone, Debug)]
pub(crate) struct DepthwiseOp {
    pub input: usize,
    pub filter: usize,
    pub bias: Option<usize>,
    pub output: usize,
    pub geometry: Geometry,
    pub depth_multiplier: usize,
    pub activation: Activation,
    pub padding: Padding,
}

impl DepthwiseOp {
    /// Read the options, the tensors and the geometry.
    pub(crate) fn read(ctx: &OpContext) -> Result<DepthwiseOp, EngineError> {
        let (padding, stride_w, stride_h, depth_multiplier, dilation_w, dilation_h, activation) = match &ctx.op.options {
            Options::DepthwiseConv2d { padding, stride_w, stride_h, depth_multiplier, dilation_w, dilation_h, activation } => {
                (*padding, *stride_w, *stride_h, *depth_multiplier, *dilation_w, *dilation_h, *activation)
            }
            other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
        };
        let (input, filter, bias, output, fs) = super::conv::conv_tensors(ctx, activation)?;
        if fs.len() != 4 || fs[0] != 1 {
            return Err(ctx.bad(format!("filter shape {fs:?}; expected [1, k_h, k_w, out_c]")));
        }
        let g = Geometry::new(ctx, input, output, fs[1], fs[2], (stride_h, stride_w), (dilation_h, dilation_w), padding)?;
        if fs[3] != g.out_c || g.in_c == 0 || g.out_c % g.in_c != 0 {
            return Err(ctx.bad(format!("filter shape {fs:?} for {} input and {} output channels", g.in_c, g.out_c)));
        }
        let mult = g.out_c / g.in_c;
        if depth_multiplier > 0 && depth_multiplier as usize != mult {
            return Err(ctx.bad(format!("depth_multiplier {depth_multiplier} but {} → {} channels", g.in_c, g.out_c)));
        }
        Ok(DepthwiseOp { input, filter, bias, output, geometry: g, depth_multiplier: mult, activation, padding })
    }
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let DepthwiseOp { input, filter, bias, output, geometry: g, depth_multiplier: mult, activation, padding } = DepthwiseOp::read(ctx)?;
    let (mut requant, weights) = Requant::prepare(ctx, profile, input, filter, bias, output, activation, g.out_c, 3)?;
    requant.rounding = profile.depthwise_rounding();
    let packed = super::depthwise_fast::pack(ctx.dtype(input), &g, mult, &requant, &weights);
    Ok(Params {
        input,
        filter,
        bias,
        output,
        geometry: g,
        depth_multiplier: mult,
        activation,
        padding,
        output_shape: ctx.shape(output),
        weights,
        requant,
        packed,
    })
}

impl Params {
    #[inline]
    fn accumulate(&self, x: &[i32], b: usize, oy: usize, ox: usize, oc: usize) -> i32 {
        let g = &self.geometry;
        let ic = oc / self.depth_multiplier;
        let mut acc = 0i32;
        for (ky, kx, iy, ix) in g.inside(oy, ox) {
            let xv = x[g.in_index(b, iy, ix, ic)] - self.requant.z1;
            acc = acc.wrapping_add(xv.wrapping_mul(self.weights[(ky * g.k_w + kx) * g.out_c + oc]));
        }
        acc
    }

    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = ints(input, self.input)?;
        let out = self.geometry.map_outputs(|b, oy, ox, oc| Ok(self.requant.apply_with_bias(self.accumulate(&x, b, oy, ox, oc), oc)))?;
        Ok(narrow(self.requant.output_dtype, &self.output_shape, out))
    }

    /// The steps behind output element `element` (flat NHWC index).
    pub fn steps(&self, input: &Value, element: usize) -> Option<ConvSteps> {
        let g = &self.geometry;
        let (x, (b, oy, ox, oc)) = steps_input(g, input, element)?;
        let ic = oc / self.depth_multiplier;
        let field = g
            .window(oy, ox)
            .map(|(ky, kx, at)| {
                let x_centered = at.map_or(0, |(iy, ix)| x[g.in_index(b, iy, ix, ic)] - self.requant.z1);
                Tap { ky, kx, ic, at, x_centered, w: self.weights[(ky * g.k_w + kx) * g.out_c + oc] }
            })
            .collect();
        Some(requant_steps(&self.requant, (b, oy, ox, oc), field, self.accumulate(&x, b, oy, ox, oc)))
    }
}
