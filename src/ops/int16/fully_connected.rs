//! FULLY_CONNECTED, 16x8: `acc[b, c] = Σ_d x[b, d] · W[c, d] + bias[c]` in
//! int64, then scaled by the profile's [`Scaling16`]:
//!
//! * LiteRT (reference and optimized kernels alike run the int16
//!   `reference_integer_ops::FullyConnected`): `round(double(acc) · M[c])`;
//! * TFLite Micro: the int64 `MultiplyByQuantizedMultiplier`, whose M0 is
//!   reduced to 16 bits. On `mlp_16x8` this moves a few percent of the
//!   first layer's outputs by ±1 (`data/manifests/int16.json`, `disagreements`).

use super::layer::Layer16;
use super::{i16s, value16};
use crate::error::EngineError;
use crate::model::Options;
use crate::ops::OpContext;
use crate::profile::{Profile, Scaling16};
use crate::tensor::Value;

/// Everything a 16x8 FULLY_CONNECTED needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub in_features: usize,
    pub out_features: usize,
    /// `W[c][d]`, as stored.
    pub weights: Vec<i8>,
    pub layer: Layer16,
    pub scaling: Scaling16,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let (activation, weights_format) = match &ctx.op.options {
        Options::FullyConnected { activation, weights_format, .. } => (*activation, *weights_format),
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    if weights_format != 0 {
        return Err(ctx.unsupported(format!("weights format {weights_format} (only DEFAULT)")));
    }
    let (input, filter, output) = (ctx.input(0)?, ctx.input(1)?, ctx.output(0)?);
    let ws = ctx.shape(filter);
    if ws.len() != 2 {
        return Err(ctx.bad(format!("weights shape {ws:?}; expected [out, in]")));
    }
    let (out_features, in_features) = (ws[0], ws[1]);
    let n_in = ctx.model.tensors[input].num_elements();
    if in_features == 0 || n_in % in_features != 0 {
        return Err(ctx.bad(format!("input of {n_in} elements is not a whole number of rows of {in_features}")));
    }
    let (layer, weights) = Layer16::read(ctx, input, filter, ctx.op.input(2), output, activation, out_features, 0)?;
    Ok(Params { input, output, in_features, out_features, weights, layer, scaling: profile.fc16_scaling(), output_shape: ctx.shape(output) })
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = i16s(input, self.input)?;
        let rows = x.len() / self.in_features;
        let mut out = Vec::with_capacity(rows * self.out_features);
        for row in x.chunks_exact(self.in_features) {
            for (c, w) in self.weights.chunks_exact(self.in_features).enumerate() {
                let acc: i64 = row.iter().zip(w).map(|(&q1, &q2)| q1 as i64 * q2 as i64).sum();
                out.push(match self.scaling {
                    Scaling16::DoubleHalfAway => self.layer.double(acc, c),
                    Scaling16::ReducedMultiplier => self.layer.reduced(acc, c),
                });
            }
        }
        Ok(value16(&self.output_shape, out))
    }
}
