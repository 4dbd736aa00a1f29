//! gemmlowp fixed point on **int16** raws: `logistic` and `tanh` as LiteRT's
//! optimized int16 LOGISTIC/TANH kernels run them (`FixedPoint<int16_t, 3>`
//! in, `FixedPoint<int16_t, 0>` out), for an input scale of 2^-12 (Q3.12).
//!
//! The algorithms are those of [`super::fixedpoint`] (exp on negative values
//! by a Taylor polynomial on [−1/4, 0) and a barrel of `exp(−2^k)` factors,
//! `1/(1 + x)` and `(1 − x)/(1 + x)` by three Newton–Raphson steps), with
//! every value a 16-bit raw `q` standing for `q / 2^(15 − I)` (`I` integer
//! bits). What changes with the width:
//!
//! - the product [`srdhm`] is `(a·b + 2^14 ± …) / 2^15` in int32;
//! - every constant is gemmlowp's int32 constant divided by 2^16 with
//!   rounding ([`constant`], `RescaleConstantInitializer`);
//! - the last addition of the exp polynomial **saturates**
//!   (`AddSaturatingIf16Bit`); all other sums wrap, as int16 adds do;
//! - `1.0` with 0 integer bits is 32767.
//!
//! LiteRT runs 16 or 8 values at a time through gemmlowp's SSE4 types and the
//! rest through the scalar ones. The two agree on every input these
//! functions see: `_mm_mulhrs_epi16` rounds `a·b/2^15` ties up, and so does
//! the scalar product (its nudge `1 − 2^14` for negative products truncates
//! toward zero); the SSE `RoundingHalfSum` (`_mm_avg_epu16`) differs from the
//! scalar one only on a negative odd sum, and it is only ever given `x + 1`
//! with `x ≥ 0`.

use super::rounding_divide_by_pot;

/// 1.0 with 0 integer bits: the largest raw.
pub const ONE_Q0: i16 = i16::MAX;

/// gemmlowp's int32 fixed-point constant rescaled to int16 (`RescaleConstantInitializer`).
#[inline]
pub fn constant(raw32: i32) -> i16 {
    rounding_divide_by_pot(raw32, 16) as i16
}

/// `SaturatingRoundingDoublingHighMul` on int16: `a·b / 2^15`, rounded, `−1·−1` saturated.
#[inline]
pub fn srdhm(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let ab = a as i32 * b as i32;
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// `RoundingDivideByPOT` on int16 (ties away from zero).
#[inline]
pub fn rounding_divide(x: i16, exponent: i32) -> i16 {
    rounding_divide_by_pot(x as i32, exponent) as i16
}

/// `SaturatingRoundingMultiplyByPOT<exponent>` on int16.
#[inline]
pub fn multiply_by_pot(x: i16, exponent: i32) -> i16 {
    if exponent > 0 {
        let threshold = (1i32 << (15 - exponent)) - 1;
        if x as i32 > threshold {
            i16::MAX
        } else if (x as i32) < -threshold {
            i16::MIN
        } else {
            ((x as i32) << exponent) as i16
        }
    } else if exponent < 0 {
        rounding_divide(x, -exponent)
    } else {
        x
    }
}

/// `Rescale`: from `src` to `dst` integer bits.
#[inline]
fn rescale(x: i16, src: i32, dst: i32) -> i16 {
    multiply_by_pot(x, src - dst)
}

/// The scalar `RoundingHalfSum` on int16: `(a + b + sign) / 2`.
#[inline]
fn rounding_half_sum(a: i16, b: i16) -> i16 {
    let sum = a as i32 + b as i32;
    ((sum + if sum >= 0 { 1 } else { -1 }) / 2) as i16
}

/// `exp(a)` for `a ∈ [−1/4, 0)`, 0 integer bits in and out.
pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i16) -> i16 {
    let c = constant(super::fixedpoint::EXP_MINUS_ONE_EIGHTH);
    let x = a.wrapping_add(1 << 12); // a + 1/8
    let x2 = srdhm(x, x);
    let x3 = srdhm(x2, x);
    let x4 = srdhm(x2, x2);
    let x4_over_4 = multiply_by_pot(x4, -2);
    let poly = multiply_by_pot(srdhm(x4_over_4.wrapping_add(x3), constant(super::fixedpoint::ONE_THIRD)).wrapping_add(x2), -1);
    c.saturating_add(srdhm(c, x.wrapping_add(poly)))
}

/// `exp(a)` for `a ≤ 0` with `int_bits` integer bits; result with 0 integer bits.
pub fn exp_on_negative_values(a: i16, int_bits: i32) -> i16 {
    let frac_bits = 15 - int_bits;
    let one_quarter = 1i16 << (frac_bits - 2);
    let a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(a_mod_quarter_minus_one_quarter, int_bits, 0));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    for &(k, multiplier) in super::fixedpoint::EXP_BARREL.iter() {
        if int_bits > k {
            let bit = 1i32 << (frac_bits + k);
            if remainder as i32 & bit != 0 {
                result = srdhm(result, constant(multiplier));
            }
        }
    }
    if int_bits > 5 && (a as i32) < constant(-(1 << (36 - int_bits))) as i32 {
        result = 0;
    }
    if a == 0 {
        result = ONE_Q0;
    }
    result
}

/// The three Newton–Raphson steps for `1/(1 + a)`, `a ∈ [0, 1)`: the
/// estimate in Q2.13 (the half-denominator `(1 + a)/2` times it tends to 1).
fn newton_raphson(a: i16) -> i16 {
    let half_denominator = rounding_half_sum(a, ONE_Q0);
    let mut x = constant(super::fixedpoint::C48_OVER_17).wrapping_add(srdhm(half_denominator, constant(super::fixedpoint::CNEG32_OVER_17)));
    for _ in 0..3 {
        let one_minus = (1i16 << 13).wrapping_sub(srdhm(half_denominator, x));
        x = x.wrapping_add(rescale(srdhm(x, one_minus), 4, 2));
    }
    x
}

/// `1/(1 + a)` for `a ∈ [0, 1)`, 0 integer bits in and out.
pub fn one_over_one_plus_x_for_x_in_0_1(a: i16) -> i16 {
    // ExactMulByPot<−1>: Q2.13 relabelled Q1.14, then Rescale<0>.
    rescale(newton_raphson(a), 1, 0)
}

/// `(1 − a)/(1 + a)` for `a ∈ [0, 1)`, 0 integer bits in and out.
pub fn one_minus_x_over_one_plus_x_for_x_in_0_1(a: i16) -> i16 {
    rescale(newton_raphson(a).wrapping_sub(1 << 13), 2, 0)
}

/// gemmlowp's `logistic` of an int16 fixed-point number with `int_bits`
/// integer bits; result in Q0.15.
pub fn logistic(a: i16, int_bits: i32) -> i16 {
    if a == 0 {
        return constant(1 << 30);
    }
    let abs = if a > 0 { a } else { a.wrapping_neg() };
    let positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(abs.wrapping_neg(), int_bits));
    if a > 0 {
        positive
    } else {
        ONE_Q0.wrapping_sub(positive)
    }
}

/// gemmlowp's `tanh` of an int16 fixed-point number with `int_bits` integer
/// bits; result in Q0.15.
pub fn tanh(a: i16, int_bits: i32) -> i16 {
    if a == 0 {
        return 0;
    }
    let n = if a < 0 { a } else { a.wrapping_neg() };
    // ExactMulByPot<1>: the same raw read with one more integer bit.
    let t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, int_bits + 1));
    if a < 0 {
        t.wrapping_neg()
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_the_int32_ones_over_2_16() {
        assert_eq!(constant(1 << 30), 1 << 14);
        assert_eq!(constant(super::super::fixedpoint::EXP_MINUS_ONE_EIGHTH), 28918); // exp(−1/8)·2^15 = 28917.6
    }

    #[test]
    fn products_round_ties_up_like_mulhrs() {
        // (a·b + 2^14) >> 15, floor: _mm_mulhrs_epi16.
        for (a, b) in [(1i16, 16384i16), (-1, 16384), (3, 16384), (-3, 16384), (-32768, -32768), (-32768, 32767)] {
            let mulhrs = if a == i16::MIN && b == i16::MIN { i16::MAX } else { ((a as i32 * b as i32 + (1 << 14)) >> 15) as i16 };
            assert_eq!(srdhm(a, b), mulhrs, "{a}·{b}");
        }
    }

    #[test]
    fn logistic_and_tanh_follow_the_real_functions() {
        for raw in (-32768i32..=32767).step_by(97) {
            let x = raw as f64 / 4096.0; // Q3.12
            let l = logistic(raw as i16, 3) as f64 / 32768.0;
            let t = tanh(raw as i16, 3) as f64 / 32768.0;
            assert!((l - 1.0 / (1.0 + (-x).exp())).abs() < 4e-4, "logistic({x}) = {l}");
            assert!((t - x.tanh()).abs() < 6e-4, "tanh({x}) = {t}");
        }
        assert_eq!(logistic(0, 3), 16384);
        assert_eq!(tanh(0, 3), 0);
    }
}
