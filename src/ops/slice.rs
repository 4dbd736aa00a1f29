//! SLICE, SPLIT and SPLIT_V: each output is a box of the input
//! (`begin[d] .. begin[d] + size[d]`), copied in any dtype, the same in
//! every runtime. SPLIT cuts one axis into equal parts, SPLIT_V into the
//! given sizes (one −1 takes the rest); each part is prepared as its own box.

use super::layout::{axis, box_map, take_value};
use super::OpContext;
use crate::error::EngineError;
use crate::model::OpKind;
use crate::tensor::Value;

/// One box of the input.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub begin: Vec<usize>,
    pub size: Vec<usize>,
    pub src: Vec<usize>,
    pub input_len: usize,
    pub output_shape: Vec<usize>,
}

fn boxed(ctx: &OpContext, input: usize, output: usize, begin: Vec<usize>, size: Vec<usize>) -> Result<Params, EngineError> {
    let is = ctx.shape(input);
    for d in 0..is.len() {
        if begin[d] + size[d] > is[d] {
            return Err(ctx.bad(format!("box begin {begin:?} size {size:?} outside the input {is:?}")));
        }
    }
    let os = ctx.shape(output);
    if os.iter().product::<usize>() != size.iter().product::<usize>() {
        return Err(ctx.bad(format!("output tensor {output} has shape {os:?}, expected {size:?}")));
    }
    ctx.require_same(input, output, true)?;
    Ok(Params { input, output, src: box_map(&is, &begin, &size), begin, size, input_len: is.iter().product(), output_shape: os })
}

/// SLICE (one box), SPLIT and SPLIT_V (one box per output).
pub(crate) fn prepare(ctx: &OpContext) -> Result<Vec<Params>, EngineError> {
    match ctx.op.kind {
        OpKind::Slice => {
            let input = ctx.input(0)?;
            let is = ctx.shape(input);
            let begin = ctx.const_i32(ctx.input(1)?, "begin")?;
            let size = ctx.const_i32(ctx.input(2)?, "size")?;
            if begin.len() != is.len() || size.len() != is.len() || begin.iter().any(|&b| b < 0) {
                return Err(ctx.bad(format!("begin {begin:?} / size {size:?} for an input of shape {is:?}")));
            }
            let size: Vec<usize> = size.iter().zip(&begin).zip(&is).map(|((&s, &b), &n)| if s < 0 { n.saturating_sub(b as usize) } else { s as usize }).collect();
            Ok(vec![boxed(ctx, input, ctx.output(0)?, begin.iter().map(|&b| b as usize).collect(), size)?])
        }
        _ => {
            // SPLIT: (axis, input); SPLIT_V: (input, size_splits, axis).
            let (input, axis_t) = if ctx.op.kind == OpKind::Split { (ctx.input(1)?, ctx.input(0)?) } else { (ctx.input(0)?, ctx.input(2)?) };
            let is = ctx.shape(input);
            let a = ctx.const_i32(axis_t, "axis")?;
            let ax = a.first().and_then(|&a| axis(a, is.len())).ok_or_else(|| ctx.bad(format!("axis {a:?} for rank {}", is.len())))?;
            let n_out = ctx.op.outputs.len();
            let sizes: Vec<usize> = if ctx.op.kind == OpKind::Split {
                if n_out == 0 || is[ax] % n_out != 0 {
                    return Err(ctx.bad(format!("{} outputs do not divide axis {ax} of {is:?}", n_out)));
                }
                vec![is[ax] / n_out; n_out]
            } else {
                let raw = ctx.const_i32(ctx.input(1)?, "size_splits")?;
                let known: i32 = raw.iter().filter(|&&s| s >= 0).sum();
                raw.iter().map(|&s| if s < 0 { (is[ax] as i32 - known).max(0) as usize } else { s as usize }).collect()
            };
            if sizes.len() != n_out || sizes.iter().sum::<usize>() != is[ax] {
                return Err(ctx.bad(format!("split sizes {sizes:?} for axis {ax} of {is:?} and {n_out} outputs")));
            }
            let mut at = 0;
            let mut parts = Vec::with_capacity(n_out);
            for (k, &s) in sizes.iter().enumerate() {
                let mut begin = vec![0; is.len()];
                let mut size = is.clone();
                begin[ax] = at;
                size[ax] = s;
                at += s;
                parts.push(boxed(ctx, input, ctx.output(k)?, begin, size)?);
            }
            Ok(parts)
        }
    }
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        take_value(x, self.input, &self.src, self.input_len, &self.output_shape)
    }
}
