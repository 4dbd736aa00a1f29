//! The quantization constants of a layer with weights — equation (3) of the
//! paper — read once from the file, shared by CONV_2D, DEPTHWISE_CONV_2D
//! and FULLY_CONNECTED:
//!
//! ```text
//!     input (S1, Z1),  weights (S2[c], Z2[c]) per output channel c,  output (S3, Z3),
//!     int32 bias[c] with scale S1·S2[c] and zero point 0,            M[c] = S1·S2[c] / S3
//! ```

use super::OpContext;
use crate::error::EngineError;
use crate::model::DType;
use crate::profile::Multiplier;

/// S1, Z1, S2[c], Z2[c], S3, Z3 and the bias of one layer.
#[derive(Clone, Debug)]
pub(crate) struct LayerQuant {
    pub s1: f32,
    pub z1: i32,
    /// S2[c], Z2[c]: one per output channel (repeated when per-tensor).
    pub s2: Vec<f32>,
    pub z2: Vec<i32>,
    pub s3: f32,
    pub z3: i32,
    /// True when the file has one weight scale per output channel.
    pub per_channel: bool,
    /// int32 bias (zeros when the op has none).
    pub bias: Vec<i32>,
}

impl LayerQuant {
    /// Read the constants of a layer with `out_c` output channels whose
    /// weights (`role`: "filter", "weights") may be quantized per channel
    /// along dimension `axis`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn read(
        ctx: &OpContext,
        input: usize,
        weights: usize,
        bias: Option<usize>,
        output: usize,
        role: &str,
        out_c: usize,
        axis: usize,
    ) -> Result<LayerQuant, EngineError> {
        let (s1, z1) = ctx.per_tensor_quant(input, "input")?;
        let (s3, z3) = ctx.per_tensor_quant(output, "output")?;
        let w = &ctx.model.tensors[weights];
        let wq = w
            .quant
            .as_ref()
            .ok_or_else(|| ctx.bad(format!("{role} tensor {weights} ({}) is {} but has no quantization parameters", w.name, w.dtype)))?;
        let per_channel = wq.scale.len() > 1;
        if per_channel && (wq.quantized_dimension != axis || wq.scale.len() != out_c) {
            return Err(ctx.unsupported(format!(
                "per-channel {role} along dimension {} with {} scales (expected dimension {axis} with {out_c})",
                wq.quantized_dimension,
                wq.scale.len()
            )));
        }
        let channel = |c: usize| if per_channel { c } else { 0 };
        let s2 = (0..out_c).map(|c| wq.scale[channel(c)]).collect();
        let z2 = (0..out_c).map(|c| wq.zero_point[channel(c)] as i32).collect();
        let bias = match bias {
            Some(b) => {
                let bt = &ctx.model.tensors[b];
                if bt.dtype != DType::I32 || bt.num_elements() != out_c {
                    return Err(ctx.unsupported(format!("bias tensor {b}: {} with {} elements (int32 × {out_c} expected)", bt.dtype, bt.num_elements())));
                }
                ctx.const_i32(b, "bias")?
            }
            None => vec![0; out_c],
        };
        Ok(LayerQuant { s1, z1, s2, z2, s3, z3, per_channel, bias })
    }

    /// M[c] = S1·S2[c]/S3; `legacy`: TFLite's `GetQuantizedConvolutionMultipler`
    /// for all-uint8 convolutions, which rounds S1·S2 to f32 first.
    pub(crate) fn multipliers(&self, legacy: bool) -> Vec<Multiplier> {
        let m = |&s2: &f32| if legacy { Multiplier::from_scales_legacy(self.s1, s2, self.s3) } else { Multiplier::from_scales(self.s1, s2, self.s3) };
        self.s2.iter().map(m).collect()
    }
}
