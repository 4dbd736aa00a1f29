//! DEPTHWISE_CONV_2D (float32), LiteRT's reference `DepthwiseConv` loop: output
//! channel `oc = ic·mult + m` reads input channel `ic` only,
//!
//! ```text
//!     total = 0.0f
//!     for ky, kx (taps inside the input):  total += x[b, iy, ix, ic] · W[0, ky, kx, oc]
//!     y[b, oy, ox, oc] = clamp(total + bias[oc], act_min, act_max)
//! ```
//!
//! Options, tensors and geometry are the integer kernel's `DepthwiseOp`;
//! the parameters and the output loop are CONV_2D's ([`Params`], `windowed`).

use super::conv::{windowed, Params};
use crate::error::EngineError;
use crate::ops::depthwise_conv::DepthwiseOp;
use crate::ops::OpContext;

/// Everything a float32 DEPTHWISE_CONV_2D needs, computed once: CONV_2D's
/// [`Params`] (filter `[k_h][k_w][out_c]`) and the depth multiplier.
#[derive(Clone, Debug)]
pub struct DepthwiseParams {
    pub conv: Params,
    pub depth_multiplier: usize,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<DepthwiseParams, EngineError> {
    let DepthwiseOp { input, filter, bias, output, geometry, depth_multiplier, activation, .. } = DepthwiseOp::read(ctx)?;
    Ok(DepthwiseParams { conv: Params::new(ctx, [input, filter, output], bias, geometry, activation)?, depth_multiplier })
}

impl DepthwiseParams {
    pub fn eval(&self, x: &[f32]) -> Vec<f32> {
        let p = &self.conv;
        let g = &p.geometry;
        windowed(g, &p.bias, p.act, |total, b, (ky, kx, iy, ix), oc| {
            *total += x[g.in_index(b, iy, ix, oc / self.depth_multiplier)] * p.weights[(ky * g.k_w + kx) * g.out_c + oc];
        })
    }
}
