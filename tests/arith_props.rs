//! The quantization arithmetic against straightforward reference formulas
//! (exact i128 integer arithmetic, or f64 where the runtimes use double),
//! over the whole domain of each helper, plus the known edge cases pinned:
//! INT32_MIN·INT32_MIN saturation, shifts of 0 and 31, multipliers that
//! round up to 2^31, tiny multipliers flushed to zero, ties under every
//! rounding rule, clamp bounds at the dtype limits.

use proptest::prelude::*;
use quantlens::model::Activation;
use quantlens::profile::{Multiplier, Rounding};
use quantlens::quant::{self, fixedpoint};

// ---------------------------------------------------------------------------
// Reference formulas
// ---------------------------------------------------------------------------

/// ⌊a / b⌋ for b > 0.
fn floor_div(a: i128, b: i128) -> i128 {
    a.div_euclid(b)
}

fn clamp_i32(v: i128) -> i32 {
    v.clamp(i32::MIN as i128, i32::MAX as i128) as i32
}

/// `round(a·b / 2^31)`, ties toward +∞, saturated: gemmlowp's
/// SaturatingRoundingDoublingHighMul.
fn srdhm_ref(a: i32, b: i32) -> i32 {
    clamp_i32(floor_div(a as i128 * b as i128 + (1 << 30), 1 << 31))
}

/// `round(x / 2^e)`, ties away from zero.
fn rdbp_ref(x: i32, e: u32) -> i32 {
    if e == 0 {
        return x;
    }
    let d = 1i128 << e;
    let (q, r) = (floor_div(x as i128, d), (x as i128).rem_euclid(d));
    let half = d / 2;
    let up = r > half || (r == half && x >= 0);
    (q + up as i128) as i32
}

/// `⌊(x + 2^(e−1)) / 2^e⌋`: round, ties toward +∞.
fn ties_up_ref(x: i128, e: u32) -> i128 {
    if e == 0 {
        x
    } else {
        floor_div(x + (1 << (e - 1)), 1 << e)
    }
}

/// `x · 2^left` as the runtimes compute it in int32 (two's complement wrap,
/// shift count mod 32 as on x86).
fn shl_wrapped(x: i32, left: i32) -> i32 {
    (x as i64 * (1i64 << (left as u32 % 32))) as i32
}

fn double_rounding_ref(x: i32, m0: i32, shift: i32) -> i32 {
    let (left, right) = (shift.max(0), (-shift).max(0));
    rdbp_ref(srdhm_ref(shl_wrapped(x, left), m0), right.min(31) as u32)
}

fn ties_up_shift_ref(x: i32, m0: i32, shift: i32) -> i32 {
    let (left, right) = (shift.max(0), (-shift).max(0));
    ties_up_ref(srdhm_ref(shl_wrapped(x, left), m0) as i128, right.min(31) as u32) as i32
}

/// TFLITE_SINGLE_ROUNDING: `⌊(x·M0 + 2^(30−shift)) / 2^(31−shift)⌋` for
/// shift in −31..=30 (a larger one saturates to (2^31 − 1, 30), a smaller
/// one is a flushed multiplier).
fn single_rounding_ref(x: i32, m0: i32, shift: i32) -> i32 {
    let (m0, shift) = if shift > 30 {
        (i32::MAX, 30)
    } else if shift < -31 {
        (0, 0)
    } else {
        (m0, shift)
    };
    clamp_i32(ties_up_ref(x as i128 * m0 as i128, (31 - shift) as u32))
}

/// 2^e as an f64, for any e (including below the subnormal range: 0).
fn pow2(e: i32) -> f64 {
    let half = e / 2;
    2f64.powi(half) * 2f64.powi(e - half)
}

/// `QuantizeMultiplier`: M = q·2^e with q ∈ [0.5, 1) found by comparisons
/// (not by bits), M0 = round(q·2^31) with the carry into the exponent and
/// the flush below 2^−31.
fn quantize_multiplier_ref(m: f64) -> (i32, i32) {
    if m == 0.0 || !m.is_finite() {
        return (0, 0);
    }
    let mut e = m.log2().floor() as i32 + 1;
    while m * pow2(-e) >= 1.0 {
        e += 1;
    }
    while m * pow2(-e) < 0.5 {
        e -= 1;
    }
    // q · 2^31 = m · 2^(31 − e), exact: scaling by a power of two.
    let scaled = m * pow2(31 - e);
    let mut m0 = scaled.round() as i64;
    if m0 == 1 << 31 {
        m0 = 1 << 30;
        e += 1;
    }
    if e < -31 {
        return (0, 0);
    }
    (m0 as i32, e)
}

/// i32 values with the edges over-represented.
fn int32() -> impl Strategy<Value = i32> {
    prop_oneof![
        4 => any::<i32>(),
        1 => prop::sample::select(vec![i32::MIN, i32::MIN + 1, -(1 << 30), -2, -1, 0, 1, 2, 1 << 30, i32::MAX - 1, i32::MAX]),
        1 => (0u32..31, any::<bool>(), -1i32..=1).prop_map(|(k, neg, d)| {
            let p = 1i32 << k;
            (if neg { -p } else { p }).wrapping_add(d)
        }),
    ]
}

/// A Q31 multiplier mantissa in [2^30, 2^31), or 0 (flushed), or an edge.
fn mantissa() -> impl Strategy<Value = i32> {
    prop_oneof![
        6 => (1i32 << 30)..=i32::MAX,
        1 => Just(1i32 << 30),
        1 => Just(i32::MAX),
        1 => Just(0),
    ]
}

/// Positive finite scales over the whole f32 range, edges included.
fn scale() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => (-40i32..10, 1.0f32..2.0).prop_map(|(e, m)| m * 2f32.powi(e)),
        1 => (1u32..=0x7f7f_ffff).prop_map(f32::from_bits),
        1 => prop::sample::select(vec![f32::from_bits(1), f32::MIN_POSITIVE, 1.0 / 256.0, 1.0, 3e38, f32::MAX]),
    ]
}

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg(20_000))]

    #[test]
    fn srdhm_matches_reference(a in int32(), b in int32()) {
        prop_assert_eq!(quant::saturating_rounding_doubling_high_mul(a, b), srdhm_ref(a, b));
    }

    #[test]
    fn rounding_divide_by_pot_matches_reference(x in int32(), e in 0i32..=31) {
        prop_assert_eq!(quant::rounding_divide_by_pot(x, e), rdbp_ref(x, e as u32));
    }

    #[test]
    fn rounding_shift_ties_up_matches_reference(x in any::<i64>().prop_map(|v| v >> 1), e in 0i32..=62) {
        prop_assert_eq!(quant::rounding_shift_ties_up(x, e) as i128, ties_up_ref(x as i128, e as u32));
    }

    #[test]
    fn multiply_by_quantized_multiplier_matches_reference(x in int32(), m0 in mantissa(), shift in -40i32..=40) {
        prop_assert_eq!(quant::multiply_by_quantized_multiplier_double_rounding(x, m0, shift), double_rounding_ref(x, m0, shift));
        prop_assert_eq!(quant::multiply_by_quantized_multiplier_single_rounding(x, m0, shift), single_rounding_ref(x, m0, shift));
        prop_assert_eq!(quant::multiply_by_quantized_multiplier_ties_up_shift(x, m0, shift), ties_up_shift_ref(x, m0, shift));
    }

    /// Where nothing overflows, every fixed-point rule is within one unit of
    /// the exact product x·M0·2^(shift−31) (single rounding within ½).
    #[test]
    fn fixed_point_rules_are_close_to_the_exact_product(x in int32(), m0 in mantissa(), shift in -31i32..=0) {
        // Exact: x·M0 / 2^(31 − shift), compared in integers scaled by the denominator.
        let (prod, den) = (x as i128 * m0 as i128, 1i128 << (31 - shift));
        let err = |r: i32| (r as i128 * den - prod).abs();
        let d = quant::multiply_by_quantized_multiplier_double_rounding(x, m0, shift);
        let s = quant::multiply_by_quantized_multiplier_single_rounding(x, m0, shift);
        let u = quant::multiply_by_quantized_multiplier_ties_up_shift(x, m0, shift);
        prop_assert!(err(d) < den, "double {}", d);
        prop_assert!(2 * err(s) <= den, "single {}", s);
        prop_assert!(err(u) < den, "ties-up {}", u);
    }

    #[test]
    fn quantize_multiplier_matches_reference(m in prop_oneof![
        4 => (-80i32..80, 0.5f64..1.0).prop_map(|(e, q)| q * pow2(e)),
        1 => (1u64..0x7fef_ffff_ffff_ffff).prop_map(f64::from_bits),
        1 => (-40i32..2, 1u64..64).prop_map(|(e, k)| (1.0 - k as f64 * 2f64.powi(-40)) * pow2(e)),
    ]) {
        let (m0, shift) = quant::quantize_multiplier(m);
        prop_assert_eq!((m0, shift), quantize_multiplier_ref(m));
        if m0 != 0 {
            prop_assert!((1 << 30..=i32::MAX).contains(&m0));
            // M0·2^(shift−31) is M to within half a unit of M0.
            let back = m0 as f64 * pow2(shift - 31);
            prop_assert!((back - m).abs() <= pow2(shift - 32) * (1.0 + 1e-12), "{m} → {m0}·2^({shift}−31) = {back}");
        } else {
            prop_assert_eq!(shift, 0);
            prop_assert!(m < pow2(-32), "{} flushed", m);
        }
    }

    /// `Rounding::apply` for every rule, on multipliers built from real scales.
    #[test]
    fn rounding_rules_match_their_reference(acc in int32(), s1 in scale(), s2 in scale(), s3 in scale()) {
        let m = Multiplier::from_scales(s1, s2, s3);
        for rule in Rounding::ALL {
            let expected = match rule {
                Rounding::DoubleHalfAway => {
                    let v = (acc as f64 * m.real).round();
                    if v.is_nan() { 0 } else { v.clamp(i32::MIN as f64, i32::MAX as f64) as i32 }
                }
                Rounding::FixedPointDoubleRounding => double_rounding_ref(acc, m.m0, m.shift),
                Rounding::FixedPointSingleRounding => single_rounding_ref(acc, m.m0, m.shift),
                Rounding::FixedPointTiesUp => ties_up_shift_ref(acc, m.m0, m.shift),
                Rounding::Float32HalfEven => {
                    let v = (acc as f32 * m.real_f32).round_ties_even();
                    if v.is_nan() { 0 } else { (v as f64).clamp(i32::MIN as f64, i32::MAX as f64) as i32 }
                }
            };
            prop_assert_eq!(rule.apply(acc, &m), expected, "{:?} acc {} M {:?}", rule, acc, m);
        }
    }

    /// Equation (2) with saturation: `clamp(round(r/S) + Z)`, NaN → Z.
    #[test]
    fn quantize_matches_reference(
        r in prop_oneof![4 => -1e6f32..1e6, 1 => any::<f32>(), 1 => prop::sample::select(vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, f32::MAX, f32::MIN])],
        s in scale(),
        (q_min, q_max) in prop::sample::select(vec![(0, 255), (-128, 127), (-32768, 32767), (i32::MIN, i32::MAX)]),
        z_frac in 0.0f64..=1.0,
    ) {
        let z = (q_min as f64 + z_frac * (q_max as f64 - q_min as f64)).round() as i32;
        let quotient = (r / s).round();
        let expected = if quotient.is_nan() { z as f64 } else { quotient as f64 + z as f64 };
        let expected = expected.clamp(q_min as f64, q_max as f64) as i32;
        prop_assert_eq!(quant::quantize(r, s, z, q_min, q_max), expected);
    }

    /// Equation (1) in double, rounded once to f32; and quantize inverts it.
    #[test]
    fn dequantize_round_trips(
        (q_min, q_max) in prop::sample::select(vec![(0, 255), (-128, 127), (-32768, 32767)]),
        q_frac in 0.0f64..=1.0, z_frac in 0.0f64..=1.0,
        s in (-30i32..10, 1.0f32..2.0).prop_map(|(e, m)| m * 2f32.powi(e)),
    ) {
        let pick = |f: f64| (q_min as f64 + f * (q_max - q_min) as f64).round() as i32;
        let (q, z) = (pick(q_frac), pick(z_frac));
        let r = quant::dequantize(q, s, z);
        // s has 24 significant bits and |q − z| < 2^17: the f64 product is exact.
        prop_assert_eq!(r, (s as f64 * (q - z) as f64) as f32);
        prop_assert_eq!(quant::quantize(r, s, z, q_min, q_max), q);
    }

    /// TFLite's CalculateActivationRangeQuantized, with saturation.
    #[test]
    fn activation_range_matches_reference(
        s in scale(),
        (q_min, q_max) in prop::sample::select(vec![(0, 255), (-128, 127), (-32768, 32767)]),
        z_frac in 0.0f64..=1.0,
        act in prop::sample::select(vec![Activation::None, Activation::Relu, Activation::Relu6, Activation::ReluN1To1]),
    ) {
        let z = (q_min as f64 + z_frac * (q_max - q_min) as f64).round() as i32;
        let quant = |f: f32| -> f64 { z as f64 + (f / s).round() as f64 };
        let clamp = |v: f64| v.clamp(q_min as f64, q_max as f64) as i32;
        let expected = match act {
            Activation::Relu => (clamp(quant(0.0)), q_max),
            Activation::Relu6 => (clamp(quant(0.0)), clamp(quant(6.0))),
            Activation::ReluN1To1 => (clamp(quant(-1.0)), clamp(quant(1.0))),
            _ => (q_min, q_max),
        };
        let got = quant::activation_range(act, s, z, q_min, q_max);
        prop_assert_eq!(got, expected);
        prop_assert!(q_min <= got.0 && got.0 <= got.1 && got.1 <= q_max, "{:?}", got);
    }

    /// exp(a) for a ≤ 0 in Q5.26 → Q0.31, against f64 exp (to gemmlowp's
    /// accuracy: its polynomial is good to ≈ 2.3·10^−7).
    #[test]
    fn exp_on_negative_values_is_exp(a in prop_oneof![4 => i32::MIN..=0, 1 => -(31i32 << 26)..=0, 1 => -(1i32 << 20)..=0]) {
        let e = fixedpoint::exp_on_negative_values(a, 5);
        let expected = (a as f64 / pow2(26)).exp();
        let got = e as f64 / pow2(31);
        prop_assert!(e >= 0);
        prop_assert!((got - expected).abs() <= 2e-7 + 1e-6 * expected, "exp({}) = {} vs {}", a as f64 / pow2(26), got, expected);
    }

    /// 1/x for x > 0 in Q12.19, as mantissa · 2^−bits.
    #[test]
    fn get_reciprocal_is_one_over_x(x in prop_oneof![4 => 1i32..=i32::MAX, 1 => 1i32..(1 << 19), 1 => (1i32 << 19)..(1 << 24)]) {
        let (m, bits) = fixedpoint::get_reciprocal(x, 12);
        let got = m as f64 / pow2(31) * pow2(-bits);
        let expected = pow2(19) / x as f64;
        // Three Newton–Raphson steps in Q2.29: accurate to a few 2^−29.
        prop_assert!(((got - expected) / expected).abs() < 1e-8, "1/{} = {} vs {}", x as f64 / pow2(19), got, expected);
    }
}

// ---------------------------------------------------------------------------
// Pinned edge cases
// ---------------------------------------------------------------------------

#[test]
fn srdhm_saturates_only_at_int32_min_squared() {
    assert_eq!(quant::saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
    assert_eq!(quant::saturating_rounding_doubling_high_mul(i32::MIN, i32::MAX), -i32::MAX);
    assert_eq!(quant::saturating_rounding_doubling_high_mul(i32::MAX, i32::MAX), i32::MAX - 1);
    assert_eq!(quant::saturating_rounding_doubling_high_mul(i32::MIN, 1 << 30), -(1 << 30));
    assert_eq!(quant::saturating_rounding_doubling_high_mul(i32::MIN + 1, i32::MIN), i32::MAX);
    // Ties toward +∞ for either sign: ±0.5 and ±1.5.
    assert_eq!(quant::saturating_rounding_doubling_high_mul(1, 1 << 30), 1);
    assert_eq!(quant::saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
    assert_eq!(quant::saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
    assert_eq!(quant::saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
}

#[test]
fn shifts_of_0_and_31() {
    for x in [i32::MIN, -5, -1, 0, 1, 5, i32::MAX] {
        assert_eq!(quant::rounding_divide_by_pot(x, 0), x);
    }
    // x / 2^31 ∈ [−1, 1): ±0.5 round away from zero.
    assert_eq!(quant::rounding_divide_by_pot(i32::MIN, 31), -1);
    assert_eq!(quant::rounding_divide_by_pot(-(1 << 30), 31), -1);
    assert_eq!(quant::rounding_divide_by_pot(-(1 << 30) + 1, 31), 0);
    assert_eq!(quant::rounding_divide_by_pot(1 << 30, 31), 1);
    assert_eq!(quant::rounding_divide_by_pot((1 << 30) - 1, 31), 0);
    assert_eq!(quant::rounding_divide_by_pot(i32::MAX, 31), 1);
    // Multiplier shift 0 (M = M0/2^31) and −31 (the smallest kept).
    let m0 = 1 << 30; // 0.5
    for rule_fn in [
        quant::multiply_by_quantized_multiplier_double_rounding,
        quant::multiply_by_quantized_multiplier_single_rounding,
        quant::multiply_by_quantized_multiplier_ties_up_shift,
    ] {
        assert_eq!(rule_fn(1000, m0, 0), 500);
        assert_eq!(rule_fn(i32::MAX, m0, 0), 1 << 30);
        assert_eq!(rule_fn(i32::MIN, m0, 0), -(1 << 30));
        // 0.5 · 2^−31 · x: |x| ≤ 2^31 gives at most ±0.5.
        assert!(rule_fn(i32::MAX, m0, -31).abs() <= 1);
        assert_eq!(rule_fn(1 << 20, m0, -31), 0);
    }
    // Single rounding at shift −31 is exact at the tie: x·2^30/2^62 = ±0.5 for x = ±2^31.
    assert_eq!(quant::multiply_by_quantized_multiplier_single_rounding(i32::MIN, 1 << 30, -31), 0);
    // Left shifts up to 30 (M up to 2^30): saturation through the high-mul.
    assert_eq!(quant::multiply_by_quantized_multiplier_double_rounding(1, 1 << 30, 30), 1 << 29);
    assert_eq!(quant::multiply_by_quantized_multiplier_single_rounding(1 << 20, 1 << 30, 30), i32::MAX);
    // Beyond TFLite's range (shift > 30): total, no panic.
    for shift in [31, 32, 100, i32::MAX] {
        for x in [i32::MIN, -1, 0, 1, i32::MAX] {
            let _ = quant::multiply_by_quantized_multiplier_double_rounding(x, i32::MAX, shift);
            let _ = quant::multiply_by_quantized_multiplier_ties_up_shift(x, i32::MAX, shift);
            assert_eq!(
                quant::multiply_by_quantized_multiplier_single_rounding(x, 1 << 30, shift),
                single_rounding_ref(x, i32::MAX, 30)
            );
        }
    }
}

#[test]
fn multipliers_rounding_up_to_2_pow_31_carry_into_the_exponent() {
    for e in [-31, -10, 0, 1, 5, 30] {
        let just_below = (1.0 - 2f64.powi(-33)) * pow2(e);
        assert_eq!(quant::quantize_multiplier(just_below), (1 << 30, e + 1), "2^{e}·(1 − 2^−33)");
        // The largest M0 that does not carry.
        let keeps = (1.0 - 2f64.powi(-31)) * pow2(e);
        assert_eq!(quant::quantize_multiplier(keeps), (i32::MAX, e), "2^{e}·(1 − 2^−31)");
    }
    // Exactly half-way between two mantissas: away from zero.
    let tie = ((1u64 << 30) as f64 + 0.5) / pow2(31);
    assert_eq!(quant::quantize_multiplier(tie), ((1 << 30) + 1, 0));
    // A carry that lifts a would-be-flushed multiplier back above 2^−32.
    assert_eq!(quant::quantize_multiplier((1.0 - 2f64.powi(-40)) * pow2(-32)), (1 << 30, -31));
}

#[test]
fn tiny_multipliers_flush_to_zero() {
    assert_eq!(quant::quantize_multiplier(pow2(-32)), (1 << 30, -31));
    assert_eq!(quant::quantize_multiplier(pow2(-33)), (0, 0));
    assert_eq!(quant::quantize_multiplier(pow2(-33) * 1.999), (0, 0));
    assert_eq!(quant::quantize_multiplier(f64::MIN_POSITIVE), (0, 0));
    assert_eq!(quant::quantize_multiplier(f64::from_bits(1)), (0, 0));
    assert_eq!(quant::quantize_multiplier(0.0), (0, 0));
    // A flushed multiplier gives 0 under every fixed-point rule, for every acc.
    let m = Multiplier::from_scales(1e-20, 1e-20, 1.0);
    assert_eq!((m.m0, m.shift), (0, 0));
    for acc in [i32::MIN, -1, 0, 1, i32::MAX] {
        for rule in Rounding::ALL.into_iter().filter(|r| r.uses_fixed_point()) {
            assert_eq!(rule.apply(acc, &m), 0, "{rule:?}");
        }
    }
    // Huge multipliers: finite, no panic anywhere.
    let huge = Multiplier::from_scales(3e38, 3e38, 1e-45);
    assert!(huge.real.is_finite() && huge.real_f32.is_infinite());
    for acc in [i32::MIN, -1, 0, 1, i32::MAX] {
        for rule in Rounding::ALL {
            let _ = rule.apply(acc, &huge);
        }
    }
    assert_eq!(Rounding::DoubleHalfAway.apply(1, &huge), i32::MAX);
    assert_eq!(Rounding::DoubleHalfAway.apply(-1, &huge), i32::MIN);
    assert_eq!(Rounding::Float32HalfEven.apply(0, &huge), 0); // 0·∞ = NaN → 0
}

/// One exact tie (and a double-rounding trap) under every rule.
#[test]
fn ties_under_every_rounding_rule() {
    // M = 0.5 (M0 = 2^30, shift 0) and M = 0.25 (shift −1), exact in every form.
    let half = Multiplier { real: 0.5, real_f32: 0.5, m0: 1 << 30, shift: 0 };
    let quarter = Multiplier { real: 0.25, real_f32: 0.25, m0: 1 << 30, shift: -1 };
    use Rounding::*;
    #[rustfmt::skip]
    let cases: [(i32, &Multiplier, [i32; 5]); 9] = [
        //                 DoubleHalfAway, FixedPointDoubleRounding, FixedPointSingleRounding, FixedPointTiesUp, Float32HalfEven
        ( 3, &half,    [ 2,  2,  2,  2,  2]),   //  1.5
        ( 5, &half,    [ 3,  3,  3,  3,  2]),   //  2.5
        (-3, &half,    [-2, -1, -1, -1, -2]),   // −1.5
        (-5, &half,    [-3, -2, -2, -2, -2]),   // −2.5
        ( 2, &quarter, [ 1,  1,  1,  1,  0]),   //  0.5
        (-2, &quarter, [-1, -1,  0,  0,  0]),   // −0.5
        ( 6, &quarter, [ 2,  2,  2,  2,  2]),   //  1.5
        (-6, &quarter, [-2, -2, -1, -1, -2]),   // −1.5
        // 1.25: the high-mul rounds 2.5 up to 3, then 3/2 = 1.5 rounds to 2.
        ( 5, &quarter, [ 1,  2,  1,  2,  1]),
    ];
    for (acc, m, expected) in cases {
        for (rule, want) in [DoubleHalfAway, FixedPointDoubleRounding, FixedPointSingleRounding, FixedPointTiesUp, Float32HalfEven].into_iter().zip(expected) {
            assert_eq!(rule.apply(acc, m), want, "{rule:?}: {acc} × {}", m.real);
        }
    }
    // The f32 helpers: ties away from zero vs ties to even.
    assert_eq!(quant::round_half_away_from_zero_f32(2.5), 3.0);
    assert_eq!(quant::round_half_away_from_zero_f32(-2.5), -3.0);
    assert_eq!(quant::round_half_to_even_f32(2.5), 2.0);
    assert_eq!(quant::round_half_to_even_f32(-3.5), -4.0);
    assert_eq!(quant::round_half_away_from_zero(-0.5), -1.0);
}

#[test]
fn clamp_bounds_at_the_dtype_limits() {
    for (q_min, q_max) in [(0, 255), (-128, 127), (-32768, 32767)] {
        // quantize saturates at both ends, for finite and infinite quotients.
        for (r, want) in [(1e30f32, q_max), (-1e30, q_min), (f32::INFINITY, q_max), (f32::NEG_INFINITY, q_min)] {
            for z in [q_min, 0.clamp(q_min, q_max), q_max] {
                assert_eq!(quant::quantize(r, 1e-3, z, q_min, q_max), want, "{r} in [{q_min}, {q_max}] z {z}");
                assert_eq!(quant::quantize(r, f32::from_bits(1), z, q_min, q_max), want);
            }
        }
        // NaN quantizes to the zero point.
        assert_eq!(quant::quantize(f32::NAN, 0.1, q_min, q_min, q_max), q_min);
        // The last representable values exactly.
        assert_eq!(quant::quantize(q_max as f32 * 0.5, 0.5, 0, q_min, q_max), q_max);
        assert_eq!(quant::quantize(q_min as f32 * 0.5, 0.5, 0, q_min, q_max), q_min);
        // Activation ranges: RELU from a zero point at either limit; tiny and huge scales.
        assert_eq!(quant::activation_range(Activation::Relu, 0.1, q_min, q_min, q_max), (q_min, q_max));
        assert_eq!(quant::activation_range(Activation::Relu, 0.1, q_max, q_min, q_max), (q_max, q_max));
        assert_eq!(quant::activation_range(Activation::Relu6, f32::from_bits(1), q_min, q_min, q_max), (q_min, q_max));
        assert_eq!(quant::activation_range(Activation::Relu6, 3e38, q_min, q_min, q_max), (q_min, q_min));
        assert_eq!(quant::activation_range(Activation::ReluN1To1, f32::from_bits(1), q_max, q_min, q_max), (q_min, q_max));
        assert_eq!(quant::activation_range(Activation::ReluN1To1, 1.0, q_max, q_min, q_max), (q_max - 1, q_max));
        assert_eq!(quant::activation_range(Activation::None, 1e-30, q_max, q_min, q_max), (q_min, q_max));
    }
    // int32 extremes: the sum Z + round(f/S) saturates instead of overflowing.
    assert_eq!(quant::activation_range(Activation::Relu6, 1e-30, i32::MAX, i32::MIN, i32::MAX), (i32::MAX, i32::MAX));
    assert_eq!(quant::quantize(f32::INFINITY, 1.0, i32::MAX, i32::MIN, i32::MAX), i32::MAX);
    assert_eq!(quant::quantize(f32::NEG_INFINITY, 1.0, i32::MIN, i32::MIN, i32::MAX), i32::MIN);
}

#[test]
fn fixed_point_exp_and_reciprocal_edges() {
    assert_eq!(fixedpoint::exp_on_negative_values(0, 5), i32::MAX);
    assert_eq!(fixedpoint::exp_on_negative_values(i32::MIN, 5), 0);
    // Just below 0 the fourth-order polynomial around −1/8 is the error
    // (gemmlowp's, ≈ 2.3·10^−7, i.e. ~500 raw units), not the rounding.
    let near_zero = fixedpoint::exp_on_negative_values(-1, 5);
    assert!((i32::MAX - 600..i32::MAX).contains(&near_zero), "{near_zero}");
    // Exactly −1/4, −1 and −16 hit the polynomial's boundary and the barrel shifter.
    for (a, e) in [(-(1 << 24), (-0.25f64).exp()), (-(1 << 26), (-1f64).exp()), (-(16 << 26), (-16f64).exp())] {
        let got = fixedpoint::exp_on_negative_values(a, 5) as f64 / pow2(31);
        assert!((got - e).abs() < 2e-7 + 1e-6 * e, "{got} vs {e}");
    }
    // 1/1 = 1 (mantissa just below 1.0 in Q0.31, 0 bits over unit) and 1/4096.
    let (m, bits) = fixedpoint::get_reciprocal(1 << 19, 12);
    assert_eq!(bits, 0);
    assert!(m > i32::MAX - 16, "{m}");
    // x just below 4096: 1/x = mantissa ≈ ½ at 11 bits over the unit.
    let (m, bits) = fixedpoint::get_reciprocal(i32::MAX, 12);
    assert_eq!(bits, 11);
    let r = (m as f64 / pow2(31)) * pow2(-11);
    assert!((r * 4096.0 - 1.0).abs() < 1e-8, "{r}");
    // Sums that wrapped (softmax rows longer than 4096 in the runtimes too): no panic.
    for x in [0, -1, i32::MIN] {
        let _ = fixedpoint::get_reciprocal(x, 12);
    }
}
