//! CONV_2D, dynamic range: float NHWC input, int8 filter `[out_c][k_h][k_w][in_c]`,
//! float bias and output (LiteRT's `conv.cc` `EvalHybridPerChannel` / `EvalHybrid`).
//!
//! Every image `b` of the batch is quantized on its own. LiteRT picks the
//! quantizer by the weights:
//!
//! - per-channel weights (`EvalHybridPerChannel`): **asymmetric** input
//!   (S1[b], Z1[b]), padding contributes 0 (it is Z1 after centring);
//! - per-tensor weights (`EvalHybrid`): **symmetric** input (Z1 = 0), and the
//!   output is `(0 + float(acc)·(S1·S2)) + bias` (the product is accumulated
//!   into a zeroed buffer, the bias added afterwards).
//!
//! ```text
//!     acc[b,y,x,c] = Σ_{ky,kx,ic inside the image} (q[b, iy, ix, ic] − Z1[b]) · W[c, ky, kx, ic]
//!     y[b,y,x,c]   = act( scaling(acc, S1[b], S2[c]) + bias[c] )
//! ```
//!
//! `scaling` is [`Profile::hybrid_conv_method`]: for per-channel weights the
//! reference and optimized kernels multiply in different orders; for
//! per-tensor weights both multiply the scales first; XNNPACK quantizes with
//! its own `qd8` quantizer (asymmetric, also for per-tensor weights) and
//! fuses the last multiply with the bias.

use super::conv::Geometry;
use super::hybrid::{prepare_core, HybridCore, HybridSteps, InputQuantizer};
use super::OpContext;
use crate::error::EngineError;
use crate::profile::{HybridScaling, Profile};
use crate::quant::hybrid::RowQuant;
use crate::tensor::Value;

/// Everything a hybrid CONV_2D needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub core: HybridCore,
    pub geometry: Geometry,
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    // The same options, tensors and geometry as the integer and float kernels read.
    let super::conv::ConvOp { filter, geometry: g, activation, .. } = super::conv::ConvOp::read(ctx)?;
    let per_channel = ctx.model.tensors[filter].quant.as_ref().is_some_and(|q| q.scale.len() > 1);
    let quantizer = if per_channel { InputQuantizer::Asymmetric } else { InputQuantizer::Symmetric };
    let core = prepare_core(ctx, activation, g.out_c, 0, quantizer, profile.hybrid_conv_method(per_channel))?;
    Ok(Params { core, geometry: g })
}

impl Params {
    /// `Σ (q − Z1)·W` over the receptive field of output (b, oy, ox, oc).
    #[inline]
    fn accumulate(&self, q: &[i8], z1: i32, b: usize, oy: usize, ox: usize, oc: usize) -> i32 {
        let g = &self.geometry;
        let mut acc = 0i32;
        for (ky, kx, iy, ix) in g.inside(oy, ox) {
            let xi = g.in_index(b, iy, ix, 0);
            let wi = ((oc * g.k_h + ky) * g.k_w + kx) * g.in_c;
            for ic in 0..g.in_c {
                acc = acc.wrapping_add((q[xi + ic] as i32 - z1).wrapping_mul(self.core.weights[wi + ic] as i32));
            }
        }
        acc
    }

    /// The run-time S1/Z1 of every image of `input`, with the quantized input.
    pub fn quantize_images(&self, input: &Value) -> Result<(Vec<RowQuant>, Vec<i8>), EngineError> {
        let g = &self.geometry;
        self.core.quantize_rows(input, g.in_h * g.in_w * g.in_c)
    }

    /// True for LiteRT's per-tensor kernel, which accumulates the product
    /// into a zeroed buffer before adding the bias (`(0 + product) + bias`).
    fn zeroed_buffer(&self) -> bool {
        !self.core.per_channel && self.core.scaling == HybridScaling::ScaleProduct
    }

    /// One output value.
    #[inline]
    fn finish(&self, acc: i32, r: RowQuant, c: usize) -> f32 {
        if self.zeroed_buffer() {
            let product = 0.0f32 + self.core.scaling.scale(acc, r.scale, self.core.s2[c]);
            (product + self.core.bias[c]).clamp(self.core.act_min, self.core.act_max)
        } else {
            self.core.finish(acc, r.scale, c)
        }
    }

    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        self.core.eval_conv(&self.geometry, input, |q, r, b, oy, ox, oc| self.finish(self.accumulate(q, r.zero_point, b, oy, ox, oc), r, oc))
    }

    /// The steps behind output element `element` (flat NHWC index).
    pub fn steps(&self, input: &Value, element: usize) -> Option<HybridSteps> {
        let (q, r, (b, oy, ox, oc)) = self.core.locate_conv(&self.geometry, input, element)?;
        let mut s = self.core.steps(b, oc, r, self.accumulate(&q, r.zero_point, b, oy, ox, oc));
        if self.zeroed_buffer() {
            s.with_bias = (0.0f32 + s.scaled) + s.bias;
        }
        s.output = self.finish(s.accumulator, r, oc);
        s.clamped = s.output.to_bits() != s.with_bias.to_bits();
        Some(s)
    }
}
