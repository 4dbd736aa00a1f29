//! TANH on int8; the output always has scale 1/128 and zero point 0. The
//! same two methods as [`super::logistic`]: gemmlowp fixed point
//! (`gemmlowp::tanh` on Q4.27, a rounding shift by 24) or an f32 table of
//! `round(tanhf(S_in·(q − Z_in)) / S_out) + Z_out`.

use super::logistic::{prepare_function, Function};
pub use super::logistic::Params;
use super::OpContext;
use crate::error::EngineError;
use crate::profile::Profile;
use crate::tensor::Value;

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<TanhParams, EngineError> {
    Ok(TanhParams(prepare_function(ctx, profile, Function::Tanh)?))
}

/// TANH's prepared constants (LOGISTIC's struct, evaluated as tanh).
#[derive(Clone, Debug)]
pub struct TanhParams(pub Params);

impl TanhParams {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        self.0.eval_function(input, Function::Tanh)
    }
}
