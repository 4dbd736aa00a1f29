//! MEAN over constant axes, 16x8: the int8 integer recipe
//! ([`crate::ops::mean`]) with zero points 0 and the int16 clamp — the sum
//! in int32, `M = S_in/S_out` as `M0·2^shift` with `1/n` folded in
//! (`M0' = (M0·2^k)/n`, `k = min(⌊log2 n⌋, 32, 31 + shift)`, `shift' = shift − k`),
//! gemmlowp double rounding. LiteRT (`reference_ops::QuantizedMeanOrSum`
//! for both kernel sets) and TFLite Micro compute it the same way.

use super::{i16s, require_int16, value16};
use crate::error::EngineError;
use crate::ops::mean::{folded_multiplier, sums, Reduction};
use crate::ops::OpContext;
use crate::profile::Profile;
use crate::quant::multiply_by_quantized_multiplier_double_rounding;
use crate::tensor::Value;

/// Everything a 16x8 MEAN needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub input_shape: Vec<usize>,
    /// Per input dimension, true when it is reduced.
    pub reduced: Vec<bool>,
    /// Elements per output (`n`).
    pub count: usize,
    /// `M0'` and `shift'`, with `1/n` folded in.
    pub multiplier: (i32, i32),
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    let s_in = require_int16(ctx, input, "input")?;
    let s_out = require_int16(ctx, output, "output")?;
    let Reduction { input_shape, reduced, count, output_shape } = Reduction::read(ctx, input, output)?;
    let m = folded_multiplier(s_in, s_out, count);
    Ok(Params { input, output, input_shape, reduced, count, multiplier: (m.m0, m.shift), output_shape })
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let x = i16s(input, self.input)?;
        let (m0, shift) = self.multiplier;
        let out = sums(x.iter().map(|&q| q as i32), &self.input_shape, &self.reduced)
            .into_iter()
            .map(|s| multiply_by_quantized_multiplier_double_rounding(s, m0, shift).clamp(-32768, 32767) as i16)
            .collect();
        Ok(value16(&self.output_shape, out))
    }
}
