//! ARG_MAX and ARG_MIN along one constant axis → int32/int64 indices. The
//! first extreme wins (a later element must be strictly greater / smaller),
//! on raw int8 values or on floats, the same in every runtime.

use super::layout::axis;
use super::OpContext;
use crate::error::EngineError;
use crate::model::{DType, OpKind};
use crate::tensor::{Data, Value};

/// Everything ARG_MAX/ARG_MIN needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub max: bool,
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
    pub out_dtype: DType,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    let is = ctx.shape(input);
    let a = ctx.const_i32(ctx.input(1)?, "axis")?;
    let ax = a.first().and_then(|&a| axis(a, is.len())).ok_or_else(|| ctx.bad(format!("axis {a:?} for rank {}", is.len())))?;
    let out_dtype = ctx.dtype(output);
    if !matches!(out_dtype, DType::I32 | DType::I64) || !matches!(ctx.dtype(input), DType::F32 | DType::I8 | DType::U8 | DType::I32) {
        return Err(ctx.unsupported(format!("{} → {out_dtype}", ctx.dtype(input))));
    }
    let (outer, inner) = (is[..ax].iter().product(), is[ax + 1..].iter().product());
    Ok(Params { input, output, max: ctx.op.kind == OpKind::ArgMax, outer, len: is[ax], inner, out_dtype, output_shape: ctx.shape(output) })
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        let v: Vec<f64> = match &x.data {
            Data::F32(f) => f.iter().map(|&a| a as f64).collect(),
            _ => x.to_f64_vec(),
        };
        let mut out = Vec::with_capacity(self.outer * self.inner);
        for o in 0..self.outer {
            for i in 0..self.inner {
                let at = |k: usize| v[(o * self.len + k) * self.inner + i];
                let mut best = 0;
                for k in 1..self.len {
                    if (self.max && at(k) > at(best)) || (!self.max && at(k) < at(best)) {
                        best = k;
                    }
                }
                out.push(best as i64);
            }
        }
        Ok(Value { shape: self.output_shape.clone(), data: super::from_i64(self.out_dtype, &[], out).data })
    }
}
