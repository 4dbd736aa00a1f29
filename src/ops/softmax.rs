//! SOFTMAX over the last dimension: `y[j] = exp(β·x[j]) / Σ_k exp(β·x[k])`.
//!
//! Quantized softmax never needs `x` itself, only the differences
//! `d = x_max − x[j] ≥ 0` (in input steps), because
//! `exp(β·S·(q[j] − q_max))` is independent of the zero point. The output
//! of an int8 softmax always has scale 1/256 and zero point −128 (uint8: 0),
//! so `y = p·256 + Z`. Two methods exist ([`SoftmaxMethod`]):
//!
//! * **gemmlowp fixed point** (reference kernels, TFLite Micro): rescale `d`
//!   into Q5.26 with `β·S·2^26` as a fixed-point multiplier, `exp` by
//!   [`fixedpoint::exp_on_negative_values`], sum in Q12.19, reciprocal by
//!   Newton–Raphson, and a rounding shift to 8 bits. Differences below
//!   `diff_min` contribute nothing.
//! * **f32 table** (optimized kernels): `table[d] = expf(−S·β·d)` for the 256
//!   possible `d`, an f32 sum, `p = table[d] / (sum · S_out)`, then rounded.

use super::{int_range, OpContext};
use crate::error::EngineError;
use crate::model::{DType, Options};
use crate::profile::{Profile, SoftmaxMethod};
use crate::quant::{self, fixedpoint};
use crate::tensor::{Data, Value};

/// Integer bits of the rescaled input difference (Q5.26).
pub const SCALED_DIFF_INTEGER_BITS: i32 = 5;
/// Integer bits of the sum of exponentials (Q12.19).
pub const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// Everything SOFTMAX needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub beta: f32,
    pub output_shape: Vec<usize>,
    pub arith: Arith,
}

/// Which computation, with its constants.
#[derive(Clone, Debug)]
pub enum Arith {
    /// gemmlowp fixed point.
    FixedPoint(FixedParams),
    /// f32 exp table.
    Table(TableParams),
    /// Float model.
    Float,
}

/// Constants of the gemmlowp fixed-point softmax.
#[derive(Clone, Debug)]
pub struct FixedParams {
    /// `β·S_in·2^(31−5)` as `M0 · 2^left_shift` (≥ 1, so a left shift).
    pub input_multiplier: i32,
    pub input_left_shift: i32,
    /// Differences (in input steps, negated) below this contribute 0.
    pub diff_min: i32,
    pub output_dtype: DType,
    /// speed (issue 16): `exp` of every difference an 8-bit input can have,
    /// `exp_table[d]` for `x − x_max = −d`, `d = 0..=255` (−1 below
    /// `diff_min`): the same function of `d` the row loop computes, looked up.
    pub exp_table: Vec<i32>,
}

impl FixedParams {
    /// The constants, with [`FixedParams::exp_table`] filled.
    pub fn new(input_multiplier: i32, input_left_shift: i32, diff_min: i32, output_dtype: DType) -> FixedParams {
        let mut p = FixedParams { input_multiplier, input_left_shift, diff_min, output_dtype, exp_table: Vec::new() };
        p.exp_table = (0..256).map(|d| p.exp_of_diff(-d).unwrap_or(-1)).collect();
        p
    }

    /// `exp(β·S·diff)` in Q0.31 for `diff = x − x_max ≤ 0`; `None` below `diff_min`.
    pub fn exp_of_diff(&self, diff: i32) -> Option<i32> {
        (diff >= self.diff_min).then(|| {
            // MultiplyByQuantizedMultiplierGreaterThanOne: SRDHM(diff·2^left, M0).
            let d = quant::saturating_rounding_doubling_high_mul(diff.wrapping_mul(1 << self.input_left_shift), self.input_multiplier);
            fixedpoint::exp_on_negative_values(d, SCALED_DIFF_INTEGER_BITS)
        })
    }
}

/// Constants of the f32-table softmax.
#[derive(Clone, Debug)]
pub struct TableParams {
    /// `table[d] = expf(−S_in·β·d)` for `d = 0..=255`.
    pub table: Vec<f32>,
    /// Output scale (1/256).
    pub output_scale: f32,
    pub output_zero_point: i32,
    pub output_dtype: DType,
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let beta = match &ctx.op.options {
        Options::Softmax { beta } => *beta,
        Options::None => 1.0,
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    if !(beta.is_finite() && beta >= 0.0) {
        return Err(ctx.bad(format!("beta is {beta}; it must be finite and >= 0")));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let (in_dt, out_dt) = (ctx.dtype(input), ctx.dtype(output));
    let output_shape = ctx.model.tensors[output].shape.clone();
    if ctx.model.tensors[input].num_elements() != ctx.model.tensors[output].num_elements() {
        return Err(ctx.bad("input and output sizes differ"));
    }
    let arith = match (in_dt, out_dt) {
        (DType::F32, DType::F32) => Arith::Float,
        (DType::I8, DType::I8) | (DType::U8, DType::U8) | (DType::I8, DType::I16) => {
            let (s_in, _) = ctx.per_tensor_quant(input, "input")?;
            let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
            match profile.softmax() {
                SoftmaxMethod::GemmlowpFixedPoint => {
                    let real = (beta as f64 * s_in as f64 * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64)
                        .min((1i64 << 31) as f64 - 1.0);
                    // TFLite's QuantizeMultiplierGreaterThanOne checks M > 1 and a shift >= 0.
                    let (input_multiplier, input_left_shift) = quant::quantize_multiplier(real);
                    if real <= 1.0 || input_left_shift < 0 {
                        return Err(ctx.unsupported(format!("input scale·beta too small ({real}) for the fixed-point softmax")));
                    }
                    let diff_min = -input_radius(SCALED_DIFF_INTEGER_BITS, input_left_shift, 31);
                    Arith::FixedPoint(FixedParams::new(input_multiplier, input_left_shift, diff_min, out_dt))
                }
                SoftmaxMethod::FloatExpTable => {
                    let scale = -s_in * beta;
                    let table = (0..256).map(|d| (scale * d as f32).exp()).collect();
                    Arith::Table(TableParams { table, output_scale: s_out, output_zero_point: z_out, output_dtype: out_dt })
                }
            }
        }
        (i, o) => return Err(ctx.unsupported(format!("dtype combination input {i}, output {o}"))),
    };
    Ok(Params { input, output, beta, output_shape, arith })
}

/// TFLite's `CalculateInputRadius`: the largest input difference whose
/// rescaled value still fits the Q5.26 format.
pub fn input_radius(input_integer_bits: i32, input_left_shift: i32, total_signed_bits: i32) -> i32 {
    let max_input_rescaled = ((1i64 << input_integer_bits) - 1) as f64
        * (1i64 << (total_signed_bits - input_integer_bits)) as f64
        / (1i64 << input_left_shift) as f64;
    max_input_rescaled.floor() as i32
}

impl Params {
    /// Evaluate on the input value (softmax over the last dimension).
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let mut out = Value { shape: self.output_shape.clone(), data: Data::I32(Vec::new()) };
        self.eval_into(input, &mut out, &mut Vec::new(), &mut Vec::new())?;
        Ok(out)
    }

    /// Evaluate into `out` (its shape is left alone), reusing its buffer and
    /// the two scratch vectors. `input` may hold several samples.
    pub fn eval_into(&self, input: &Value, out: &mut Value, xs: &mut Vec<i32>, ys: &mut Vec<i32>) -> Result<(), EngineError> {
        let depth = *self.output_shape.last().unwrap_or(&1).max(&1);
        match &self.arith {
            Arith::Float => {
                let x = input.as_f32().ok_or_else(|| EngineError::BadInput("softmax input is not float".into()))?;
                let o = super::f32_buffer(out);
                for row in x.chunks(depth) {
                    let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                    let start = o.len();
                    o.extend(row.iter().map(|&v| ((v - max) * self.beta).exp()));
                    let sum: f32 = o[start..].iter().sum();
                    for e in &mut o[start..] {
                        *e /= sum;
                    }
                }
            }
            Arith::FixedPoint(p) => {
                if !super::widen_into(input, xs) {
                    return Err(EngineError::BadInput("softmax input is not integer".into()));
                }
                ys.clear();
                for row in xs.chunks(depth) {
                    softmax_fixed_point(p, row, ys);
                }
                super::narrow_into(p.output_dtype, ys, out);
            }
            Arith::Table(p) => {
                if !super::widen_into(input, xs) {
                    return Err(EngineError::BadInput("softmax input is not integer".into()));
                }
                ys.clear();
                for row in xs.chunks(depth) {
                    softmax_table(p, row, ys);
                }
                super::narrow_into(p.output_dtype, ys, out);
            }
        }
        Ok(())
    }
}

/// One row of the gemmlowp fixed-point softmax.
pub fn softmax_fixed_point(p: &FixedParams, row: &[i32], out: &mut Vec<i32>) {
    let max = row.iter().copied().max().unwrap_or(0);
    // exp(d) per element (the table for 8-bit differences), kept in `out`
    // (−1 marks "below diff_min": exp ≥ 0 otherwise).
    let exp = |x: i32| match usize::try_from(max as i64 - x as i64).ok().and_then(|d| p.exp_table.get(d)) {
        Some(&e) => (e >= 0).then_some(e),
        None => p.exp_of_diff(x.wrapping_sub(max)),
    };
    let start = out.len();
    let mut sum_of_exps: i32 = 0; // Q12.19
    for &x in row {
        match exp(x) {
            Some(e) => {
                // e: Q0.31
                sum_of_exps = sum_of_exps.wrapping_add(fixedpoint::rescale(e, 0, ACCUMULATION_INTEGER_BITS));
                out.push(e);
            }
            None => out.push(-1),
        }
    }
    let (shifted_scale, num_bits_over_unit) = fixedpoint::get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS);
    let out_bits = if p.output_dtype == DType::I16 { 16 } else { 8 };
    let (q_min, q_max) = int_range(p.output_dtype);
    for y in &mut out[start..] {
        *y = if *y >= 0 {
            let unsat = quant::rounding_divide_by_pot(
                fixedpoint::mul(shifted_scale, *y),
                (num_bits_over_unit + 31 - out_bits).clamp(0, 31),
            );
            // The output's zero point is the dtype's minimum (−128 for int8, 0 for uint8).
            (unsat as i64 + q_min as i64).clamp(q_min as i64, q_max as i64) as i32
        } else {
            q_min
        };
    }
}

/// One row of the f32-table softmax.
pub fn softmax_table(p: &TableParams, row: &[i32], out: &mut Vec<i32>) {
    let max = row.iter().copied().max().unwrap_or(0);
    let mut sum_exp = 0.0f32;
    for &x in row {
        sum_exp += p.table[(max - x).clamp(0, 255) as usize];
    }
    let inv_sum_exp = 1.0f32 / (sum_exp * p.output_scale);
    let (q_min, q_max) = int_range(p.output_dtype);
    for &x in row {
        let prob_rescaled = p.table[(max - x).clamp(0, 255) as usize] * inv_sum_exp;
        let q = quantize_softmax_output(prob_rescaled, p.output_zero_point, p.output_dtype);
        out.push(q.clamp(q_min, q_max));
    }
}

/// The optimized kernels' final rounding: `round(p) + Z` for int8 outputs,
/// but `trunc(p + 0.5)` for uint8 outputs on x86 (a cheaper rounding that
/// differs from `round` only in f32 edge cases).
#[inline]
pub fn quantize_softmax_output(prob_rescaled: f32, zero_point: i32, dtype: DType) -> i32 {
    match dtype {
        DType::U8 => (prob_rescaled + 0.5) as i32,
        // `as` saturates (NaN → 0); the sum saturates too, so a huge
        // probability clamps to the top of the range instead of wrapping.
        _ => (quant::round_half_away_from_zero_f32(prob_rescaled) as i32).saturating_add(zero_point),
    }
}
