//! ADD, SUB and MUL (float32), with NumPy broadcasting: one f32 operation per
//! output element, `clamp(a ∘ b, act_min, act_max)` — the reference kernels'
//! expression, so every element is the correctly rounded result. The
//! broadcast and the fused activation are read as the integer kernels read
//! them ([`Broadcast`], `Binary::fused_activation`).

use super::{activation_range, clamp};
use crate::error::EngineError;
use crate::model::OpKind;
use crate::ops::add::{Binary, Broadcast};
use crate::ops::OpContext;

/// Which operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
}

/// Everything a float32 ADD, SUB or MUL needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub op: BinaryOp,
    pub inputs: [usize; 2],
    /// Element counts of the two inputs.
    pub lens: [usize; 2],
    pub output: usize,
    pub broadcast: Broadcast,
    pub act: (f32, f32),
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let op = match ctx.op.kind {
        OpKind::Add => BinaryOp::Add,
        OpKind::Sub => BinaryOp::Sub,
        _ => BinaryOp::Mul,
    };
    let activation = Binary::fused_activation(ctx)?;
    let (a, b, output) = (ctx.input(0)?, ctx.input(1)?, ctx.output(0)?);
    if ctx.dtype(b) != crate::model::DType::F32 {
        return Err(ctx.unsupported(format!("input 1 dtype {} beside a float32 input 0", ctx.dtype(b))));
    }
    let broadcast = Broadcast::new(ctx, a, b, output)?;
    let lens = [a, b].map(|t| ctx.shape(t).iter().product());
    Ok(Params { op, inputs: [a, b], lens, output, broadcast, act: activation_range(activation) })
}

impl Params {
    pub fn eval(&self, a: &[f32], b: &[f32]) -> Vec<f32> {
        let act = self.act;
        match self.op {
            BinaryOp::Add => self.broadcast.map(a, b, |x, y| clamp(x + y, act)),
            BinaryOp::Sub => self.broadcast.map(a, b, |x, y| clamp(x - y, act)),
            BinaryOp::Mul => self.broadcast.map(a, b, |x, y| clamp(x * y, act)),
        }
    }
}
