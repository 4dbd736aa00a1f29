//! GELU, exact `x/2 · erfc(−x/√2)` or tanh-approximate
//! `x/2 · (1 + tanh(√(2/π) · (x + 0.044715·x³)))`.
//!
//! int8 and uint8: every runtime that runs GELU (LiteRT reference and
//! optimized kernels; XNNPACK leaves it to them; TFLite Micro has no GELU)
//! looks the output up in a 256-entry table built once from the f32 function
//! ([`super::lut::populate`]), so the integer kernel is the table.
//!
//! The f32 functions are written as LiteRT's `GeluTransform` and
//! `GeluTransformApproximate` write them, operation for operation.
//!
//! float32 (LiteRT's reference and optimized kernels, `reference_ops::Gelu`):
//! the same formulas on an `Eigen::Array`, so `tanh` and `erfc` are Eigen's
//! approximations, not libm's ([`super::eigen_math`]). XNNPACK delegates
//! float GELU to its own kernel, which quantlens does not emulate.

use super::{eigen_math, lut};
use super::{ints, narrow, OpContext};
use crate::error::EngineError;
use crate::model::{DType, Options};
use crate::tensor::Value;

/// `-1/√2` rounded to f32 (`static_cast<float>(-M_SQRT1_2)`).
const MINUS_SQRT1_2: f32 = -std::f64::consts::FRAC_1_SQRT_2 as f32;
/// `√(2/π)` computed in double, rounded to f32 (`M_2_SQRTPI * M_SQRT1_2`).
const SQRT_2_OVER_PI: f32 = (std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2) as f32;

/// Exact GELU in f32: `0.5 · x · erfc(x · (−1/√2))` (erfc avoids the cancellation of `1 + erf`).
pub fn gelu_exact(x: f32) -> f32 {
    0.5f32 * x * lut::erfc(x * MINUS_SQRT1_2)
}

/// tanh-approximate GELU in f32.
pub fn gelu_tanh(x: f32) -> f32 {
    0.5f32 * x * (1.0f32 + (SQRT_2_OVER_PI * (x + 0.044715f32 * x * x * x)).tanh())
}

/// float32 exact GELU as LiteRT's kernel computes it on a tensor:
/// `(0.5·x) · erfc(x·(−1/√2))` with Eigen's `erfc` ([`eigen_math::erfc`]).
pub fn gelu_exact_eigen(x: f32, lane: eigen_math::Lane) -> f32 {
    (0.5f32 * x) * eigen_math::erfc(x * MINUS_SQRT1_2, lane)
}

/// float32 tanh-approximate GELU as LiteRT's kernel computes it on a tensor:
/// `(0.5·x) · (1 + tanh(√(2/π)·(x + 0.044715·x³)))`, `x³ = x·(x·x)`, with
/// Eigen's `tanh` ([`eigen_math::tanh`]).
pub fn gelu_tanh_eigen(x: f32) -> f32 {
    let cube = x * (x * x);
    (0.5f32 * x) * (1.0f32 + eigen_math::tanh(SQRT_2_OVER_PI * (x + 0.044715f32 * cube)))
}

/// Everything GELU needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub approximate: bool,
    /// `table[q − q_min]`.
    pub table: Vec<i32>,
    pub output_shape: Vec<usize>,
    pub dtype: DType,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let approximate = match &ctx.op.options {
        Options::Gelu { approximate } => *approximate,
        Options::None => false,
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    ctx.require_same(input, output, false)?;
    super::same_element_count(ctx, input, output)?;
    let dtype = ctx.dtype(input);
    if dtype == DType::F32 {
        return Ok(Params { input, output, approximate, table: Vec::new(), output_shape: ctx.shape(output), dtype });
    }
    if !matches!(dtype, DType::I8 | DType::U8) {
        return Err(ctx.unsupported(format!("dtype {dtype} (float32, int8 and uint8 are supported)")));
    }
    let (s_in, z_in) = ctx.per_tensor_quant(input, "input")?;
    let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
    let f = if approximate { gelu_tanh } else { gelu_exact };
    let table = lut::populate(dtype, s_in, z_in, s_out, z_out, f);
    Ok(Params { input, output, approximate, table, output_shape: ctx.shape(output), dtype })
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        if self.dtype == DType::F32 {
            let v = super::layout::f32s(x, self.input)?;
            let n = v.len();
            let out = v.iter().enumerate().map(|(i, &a)| if self.approximate { gelu_tanh_eigen(a) } else { gelu_exact_eigen(a, eigen_math::lane(i, n)) }).collect();
            return Ok(Value { shape: self.output_shape.clone(), data: crate::tensor::Data::F32(out) });
        }
        Ok(narrow(self.dtype, &self.output_shape, lut::apply(&self.table, self.dtype, &ints(x, self.input)?)))
    }

    pub fn describe(&self) -> String {
        if self.dtype == DType::F32 {
            return format!(
                "none: float32 {} GELU on Eigen's approximations (SSE packets of 4, no FMA; scalar tail with libm expf), as LiteRT's reference and optimized kernels",
                if self.approximate { "tanh-approximate" } else { "exact (erfc)" }
            );
        }
        format!("none: 256-entry table of the f32 {} GELU in every runtime", if self.approximate { "tanh-approximate" } else { "exact (erfc)" })
    }
}
