//! Where the real runtimes differ — and the only place that knows.
//!
//! Every TFLite runtime computes equation (3) of [`crate::quant`], but they
//! do not round the product `M · acc` the same way, and they do not compute
//! the softmax the same way. Each such difference is one named choice here;
//! kernels ask the [`Profile`] for the choice and never test which runtime
//! they are emulating.
//!
//! | profile          | runtime                                   | `M · acc` ([`Rounding`])                                  | softmax ([`SoftmaxMethod`]) |
//! |------------------|-------------------------------------------|-----------------------------------------------------------|-----------------------------|
//! | `tflite-ref`     | LiteRT, reference kernels (`BUILTIN_REF`) | `round(double(acc)·M)`, ties away from zero               | gemmlowp fixed point        |
//! | `tflite-builtin` | LiteRT, optimized builtin kernels         | `M0·2^(shift−31)`: high-mul, then a shift rounding ties to +∞  | f32 `exp` lookup table      |
//! | `tflite-xnnpack` | LiteRT default (XNNPACK delegate)         | `round_half_even(float(acc)·float(M))`                    | f32 `exp` lookup table (SOFTMAX is not delegated) |
//! | `tflm`           | TensorFlow Lite Micro                     | `M0·2^(shift−31)`: high-mul, then a shift rounding ties away   | gemmlowp fixed point        |
//!
//! The convolutional and graph ops add one named choice each where the
//! runtimes differ (all confirmed by the goldens of `cnn_*`, `resnet_*`,
//! `ops_ptq_int8`):
//!
//! | choice | `tflite-ref` | `tflite-builtin` | `tflite-xnnpack` | `tflm` |
//! |---|---|---|---|---|
//! | [`Profile::conv_rounding`], [`Profile::depthwise_rounding`] | M0/shift double rounding | M0/shift ties up | f32, half even | M0/shift double rounding |
//! | [`Profile::add_method`] (ADD, SUB) | left shift 20, double rounding | same | XNNPACK 20-bit multipliers | left shift 20, double rounding |
//! | [`Profile::add_blocks`] (8-bit ADD) | reference formula | NEON blocks of 8/16, tails reference | reference (XNNPACK's own recipe) | reference formula |
//! | [`Profile::mul_rounding`] | M0/shift double rounding | same | f32, half even | same as ref |
//! | [`Profile::mean_method`] | M0/shift with 1/n folded in | same | f32 | same as ref |
//! | [`Profile::relu_method`] (RELU, RELU6) | requantize to the output scale | same | same (not delegated) | RELU: requantize; RELU6: clamp in the input's scale |
//! | [`Profile::leaky_relu_method`] | two M0/shift multipliers | same | 8-bit multipliers | same as ref |
//! | [`Profile::logistic_method`], [`Profile::tanh_method`] | f32 table | f32 table | f32 table | gemmlowp fixed point |
//!
//! MAX_POOL_2D, AVERAGE_POOL_2D, PAD, CONCATENATION, HARD_SWISH and the
//! shape ops compute the same in every runtime. Some choices are read from
//! the runtime's source but not separated by the data (the alternatives give
//! the same bits on these models): LOGISTIC/TANH table vs fixed point for
//! `tflite-ref`, the rounding of ADD/SUB and MUL in `tflite-ref`/`tflm`.
//!
//! On the committed MLPs these choices make, over 1 000 images, e.g. 44 of
//! 512 000 first-layer outputs differ by ±1 between `tflite-ref` and
//! `tflite-builtin` (counts for every pair: `data/manifest.json`).
//!
//! The assignments were established by reading each runtime's source and
//! confirmed against goldens produced by the runtimes themselves
//! (`data/goldens/`, checked element by element by `tests/goldens.rs`).

use std::fmt;
use std::str::FromStr;

use crate::error::EngineError;
use crate::model::OpKind;
use crate::quant;

/// One of the emulated runtimes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// LiteRT with its reference kernels (`OpResolverType.BUILTIN_REF`).
    #[default]
    TfliteRef,
    /// LiteRT with its optimized builtin kernels, no delegate.
    TfliteBuiltin,
    /// LiteRT's default: the XNNPACK delegate where it takes the op.
    TfliteXnnpack,
    /// TensorFlow Lite for Microcontrollers.
    Tflm,
}

impl Profile {
    /// All profiles, in the order the documentation lists them.
    pub const ALL: [Profile; 4] =
        [Profile::TfliteRef, Profile::TfliteBuiltin, Profile::TfliteXnnpack, Profile::Tflm];

    /// The name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Profile::TfliteRef => "tflite-ref",
            Profile::TfliteBuiltin => "tflite-builtin",
            Profile::TfliteXnnpack => "tflite-xnnpack",
            Profile::Tflm => "tflm",
        }
    }

    /// The short runtime key used for golden files (`data/goldens/<model>/<key>.npz`).
    pub fn golden_key(self) -> &'static str {
        match self {
            Profile::TfliteRef => "ref",
            Profile::TfliteBuiltin => "builtin",
            Profile::TfliteXnnpack => "xnnpack",
            Profile::Tflm => "tflm",
        }
    }

    /// How FULLY_CONNECTED (and the other matmul-like ops) turn the int32
    /// accumulator into `M · acc`, for a given kind of quantized layer.
    pub fn fc_rounding(self, _kind: LayerKind) -> Rounding {
        match self {
            Profile::TfliteRef => Rounding::DoubleHalfAway,
            Profile::TfliteBuiltin => Rounding::FixedPointTiesUp,
            Profile::TfliteXnnpack => Rounding::Float32HalfEven,
            Profile::Tflm => Rounding::FixedPointDoubleRounding,
        }
    }

    /// How QUANTIZE rescales an integer tensor into another integer type.
    pub fn requantize_rounding(self) -> Rounding {
        match self {
            Profile::TfliteRef | Profile::Tflm => Rounding::FixedPointDoubleRounding,
            Profile::TfliteBuiltin => Rounding::FixedPointTiesUp,
            Profile::TfliteXnnpack => Rounding::Float32HalfEven,
        }
    }

    /// How SOFTMAX computes `exp` and the normalisation.
    pub fn softmax(self) -> SoftmaxMethod {
        match self {
            Profile::TfliteRef | Profile::Tflm => SoftmaxMethod::GemmlowpFixedPoint,
            Profile::TfliteBuiltin | Profile::TfliteXnnpack => SoftmaxMethod::FloatExpTable,
        }
    }

    /// How CONV_2D rounds `M[c] · acc`.
    pub fn conv_rounding(self) -> Rounding {
        match self {
            Profile::TfliteRef | Profile::Tflm => Rounding::FixedPointDoubleRounding,
            Profile::TfliteBuiltin => Rounding::FixedPointTiesUp,
            Profile::TfliteXnnpack => Rounding::Float32HalfEven,
        }
    }

    /// How DEPTHWISE_CONV_2D rounds `M[c] · acc`.
    pub fn depthwise_rounding(self) -> Rounding {
        match self {
            Profile::TfliteRef | Profile::Tflm => Rounding::FixedPointDoubleRounding,
            Profile::TfliteBuiltin => Rounding::FixedPointTiesUp,
            Profile::TfliteXnnpack => Rounding::Float32HalfEven,
        }
    }

    /// How ADD and SUB combine two int8 inputs of different scales.
    pub fn add_method(self) -> AddMethod {
        match self {
            Profile::TfliteRef | Profile::TfliteBuiltin | Profile::Tflm => {
                AddMethod::LeftShift20(Rounding::FixedPointDoubleRounding)
            }
            Profile::TfliteXnnpack => AddMethod::XnnpackFixedPoint,
        }
    }

    /// How MUL rounds `M · (a − Z_a)(b − Z_b)`.
    pub fn mul_rounding(self) -> Rounding {
        match self {
            Profile::TfliteRef | Profile::TfliteBuiltin | Profile::Tflm => Rounding::FixedPointDoubleRounding,
            Profile::TfliteXnnpack => Rounding::Float32HalfEven,
        }
    }

    /// How MEAN turns the int32 sum into the output.
    pub fn mean_method(self) -> MeanMethod {
        match self {
            Profile::TfliteRef | Profile::TfliteBuiltin | Profile::Tflm => {
                MeanMethod::FoldedMultiplier(Rounding::FixedPointDoubleRounding)
            }
            Profile::TfliteXnnpack => MeanMethod::Float32,
        }
    }

    /// How a standalone RELU / RELU6 / RELU_N1_TO_1 maps input to output.
    pub fn relu_method(self, kind: &OpKind) -> ReluMethod {
        match (self, kind) {
            (Profile::Tflm, OpKind::Relu6 | OpKind::ReluN1To1) => ReluMethod::ClampInInputScale,
            _ => ReluMethod::Requantize(Rounding::FixedPointDoubleRounding),
        }
    }

    /// How LEAKY_RELU scales the two halves.
    pub fn leaky_relu_method(self) -> LeakyReluMethod {
        match self {
            Profile::TfliteRef | Profile::TfliteBuiltin | Profile::Tflm => {
                LeakyReluMethod::TwoMultipliers(Rounding::FixedPointDoubleRounding)
            }
            Profile::TfliteXnnpack => LeakyReluMethod::EightBitMultipliers,
        }
    }

    /// How int8 LOGISTIC is computed.
    pub fn logistic_method(self) -> ActivationLutMethod {
        match self {
            Profile::Tflm => ActivationLutMethod::GemmlowpFixedPoint,
            Profile::TfliteRef | Profile::TfliteBuiltin | Profile::TfliteXnnpack => ActivationLutMethod::FloatTable,
        }
    }

    /// How int8 TANH is computed.
    pub fn tanh_method(self) -> ActivationLutMethod {
        match self {
            Profile::Tflm => ActivationLutMethod::GemmlowpFixedPoint,
            Profile::TfliteRef | Profile::TfliteBuiltin | Profile::TfliteXnnpack => ActivationLutMethod::FloatTable,
        }
    }

    // --- vit ---
    /// How DEQUANTIZE computes `S·(q − Z)` in f32 (see [`crate::ops::dequantize`]).
    /// Seen in `vit_ptq_int8`'s float islands: 773 of 1 920 DEQUANTIZE outputs
    /// of the optimized kernel differ from the reference formula in the last bit.
    pub fn dequantize_method(self) -> DequantizeMethod {
        match self {
            Profile::TfliteBuiltin => DequantizeMethod::VectorMla8,
            Profile::TfliteRef | Profile::TfliteXnnpack | Profile::Tflm => DequantizeMethod::Reference,
        }
    }

    /// How int8 SUM reads its input. LiteRT 2.3's reference kernel
    /// (`reduce.cc`, `QuantizedMeanOrSum<int8_t, kReference>`) hands the int8
    /// buffers to the uint8 instantiation: each q is read as `q mod 256`, the
    /// result is clamped to 0..=255 and stored back as the int8 of those bits.
    /// The optimized kernel and XNNPACK sum the int8 values. (In
    /// `tops_ptq_int8` the reference thus writes −1 for every element.)
    pub fn sum_method(self) -> SumMethod {
        match self {
            Profile::TfliteRef => SumMethod::ReadAsUint8,
            Profile::TfliteBuiltin | Profile::TfliteXnnpack | Profile::Tflm => SumMethod::Int8,
        }
    }

    /// How float32 NEG treats zero: LiteRT's kernels flip the sign bit
    /// (`−0.0` from `0.0`); XNNPACK, which takes float NEG inside the ViT's
    /// float islands, computes `0 − x` (`+0.0` from `0.0` and from `−0.0`).
    /// Seen in `vit_ptq_int8`'s goldens: every other element agrees.
    pub fn neg_method(self) -> NegMethod {
        match self {
            Profile::TfliteXnnpack => NegMethod::ZeroMinus,
            Profile::TfliteRef | Profile::TfliteBuiltin | Profile::Tflm => NegMethod::SignFlip,
        }
    }

    // vision (issue 14)
    /// How TRANSPOSE_CONV rounds `M[c] · acc`.
    pub fn transpose_conv_rounding(self) -> Rounding {
        match self {
            Profile::TfliteRef | Profile::TfliteBuiltin | Profile::Tflm => Rounding::FixedPointDoubleRounding,
            Profile::TfliteXnnpack => Rounding::Float32HalfEven,
        }
    }

    /// Whether int8 MEAN of a 4-D tensor over axes 1 and 2 with `keep_dims`
    /// (a squeeze-and-excitation block's pooling) takes LiteRT's optimized
    /// `optimized_integer_ops::Mean`: the raw sum scaled by an f32 multiplier
    /// plus an f32-truncated bias, instead of the reference's centered sum.
    pub fn mean_keep_dims_hw_optimized(self) -> bool {
        self == Profile::TfliteBuiltin
    }

    /// How RESIZE_BILINEAR interpolates: LiteRT's reference formula (int8
    /// in Q10, which LiteRT runs for int8 in every kernel set, and TFLite
    /// Micro), or XNNPACK's Q11 two-step interpolation.
    pub fn bilinear_method(self) -> BilinearMethod {
        match self {
            Profile::TfliteXnnpack => BilinearMethod::Xnnpack,
            _ => BilinearMethod::Reference,
        }
    }

    /// How TRANSPOSE_CONV requantizes each output channel: one rounding for
    /// all, or (LiteRT's optimized `TransposeConvV2` → `optimized_ops::Quantize`)
    /// blocks of 8 channels through NEON code (NEON_2_SSE on x86; `vrshlq`
    /// rounds the final shift ties up) and the last `C mod 8` channels through
    /// the scalar `MultiplyByQuantizedMultiplier` (double rounding).
    pub fn transpose_conv_requant(self) -> ChannelRequant {
        match self {
            Profile::TfliteBuiltin => ChannelRequant::VectorBlocks { block: 8 },
            other => ChannelRequant::Uniform(other.transpose_conv_rounding()),
        }
    }

    /// How int8 PRELU rounds its two products `M₁·x` and `M₂·x·α`.
    pub fn prelu_rounding(self) -> Rounding {
        Rounding::FixedPointDoubleRounding
    }

    /// In which precision PRELU computes `M₁ = S1/S3` and `M₂ = S1·Sα/S3`
    /// from the f32 scales: LiteRT's `prelu.cc` in f32 (`input->params.scale /
    /// output->params.scale`), TFLite Micro's `prelu_common.cc` in double.
    /// Read from the source; the committed models do not separate the two
    /// (swapping them leaves every PRELU golden equal).
    pub fn prelu_multipliers(self) -> ScalePrecision {
        match self {
            Profile::TfliteRef | Profile::TfliteBuiltin | Profile::TfliteXnnpack => ScalePrecision::Float32,
            Profile::Tflm => ScalePrecision::Double,
        }
    }

    /// A sentence on what this profile does differently (for `inspect` and the notebooks).
    pub fn describe(self) -> &'static str {
        match self {
            Profile::TfliteRef => "LiteRT reference kernels: M·acc in double, rounded half away from zero; softmax in gemmlowp fixed point",
            Profile::TfliteBuiltin => "LiteRT optimized builtins: M0·2^(shift−31) with a high-mul and a right shift rounding ties toward +inf; softmax from an f32 exp table",
            Profile::TfliteXnnpack => "LiteRT default (XNNPACK): M·acc in f32, rounded half to even; softmax from an f32 exp table (not delegated)",
            Profile::Tflm => "TFLite Micro: M0·2^(shift−31), gemmlowp double rounding (high-mul then rounding shift, ties away); softmax in gemmlowp fixed point",
        }
    }

    // arch (issue 14: LOG_SOFTMAX, Conv1D)
    /// How int8 LOG_SOFTMAX computes `ln Σ exp`: LiteRT's reference kernel
    /// and TFLite Micro in gemmlowp fixed point
    /// (`reference_integer_ops::LogSoftmax`), LiteRT's optimized kernel (which
    /// XNNPACK leaves the op to) from an f32 `expf` table with `logf` and
    /// `rint` (see [`crate::ops::log_softmax`]). Read from the source: on
    /// the committed goldens the two methods give the same bits.
    pub fn log_softmax_method(self) -> LogSoftmaxMethod {
        match self {
            Profile::TfliteRef | Profile::Tflm => LogSoftmaxMethod::GemmlowpFixedPoint,
            Profile::TfliteBuiltin | Profile::TfliteXnnpack => LogSoftmaxMethod::FloatExpTable,
        }
    }

    /// How an int8 → int8 (or uint8 → uint8) QUANTIZE with different scales
    /// is computed where XNNPACK takes it (f32 ratio `S_in/S_out` in
    /// [2^−8, 2^7]): its convert operator's Q8 multiplier
    /// `lrintf(256·S_in/S_out)`, rounding ties up; elsewhere
    /// [`Profile::requantize_rounding`]. Seen in `logsoftmax_ptq_int8`: the
    /// f32 half-to-even rule misses 4 419 of 78 400 elements of one QUANTIZE.
    pub fn requantize_8bit_method(self) -> Requantize8Method {
        match self {
            Profile::TfliteXnnpack => Requantize8Method::XnnpackQ8,
            Profile::TfliteRef | Profile::TfliteBuiltin | Profile::Tflm => Requantize8Method::Rounding,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Profile, EngineError> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == s || p.golden_key() == s)
            .ok_or_else(|| EngineError::UnknownProfile(s.to_string()))
    }
}

/// The kind of quantized layer, in case a runtime rounds them differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerKind {
    /// int8 activations, per-channel int8 weights.
    Int8PerChannel,
    /// int8 activations, per-tensor int8 weights.
    Int8PerTensor,
    /// uint8 activations and asymmetric uint8 weights (legacy models).
    Uint8,
}

/// How `M · acc` is rounded to an integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// `round(double(acc) · M)`, ties away from zero, with `M = S1·S2/S3` in double.
    DoubleHalfAway,
    /// `RoundingDivideByPOT(SRDHM(acc·2^left, M0), right)`: the gemmlowp double rounding.
    FixedPointDoubleRounding,
    /// `(acc · M0 + 2^(30−shift)) >> (31−shift)`: one rounding, ties toward +∞
    /// (TFLite built with `TFLITE_SINGLE_ROUNDING`).
    FixedPointSingleRounding,
    /// `SRDHM(acc·2^left, M0)` then a right shift rounding ties toward +∞.
    FixedPointTiesUp,
    /// `round_half_even(float(acc) · float(M))`, with `M` computed in f32.
    Float32HalfEven,
}

impl Rounding {
    /// All rounding rules (for experiments and the notebooks).
    pub const ALL: [Rounding; 5] = [
        Rounding::DoubleHalfAway,
        Rounding::FixedPointDoubleRounding,
        Rounding::FixedPointSingleRounding,
        Rounding::FixedPointTiesUp,
        Rounding::Float32HalfEven,
    ];

    /// Apply the rule: the integer nearest `M · acc` in this rule's sense.
    #[inline]
    pub fn apply(self, acc: i32, m: &Multiplier) -> i32 {
        match self {
            Rounding::DoubleHalfAway => {
                let v = quant::round_half_away_from_zero(acc as f64 * m.real);
                v.clamp(i32::MIN as f64, i32::MAX as f64) as i32
            }
            Rounding::FixedPointDoubleRounding => {
                quant::multiply_by_quantized_multiplier_double_rounding(acc, m.m0, m.shift)
            }
            Rounding::FixedPointSingleRounding => {
                quant::multiply_by_quantized_multiplier_single_rounding(acc, m.m0, m.shift)
            }
            Rounding::FixedPointTiesUp => quant::multiply_by_quantized_multiplier_ties_up_shift(acc, m.m0, m.shift),
            Rounding::Float32HalfEven => {
                let v = quant::round_half_to_even_f32(acc as f32 * m.real_f32);
                v.clamp(i32::MIN as f32, i32::MAX as f32) as i32
            }
        }
    }

    /// A short name for tables and charts.
    pub fn name(self) -> &'static str {
        match self {
            Rounding::DoubleHalfAway => "double, half away from zero",
            Rounding::FixedPointDoubleRounding => "M0/shift, gemmlowp double rounding",
            Rounding::FixedPointSingleRounding => "M0/shift, single rounding ties up",
            Rounding::FixedPointTiesUp => "M0/shift, high-mul then shift ties up",
            Rounding::Float32HalfEven => "f32, half to even",
        }
    }

    /// True when the rule uses the fixed-point form `M0 · 2^(shift − 31)`.
    pub fn uses_fixed_point(self) -> bool {
        matches!(self, Rounding::FixedPointDoubleRounding | Rounding::FixedPointSingleRounding | Rounding::FixedPointTiesUp)
    }
}

impl Rounding {
    /// A stable short key for reports and tests: `half-away` (tflite-ref),
    /// `double-rounding` (tflm: high-mul, then a shift rounding ties away),
    /// `half-up` (tflite-builtin: high-mul, then a shift rounding half up),
    /// `half-up-single` (one rounding of the 64-bit product), `half-even-f32`
    /// (tflite-xnnpack).
    pub fn key(self) -> &'static str {
        match self {
            Rounding::DoubleHalfAway => "half-away",
            Rounding::FixedPointDoubleRounding => "double-rounding",
            Rounding::FixedPointSingleRounding => "half-up-single",
            Rounding::FixedPointTiesUp => "half-up",
            Rounding::Float32HalfEven => "half-even-f32",
        }
    }

    /// The profiles whose FULLY_CONNECTED uses this rule (empty for
    /// [`Rounding::FixedPointSingleRounding`], which only a TFLite built with
    /// `TFLITE_SINGLE_ROUNDING` uses).
    pub fn profiles(self) -> Vec<Profile> {
        Profile::ALL.into_iter().filter(|p| p.fc_rounding(LayerKind::Int8PerChannel) == self).collect()
    }
}

/// Rounding rules no emulated runtime uses but hand-written implementations
/// often do: `floor`, truncation (a C cast, numpy's `astype(int)`), half-up
/// and half-even (numpy's `np.round`) in double precision, the 64-bit
/// product `acc · M0` shifted right without rounding (floor), and the
/// high-mul followed by a convergent (ties-to-even) shift. [`crate::diff`] tries them when looking for the cause of a
/// divergence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NaiveRounding {
    /// `floor(acc · M)` in double.
    DoubleFloor,
    /// `trunc(acc · M)` in double (toward zero: a C cast, `astype(int)`).
    DoubleTruncate,
    /// `floor(acc · M + 0.5)` in double: ties toward +∞.
    DoubleHalfUp,
    /// `round_half_even(acc · M)` in double: numpy's `np.round` / `np.rint`.
    DoubleHalfEven,
    /// `(acc · M0) >> (31 − shift)` on the 64-bit product: floor, no rounding
    /// (a plain arithmetic shift, common in hand-written RTL).
    FixedPointFloor,
    /// The high-mul `SRDHM(acc·2^left, M0)` as TFLite does it, then a right
    /// shift rounding ties to even (convergent rounding, as DSP blocks offer).
    FixedPointHalfEven,
}

impl NaiveRounding {
    /// All of them.
    pub const ALL: [NaiveRounding; 6] = [
        NaiveRounding::DoubleFloor,
        NaiveRounding::DoubleTruncate,
        NaiveRounding::DoubleHalfUp,
        NaiveRounding::DoubleHalfEven,
        NaiveRounding::FixedPointFloor,
        NaiveRounding::FixedPointHalfEven,
    ];

    /// Apply the rule to `acc · M` (saturated to i32).
    pub fn apply(self, acc: i32, m: &Multiplier) -> i32 {
        let real = acc as f64 * m.real;
        let v: f64 = match self {
            NaiveRounding::DoubleFloor => real.floor(),
            NaiveRounding::DoubleTruncate => real.trunc(),
            NaiveRounding::DoubleHalfUp => (real + 0.5).floor(),
            NaiveRounding::DoubleHalfEven => real.round_ties_even(),
            NaiveRounding::FixedPointHalfEven => {
                let left = m.shift.max(0);
                let right = (-m.shift).clamp(0, 31);
                let x = acc.wrapping_mul(1i32.wrapping_shl(left as u32));
                let high = quant::saturating_rounding_doubling_high_mul(x, m.m0) as i64;
                if right == 0 {
                    return high as i32;
                }
                let floor = high >> right;
                let rem = high - (floor << right);
                let half = 1i64 << (right - 1);
                let q = if rem > half || (rem == half && floor & 1 == 1) { floor + 1 } else { floor };
                return q as i32;
            }
            NaiveRounding::FixedPointFloor => {
                let prod = acc as i128 * m.m0 as i128;
                if m.shift > 31 {
                    let q = prod << (m.shift - 31).min(64);
                    return q.clamp(i32::MIN as i128, i32::MAX as i128) as i32;
                }
                let sh = (31 - m.shift).clamp(0, 126) as u32;
                return (prod >> sh).clamp(i32::MIN as i128, i32::MAX as i128) as i32;
            }
        };
        v.clamp(i32::MIN as f64, i32::MAX as f64) as i32
    }

    /// A stable short key for reports and tests.
    pub fn key(self) -> &'static str {
        match self {
            NaiveRounding::DoubleFloor => "floor",
            NaiveRounding::DoubleTruncate => "truncate",
            NaiveRounding::DoubleHalfUp => "half-up-double",
            NaiveRounding::DoubleHalfEven => "half-even",
            NaiveRounding::FixedPointFloor => "floor-fixed-point",
            NaiveRounding::FixedPointHalfEven => "half-even-fixed-point",
        }
    }

    /// A short description.
    pub fn name(self) -> &'static str {
        match self {
            NaiveRounding::DoubleFloor => "floor(acc·M) in double",
            NaiveRounding::DoubleTruncate => "truncation toward zero (a C cast, astype(int))",
            NaiveRounding::DoubleHalfUp => "half-up, floor(acc·M + 0.5) in double",
            NaiveRounding::DoubleHalfEven => "half-even in double (np.round)",
            NaiveRounding::FixedPointFloor => "floor: (acc·M0) >> (31−shift) without rounding",
            NaiveRounding::FixedPointHalfEven => "high-mul, then a shift rounding ties to even (convergent)",
        }
    }
}

/// The multiplier `M = S1·S2/S3` of one output channel, in every form a
/// runtime uses: double, f32, and fixed point `M0 · 2^(shift − 31)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Multiplier {
    /// `M` in double precision: `(double(S1)·double(S2)) / double(S3)`.
    pub real: f64,
    /// `M` computed in f32 arithmetic: `(S1·S2) / S3`.
    pub real_f32: f32,
    /// Q31 mantissa of `M` (see [`quant::quantize_multiplier`]).
    pub m0: i32,
    /// Power-of-two exponent of `M`: `M ≈ M0 · 2^(shift − 31)`.
    pub shift: i32,
}

impl Multiplier {
    /// The multiplier of a layer with input scale `s1`, weight scale `s2` and output scale `s3`.
    pub fn from_scales(s1: f32, s2: f32, s3: f32) -> Multiplier {
        let real = quant::real_multiplier(s1, s2, s3);
        let (m0, shift) = quant::quantize_multiplier(real);
        Multiplier { real, real_f32: (s1 * s2) / s3, m0, shift }
    }

    /// The multiplier of a legacy uint8 layer, as TFLite's
    /// `GetQuantizedConvolutionMultipler` computes it: the product `S1·S2`
    /// is rounded to f32 before the division in double.
    pub fn from_scales_legacy(s1: f32, s2: f32, s3: f32) -> Multiplier {
        let real = (s1 * s2) as f64 / s3 as f64;
        let (m0, shift) = quant::quantize_multiplier(real);
        Multiplier { real, real_f32: (s1 * s2) / s3, m0, shift }
    }

    /// A multiplier given directly as a real number (already computed the way
    /// the runtime computes it); `real_f32` is its f32 rounding.
    pub fn from_real(real: f64) -> Multiplier {
        let (m0, shift) = quant::quantize_multiplier(real);
        Multiplier { real, real_f32: real as f32, m0, shift }
    }

    /// The multiplier of a plain rescale `s_in / s_out` (QUANTIZE between integer types).
    pub fn from_ratio(s_in: f32, s_out: f32) -> Multiplier {
        let real = s_in as f64 / s_out as f64;
        let (m0, shift) = quant::quantize_multiplier(real);
        Multiplier { real, real_f32: s_in / s_out, m0, shift }
    }
}

/// How SOFTMAX is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SoftmaxMethod {
    /// gemmlowp fixed point: `exp` on negative Q5.26 inputs, a Q12.19 sum, a
    /// Newton–Raphson reciprocal, a rounding shift.
    GemmlowpFixedPoint,
    /// A 256-entry f32 table of `exp(−S·β·d)`, an f32 sum, f32 normalisation, `round`.
    FloatExpTable,
}

/// How ADD / SUB combine two int8 inputs with different scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddMethod {
    /// Center, shift left by 20, scale both to `2·max(S_a, S_b)`, add, scale
    /// to the output; every `round(M · ·)` by the given rule.
    LeftShift20(Rounding),
    /// XNNPACK: 20-bit multipliers from f32 scale ratios, one accumulator,
    /// an arithmetic shift with ties toward +∞.
    XnnpackFixedPoint,
}

/// How MEAN turns the int32 sum into the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeanMethod {
    /// `S_in/S_out` as M0·2^(shift−31) with `1/n` folded into M0, rounded by the rule.
    FoldedMultiplier(Rounding),
    /// XNNPACK: `round_half_even(f32(sum)·s + z)` with `s = f32(S_in/S_out)·(1/n)`
    /// and the zero points folded in f32, `z = Z_out − f32(n·Z_in)·s`.
    Float32,
}

/// How a standalone RELU-family op maps int8 input to output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReluMethod {
    /// Rescale to the output's scale (M0·2^(shift−31), by the rule), clamp to the output's range.
    Requantize(Rounding),
    /// Clamp in the input's scale and copy: the output's scale is ignored.
    ClampInInputScale,
}

/// How LEAKY_RELU scales its two halves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeakyReluMethod {
    /// Identity and alpha multipliers in M0·2^(shift−31) form, rounded by the rule.
    TwoMultipliers(Rounding),
    /// 8-bit multipliers `lrint(256·scale)`, `(d·m + 128) >> 8`.
    EightBitMultipliers,
}

/// How int8 LOGISTIC and TANH are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActivationLutMethod {
    /// gemmlowp fixed point on a Q4.27 input.
    GemmlowpFixedPoint,
    /// A 256-entry table of `round(f(x)/S_out) + Z_out` computed in f32.
    FloatTable,
}

// dynamic range (issue 11): the choices of hybrid operators
mod hybrid;

// topic int16: the 16x8 choices (int16 activations, int8 weights, int64 bias).
mod int16;
pub use int16::{Activation16Pot, LutFloat, MulMultiplier16, Scaling16};

// --- vit ---
/// How float32 NEG computes `−x` ([`Profile::neg_method`]); they differ only on zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NegMethod {
    /// `−x`: flip the sign bit.
    SignFlip,
    /// `0 − x`: zeros come out `+0.0`.
    ZeroMinus,
}

/// How DEQUANTIZE computes `S·(q − Z)` ([`Profile::dequantize_method`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DequantizeMethod {
    /// `S · f32(q − Z)` in f32 (reference kernels, TFLite Micro, XNNPACK).
    Reference,
    /// `f32(q)·S + f32(−Z·S)` by blocks of 8, the tail as `f32(double(S)·(q − Z))`
    /// (LiteRT's optimized kernel).
    VectorMla8,
}

// vision (issue 14)
/// The arithmetic a runtime derives a real multiplier in from the f32 scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScalePrecision {
    /// f32 arithmetic, then widened to double for `QuantizeMultiplier`.
    Float32,
    /// Each scale widened to double first.
    Double,
}

/// How RESIZE_BILINEAR interpolates (see [`Profile::bilinear_method`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BilinearMethod {
    /// LiteRT `reference_ops::ResizeBilinear` (int8: Q10 positions, Q20 sums).
    Reference,
    /// XNNPACK `ibilinear`: Q11 weights, two-step interpolation.
    Xnnpack,
}

/// How a per-channel requantization rounds each channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelRequant {
    /// Every channel the same way.
    Uniform(Rounding),
    /// Channels `[0, block·⌊C/block⌋)` with the vector code's ties-up final
    /// shift, the remaining channels with the scalar double rounding.
    VectorBlocks { block: usize },
}

impl ChannelRequant {
    /// The rounding of each of `channels` channels.
    pub fn per_channel(self, channels: usize) -> Vec<Rounding> {
        match self {
            ChannelRequant::Uniform(r) => vec![r; channels],
            ChannelRequant::VectorBlocks { block } => (0..channels)
                .map(|c| if c < channels / block * block { Rounding::FixedPointTiesUp } else { Rounding::FixedPointDoubleRounding })
                .collect(),
        }
    }
}
pub use hybrid::{HybridMethod, HybridScaling};
/// How int8 SUM reads its input ([`Profile::sum_method`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SumMethod {
    /// Sum the int8 values.
    Int8,
    /// Sum the bytes as uint8 and clamp to 0..=255 (LiteRT 2.3's reference kernel).
    ReadAsUint8,
}

// arch (issue 14: LOG_SOFTMAX)
/// How int8 LOG_SOFTMAX is computed ([`Profile::log_softmax_method`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogSoftmaxMethod {
    /// Q5.26 differences, `exp` summed in Q12.19, a fixed-point `ln`, a rounding shift onto the 1/16 grid.
    GemmlowpFixedPoint,
    /// A 256-entry f32 table of `expf(−S_in·d)`, an f32 sum, `logf`, the f32 output formula, `rint`.
    FloatExpTable,
}

/// How a same-type 8-bit QUANTIZE requantizes ([`Profile::requantize_8bit_method`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Requantize8Method {
    /// [`Profile::requantize_rounding`] applied to `M = S_in/S_out`.
    Rounding,
    /// XNNPACK's Q8 convert: `Z_out + ((q − Z_in)·lrintf(256·S_in/S_out) + 128) >> 8`.
    XnnpackQ8,
}

// uint8 (issue 14, u8): the choices only the uint8 kernels make
impl Profile {
    /// How uint8 RESIZE_BILINEAR interpolates. int8 takes LiteRT's Q10
    /// reference kernel in every LiteRT kernel set; uint8 does not: the
    /// reference kernel (`reference_ops::ResizeBilinear<uint8_t>`) sums the
    /// four f32 terms `v·(1−dy)·(1−dx)` (top-left, bottom-left, top-right,
    /// bottom-right) + 0.5 and truncates; the optimized kernel (builtin)
    /// multiplies each value by a precomputed weight product
    /// `((1−dy)·(1−dx))`, in the order top-left, top-right, bottom-left,
    /// bottom-right, + 0.5, truncated; XNNPACK takes the op in its Q11 form.
    /// Seen in `uint8_ops`'s goldens: builtin differs from ref by 1 on 75 of
    /// 21 600 outputs, and each rule gives 0 differing against its runtime.
    pub fn bilinear_uint8_method(self) -> BilinearUint8Method {
        match self {
            Profile::TfliteXnnpack => BilinearUint8Method::Xnnpack,
            Profile::TfliteBuiltin => BilinearUint8Method::OptimizedWeights,
            Profile::TfliteRef | Profile::Tflm => BilinearUint8Method::Reference,
        }
    }
}

/// How uint8 RESIZE_BILINEAR interpolates ([`Profile::bilinear_uint8_method`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BilinearUint8Method {
    /// `reference_ops`: Σ v·(1−dy)·(1−dx) in the order TL, BL, TR, BR, + 0.5, truncated.
    Reference,
    /// `optimized_ops`: Σ v·(weight product) in the order TL, TR, BL, BR, + 0.5, truncated.
    OptimizedWeights,
    /// XNNPACK: Q11 weights, two-step interpolation (as int8).
    Xnnpack,
}

// add_ties (issue 14): LiteRT builtin's 8-bit ADD in NEON blocks
impl Profile {
    /// Which elements of a uint8/int8 ADD follow the reference formula.
    ///
    /// The reference (LiteRT `BUILTIN_REF`, TFLite Micro) rescales each
    /// centered input as `RoundingDivideByPOT(SRDHM(x·2^20, M0), −shift)`.
    /// LiteRT's optimized kernels (`optimized_ops::AddElementwise` /
    /// `AddScalarBroadcast`, `optimized_integer_ops::AddElementwiseInt8` /
    /// `AddScalarBroadcast`) run every full block of 8 (int8 elementwise: 16)
    /// elements of a kernel call through NEON intrinsics — on x86 the same
    /// intrinsics through NEON_2_SSE — which shift right with `vshlq_s32`
    /// (truncating) instead of rounding, or (int8 elementwise) fold the right
    /// shift into the left shift (one rounding instead of two); the tail of
    /// each call takes the reference formula. Broadcasts are split into calls by
    /// `BinaryBroadcastFiveFold` ([`crate::ops::add::NeonBlocks`]). On exact
    /// ties the 2^-20 that truncation loses decides the output: over the 24
    /// golden images LiteRT builtin's ADD outputs differ from the reference
    /// formula's on 1 226 of 264 768 in `add_ties_uint8` and 911 of 264 768 in
    /// `add_ties_int8`; with this choice 0 differ (`tests/goldens_add_ties.rs`).
    /// SUB's 8-bit kernels are the reference in every kernel set; XNNPACK
    /// has its own recipe ([`Profile::add_method`]).
    pub fn add_blocks(self) -> AddBlocks {
        match self {
            Profile::TfliteBuiltin => AddBlocks::NeonBlocks,
            Profile::TfliteRef | Profile::TfliteXnnpack | Profile::Tflm => AddBlocks::Reference,
        }
    }
}

/// Which elements of an 8-bit ADD take a vector block's arithmetic ([`Profile::add_blocks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddBlocks {
    /// Every element by the reference formula.
    Reference,
    /// Full blocks of each kernel call by LiteRT's NEON arithmetic, tails by the reference.
    NeonBlocks,
}

// uint8_tconv (issue 14): uint8 TRANSPOSE_CONV
impl Profile {
    /// How uint8 TRANSPOSE_CONV requantizes its int32 sums. LiteRT's
    /// reference (`reference_ops::TransposeConv`, uint8 signature) rounds
    /// every element with `MultiplyByQuantizedMultiplier` (gemmlowp double
    /// rounding). The optimized `TransposeConvV2` (uint8) ends in
    /// `optimized_ops::Quantize(multiplier, shift, total_size, …)`, which walks
    /// the *flattened* output in blocks of 16 through NEON code
    /// (`MultiplyByQuantizedMultiplier4Rows`: `vqrdmulhq` then `vrshlq`, whose
    /// right shift rounds ties up; NEON_2_SSE on x86) and the last
    /// `total mod 16` elements through the scalar double rounding. LiteRT
    /// 2.3's XNNPACK delegate takes the uint8 op (its qu8 deconvolution):
    /// `float(acc)·float(M)` rounded half to even, as for int8
    /// ([`Profile::transpose_conv_rounding`]). TFLite Micro has no uint8
    /// TRANSPOSE_CONV; its profile keeps the reference's rounding. Seen in
    /// `uint8_tconv`'s goldens (`tests/goldens_uint8_tconv.rs`).
    pub fn transpose_conv_uint8_requant(self) -> FlatRequant {
        match self {
            Profile::TfliteBuiltin => FlatRequant::VectorBlocks { block: 16 },
            other => FlatRequant::Uniform(other.transpose_conv_rounding()),
        }
    }
}

/// How a requantization pass over a flattened output rounds each element
/// ([`Profile::transpose_conv_uint8_requant`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlatRequant {
    /// Every element the same way.
    Uniform(Rounding),
    /// Elements `[0, block·⌊n/block⌋)` of the `n` with the vector code's
    /// ties-up final shift, the last `n mod block` with the scalar double rounding.
    VectorBlocks { block: usize },
}

impl FlatRequant {
    /// The rounding of the elements `[0, split)` and of the elements
    /// `[split, n)` of an `n`-element pass.
    pub fn split(self, n: usize) -> (usize, Rounding, Rounding) {
        match self {
            FlatRequant::Uniform(r) => (n, r, r),
            FlatRequant::VectorBlocks { block } => (n / block * block, Rounding::FixedPointTiesUp, Rounding::FixedPointDoubleRounding),
        }
    }

    /// A short description for `inspect`.
    pub fn name(self) -> String {
        match self {
            FlatRequant::Uniform(r) => r.name().into(),
            FlatRequant::VectorBlocks { block } => format!(
                "blocks of {block} flattened outputs {}, the tail {}",
                Rounding::FixedPointTiesUp.name(),
                Rounding::FixedPointDoubleRounding.name()
            ),
        }
    }
}
// int16_ties (issue 14): the power-of-two int16 ADD/SUB
pub use int16::AddSub16Pot;
