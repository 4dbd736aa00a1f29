//! EXPAND_DIMS: insert a dimension of size 1 at `axis` (negative: counted
//! from the end of the output, `axis + rank + 1`). The elements and their
//! order do not change, so every dtype works and every runtime agrees.
//!
//! The converter writes it in front of each Keras `Conv1D` / `DepthwiseConv1D`
//! of a model with a dynamic batch (`[b, T, C] → [b, 1, T, C]`, then a 2-D
//! convolution with a 1-row kernel).

use super::OpContext;
use crate::error::EngineError;
use crate::tensor::Value;

/// Everything EXPAND_DIMS needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    /// The inserted axis, in `0..=rank`.
    pub axis: usize,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    ctx.require_same(input, output, true)?;
    let axis_raw = ctx.const_i32(ctx.input(1)?, "axis")?;
    let is = ctx.shape(input);
    let rank = is.len() as i32;
    let axis = match axis_raw.as_slice() {
        [a] if (-rank - 1..=rank).contains(a) => (if *a < 0 { a + rank + 1 } else { *a }) as usize,
        _ => return Err(ctx.bad(format!("axis {axis_raw:?} for an input of rank {rank} (one value in −rank−1..=rank)"))),
    };
    let mut expected = is.clone();
    expected.insert(axis, 1);
    let os = ctx.shape(output);
    if os != expected {
        return Err(ctx.bad(format!("output shape {os:?}, expected {expected:?} (input {is:?} with a 1 at axis {axis})")));
    }
    Ok(Params { input, output, axis, output_shape: os })
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        Ok(x.reshaped(&self.output_shape))
    }
}
