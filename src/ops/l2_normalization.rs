//! L2_NORMALIZATION over the last axis.
//!
//! float32 (LiteRT's reference loop): `n = max(sqrtf(Σ x²), 1e−6)` with the
//! squares summed in f32 in order, then `x / n`.
//!
//! int8 (`reference_integer_ops::L2Normalization`, used by the reference and
//! optimized kernels alike; the output scale is fixed at 1/128, zero point 0):
//! `acc = Σ (q − Z)²` in int32, `1/√acc ≈ m·2^e` by the same fixed-point
//! Newton–Raphson as RSQRT ([`super::rsqrt::inv_sqrt_multiplier_exp`]), then
//! `clamp(MBQM(q − Z, m, e + 7))`.
//!
//! uint8 (`reference_ops::L2Normalization` on uint8, both kernel sets; output
//! 1/128, zero point 128): the same `m·2^e`, but the factor 128 is applied
//! to the difference before the multiply, `128 + MBQM(128·(q − Z), m, e)`,
//! so the doubling high multiply rounds at another place than int8's.

use super::layout::f32s;
use super::OpContext;
use crate::error::EngineError;
use crate::model::DType;
use crate::tensor::{Data, Value};

/// Everything L2_NORMALIZATION needs.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub depth: usize,
    /// int8 or uint8: the input zero point (`None`: float32).
    pub z_in: Option<i32>,
    pub output_shape: Vec<usize>,
    pub output_dtype: DType,
}

/// Float32 in and out, the same element count; rows along the last axis.
pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    let z_in = match (ctx.dtype(input), ctx.dtype(output)) {
        (DType::F32, DType::F32) => None,
        (d @ (DType::I8 | DType::U8), o) if o == d && ctx.op.kind == crate::model::OpKind::L2Normalization => {
            let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
            let z_want = super::int_range(d).0 + 128;
            if (s_out, z_out) != (1.0 / 128.0, z_want) {
                return Err(ctx.unsupported(format!("{d} output scale {s_out} / zero point {z_out} (1/128 and {z_want} are required)")));
            }
            Some(ctx.per_tensor_quant(input, "input")?.1)
        }
        (d, _) => return Err(ctx.unsupported(format!("dtype {d} (float32{} is supported)", if ctx.op.kind == crate::model::OpKind::L2Normalization { ", int8 and uint8" } else { "" }))),
    };
    super::same_element_count(ctx, input, output)?;
    let depth = ctx.shape(input).last().copied().unwrap_or(1).max(1);
    Ok(Params { input, output, depth, z_in, output_shape: ctx.shape(output), output_dtype: ctx.dtype(output) })
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        if let Some(z) = self.z_in {
            let q = super::ints(x, self.input)?;
            let mut out = Vec::with_capacity(q.len());
            for row in q.chunks(self.depth) {
                let acc = row.iter().fold(0i32, |a, &v| a.wrapping_add((v - z) * (v - z)));
                let (m, e) = super::rsqrt::inv_sqrt_multiplier_exp(acc);
                let mbqm = crate::quant::multiply_by_quantized_multiplier_double_rounding;
                if self.output_dtype == DType::U8 {
                    out.extend(row.iter().map(|&v| (128 + mbqm(128 * (v - z), m, e)).clamp(0, 255)));
                } else {
                    out.extend(row.iter().map(|&v| mbqm(v - z, m, e + 7).clamp(-128, 127)));
                }
            }
            return Ok(super::narrow(self.output_dtype, &self.output_shape, out));
        }
        let v = f32s(x, self.input)?;
        let mut out = Vec::with_capacity(v.len());
        for row in v.chunks(self.depth) {
            let mut sq = 0.0f32;
            for &a in row {
                sq += a * a;
            }
            let n = sq.sqrt().max(1e-6);
            out.extend(row.iter().map(|&a| a / n));
        }
        Ok(Value { shape: self.output_shape.clone(), data: Data::F32(out) })
    }
}
