//! SUM, REDUCE_MAX, REDUCE_MIN and REDUCE_PROD over constant axes.
//!
//! Elements are visited in row-major input order and folded into their
//! output element (the reference kernels' `ReduceGeneric` order; for f32
//! sums and products that order is the rounding).
//!
//! * REDUCE_MAX / REDUCE_MIN on int8 compare raw values (input and output
//!   share one scale);
//! * SUM on int8 (LiteRT's `QuantizedMeanOrSum` with `compute_sum`):
//!   `clamp(Z_out + MBQM(Σq − n·Z_in, M0, shift))`, `M = S_in / S_out` in
//!   double, gemmlowp double rounding;
//! * REDUCE_PROD on int8 (LiteRT's `QuantizedReduceProd`): every partial
//!   product is rescaled so it cannot overflow, by `s = S_in / S_out^(1/n)`
//!   (double, `pow`) as `M0·2^shift`: `p₁ = q₁ − Z_in`,
//!   `p_k = MBQM64(p_{k−1}·(q_k − Z_in), s)`, then `clamp(Z_out + MBQM64(p_n, s))`,
//!   where MBQM64 is TFLite's int64 `MultiplyByQuantizedMultiplier` (the
//!   multiplier rounded to 16 bits, one rounding shift).

use super::layout::{axis, f32s};
use super::{ints, narrow, strides, OpContext};
use crate::error::EngineError;
use crate::model::{DType, OpKind, Options};
use crate::profile::{Multiplier, Profile, SumMethod};
use crate::quant;
use crate::tensor::{Data, Value};

/// The fold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fold {
    Sum,
    Max,
    Min,
    Prod,
}

/// Everything a reduction needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub fold: Fold,
    /// For each input element, its output element.
    pub dest: Vec<usize>,
    pub n_out: usize,
    /// Elements folded into each output.
    pub count: usize,
    pub dtype: DType,
    /// int8 SUM: (Z_in, Z_out, M).
    pub sum_quant: Option<(i32, i32, Multiplier)>,
    /// int8 REDUCE_PROD: (Z_in, Z_out, s = S_in / S_out^(1/n) as M0, shift).
    pub prod_quant: Option<(i32, i32, i32, i32)>,
    /// int8 SUM: how the runtime reads the bytes ([`Profile::sum_method`]).
    pub sum_method: SumMethod,
    pub output_shape: Vec<usize>,
    /// SUM: `S_in / S_out` in f32 (uint8 SUM in LiteRT's optimized kernels).
    pub sum_scale: f32,
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let fold = match ctx.op.kind {
        OpKind::Sum => Fold::Sum,
        OpKind::ReduceMax => Fold::Max,
        OpKind::ReduceMin => Fold::Min,
        _ => Fold::Prod,
    };
    if !matches!(ctx.op.options, Options::Reducer { .. } | Options::None) {
        return Err(ctx.bad(format!("unexpected options {:?}", ctx.op.options)));
    }
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    let is = ctx.shape(input);
    let mut reduced = vec![false; is.len()];
    for a in ctx.const_i32(ctx.input(1)?, "axis")? {
        reduced[axis(a, is.len()).ok_or_else(|| ctx.bad(format!("axis {a} for rank {}", is.len())))?] = true;
    }
    let out_dims: Vec<usize> = is.iter().zip(&reduced).map(|(&n, &r)| if r { 1 } else { n }).collect();
    let (ist, ost) = (strides(&is), strides(&out_dims));
    let n_in: usize = is.iter().product();
    let dest = (0..n_in)
        .map(|i| (0..is.len()).filter(|&d| !reduced[d]).map(|d| (i / ist[d]) % is[d] * ost[d]).sum())
        .collect();
    let n_out: usize = out_dims.iter().product();
    if ctx.shape(output).iter().product::<usize>() != n_out {
        return Err(ctx.bad(format!("output shape {:?}, expected {n_out} elements", ctx.shape(output))));
    }
    let dtype = ctx.dtype(input);
    let sum_quant = match (dtype, fold) {
        (DType::F32, _) => None,
        (DType::I8 | DType::U8, Fold::Max | Fold::Min) => {
            ctx.require_same(input, output, true)?;
            None
        }
        (DType::I8 | DType::U8, Fold::Sum) => {
            let (s_in, z_in) = ctx.per_tensor_quant(input, "input")?;
            let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
            Some((z_in, z_out, Multiplier::from_ratio(s_in, s_out)))
        }
        (DType::I8, Fold::Prod) => None,
        (d, f) => return Err(ctx.unsupported(format!("{f:?} on dtype {d} (float32 and int8 are supported; uint8 for SUM, REDUCE_MAX and REDUCE_MIN)"))),
    };
    let sum_scale = match (dtype, fold) {
        (DType::I8 | DType::U8, Fold::Sum) => ctx.per_tensor_quant(input, "input")?.0 / ctx.per_tensor_quant(output, "output")?.0,
        _ => 0.0,
    };
    let prod_quant = if (dtype, fold) == (DType::I8, Fold::Prod) {
        let (s_in, z_in) = ctx.per_tensor_quant(input, "input")?;
        let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
        let n = (n_in / n_out.max(1)) as f64;
        let (m0, shift) = quant::quantize_multiplier(s_in as f64 / (s_out as f64).powf(1.0 / n));
        Some((z_in, z_out, m0, shift))
    } else {
        None
    };
    Ok(Params { input, output, fold, dest, n_out, count: n_in / n_out.max(1), dtype, sum_quant, prod_quant, sum_method: profile.sum_method(), output_shape: ctx.shape(output), sum_scale })
}

/// TFLite's `MultiplyByQuantizedMultiplier(int64_t x, …)`: the Q31
/// multiplier rounded to 16 bits (`(M0 + 2^15) >> 16`, at most `0x7FFF`),
/// then `(x·m + 2^(14 − shift)) >> (15 − shift)`.
pub fn mbqm64(x: i64, m0: i32, shift: i32) -> i32 {
    let reduced = if m0 < 0x7FFF_0000 { ((m0 as i64) + (1 << 15)) >> 16 } else { 0x7FFF };
    let total_shift = 15 - shift as i64;
    let round = 1i64 << (total_shift - 1);
    (x.wrapping_mul(reduced).wrapping_add(round) >> total_shift) as i32
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        if self.dtype == DType::F32 {
            let v = f32s(x, self.input)?;
            let init = match self.fold {
                Fold::Sum => 0.0,
                Fold::Prod => 1.0,
                Fold::Max => f32::MIN,
                Fold::Min => f32::MAX,
            };
            let mut out = vec![init; self.n_out];
            for (&a, &o) in v.iter().zip(&self.dest) {
                out[o] = match self.fold {
                    Fold::Sum => out[o] + a,
                    Fold::Prod => out[o] * a,
                    Fold::Max => if a > out[o] { a } else { out[o] },
                    Fold::Min => if a < out[o] { a } else { out[o] },
                };
            }
            return Ok(Value { shape: self.output_shape.clone(), data: Data::F32(out) });
        }
        let q = ints(x, self.input)?;
        let out = match (self.fold, &self.sum_quant) {
            (Fold::Sum, Some((z_in, z_out, m))) => {
                // uint8 tensors are read as uint8 by every kernel; int8 ones as
                // the profile says (the bytes read as uint8, the sum clamped to
                // 0..=255 and stored as bits, in LiteRT's reference kernel).
                let as_u8 = self.dtype == DType::U8 || self.sum_method == SumMethod::ReadAsUint8;
                let (lo, hi) = if as_u8 { (0, 255) } else { (-128, 127) };
                let mut sums = vec![0i32; self.n_out];
                for (&a, &o) in q.iter().zip(&self.dest) {
                    sums[o] = sums[o].wrapping_add(if as_u8 { a & 0xff } else { a });
                }
                let n = self.count as i32;
                if self.dtype == DType::U8 && self.sum_method == SumMethod::Int8 {
                    // LiteRT's optimized uint8 SUM (`QuantizedMeanOrSum`, compute_sum):
                    // f32 `round(sum·scale + bias) + Z_out`, `bias = −Z_in·scale·n`,
                    // rounded half away from zero, cast to uint8 without a clamp.
                    let bias = -(*z_in as f32) * self.sum_scale * n as f32;
                    return Ok(narrow(
                        self.dtype,
                        &self.output_shape,
                        sums.into_iter().map(|s| (quant::round_half_away_from_zero_f32(s as f32 * self.sum_scale + bias) as i32 + z_out) as u8 as i32).collect(),
                    ));
                }
                sums.into_iter()
                    .map(|s| {
                        let y = (quant::multiply_by_quantized_multiplier_double_rounding(s.wrapping_sub(z_in * n), m.m0, m.shift) + z_out).clamp(lo, hi);
                        y as u8 as i8 as i32
                    })
                    .collect()
            }
            (Fold::Prod, _) => {
                let (z_in, z_out, m0, shift) = self.prod_quant.ok_or_else(|| EngineError::BadInput("REDUCE_PROD: no int8 parameters".into()))?;
                let mut prod: Vec<Option<i32>> = vec![None; self.n_out];
                for (&a, &o) in q.iter().zip(&self.dest) {
                    prod[o] = Some(match prod[o] {
                        None => a - z_in,
                        Some(p) => mbqm64(p as i64 * (a - z_in) as i64, m0, shift),
                    });
                }
                prod.into_iter().map(|p| (mbqm64(p.unwrap_or(1) as i64, m0, shift) + z_out).clamp(-128, 127)).collect()
            }
            (fold, _) => {
                let mut out = vec![if fold == Fold::Max { i32::MIN } else { i32::MAX }; self.n_out];
                for (&a, &o) in q.iter().zip(&self.dest) {
                    out[o] = if fold == Fold::Max { out[o].max(a) } else { out[o].min(a) };
                }
                out
            }
        };
        Ok(narrow(self.dtype, &self.output_shape, out))
    }

    pub fn describe(&self) -> String {
        match &self.sum_quant {
            Some((zi, zo, m)) => format!("sum_method = {:?}; Σ(q − {zi}) over {} × M = {}·2^({} − 31), + {zo}", self.sum_method, self.count, m.m0, m.shift),
            None => format!("none: {:?} over {} elements ({})", self.fold, self.count, self.dtype),
        }
    }
}
