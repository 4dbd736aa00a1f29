//! SOFTMAX's outputs-only form (issue 16): an 8-bit row straight from the
//! input bytes to the output bytes, with the reference's own arithmetic.
//!
//! [`super::softmax`] widens the whole input to i32, builds each row's
//! results in an i32 vector and narrows them afterwards: three passes and
//! their buffers for rows of ten classes. Here each row is read twice from
//! its bytes — once for the maximum and the sum of exponentials, once for
//! the outputs — and written once. Why the bits are the same:
//!
//! * the row's maximum and each difference `d = x_max − x` are the same
//!   integers in the unsigned order `x ⊕ 0x80` of an int8 row (both sides shift by 128);
//! * `d` lies in `0..=255` for 8-bit inputs, so every `exp` is the
//!   [`FixedParams::exp_table`] entry the reference looks up (−1: below `diff_min`);
//! * the sum of exponentials is the same wrapping i32 sum, and the float
//!   table's sum is accumulated in the row's order, as the reference does;
//! * each output is the reference's expression on the same operands
//!   ([`fixedpoint::mul`], [`quant::rounding_divide_by_pot`], the clamp;
//!   [`quantize_softmax_output`] for the table).
//!
//! Other dtypes (float, an int16 output) return `false`: the caller runs the reference.

use super::softmax::{quantize_softmax_output, Arith, FixedParams, Params, TableParams, ACCUMULATION_INTEGER_BITS};
use super::{conv_fused, int_range};
use crate::model::DType;
use crate::quant::{self, fixedpoint};
use crate::tensor::{Data, Value};

/// SOFTMAX of every row of `input` into `out` (its shape left alone) when
/// input and output are the same 8-bit type; `false` (nothing written) otherwise.
pub fn rows_into(p: &Params, input: &Value, out: &mut Value) -> bool {
    let depth = *p.output_shape.last().unwrap_or(&1).max(&1);
    let (x, flip, dtype): (&[u8], u8, DType) = match &input.data {
        // SAFETY: i8 and u8 have the same size and alignment.
        Data::I8(x) => (unsafe { std::slice::from_raw_parts(x.as_ptr() as *const u8, x.len()) }, 0x80, DType::I8),
        Data::U8(x) => (&x[..], 0, DType::U8),
        _ => return false,
    };
    let out_dtype = match &p.arith {
        Arith::FixedPoint(f) => f.output_dtype,
        Arith::Table(t) => t.output_dtype,
        Arith::Float => return false,
    };
    if out_dtype != dtype || x.len() % depth != 0 {
        return false;
    }
    let Some(y) = conv_fused::out_bytes(out, dtype, x.len()) else { return false };
    for (row, dst) in x.chunks_exact(depth).zip(y.chunks_exact_mut(depth)) {
        let max = row.iter().map(|&v| v ^ flip).max().unwrap_or(0);
        let diff = |v: u8| (max - (v ^ flip)) as usize;
        match &p.arith {
            Arith::FixedPoint(f) => fixed_row(f, row, dst, diff),
            Arith::Table(t) => table_row(t, row, dst, diff),
            Arith::Float => unreachable!("returned above"),
        }
    }
    true
}

/// One row of [`super::softmax::softmax_fixed_point`]; `diff(x)` = `x_max − x`.
#[inline]
fn fixed_row(f: &FixedParams, row: &[u8], dst: &mut [u8], diff: impl Fn(u8) -> usize) {
    let exp = |v: u8| f.exp_table[diff(v)];
    let mut sum_of_exps: i32 = 0; // Q12.19
    for &v in row {
        let e = exp(v);
        if e >= 0 {
            sum_of_exps = sum_of_exps.wrapping_add(fixedpoint::rescale(e, 0, ACCUMULATION_INTEGER_BITS));
        }
    }
    let (shifted_scale, num_bits_over_unit) = fixedpoint::get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS);
    let shift = (num_bits_over_unit + 31 - 8).clamp(0, 31);
    let (q_min, q_max) = int_range(f.output_dtype);
    for (o, &v) in dst.iter_mut().zip(row) {
        let e = exp(v);
        let y = if e >= 0 {
            let unsat = quant::rounding_divide_by_pot(fixedpoint::mul(shifted_scale, e), shift);
            (unsat as i64 + q_min as i64).clamp(q_min as i64, q_max as i64) as i32
        } else {
            q_min
        };
        *o = y as u8;
    }
}

/// One row of [`super::softmax::softmax_table`]; `diff(x)` = `x_max − x`.
#[inline]
fn table_row(t: &TableParams, row: &[u8], dst: &mut [u8], diff: impl Fn(u8) -> usize) {
    let mut sum_exp = 0.0f32;
    for &v in row {
        sum_exp += t.table[diff(v)];
    }
    let inv_sum_exp = 1.0f32 / (sum_exp * t.output_scale);
    let (q_min, q_max) = int_range(t.output_dtype);
    for (o, &v) in dst.iter_mut().zip(row) {
        let q = quantize_softmax_output(t.table[diff(v)] * inv_sum_exp, t.output_zero_point, t.output_dtype);
        *o = q.clamp(q_min, q_max) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::softmax::{input_radius, SCALED_DIFF_INTEGER_BITS};
    use crate::ops::testkit::lcg;

    /// Both methods (the profiles' [`crate::profile::SoftmaxMethod`]s) for
    /// input scale `s_in`, `beta` and 8-bit `dtype`, as `prepare` builds them.
    fn params(s_in: f32, beta: f32, dtype: DType, depth: usize, rows: usize) -> Vec<Params> {
        let real = (beta as f64 * s_in as f64 * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64).min((1i64 << 31) as f64 - 1.0);
        let (m, shift) = quant::quantize_multiplier(real);
        let fixed = FixedParams::new(m, shift, -input_radius(SCALED_DIFF_INTEGER_BITS, shift, 31), dtype);
        let scale = -s_in * beta;
        let z = if dtype == DType::I8 { -128 } else { 0 };
        let table = TableParams { table: (0..256).map(|d| (scale * d as f32).exp()).collect(), output_scale: 1.0 / 256.0, output_zero_point: z, output_dtype: dtype };
        let p = |arith| Params { input: 0, output: 1, beta, output_shape: vec![rows, depth], arith };
        vec![p(Arith::FixedPoint(fixed)), p(Arith::Table(table))]
    }

    /// Rows of every kind: random logits, all equal, ties at the maximum,
    /// both ends of the range in one row, one-hot, a narrow spread.
    fn logits(depth: usize, rows: usize, seed: &mut u64) -> Vec<u8> {
        let mut x = Vec::with_capacity(depth * rows);
        for r in 0..rows {
            let base = lcg(seed) as u8;
            for k in 0..depth {
                x.push(match r % 6 {
                    0 => lcg(seed) as u8,
                    1 => base,
                    2 => if k % 3 == 0 { base } else { base.wrapping_sub(1 + (lcg(seed) % 40) as u8).min(base) },
                    3 => [0u8, 255, 0x80, 0x7f][k % 4],
                    4 => if k == r % depth { 255 } else { 0 },
                    _ => base.saturating_add((lcg(seed) % 4) as u8),
                });
            }
        }
        x
    }

    /// Equal to the reference eval on every method, both 8-bit types, input
    /// scales that make `diff_min` cut inside the row and not, row lengths 1–1000.
    #[test]
    fn rows_equal_the_reference() {
        let mut seed = 5u64;
        let mut compared = 0;
        for (s_in, beta) in [(0.16769525, 1.0), (1.0 / 256.0, 1.0), (0.05, 2.0), (0.5, 1.0), (2.0, 0.75), (0.01, 0.3)] {
            for dtype in [DType::I8, DType::U8] {
                for (depth, rows) in [(10, 60), (1, 7), (16, 12), (33, 13), (1000, 3)] {
                    let bytes = logits(depth, rows, &mut seed);
                    let input = match dtype {
                        DType::I8 => Value { shape: vec![rows, depth], data: Data::I8(bytes.iter().map(|&b| b as i8).collect()) },
                        _ => Value { shape: vec![rows, depth], data: Data::U8(bytes.clone()) },
                    };
                    for p in params(s_in, beta, dtype, depth, rows) {
                        let want = p.eval(&input).expect("reference");
                        let mut got = Value { shape: vec![rows, depth], data: Data::I32(vec![7; 3]) };
                        assert!(rows_into(&p, &input, &mut got));
                        assert_eq!(got.data, want.data, "s_in {s_in} beta {beta} {dtype} depth {depth} {:?}", std::mem::discriminant(&p.arith));
                        compared += 1;
                    }
                }
            }
        }
        assert_eq!(compared, 6 * 2 * 5 * 2);
    }

    /// Float and int16 outputs are left to the reference.
    #[test]
    fn other_types_are_declined() {
        let x = Value { shape: vec![1, 4], data: Data::I8(vec![1, 2, 3, 4]) };
        let mut p = params(0.1, 1.0, DType::I16, 4, 1).remove(0);
        assert!(!rows_into(&p, &x, &mut Value { shape: vec![1, 4], data: Data::I16(vec![]) }));
        p.arith = Arith::Float;
        let f = Value { shape: vec![1, 4], data: Data::F32(vec![1.0; 4]) };
        assert!(!rows_into(&p, &f, &mut Value { shape: vec![1, 4], data: Data::F32(vec![]) }));
    }
}
