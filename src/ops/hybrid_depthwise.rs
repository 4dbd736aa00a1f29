//! DEPTHWISE_CONV_2D, dynamic range: float NHWC input, int8 filter
//! `[1][k_h][k_w][out_c]` with **one scale per output channel**, float bias
//! and output (LiteRT's `depthwise_conv.cc` `EvalHybridPerChannel`).
//!
//! Every image `b` is quantized asymmetrically on its own (S1[b], Z1[b]);
//! padding contributes 0; output channel `oc = ic·mult + m` reads input channel `ic`:
//!
//! ```text
//!     acc[b,y,x,oc] = Σ_{ky,kx inside the image} (q[b, iy, ix, ic] − Z1[b]) · W[0, ky, kx, oc]
//!     y[b,y,x,oc]   = act( scaling(acc, S1[b], S2[oc]) + bias[oc] )
//! ```
//!
//! `scaling` is [`Profile::hybrid_depthwise_method`] (XNNPACK leaves this op to LiteRT). LiteRT has no
//! per-tensor hybrid depthwise kernel: with a single weight scale its kernel
//! reads `scale[oc]` past the end of the scale array and the output changes
//! from run to run (ai-edge-litert 2.3.0), so such an operator is refused.

use super::conv::Geometry;
use super::hybrid::{prepare_core, HybridCore, HybridSteps, InputQuantizer};
use super::OpContext;
use crate::error::EngineError;
use crate::profile::Profile;
use crate::quant::hybrid::RowQuant;
use crate::tensor::Value;

/// Everything a hybrid DEPTHWISE_CONV_2D needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub core: HybridCore,
    pub geometry: Geometry,
    pub depth_multiplier: usize,
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    // The same options, tensors and geometry as the integer and float kernels read.
    let super::depthwise_conv::DepthwiseOp { filter, geometry: g, depth_multiplier: mult, activation, .. } = super::depthwise_conv::DepthwiseOp::read(ctx)?;
    let scales = ctx.model.tensors[filter].quant.as_ref().map_or(0, |q| q.scale.len());
    if scales != g.out_c {
        return Err(ctx.unsupported(format!(
            "hybrid depthwise filter (tensor {filter}) with {scales} weight scale(s) for {} channels: LiteRT's hybrid kernel reads one scale per channel (with fewer it reads past the array and its output is not reproducible)",
            g.out_c
        )));
    }
    let core = prepare_core(ctx, activation, g.out_c, 3, InputQuantizer::Asymmetric, profile.hybrid_depthwise_method())?;
    Ok(Params { core, geometry: g, depth_multiplier: mult })
}

impl Params {
    #[inline]
    fn accumulate(&self, q: &[i8], z1: i32, b: usize, oy: usize, ox: usize, oc: usize) -> i32 {
        let g = &self.geometry;
        let ic = oc / self.depth_multiplier;
        let mut acc = 0i32;
        for (ky, kx, iy, ix) in g.inside(oy, ox) {
            let xv = q[g.in_index(b, iy, ix, ic)] as i32 - z1;
            acc = acc.wrapping_add(xv.wrapping_mul(self.core.weights[(ky * g.k_w + kx) * g.out_c + oc] as i32));
        }
        acc
    }

    /// The run-time S1/Z1 of every image of `input`, with the quantized input.
    pub fn quantize_images(&self, input: &Value) -> Result<(Vec<RowQuant>, Vec<i8>), EngineError> {
        let g = &self.geometry;
        self.core.quantize_rows(input, g.in_h * g.in_w * g.in_c)
    }

    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        self.core.eval_conv(&self.geometry, input, |q, r, b, oy, ox, oc| self.core.finish(self.accumulate(q, r.zero_point, b, oy, ox, oc), r.scale, oc))
    }

    /// The steps behind output element `element` (flat NHWC index).
    pub fn steps(&self, input: &Value, element: usize) -> Option<HybridSteps> {
        let (q, r, (b, oy, ox, oc)) = self.core.locate_conv(&self.geometry, input, element)?;
        Some(self.core.steps(b, oc, r, self.accumulate(&q, r.zero_point, b, oy, ox, oc)))
    }
}
