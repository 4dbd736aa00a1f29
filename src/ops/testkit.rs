//! Shared pieces of the kernels' unit tests: a seeded generator,
//! convolution geometries built from shapes the way `prepare` builds them,
//! and random quantized convolution layers.

use super::conv::{output_size, padding_before, Geometry, Requant};
use crate::model::{Activation, DType, Padding};
use crate::profile::{Multiplier, Rounding};

/// A 64-bit linear congruential generator; the high bits as u32.
pub(crate) fn lcg(seed: &mut u64) -> u32 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*seed >> 33) as u32
}

/// The geometry of a convolution (or pool) over an NHWC input
/// `(batches, in_h, in_w, in_c)` with `out_c` output channels.
pub(crate) fn geometry(
    batches: usize,
    (in_h, in_w, in_c): (usize, usize, usize),
    out_c: usize,
    k: (usize, usize),
    stride: (usize, usize),
    dil: (usize, usize),
    padding: Padding,
) -> Geometry {
    let (out_h, out_w) = (output_size(padding, in_h, k.0, stride.0, dil.0), output_size(padding, in_w, k.1, stride.1, dil.1));
    Geometry {
        batches,
        in_h,
        in_w,
        in_c,
        out_h,
        out_w,
        out_c,
        k_h: k.0,
        k_w: k.1,
        stride_h: stride.0,
        stride_w: stride.1,
        dil_h: dil.0,
        dil_w: dil.1,
        pad_h: padding_before(in_h, out_h, k.0, stride.0, dil.0),
        pad_w: padding_before(in_w, out_w, k.1, stride.1, dil.1),
    }
}

/// What [`quant_layer`] builds: an 8-bit convolution layer's quantization.
pub(crate) struct QuantSpec {
    pub uint8: bool,
    pub out_c: usize,
    /// Weights in the filter (all output channels), and how many enter each output's sum.
    pub n_weights: usize,
    pub fan_in: usize,
    /// uint8 only: every 13th weight is 0, the next 255 (the extremes).
    pub full_range: bool,
    pub activation: Activation,
    pub rounding: Rounding,
}

/// A random quantized convolution layer (CONV_2D, DEPTHWISE_CONV_2D) as
/// `prepare` would read it: the 8-bit type, the centered weights `W − Z2`
/// and the [`Requant`]. int8: per-channel symmetric weights in [−127, 127]
/// (both extremes every 13th) with TFLite's multipliers; uint8: one
/// asymmetric filter zero point and the legacy multipliers. Zero points
/// near the middle and an output scale from the fan-in, so the outputs
/// spread over the whole range with some saturated.
pub(crate) fn quant_layer(seed: &mut u64, spec: &QuantSpec) -> (DType, Vec<i32>, Requant) {
    let (dtype, z1, z2, z3) = if spec.uint8 {
        (DType::U8, 100 + (lcg(seed) % 56) as i32, 100 + (lcg(seed) % 56) as i32, (lcg(seed) % 156) as i32)
    } else {
        (DType::I8, (lcg(seed) % 256) as i32 - 128, 0, (lcg(seed) % 100) as i32 - 128)
    };
    let raw: Vec<i32> = (0..spec.n_weights)
        .map(|i| match (spec.uint8, i % 13) {
            (true, 0) if spec.full_range => 0,
            (true, 1) if spec.full_range => 255,
            (true, _) => (lcg(seed) % 256) as i32,
            (false, 0) => -127,
            (false, 1) => 127,
            (false, _) => (lcg(seed) % 255) as i32 - 127,
        })
        .collect();
    let weights: Vec<i32> = raw.iter().map(|&w| w - z2).collect();
    let s1 = 0.02f32;
    let s2: Vec<f32> = (0..spec.out_c).map(|_| 0.001 + (lcg(seed) % 1000) as f32 * 1e-5).collect();
    let s3 = s1 * 0.005 * (spec.fan_in as f32).sqrt() * 150.0;
    let multipliers =
        s2.iter().map(|&s| if spec.uint8 { Multiplier::from_scales_legacy(s1, s, s3) } else { Multiplier::from_scales(s1, s, s3) }).collect();
    let bias: Vec<i32> = (0..spec.out_c).map(|_| (lcg(seed) % 20001) as i32 - 10000).collect();
    let (act_min, act_max) = super::fused_range(spec.activation, dtype, s3, z3);
    let requant = Requant {
        s1,
        z1,
        s2,
        z2,
        s3,
        z3,
        per_channel: !spec.uint8,
        bias,
        multipliers,
        rounding: spec.rounding,
        act_min,
        act_max,
        output_dtype: dtype,
    };
    (dtype, weights, requant)
}
