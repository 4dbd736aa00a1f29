//! The constants of a 16x8 layer with weights (FULLY_CONNECTED, CONV_2D,
//! DEPTHWISE_CONV_2D): input S1 (int16, Z1 = 0), weights S2[c] (int8,
//! symmetric, per channel or per tensor), output S3 (int16, Z3 = 0) and an
//! int64 bias (int32 accepted) with scale S1·S2[c]:
//!
//! ```text
//!     acc[c] = Σ q1 · q2[c] + bias[c]          (int64)
//!     q3[c]  = clamp(scale(acc[c], M[c]), act_min, act_max),   M[c] = S1·S2[c] / S3
//! ```

use super::require_int16;
use crate::error::EngineError;
use crate::model::{Activation, DType};
use crate::ops::layer_quant::LayerQuant;
use crate::ops::OpContext;
use crate::quant::{self, int16::multiply_by_quantized_multiplier_i64};
use crate::tensor::{Data, Value};

/// S1, S2[c], S3, the bias, M[c] and the clamp range of one 16x8 layer.
#[derive(Clone, Debug)]
pub struct Layer16 {
    pub s1: f32,
    /// One per output channel (repeated when per-tensor).
    pub s2: Vec<f32>,
    pub s3: f32,
    pub per_channel: bool,
    /// int64 bias (zeros when the op has none).
    pub bias: Vec<i64>,
    /// `M[c] = double(S1)·double(S2[c]) / double(S3)`.
    pub real: Vec<f64>,
    /// `M[c]` as `(M0, shift)` by `QuantizeMultiplier`. Per channel from
    /// `real`; per tensor as `GetQuantizedConvolutionMultipler` computes it,
    /// with the product `S1·S2` rounded to f32 first.
    pub fixed: Vec<(i32, i32)>,
    pub act_min: i32,
    pub act_max: i32,
}

impl Layer16 {
    /// Read the layer; the weights are returned as they are stored (int8).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn read(
        ctx: &OpContext,
        input: usize,
        weights: usize,
        bias: Option<usize>,
        output: usize,
        activation: Activation,
        out_c: usize,
        axis: usize,
    ) -> Result<(Layer16, Vec<i8>), EngineError> {
        if !matches!(activation, Activation::None | Activation::Relu | Activation::Relu6 | Activation::ReluN1To1) {
            return Err(ctx.unsupported(format!("fused activation {}", activation.name())));
        }
        let s1 = require_int16(ctx, input, "input")?;
        let s3 = require_int16(ctx, output, "output")?;
        let w = &ctx.model.tensors[weights];
        if w.dtype != DType::I8 {
            return Err(ctx.unsupported(format!("weights tensor {weights} of dtype {} with int16 activations (int8 expected)", w.dtype)));
        }
        // S2[c], Z2[c] and the per-channel layout as for int8 layers; the bias is read below (int64).
        let LayerQuant { s2, z2, per_channel, .. } = LayerQuant::read(ctx, input, weights, None, output, "weights", out_c, axis)?;
        if z2.iter().any(|&z| z != 0) {
            return Err(ctx.unsupported(format!("weights tensor {weights}: 16x8 needs symmetric int8 weights (zero point 0)")));
        }
        let bias = match bias {
            None => vec![0; out_c],
            Some(b) => {
                let bt = &ctx.model.tensors[b];
                let v = Value::from_constant(bt).ok_or_else(|| ctx.unsupported(format!("non-constant bias (tensor {b})")))?;
                let bias: Vec<i64> = match v.data {
                    Data::I64(x) => x,
                    Data::I32(x) => x.into_iter().map(i64::from).collect(),
                    _ => return Err(ctx.unsupported(format!("bias tensor {b} of dtype {} (int64 or int32 expected)", bt.dtype))),
                };
                if bias.len() != out_c {
                    return Err(ctx.bad(format!("bias tensor {b} has {} elements for {out_c} output channels", bias.len())));
                }
                bias
            }
        };
        let real: Vec<f64> = s2.iter().map(|&s| quant::real_multiplier(s1, s, s3)).collect();
        let fixed = s2
            .iter()
            .zip(&real)
            .map(|(&s, &m)| quant::quantize_multiplier(if per_channel { m } else { (s1 * s) as f64 / s3 as f64 }))
            .collect();
        let (act_min, act_max) = crate::ops::fused_range(activation, DType::I16, s3, 0);
        let wv = Value::from_constant(w).ok_or_else(|| ctx.unsupported(format!("non-constant weights (tensor {weights})")))?;
        let Data::I8(wq8) = wv.data else { unreachable!("the dtype was checked above") };
        Ok((Layer16 { s1, s2, s3, per_channel, bias, real, fixed, act_min, act_max }, wq8))
    }

    /// `acc + bias[c]` scaled by `M[c]` with the int64 `MultiplyByQuantizedMultiplier`
    /// (M0 reduced to 16 bits), clamped.
    #[inline]
    pub fn reduced(&self, acc: i64, c: usize) -> i16 {
        let (m0, shift) = self.fixed[c];
        self.clamp(multiply_by_quantized_multiplier_i64(acc.wrapping_add(self.bias[c]), m0, shift) as i64)
    }

    /// `acc + bias[c]` scaled as `round(double(acc) · M[c])` (ties away from zero), clamped.
    #[inline]
    pub fn double(&self, acc: i64, c: usize) -> i16 {
        let v = quant::round_half_away_from_zero(acc.wrapping_add(self.bias[c]) as f64 * self.real[c]);
        self.clamp(v.clamp(i32::MIN as f64, i32::MAX as f64) as i64)
    }

    #[inline]
    fn clamp(&self, v: i64) -> i16 {
        v.clamp(self.act_min as i64, self.act_max as i64) as i16
    }
}
