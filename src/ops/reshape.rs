//! RESHAPE: the same elements under the output tensor's shape. Quantized
//! tensors keep their scale and zero point (the converter gives input and
//! output the same ones), so no arithmetic happens.

use super::OpContext;
use crate::error::EngineError;
use crate::profile::Profile;
use crate::tensor::Value;

/// Everything RESHAPE needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let (i, o) = (&ctx.model.tensors[input], &ctx.model.tensors[output]);
    if i.num_elements() != o.num_elements() {
        return Err(ctx.bad(format!("input has {} elements, output shape {:?} has {}", i.num_elements(), o.shape, o.num_elements())));
    }
    if i.dtype != o.dtype {
        return Err(ctx.bad(format!("input dtype {} differs from output dtype {}", i.dtype, o.dtype)));
    }
    if i.quant != o.quant && i.quant.is_some() {
        return Err(ctx.unsupported("RESHAPE whose output quantization differs from its input's"));
    }
    Ok(Params { input, output, output_shape: o.shape.clone() })
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        Ok(input.reshaped(&self.output_shape))
    }
}
