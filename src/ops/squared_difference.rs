//! SQUARED_DIFFERENCE: `(a − b)²`, broadcasting — LayerNorm's `(x − mean)²`.
//!
//! float32: `d = a − b; d·d` in f32. int8 (LiteRT's kernel, the only one:
//! XNNPACK leaves it to the builtin kernel):
//!
//! ```text
//!     S = 2·max(S_a, S_b)
//!     a' = MBQM((a − Z_a)·2^7, S_a/S)     b' = MBQM((b − Z_b)·2^7, S_b/S)
//!     q  = clamp(Z_out + MBQM((a' − b')², S² / (2^14 · S_out)))
//! ```
//!
//! (`MBQM`: `MultiplyByQuantizedMultiplier`, gemmlowp double rounding; the
//! multipliers are below one.)

use super::layout::{broadcast_pairs, f32s};
use super::{ints, narrow, OpContext};
use crate::error::EngineError;
use crate::model::DType;
use crate::profile::Multiplier;
use crate::quant;
use crate::tensor::{Data, Value};

/// The int8 constants.
#[derive(Clone, Debug)]
pub struct Quantized {
    pub z_a: i32,
    pub z_b: i32,
    pub z_out: i32,
    pub m_a: Multiplier,
    pub m_b: Multiplier,
    pub m_out: Multiplier,
}

/// Everything SQUARED_DIFFERENCE needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub a: usize,
    pub b: usize,
    pub output: usize,
    pub pairs: Vec<(usize, usize)>,
    pub output_shape: Vec<usize>,
    pub quant: Option<Quantized>,
}

const LEFT_SHIFT: i32 = 7;

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let (a, b, output) = (ctx.input(0)?, ctx.input(1)?, ctx.output(0)?);
    let output_shape = ctx.shape(output);
    let pairs = broadcast_pairs(&ctx.shape(a), &ctx.shape(b), &output_shape)
        .ok_or_else(|| ctx.bad(format!("shapes {:?} and {:?} do not broadcast to {output_shape:?}", ctx.shape(a), ctx.shape(b))))?;
    let quant = match (ctx.dtype(a), ctx.dtype(b), ctx.dtype(output)) {
        (DType::F32, DType::F32, DType::F32) => None,
        (DType::I8, DType::I8, DType::I8) => {
            let (s_a, z_a) = ctx.per_tensor_quant(a, "input 0")?;
            let (s_b, z_b) = ctx.per_tensor_quant(b, "input 1")?;
            let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
            let twice_max = (2.0 * s_a.max(s_b)) as f64;
            let m_out = twice_max * twice_max / (((1 << (2 * LEFT_SHIFT)) as f32 * s_out) as f64);
            Some(Quantized {
                z_a,
                z_b,
                z_out,
                m_a: Multiplier::from_real(s_a as f64 / twice_max),
                m_b: Multiplier::from_real(s_b as f64 / twice_max),
                m_out: Multiplier::from_real(m_out),
            })
        }
        (x, y, o) => return Err(ctx.unsupported(format!("dtypes {x}, {y} → {o} (int8 and float32 are supported)"))),
    };
    Ok(Params { a, b, output, pairs, output_shape, quant })
}

impl Quantized {
    /// One int8 element.
    #[inline]
    pub fn element(&self, a: i32, b: i32) -> i32 {
        let mbqm = |x: i32, m: &Multiplier| quant::multiply_by_quantized_multiplier_double_rounding(x, m.m0, m.shift);
        let sa = mbqm((a - self.z_a) << LEFT_SHIFT, &self.m_a);
        let sb = mbqm((b - self.z_b) << LEFT_SHIFT, &self.m_b);
        let d = sa - sb;
        (mbqm(d.wrapping_mul(d), &self.m_out) + self.z_out).clamp(-128, 127)
    }
}

impl Params {
    pub fn eval(&self, a: &Value, b: &Value) -> Result<Value, EngineError> {
        match &self.quant {
            Some(q) => {
                let (x, y) = (ints(a, self.a)?, ints(b, self.b)?);
                let out = self.pairs.iter().map(|&(i, j)| q.element(x[i], y[j])).collect();
                Ok(narrow(DType::I8, &self.output_shape, out))
            }
            None => {
                let (x, y) = (f32s(a, self.a)?, f32s(b, self.b)?);
                let out = self.pairs.iter().map(|&(i, j)| {
                    let d = x[i] - y[j];
                    d * d
                });
                Ok(Value { shape: self.output_shape.clone(), data: Data::F32(out.collect()) })
            }
        }
    }

    pub fn describe(&self) -> String {
        match &self.quant {
            None => "none: float32 (a − b)²".into(),
            Some(q) => format!(
                "none: one kernel; Z_a {} Z_b {} Z_out {}; (x − Z)·2^7 scaled by {:.6e} and {:.6e}, the square by {:.6e}",
                q.z_a, q.z_b, q.z_out, q.m_a.real, q.m_b.real, q.m_out.real
            ),
        }
    }
}
