//! BATCH_MATMUL: `out[…, i, j] = Σ_k X[…, i, k] · Y[…, k, j]`, with the
//! leading (batch) dimensions broadcast and either operand optionally read
//! transposed (`adj_x`: X is stored `[…, k, i]`; `adj_y`: Y is stored `[…, j, k]`).
//!
//! int8 (equation (3) of [`crate::quant`] with both operands activations):
//!
//! ```text
//!     acc = Σ_k (x − Z_x)(y − Z_y)          (int32, k ascending)
//!     q   = clamp(Z_out + M·acc),  M = S_x·S_y / S_out
//! ```
//!
//! and `M·acc` is `MultiplyByQuantizedMultiplier` (gemmlowp double rounding)
//! in every runtime that ran the committed models: LiteRT 2.3's builtin
//! resolver has only the reference kernel (its ruy-based optimized kernel was
//! removed in favour of XNNPACK), and XNNPACK leaves int8 BATCH_MATMUL with
//! two run-time operands to it. (Tried against the goldens: every other
//! rounding of [`Rounding::ALL`] misses some elements in some runtime.)
//!
//! float32: the reference loop, `total = 0; total += x·y` for k ascending,
//! in f32 (no fused multiply-add).

use super::layout::{broadcast_pairs, f32s};
use super::{ints, narrow, OpContext};
use crate::error::EngineError;
use crate::model::{DType, Options};
use crate::profile::{Multiplier, Rounding};
use crate::tensor::{Data, Value};

/// The int8 requantization.
#[derive(Clone, Debug)]
pub struct Quantized {
    pub z_x: i32,
    pub z_y: i32,
    pub z_out: i32,
    pub multiplier: Multiplier,
    pub rounding: Rounding,
}

/// Everything BATCH_MATMUL needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub x: usize,
    pub y: usize,
    pub output: usize,
    pub adj_x: bool,
    pub adj_y: bool,
    /// Rows of X (`i`), columns of Y (`j`), depth (`k`).
    pub rows: usize,
    pub cols: usize,
    pub depth: usize,
    /// For each output matrix: the offsets of its X and Y matrices.
    pub batches: Vec<(usize, usize)>,
    pub output_shape: Vec<usize>,
    /// `None`: float32.
    pub quant: Option<Quantized>,
    /// The constant Y from the file, if Y is a constant.
    pub y_const: Option<Value>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let (adj_x, adj_y) = match &ctx.op.options {
        Options::BatchMatmul { adj_x, adj_y, .. } => (*adj_x, *adj_y),
        Options::None => (false, false),
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    let (x, y, output) = (ctx.input(0)?, ctx.input(1)?, ctx.output(0)?);
    let (sx, sy, so) = (ctx.shape(x), ctx.shape(y), ctx.shape(output));
    if sx.len() < 2 || sy.len() < 2 {
        return Err(ctx.bad(format!("operands of rank {} and {} (at least 2 each)", sx.len(), sy.len())));
    }
    let (rx, ry) = (sx.len(), sy.len());
    let (rows, depth_x) = if adj_x { (sx[rx - 1], sx[rx - 2]) } else { (sx[rx - 2], sx[rx - 1]) };
    let (depth_y, cols) = if adj_y { (sy[ry - 1], sy[ry - 2]) } else { (sy[ry - 2], sy[ry - 1]) };
    if depth_x != depth_y {
        return Err(ctx.bad(format!("X {sx:?} (adj_x {adj_x}) and Y {sy:?} (adj_y {adj_y}) disagree on the depth")));
    }
    // Batch dims: broadcast X's and Y's leading dims, one (X, Y) matrix pair per output matrix.
    let (bx, by) = (&sx[..rx - 2], &sy[..ry - 2]);
    let rank = bx.len().max(by.len());
    let pad = |s: &[usize]| -> Vec<usize> { std::iter::repeat(1).take(rank - s.len()).chain(s.iter().copied()).collect() };
    let (px, py) = (pad(bx), pad(by));
    let bout: Vec<usize> = px.iter().zip(&py).map(|(&a, &b)| a.max(b)).collect();
    let pairs = broadcast_pairs(&px, &py, &bout).ok_or_else(|| ctx.bad(format!("batch dims of {sx:?} and {sy:?} do not broadcast")))?;
    let mut expected = bout.clone();
    expected.extend([rows, cols]);
    if so.iter().product::<usize>() != expected.iter().product::<usize>() {
        return Err(ctx.bad(format!("output shape {so:?}, expected {expected:?}")));
    }
    let batches = pairs.into_iter().map(|(a, b)| (a * rows * depth_x, b * depth_x * cols)).collect();
    let quant = match (ctx.dtype(x), ctx.dtype(y), ctx.dtype(output)) {
        (DType::F32, DType::F32, DType::F32) => None,
        (DType::I8, DType::I8, DType::I8) => {
            let (s_x, z_x) = ctx.per_tensor_quant(x, "input X")?;
            let (s_y, z_y) = ctx.per_tensor_quant(y, "input Y")?;
            let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
            Some(Quantized { z_x, z_y, z_out, multiplier: Multiplier::from_scales(s_x, s_y, s_out), rounding: Rounding::FixedPointDoubleRounding })
        }
        (a, b, o) => return Err(ctx.unsupported(format!("dtypes {a} × {b} → {o} (int8 and float32 are supported)"))),
    };
    let y_const = Value::from_constant(&ctx.model.tensors[y]);
    Ok(Params { x, y, output, adj_x, adj_y, rows, cols, depth: depth_x, batches, output_shape: so, quant, y_const })
}

impl Params {
    /// The tensors read at run time (Y only if it is not a constant).
    pub fn runtime_inputs(&self) -> Vec<usize> {
        if self.y_const.is_some() {
            vec![self.x]
        } else {
            vec![self.x, self.y]
        }
    }

    /// Position of X[i, k] and Y[k, j] inside their matrices.
    #[inline]
    fn at_x(&self, i: usize, k: usize) -> usize {
        if self.adj_x {
            k * self.rows + i
        } else {
            i * self.depth + k
        }
    }

    #[inline]
    fn at_y(&self, k: usize, j: usize) -> usize {
        if self.adj_y {
            j * self.depth + k
        } else {
            k * self.cols + j
        }
    }

    /// The int32 accumulator of output element (batch `b`, row `i`, column `j`):
    /// `Σ_k (x − Z_x)(y − Z_y)`.
    pub fn accumulator(&self, xs: &[i32], ys: &[i32], b: usize, i: usize, j: usize) -> i32 {
        let q = self.quant.as_ref().map_or((0, 0), |q| (q.z_x, q.z_y));
        let (ox, oy) = self.batches[b];
        (0..self.depth).fold(0i32, |acc, k| {
            acc.wrapping_add((xs[ox + self.at_x(i, k)] - q.0).wrapping_mul(ys[oy + self.at_y(k, j)] - q.1))
        })
    }

    pub fn eval(&self, vals: &[&Value]) -> Result<Value, EngineError> {
        let xv = vals[0];
        let yv = match &self.y_const {
            Some(c) => c,
            None => vals.get(1).copied().ok_or_else(|| EngineError::BadInput(format!("tensor {} has no value", self.y)))?,
        };
        let n = self.batches.len() * self.rows * self.cols;
        match &self.quant {
            Some(q) => {
                let (xs, ys) = (ints(xv, self.x)?, ints(yv, self.y)?);
                let mut out = Vec::with_capacity(n);
                for b in 0..self.batches.len() {
                    for i in 0..self.rows {
                        for j in 0..self.cols {
                            let acc = self.accumulator(&xs, &ys, b, i, j);
                            out.push((q.rounding.apply(acc, &q.multiplier) as i64 + q.z_out as i64).clamp(-128, 127) as i32);
                        }
                    }
                }
                Ok(narrow(DType::I8, &self.output_shape, out))
            }
            None => {
                let (xs, ys) = (f32s(xv, self.x)?, f32s(yv, self.y)?);
                let mut out = Vec::with_capacity(n);
                for &(ox, oy) in &self.batches {
                    for i in 0..self.rows {
                        for j in 0..self.cols {
                            let mut total = 0.0f32;
                            for k in 0..self.depth {
                                total += xs[ox + self.at_x(i, k)] * ys[oy + self.at_y(k, j)];
                            }
                            out.push(total);
                        }
                    }
                }
                Ok(Value { shape: self.output_shape.clone(), data: Data::F32(out) })
            }
        }
    }

    /// For `inspect`: the profile choice and the prepared constants.
    pub fn describe(&self) -> String {
        let shape = format!("[{} batch] {}×{} · {}×{} (adj_x {}, adj_y {})", self.batches.len(), self.rows, self.depth, self.depth, self.cols, self.adj_x, self.adj_y);
        match &self.quant {
            Some(q) => format!(
                "none: {} in every runtime; {shape}; Z_x {} Z_y {} Z_out {}; M = {:.6e} = {}·2^({} − 31)",
                q.rounding.name(),
                q.z_x,
                q.z_y,
                q.z_out,
                q.multiplier.real,
                q.multiplier.m0,
                q.multiplier.shift
            ),
            None => format!("none: float32 (f32 sums, k ascending); {shape}"),
        }
    }
}
