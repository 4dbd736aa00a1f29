//! TRANSPOSE: output axis `d` is input axis `perm[d]`. Values are moved, not
//! changed, so every dtype works and every runtime agrees; the index map is
//! computed once in prepare ([`super::layout::transpose_map`]).

use super::layout::{take_value, transpose_map};
use super::OpContext;
use crate::error::EngineError;
use crate::tensor::Value;

/// Everything TRANSPOSE needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub perm: Vec<usize>,
    /// `src[i]`: the input position of output element `i`.
    pub src: Vec<usize>,
    pub input_len: usize,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    ctx.require_same(input, output, true)?;
    let is = ctx.shape(input);
    let perm_raw = ctx.const_i32(ctx.input(1)?, "perm")?;
    let mut perm = Vec::with_capacity(perm_raw.len());
    for &p in &perm_raw {
        match super::layout::axis(p, is.len()) {
            Some(a) if !perm.contains(&a) => perm.push(a),
            _ => return Err(ctx.bad(format!("perm {perm_raw:?} is not a permutation of the {} axes", is.len()))),
        }
    }
    if perm.len() != is.len() {
        return Err(ctx.bad(format!("perm {perm_raw:?} for an input of rank {}", is.len())));
    }
    let expected: Vec<usize> = perm.iter().map(|&p| is[p]).collect();
    let os = ctx.shape(output);
    if os != expected {
        return Err(ctx.bad(format!("output shape {os:?}, expected {expected:?}")));
    }
    Ok(Params { input, output, src: transpose_map(&is, &perm), perm, input_len: is.iter().product(), output_shape: os })
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        take_value(x, self.input, &self.src, self.input_len, &self.output_shape)
    }
}
