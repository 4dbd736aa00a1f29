//! One file per operator, each in the shape of a TFLite Micro kernel: a
//! plain `Params` struct computed once by `prepare` (everything derivable
//! from the model alone: multipliers, clamp ranges, weights with their zero
//! point folded in) and a short `eval` loop over the values.

pub mod dequantize;
pub mod fully_connected;
pub mod gemm;

pub use gemm::{kernel_path, set_kernel_path, with_kernel_path, KernelPath};
pub mod quantize;
pub mod requant;
pub mod reshape;
pub mod softmax;

use crate::error::EngineError;
use crate::model::{DType, Model, Operator};

/// What `prepare` needs to know about the op it prepares.
pub(crate) struct OpContext<'a> {
    pub model: &'a Model,
    pub op: &'a Operator,
}

impl<'a> OpContext<'a> {
    /// An error about this operator.
    pub fn bad(&self, reason: impl Into<String>) -> EngineError {
        EngineError::BadOperator { op: self.op.index, kind: self.op.kind.name(), reason: reason.into() }
    }

    /// An "unsupported" error about this operator.
    pub fn unsupported(&self, what: impl Into<String>) -> EngineError {
        EngineError::Unsupported { op: self.op.index, kind: self.op.kind.name(), what: what.into() }
    }

    /// The tensor index of required input `i`.
    pub fn input(&self, i: usize) -> Result<usize, EngineError> {
        self.op.input(i).ok_or_else(|| self.bad(format!("input {i} is missing")))
    }

    /// The tensor index of output `i`.
    pub fn output(&self, i: usize) -> Result<usize, EngineError> {
        self.op.outputs.get(i).copied().ok_or_else(|| self.bad(format!("output {i} is missing")))
    }

    /// The single (scale, zero point) of tensor `t`, required.
    pub fn per_tensor_quant(&self, t: usize, role: &str) -> Result<(f32, i32), EngineError> {
        let tensor = &self.model.tensors[t];
        match &tensor.quant {
            Some(q) if q.scale.len() == 1 => Ok((q.scale[0], q.zero_point[0] as i32)),
            Some(q) => Err(self.bad(format!(
                "{role} tensor {t} ({}) has {} scales; a per-tensor scale is required",
                tensor.name,
                q.scale.len()
            ))),
            None => Err(self.bad(format!("{role} tensor {t} ({}) is {} but has no quantization parameters", tensor.name, tensor.dtype))),
        }
    }

    /// The dtype of tensor `t`.
    pub fn dtype(&self, t: usize) -> DType {
        self.model.tensors[t].dtype
    }
}

/// The integer range of a quantized activation dtype.
pub(crate) fn int_range(dtype: DType) -> (i32, i32) {
    match dtype {
        DType::U8 => (0, 255),
        DType::I8 => (-128, 127),
        DType::I16 => (-32768, 32767),
        _ => (i32::MIN, i32::MAX),
    }
}

/// Integer elements of a quantized activation (u8 or i8) widened to i32.
pub(crate) fn widen(v: &crate::tensor::Value) -> Option<Vec<i32>> {
    match &v.data {
        crate::tensor::Data::U8(x) => Some(x.iter().map(|&q| q as i32).collect()),
        crate::tensor::Data::I8(x) => Some(x.iter().map(|&q| q as i32).collect()),
        crate::tensor::Data::I16(x) => Some(x.iter().map(|&q| q as i32).collect()),
        _ => None,
    }
}

/// Narrow i32 results (already clamped to the dtype's range) into a value of `dtype`.
pub(crate) fn narrow(dtype: DType, shape: &[usize], q: Vec<i32>) -> crate::tensor::Value {
    use crate::tensor::{Data, Value};
    let data = match dtype {
        DType::U8 => Data::U8(q.into_iter().map(|x| x as u8).collect()),
        DType::I8 => Data::I8(q.into_iter().map(|x| x as i8).collect()),
        DType::I16 => Data::I16(q.into_iter().map(|x| x as i16).collect()),
        _ => Data::I32(q),
    };
    Value { shape: shape.to_vec(), data }
}

/// [`widen`] into a reused buffer; false if the value is not integer.
pub(crate) fn widen_into(v: &crate::tensor::Value, out: &mut Vec<i32>) -> bool {
    out.clear();
    match &v.data {
        crate::tensor::Data::U8(x) => out.extend(x.iter().map(|&q| q as i32)),
        crate::tensor::Data::I8(x) => out.extend(x.iter().map(|&q| q as i32)),
        crate::tensor::Data::I16(x) => out.extend(x.iter().map(|&q| q as i32)),
        _ => return false,
    }
    true
}

/// [`narrow`] into `out`, reusing its buffer when it already has `dtype`.
pub(crate) fn narrow_into(dtype: DType, q: &[i32], out: &mut crate::tensor::Value) {
    use crate::tensor::Data;
    match (&mut out.data, dtype) {
        (Data::U8(o), DType::U8) => {
            o.clear();
            o.extend(q.iter().map(|&x| x as u8));
        }
        (Data::I8(o), DType::I8) => {
            o.clear();
            o.extend(q.iter().map(|&x| x as i8));
        }
        (Data::I16(o), DType::I16) => {
            o.clear();
            o.extend(q.iter().map(|&x| x as i16));
        }
        (Data::I32(o), DType::I32) => {
            o.clear();
            o.extend_from_slice(q);
        }
        _ => out.data = narrow(dtype, &[], q.to_vec()).data,
    }
}

/// Make `out` an f32 value and hand out its (cleared) buffer.
pub(crate) fn f32_buffer(out: &mut crate::tensor::Value) -> &mut Vec<f32> {
    use crate::tensor::Data;
    if !matches!(out.data, Data::F32(_)) {
        out.data = Data::F32(Vec::new());
    }
    match &mut out.data {
        Data::F32(v) => {
            v.clear();
            v
        }
        _ => unreachable!(),
    }
}
