//! The runtimes' differing choices for 16x8 models (int16 activations, int8
//! weights, int64 bias): six named choices, each read from the runtime's
//! source and confirmed by the goldens of `data/manifests/int16.json`
//! (three of them are visible in those goldens; the fourth, [`Profile::activation16_pot`],
//! only for an input scale that is a power of two: `pot_16x8` of `data/manifests/int16_pot.json`,
//! where the table and the fixed point differ on 5 228 to 5 593 of each activation's 6 000 outputs).
//!
//! XNNPACK takes no int16 operator, so `tflite-xnnpack` runs LiteRT's
//! optimized builtin kernels here and answers as `tflite-builtin` does.
//!
//! | choice | `tflite-ref` | `tflite-builtin`, `tflite-xnnpack` | `tflm` |
//! |---|---|---|---|
//! | [`Profile::fc16_scaling`] | `round(double(acc)·M)` | same | M0 reduced to 16 bits, one rounding |
//! | [`Profile::softmax16_lut_float`] | tables in double | same | tables in float |
//! | [`Profile::mul16_multiplier`] | `M = S_a·S_b/S_out` in f32 | same | in double |
//! | [`Profile::activation16_pot`] (LOGISTIC, TANH) | sigmoid table | gemmlowp fixed point when the input scale is a power of two | sigmoid table |
//! | [`Profile::add16_blocks`] (non-broadcast ADD) | reference formula | NEON blocks of 16, the input shift folded; tail reference | reference formula |
//! | [`Profile::addsub16_pot`] (ADD, SUB with `pot_scale_int16` and power-of-two scales) | shift and saturate | same | the general formula |
//!
//! The last two are separated by the goldens of `int16_ties`
//! (`data/manifests/int16_ties.json`, `tests/goldens_int16_ties.rs`).
//! CONV_2D and DEPTHWISE_CONV_2D compute the same in every runtime (the
//! int64 `MultiplyByQuantizedMultiplier`, [`crate::quant::int16`]), as do
//! broadcast ADDs and general-scale SUBs (left shift 15), MEAN, the pools,
//! PAD, CONCATENATION and RESHAPE.

use super::Profile;
pub use crate::quant::int16::LutFloat;

/// How FULLY_CONNECTED scales its int64 accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scaling16 {
    /// `round(double(acc) · (double(S1)·double(S2)/double(S3)))`, ties away
    /// from zero (LiteRT's int16 `reference_integer_ops::FullyConnected`,
    /// used by both its reference and its optimized kernels).
    DoubleHalfAway,
    /// `MultiplyByQuantizedMultiplier(int64 acc, M0, shift)`: M0 reduced to
    /// Q15, one rounding ties toward +∞ (TFLite Micro).
    ReducedMultiplier,
}

/// How MUL computes its real multiplier `M = S_a·S_b / S_out` before
/// `QuantizeMultiplier`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MulMultiplier16 {
    /// In f32 (`input1->params.scale * input2->params.scale / output->params.scale`
    /// with float operands), then widened to double (LiteRT's `mul.cc`).
    F32Product,
    /// In double (`static_cast<double>` of each scale, TFLite Micro's `mul_common.cc`).
    DoubleProduct,
}

/// How int16 LOGISTIC and TANH treat an input whose scale is a power of two
/// (`input_multiplier == 0` in LiteRT's `activations.cc`). Other scales take
/// the sigmoid table in every runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation16Pot {
    /// `reference_integer_ops::Logistic`/`Tanh` on the 256-entry sigmoid table.
    SigmoidTable,
    /// `optimized_ops::Logistic`/`Tanh` (gemmlowp fixed point on a Q3.12 input,
    /// [`crate::quant::fixedpoint16`]; TANH on a 2^-11 scale doubles its input first).
    GemmlowpFixedPoint,
}

impl Profile {
    /// How int16 FULLY_CONNECTED scales its int64 accumulator.
    pub fn fc16_scaling(self) -> Scaling16 {
        match self {
            Profile::TfliteRef | Profile::TfliteBuiltin | Profile::TfliteXnnpack => Scaling16::DoubleHalfAway,
            Profile::Tflm => Scaling16::ReducedMultiplier,
        }
    }

    /// The float type of int16 SOFTMAX's `exp` and `1/(1+x)` tables.
    pub fn softmax16_lut_float(self) -> LutFloat {
        match self {
            Profile::TfliteRef | Profile::TfliteBuiltin | Profile::TfliteXnnpack => LutFloat::F64,
            Profile::Tflm => LutFloat::F32,
        }
    }

    /// The precision of int16 MUL's real multiplier.
    pub fn mul16_multiplier(self) -> MulMultiplier16 {
        match self {
            Profile::TfliteRef | Profile::TfliteBuiltin | Profile::TfliteXnnpack => MulMultiplier16::F32Product,
            Profile::Tflm => MulMultiplier16::DoubleProduct,
        }
    }

    /// How int16 LOGISTIC and TANH treat a power-of-two input scale.
    pub fn activation16_pot(self) -> Activation16Pot {
        match self {
            Profile::TfliteRef | Profile::Tflm => Activation16Pot::SigmoidTable,
            Profile::TfliteBuiltin | Profile::TfliteXnnpack => Activation16Pot::GemmlowpFixedPoint,
        }
    }
}

// int16_ties (issue 14): LiteRT builtin's int16 ADD blocks, and the power-of-two ADD/SUB
impl Profile {
    /// Which elements of a non-broadcast int16 ADD with general scales follow
    /// the reference formula.
    ///
    /// LiteRT's optimized `AddElementwiseInt16` runs every full block of 16
    /// elements through NEON intrinsics (the `ai-edge-litert` wheel is built
    /// with NEON_2_SSE and without AVX2, so the NEON branch is the one that
    /// runs on x86): `vqrdmulh(x·2^(15+shift), M0)`, the input's right shift
    /// folded into the left shift — one rounding instead of the reference's
    /// two — and the tail of `n mod 16` elements by the reference formula
    /// ([`crate::ops::add::NeonBlocks`], form `FoldedShift`). Broadcast ADDs
    /// take `reference_ops::BroadcastAdd6DSlow` in every kernel set, and SUB's
    /// `SubElementwiseInt16` has no NEON block (the reference on this wheel).
    /// XNNPACK takes no int16 op, so `tflite-xnnpack` runs builtin's kernel.
    /// Over the 24 golden images of `int16_ties` builtin's ADD outputs differ
    /// from the reference formula's on 482 elements; with this choice 0 differ
    /// (`tests/goldens_int16_ties.rs`).
    pub fn add16_blocks(self) -> super::AddBlocks {
        match self {
            Profile::TfliteBuiltin | Profile::TfliteXnnpack => super::AddBlocks::NeonBlocks,
            Profile::TfliteRef | Profile::Tflm => super::AddBlocks::Reference,
        }
    }

    /// How an int16 ADD or SUB whose options say `pot_scale_int16` (the
    /// schema's default) and whose three scales are powers of two computes.
    pub fn addsub16_pot(self) -> AddSub16Pot {
        match self {
            Profile::TfliteRef | Profile::TfliteBuiltin | Profile::TfliteXnnpack => AddSub16Pot::ShiftAndSaturate,
            Profile::Tflm => AddSub16Pot::GeneralScales,
        }
    }
}

/// An int16 ADD/SUB with `pot_scale_int16` and power-of-two scales ([`Profile::addsub16_pot`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddSub16Pot {
    /// LiteRT (`reference_ops::Add` with `pot_scale`, `Sub16`,
    /// `BroadcastSub16POTSlow`, the same in its optimized kernel set): the
    /// input on the finer scale shifted right by the log2 difference
    /// (`RoundingDivideByPOT`), the other taken as it is, added or subtracted
    /// with int16 saturation. The scales count as powers of two when their
    /// log2 is within 1e-3 of an integer (`CheckedLog2`), and only the rounded
    /// log2 is used.
    ShiftAndSaturate,
    /// TFLite Micro never reads the flag: the general left-shift-15 formula.
    GeneralScales,
}
