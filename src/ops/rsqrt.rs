//! RSQRT, `1/√x`: the reciprocal square root of LayerNorm's variance.
//!
//! float32: `1.f / sqrtf(x)`.
//!
//! int8 (LiteRT's `RsqrtEvalQuantizedInt8`; every runtime that runs the
//! ViT uses it — XNNPACK leaves RSQRT to the builtin kernel):
//!
//! ```text
//!     v = q − Z_in                      (must be ≥ 0; v = 0 gives 127)
//!     1/√v ≈ m_v · 2^e_v                (GetInvSqrtQuantizedMultiplierExp:
//!                                        Newton–Raphson in gemmlowp fixed point)
//!     d = MBQM(1, m_v, e_v + 20)        (1/√v in units of 2^−20)
//!     q_out = clamp(Z_out + MBQM(d, M0, shift − 20)),  M = 1 / (√S_in · S_out)
//! ```
//!
//! `MBQM` is `MultiplyByQuantizedMultiplier` (gemmlowp double rounding).

use super::{ints, narrow, OpContext};
use crate::error::EngineError;
use crate::model::DType;
use crate::quant::{self, fixedpoint};
use crate::tensor::{Data, Value};

/// Everything RSQRT needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub dtype: DType,
    pub z_in: i32,
    pub z_out: i32,
    /// `M = 1 / (√S_in · S_out)` as `M0 · 2^shift`.
    pub m0: i32,
    pub shift: i32,
    pub output_shape: Vec<usize>,
}

/// `K_SHIFT` of the reference kernel: `1/√v` is carried in units of 2^−20.
const K_SHIFT: i32 = 20;

/// gemmlowp's `GetInvSqrtQuantizedMultiplierExp` with `reverse_shift = −1`:
/// `1/√input ≈ multiplier · 2^shift` (multiplier in Q31), for `input ≥ 0`.
pub fn inv_sqrt_multiplier_exp(mut input: i32) -> (i32, i32) {
    if input <= 1 {
        return (i32::MAX, 0);
    }
    let mut shift = 11;
    while input >= (1 << 29) {
        input /= 4;
        shift += 1;
    }
    let max_left_shift_bits = (input as u32).leading_zeros() as i32 - 1;
    let left_shift_bit_pairs = max_left_shift_bits / 2 - 1;
    shift -= left_shift_bit_pairs;
    input <<= 2 * left_shift_bit_pairs;
    // F3: 3 integer bits. Newton–Raphson for 1/√a: x ← 1.5·x − (a/2)·x³, from x = 1.
    let a = input >> 1;
    let half_a = fixedpoint::saturating_rounding_multiply_by_pot(a, -1);
    let three_halves = (1 << 28) + (1 << 27);
    let mut x = fixedpoint::one(3);
    for _ in 0..5 {
        let x3 = fixedpoint::rescale(fixedpoint::mul(fixedpoint::mul(x, x), x), 9, 3);
        let t = fixedpoint::mul(three_halves, x).wrapping_sub(fixedpoint::mul(half_a, x3));
        x = fixedpoint::rescale(t, 6, 3);
    }
    // × √2/2 in F0.
    let mut m = fixedpoint::mul(x, 1_518_500_250);
    if shift < 0 {
        m <<= -shift;
        shift = 0;
    }
    (m, -shift)
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let super::layout::Unary { input, output, dtype, s_in, z_in, s_out, z_out } = super::layout::Unary::read(ctx)?;
    let (m0, shift) = if dtype == DType::I8 { quant::quantize_multiplier(1.0 / ((s_in as f64).sqrt() * s_out as f64)) } else { (0, 0) };
    Ok(Params { input, output, dtype, z_in, z_out, m0, shift, output_shape: ctx.shape(output) })
}

impl Params {
    /// One int8 element.
    pub fn element(&self, q: i32) -> Result<i32, EngineError> {
        let v = q - self.z_in;
        if v < 0 {
            return Err(EngineError::BadInput(format!("RSQRT input tensor {}: {q} is below the zero point {} (negative)", self.input, self.z_in)));
        }
        if v == 0 {
            return Ok(127);
        }
        let (m, e) = inv_sqrt_multiplier_exp(v);
        let d = quant::multiply_by_quantized_multiplier_double_rounding(1, m, e + K_SHIFT);
        let out = quant::multiply_by_quantized_multiplier_double_rounding(d, self.m0, self.shift - K_SHIFT) as i64 + self.z_out as i64;
        Ok(out.clamp(-128, 127) as i32)
    }

    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        if self.dtype == DType::F32 {
            let v = super::layout::f32s(x, self.input)?;
            return Ok(Value { shape: self.output_shape.clone(), data: Data::F32(v.iter().map(|&a| 1.0f32 / a.sqrt()).collect()) });
        }
        let out = ints(x, self.input)?.into_iter().map(|q| self.element(q)).collect::<Result<Vec<_>, _>>()?;
        Ok(narrow(self.dtype, &self.output_shape, out))
    }

    pub fn describe(&self) -> String {
        match self.dtype {
            DType::F32 => "none: float32 1/sqrtf".into(),
            _ => format!("none: Newton–Raphson 1/√(q − {}) in fixed point, then × M = {}·2^({} − 31), Z_out {}", self.z_in, self.m0, self.shift, self.z_out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_square_root_is_close() {
        for v in [2, 3, 4, 10, 100, 1000, 123_456, 1 << 20] {
            let (m, e) = inv_sqrt_multiplier_exp(v);
            let got = m as f64 * 2f64.powi(e - 31);
            let want = 1.0 / (v as f64).sqrt();
            assert!((got / want - 1.0).abs() < 1e-5, "{v}: {got} vs {want}");
        }
    }
}
