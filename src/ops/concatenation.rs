//! CONCATENATION along one axis. For int8 every runtime requires all inputs
//! to share the output's scale and zero point (LiteRT refuses the model
//! otherwise: "t->params.scale != output->params.scale"; the converter
//! always unifies them), so the values are copied unchanged. Int32 tensors
//! (shape arithmetic) are concatenated the same way.

use super::{fused_range, OpContext};
use crate::error::EngineError;
use crate::model::{Activation, DType, Options};
use crate::profile::Profile;
use crate::tensor::Value;

/// Everything CONCATENATION needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub inputs: Vec<usize>,
    /// The value of each input that is a constant of the model (`None` for run-time inputs).
    pub constants: Vec<Option<Value>>,
    pub output: usize,
    /// The axis, resolved to 0..rank.
    pub axis: usize,
    /// Product of the dimensions before the axis.
    pub outer: usize,
    /// Per input, the elements of one outer slice (`dim[axis] · inner`).
    pub chunk: Vec<usize>,
    pub output_shape: Vec<usize>,
    pub output_dtype: DType,
}

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    let (axis, activation) = match &ctx.op.options {
        Options::Concatenation { axis, activation } => (*axis, *activation),
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    let output = ctx.output(0)?;
    let os = ctx.shape(output);
    let rank = os.len() as i32;
    let a = if axis < 0 { axis + rank } else { axis };
    if a < 0 || a >= rank.max(1) {
        return Err(ctx.bad(format!("axis {axis} for rank {rank}")));
    }
    let axis = a as usize;
    let inputs: Vec<usize> = (0..ctx.op.inputs.len()).map(|i| ctx.input(i)).collect::<Result<_, _>>()?;
    let output_dtype = ctx.dtype(output);
    match output_dtype {
        DType::I8 => {
            for &t in &inputs {
                ctx.require_same(t, output, true)?;
            }
            let (s, z) = ctx.per_tensor_quant(output, "output")?;
            if fused_range(activation, output_dtype, s, z) != (-128, 127) {
                return Err(ctx.unsupported(format!("fused activation {}", activation.name())));
            }
        }
        DType::I32 => {
            if activation != Activation::None {
                return Err(ctx.unsupported(format!("fused activation {} on int32", activation.name())));
            }
            for &t in &inputs {
                ctx.require_same(t, output, false)?;
            }
        }
        other => return Err(ctx.unsupported(format!("dtype {other}"))),
    }
    let inner: usize = os[axis + 1..].iter().product();
    let outer: usize = os[..axis].iter().product();
    let mut chunk = Vec::new();
    let mut total = 0;
    for &t in &inputs {
        let s = ctx.shape(t);
        if s.len() != os.len() || s.iter().enumerate().any(|(d, &n)| d != axis && n != os[d]) {
            return Err(ctx.bad(format!("input tensor {t} shape {s:?} does not concatenate into {os:?} along axis {axis}")));
        }
        total += s[axis];
        chunk.push(s[axis] * inner);
    }
    if total != os[axis] {
        return Err(ctx.bad(format!("inputs sum to {total} along axis {axis}, output has {}", os[axis])));
    }
    let constants = inputs.iter().map(|&t| Value::from_constant(&ctx.model.tensors[t])).collect();
    Ok(Params { inputs, constants, output, axis, outer, chunk, output_shape: os, output_dtype })
}

impl Params {
    /// The inputs read at run time (the non-constant ones), in order.
    pub fn runtime_inputs(&self) -> Vec<usize> {
        self.inputs.iter().zip(&self.constants).filter(|(_, c)| c.is_none()).map(|(&t, _)| t).collect()
    }

    /// Evaluate on the run-time inputs (in [`Self::runtime_inputs`] order).
    pub fn eval(&self, runtime: &[&Value]) -> Result<Value, EngineError> {
        let mut it = runtime.iter();
        let inputs: Vec<&Value> = self
            .constants
            .iter()
            .map(|c| c.as_ref().or_else(|| it.next().copied()))
            .collect::<Option<_>>()
            .ok_or_else(|| EngineError::BadInput("too few run-time inputs".into()))?;
        let vals: Vec<Vec<i64>> = inputs
            .iter()
            .zip(&self.inputs)
            .map(|(v, &t)| v.to_i64_vec().ok_or_else(|| EngineError::BadInput(format!("tensor {t} is not integer"))))
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(self.output_shape.iter().product());
        for o in 0..self.outer {
            for (v, &c) in vals.iter().zip(&self.chunk) {
                out.extend_from_slice(&v[o * c..(o + 1) * c]);
            }
        }
        Ok(super::from_i64(self.output_dtype, &self.output_shape, out))
    }
}
