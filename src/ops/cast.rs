//! CAST between int32, int64, bool, int8, uint8 and float32, as C++'s
//! `static_cast` does it (bool → 0/1, nonzero → true, float → integer
//! truncates toward zero, saturating here where C++ would be undefined).

use super::OpContext;
use crate::error::EngineError;
use crate::model::DType;
use crate::tensor::{Data, Value};

/// Everything CAST needs.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub to: DType,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    super::same_element_count(ctx, input, output)?;
    let to = ctx.dtype(output);
    if to == DType::I16 || ctx.dtype(input) == DType::I16 {
        return Err(ctx.unsupported("int16 casts"));
    }
    Ok(Params { input, output, to, output_shape: ctx.shape(output) })
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        let data = match (&x.data, self.to) {
            (Data::F32(v), DType::F32) => Data::F32(v.clone()),
            (Data::F32(v), DType::Bool) => Data::Bool(v.iter().map(|&a| a != 0.0).collect()),
            (Data::F32(v), to) => super::from_i64(to, &[], v.iter().map(|&a| a as i64).collect()).data,
            (Data::Bool(v), DType::F32) => Data::F32(v.iter().map(|&b| b as u8 as f32).collect()),
            (other, DType::F32) => {
                let ints = Value { shape: vec![], data: other.clone() }.to_i64_vec().unwrap_or_default();
                Data::F32(ints.into_iter().map(|a| a as f32).collect())
            }
            (other, DType::Bool) => {
                let ints = Value { shape: vec![], data: other.clone() }.to_i64_vec().unwrap_or_default();
                Data::Bool(ints.into_iter().map(|a| a != 0).collect())
            }
            (other, to) => {
                let ints = Value { shape: vec![], data: other.clone() }.to_i64_vec().unwrap_or_default();
                super::from_i64(to, &[], ints).data
            }
        };
        Ok(Value { shape: self.output_shape.clone(), data })
    }
}
