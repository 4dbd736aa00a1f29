//! EXP: `expf(x)` on float32; on int8 the 256-entry table of `expf`
//! (LiteRT's `LUTPopulate`, [`super::lut`]).

use super::lut::TableOp;
use super::OpContext;
use crate::error::EngineError;

fn exp(x: f32) -> f32 {
    x.exp()
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<TableOp, EngineError> {
    TableOp::prepare(ctx, exp, |_, _, _, _| Box::new(exp))
}
