//! CONV_2D (float32), LiteRT's reference `Conv` loop:
//!
//! ```text
//!     total = 0.0f
//!     for ky, kx (taps inside the input), for ic:  total += x[b, iy, ix, ic] · W[oc, ky, kx, ic]
//!     y[b, oy, ox, oc] = clamp(total + bias[oc], act_min, act_max)
//! ```
//!
//! Taps in the padding are skipped (not added as `0·w`). Options, tensors and
//! geometry are read by the integer kernel's `ConvOp`; the loop over
//! outputs and taps is `windowed`, shared with DEPTHWISE_CONV_2D.

use super::{activation_range, bias_or_zeros, clamp, const_f32};
use crate::error::EngineError;
use crate::model::Activation;
use crate::ops::conv::{ConvOp, Geometry};
use crate::ops::OpContext;

/// Everything a float32 CONV_2D needs, computed once (DEPTHWISE_CONV_2D holds
/// the same, its filter laid out `[k_h][k_w][out_c]`).
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub geometry: Geometry,
    /// Filter `[out_c][k_h][k_w][in_c]`.
    pub weights: Vec<f32>,
    /// One per output channel (zeros without a bias tensor).
    pub bias: Vec<f32>,
    /// The fused activation's clamp range ([`activation_range`]).
    pub act: (f32, f32),
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let ConvOp { input, filter, bias, output, geometry, activation, .. } = ConvOp::read(ctx)?;
    Params::new(ctx, [input, filter, output], bias, geometry, activation)
}

impl Params {
    /// Read the float32 filter and bias of a convolution.
    pub(crate) fn new(
        ctx: &OpContext,
        [input, filter, output]: [usize; 3],
        bias: Option<usize>,
        geometry: Geometry,
        activation: Activation,
    ) -> Result<Params, EngineError> {
        Ok(Params {
            input,
            output,
            weights: const_f32(ctx, filter, "filter")?,
            bias: bias_or_zeros(ctx, bias, geometry.out_c)?,
            act: activation_range(activation),
            output_shape: ctx.shape(output),
            geometry,
        })
    }
}

impl Params {
    pub fn eval(&self, x: &[f32]) -> Vec<f32> {
        let g = &self.geometry;
        windowed(g, &self.bias, self.act, |total, b, (ky, kx, iy, ix), oc| {
            let xs = &x[g.in_index(b, iy, ix, 0)..][..g.in_c];
            let ws = &self.weights[((oc * g.k_h + ky) * g.k_w + kx) * g.in_c..][..g.in_c];
            for (&xv, &wv) in xs.iter().zip(ws) {
                *total += xv * wv;
            }
        })
    }
}

/// The output loop of the float convolutions: for every output element
/// `(b, oy, ox, oc)` in NHWC order, `total` starts at `0.0`, `tap` adds the
/// products of each kernel tap inside the input (row-major over the taps,
/// as [`Geometry::inside`] yields them), then the result is
/// `clamp(total + bias[oc])`.
pub(crate) fn windowed(
    g: &Geometry,
    bias: &[f32],
    act: (f32, f32),
    mut tap: impl FnMut(&mut f32, usize, (usize, usize, usize, usize), usize),
) -> Vec<f32> {
    let mut out = Vec::with_capacity(g.out_len());
    for b in 0..g.batches {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for (oc, &bias_c) in bias.iter().enumerate().take(g.out_c) {
                    let mut total = 0.0f32;
                    for t in g.inside(oy, ox) {
                        tap(&mut total, b, t, oc);
                    }
                    out.push(clamp(total + bias_c, act));
                }
            }
        }
    }
    out
}
