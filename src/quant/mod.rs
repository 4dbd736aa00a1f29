//! The arithmetic of quantized inference, one small function per equation.
//!
//! The names follow Jacob et al., *Quantization and Training of Neural
//! Networks for Efficient Integer-Arithmetic-Only Inference* (CVPR 2018) and
//! gemmlowp's `doc/quantization.md`.
//!
//! ## The affine map
//!
//! A real number `r` is represented by an integer `q` with a scale `S` (a
//! positive real) and a zero point `Z` (an integer of q's type):
//!
//! ```text
//!     r = S · (q − Z)                                  (1)   dequantize
//!     q = clamp(round(r / S) + Z, q_min, q_max)         (2)   quantize
//! ```
//!
//! ## A layer in integers
//!
//! For a fully connected layer `r3 = Σ r1·r2 + b` with input (S1, Z1),
//! weights (S2, Z2) and output (S3, Z3), substitute (1) for every term:
//!
//! ```text
//!     S3 (q3 − Z3) = Σ S1 (q1 − Z1) · S2 (q2 − Z2) + S1·S2·q_bias
//!     q3 = Z3 + M · ( Σ (q1 − Z1)(q2 − Z2) + q_bias ),   M = S1·S2 / S3   (3)
//! ```
//!
//! `S3` is the scale of the layer's **output tensor**: every tensor in a
//! `.tflite` file carries its own scale and zero point, and the output's are
//! the ones in (3). The bias is stored as int32 with scale `S1·S2` and zero
//! point 0 so it adds straight into the accumulator.
//!
//! `M` is a real number, usually in (0, 1). Integer-only runtimes write it as
//!
//! ```text
//!     M = M0 · 2^(shift − 31)      M0: an int32 in [2^30, 2^31), shift: an int
//! ```
//!
//! **This is the one shift convention of quantlens** (README, `inspect`,
//! `export`, notebooks, docs). `M0` and `shift` are exactly the two outputs
//! of TFLite's `QuantizeMultiplier(M, &M0, &shift)` ([`quantize_multiplier`]):
//! `shift > 0` is a left shift, `shift < 0` a right shift by `−shift`. Reading
//! `M0` as the Q31 fraction `M0 / 2^31 ∈ [0.5, 1)` gives the same `M` as
//! `(M0 / 2^31) · 2^shift`. Example: `M = 0.0123` → `M0 = 1690499128`,
//! `shift = −6`, `M = 1690499128 · 2^(−37)`.
//!
//! The runtime multiplies with
//! [`saturating_rounding_doubling_high_mul`] followed by a rounding shift
//! ([`rounding_divide_by_pot`]). Other runtimes multiply in `double` or in
//! `float`. These choices round differently in rare cases; which runtime uses
//! which is recorded in [`crate::profile`].

pub mod fixedpoint;
pub mod softmax_derivation;
// dynamic range (issue 11): the run-time input quantizers
pub mod hybrid;
pub mod int16; // topic int16: 16x8 arithmetic
pub mod fixedpoint16; // int16_pot (issue 11): gemmlowp logistic/tanh on int16

/// Equation (1): `r = S · (q − Z)`, computed as TFLite's DEQUANTIZE does
/// (the product of the float scale and the exact integer difference, rounded
/// once to f32).
#[inline]
pub fn dequantize(q: i32, scale: f32, zero_point: i32) -> f32 {
    (scale as f64 * (q as i64 - zero_point as i64) as f64) as f32
}

/// Equation (2): `q = clamp(round(r / S) + Z)`, with TFLite's reference
/// rounding (`round`, ties away from zero) of the f32 quotient `r / S`.
///
/// Total over every input: a quotient beyond the integer range (including
/// ±∞) clamps to `q_max` / `q_min`; NaN counts as 0 and gives `clamp(Z)`.
/// (TFLite casts the rounded quotient to `int32_t`, which C leaves undefined
/// for |r/S| ≥ 2^31 and NaN; on x86 that cast yields `INT32_MIN`.)
#[inline]
pub fn quantize(r: f32, scale: f32, zero_point: i32, q_min: i32, q_max: i32) -> i32 {
    // `as i64` saturates (NaN → 0), so the sum cannot overflow after it.
    let q = (round_half_away_from_zero_f32(r / scale) as i64).saturating_add(zero_point as i64);
    q.clamp(q_min as i64, q_max as i64) as i32
}

/// The real multiplier of equation (3): `M = S1·S2 / S3`, in double precision
/// as TFLite's `GetQuantizedConvolutionMultipler` computes it.
#[inline]
pub fn real_multiplier(s1: f32, s2: f32, s3: f32) -> f64 {
    (s1 as f64 * s2 as f64) / s3 as f64
}

/// `M = M0 · 2^(shift − 31)` with `M0` an i32 in [2^30, 2^31) (a Q31 fraction
/// in [0.5, 1)), as TFLite's `QuantizeMultiplier` derives it from `frexp`:
///
/// ```text
///     M = q · 2^shift,  q ∈ [0.5, 1)        (frexp)
///     M0 = round(q · 2^31)                  (ties away from zero)
///     if M0 = 2^31:  M0 = 2^30, shift += 1  (rounding carried into the exponent)
///     if shift < −31: M0 = 0, shift = 0     (M too small: flushed to zero)
/// ```
///
/// Returns `(0, 0)` for `M = 0`. `M` must be finite and non-negative.
pub fn quantize_multiplier(m: f64) -> (i32, i32) {
    if m == 0.0 || !m.is_finite() {
        return (0, 0);
    }
    let (q, mut shift) = frexp(m);
    let mut m0 = (q * (1u64 << 31) as f64).round() as i64;
    if m0 == 1i64 << 31 {
        m0 /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        m0 = 0;
    }
    (m0 as i32, shift)
}

/// `x = q · 2^e` with `q ∈ [0.5, 1)` (C's `frexp`) for finite, non-zero `x`.
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    if exp_bits == 0 {
        // Subnormal: scale up into the normal range first.
        let (q, e) = frexp(x * f64::powi(2.0, 64));
        return (q, e - 64);
    }
    let e = exp_bits - 1022;
    let q_bits = (bits & !(0x7ffu64 << 52)) | (1022u64 << 52);
    (f64::from_bits(q_bits), e)
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: the high 32 bits of
/// `2·a·b`, rounded to nearest, i.e. `round(a · b / 2^31)` — the product of
/// two Q31 numbers as a Q31 number. The nudge `±2^30` followed by C's
/// truncating division makes ties go toward +∞ for either sign
/// (`1.5 → 2`, `−1.5 → −1`).
/// The single overflow case `a = b = i32::MIN` saturates to `i32::MAX`.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // C integer division truncates toward zero; so does Rust's `/`.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent`, rounded to nearest
/// with ties away from zero. `exponent` is in 0..=31.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let mask: i64 = (1i64 << exponent) - 1;
    let remainder = (x as i64) & mask;
    let threshold = (mask >> 1) + if x < 0 { 1 } else { 0 };
    ((x as i64 >> exponent) + if remainder > threshold { 1 } else { 0 }) as i32
}

/// `x / 2^exponent` rounded to nearest with ties toward +∞
/// (`(x + 2^(exponent−1)) >> exponent`): the shift used by single-rounding
/// kernels. `exponent` is in 0..=62.
#[inline]
pub fn rounding_shift_ties_up(x: i64, exponent: i32) -> i64 {
    if exponent == 0 {
        return x;
    }
    (x + (1i64 << (exponent - 1))) >> exponent
}

/// TFLite's double-rounding `MultiplyByQuantizedMultiplier` (gemmlowp
/// recipe): `RoundingDivideByPOT(SRDHM(x · 2^left, M0), right)` where
/// `left = max(shift, 0)`, `right = max(−shift, 0)`. The product is rounded
/// twice: once in the high-mul, once in the shift.
///
/// Total: `x · 2^left` wraps on overflow as the runtimes' two's-complement
/// `x * (1 << left)` does (C leaves it undefined; on x86 it wraps, and a
/// `left` of 32 or more shifts by `left mod 32`); `right` is capped at 31,
/// below which [`quantize_multiplier`] never goes.
#[inline]
pub fn multiply_by_quantized_multiplier_double_rounding(x: i32, m0: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    let x = x.wrapping_mul(1i32.wrapping_shl(left as u32));
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, m0), right.min(31))
}

/// TFLite's single-rounding `MultiplyByQuantizedMultiplier`
/// (`TFLITE_SINGLE_ROUNDING`): `(x · M0 + 2^(30 − shift)) >> (31 − shift)`,
/// one rounding with ties toward +∞, saturated to the i32 range.
///
/// TFLite supports `shift` in −31..=30 only: its `QuantizeMultiplier`
/// saturates a larger multiplier to `(2^31 − 1, 30)`, and a smaller one has
/// already been flushed to `(0, 0)`. The same is done here, so the function
/// is total.
#[inline]
pub fn multiply_by_quantized_multiplier_single_rounding(x: i32, m0: i32, shift: i32) -> i32 {
    let (m0, shift) = match shift {
        s if s > 30 => (i32::MAX, 30),
        s if s < -31 => (0, 0),
        s => (m0, s),
    };
    let total_shift = 31 - shift;
    rounding_shift_ties_up(x as i64 * m0 as i64, total_shift).clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// The high-mul of [`saturating_rounding_doubling_high_mul`] followed by a
/// right shift that rounds ties toward +∞ (`(x + 2^(right−1)) >> right`)
/// instead of away from zero: `M0 · 2^(shift − 31)` applied as in LiteRT's
/// optimized (ruy-based) kernels on x86.
#[inline]
pub fn multiply_by_quantized_multiplier_ties_up_shift(x: i32, m0: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    let x = x.wrapping_mul(1i32.wrapping_shl(left as u32));
    rounding_shift_ties_up(saturating_rounding_doubling_high_mul(x, m0) as i64, right.min(31)) as i32
}

/// `round(x)` with ties away from zero (C's `round`), for f64.
#[inline]
pub fn round_half_away_from_zero(x: f64) -> f64 {
    x.round()
}

/// `round(x)` with ties away from zero (C's `roundf`), for f32.
#[inline]
pub fn round_half_away_from_zero_f32(x: f32) -> f32 {
    x.round()
}

/// `round(x)` with ties to even (`lrintf` in the default rounding mode).
#[inline]
pub fn round_half_to_even_f32(x: f32) -> f32 {
    x.round_ties_even()
}

/// The integer clamp range a fused activation imposes on an output with
/// scale `S` and zero point `Z` (TFLite's `CalculateActivationRangeQuantized`):
/// ReLU clamps below at `quantize(0) = Z`, ReLU6 also above at
/// `quantize(6)`, ReLU_N1_TO_1 at `quantize(±1)`; all within the dtype's range.
pub fn activation_range(
    activation: crate::model::Activation,
    scale: f32,
    zero_point: i32,
    q_min: i32,
    q_max: i32,
) -> (i32, i32) {
    use crate::model::Activation;
    // `as i64` saturates, so a tiny scale (f / scale = ±∞) cannot overflow the sum.
    let q = |f: f32| (zero_point as i64).saturating_add(round_half_away_from_zero_f32(f / scale) as i64);
    let lo = |f: f32| (q_min as i64).max(q(f)).clamp(q_min as i64, q_max as i64) as i32;
    let hi = |f: f32| (q_max as i64).min(q(f)).clamp(q_min as i64, q_max as i64) as i32;
    match activation {
        Activation::Relu => (lo(0.0), q_max),
        Activation::Relu6 => (lo(0.0), hi(6.0)),
        Activation::ReluN1To1 => (lo(-1.0), hi(1.0)),
        _ => (q_min, q_max),
    }
}

/// The float clamp range a fused activation imposes on a float output:
/// TFLite's `CalculateActivationRange<float>`. NONE is `[−FLT_MAX, FLT_MAX]`
/// and RELU `[0, FLT_MAX]` (finite, so a clamped ±∞ becomes ±FLT_MAX).
pub fn activation_range_f32(activation: crate::model::Activation) -> (f32, f32) {
    use crate::model::Activation;
    match activation {
        Activation::Relu => (0.0, f32::MAX),
        Activation::Relu6 => (0.0, 6.0),
        Activation::ReluN1To1 => (-1.0, 1.0),
        _ => (f32::MIN, f32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_multiplier_examples() {
        // 0.5 = 0.5 · 2^0 → M0 = 2^30, shift 0.
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        // 0.25 = 0.5 · 2^-1.
        assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
        // 1.0 = 0.5 · 2^1.
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        // Rounding up to 2^31 carries into the exponent.
        let m = 1.0 - 1e-12;
        assert_eq!(quantize_multiplier(m), (1 << 30, 1));
        // Tiny multipliers flush to zero.
        assert_eq!(quantize_multiplier(1e-12), (0, 0));
        assert_eq!(quantize_multiplier(0.0), (0, 0));
    }

    #[test]
    fn frexp_matches_definition() {
        for &x in &[1.0, 0.75, 3.0, 1e-300, 5e-324, 123456.789, 0.001] {
            let (q, e) = frexp(x);
            assert!((0.5..1.0).contains(&q), "{x}: q={q}");
            // Recompose in two steps so 2^e itself cannot underflow.
            assert_eq!(q * 2f64.powi(e + 600) * 2f64.powi(-600), x);
        }
    }

    #[test]
    fn srdhm_edges() {
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
        // 3 · 2^30 / 2^31 = 1.5 → 2 and −1.5 → −1: ties toward +∞.
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
        // Not a tie: −1.75 → −2.
        assert_eq!(saturating_rounding_doubling_high_mul(-7, 1 << 29), -2);
    }

    #[test]
    fn rounding_divide_by_pot_ties_away() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_shift_ties_up(-5, 1), -2);
        assert_eq!(rounding_shift_ties_up(5, 1), 3);
    }

    #[test]
    fn dequantize_quantize_roundtrip() {
        let (s, z) = (0.02f32, -3);
        for q in -128..=127 {
            let r = dequantize(q, s, z);
            assert_eq!(quantize(r, s, z, -128, 127), q);
        }
    }

    #[test]
    fn relu_range_starts_at_zero_point() {
        use crate::model::Activation;
        assert_eq!(activation_range(Activation::Relu, 0.1, -128, -128, 127), (-128, 127));
        assert_eq!(activation_range(Activation::Relu, 0.1, -20, -128, 127), (-20, 127));
        assert_eq!(activation_range(Activation::Relu6, 0.1, -20, -128, 127), (-20, 40));
        assert_eq!(activation_range(Activation::None, 0.1, -20, -128, 127), (-128, 127));
    }
}
