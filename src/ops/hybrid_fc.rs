//! FULLY_CONNECTED, dynamic range: float input, int8 weights `[out][in]`,
//! float bias and output (LiteRT's `EvalHybridDense`).
//!
//! Each of the input's `rows = len / in` batch rows is quantized on its own
//! (symmetric, or asymmetric when the op's `asymmetric_quantize_inputs`
//! option is set — the converter sets it), so every row has its own S1:
//!
//! ```text
//!     S1[r], Z1[r] = quantize(x[r])                              (run time)
//!     acc[r][c]    = Σ_i W[c][i] · q[r][i] − Z1[r] · Σ_i W[c][i]
//!     y[r][c]      = act( bias[c] + float(acc[r][c]) · (S1[r] · S2[c]) )
//! ```
//!
//! The reference and optimized kernels share this code (`tensor_utils`);
//! with an all-zero input LiteRT skips the product and writes `act(bias)`.
//! XNNPACK quantizes each row with its own `qd8` quantizer and fuses the
//! last multiply with the bias ([`crate::profile::HybridMethod`]).

use super::hybrid::{prepare_core, HybridCore, HybridSteps, InputQuantizer};
use super::OpContext;
use crate::error::EngineError;
use crate::model::{Activation, Options};
use crate::profile::Profile;
use crate::quant::hybrid::RowQuant;
use crate::tensor::{Data, Value};

/// Everything a hybrid FULLY_CONNECTED needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub core: HybridCore,
    pub in_features: usize,
    pub out_features: usize,
    /// `Σ_i W[c][i]`, for the `Z1 · Σ W` term.
    pub row_sums: Vec<i32>,
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let (activation, weights_format, asymmetric) = match &ctx.op.options {
        Options::FullyConnected { activation, weights_format, asymmetric_quantize_inputs, .. } => {
            (*activation, *weights_format, *asymmetric_quantize_inputs)
        }
        Options::None => (Activation::None, 0, false),
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    if weights_format != 0 {
        return Err(ctx.unsupported(format!("weights_format {weights_format} (only DEFAULT is supported)")));
    }
    let weights = ctx.input(1)?;
    let ws = ctx.shape(weights);
    if ws.len() != 2 {
        return Err(ctx.bad(format!("weights tensor {weights} has shape {ws:?}; expected [out, in]")));
    }
    let (out_features, in_features) = (ws[0], ws[1]);
    let quantizer = if asymmetric { InputQuantizer::Asymmetric } else { InputQuantizer::Symmetric };
    let core = prepare_core(ctx, activation, out_features, 0, quantizer, profile.hybrid_fc_method())?;
    let in_len = ctx.model.tensors[core.input].num_elements();
    if in_features == 0 || in_len % in_features != 0 {
        return Err(ctx.bad(format!("input tensor {} has {in_len} elements, not a multiple of {in_features} features", core.input)));
    }
    let rows = in_len / in_features;
    if ctx.model.tensors[core.output].num_elements() != rows * out_features {
        return Err(ctx.bad(format!("output tensor {} has shape {:?}; expected {rows}×{out_features} elements", core.output, core.output_shape)));
    }
    let row_sums = core.weights.chunks(in_features).map(|r| r.iter().map(|&w| w as i32).sum()).collect();
    Ok(Params { core, in_features, out_features, row_sums })
}

impl Params {
    /// `Σ_i W[c][i]·q[i] − Z1·Σ_i W[c][i]` (wrapping, as the runtime's int32).
    #[inline]
    fn accumulate(&self, q: &[i8], z1: i32, c: usize) -> i32 {
        let w = &self.core.weights[c * self.in_features..(c + 1) * self.in_features];
        let dot = w.iter().zip(q).fold(0i32, |a, (&w, &x)| a.wrapping_add(w as i32 * x as i32));
        dot.wrapping_sub(self.row_sums[c].wrapping_mul(z1))
    }

    /// The run-time S1/Z1 of every batch row of `input`, with the quantized rows.
    pub fn quantize_rows(&self, input: &Value) -> Result<(Vec<RowQuant>, Vec<i8>), EngineError> {
        self.core.quantize_rows(input, self.in_features)
    }

    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = self.core.float_input(input)?;
        let mut out = Vec::with_capacity(x.len() / self.in_features * self.out_features);
        if x.iter().all(|&v| v == 0.0) && self.core.quantizer != InputQuantizer::XnnpackQd8 {
            // LiteRT's `IsZeroVector`: the product is skipped, the output is act(bias).
            for _ in 0..x.len() / self.in_features {
                out.extend(self.core.bias.iter().map(|&b| b.clamp(self.core.act_min, self.core.act_max)));
            }
        } else {
            let (rq, q) = self.quantize_rows(input)?;
            for (r, qr) in rq.iter().zip(q.chunks(self.in_features)) {
                for c in 0..self.out_features {
                    out.push(self.core.finish(self.accumulate(qr, r.zero_point, c), r.scale, c));
                }
            }
        }
        Ok(Value { shape: self.core.output_shape.clone(), data: Data::F32(out) })
    }

    /// The steps behind output element `element` (flat `[row][channel]`).
    pub fn steps(&self, input: &Value, element: usize) -> Option<HybridSteps> {
        let (row, c) = (element / self.out_features, element % self.out_features);
        let (rq, q) = self.quantize_rows(input).ok()?;
        let r = *rq.get(row)?;
        let qr = &q[row * self.in_features..(row + 1) * self.in_features];
        Some(self.core.steps(row, c, r, self.accumulate(qr, r.zero_point, c)))
    }
}
