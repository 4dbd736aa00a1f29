//! LOG_SOFTMAX over the last axis, float32 (LiteRT's reference loop):
//! `m = max x`, `s = Σ expf(x − m)` in f32 in order, then `x − m − logf(s)`.
//! (The int8 kernel — gemmlowp fixed point — is not implemented.)

use super::layout::f32s;
use crate::error::EngineError;
use crate::tensor::{Data, Value};

/// LOG_SOFTMAX works on the same rows as L2_NORMALIZATION.
pub use super::l2_normalization::Params;
pub(crate) use super::l2_normalization::prepare;

impl Params {
    /// LOG_SOFTMAX of every row.
    pub fn eval_log_softmax(&self, x: &Value) -> Result<Value, EngineError> {
        let v = f32s(x, self.input)?;
        let mut out = Vec::with_capacity(v.len());
        for row in v.chunks(self.depth) {
            let m = row.iter().fold(f32::MIN, |a, &b| a.max(b));
            let mut s = 0.0f32;
            for &a in row {
                s += (a - m).exp();
            }
            let log_sum = s.ln();
            out.extend(row.iter().map(|&a| a - m - log_sum));
        }
        Ok(Value { shape: self.output_shape.clone(), data: Data::F32(out) })
    }
}
