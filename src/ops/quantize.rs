//! QUANTIZE: float → integer (`q = clamp(round(r/S) + Z)`), or integer →
//! integer (a requantization `q_out = Z_out + round((S_in/S_out)·(q_in − Z_in))`,
//! e.g. the uint8 → int8 op the converter puts at the input of a model with
//! uint8 I/O: same scale, zero point shifted by 128).

use super::{int_range, narrow_into, widen_into, OpContext};
use crate::error::EngineError;
use crate::model::DType;
use super::requant::RequantTable;
use crate::profile::{Multiplier, Profile, Rounding};
use crate::quant;
use crate::tensor::Value;

/// Everything QUANTIZE needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub output_shape: Vec<usize>,
    pub output_dtype: DType,
    pub s_out: f32,
    pub z_out: i32,
    pub arith: Arith,
}

/// From float or from another integer type.
#[derive(Clone, Debug)]
pub enum Arith {
    FromFloat,
    Requantize { z_in: i32, multiplier: Multiplier, rounding: Rounding, table: Box<RequantTable> },
    // arch (issue 14)
    /// XNNPACK's `qs8`/`qu8` convert (int8 → int8, uint8 → uint8): a Q8
    /// multiplier `m = lrintf(256·f32(S_in/S_out))` and
    /// `q_out = clamp(Z_out + ((q_in − Z_in)·m + 128) >> 8)` (ties toward +∞).
    XnnpackQ8 { z_in: i32, multiplier: i32 },
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let output_dtype = ctx.dtype(output);
    if !matches!(output_dtype, DType::I8 | DType::U8 | DType::I16) {
        return Err(ctx.unsupported(format!("output dtype {output_dtype}")));
    }
    let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
    super::same_element_count(ctx, input, output)?;
    let arith = match ctx.dtype(input) {
        DType::F32 => Arith::FromFloat,
        DType::I8 | DType::U8 | DType::I16 => {
            let (s_in, z_in) = ctx.per_tensor_quant(input, "input")?;
            let multiplier = Multiplier::from_ratio(s_in, s_out);
            // arch (issue 14): XNNPACK takes a same-type 8-bit requantization whose f32 ratio
            // lies in [2^−8, 2^7]; other cases keep the profile's rounding.
            let ratio = s_in / s_out;
            if profile.requantize_8bit_method() == crate::profile::Requantize8Method::XnnpackQ8
                && ctx.dtype(input) == output_dtype
                && output_dtype != DType::I16
                && (1.0 / 256.0..=128.0).contains(&ratio)
                && !is_identity(&multiplier)
            {
                let multiplier = (256.0f32 * ratio).round_ties_even() as i32;
                return Ok(Params { input, output, output_shape: ctx.shape(output), output_dtype, s_out, z_out, arith: Arith::XnnpackQ8 { z_in, multiplier } });
            }
            let rounding = profile.requantize_rounding();
            let (q_min, q_max) = int_range(output_dtype);
            // The same multiplier for 8 "channels": the vectorised requantization takes 8 at a time.
            let table = Box::new(RequantTable::new(rounding, &[multiplier; 8], z_out, q_min, q_max));
            Arith::Requantize { z_in, multiplier, rounding, table }
        }
        other => return Err(ctx.unsupported(format!("input dtype {other}"))),
    };
    Ok(Params { input, output, output_shape: ctx.model.tensors[output].shape.clone(), output_dtype, s_out, z_out, arith })
}

/// `M = 1` in every form a rounding rule uses (double, f32, and `M0·2^(shift−31) = 2^30·2^(1−31)`).
fn is_identity(m: &Multiplier) -> bool {
    m.real == 1.0 && m.real_f32 == 1.0 && m.m0 == 1 << 30 && m.shift == 1
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let mut out = Value { shape: self.output_shape.clone(), data: crate::tensor::Data::I32(Vec::new()) };
        self.eval_into(crate::ops::kernel_path(), input, &mut out, &mut Vec::new())?;
        Ok(out)
    }

    /// Evaluate into `out` (its shape is left alone), reusing its buffer and `scratch`.
    pub fn eval_into(&self, path: crate::ops::KernelPath, input: &Value, out: &mut Value, scratch: &mut Vec<i32>) -> Result<(), EngineError> {
        let (q_min, q_max) = int_range(self.output_dtype);
        // uint8 ↔ int8 with M = 1 and zero points 128 apart (the QUANTIZE ops at the ends of a
        // model with uint8 I/O): q_out = q_in ∓ 128 covers the whole range, i.e. a flip of the top bit.
        if let Arith::Requantize { z_in, multiplier, .. } = &self.arith {
            if is_identity(multiplier) {
                use crate::tensor::Data;
                match (&input.data, &mut out.data) {
                    (Data::U8(x), Data::I8(o)) if self.z_out - z_in == -128 => {
                        o.clear();
                        o.extend(x.iter().map(|&q| (q ^ 0x80) as i8));
                        return Ok(());
                    }
                    (Data::I8(x), Data::U8(o)) if self.z_out - z_in == 128 => {
                        o.clear();
                        o.extend(x.iter().map(|&q| (q as u8) ^ 0x80));
                        return Ok(());
                    }
                    _ => {}
                }
            }
        }
        match &self.arith {
            Arith::FromFloat => {
                let x = input.as_f32().ok_or_else(|| EngineError::BadInput("QUANTIZE input is not float".into()))?;
                scratch.clear();
                scratch.extend(x.iter().map(|&r| quant::quantize(r, self.s_out, self.z_out, q_min, q_max)));
            }
            Arith::Requantize { z_in, multiplier, rounding, table } if is_identity(multiplier) => {
                // M = 1 exactly (same scales, e.g. uint8 ↔ int8 at a model's ends): every rounding
                // rule returns q − Z_in unchanged for 8/16-bit inputs, so only the zero points move.
                let _ = (rounding, table);
                if !widen_into(input, scratch) {
                    return Err(EngineError::BadInput("QUANTIZE input is not integer".into()));
                }
                let shift = self.z_out - z_in;
                for q in scratch.iter_mut() {
                    *q = (*q + shift).clamp(q_min, q_max);
                }
            }
            Arith::Requantize { z_in, multiplier, rounding, table } => {
                if !widen_into(input, scratch) {
                    return Err(EngineError::BadInput("QUANTIZE input is not integer".into()));
                }
                for q in scratch.iter_mut() {
                    *q -= z_in;
                }
                // q_out = clamp(Z_out + round(M·(q − Z_in))): the bulk 8 at a time, the tail one by one.
                let bulk = scratch.len() / 8 * 8;
                table.apply(path, &mut scratch[..bulk]);
                for q in &mut scratch[bulk..] {
                    *q = (rounding.apply(*q, multiplier) as i64 + self.z_out as i64).clamp(q_min as i64, q_max as i64) as i32;
                }
            }
            Arith::XnnpackQ8 { z_in, multiplier } => {
                if !widen_into(input, scratch) {
                    return Err(EngineError::BadInput("QUANTIZE input is not integer".into()));
                }
                for q in scratch.iter_mut() {
                    *q = (self.z_out + (((*q - z_in) * multiplier + 128) >> 8)).clamp(q_min, q_max);
                }
            }
        }
        narrow_into(self.output_dtype, scratch, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rounding_is_the_identity_for_equal_scales() {
        for s in [0.003921568859368563f32, 1.0, 0.1, 7.0e-5, 3.5] {
            let m = Multiplier::from_ratio(s, s);
            assert!(is_identity(&m), "{s}: {m:?}");
            for rounding in Rounding::ALL {
                for q in (-70_000..=70_000).step_by(7).chain([-65_535, -32_768, -255, -128, -1, 0, 1, 127, 255, 32_767, 65_535]) {
                    assert_eq!(rounding.apply(q, &m), q, "{rounding:?} scale {s} q {q}");
                }
            }
        }
    }
}
