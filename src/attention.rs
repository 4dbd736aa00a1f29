//! One attention block of a quantized transformer, step by step:
//!
//! ```text
//!     S   = Q · Kᵀ            BATCH_MATMUL, int32 Σ(q − Z_q)(k − Z_k) requantized to int8
//!     S'  = S × 1/√d          MUL by a constant (the converter keeps the scale as its own op)
//!     P   = softmax(S')       SOFTMAX over the last axis (int8, scale 1/256, zero point −128)
//!     O   = P · V             BATCH_MATMUL, requantized to int8
//! ```
//!
//! [`blocks`] finds every such chain in a plan (BATCH_MATMUL → MUL →
//! SOFTMAX → BATCH_MATMUL reading the softmax); [`Block::steps`] reads one
//! run's [`Trace`] into the integer matrices of one head beside their real
//! values `S·(q − Z)`, and [`Block::score_steps`] opens one score: the
//! accumulator and its requantization.

use crate::ops::batch_matmul;
use crate::ops::transformer::Op;
use crate::plan::{Kernel, Plan};
use crate::trace::Trace;

/// The tensors of one attention block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Operator index of `Q·Kᵀ`.
    pub scores_op: usize,
    pub q: usize,
    pub k: usize,
    /// `Q·Kᵀ` (int8), after the 1/√d MUL, after SOFTMAX.
    pub scores: usize,
    pub scaled: usize,
    pub probs: usize,
    pub v: usize,
    /// `P·V` (int8).
    pub context: usize,
    pub context_op: usize,
}

/// One head's matrices, integer and real.
#[derive(Clone, Debug)]
pub struct HeadSteps {
    pub rows: usize,
    pub cols: usize,
    /// Integer scores `Q·Kᵀ`, rows × cols, and their real values.
    pub scores_q: Vec<i32>,
    pub scores_r: Vec<f32>,
    /// After the 1/√d MUL.
    pub scaled_q: Vec<i32>,
    pub scaled_r: Vec<f32>,
    /// Softmax probabilities (integer and real).
    pub probs_q: Vec<i32>,
    pub probs_r: Vec<f32>,
    /// The same probabilities computed in f64 from the real scaled scores.
    pub probs_float: Vec<f64>,
}

/// The requantization of one score `S[i, j]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreSteps {
    /// `Σ_k (q − Z_q)(k − Z_k)`.
    pub acc: i32,
    /// `M = S_q·S_k / S_out` and its fixed-point form.
    pub m: f64,
    pub m0: i32,
    pub shift: i32,
    /// `M·acc` rounded (gemmlowp double rounding), `+ Z_out`, clamped.
    pub scaled: i32,
    pub z_out: i32,
    pub q: i32,
}

fn bmm(plan: &Plan, op: usize) -> Option<&batch_matmul::Params> {
    plan.steps.iter().find(|s| s.op == op).and_then(|s| match &s.kernel {
        Kernel::Transformer(Op::BatchMatmul(p)) => Some(p),
        _ => None,
    })
}

/// Every `BATCH_MATMUL → MUL → SOFTMAX → BATCH_MATMUL` chain of the plan.
pub fn blocks(plan: &Plan) -> Vec<Block> {
    let reader = |t: usize| plan.steps.iter().find(|s| s.kernel.inputs().contains(&t));
    let mut out = Vec::new();
    for s in &plan.steps {
        let Kernel::Transformer(Op::BatchMatmul(p)) = &s.kernel else { continue };
        let Some(mul) = reader(p.output).filter(|m| matches!(m.kernel, Kernel::Mul(_))) else { continue };
        let Some(sm) = reader(mul.kernel.output()).filter(|m| matches!(m.kernel, Kernel::Softmax(_))) else { continue };
        let Some(ctx) = reader(sm.kernel.output()) else { continue };
        let Kernel::Transformer(Op::BatchMatmul(c)) = &ctx.kernel else { continue };
        out.push(Block {
            scores_op: s.op,
            q: p.x,
            k: p.y,
            scores: p.output,
            scaled: mul.kernel.output(),
            probs: sm.kernel.output(),
            v: c.y,
            context: c.output,
            context_op: ctx.op,
        });
    }
    out
}

impl Block {
    /// The integer values and their real values `S·(q − Z)` of tensor `t`.
    fn real(plan: &Plan, trace: &Trace, t: usize) -> Option<(Vec<i32>, Vec<f32>)> {
        let q: Vec<i32> = trace.value(t)?.to_i64_vec()?.into_iter().map(|x| x as i32).collect();
        let qp = plan.model.tensors[t].quant.as_ref()?;
        let (s, z) = (qp.scale[0], qp.zero_point[0] as i32);
        let r = q.iter().map(|&x| s * (x - z) as f32).collect();
        Some((q, r))
    }

    /// Head `head`'s score, scaled-score and probability matrices.
    pub fn steps(&self, plan: &Plan, trace: &Trace, head: usize) -> Option<HeadSteps> {
        let p = bmm(plan, self.scores_op)?;
        let (rows, cols) = (p.rows, p.cols);
        let n = rows * cols;
        if head >= p.batches.len() {
            return None;
        }
        let cut = |(q, r): (Vec<i32>, Vec<f32>)| (q[head * n..(head + 1) * n].to_vec(), r[head * n..(head + 1) * n].to_vec());
        let (scores_q, scores_r) = cut(Self::real(plan, trace, self.scores)?);
        let (scaled_q, scaled_r) = cut(Self::real(plan, trace, self.scaled)?);
        let (probs_q, probs_r) = cut(Self::real(plan, trace, self.probs)?);
        let mut probs_float = Vec::with_capacity(n);
        for row in scaled_r.chunks(cols) {
            let m = row.iter().fold(f64::MIN, |a, &b| a.max(b as f64));
            let e: Vec<f64> = row.iter().map(|&x| (x as f64 - m).exp()).collect();
            let sum: f64 = e.iter().sum();
            probs_float.extend(e.iter().map(|x| x / sum));
        }
        Some(HeadSteps { rows, cols, scores_q, scores_r, scaled_q, scaled_r, probs_q, probs_r, probs_float })
    }

    /// The steps behind score `S[head, i, j]`: accumulator, × M, rounding, + Z.
    pub fn score_steps(&self, plan: &Plan, trace: &Trace, head: usize, i: usize, j: usize) -> Option<ScoreSteps> {
        let p = bmm(plan, self.scores_op)?;
        let q = p.quant.as_ref()?;
        let to_i32 = |t: usize| -> Option<Vec<i32>> { Some(trace.value(t)?.to_i64_vec()?.into_iter().map(|x| x as i32).collect()) };
        let (xs, ys) = (to_i32(p.x)?, to_i32(p.y)?);
        if head >= p.batches.len() || i >= p.rows || j >= p.cols {
            return None;
        }
        let acc = p.accumulator(&xs, &ys, head, i, j);
        let scaled = q.rounding.apply(acc, &q.multiplier);
        let out = (scaled as i64 + q.z_out as i64).clamp(-128, 127) as i32;
        Some(ScoreSteps { acc, m: q.multiplier.real, m0: q.multiplier.m0, shift: q.multiplier.shift, scaled, z_out: q.z_out, q: out })
    }
}
