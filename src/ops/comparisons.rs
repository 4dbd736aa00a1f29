//! LESS, LESS_EQUAL, GREATER, GREATER_EQUAL, EQUAL, NOT_EQUAL → bool, with
//! broadcasting; LOGICAL_AND and LOGICAL_OR on bools.
//!
//! float32 and int32 compare the values. int8/uint8 (LiteRT's
//! `ComparisonWithScaling`, the only kernel: XNNPACK has no comparisons)
//! bring both sides to a common scale first:
//!
//! ```text
//!     a' = MBQM((a − Z_a)·2^8, S_a)      b' = MBQM((b − Z_b)·2^8, S_b)      a' < b' …
//! ```
//!
//! with each scale as `M0·2^shift` (gemmlowp double rounding), so two inputs
//! of different scales compare by their real values (up to that rounding).

use super::layout::{bools, broadcast_pairs};
use super::OpContext;
use crate::error::EngineError;
use crate::model::{DType, OpKind};
use crate::quant;
use crate::tensor::{Data, Value};

/// Which comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    Equal,
    NotEqual,
    And,
    Or,
}

impl Cmp {
    fn of(kind: &OpKind) -> Option<Cmp> {
        Some(match kind {
            OpKind::Less => Cmp::Less,
            OpKind::LessEqual => Cmp::LessEqual,
            OpKind::Greater => Cmp::Greater,
            OpKind::GreaterEqual => Cmp::GreaterEqual,
            OpKind::Equal => Cmp::Equal,
            OpKind::NotEqual => Cmp::NotEqual,
            OpKind::LogicalAnd => Cmp::And,
            OpKind::LogicalOr => Cmp::Or,
            _ => return None,
        })
    }

    #[inline]
    fn test<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Less => a < b,
            Cmp::LessEqual => a <= b,
            Cmp::Greater => a > b,
            Cmp::GreaterEqual => a >= b,
            Cmp::Equal => a == b,
            Cmp::NotEqual => a != b,
            Cmp::And | Cmp::Or => unreachable!("logical ops take bools"),
        }
    }
}

/// Rescaling of one quantized side: `(q − Z)·2^8` times `S` as `M0·2^shift`.
#[derive(Clone, Copy, Debug)]
pub struct Side {
    pub z: i32,
    pub m0: i32,
    pub shift: i32,
}

impl Side {
    #[inline]
    fn scaled(&self, q: i32) -> i32 {
        quant::multiply_by_quantized_multiplier_double_rounding((q - self.z) * (1 << 8), self.m0, self.shift)
    }
}

/// Everything a comparison needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub a: usize,
    pub b: usize,
    pub output: usize,
    pub cmp: Cmp,
    pub pairs: Vec<(usize, usize)>,
    /// int8/uint8: the two sides' rescaling.
    pub quant: Option<(Side, Side)>,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let cmp = Cmp::of(&ctx.op.kind).ok_or_else(|| ctx.bad("not a comparison"))?;
    let (a, b, output) = (ctx.input(0)?, ctx.input(1)?, ctx.output(0)?);
    let output_shape = ctx.shape(output);
    // The output must be exactly the broadcast of the inputs (a corrupt output shape must not
    // make a huge index map).
    let (sa, sb) = (ctx.shape(a), ctx.shape(b));
    let rank = sa.len().max(sb.len());
    let dim = |s: &[usize], d: usize| if d + s.len() < rank { 1 } else { s[d + s.len() - rank] };
    let broadcast: Vec<usize> = (0..rank).map(|d| if dim(&sa, d) == 1 { dim(&sb, d) } else { dim(&sa, d) }).collect();
    if broadcast != output_shape {
        return Err(ctx.bad(format!("shapes {sa:?} and {sb:?} broadcast to {broadcast:?}, not to the output's {output_shape:?}")));
    }
    let pairs = broadcast_pairs(&ctx.shape(a), &ctx.shape(b), &output_shape)
        .ok_or_else(|| ctx.bad(format!("shapes {:?} and {:?} do not broadcast to {output_shape:?}", ctx.shape(a), ctx.shape(b))))?;
    if ctx.dtype(output) != DType::Bool || ctx.dtype(a) != ctx.dtype(b) {
        return Err(ctx.bad(format!("{} × {} → {} (same input dtypes, bool output)", ctx.dtype(a), ctx.dtype(b), ctx.dtype(output))));
    }
    let logical = matches!(cmp, Cmp::And | Cmp::Or);
    let quant = match ctx.dtype(a) {
        DType::Bool if logical => None,
        DType::F32 | DType::I32 | DType::I64 if !logical => None,
        DType::I8 | DType::U8 if !logical => {
            let side = |t: usize, role: &str| -> Result<Side, EngineError> {
                let (s, z) = ctx.per_tensor_quant(t, role)?;
                let (m0, shift) = quant::quantize_multiplier(s as f64);
                Ok(Side { z, m0, shift })
            };
            Some((side(a, "input 0")?, side(b, "input 1")?))
        }
        other => return Err(ctx.unsupported(format!("input dtype {other}"))),
    };
    Ok(Params { a, b, output, cmp, pairs, quant, output_shape })
}

impl Params {
    pub fn eval(&self, a: &Value, b: &Value) -> Result<Value, EngineError> {
        let c = self.cmp;
        let out: Vec<bool> = match (&a.data, &b.data, &self.quant) {
            (Data::Bool(_), Data::Bool(_), _) => {
                let (x, y) = (bools(a, self.a)?, bools(b, self.b)?);
                self.pairs.iter().map(|&(i, j)| if c == Cmp::And { x[i] && y[j] } else { x[i] || y[j] }).collect()
            }
            (Data::F32(x), Data::F32(y), _) => self.pairs.iter().map(|&(i, j)| c.test(x[i], y[j])).collect(),
            (_, _, Some((sa, sb))) => {
                let (x, y) = (super::ints(a, self.a)?, super::ints(b, self.b)?);
                self.pairs.iter().map(|&(i, j)| c.test(sa.scaled(x[i]), sb.scaled(y[j]))).collect()
            }
            _ => {
                let err = || EngineError::BadInput(format!("comparison inputs t{} / t{} are not integer", self.a, self.b));
                let (x, y) = (a.to_i64_vec().ok_or_else(err)?, b.to_i64_vec().ok_or_else(err)?);
                self.pairs.iter().map(|&(i, j)| c.test(x[i], y[j])).collect()
            }
        };
        Ok(Value { shape: self.output_shape.clone(), data: Data::Bool(out) })
    }

    pub fn describe(&self) -> String {
        match &self.quant {
            Some((a, b)) => format!("none: {:?} after rescaling both sides ((q − {})·2^8·S, (q − {})·2^8·S)", self.cmp, a.z, b.z),
            None => format!("none: {:?} on the values", self.cmp),
        }
    }
}
