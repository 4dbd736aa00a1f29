//! DEQUANTIZE: equation (1), `r = S · (q − Z)`, into float32.
//!
//! How the f32 is computed is a runtime choice
//! ([`crate::profile::Profile::dequantize_method`]): LiteRT's reference
//! kernel, TFLite Micro and XNNPACK compute `S · f32(q − Z)` in f32; LiteRT's
//! optimized kernel (its NEON code, run on x86 through NEON_2_SSE) computes
//! `f32(q)·S + f32(−Z·S)` eight elements at a time (a multiply, then an add:
//! no fused multiply-add) and the remaining `n mod 8` elements as
//! `f32(double(S)·(q − Z))`.

use super::OpContext;
use crate::error::EngineError;
use crate::profile::{DequantizeMethod, Profile};
use crate::quant;
use crate::tensor::{Data, Value};

/// Everything DEQUANTIZE needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub output_shape: Vec<usize>,
    pub scale: f32,
    pub zero_point: i32,
    /// vit: how the runtime computes the f32 (see the module docs).
    pub method: DequantizeMethod,
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let in_dtype = ctx.dtype(input);
    if !matches!(in_dtype, crate::model::DType::I8 | crate::model::DType::U8 | crate::model::DType::I16) {
        return Err(ctx.unsupported(format!("input dtype {in_dtype}")));
    }
    let (scale, zero_point) = ctx.per_tensor_quant(input, "input")?;
    super::same_element_count(ctx, input, output)?;
    if ctx.dtype(output) != crate::model::DType::F32 {
        return Err(ctx.unsupported(format!("output dtype {}", ctx.dtype(output))));
    }
    Ok(Params { input, output, output_shape: ctx.model.tensors[output].shape.clone(), scale, zero_point, method: profile.dequantize_method() })
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let mut out = Value { shape: self.output_shape.clone(), data: Data::F32(Vec::new()) };
        self.eval_into(input, &mut out)?;
        Ok(out)
    }

    /// Evaluate into `out` (its shape is left alone), reusing its buffer.
    pub fn eval_into(&self, input: &Value, out: &mut Value) -> Result<(), EngineError> {
        let o = super::f32_buffer(out);
        if self.method == DequantizeMethod::VectorMla8 {
            let q = super::ints(input, self.input)?;
            let zs = (-(self.zero_point as f64) * self.scale as f64) as f32;
            let vectorized = q.len() - q.len() % 8;
            o.extend(q[..vectorized].iter().map(|&v| v as f32 * self.scale + zs));
            o.extend(q[vectorized..].iter().map(|&v| (self.scale as f64 * (v - self.zero_point) as f64) as f32));
            return Ok(());
        }
        match &input.data {
            Data::U8(x) => o.extend(x.iter().map(|&q| quant::dequantize(q as i32, self.scale, self.zero_point))),
            Data::I8(x) => o.extend(x.iter().map(|&q| quant::dequantize(q as i32, self.scale, self.zero_point))),
            Data::I16(x) => o.extend(x.iter().map(|&q| quant::dequantize(q as i32, self.scale, self.zero_point))),
            _ => return Err(EngineError::BadInput("DEQUANTIZE input is not integer".into())),
        }
        Ok(())
    }
}
