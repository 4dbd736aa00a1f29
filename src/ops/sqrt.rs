//! SQRT. float32: `sqrtf(x)` (correctly rounded, as `std::sqrt`).
//!
//! int8 (LiteRT's `SqrtEvalQuantized`): dequantize in f32, `sqrtf`, divide
//! by the output scale and **truncate** toward zero (a `static_cast<int>`,
//! not a rounding), add `Z_out`, clamp. Negative inputs are an error.

use super::{ints, narrow, OpContext};
use crate::error::EngineError;
use crate::model::DType;
use crate::tensor::{Data, Value};

/// Everything SQRT needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub dtype: DType,
    pub s_in: f32,
    pub z_in: i32,
    pub s_out: f32,
    pub z_out: i32,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let super::layout::Unary { input, output, dtype, s_in, z_in, s_out, z_out } = super::layout::Unary::read(ctx)?;
    Ok(Params { input, output, dtype, s_in, z_in, s_out, z_out, output_shape: ctx.shape(output) })
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        if self.dtype == DType::F32 {
            let v = super::layout::f32s(x, self.input)?;
            return Ok(Value { shape: self.output_shape.clone(), data: Data::F32(v.iter().map(|&a| a.sqrt()).collect()) });
        }
        let mut out = Vec::with_capacity(x.len());
        for q in ints(x, self.input)? {
            let r = self.s_in * (q - self.z_in) as f32;
            if r < 0.0 {
                return Err(EngineError::BadInput(format!("SQRT input tensor {}: {q} dequantizes to {r} < 0", self.input)));
            }
            let y = ((r.sqrt() / self.s_out) as i32).saturating_add(self.z_out);
            out.push(y.clamp(-128, 127));
        }
        Ok(narrow(self.dtype, &self.output_shape, out))
    }

    pub fn describe(&self) -> String {
        match self.dtype {
            DType::F32 => "none: float32 sqrtf".into(),
            _ => format!("none: f32 sqrt of S_in·(q − {}) = {:e}·(q − {}), ÷ S_out {:e}, truncated, + Z_out {}", self.z_in, self.s_in, self.z_in, self.s_out, self.z_out),
        }
    }
}
