//! Operators on constants, computed once at prepare time: DEQUANTIZE of
//! FLOAT16 weights and DENSIFY of a sparse weight tensor.
//!
//! LiteRT does the same: when the input of DEQUANTIZE or DENSIFY is a
//! constant, its `Prepare` marks the output persistent and read-only and
//! fills it once (`kernels/dequantize.cc`, `kernels/densify.cc`); the next
//! operator (a FULLY_CONNECTED, a CONV_2D) then sees constant weights. The
//! plan folds them the same way: the output becomes a constant of the
//! prepared model, and the step only hands it out.
//!
//! - **DEQUANTIZE float16 → float32** is exact: every binary16 value
//!   (normal, subnormal, ±0, ±∞, NaN) is a binary32 value, so there is no
//!   rounding and nothing for runtimes to differ on.
//! - **DENSIFY** expands the sparse encoding (see [`crate::model::Sparsity`])
//!   into row-major order, zero where no value is stored; the values are
//!   copied bit for bit, whatever the dtype (float32, int8, …).

use super::OpContext;
use crate::error::EngineError;
use crate::model::{DType, OpKind, Tensor};
use crate::tensor::{Data, Value};

/// `BuiltinOperator.DENSIFY`.
pub const DENSIFY: i32 = 124;

/// A constant the plan computed at prepare time.
#[derive(Clone, Debug)]
pub struct Params {
    /// The constant input (FLOAT16 weights, sparse weights).
    pub input: usize,
    pub output: usize,
    pub value: Value,
}

impl Params {
    pub fn eval(&self) -> Result<Value, EngineError> {
        Ok(self.value.clone())
    }

    /// The little-endian bytes of the value, as a constant's `data`.
    pub fn bytes(&self) -> Vec<u8> {
        match &self.value.data {
            Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::I8(v) => v.iter().map(|&x| x as u8).collect(),
            Data::U8(v) => v.clone(),
            Data::Bool(v) => v.iter().map(|&x| x as u8).collect(),
        }
    }
}

/// `Some` when this operator is folded: DEQUANTIZE with a constant FLOAT16
/// input, or DENSIFY (whose input must be a sparse constant).
pub(crate) fn prepare(ctx: &OpContext) -> Result<Option<Params>, EngineError> {
    let dense_shape = |t: &Tensor| -> Result<(), EngineError> {
        let out = &ctx.model.tensors[ctx.output(0)?];
        if out.shape != t.shape || out.dtype != t.dtype {
            return Err(ctx.bad(format!(
                "output tensor {} is {} {:?} but the input is {} {:?}",
                out.index, out.dtype, out.shape, t.dtype, t.shape
            )));
        }
        Ok(())
    };
    match ctx.op.kind {
        OpKind::Dequantize => {
            let input = ctx.input(0)?;
            let t = &ctx.model.tensors[input];
            if t.dtype != DType::F16 {
                return Ok(None);
            }
            let Some(bytes) = &t.data else {
                return Err(ctx.unsupported(format!("FLOAT16 input tensor {input} that is not a constant")));
            };
            let output = ctx.output(0)?;
            let o = &ctx.model.tensors[output];
            if o.dtype != DType::F32 || o.shape != t.shape {
                return Err(ctx.bad(format!("output tensor {output} is {} {:?}; FLOAT32 {:?} expected", o.dtype, o.shape, t.shape)));
            }
            let v = bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect();
            Ok(Some(Params { input, output, value: Value { shape: t.shape.clone(), data: Data::F32(v) } }))
        }
        OpKind::Other(DENSIFY) => {
            let input = ctx.input(0)?;
            let t = &ctx.model.tensors[input];
            let Some(sparsity) = &t.sparsity else {
                return Err(ctx.unsupported(format!("input tensor {input} without sparsity parameters")));
            };
            dense_shape(t)?;
            let elem = match t.dtype {
                d if d.is_held() => d.size(),
                d => return Err(ctx.unsupported(format!("input dtype {d}"))),
            };
            let bytes = sparsity.densify(&t.shape, elem).map_err(|e| ctx.bad(format!("input tensor {input}: {e}")))?;
            let proto = Tensor { data: Some(bytes), sparsity: None, ..t.clone() };
            let value = Value::from_constant(&proto).ok_or_else(|| ctx.unsupported(format!("input dtype {}", t.dtype)))?;
            Ok(Some(Params { input, output: ctx.output(0)?, value }))
        }
        _ => Ok(None),
    }
}

/// Refuse, naming the tensor, an operand no kernel reads: a dtype a run does
/// not hold, a sparse tensor (only DENSIFY reads those) or data kept in
/// another file.
pub(crate) fn check_operands(ctx: &OpContext) -> Result<(), EngineError> {
    let operands = ctx.op.inputs.iter().flatten().chain(ctx.op.outputs.iter());
    for &t in operands {
        let tensor = &ctx.model.tensors[t];
        let name = crate::model::escape_name(&tensor.name);
        if !tensor.dtype.is_held() {
            return Err(ctx.unsupported(format!("tensor {t} ({name}) of dtype {}", tensor.dtype)));
        }
        if tensor.sparsity.is_some() {
            return Err(ctx.unsupported(format!("sparse tensor {t} ({name}) (only DENSIFY reads sparse tensors)")));
        }
        if let Some(b) = tensor.external_buffer {
            return Err(ctx.unsupported(format!("tensor {t} ({name}), whose data is in external buffer {b} (another file)")));
        }
    }
    Ok(())
}
