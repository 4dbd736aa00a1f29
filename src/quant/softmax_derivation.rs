//! # The integer softmax, derived step by step
//!
//! Every layer of the MLP up to the logits is `q3 = Z3 + M·Σ(q1 − Z1)(q2 − Z2)`
//! (see [`crate::quant`]). The last op, SOFTMAX, is different: it needs `exp`
//! and a division, and an integer-only runtime (LiteRT's reference kernels,
//! TensorFlow Lite Micro) computes both in **gemmlowp fixed point**. This page
//! derives every constant and every stage, in the order the kernel runs them,
//! with the names the runtime's source uses. Each number below is recomputed
//! by a test on this page (`cargo test --doc softmax_derivation`), and
//! [`steps`] returns every intermediate value for one row, so you can print
//! them next to your own code (notebook 03's appendix does).
//!
//! Notation: a fixed-point number in format **Q*I*.*F*** (`I + F = 31`) is an
//! `i32` `raw` standing for `raw / 2^F`. Products of a Q*a* and a Q*b* number
//! are Q(*a*+*b*) and are computed with `SaturatingRoundingDoublingHighMul`
//! ([`crate::quant::saturating_rounding_doubling_high_mul`]).
//!
//! ## 0. What has to be computed
//!
//! The input `q` is int8 (or uint8) with scale `S_in`; the real logits are
//! `x = S_in·(q − Z_in)`. With a temperature `β` (the op's `beta`, 1 for Keras):
//!
//! ```text
//! y_j = exp(β·x_j) / Σ_k exp(β·x_k)
//!     = exp(−β·S_in·d_j) / Σ_k exp(−β·S_in·d_k),     d_j = q_max − q_j ≥ 0
//! ```
//!
//! The zero point cancels: only the differences `d` to the row's maximum
//! matter, and every `exp` argument is ≤ 0, so every `exp` is in (0, 1].
//! The output is fixed by the converter to scale `1/256` and zero point
//! `−128` (int8; uint8: 0), so `q_out = round(256·y) − 128`, clamped.
//!
//! ## 1. From β and S_in to a multiplier: `input_multiplier`, `input_left_shift`
//!
//! The kernel holds `−β·S_in·d` in **Q5.26** (5 integer bits: arguments down to
//! −32, below which `exp` is < 1.3·10⁻¹⁴ and contributes nothing at 8 bits).
//! In Q5.26 the raw value of `β·S_in·d` is `d · (β·S_in·2^26)`, so the
//! real multiplier is
//!
//! ```text
//! real = β · S_in · 2^(31 − 5)          (PreprocessSoftmaxScaling)
//! real = M0 · 2^(shift − 31)            (QuantizeMultiplierGreaterThanOne: real > 1, shift ≥ 0)
//! input_multiplier = M0,  input_left_shift = shift
//! scaled_diff = SRDHM(d · 2^input_left_shift, input_multiplier)      ≈ −β·S_in·d in Q5.26
//! ```
//!
//! ## 2. `diff_min`: the differences that cannot matter
//!
//! `d · 2^input_left_shift` must fit an `i32` before the high multiply, and
//! the product must fit Q5.26. `CalculateInputRadius(5, input_left_shift, 31)`
//! is the largest difference that does:
//!
//! ```text
//! radius = floor( (2^5 − 1) · 2^(31 − 5) / 2^input_left_shift )
//! diff_min = −radius
//! ```
//!
//! An element with `q_j − q_max < diff_min` is given probability 0 (its
//! exp would be below `exp(−31)` anyway).
//!
//! ## 3. `exp_on_negative_values`: exp of a Q5.26 number ≤ 0, result in Q0.31
//!
//! Write `a = −(n/4) + (r − 1/4)` with `r − 1/4 ∈ [−1/4, 0)` the low bits of `a`
//! (`a mod 1/4 − 1/4`) and `n/4` the rest. Then `exp(a) = exp(r − 1/4) · Π exp(−2^k)`
//! over the set bits `2^k` of the remainder:
//!
//! * **On [−1/4, 0):** a 4th-order Taylor expansion around `−1/8`,
//!   `exp(−1/8) · (1 + x + x²/2 + x³/6 + x⁴/24)`, `x = a + 1/8 ∈ [−1/8, 1/8)`,
//!   evaluated as `exp(−1/8) + exp(−1/8)·(x + ((x⁴/4 + x³)/3 + x²)/2)`. Its two
//!   constants in Q0.31: `exp(−1/8)` → **1895147668**, `1/3` → **715827883**.
//!   The first term left out, `x⁵/120`, bounds its error: < 3·10⁻⁷ (2⁻²¹·⁷).
//! * **The barrel of constants:** for each bit `k = −2 … 4` (weights 1/4, 1/2,
//!   1, 2, 4, 8, 16; Q5.26 has 5 integer bits, so 16 is the last), a set bit
//!   multiplies the result by `exp(−2^k)` in Q0.31: **1672461947, 1302514674,
//!   790015084, 290630308, 39332535, 720401, 242** (each `round(exp(−2^k)·2^31)`).
//! * `a = 0` returns exactly 1 (the largest Q0.31 value, `2^31 − 1`).
//!
//! ## 4. The sum, in Q12.19
//!
//! Each `exp` is ≤ 1 in Q0.31. The kernel rescales each to **Q12.19**
//! (12 integer bits: the sum of up to 4 096 terms ≤ 1 cannot overflow) with a
//! rounding shift by 12, and adds them: `sum_of_exps`. The row maximum
//! contributes 1, so `sum_of_exps ≥ 1`.
//!
//! ## 5. The reciprocal: `GetReciprocal`
//!
//! Normalise the sum: with `h` leading zero bits, `sum << h` has its top bit
//! set; read as Q0.31 after subtracting 1, `x = (sum << h) − 2^31 ∈ [0, 1)`
//! and `sum = (1 + x) · 2^num_bits_over_unit`, `num_bits_over_unit = 12 − h`.
//! Then `1/(1 + x)` by Newton–Raphson on `D = (1 + x)/2 ∈ [1/2, 1)`:
//!
//! ```text
//! X0 = 48/17 − 32/17 · D                   (the minimax linear start on [1/2, 1): error ≤ 1/17)
//! X  ← X + X·(1 − D·X)      three times    (error squares each time: < 2⁻³⁰ after 3)
//! 1/(1 + x) = X / 2                        (Q2.29 → Q0.31)
//! ```
//!
//! The constants in Q2.29: `48/17` → **1515870810**, `−32/17` → **−1010580540**.
//!
//! ## 6. Onto the output grid
//!
//! `y_j = exp_j · (1/(1 + x)) · 2^−num_bits_over_unit`. The product of the two
//! Q0.31 numbers is Q0.31; the output grid is 1/256 (8 bits), so
//!
//! ```text
//! q_out = RoundingDivideByPOT(exp_j · recip, num_bits_over_unit + 31 − 8) − 128
//! ```
//!
//! (the rounding shift rounds ties away from zero), clamped to [−128, 127]
//! for int8 (uint8: + 0, clamped to [0, 255]). A probability of 1 would be
//! 256 − 128 = 128 and saturates at 127.
//!
//! ## The float-table variant (LiteRT's optimized kernels, XNNPACK's fallback)
//!
//! The optimized kernels skip all of the above. For the 256 possible
//! differences they build once `table[d] = expf(−S_in·β·d)` in `f32`, then per
//! row: `sum = Σ table[d_k]` in f32 (left to right), `inv = 1 / (sum · S_out)`,
//! and `q_out = round(table[d_j] · inv) + Z_out` (for uint8 outputs on x86,
//! `trunc(p + 0.5)`). What differs from the fixed point: `exp` is libm's
//! correctly-rounded-ish `expf` instead of a polynomial (≈ 2⁻²⁴ relative
//! instead of ≈ 2⁻²⁶ absolute), the input difference is not quantized to
//! Q5.26, the sum is f32, and the final rounding is of an f32 product. Both
//! land on the same 1/256 grid, and they disagree by one step only when
//! `256·y` falls within about 10⁻⁵ of a half-integer — rare, but real: the
//! counts per runtime pair are in `data/manifest.json` and notebook 05.
//!
//! ## Checked here
//!
//! Every constant above, recomputed from its definition:
//!
//! ```
//! use quantlens::quant::softmax_derivation::constants;
//! let q31 = |x: f64| (x * 2f64.powi(31)).round() as i64;
//! let q2_29 = |x: f64| (x * 2f64.powi(29)).round() as i64;
//! let c = constants();
//! assert_eq!(c.exp_minus_one_eighth as i64, q31((-0.125f64).exp()));
//! assert_eq!(c.one_third as i64, q31(1.0 / 3.0));
//! for (k, m) in c.barrel {
//!     assert_eq!(m as i64, q31((-(2f64.powi(k))).exp()), "exp(-2^{k})");
//! }
//! assert_eq!(c.c48_over_17 as i64, q2_29(48.0 / 17.0));
//! assert_eq!(c.cneg32_over_17 as i64, q2_29(-32.0 / 17.0));
//! ```
//!
//! The primary model's SOFTMAX, its constants from β and S_in, and one row
//! stepped through: every stage's value, and the result equal to the engine's
//! (and so to LiteRT's reference kernels and TFLite Micro, which the goldens test):
//!
//! ```
//! use quantlens::{Model, Plan, Profile};
//! use quantlens::plan::Kernel;
//! use quantlens::ops::softmax::{Arith, softmax_fixed_point};
//! use quantlens::quant::{quantize_multiplier, softmax_derivation::steps};
//! let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
//! let plan = Plan::new(Model::from_path(root.join("data/models/mlp_ptq_uint8io.tflite"))?, Profile::TfliteRef)?;
//! let (op, p) = plan.steps.iter().find_map(|s| match &s.kernel { Kernel::Softmax(p) => Some((s.op, p)), _ => None }).unwrap();
//! let Arith::FixedPoint(fp) = &p.arith else { unreachable!() };
//! let (s_in, _) = plan.model.tensors[p.input].per_tensor_quant().unwrap();
//! // 1. real = β·S_in·2^26 → (M0, shift), shift ≥ 0
//! let real = p.beta as f64 * s_in as f64 * 2f64.powi(26);
//! assert_eq!(quantize_multiplier(real), (fp.input_multiplier, fp.input_left_shift));
//! // 2. diff_min = −floor(31·2^26 / 2^shift)
//! assert_eq!(fp.diff_min as i64, -((31i64 << 26) >> fp.input_left_shift));
//! // One row of logits: every stage, and the same output as the kernel.
//! let row = [-40, 12, 3, 50, -128, 7, 49, 0, 127, 126];
//! let s = steps(fp, &row);
//! let mut engine = Vec::new();
//! softmax_fixed_point(fp, &row, &mut engine);
//! assert_eq!(s.output, engine);
//! assert_eq!(s.max, 127);
//! assert!(s.sum_of_exps >= 1 << 19);                      // ≥ 1 in Q12.19: the max contributes exp(0) = 1
//! let total: i32 = s.output.iter().map(|&q| q + 128).sum(); // probabilities on the 1/256 grid
//! assert!((250..=262).contains(&total), "{total}");
//! # let _ = op;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::model::DType;
use crate::ops::int_range;
use crate::ops::softmax::{FixedParams, ACCUMULATION_INTEGER_BITS, SCALED_DIFF_INTEGER_BITS};
use crate::quant::{fixedpoint, rounding_divide_by_pot, saturating_rounding_doubling_high_mul};

/// The literal constants of the fixed-point softmax, as the kernel uses them
/// (the doctest above recomputes each from its definition).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Constants {
    /// `exp(−1/8)` in Q0.31.
    pub exp_minus_one_eighth: i32,
    /// `1/3` in Q0.31.
    pub one_third: i32,
    /// `(k, exp(−2^k) in Q0.31)` for `k = −2 … 4`.
    pub barrel: [(i32, i32); 7],
    /// `48/17` in Q2.29.
    pub c48_over_17: i32,
    /// `−32/17` in Q2.29.
    pub cneg32_over_17: i32,
}

/// The constants of §3 and §5, as the kernel ([`fixedpoint`]) uses them.
pub fn constants() -> Constants {
    Constants {
        exp_minus_one_eighth: fixedpoint::EXP_MINUS_ONE_EIGHTH,
        one_third: fixedpoint::ONE_THIRD,
        barrel: fixedpoint::EXP_BARREL,
        c48_over_17: fixedpoint::C48_OVER_17,
        cneg32_over_17: fixedpoint::CNEG32_OVER_17,
    }
}

/// Every intermediate value of the fixed-point softmax for one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Steps {
    /// The row's maximum `q_max`.
    pub max: i32,
    /// `q_j − q_max` (≤ 0), in input steps.
    pub diffs: Vec<i32>,
    /// §1: `SRDHM(d·2^input_left_shift, input_multiplier)` in Q5.26; `None`
    /// below `diff_min` (§2).
    pub scaled_diffs: Vec<Option<i32>>,
    /// §3: `exp` of each, Q0.31 (0 where below `diff_min`).
    pub exps: Vec<i32>,
    /// §4: the sum in Q12.19.
    pub sum_of_exps: i32,
    /// §5: leading zeros `h` of the sum.
    pub headroom: i32,
    /// §5: `x = (sum << h) − 2^31` in Q0.31.
    pub shifted_sum_minus_one: i32,
    /// §5: `12 − h`.
    pub num_bits_over_unit: i32,
    /// §5: `1/(1 + x)` in Q0.31.
    pub reciprocal: i32,
    /// §6: the right shift onto the output grid, `num_bits_over_unit + 31 − bits`.
    pub output_shift: i32,
    /// §6: the outputs, with the zero point, clamped.
    pub output: Vec<i32>,
}

/// Run the fixed-point softmax on one row, keeping every stage (§1–§6).
///
/// Written out stage by stage, independently of
/// [`crate::ops::softmax::softmax_fixed_point`] (which keeps only what it
/// needs); the doctest checks both give the same outputs.
pub fn steps(p: &FixedParams, row: &[i32]) -> Steps {
    let max = row.iter().copied().max().unwrap_or(0);
    let diffs: Vec<i32> = row.iter().map(|&q| q - max).collect();
    let scaled_diffs: Vec<Option<i32>> = diffs
        .iter()
        .map(|&d| (d >= p.diff_min).then(|| saturating_rounding_doubling_high_mul(d.wrapping_mul(1 << p.input_left_shift), p.input_multiplier)))
        .collect();
    let exps: Vec<i32> = scaled_diffs
        .iter()
        .map(|s| s.map_or(0, |a| fixedpoint::exp_on_negative_values(a, SCALED_DIFF_INTEGER_BITS)))
        .collect();
    let sum_of_exps = scaled_diffs
        .iter()
        .zip(&exps)
        .filter(|(s, _)| s.is_some())
        .fold(0i32, |acc, (_, &e)| acc.wrapping_add(fixedpoint::rescale(e, 0, ACCUMULATION_INTEGER_BITS)));
    let headroom = (sum_of_exps as u32).leading_zeros() as i32;
    let shifted_sum_minus_one = ((sum_of_exps as u32).wrapping_shl(headroom as u32)).wrapping_sub(1u32 << 31) as i32;
    let num_bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom;
    let reciprocal = fixedpoint::one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
    let bits = if p.output_dtype == DType::I16 { 16 } else { 8 };
    let output_shift = (num_bits_over_unit + 31 - bits).clamp(0, 31);
    let (q_min, q_max) = int_range(p.output_dtype);
    let output = scaled_diffs
        .iter()
        .zip(&exps)
        .map(|(s, &e)| match s {
            Some(_) => {
                let unsat = rounding_divide_by_pot(fixedpoint::mul(reciprocal, e), output_shift);
                (unsat as i64 + q_min as i64).clamp(q_min as i64, q_max as i64) as i32
            }
            None => q_min,
        })
        .collect();
    Steps {
        max,
        diffs,
        scaled_diffs,
        exps,
        sum_of_exps,
        headroom,
        shifted_sum_minus_one,
        num_bits_over_unit,
        reciprocal,
        output_shift,
        output,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s_in: f32) -> FixedParams {
        let real = s_in as f64 * 2f64.powi(26);
        let (m0, shift) = crate::quant::quantize_multiplier(real);
        let diff_min = -crate::ops::softmax::input_radius(5, shift, 31);
        FixedParams::new(m0, shift, diff_min, DType::I8)
    }

    #[test]
    fn steps_equal_the_kernel_on_many_rows() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        for s_in in [0.01f32, 0.0625, 0.2, 0.9] {
            let p = params(s_in);
            for _ in 0..300 {
                let row: Vec<i32> = (0..10)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        (seed % 256) as i32 - 128
                    })
                    .collect();
                let mut engine = Vec::new();
                crate::ops::softmax::softmax_fixed_point(&p, &row, &mut engine);
                assert_eq!(steps(&p, &row).output, engine, "S_in {s_in}, row {row:?}");
            }
        }
    }

    #[test]
    fn the_barrel_is_exp_of_powers_of_two() {
        // A Q5.26 input of exactly −2^k (k ≥ −1) goes through the polynomial at
        // −1/4 and the barrel; the result is within 2^−21 of exp(−2^k) (the
        // polynomial's truncation error, §3).
        for k in -1..=4 {
            let a = -(1i32 << (26 + k));
            let e = fixedpoint::exp_on_negative_values(a, 5) as f64 / 2f64.powi(31);
            assert!((e - (-(2f64.powi(k))).exp()).abs() < 2f64.powi(-21), "k {k}: {e}");
        }
    }
}
