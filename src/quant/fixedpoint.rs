//! gemmlowp-style fixed-point numbers, as used by the integer softmax.
//!
//! A fixed-point number with `I` integer bits is an `i32` `raw` standing for
//! `raw / 2^(31 − I)`. Products of two such numbers with `I_a` and `I_b`
//! integer bits have `I_a + I_b` integer bits and are computed with
//! [`saturating_rounding_doubling_high_mul`]; sums are plain (wrapping) adds.
//!
//! Only what the softmax kernel needs is here: `exp` on negative inputs, the
//! reciprocal `1 / (1 + x)` for `x ∈ [0, 1)`, and rescaling between formats.

use super::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul};

/// `raw` of `1.0` in a format with `int_bits` integer bits (for 0 integer
/// bits, 1.0 is not representable and the largest value is used, as gemmlowp does).
#[inline]
pub fn one(int_bits: i32) -> i32 {
    if int_bits == 0 {
        i32::MAX
    } else {
        1i32 << (31 - int_bits)
    }
}

/// Fixed-point product: `a · b`, formats add their integer bits.
#[inline]
pub fn mul(a: i32, b: i32) -> i32 {
    saturating_rounding_doubling_high_mul(a, b)
}

/// gemmlowp's `SaturatingRoundingMultiplyByPOT<exponent>`: `x · 2^exponent`,
/// saturating for positive exponents, rounding (ties away) for negative ones.
#[inline]
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent > 0 {
        let threshold = (1i32 << (31 - exponent)) - 1;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x << exponent
        }
    } else if exponent < 0 {
        rounding_divide_by_pot(x, -exponent)
    } else {
        x
    }
}

/// Change format from `src_int_bits` to `dst_int_bits` integer bits (`Rescale`).
#[inline]
pub fn rescale(x: i32, src_int_bits: i32, dst_int_bits: i32) -> i32 {
    saturating_rounding_multiply_by_pot(x, src_int_bits - dst_int_bits)
}

/// gemmlowp's `RoundingHalfSum`: `(a + b) / 2`, rounded (ties away from zero).
#[inline]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `exp(−1/8)` in Q0.31 (derived in [`super::softmax_derivation`]).
pub const EXP_MINUS_ONE_EIGHTH: i32 = 1895147668;
/// `1/3` in Q0.31.
pub const ONE_THIRD: i32 = 715827883;
/// `(k, exp(−2^k) in Q0.31)` for `k = −2 … 4`: one factor per bit of the
/// multiple of 1/4 in [`exp_on_negative_values`].
pub const EXP_BARREL: [(i32, i32); 7] = [
    (-2, 1672461947),
    (-1, 1302514674),
    (0, 790015084),
    (1, 290630308),
    (2, 39332535),
    (3, 720401),
    (4, 242),
];
/// `48/17` in Q2.29: the constant term of the reciprocal's initial guess.
pub const C48_OVER_17: i32 = 1515870810;
/// `−32/17` in Q2.29: its slope.
pub const CNEG32_OVER_17: i32 = -1010580540;

/// `exp(a)` for `a ∈ [−1/4, 0)`, 0 integer bits in and out: a Taylor
/// expansion around −1/8 to the fourth order.
pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    let x = a.wrapping_add(1 << 28); // a + 1/8
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    let poly = saturating_rounding_multiply_by_pot(
        mul(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
        -1,
    );
    EXP_MINUS_ONE_EIGHTH.wrapping_add(mul(EXP_MINUS_ONE_EIGHTH, x.wrapping_add(poly)))
}

/// gemmlowp's `exp_on_negative_values` for an input with `int_bits` integer
/// bits (the softmax uses 5): `exp(a)` for `a ≤ 0`, result with 0 integer bits.
///
/// `a` is split into `a mod 1/4` (handled by a polynomial) and a multiple of
/// 1/4 whose bits each multiply the result by a constant `exp(−2^k)`.
pub fn exp_on_negative_values(a: i32, int_bits: i32) -> i32 {
    let frac_bits = 31 - int_bits;
    let one_quarter = 1i32 << (frac_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(
        a_mod_quarter_minus_one_quarter,
        int_bits,
        0,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    for &(k, multiplier) in EXP_BARREL.iter() {
        if int_bits > k {
            let shift = frac_bits + k;
            if remainder & (1i32 << shift) != 0 {
                result = mul(result, multiplier);
            }
        }
    }
    if int_bits > 5 {
        let clamp_b = 36 - int_bits;
        let clamp = -(1i32 << clamp_b);
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = one(0);
    }
    result
}

/// `1 / (1 + a)` for `a ∈ [0, 1)` (0 integer bits in and out), by three
/// Newton–Raphson steps from the initial guess `48/17 − 32/17 · d`, where `d`
/// is the half-denominator `(1 + a)/2`.
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let half_denominator = rounding_half_sum(a, one(0)); // Q0.31
    let mut x = C48_OVER_17.wrapping_add(mul(half_denominator, CNEG32_OVER_17)); // Q2.29
    for _ in 0..3 {
        let half_denominator_times_x = mul(half_denominator, x); // Q2.29
        let one_minus = one(2).wrapping_sub(half_denominator_times_x); // Q2.29
        x = x.wrapping_add(rescale(mul(x, one_minus), 4, 2));
    }
    // ExactMulByPot<-1> halves the value by relabelling the format (Q2.29 →
    // Q1.30, same raw bits); then Rescale<0> to Q0.31.
    rescale(x, 1, 0)
}

/// `(1 − a) / (1 + a)` for `a ∈ [0, 1)` (0 integer bits in and out), by the
/// same Newton–Raphson division as [`one_over_one_plus_x_for_x_in_0_1`].
pub fn one_minus_x_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let half_denominator = rounding_half_sum(a, one(0)); // Q0.31
    let mut x = C48_OVER_17.wrapping_add(mul(half_denominator, CNEG32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = mul(half_denominator, x);
        let one_minus = one(2).wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(rescale(mul(x, one_minus), 4, 2));
    }
    rescale(x.wrapping_sub(one(2)), 2, 0)
}

/// gemmlowp's `logistic` of a fixed-point number with `int_bits` integer
/// bits, result with 0 integer bits: `1/(1 + exp(−|a|))`, mirrored as
/// `1 − ·` for negative `a`, exactly one half at 0.
pub fn logistic(a: i32, int_bits: i32) -> i32 {
    if a == 0 {
        return rounding_divide_by_pot(one(0), 1);
    }
    let abs = if a > 0 { a } else { a.wrapping_neg() };
    let positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(abs.wrapping_neg(), int_bits));
    if a > 0 {
        positive
    } else {
        one(0).wrapping_sub(positive)
    }
}

/// gemmlowp's `tanh` of a fixed-point number with `int_bits` integer bits,
/// result with 0 integer bits: `(1 − e^{2n})/(1 + e^{2n})` for `n = −|a|`,
/// with the sign of `a`.
pub fn tanh(a: i32, int_bits: i32) -> i32 {
    if a == 0 {
        return 0;
    }
    let n = if a < 0 { a } else { a.wrapping_neg() };
    // ExactMulByPot<1>: the same raw bits read with one more integer bit.
    let t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, int_bits + 1));
    if a < 0 {
        t.wrapping_neg()
    } else {
        t
    }
}

/// TFLite's `GetReciprocal`: `1 / x` for a fixed-point `x > 0` with
/// `x_integer_digits` integer bits. Returns the Q0.31 mantissa and the number
/// of bits it sits above the unit, so that `1/x = mantissa · 2^−num_bits_over_unit`.
pub fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = x_integer_digits - headroom_plus_one;
    let shifted_sum_minus_one =
        ((x as u32).wrapping_shl(headroom_plus_one as u32)).wrapping_sub(1u32 << 31) as i32;
    (one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_f(raw: i32, int_bits: i32) -> f64 {
        raw as f64 / 2f64.powi(31 - int_bits)
    }

    #[test]
    fn exp_is_close_to_exp() {
        for i in 0..2000 {
            let a = -(i as f64) / 100.0; // 0 … −20
            let raw = (a * 2f64.powi(26)).round() as i32;
            let e = to_f(exp_on_negative_values(raw, 5), 0);
            assert!((e - a.exp()).abs() < 2e-7 + 1e-6 * a.exp(), "exp({a}) = {e}");
        }
    }

    #[test]
    fn reciprocal_is_close() {
        for i in 1..500 {
            let x = 1.0 + i as f64 * 0.01; // in Q12
            let raw = (x * 2f64.powi(19)).round() as i32;
            let (m, n) = get_reciprocal(raw, 12);
            let r = to_f(m, 0) * 2f64.powi(-n);
            let expected = 1.0 / (raw as f64 / 2f64.powi(19));
            assert!((r - expected).abs() < 1e-6, "1/{x}: {r} vs {expected}");
        }
    }
}
