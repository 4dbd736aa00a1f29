//! PACK: N tensors of one shape stacked along a new axis (the converter's
//! Flatten packs the dynamic batch size and the flattened size into the
//! int32 shape vector of a RESHAPE).

use super::concatenation::{gather, interleave, interleave_f32, runtime_inputs};
use super::OpContext;
use crate::error::EngineError;
use crate::model::{DType, Options};
use crate::profile::Profile;
use crate::tensor::Value;

/// Everything PACK needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub inputs: Vec<usize>,
    /// The value of each input that is a constant of the model (`None` for run-time inputs).
    pub constants: Vec<Option<Value>>,
    pub output: usize,
    /// Product of the input dimensions before the axis.
    pub outer: usize,
    /// Product of the input dimensions from the axis on.
    pub inner: usize,
    pub output_shape: Vec<usize>,
    pub output_dtype: DType,
}

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    let (values_count, axis) = match &ctx.op.options {
        Options::Pack { values_count, axis } => (*values_count, *axis),
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    let inputs: Vec<usize> = (0..ctx.op.inputs.len()).map(|i| ctx.input(i)).collect::<Result<_, _>>()?;
    if values_count as usize != inputs.len() {
        return Err(ctx.bad(format!("values_count {values_count} but {} inputs", inputs.len())));
    }
    let output = ctx.output(0)?;
    let output_dtype = ctx.dtype(output);
    if !matches!(output_dtype, DType::I32 | DType::F32) {
        return Err(ctx.unsupported(format!("dtype {output_dtype} (int32 and float32 are supported)")));
    }
    let s0 = ctx.shape(inputs[0]);
    for &t in &inputs {
        ctx.require_same(t, output, false)?;
        if ctx.shape(t) != s0 {
            return Err(ctx.bad(format!("input tensor {t} shape {:?} differs from {s0:?}", ctx.shape(t))));
        }
    }
    let rank = s0.len() as i32 + 1;
    let a = if axis < 0 { axis + rank } else { axis };
    if a < 0 || a >= rank {
        return Err(ctx.bad(format!("axis {axis} for output rank {rank}")));
    }
    let a = a as usize;
    let mut expected = s0.clone();
    expected.insert(a, inputs.len());
    if ctx.shape(output) != expected {
        return Err(ctx.bad(format!("output shape {:?}, expected {expected:?}", ctx.shape(output))));
    }
    let constants = inputs.iter().map(|&t| Value::from_constant(&ctx.model.tensors[t])).collect();
    Ok(Params {
        constants,
        outer: s0[..a].iter().product(),
        inner: s0[a..].iter().product(),
        inputs,
        output,
        output_shape: expected,
        output_dtype,
    })
}

impl Params {
    /// The inputs read at run time (the non-constant ones), in order.
    pub fn runtime_inputs(&self) -> Vec<usize> {
        runtime_inputs(&self.inputs, &self.constants)
    }

    /// Evaluate on the run-time inputs (in [`Self::runtime_inputs`] order):
    /// CONCATENATION's interleave with `inner` elements of every input.
    pub fn eval(&self, runtime: &[&Value]) -> Result<Value, EngineError> {
        let chunk = vec![self.inner; self.inputs.len()];
        if self.output_dtype == DType::F32 {
            return interleave_f32(&self.inputs, &self.constants, runtime, self.outer, &chunk, &self.output_shape);
        }
        let vals = gather(&self.inputs, &self.constants, runtime)?;
        let out = interleave(&vals, self.outer, &chunk);
        Ok(super::from_i64(self.output_dtype, &self.output_shape, out))
    }
}
