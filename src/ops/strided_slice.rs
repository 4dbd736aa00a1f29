//! STRIDED_SLICE with constant begin/end/strides, begin/end masks and
//! shrink-axis mask (TFLite's `StartForAxis`/`StopForAxis` clamping). The
//! converter's Flatten uses it to take the batch size out of a SHAPE vector.
//! Values are copied, so any integer dtype or float32 works; ellipsis and new-axis
//! masks are not supported.

use super::{strides, OpContext};
use crate::error::EngineError;
use crate::model::{DType, Options};
use crate::profile::Profile;
use crate::tensor::Value;

/// Everything STRIDED_SLICE needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    /// Per input dimension, the indices taken (in order).
    pub indices: Vec<Vec<usize>>,
    pub input_shape: Vec<usize>,
    pub output_shape: Vec<usize>,
    pub output_dtype: DType,
}

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    let (begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask, offset) = match &ctx.op.options {
        Options::StridedSlice { begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask, offset } => {
            (*begin_mask, *end_mask, *ellipsis_mask, *new_axis_mask, *shrink_axis_mask, *offset)
        }
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    if ellipsis_mask != 0 || new_axis_mask != 0 || offset {
        return Err(ctx.unsupported("ellipsis_mask, new_axis_mask or offset"));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let output_dtype = ctx.dtype(output);
    ctx.require_same(input, output, true)?;
    let shape = ctx.shape(input);
    let begin = ctx.const_i32(ctx.input(1)?, "begin")?;
    let end = ctx.const_i32(ctx.input(2)?, "end")?;
    let stride = match ctx.op.input(3) {
        Some(t) => ctx.const_i32(t, "strides")?,
        None => vec![1; begin.len()],
    };
    if begin.len() != end.len() || begin.len() != stride.len() || begin.len() > shape.len() {
        return Err(ctx.bad(format!("begin/end/strides of lengths {}/{}/{} for rank {}", begin.len(), end.len(), stride.len(), shape.len())));
    }
    let mut indices = Vec::with_capacity(shape.len());
    let mut out_shape = Vec::new();
    for (d, &n) in shape.iter().enumerate() {
        let n = n as i64;
        if d >= begin.len() {
            indices.push((0..n as usize).collect());
            out_shape.push(n as usize);
            continue;
        }
        let s = stride[d] as i64;
        if s == 0 {
            return Err(ctx.bad(format!("stride 0 on axis {d}")));
        }
        let bit = |m: i32| m & (1 << d) != 0;
        let resolve = |v: i64| if v < 0 { v + n } else { v };
        let start = if bit(begin_mask) && !bit(shrink_axis_mask) {
            if s > 0 {
                0
            } else {
                n - 1
            }
        } else if s > 0 {
            resolve(begin[d] as i64).clamp(0, n)
        } else {
            resolve(begin[d] as i64).clamp(-1, n - 1)
        };
        let (stop, s) = if bit(shrink_axis_mask) {
            (start + 1, 1)
        } else if bit(end_mask) {
            (if s > 0 { n } else { -1 }, s)
        } else if s > 0 {
            (resolve(end[d] as i64).clamp(0, n), s)
        } else {
            (resolve(end[d] as i64).clamp(-1, n - 1), s)
        };
        let mut idx = Vec::new();
        let mut i = start;
        while (s > 0 && i < stop) || (s < 0 && i > stop) {
            if i < 0 || i >= n {
                return Err(ctx.bad(format!("axis {d}: index {i} out of range 0..{n}")));
            }
            idx.push(i as usize);
            i += s;
        }
        if !bit(shrink_axis_mask) {
            out_shape.push(idx.len());
        } else if idx.len() != 1 {
            return Err(ctx.bad(format!("shrink axis {d} selects {} elements", idx.len())));
        }
        indices.push(idx);
    }
    if out_shape != ctx.shape(output) {
        return Err(ctx.bad(format!("slice has shape {out_shape:?}, output tensor {:?}", ctx.shape(output))));
    }
    Ok(Params { input, output, indices, input_shape: shape, output_shape: out_shape, output_dtype })
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let st = strides(&self.input_shape);
        let mut flat = vec![0usize];
        for (d, idx) in self.indices.iter().enumerate() {
            let step = st[d];
            flat = flat.iter().flat_map(|&base| idx.iter().map(move |&i| base + i * step)).collect();
        }
        if let Some(x) = input.as_f32() {
            let data = crate::tensor::Data::F32(flat.into_iter().map(|i| x[i]).collect());
            return Ok(Value { shape: self.output_shape.clone(), data });
        }
        let x = input.to_i64_vec().ok_or_else(|| EngineError::BadInput(format!("tensor {} is not integer", self.input)))?;
        let out = flat.into_iter().map(|i| x[i]).collect();
        Ok(super::from_i64(self.output_dtype, &self.output_shape, out))
    }
}
