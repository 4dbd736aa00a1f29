//! The runtimes' choices for dynamic-range ("hybrid") operators.
//!
//! A hybrid operator computes `float(acc) · S1 · S2[c] + bias` in f32
//! ([`crate::quant::hybrid`]). The integer accumulator is the same in every
//! LiteRT kernel; what differs is the order of the two float multiplications,
//! and f32 products are not associative, so the order changes the last bit:
//!
//! | operator (per-channel weights) | `tflite-ref` | `tflite-builtin` | `tflite-xnnpack` |
//! |---|---|---|---|
//! | FULLY_CONNECTED (both LiteRT kernels share `tensor_utils`) | `acc · (S1·S2[c])` | same | qd8, `fma(acc·S1, S2[c], bias)` |
//! | CONV_2D (`reference_ops::HybridConvPerChannel` vs `optimized_ops::`) | `(acc · S2[c]) · S1` | `acc · (S2[c]·S1)` | qd8, `fma(acc·S1, S2[c], bias)` |
//! | DEPTHWISE_CONV_2D (`reference_integer_ops::` vs `optimized_integer_ops::DepthwiseConvHybridPerChannel`) | `acc · (S2[c]·S1)` | `(acc · S2[c]) · S1` | not delegated: as builtin |
//!
//! With per-tensor weights CONV_2D runs `optimized_ops::HybridConv` in both
//! (`acc · (S1·S2)`, then `+ bias`). On `cnn_dynamic` the other order gives
//! 15 261 of 150 528 first-layer outputs one ulp apart, so each assignment is
//! separated by the goldens, not only read from the source (for the optimized
//! DEPTHWISE_CONV_2D the x86 source reads `acc · S1 · S2[c]`, the wheel's
//! outputs are `(acc · S2[c]) · S1` on every element).
//!
//! XNNPACK runs hybrid FULLY_CONNECTED and CONV_2D itself, with its own
//! dynamic quantization (`qd8`, [`HybridMethod::XnnpackQd8`]): the per-row
//! parameters computed in f32 (`xnn_qd8_asymmetric_quantization_params`:
//! `1/S1 = 255 / (rmax − rmin)`, the zero point rounded half to even), the
//! input quantized as `round_half_even(clamp(x · (1/S1))) + Z1`, padding at
//! the zero point, and the output as one fused multiply-add
//! `fma(float(acc) · S1, S2[c], bias[c])` (its AVX2/AVX-512 kernels on this
//! CPU; `f32::mul_add` rounds once, the same). It leaves hybrid
//! DEPTHWISE_CONV_2D to LiteRT's optimized kernel. All three confirmed on
//! every element of the committed goldens.
//!
//! TensorFlow Lite Micro refuses every hybrid operator ("Hybrid models are
//! not supported on TFLite Micro", recorded in `data/manifests/dynamic.json`).
//! As for the legacy uint8 models it refuses, the `tflm` profile still runs
//! them, with the reference kernels' arithmetic (TFLite Micro's kernels
//! descend from them); no golden exists to check it against.

use super::Profile;

/// How the float output of a hybrid operator is formed from its int32 accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HybridScaling {
    /// `bias + float(acc) · (S1 · S2[c])`: the scales multiplied first.
    ScaleProduct,
    /// `bias + (float(acc) · S2[c]) · S1`: the weight scale first.
    WeightScaleFirst,
    /// `fma(float(acc) · S1, S2[c], bias)`: XNNPACK's qd8 kernels, one rounding for `· S2 + bias`.
    InputScaleThenFma,
}

impl HybridScaling {
    /// The output before the activation, in f32 (a fused multiply-add only
    /// for [`InputScaleThenFma`](Self::InputScaleThenFma)).
    #[inline]
    pub fn apply(self, acc: i32, s1: f32, s2: f32, bias: f32) -> f32 {
        match self {
            HybridScaling::ScaleProduct => bias + acc as f32 * (s1 * s2),
            HybridScaling::WeightScaleFirst => bias + (acc as f32 * s2) * s1,
            HybridScaling::InputScaleThenFma => (acc as f32 * s1).mul_add(s2, bias),
        }
    }

    /// The scaled accumulator without the bias (for the trace; not used by
    /// [`InputScaleThenFma`](Self::InputScaleThenFma), whose bias is fused).
    #[inline]
    pub fn scale(self, acc: i32, s1: f32, s2: f32) -> f32 {
        match self {
            HybridScaling::ScaleProduct => acc as f32 * (s1 * s2),
            HybridScaling::WeightScaleFirst => (acc as f32 * s2) * s1,
            HybridScaling::InputScaleThenFma => acc as f32 * s1 * s2,
        }
    }

    /// A short description for `inspect`.
    pub fn name(self) -> &'static str {
        match self {
            HybridScaling::ScaleProduct => "bias + float(acc)·(S1·S2)",
            HybridScaling::WeightScaleFirst => "bias + (float(acc)·S2)·S1",
            HybridScaling::InputScaleThenFma => "fma(float(acc)·S1, S2, bias)",
        }
    }
}

/// Which run-time input quantizer and output scaling a runtime uses for one hybrid operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HybridMethod {
    /// LiteRT's builtin kernels: `tensor_utils`' symmetric or asymmetric
    /// quantizer (chosen by the operator), then this scaling.
    LiteRt(HybridScaling),
    /// XNNPACK's `qd8`: its own asymmetric quantizer, then `fma(acc·S1, S2, bias)`.
    XnnpackQd8,
}

impl HybridMethod {
    pub fn name(self) -> String {
        match self {
            HybridMethod::LiteRt(s) => format!("LiteRT tensor_utils quantizer, {}", s.name()),
            HybridMethod::XnnpackQd8 => format!("XNNPACK qd8 quantizer, {}", HybridScaling::InputScaleThenFma.name()),
        }
    }
}

impl Profile {
    /// Hybrid FULLY_CONNECTED (the reference and optimized kernels share `tensor_utils`).
    pub fn hybrid_fc_method(self) -> HybridMethod {
        match self {
            Profile::TfliteXnnpack => HybridMethod::XnnpackQd8,
            _ => HybridMethod::LiteRt(HybridScaling::ScaleProduct),
        }
    }

    /// Hybrid CONV_2D; `per_channel` weights run LiteRT's `EvalHybridPerChannel`,
    /// per-tensor weights its `EvalHybrid` (scales multiplied first in both kernels).
    pub fn hybrid_conv_method(self, per_channel: bool) -> HybridMethod {
        match self {
            Profile::TfliteXnnpack => HybridMethod::XnnpackQd8,
            Profile::TfliteRef | Profile::Tflm if per_channel => HybridMethod::LiteRt(HybridScaling::WeightScaleFirst),
            _ => HybridMethod::LiteRt(HybridScaling::ScaleProduct),
        }
    }

    /// Hybrid DEPTHWISE_CONV_2D (per-channel weights only; XNNPACK leaves it
    /// to LiteRT's optimized kernel).
    pub fn hybrid_depthwise_method(self) -> HybridMethod {
        match self {
            Profile::TfliteRef | Profile::Tflm => HybridMethod::LiteRt(HybridScaling::ScaleProduct),
            _ => HybridMethod::LiteRt(HybridScaling::WeightScaleFirst),
        }
    }
}

// dynamic_bmm (issue 11): hybrid BATCH_MATMUL
impl Profile {
    /// Hybrid BATCH_MATMUL: LiteRT's builtin resolver registers the reference
    /// kernel (`0 + float(acc)·(S1·S2[c])`, the `Z1·ΣW` term subtracted in
    /// f32, LiteRT's batch indexing of the row scales); XNNPACK delegates it
    /// with its `qd8` quantizer.
    pub fn hybrid_bmm_method(self) -> HybridMethod {
        match self {
            Profile::TfliteXnnpack => HybridMethod::XnnpackQd8,
            _ => HybridMethod::LiteRt(HybridScaling::ScaleProduct),
        }
    }
}
