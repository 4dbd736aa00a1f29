//! SHAPE: the input's shape as an int32 (or int64) vector. The shape is
//! that of the value at run time (the stored shape with its batch of 1).

use super::OpContext;
use crate::error::EngineError;
use crate::model::{DType, Options};
use crate::profile::Profile;
use crate::tensor::Value;

/// Everything SHAPE needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub output_dtype: DType,
}

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let output_dtype = ctx.dtype(output);
    if !matches!(output_dtype, DType::I32 | DType::I64) {
        return Err(ctx.unsupported(format!("output dtype {output_dtype}")));
    }
    if let Options::Shape { out_type } = &ctx.op.options {
        if DType::from_schema(*out_type).is_some_and(|d| d != output_dtype) {
            return Err(ctx.bad(format!("out_type {} but output tensor is {output_dtype}", DType::schema_name(*out_type))));
        }
    }
    if ctx.shape(output) != [ctx.shape(input).len()] {
        return Err(ctx.bad(format!("output shape {:?} for a rank-{} input", ctx.shape(output), ctx.shape(input).len())));
    }
    Ok(Params { input, output, output_dtype })
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let dims: Vec<i64> = input.shape.iter().map(|&d| d as i64).collect();
        Ok(super::from_i64(self.output_dtype, &[dims.len()], dims))
    }
}
