//! PRELU: `f(x) = x` for x ≥ 0, `α·x` otherwise, with a learned α that
//! broadcasts against the input (one per channel, or one for all).
//!
//! Quantized (LiteRT `prelu.cc`, `reference_ops::BroadcastPrelu4DSlow`;
//! TFLite Micro the same), with input (S1, Z1), α (Sα, Zα), output (S3, Z3):
//!
//! ```text
//! x = q − Z1
//! x ≥ 0:  q3 = Z3 + M₁·x                 M₁ = S1 / S3
//! x < 0:  q3 = Z3 + M₂·x·(qα − Zα)       M₂ = S1·Sα / S3
//! ```
//!
//! each product rounded the profile's way ([`Profile::prelu_rounding`]).
//! LiteRT computes M₁ and M₂ from the f32 scales in f32 arithmetic, TFLite
//! Micro in double ([`Profile::prelu_multipliers`]); the result is then
//! clamped to the dtype. Float: `x ≥ 0 ? x : x·α`, one f32 multiply.

use super::{int_range, narrow, OpContext};
use crate::error::EngineError;
use crate::model::DType;
use crate::profile::{Multiplier, Profile, Rounding, ScalePrecision};
use crate::tensor::{Data, Value};

/// Everything PRELU needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub output_shape: Vec<usize>,
    /// For each output element, the α element it uses (the broadcast, resolved).
    pub alpha_index: Vec<u32>,
    pub arith: Arith,
}

/// The arithmetic, by dtype.
#[derive(Clone, Debug)]
pub enum Arith {
    Quantized {
        z1: i32,
        z3: i32,
        /// qα − Zα.
        alpha: Vec<i32>,
        m1: Multiplier,
        m2: Multiplier,
        rounding: Rounding,
        range: (i32, i32),
        dtype: DType,
    },
    Float {
        alpha: Vec<f32>,
    },
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let input = ctx.input(0)?;
    let alpha_t = ctx.input(1)?;
    let output = ctx.output(0)?;
    let is = ctx.shape(input);
    if ctx.shape(output) != is {
        return Err(ctx.bad(format!("output shape {:?} differs from input shape {is:?}", ctx.shape(output))));
    }
    let alpha_v = Value::from_constant(&ctx.model.tensors[alpha_t]).ok_or_else(|| ctx.unsupported(format!("non-constant alpha (tensor {alpha_t})")))?;
    let alpha_index = broadcast_index(&is, &alpha_v.shape).ok_or_else(|| ctx.bad(format!("alpha shape {:?} does not broadcast to input shape {is:?}", alpha_v.shape)))?;
    let arith = match ctx.dtype(input) {
        DType::F32 => {
            let alpha = alpha_v.as_f32().ok_or_else(|| ctx.unsupported(format!("float input with alpha of dtype {}", alpha_v.dtype())))?.to_vec();
            Arith::Float { alpha }
        }
        // int8; uint8 (`uint8_ops`, issue 14) with the same arithmetic.
        dtype @ (DType::I8 | DType::U8) => {
            ctx.require_same(input, output, false)?;
            let (s1, z1) = ctx.per_tensor_quant(input, "input")?;
            let (sa, za) = ctx.per_tensor_quant(alpha_t, "alpha")?;
            let (s3, z3) = ctx.per_tensor_quant(output, "output")?;
            let alpha = super::ints(&alpha_v, alpha_t)?.into_iter().map(|a| a - za).collect();
            let (m1, m2) = match profile.prelu_multipliers() {
                ScalePrecision::Float32 => ((s1 / s3) as f64, ((s1 * sa) / s3) as f64),
                ScalePrecision::Double => (s1 as f64 / s3 as f64, s1 as f64 * sa as f64 / s3 as f64),
            };
            Arith::Quantized {
                z1,
                z3,
                alpha,
                m1: Multiplier::from_real(m1),
                m2: Multiplier::from_real(m2),
                rounding: profile.prelu_rounding(),
                range: int_range(dtype),
                dtype,
            }
        }
        other => return Err(ctx.unsupported(format!("input dtype {other} (int8, uint8 and float32 are supported)"))),
    };
    Ok(Params { input, output, output_shape: is, alpha_index, arith })
}

/// For each element of `shape`, the flat index of the element of `small`
/// (right-aligned, size-1 dimensions repeated) it meets; `None` if `small`
/// does not broadcast.
pub(crate) fn broadcast_index(shape: &[usize], small: &[usize]) -> Option<Vec<u32>> {
    if small.len() > shape.len() {
        return None;
    }
    let pad = shape.len() - small.len();
    let dims: Vec<usize> = (0..shape.len()).map(|d| if d < pad { 1 } else { small[d - pad] }).collect();
    if dims.iter().zip(shape).any(|(&s, &n)| s != 1 && s != n) {
        return None;
    }
    let strides = super::strides(&dims);
    let n: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(idx.iter().zip(&dims).zip(&strides).map(|((&i, &s), &st)| if s == 1 { 0 } else { i * st }).sum::<usize>() as u32);
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Some(out)
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        if x.len() != self.alpha_index.len() {
            return Err(EngineError::BadInput(format!("tensor {} has {} elements where {} were expected", self.input, x.len(), self.alpha_index.len())));
        }
        match &self.arith {
            Arith::Float { alpha } => {
                let v = x.as_f32().ok_or_else(|| EngineError::BadInput(format!("tensor {} is {} where float32 was expected", self.input, x.dtype())))?;
                let data = v.iter().zip(&self.alpha_index).map(|(&a, &k)| if a >= 0.0 { a } else { a * alpha[k as usize] }).collect();
                Ok(Value { shape: self.output_shape.clone(), data: Data::F32(data) })
            }
            Arith::Quantized { z1, z3, alpha, m1, m2, rounding, range, dtype } => {
                let q = super::ints(x, self.input)?;
                let out = q
                    .iter()
                    .zip(&self.alpha_index)
                    .map(|(&q, &k)| {
                        let x = q - z1;
                        let r = if x >= 0 { rounding.apply(x, m1) } else { rounding.apply(x * alpha[k as usize], m2) };
                        (r + z3).clamp(range.0, range.1)
                    })
                    .collect();
                Ok(narrow(*dtype, &self.output_shape, out))
            }
        }
    }
}
