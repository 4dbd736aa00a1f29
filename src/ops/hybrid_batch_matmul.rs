//! BATCH_MATMUL, dynamic range: float LHS `X[…, i, k]`, int8 constant RHS
//! `W[…, k, c]` (symmetric, one scale or one per output column `c`), float
//! output (LiteRT's `batch_matmul.cc` `EvalHybrid`).
//!
//! Every row `i` of every LHS matrix (`depth` values) is quantized on its own
//! — S1 and Z1 are computed at run time, one pair per row, as for a hybrid
//! FULLY_CONNECTED; symmetric or asymmetric as the operator's
//! `asymmetric_quantize_inputs` says (the converter sets it):
//!
//! ```text
//!     S1[r], Z1[r] = quantize(X[r])                                   (run time)
//!     acc[r][c]    = Σ_k W[k][c] · q[r][k] − Z1[r] · Σ_k W[k][c]      (the second sum: a "row sum", prepared)
//!     y[r][c]      = 0 + float(acc[r][c]) · (S1[r] · S2[c])            (no bias, no activation)
//! ```
//!
//! **LiteRT** (one kernel: the builtin resolver registers the reference one)
//! runs this through its reference loop in the mirrored layout — the weights
//! transposed to `[…, c, k]` once, the operands' batch dimensions extended to
//! five — and three details of that loop are reproduced here:
//!
//! - `acc` is an int32, but the `Z1 · Σ W` term is subtracted in **f32**:
//!   `acc = int(f32(Σ W·q) − f32(ΣW)·f32(Z1))`, truncated toward zero
//!   (exact while the terms stay below 2^24).
//! - When the weights have the shape `[…, 1, k, c]` and `adj_x` is false, the
//!   `1` is dropped and the LHS batch folded into its rows first
//!   (`[…, Q, R, k]` → `[…, Q·R, k]`), which changes the batch loop below.
//! - The row of S1/Z1 (and of the row sums) that a matrix reads is found by
//!   adding, for each of the three extended batch dimensions the operand is
//!   not broadcast along, `b_d · rows` — not `b_d · (rows × the later batch
//!   dimensions)`. With one batch dimension that is the matrix's own row; with
//!   two batch dimensions larger than one, later matrices read the S1/Z1 of
//!   an earlier matrix's rows (and its row sums), as LiteRT does.
//!
//! **XNNPACK** takes the operator into its delegate: its own `qd8` row
//! quantizer (always asymmetric), `acc` in int32, `fma(float(acc)·S1, S2, 0)`,
//! every matrix with its own rows ([`crate::profile::HybridMethod`]).

use super::hybrid::{prepare_core, HybridCore, HybridSteps, InputQuantizer};
use super::OpContext;
use crate::error::EngineError;
use crate::model::{Activation, Options};
use crate::profile::{HybridMethod, Profile};
use crate::quant::hybrid::RowQuant;
use crate::tensor::{Data, Value};

/// Where one output matrix reads its operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// Offset of its `[cols][depth]` weight matrix in [`Params::weights_t`].
    pub weights: usize,
    /// Its first LHS row (in rows of `depth` values of the quantized input).
    pub lhs_row: usize,
    /// The row whose S1/Z1 its LHS row 0 uses.
    pub quant_row: usize,
    /// Offset of its row sums in [`Params::row_sums`].
    pub row_sums: usize,
}

/// Everything a hybrid BATCH_MATMUL needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    /// Weights as stored, scales S2 (one per output column), quantizer and scaling.
    pub core: HybridCore,
    pub adj_x: bool,
    pub adj_y: bool,
    /// Rows of each LHS matrix (after LiteRT's folding), output columns, depth.
    pub rows: usize,
    pub cols: usize,
    pub depth: usize,
    /// LHS matrices as stored (for `adj_x`, each is transposed before quantizing).
    pub lhs_matrices: usize,
    /// Elements of the LHS.
    pub lhs_len: usize,
    /// The weights transposed to `[matrix][c][k]`.
    pub weights_t: Vec<i8>,
    /// `Σ_k W[matrix][k][c]`, at `[matrix][c]`.
    pub row_sums: Vec<i32>,
    /// One per output matrix, in output order.
    pub blocks: Vec<Block>,
    /// True for LiteRT's accumulator (`Z1·ΣW` subtracted in f32).
    pub float_offset: bool,
}

/// TFLite's `extent`: the stride of extended dimension `d`, or 0 when it is 1 (broadcast).
fn extent(shape: &[usize; 5], d: usize) -> usize {
    if shape[d] == 1 {
        0
    } else {
        shape[d + 1..].iter().product()
    }
}

fn extend5(s: &[usize]) -> [usize; 5] {
    let mut e = [1; 5];
    e[5 - s.len()..].copy_from_slice(s);
    e
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let (adj_x, adj_y, asymmetric) = match &ctx.op.options {
        Options::BatchMatmul { adj_x, adj_y, asymmetric_quantize_inputs } => (*adj_x, *adj_y, *asymmetric_quantize_inputs),
        Options::None => (false, false, false),
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    let (x, y, output) = (ctx.input(0)?, ctx.input(1)?, ctx.output(0)?);
    let (mut sx, mut sy) = (ctx.shape(x), ctx.shape(y));
    if !(2..=5).contains(&sx.len()) || !(2..=5).contains(&sy.len()) {
        return Err(ctx.bad(format!("operands of rank {} and {} (2 to 5 each)", sx.len(), sy.len())));
    }
    let (depth, cols) = if adj_y { (sy[sy.len() - 1], sy[sy.len() - 2]) } else { (sy[sy.len() - 2], sy[sy.len() - 1]) };
    let lhs_matrices = sx[..sx.len() - 2].iter().product();
    let depth_x = if adj_x { sx[sx.len() - 2] } else { sx[sx.len() - 1] };
    if depth_x != depth {
        return Err(ctx.bad(format!("X {sx:?} (adj_x {adj_x}) and Y {sy:?} (adj_y {adj_y}) disagree on the depth")));
    }
    if depth == 0 {
        return Err(ctx.unsupported(format!("a depth of 0 (X {sx:?}, Y {sy:?})")));
    }
    let axis = if adj_y { sy.len() - 2 } else { sy.len() - 1 };
    let quantizer = if asymmetric { InputQuantizer::Asymmetric } else { InputQuantizer::Symmetric };
    let method = profile.hybrid_bmm_method();
    let core = prepare_core(ctx, Activation::None, cols, axis, quantizer, method)?;
    // The weights as `[matrix][c][k]`, and their row sums.
    let w_matrices: usize = sy[..sy.len() - 2].iter().product();
    let mut weights_t = vec![0i8; core.weights.len()];
    for m in 0..w_matrices {
        for c in 0..cols {
            for k in 0..depth {
                let stored = if adj_y { c * depth + k } else { k * cols + c };
                weights_t[(m * cols + c) * depth + k] = core.weights[m * cols * depth + stored];
            }
        }
    }
    let row_sums: Vec<i32> = weights_t.chunks(depth).map(|r| r.iter().map(|&w| w as i32).sum()).collect();
    // LiteRT folds `[…, Q, R, k] × [… , 1, k, c]` into `[…, Q·R, k] × […, k, c]`.
    if !adj_x && sx.len() > 2 && sy.len() > 2 && sy[sy.len() - 3] == 1 {
        let n = sx.len();
        sx = [&sx[..n - 3], &[sx[n - 3] * sx[n - 2], sx[n - 1]]].concat();
        let n = sy.len();
        sy = [&sy[..n - 3], &sy[n - 2..]].concat();
    }
    let rows = if adj_x { sx[sx.len() - 1] } else { sx[sx.len() - 2] };
    // The extended shapes of LiteRT's loop: weights `[…, c, k]`, input `[…, k, rows]`.
    let w5 = extend5(&sy[..sy.len() - 2].iter().copied().chain([cols, depth]).collect::<Vec<_>>());
    let x5 = extend5(&sx[..sx.len() - 2].iter().copied().chain([depth, rows]).collect::<Vec<_>>());
    if w5[0] != 1 {
        return Err(ctx.unsupported(format!("rank-5 weights {sy:?} with a leading dimension > 1 (LiteRT computes row sums only past it)")));
    }
    let mut bdim = [1usize; 3];
    for d in 0..3 {
        let (a, b) = (w5[d], x5[d]);
        if a != b && a != 1 && b != 1 {
            return Err(ctx.bad(format!("batch dims of {:?} and {:?} do not broadcast", ctx.shape(x), ctx.shape(y))));
        }
        bdim[d] = a.max(b);
    }
    let out_len: usize = bdim.iter().product::<usize>() * rows * cols;
    if ctx.model.tensors[output].num_elements() != out_len {
        return Err(ctx.bad(format!("output shape {:?}, expected {out_len} elements", ctx.shape(output))));
    }
    let litert = matches!(method, HybridMethod::LiteRt(_));
    let mut blocks = Vec::with_capacity(bdim.iter().product());
    for b0 in 0..bdim[0] {
        for b1 in 0..bdim[1] {
            for b2 in 0..bdim[2] {
                let b = [b0, b1, b2];
                let (mut wo, mut xo, mut qr, mut rs) = (0, 0, 0, 0);
                for d in 0..3 {
                    let (we, xe) = (extent(&w5, d), extent(&x5, d));
                    wo += b[d] * we;
                    xo += b[d] * xe;
                    if litert {
                        qr += if xe == 0 { 0 } else { b[d] * rows };
                        rs += if we == 0 { 0 } else { b[d] * cols };
                    }
                }
                let lhs_row = xo / depth;
                if !litert {
                    (qr, rs) = (lhs_row, wo / depth);
                }
                blocks.push(Block { weights: wo, lhs_row, quant_row: qr, row_sums: rs });
            }
        }
    }
    let lhs_len = ctx.model.tensors[x].num_elements();
    // Every block's rows, and the rows whose S1/Z1 and row sums it reads, lie inside the operands.
    let (q_rows, sum_rows) = (lhs_len / depth, row_sums.len());
    if blocks.iter().any(|b| b.lhs_row + rows > q_rows || b.quant_row + rows > q_rows || b.row_sums + cols > sum_rows || b.weights + cols * depth > weights_t.len()) {
        return Err(ctx.bad(format!("batch dims of {:?} and {:?} read past an operand", ctx.shape(x), ctx.shape(y))));
    }
    Ok(Params { core, adj_x, adj_y, rows, cols, depth, lhs_matrices, lhs_len, weights_t, row_sums, blocks, float_offset: litert })
}

impl Params {
    /// The LHS rows in `[row][k]` order (each `adj_x` matrix transposed), quantized:
    /// one S1/Z1 per row, with the quantized values.
    pub fn quantize_rows(&self, input: &Value) -> Result<(Vec<RowQuant>, Vec<i8>), EngineError> {
        let x = self.core.float_input(input)?;
        if x.len() != self.lhs_len {
            return Err(EngineError::BadInput(format!("tensor {} has {} elements, expected {}", self.core.input, x.len(), self.lhs_len)));
        }
        if !self.adj_x {
            return self.core.quantize_rows(input, self.depth);
        }
        let per = self.rows * self.depth;
        let mut t = Vec::with_capacity(x.len());
        for m in x.chunks(per) {
            for i in 0..self.rows {
                t.extend((0..self.depth).map(|k| m[k * self.rows + i]));
            }
        }
        let v = Value { shape: vec![t.len()], data: Data::F32(t) };
        self.core.quantize_rows(&v, self.depth)
    }

    /// `Σ_k W[c][k]·q[k] − Z1·ΣW[c]` for one LHS row `q` (LiteRT: the
    /// offset term in f32, truncated back to int32).
    #[inline]
    fn accumulate(&self, block: &Block, q: &[i8], z1: i32, c: usize) -> i32 {
        let w = &self.weights_t[block.weights + c * self.depth..][..self.depth];
        let dot = w.iter().zip(q).fold(0i32, |a, (&w, &x)| a.wrapping_add(w as i32 * x as i32));
        let sum = self.row_sums[block.row_sums + c];
        if self.float_offset {
            (dot as f32 - sum as f32 * z1 as f32) as i32
        } else {
            dot.wrapping_sub(sum.wrapping_mul(z1))
        }
    }

    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        let (rq, q) = self.quantize_rows(input)?;
        let mut out = Vec::with_capacity(self.blocks.len() * self.rows * self.cols);
        for b in &self.blocks {
            for j in 0..self.rows {
                let qr = &q[(b.lhs_row + j) * self.depth..][..self.depth];
                let r = rq[b.quant_row + j];
                for c in 0..self.cols {
                    out.push(0.0f32 + self.core.finish(self.accumulate(b, qr, r.zero_point, c), r.scale, c));
                }
            }
        }
        Ok(Value { shape: self.core.output_shape.clone(), data: Data::F32(out) })
    }

    /// The steps behind output element `element` (flat `[matrix][row][column]`).
    pub fn steps(&self, input: &Value, element: usize) -> Option<HybridSteps> {
        let per = self.rows * self.cols;
        let b = self.blocks.get(element / per)?;
        let (j, c) = ((element % per) / self.cols, element % self.cols);
        let (rq, q) = self.quantize_rows(input).ok()?;
        let r = rq[b.quant_row + j];
        let qr = &q[(b.lhs_row + j) * self.depth..][..self.depth];
        Some(self.core.steps(b.quant_row + j, c, r, self.accumulate(b, qr, r.zero_point, c)))
    }
}
