//! GATHER with constant indices: `out[o…, i…, r…] = in[o…, idx[i…], r…]`
//! along `axis` (batch_dims 0). Values are copied in any dtype.

use super::layout::{axis, take_value};
use super::OpContext;
use crate::error::EngineError;
use crate::model::Options;
use crate::tensor::Value;

/// Everything GATHER needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub axis: usize,
    pub indices: Vec<i32>,
    pub src: Vec<usize>,
    pub input_len: usize,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let (a, batch_dims) = match &ctx.op.options {
        Options::Gather { axis, batch_dims } => (*axis, *batch_dims),
        Options::None => (0, 0),
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    if batch_dims != 0 {
        return Err(ctx.unsupported(format!("batch_dims {batch_dims}")));
    }
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    ctx.require_same(input, output, true)?;
    let is = ctx.shape(input);
    let ax = axis(a, is.len()).ok_or_else(|| ctx.bad(format!("axis {a} for rank {}", is.len())))?;
    let indices = ctx.const_i32(ctx.input(1)?, "indices")?;
    if let Some(&bad) = indices.iter().find(|&&i| i < 0 || i as usize >= is[ax]) {
        return Err(ctx.bad(format!("index {bad} outside axis {ax} of {is:?}")));
    }
    let outer: usize = is[..ax].iter().product();
    let inner: usize = is[ax + 1..].iter().product();
    let mut src = Vec::with_capacity(outer * indices.len() * inner);
    for o in 0..outer {
        for &i in &indices {
            let base = (o * is[ax] + i as usize) * inner;
            src.extend(base..base + inner);
        }
    }
    let os = ctx.shape(output);
    if os.iter().product::<usize>() != src.len() {
        return Err(ctx.bad(format!("output shape {os:?} for {} gathered elements", src.len())));
    }
    Ok(Params { input, output, axis: ax, indices, src, input_len: is.iter().product(), output_shape: os })
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        take_value(x, self.input, &self.src, self.input_len, &self.output_shape)
    }
}
