//! ABS. float32: `|x|`. int8 (LiteRT's `AbsEvalQuantized`):
//! `v = |q − Z_in|`; if the scales are equal `clamp(v + Z_out)`, otherwise
//! `clamp(Z_out + MBQM(v, M0, shift))` with `M = S_in / S_out` (gemmlowp
//! double rounding). XNNPACK does not take int8 ABS.

use super::{ints, narrow, OpContext};
use crate::error::EngineError;
use crate::model::DType;
use crate::profile::Multiplier;
use crate::quant;
use crate::tensor::{Data, Value};

/// Everything ABS needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub dtype: DType,
    pub z_in: i32,
    pub z_out: i32,
    /// `None` when input and output scales are equal (no rescale).
    pub rescale: Option<Multiplier>,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let u = super::layout::Unary::read(ctx)?;
    // QuantizeMultiplier(input_scale / output_scale): the division in f32.
    let rescale = (u.dtype == DType::I8 && u.s_in != u.s_out).then(|| Multiplier::from_real((u.s_in / u.s_out) as f64));
    Ok(Params { input: u.input, output: u.output, dtype: u.dtype, z_in: u.z_in, z_out: u.z_out, rescale, output_shape: ctx.shape(u.output) })
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        if self.dtype == DType::F32 {
            let v = super::layout::f32s(x, self.input)?;
            return Ok(Value { shape: self.output_shape.clone(), data: Data::F32(v.iter().map(|a| a.abs()).collect()) });
        }
        let out = ints(x, self.input)?
            .into_iter()
            .map(|q| {
                let v = (q - self.z_in).abs();
                let y = match &self.rescale {
                    None => v + self.z_out,
                    Some(m) => quant::multiply_by_quantized_multiplier_double_rounding(v, m.m0, m.shift) + self.z_out,
                };
                y.clamp(-128, 127)
            })
            .collect();
        Ok(narrow(self.dtype, &self.output_shape, out))
    }

    pub fn describe(&self) -> String {
        match (&self.rescale, self.dtype) {
            (_, DType::F32) => "none: float32 |x|".into(),
            (None, _) => format!("none: |q − {}| + {}", self.z_in, self.z_out),
            (Some(m), _) => format!("none: |q − {}| × M = {}·2^({} − 31), + {}", self.z_in, m.m0, m.shift, self.z_out),
        }
    }
}
