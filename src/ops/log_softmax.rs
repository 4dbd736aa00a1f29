//! LOG_SOFTMAX over the last axis: `y[j] = x[j] − max − ln Σ_k exp(x[k] − max)`.
//!
//! **float32** (LiteRT's reference loop): `m = max x`, `s = Σ expf(x − m)`
//! in f32 in order, then `x − m − logf(s)`.
//!
//! **int8.** Every runtime requires the output grid `S_out = 16/256`,
//! `Z_out = 127`: the 256 levels cover `[−255/16, 0]`, and a log-probability
//! below about −16 is the bottom level. As for SOFTMAX, only the differences
//! `d = q[j] − q_max ≤ 0` matter (the zero point cancels), and two methods
//! exist ([`LogSoftmaxMethod`], `src/profile`):
//!
//! * **gemmlowp fixed point** (`reference_integer_ops::LogSoftmax`: LiteRT's
//!   reference kernel, and TFLite Micro's): `d` is rescaled into Q5.26 by
//!   `M_in = S_in·2^26` (`MultiplyByQuantizedMultiplier`), `exp(d)` in Q0.31
//!   ([`fixedpoint::exp_on_negative_values`]) is summed in Q12.19, and
//!   `L = ln Σ` comes back in Q5.26 from [`log_x_for_x_greater_than_or_equal_to_1`].
//!   The output is `RoundingDivideByPOT(d·M_in − L, 22) + 127`: Q5.26 to the
//!   Q4.(−4) grid of 1/16 is a shift by `31 − 5 − 4 = 22`. Differences below
//!   `diff_min` are left out of the sum; an element whose `d·M_in − L` would
//!   underflow Q5.26 (`d ≤ adjusted_diff_min`, found by mapping
//!   `L + i32::MIN` back to input steps with the reverse multiplier
//!   `1/M_in`) is written as −128.
//! * **f32 table** (LiteRT's optimized `optimized_ops::LogSoftmax`, which
//!   XNNPACK leaves to it): `table[d] = expf(−S_in·d)` for the 256 possible
//!   `|d|`, the row's sum in f32 in order, `ls = logf(sum)`, then
//!   `rint((S_in/S_out)·q[j] − (S_in·q_max + ls)/S_out) + 127`, all in f32.
//!
//! **uint8** (issue 14): the same grid one step of 128 higher, `Z_out = 255`
//! (0 is the bottom level). Both of LiteRT's kernel sets (`reference_ops::` and
//! `optimized_ops::LogSoftmax` on uint8; XNNPACK leaves the op to them) run
//! the gemmlowp fixed point above, whatever the int8 method: no runtime
//! differs, so no profile choice. TFLite Micro has no uint8 LOG_SOFTMAX.

use super::layout::f32s;
use super::softmax::{input_radius, ACCUMULATION_INTEGER_BITS, SCALED_DIFF_INTEGER_BITS};
use super::{ints, narrow, OpContext};
use crate::error::EngineError;
use crate::model::DType;
use crate::profile::{LogSoftmaxMethod, Profile};
use crate::quant::{self, fixedpoint};
use crate::tensor::{Data, Value};

/// Integer bits of the output's fixed-point format: the grid 1/16 is Q4.27 read at its top 8 bits.
pub const OUTPUT_INTEGER_BITS: i32 = 4;
/// The output scale every runtime requires.
pub const OUTPUT_SCALE: f32 = 16.0 / 256.0;
/// The int8 output zero point every runtime requires.
pub const OUTPUT_ZERO_POINT: i32 = 127;

/// Everything LOG_SOFTMAX needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    /// Length of the last axis (one row).
    pub depth: usize,
    pub output_shape: Vec<usize>,
    pub arith: Arith,
    /// int8 or uint8 (float32 for the float kernel).
    pub output_dtype: DType,
}

/// Which computation, with its constants.
#[derive(Clone, Debug)]
pub enum Arith {
    Float,
    FixedPoint(FixedParams),
    Table(TableParams),
}

/// Constants of the gemmlowp fixed-point LOG_SOFTMAX.
#[derive(Clone, Debug)]
pub struct FixedParams {
    /// `S_in·2^(31−5)` as `M0 · 2^left_shift` (≥ 1).
    pub input_multiplier: i32,
    pub input_left_shift: i32,
    /// The inverse, `2^(31 − left_shift) / M0 < 1`, as `M0 · 2^shift` (`shift ≤ 0`).
    pub reverse_multiplier: i32,
    pub reverse_shift: i32,
    /// Differences below this (in input steps) are left out of the sum.
    pub diff_min: i32,
}

/// Constants of the f32-table LOG_SOFTMAX.
#[derive(Clone, Debug)]
pub struct TableParams {
    /// `table[d] = expf(−S_in·d)`, `d = 0..=255`.
    pub table: Vec<f32>,
    pub input_scale: f32,
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    ctx.require_same(input, output, false)?;
    super::same_element_count(ctx, input, output)?;
    let depth = ctx.shape(input).last().copied().unwrap_or(1).max(1);
    let arith = match ctx.dtype(input) {
        DType::F32 => Arith::Float,
        dtype @ (DType::I8 | DType::U8) => {
            let (s_in, _) = ctx.per_tensor_quant(input, "input")?;
            let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
            let z_want = super::int_range(dtype).0 + 128 + OUTPUT_ZERO_POINT;
            if (s_out, z_out) != (OUTPUT_SCALE, z_want) {
                return Err(ctx.unsupported(format!(
                    "{dtype} output scale {s_out} / zero point {z_out} (every runtime requires 16/256 and {z_want})"
                )));
            }
            let method = if dtype == DType::U8 { LogSoftmaxMethod::GemmlowpFixedPoint } else { profile.log_softmax_method() };
            match method {
                LogSoftmaxMethod::GemmlowpFixedPoint => Arith::FixedPoint(fixed_params(s_in).ok_or_else(|| {
                    ctx.unsupported(format!("input scale {s_in} too small for the fixed-point LOG_SOFTMAX (S_in·2^26 ≤ 1)"))
                })?),
                LogSoftmaxMethod::FloatExpTable => {
                    let scale = -s_in; // β = 1
                    Arith::Table(TableParams { table: (0..256).map(|d| (scale * d as f32).exp()).collect(), input_scale: s_in })
                }
            }
        }
        d => return Err(ctx.unsupported(format!("dtype {d} (float32, int8 and uint8 are supported)"))),
    };
    Ok(Params { input, output, depth, output_shape: ctx.shape(output), arith, output_dtype: ctx.dtype(output) })
}

/// LiteRT's `PreprocessLogSoftmaxScalingExp` (β = 1) and `CalculateInputRadius`;
/// `None` when `S_in·2^26 ≤ 1` (TFLite's `QuantizeMultiplierGreaterThanOne` refuses it).
pub fn fixed_params(s_in: f32) -> Option<FixedParams> {
    let real = (s_in as f64 * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64).min((1i64 << 31) as f64 - 1.0);
    let (input_multiplier, input_left_shift) = quant::quantize_multiplier(real);
    if real <= 1.0 || input_left_shift < 0 {
        return None;
    }
    let reverse = (1i64 << (31 - input_left_shift)) as f64 / input_multiplier as f64;
    let (reverse_multiplier, reverse_shift) = quant::quantize_multiplier(reverse);
    let diff_min = -input_radius(SCALED_DIFF_INTEGER_BITS, input_left_shift, 31);
    Some(FixedParams { input_multiplier, input_left_shift, reverse_multiplier, reverse_shift, diff_min })
}

impl Params {
    /// LOG_SOFTMAX of every row.
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        match &self.arith {
            Arith::Float => {
                let v = f32s(x, self.input)?;
                let mut out = Vec::with_capacity(v.len());
                for row in v.chunks(self.depth) {
                    let m = row.iter().fold(f32::MIN, |a, &b| a.max(b));
                    let mut s = 0.0f32;
                    for &a in row {
                        s += (a - m).exp();
                    }
                    let log_sum = s.ln();
                    out.extend(row.iter().map(|&a| a - m - log_sum));
                }
                Ok(Value { shape: self.output_shape.clone(), data: Data::F32(out) })
            }
            Arith::FixedPoint(p) => {
                let q = ints(x, self.input)?;
                let mut out = Vec::with_capacity(q.len());
                let q_min = super::int_range(self.output_dtype).0;
                for row in q.chunks(self.depth) {
                    log_softmax_fixed_point(p, row, q_min, &mut out);
                }
                Ok(narrow(self.output_dtype, &self.output_shape, out))
            }
            Arith::Table(p) => {
                let q = ints(x, self.input)?;
                let mut out = Vec::with_capacity(q.len());
                for row in q.chunks(self.depth) {
                    log_softmax_table(p, row, &mut out);
                }
                Ok(narrow(DType::I8, &self.output_shape, out))
            }
        }
    }

    pub fn describe(&self) -> String {
        match &self.arith {
            Arith::Float => "float32: LiteRT's reference loop (max, Σ expf in order, logf)".into(),
            Arith::FixedPoint(p) => format!(
                "log_softmax_method = GemmlowpFixedPoint: d·M_in with M_in = {}·2^{} (Q5.26), Σ exp in Q12.19, ln in Q5.26, shift 22, + 127; diff_min {}",
                p.input_multiplier, p.input_left_shift, p.diff_min
            ),
            Arith::Table(p) => format!(
                "log_softmax_method = FloatExpTable: expf(−{}·d) table, f32 sum, logf, rint(S_in/S_out·q − (S_in·q_max + ln Σ)/S_out) + 127",
                p.input_scale
            ),
        }
    }
}

/// One row of `reference_integer_ops::LogSoftmax` (int8, `q_min = −128`) or
/// `reference_ops::LogSoftmax` (uint8, `q_min = 0`): the same arithmetic, the
/// output zero point `q_min + 255`.
pub fn log_softmax_fixed_point(p: &FixedParams, row: &[i32], q_min: i32, out: &mut Vec<i32>) {
    let max = row.iter().copied().fold(q_min, i32::max);
    let rescaled = |d: i32| quant::multiply_by_quantized_multiplier_double_rounding(d, p.input_multiplier, p.input_left_shift);
    let mut sum_of_exps: i32 = 0; // Q12.19
    for &x in row {
        let d = x - max;
        if d >= p.diff_min {
            let e = fixedpoint::exp_on_negative_values(rescaled(d), SCALED_DIFF_INTEGER_BITS);
            sum_of_exps = sum_of_exps.wrapping_add(fixedpoint::rescale(e, 0, ACCUMULATION_INTEGER_BITS));
        }
    }
    let log_sum = log_x_for_x_greater_than_or_equal_to_1(sum_of_exps, SCALED_DIFF_INTEGER_BITS, ACCUMULATION_INTEGER_BITS);
    // The most negative Q5.26 value plus ln Σ, mapped back to input steps.
    let shifted_log_sum = log_sum.wrapping_add(i32::MIN);
    let adjusted_diff_min = (p.diff_min - 1).max(quant::multiply_by_quantized_multiplier_double_rounding(
        shifted_log_sum,
        p.reverse_multiplier,
        p.reverse_shift,
    ));
    let shift = 31 - SCALED_DIFF_INTEGER_BITS - OUTPUT_INTEGER_BITS;
    for &x in row {
        let d = x - max;
        out.push(if d > adjusted_diff_min {
            (quant::rounding_divide_by_pot(rescaled(d).wrapping_sub(log_sum), shift) + q_min + 255).clamp(q_min, q_min + 255)
        } else {
            q_min
        });
    }
}

/// One row of `optimized_ops::LogSoftmax` (int8, f32 table).
pub fn log_softmax_table(p: &TableParams, row: &[i32], out: &mut Vec<i32>) {
    let max = row.iter().copied().fold(-128, i32::max);
    let mut sum_exp = 0.0f32;
    for &x in row {
        sum_exp += p.table[(max - x) as usize];
    }
    let log_sum_exp = sum_exp.ln();
    let scale = p.input_scale / OUTPUT_SCALE;
    let precomputed = (p.input_scale * max as f32 + log_sum_exp) / OUTPUT_SCALE;
    for &x in row {
        let log_prob = scale * x as f32 - precomputed;
        // std::rint: round half to even in the default rounding mode.
        let q = log_prob.round_ties_even() + OUTPUT_ZERO_POINT as f32;
        out.push((q as i32).clamp(-128, 127));
    }
}

/// TFLite's `log_x_for_x_greater_than_or_equal_to_1_impl`: `ln x` for a
/// fixed-point `x ≥ 1` with `input_bits` integer bits, returned with
/// `output_bits` integer bits.
///
/// Write `x = 2^k · r` with `r ∈ [√½, √2)`: `ln x = k·ln 2 + ln r`. Two
/// normalisations are tried (`x` itself shifted to `[½, 1)` and `x·√½`), and
/// the one whose mantissa is smaller is kept, with `k` adjusted by ±¼ so that
/// `r` is centred on `2^(−¼)`; then with `q = 2(r − 2^(−¼))` and
/// `p = (r + 2^(−¼))/2`, `ln r ≈ (q·r + α_n·q³) / (1 + p·(α_i + q + α_d·q²) + α_f·q)`,
/// the reciprocal by [`fixedpoint::one_over_one_plus_x_for_x_in_0_1`].
/// Sums accumulate with one extra integer bit of headroom.
pub fn log_x_for_x_greater_than_or_equal_to_1(x: i32, output_bits: i32, input_bits: i32) -> i32 {
    // Q0.31 constants (GEMMLOWP_CHECKED_FIXEDPOINT_CONSTANT in TFLite's common.h).
    const LOG_2: i32 = 1488522236;
    const SQRT_SQRT_HALF: i32 = 1805811301;
    const SQRT_HALF: i32 = 1518500250;
    const ONE_QUARTER: i32 = 536870912;
    const ALPHA_N: i32 = 117049297; // 11/240 · 2^(1/4)
    const ALPHA_D: i32 = 127690142; // 1/20 · 2^(1/4)
    const ALPHA_I: i32 = 1057819769; // 2/2^(1/4) − 2^(1/4)
    const ALPHA_F: i32 = 638450708; // 1/4 · 2^(1/4)
    let accum_bits = output_bits + 1;
    let mul = fixedpoint::mul;
    // SaturatingRoundingMultiplyByPOTParam with a non-negative exponent.
    let shl = |v: i32, e: i32| fixedpoint::saturating_rounding_multiply_by_pot(v, e);
    let saturate = |v: i64| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
    let shifted_quarter = fixedpoint::rescale(ONE_QUARTER, 0, accum_bits);

    let z_a = x;
    let z_a_headroom_plus_1 = (z_a as u32).leading_zeros() as i32;
    let r_a_tmp = shl(z_a, z_a_headroom_plus_1 - 1);
    let r_a = shl(mul(r_a_tmp, SQRT_HALF), 1);
    let z_a_pow_2_adj = saturate(shl(input_bits - z_a_headroom_plus_1, 31 - accum_bits) as i64 + shifted_quarter as i64);

    let z_b = mul(z_a, SQRT_HALF);
    let z_b_headroom = (z_b as u32).leading_zeros() as i32 - 1;
    let r_b = shl(z_a, z_b_headroom);
    let z_b_pow_2_adj = saturate(shl(input_bits - z_b_headroom, 31 - accum_bits) as i64 - shifted_quarter as i64);

    let r = r_a.min(r_b);
    let z_pow_2_adj = z_a_pow_2_adj.max(z_b_pow_2_adj);

    let p = fixedpoint::rounding_half_sum(r, SQRT_SQRT_HALF);
    let mut q = r.wrapping_sub(SQRT_SQRT_HALF);
    q = q.wrapping_add(q);
    let common_sq = mul(q, q);
    let num = mul(q, r).wrapping_add(mul(mul(q, common_sq), ALPHA_N));
    let denom_minus_one = mul(p, ALPHA_I.wrapping_add(q).wrapping_add(mul(ALPHA_D, common_sq))).wrapping_add(mul(ALPHA_F, q));
    let recip_denom = fixedpoint::one_over_one_plus_x_for_x_in_0_1(denom_minus_one);
    let num_scaled = fixedpoint::rescale(num, 0, accum_bits);
    fixedpoint::rescale(mul(z_pow_2_adj, LOG_2).wrapping_add(mul(num_scaled, recip_denom)), accum_bits, output_bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_is_close_to_ln() {
        // Q12.19 inputs from 1 to 4000, Q5.26 output.
        for i in 0..4000 {
            let x = 1.0 + i as f64 * 0.999;
            let raw = (x * (1u64 << 19) as f64) as i32;
            let got = log_x_for_x_greater_than_or_equal_to_1(raw, 5, 12) as f64 / (1u64 << 26) as f64;
            assert!((got - x.ln()).abs() < 1e-5, "{x}: {got} vs {}", x.ln());
        }
    }

    #[test]
    fn a_row_of_equal_values_is_minus_ln_n() {
        // Four equal inputs: ln(1/4) = −1.386 → −22.2 steps of 1/16 → 127 − 22 = 105.
        let p = fixed_params(0.05).unwrap();
        let mut out = Vec::new();
        log_softmax_fixed_point(&p, &[3, 3, 3, 3], -128, &mut out);
        assert_eq!(out, [105; 4]);
        let t = TableParams { table: (0..256).map(|d| (-0.05f32 * d as f32).exp()).collect(), input_scale: 0.05 };
        let mut out = Vec::new();
        log_softmax_table(&t, &[3, 3, 3, 3], &mut out);
        assert_eq!(out, [105; 4]);
    }
}
