//! The data-movement ops as one idea: every output element is a copy of one
//! input element, or a fill value.
//!
//! DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND,
//! TILE, MIRROR_PAD, PADV2 and RESIZE_NEAREST_NEIGHBOR do no arithmetic on
//! the values: quantized inputs and outputs share scale and zero point, and
//! each runtime copies bytes. What differs between them is only *which*
//! input element lands where, `out[i] = in[src[i]]`, and that depends on the
//! shapes alone. So `prepare` computes the map `src` once (TFLite Micro's
//! prepare/eval split taken to its end), and `eval` is one gather, the same
//! for every dtype. Positions that copy nothing (padding) hold [`FILL`] and
//! receive the fill value: the quantized 0.0 (the zero point), or PADV2's
//! constant.

use crate::error::EngineError;
use crate::tensor::{Data, Value};

/// `src[i]` of an output position that is filled rather than copied.
pub const FILL: u32 = u32::MAX;

/// The fill value in the op's dtype (integers widened; float as f32).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fill {
    Int(i64),
    Float(f32),
}

/// `out[i] = in[src[i]]` (or the fill value where `src[i] == FILL`).
#[derive(Clone, Debug)]
pub struct IndexMap {
    pub input: usize,
    pub output: usize,
    pub input_len: usize,
    pub output_shape: Vec<usize>,
    pub src: Vec<u32>,
    pub fill: Fill,
}

impl IndexMap {
    /// A map whose every output position is computed by `f` (output
    /// multi-index → input flat index, or `None` to fill).
    pub fn build(
        input: usize,
        output: usize,
        input_shape: &[usize],
        output_shape: &[usize],
        fill: Fill,
        mut f: impl FnMut(&[usize]) -> Option<usize>,
    ) -> IndexMap {
        let n: usize = output_shape.iter().product();
        let mut src = Vec::with_capacity(n);
        let mut idx = vec![0usize; output_shape.len()];
        for _ in 0..n {
            src.push(f(&idx).map_or(FILL, |i| i as u32));
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < output_shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        IndexMap { input, output, input_len: input_shape.iter().product(), output_shape: output_shape.to_vec(), src, fill }
    }

    /// Gather the output from `x`.
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        if x.len() != self.input_len {
            return Err(EngineError::BadInput(format!(
                "tensor {} has {} elements where {} were expected",
                self.input,
                x.len(),
                self.input_len
            )));
        }
        let fill_i = match self.fill {
            Fill::Int(v) => v,
            Fill::Float(v) => v as i64,
        };
        let fill_f = match self.fill {
            Fill::Float(v) => v,
            Fill::Int(v) => v as f32,
        };
        macro_rules! gather {
            ($v:expr, $fill:expr) => {
                self.src.iter().map(|&i| if i == FILL { $fill } else { $v[i as usize] }).collect()
            };
        }
        let data = match &x.data {
            Data::F32(v) => Data::F32(gather!(v, fill_f)),
            Data::I32(v) => Data::I32(gather!(v, fill_i as i32)),
            Data::U8(v) => Data::U8(gather!(v, fill_i as u8)),
            Data::I8(v) => Data::I8(gather!(v, fill_i as i8)),
            Data::I16(v) => Data::I16(gather!(v, fill_i as i16)),
            Data::I64(v) => Data::I64(gather!(v, fill_i)),
            Data::Bool(v) => Data::Bool(gather!(v, fill_i != 0)),
        };
        Ok(Value { shape: self.output_shape.clone(), data })
    }
}

/// Flat row-major index of `idx` in `shape`.
pub(crate) fn flat(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i)
}

/// The common checks of a data-movement op: input 0 and output 0 of the same
/// dtype and quantization; returns (input, output, input shape, output shape).
pub(crate) fn same_type_io(ctx: &super::OpContext) -> Result<(usize, usize, Vec<usize>, Vec<usize>), EngineError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    ctx.require_same(input, output, true)?;
    Ok((input, output, ctx.shape(input), ctx.shape(output)))
}

/// The fill for "the quantized 0.0": the output's zero point, or 0.0 for floats.
pub(crate) fn zero_fill(ctx: &super::OpContext, output: usize) -> Fill {
    match &ctx.model.tensors[output].quant {
        Some(q) if !q.zero_point.is_empty() && ctx.dtype(output) != crate::model::DType::F32 => Fill::Int(q.zero_point[0]),
        _ if ctx.dtype(output) == crate::model::DType::F32 => Fill::Float(0.0),
        _ => Fill::Int(0),
    }
}

/// Require a 4-D NHWC shape.
pub(crate) fn require_4d(ctx: &super::OpContext, t: usize, role: &str) -> Result<[usize; 4], EngineError> {
    let s = ctx.shape(t);
    <[usize; 4]>::try_from(s.as_slice())
        .map_err(|_| ctx.unsupported(format!("{role} tensor {t} of shape {s:?} (4-D NHWC is supported)")))
}
