//! RESHAPE: the same elements under a new shape. Quantized tensors keep
//! their scale and zero point (the converter gives input and output the same
//! ones), so no arithmetic happens.
//!
//! The new shape comes from the optional second input — a constant or, for
//! the converter's dynamic-batch Flatten, an int32 vector computed at run
//! time by SHAPE → STRIDED_SLICE → PACK — with at most one −1 resolved from
//! the element count, as the runtimes do; without that input it is the
//! output tensor's stored shape.

use super::OpContext;
use crate::error::EngineError;
use crate::profile::Profile;
use crate::tensor::Value;

/// Everything RESHAPE needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    /// A shape tensor computed at run time (read during eval).
    pub shape_input: Option<usize>,
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
    let mut shape_input = None;
    if let Some(s) = ctx.op.input(1) {
        let st = &ctx.model.tensors[s];
        if st.is_constant() {
            let dims = ctx.const_i32(s, "shape")?;
            let resolved = resolve_shape(&dims, i.num_elements()).map_err(|e| ctx.bad(e))?;
            if resolved != o.shape {
                return Err(ctx.bad(format!("shape tensor {s} gives {resolved:?}, output tensor has {:?}", o.shape)));
            }
        } else {
            shape_input = Some(s);
        }
    }
    Ok(Params { input, shape_input, output, output_shape: o.shape.clone() })
}

/// Resolve a requested shape (at most one −1) for `count` elements.
pub fn resolve_shape(dims: &[i32], count: usize) -> Result<Vec<usize>, String> {
    let known: i64 = dims.iter().filter(|&&d| d != -1).map(|&d| d as i64).product();
    let unknown = dims.iter().filter(|&&d| d == -1).count();
    if dims.iter().any(|&d| d < -1) || unknown > 1 {
        return Err(format!("bad shape {dims:?}"));
    }
    let out: Vec<usize> = dims
        .iter()
        .map(|&d| if d == -1 { if known == 0 { 0 } else { (count as i64 / known) as usize } } else { d as usize })
        .collect();
    if out.iter().product::<usize>() != count {
        return Err(format!("shape {dims:?} does not hold {count} elements"));
    }
    Ok(out)
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        Ok(input.reshaped(&self.output_shape))
    }

    /// Eval with the run-time shape vector.
    pub fn eval_with_shape(&self, input: &Value, shape: &Value) -> Result<Value, EngineError> {
        let dims: Vec<i32> = shape
            .to_i64_vec()
            .ok_or_else(|| EngineError::BadInput(format!("shape tensor t{} is not integer", self.shape_input.unwrap_or(0))))?
            .into_iter()
            .map(|d| d as i32)
            .collect();
        let s = resolve_shape(&dims, input.len()).map_err(|e| EngineError::BadInput(format!("RESHAPE output t{}: {e}", self.output)))?;
        Ok(input.reshaped(&s))
    }
}
