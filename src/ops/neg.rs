//! NEG: `−x` on float32 and on int32/int64 (wrapping). On float32 the
//! runtimes differ only on zeros ([`crate::profile::Profile::neg_method`]):
//! LiteRT flips the sign bit (C's unary minus: `−0.0` from `0.0`), XNNPACK
//! computes `0 − x` (`+0.0`). The converter keeps NEG in
//! float inside int8 graphs (DEQUANTIZE → NEG → QUANTIZE, as in the ViT's
//! LayerNorm), so no committed model has an int8 NEG and it is refused.

use super::OpContext;
use crate::error::EngineError;
use crate::model::DType;
use crate::profile::{NegMethod, Profile};
use crate::tensor::{Data, Value};

/// Everything NEG needs.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub dtype: DType,
    pub method: NegMethod,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    ctx.require_same(input, output, false)?;
    super::same_element_count(ctx, input, output)?;
    let dtype = ctx.dtype(input);
    if !matches!(dtype, DType::F32 | DType::I32 | DType::I64) {
        return Err(ctx.unsupported(format!("dtype {dtype} (float32, int32 and int64 are supported)")));
    }
    Ok(Params { input, output, dtype, method: profile.neg_method(), output_shape: ctx.shape(output) })
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        let data = match &x.data {
            Data::F32(v) => Data::F32(match self.method {
                NegMethod::SignFlip => v.iter().map(|&a| -a).collect(),
                NegMethod::ZeroMinus => v.iter().map(|&a| 0.0 - a).collect(),
            }),
            Data::I32(v) => Data::I32(v.iter().map(|&a| a.wrapping_neg()).collect()),
            Data::I64(v) => Data::I64(v.iter().map(|&a| a.wrapping_neg()).collect()),
            _ => return Err(EngineError::BadInput(format!("NEG input tensor {} is {}, expected {}", self.input, x.dtype(), self.dtype))),
        };
        Ok(Value { shape: self.output_shape.clone(), data })
    }
}
