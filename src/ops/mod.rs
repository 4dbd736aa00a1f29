//! One file per operator, each in the shape of a TFLite Micro kernel: a
//! plain `Params` struct computed once by `prepare` (everything derivable
//! from the model alone: multipliers, clamp ranges, weights with their zero
//! point folded in) and a short `eval` loop over the values.

pub mod add;
pub mod average_pool;
pub mod concatenation;
pub mod conv;
pub mod conv_gemm;
pub mod depthwise_conv;
pub mod depthwise_fast;
pub mod dequantize;
pub mod fully_connected;
pub mod gemm;
pub mod hard_swish;
pub(crate) mod layer_quant;
pub mod leaky_relu;
pub mod logistic;
pub mod max_pool;
pub mod mean;
pub mod mul;
pub mod pack;
pub mod pad;
pub mod pool;
pub mod quantize;
pub mod relu;
pub mod requant;

pub use gemm::{kernel_path, set_kernel_path, with_kernel_path, KernelPath};
pub mod reshape;
pub mod shape;
pub mod softmax;
pub mod strided_slice;
pub mod sub;
pub mod tanh;
// reader: DEQUANTIZE float16 and DENSIFY, folded at prepare time
pub mod fold;
// topic int16: the 16x8 kernels.
pub mod int16;
#[cfg(test)]
mod testkit;
// float: float32 kernels (issue 11)
pub mod float;
// dynamic range (issue 11): hybrid FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D
pub mod hybrid;
pub mod hybrid_conv;
pub mod hybrid_depthwise;
pub mod hybrid_fc;
// --- vit (issue 14: transformer ops) ---
pub mod abs;
pub mod arg_min_max;
pub mod batch_matmul;
pub mod cast;
pub mod comparisons;
pub mod div;
pub mod exp;
pub mod gather;
pub mod gelu;
pub mod l2_normalization;
pub(crate) mod layout;
pub mod log;
pub mod log_softmax;
pub mod lut;
pub mod maximum_minimum;
pub mod neg;
pub mod reduce;
pub mod rsqrt;
pub mod select;
pub mod slice;
pub mod sqrt;
pub mod squared_difference;
pub mod transformer;
pub mod transpose;
// vision (issue 14)
pub mod batch_to_space_nd;
pub mod depth_to_space;
pub mod index_map;
pub mod mirror_pad;
pub mod padv2;
pub mod prelu;
pub mod resize_bilinear;
pub mod resize_nearest_neighbor;
pub mod space_to_batch_nd;
pub mod space_to_depth;
pub mod tile;
pub mod transpose_conv;
pub mod vision;
// dynamic_bmm (issue 11): hybrid BATCH_MATMUL
pub mod hybrid_batch_matmul;
// arch (issue 14: Conv1D's EXPAND_DIMS / SQUEEZE)
pub mod expand_dims;
pub mod squeeze;
pub mod eigen_math;
// speed (issue 16): the outputs-only forms of the element-wise ops and MEAN
pub mod elementwise_fast;
// speed (issue 16, conv): CONV_2D's gemm with the requantization fused into its stores
pub mod conv_fused;
// speed (issue 16): CONV_2D with few input channels as a direct convolution
pub mod conv_direct;
// speed (issue 16, mlp): FULLY_CONNECTED's register-tiled VNNI matrix product
pub mod fc_fast;
// speed (issue 16, conv): the one 16-lane in-register requantization
pub mod requant_lanes;
// speed (issue 16, mlp): SOFTMAX's 8-bit rows from bytes to bytes
pub mod softmax_fast;

use crate::error::EngineError;
use crate::model::{DType, Model, Operator};

/// Input 0 and output 0 of a one-input int8 op, with their scales and zero points.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Int8Unary {
    pub input: usize,
    pub output: usize,
    pub s_in: f32,
    pub z_in: i32,
    pub s_out: f32,
    pub z_out: i32,
}

/// What `prepare` needs to know about the op it prepares.
pub(crate) struct OpContext<'a> {
    pub model: &'a Model,
    pub op: &'a Operator,
}

impl<'a> OpContext<'a> {
    /// An error about this operator (control characters of tensor names
    /// it quotes escaped: the message stays one line).
    pub fn bad(&self, reason: impl Into<String>) -> EngineError {
        EngineError::BadOperator { op: self.op.index, kind: self.op.kind.name(), reason: crate::model::escape_name(&reason.into()) }
    }

    /// An "unsupported" error about this operator (one line, as [`OpContext::bad`]).
    pub fn unsupported(&self, what: impl Into<String>) -> EngineError {
        EngineError::Unsupported { op: self.op.index, kind: self.op.kind.name(), what: crate::model::escape_name(&what.into()) }
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

    /// The stored shape of tensor `t`.
    pub fn shape(&self, t: usize) -> Vec<usize> {
        self.model.tensors[t].shape.clone()
    }

    /// The constant int32 contents of tensor `t` (shape tensors, axes, paddings).
    pub fn const_i32(&self, t: usize, role: &str) -> Result<Vec<i32>, EngineError> {
        let tensor = &self.model.tensors[t];
        let v = crate::tensor::Value::from_constant(tensor)
            .ok_or_else(|| self.unsupported(format!("non-constant {role} (tensor {t})")))?;
        match &v.data {
            crate::tensor::Data::I32(x) => Ok(x.clone()),
            crate::tensor::Data::I64(x) => Ok(x.iter().map(|&q| q as i32).collect()),
            _ => Err(self.unsupported(format!("{role} tensor {t} of dtype {}", tensor.dtype))),
        }
    }

    /// Require int8 (the quantized dtype every new kernel is proven for) on tensor `t`.
    pub fn require_int8(&self, t: usize, role: &str) -> Result<(), EngineError> {
        match self.dtype(t) {
            DType::I8 => Ok(()),
            other => Err(self.unsupported(format!("{role} dtype {other} (int8 is supported)"))),
        }
    }

    /// Require int8 or uint8 (uint8: the legacy all-uint8 models) on tensor `t`.
    pub fn require_int8_or_uint8(&self, t: usize, role: &str) -> Result<(), EngineError> {
        match self.dtype(t) {
            DType::I8 | DType::U8 => Ok(()),
            other => Err(self.unsupported(format!("{role} dtype {other} (int8 and uint8 are supported)"))),
        }
    }

    /// Input and output must have the same dtype, shape (element count) and, if
    /// `same_quant`, the same quantization.
    pub fn require_same(&self, input: usize, output: usize, same_quant: bool) -> Result<(), EngineError> {
        let (i, o) = (&self.model.tensors[input], &self.model.tensors[output]);
        if i.dtype != o.dtype {
            return Err(self.bad(format!("input dtype {} differs from output dtype {}", i.dtype, o.dtype)));
        }
        if same_quant && i.quant.as_ref().map(|q| (&q.scale, &q.zero_point)) != o.quant.as_ref().map(|q| (&q.scale, &q.zero_point)) {
            return Err(self.unsupported("output quantization different from the input's"));
        }
        Ok(())
    }
}

/// Read value `v` as integers (i8/u8/i16 widened to i32), or fail naming the tensor.
pub(crate) fn ints(v: &crate::tensor::Value, t: usize) -> Result<Vec<i32>, EngineError> {
    widen(v).ok_or_else(|| EngineError::BadInput(format!("tensor {t} is {} where an integer value was expected", v.dtype())))
}

/// The clamp range of a fused activation for a quantized output tensor.
pub(crate) fn fused_range(activation: crate::model::Activation, dtype: DType, scale: f32, zero_point: i32) -> (i32, i32) {
    let (q_min, q_max) = int_range(dtype);
    crate::quant::activation_range(activation, scale, zero_point, q_min, q_max)
}

/// Row-major strides of a shape.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Elementwise ops: the output must have as many elements as the input.
pub(crate) fn same_element_count(ctx: &OpContext, input: usize, output: usize) -> Result<(), EngineError> {
    let (i, o) = (&ctx.model.tensors[input], &ctx.model.tensors[output]);
    if i.num_elements() != o.num_elements() {
        return Err(ctx.bad(format!(
            "input tensor {input} ({}) has shape {:?} but output tensor {output} ({}) has shape {:?}; they must have the same number of elements",
            i.name, i.shape, o.name, o.shape
        )));
    }
    Ok(())
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

/// A value of an integer `dtype` from i64 elements (already in range).
pub(crate) fn from_i64(dtype: DType, shape: &[usize], v: Vec<i64>) -> crate::tensor::Value {
    use crate::tensor::{Data, Value};
    let data = match dtype {
        DType::I32 => Data::I32(v.into_iter().map(|x| x as i32).collect()),
        DType::I64 => Data::I64(v),
        DType::U8 => Data::U8(v.into_iter().map(|x| x as u8).collect()),
        DType::I8 => Data::I8(v.into_iter().map(|x| x as i8).collect()),
        DType::I16 => Data::I16(v.into_iter().map(|x| x as i16).collect()),
        DType::Bool => Data::Bool(v.into_iter().map(|x| x != 0).collect()),
        DType::F32 => Data::F32(v.into_iter().map(|x| x as f32).collect()),
        // reader: the plan refuses every op on a dtype a run does not hold
        // (DType::is_held), so no kernel asks for one; keep the integers.
        _ => Data::I64(v),
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

// uint8 (issue 14, u8): the one-input 8-bit ops on either 8-bit type
impl<'a> OpContext<'a> {
    /// Input 0 and output 0, both int8 or both uint8, with their (S, Z): the
    /// start of a one-input op whose arithmetic is the same on both types
    /// (only the clamp range, [`int_range`] of the output dtype, differs).
    pub fn eight_bit_unary(&self) -> Result<Int8Unary, EngineError> {
        let (input, output) = (self.input(0)?, self.output(0)?);
        self.require_int8_or_uint8(input, "input")?;
        self.require_same(input, output, false)?;
        let (s_in, z_in) = self.per_tensor_quant(input, "input")?;
        let (s_out, z_out) = self.per_tensor_quant(output, "output")?;
        Ok(Int8Unary { input, output, s_in, z_in, s_out, z_out })
    }
}
