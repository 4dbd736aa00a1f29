//! MAXIMUM and MINIMUM, broadcasting: `a > b ? a : b` and `a < b ? a : b`
//! (LiteRT's `MaximumOp`/`MinimumOp`). On int8 the raw values are compared
//! — inputs and output share one scale — so every runtime agrees.

use super::layout::{broadcast_pairs, f32s};
use super::OpContext;
use crate::error::EngineError;
use crate::model::{DType, OpKind};
use crate::tensor::{Data, Value};

/// Everything MAXIMUM/MINIMUM needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub a: usize,
    pub b: usize,
    pub output: usize,
    pub maximum: bool,
    pub pairs: Vec<(usize, usize)>,
    pub dtype: DType,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let (a, b, output) = (ctx.input(0)?, ctx.input(1)?, ctx.output(0)?);
    ctx.require_same(a, output, true)?;
    ctx.require_same(b, output, true)?;
    let output_shape = ctx.shape(output);
    let pairs = broadcast_pairs(&ctx.shape(a), &ctx.shape(b), &output_shape).ok_or_else(|| ctx.bad("input shapes do not broadcast"))?;
    let dtype = ctx.dtype(output);
    if !matches!(dtype, DType::F32 | DType::I8 | DType::U8 | DType::I32) {
        return Err(ctx.unsupported(format!("dtype {dtype}")));
    }
    Ok(Params { a, b, output, maximum: ctx.op.kind == OpKind::Maximum, pairs, dtype, output_shape })
}

impl Params {
    pub fn eval(&self, a: &Value, b: &Value) -> Result<Value, EngineError> {
        let max = self.maximum;
        let data = if self.dtype == DType::F32 {
            let (x, y) = (f32s(a, self.a)?, f32s(b, self.b)?);
            Data::F32(
                self.pairs
                    .iter()
                    .map(|&(i, j)| {
                        let (p, q) = (x[i], y[j]);
                        if (max && p > q) || (!max && p < q) {
                            p
                        } else {
                            q
                        }
                    })
                    .collect(),
            )
        } else {
            let err = || EngineError::BadInput(format!("t{} / t{} are not integer", self.a, self.b));
            let (x, y) = (a.to_i64_vec().ok_or_else(err)?, b.to_i64_vec().ok_or_else(err)?);
            let v = self.pairs.iter().map(|&(i, j)| if max { x[i].max(y[j]) } else { x[i].min(y[j]) }).collect();
            super::from_i64(self.dtype, &[], v).data
        };
        Ok(Value { shape: self.output_shape.clone(), data })
    }
}
