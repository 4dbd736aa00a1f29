//! LOG: `logf(x)` on float32. On int8 a 256-entry table of
//! `x ≤ 0 ? S_out·(q_min − Z_out) : logf(x)` (LiteRT's `LogLUTPrepare`:
//! non-positive inputs map to the smallest representable output).

use super::lut::TableOp;
use super::OpContext;
use crate::error::EngineError;

fn log(x: f32) -> f32 {
    x.ln()
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<TableOp, EngineError> {
    let q_min = super::int_range(ctx.dtype(ctx.output(0)?)).0;
    TableOp::prepare(ctx, log, move |_, _, s_out, z_out| {
        let output_min = (q_min - z_out) as f32 * s_out;
        Box::new(move |x: f32| if x <= 0.0 { output_min } else { x.ln() })
    })
}
