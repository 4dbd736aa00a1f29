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

use super::lut;
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
    if !matches!(dtype, DType::I8 | DType::U8) {
        return Err(ctx.unsupported(format!("dtype {dtype} (int8 and uint8 are supported; float32 GELU runs on Eigen's vectorized erfc/tanh)")));
    }
    let (s_in, z_in) = ctx.per_tensor_quant(input, "input")?;
    let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
    let f = if approximate { gelu_tanh } else { gelu_exact };
    let table = lut::populate(dtype, s_in, z_in, s_out, z_out, f);
    Ok(Params { input, output, approximate, table, output_shape: ctx.shape(output), dtype })
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        Ok(narrow(self.dtype, &self.output_shape, lut::apply(&self.table, self.dtype, &ints(x, self.input)?)))
    }

    pub fn describe(&self) -> String {
        format!("none: 256-entry table of the f32 {} GELU in every runtime", if self.approximate { "tanh-approximate" } else { "exact (erfc)" })
    }
}
