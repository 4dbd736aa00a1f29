//! RESIZE_BILINEAR: each output pixel is the weighted mean of the four input
//! pixels around its source position.
//!
//! Output coordinate y maps to the source position `y·scale` (or
//! `(y + ½)·scale − ½` with `half_pixel_centers`), `scale = in / out` (or
//! `(in − 1)/(out − 1)` with `align_corners`); `y0 = max(⌊pos⌋, 0)`,
//! `y1 = min(⌈pos⌉, in − 1)`, and the value is
//!
//! ```text
//! v = in[y0,x0]·(1−dy)(1−dx) + in[y1,x0]·dy(1−dx) + in[y0,x1]·(1−dy)dx + in[y1,x1]·dy·dx,   dy = pos − y0
//! ```
//!
//! **int8** (LiteRT `reference_ops::ResizeBilinear` for int8, which every
//! LiteRT kernel set and TFLite Micro run): positions in Q10 fixed point,
//! `scale₁₀ = (2¹⁰·in + out/2) / out` (integer division), `pos₁₀ = y·scale₁₀`
//! (or `y·scale₁₀ + scale₁₀/2 − 2⁹`), the four products summed in Q20 and
//! divided by 2²⁰ rounding half away from zero. In and out share scale and
//! zero point, so the raw integers are interpolated.
//!
//! **float32**: the same formula in f32, evaluated left to right as the
//! reference writes it, plus its `rounding_offset` (0.0 for float: a −0.0
//! sum becomes +0.0).
//!
//! **XNNPACK** ([`Profile::bilinear_method`]) computes the source position in
//! f32 as `y·scale` (align_corners, or no half_pixel_centers: "TensorFlow
//! legacy") or `y·scale + (½·scale − ½)` clamped to `[0, in − 1]`, takes
//! `top = ⌊pos⌋`, `bottom = min(top + 1, in − 1)`, and the weight
//! `α = lrintf((pos − top)·2¹¹)` (Q11, ties to even). int8 interpolates in
//! two steps, `t = (tl≪11) + (tr − tl)·αx`, `b = (bl≪11) + (br − bl)·αx`,
//! `acc = (t≪11) + (b − t)·αy`, `q = (acc + 2²¹) ≫ 22`; f32 does the same
//! with `t = tl + (tr − tl)·αx`, … and `α = pos − top` unrounded.

use super::index_map::{require_4d, same_type_io};
use super::resize_nearest_neighbor::{output_size, require_pixels, resize_flags};
use super::OpContext;
use crate::error::EngineError;
use crate::model::DType;
use crate::profile::{BilinearMethod, BilinearUint8Method, Profile};
use crate::tensor::{Data, Value};

/// One output coordinate's source: the two input rows (or columns) and the weight of the second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tap<W> {
    pub lo: usize,
    pub hi: usize,
    /// The source position (`pos`, Q10 for int8, f32 for float).
    pub pos: W,
}

/// Everything RESIZE_BILINEAR needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub input_shape: [usize; 4],
    pub output_shape: [usize; 4],
    pub align_corners: bool,
    pub half_pixel_centers: bool,
    pub arith: Arith,
}

/// The taps of every output row and column, by dtype.
#[derive(Clone, Debug)]
pub enum Arith {
    /// Q10 positions (int8).
    Integer { ys: Vec<Tap<i32>>, xs: Vec<Tap<i32>>, dtype: DType },
    Float { ys: Vec<Tap<f32>>, xs: Vec<Tap<f32>> },
    /// XNNPACK: `pos` holds α in Q11 (int8) …
    XnnpackQ11 { ys: Vec<Tap<i32>>, xs: Vec<Tap<i32>>, dtype: DType },
    /// … or α as f32 (float32).
    XnnpackFloat { ys: Vec<Tap<f32>>, xs: Vec<Tap<f32>> },
    /// uint8 in LiteRT's float formulas on the integers, plus 0.5, truncated
    /// by `static_cast<uint8_t>` ([`BilinearUint8Method`]; issue 14, `uint8_ops`).
    Uint8Float { ys: Vec<Tap<f32>>, xs: Vec<Tap<f32>>, optimized: bool },
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let (input, output, _, _) = same_type_io(ctx)?;
    let is = require_4d(ctx, input, "input")?;
    require_pixels(ctx, &is)?;
    let (align, half) = resize_flags(ctx)?;
    if align && half {
        return Err(ctx.bad("align_corners and half_pixel_centers are both set"));
    }
    let (oh, ow) = output_size(ctx)?;
    let os = [is[0], oh, ow, is[3]];
    if ctx.shape(output) != os {
        return Err(ctx.bad(format!("output shape {:?}, expected {os:?}", ctx.shape(output))));
    }
    let xnn = |n_in, n_out| xnnpack_taps(n_in, n_out, align, half);
    let arith = match (ctx.dtype(input), profile.bilinear_method()) {
        (DType::F32, BilinearMethod::Xnnpack) => Arith::XnnpackFloat { ys: xnn(is[1], oh), xs: xnn(is[2], ow) },
        (DType::I8, BilinearMethod::Xnnpack) => {
            let q11 = |t: Vec<Tap<f32>>| t.into_iter().map(|t| Tap { lo: t.lo, hi: t.hi, pos: (t.pos * 2048.0).round_ties_even() as i32 }).collect();
            Arith::XnnpackQ11 { ys: q11(xnn(is[1], oh)), xs: q11(xnn(is[2], ow)), dtype: DType::I8 }
        }
        (DType::F32, _) => Arith::Float { ys: taps_f32(is[1], oh, align, half), xs: taps_f32(is[2], ow, align, half) },
        // uint8 takes the float formula in LiteRT; only int8 takes Q10.
        (DType::I8, _) => Arith::Integer { ys: taps_q10(is[1], oh, align, half), xs: taps_q10(is[2], ow, align, half), dtype: DType::I8 },
        (DType::U8, _) => match profile.bilinear_uint8_method() {
            BilinearUint8Method::Xnnpack => {
                let q11 = |t: Vec<Tap<f32>>| t.into_iter().map(|t| Tap { lo: t.lo, hi: t.hi, pos: (t.pos * 2048.0).round_ties_even() as i32 }).collect();
                Arith::XnnpackQ11 { ys: q11(xnn(is[1], oh)), xs: q11(xnn(is[2], ow)), dtype: DType::U8 }
            }
            m => Arith::Uint8Float {
                ys: taps_f32(is[1], oh, align, half),
                xs: taps_f32(is[2], ow, align, half),
                optimized: m == BilinearUint8Method::OptimizedWeights,
            },
        },
        (other, _) => return Err(ctx.unsupported(format!("input dtype {other} (int8, uint8 and float32 are supported)"))),
    };
    Ok(Params { input, output, input_shape: is, output_shape: os, align_corners: align, half_pixel_centers: half, arith })
}

/// Float taps (`ComputeInterpolationValues`, f32).
pub fn taps_f32(n_in: usize, n_out: usize, align: bool, half: bool) -> Vec<Tap<f32>> {
    let scale = if align && n_out > 1 { (n_in - 1) as f32 / (n_out - 1) as f32 } else { n_in as f32 / n_out as f32 };
    (0..n_out)
        .map(|v| {
            let pos = if half { (v as f32 + 0.5) * scale - 0.5 } else { v as f32 * scale };
            let lo = (pos.floor() as i64).max(0) as usize;
            let hi = (pos.ceil() as i64).min(n_in as i64 - 1).max(0) as usize;
            Tap { lo, hi, pos }
        })
        .collect()
}

/// Q10 taps (`ComputeInterpolationValues`, int32; C division truncates toward zero).
pub fn taps_q10(n_in: usize, n_out: usize, align: bool, half: bool) -> Vec<Tap<i32>> {
    let (n_in, n_out) = (n_in as i32, n_out as i32);
    let scale = if align && n_out > 1 { ((1 << 10) * (n_in - 1) + (n_out - 1) / 2) / (n_out - 1) } else { ((1 << 10) * n_in + n_out / 2) / n_out };
    (0..n_out)
        .map(|v| {
            let pos = if half { v * scale + scale / 2 - (1 << 9) } else { v * scale };
            let lo = (pos / (1 << 10)).max(0) as usize;
            let hi = ((pos + (1 << 10) - 1) / (1 << 10)).min(n_in - 1) as usize;
            Tap { lo, hi, pos }
        })
        .collect()
}

/// XNNPACK's taps (`xnn_indirection_init_resize_bilinear2d_hwc_*`): `pos`
/// holds the weight α = pos − top of the bottom (right) neighbour, in f32.
pub fn xnnpack_taps(n_in: usize, n_out: usize, align: bool, half: bool) -> Vec<Tap<f32>> {
    let adjust = usize::from(align && n_out != 1);
    let scale = (n_in - adjust) as f32 / (n_out - adjust) as f32;
    let max = n_in - 1;
    (0..n_out)
        .map(|v| {
            let pos = if align || !half {
                v as f32 * scale
            } else {
                (v as f32 * scale + (0.5 * scale - 0.5)).max(0.0).min(max as f32)
            };
            let lo = pos as usize;
            Tap { lo, hi: (lo + 1).min(max), pos: pos - lo as f32 }
        })
        .collect()
}

impl Params {
    /// Every output element in order: `f(corners, ty, tx)` with the flat
    /// offsets of its four neighbours `[top-left, top-right, bottom-left,
    /// bottom-right]` (`top` = `lo` row, `left` = `lo` column) and its taps.
    fn interpolate<W: Copy, T>(&self, ys: &[Tap<W>], xs: &[Tap<W>], mut f: impl FnMut([usize; 4], &Tap<W>, &Tap<W>) -> T) -> Vec<T> {
        let [n, h, w, c] = self.input_shape;
        let at = |b: usize, y: usize, x: usize| ((b * h + y) * w + x) * c;
        let mut out = Vec::with_capacity(self.output_shape.iter().product());
        for b in 0..n {
            for ty in ys {
                for tx in xs {
                    let corners = [at(b, ty.lo, tx.lo), at(b, ty.lo, tx.hi), at(b, ty.hi, tx.lo), at(b, ty.hi, tx.hi)];
                    for k in 0..c {
                        out.push(f(corners.map(|o| o + k), ty, tx));
                    }
                }
            }
        }
        out
    }

    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        let expected: usize = self.input_shape.iter().product();
        if x.len() != expected {
            return Err(EngineError::BadInput(format!("tensor {} has {} elements where {expected} were expected", self.input, x.len())));
        }
        let shape = self.output_shape.to_vec();
        let floats = || x.as_f32().ok_or_else(|| EngineError::BadInput(format!("tensor {} is {} where float32 was expected", self.input, x.dtype())));
        Ok(match &self.arith {
            Arith::Float { ys, xs } => {
                let v = floats()?;
                let out = self.interpolate(ys, xs, |[tl, tr, bl, br], ty, tx| {
                    let (dy, dx) = (ty.pos - ty.lo as f32, tx.pos - tx.lo as f32);
                    // `+ 0.0`: the reference's `rounding_offset` (0.5 for integer T,
                    // 0.0 for float), which turns a −0.0 sum into +0.0.
                    v[tl] * (1.0 - dy) * (1.0 - dx) + v[bl] * dy * (1.0 - dx) + v[tr] * (1.0 - dy) * dx + v[br] * dy * dx + 0.0
                });
                Value { shape, data: Data::F32(out) }
            }
            Arith::Uint8Float { ys, xs, optimized } => {
                let q = super::ints(x, self.input)?;
                let out = self.interpolate(ys, xs, |[tl, tr, bl, br], ty, tx| {
                    let (dy, dx) = (ty.pos - ty.lo as f32, tx.pos - tx.lo as f32);
                    let v = |i: usize| q[i] as f32;
                    let sum = if *optimized {
                        v(tl) * ((1.0 - dy) * (1.0 - dx)) + v(tr) * ((1.0 - dy) * dx) + v(bl) * (dy * (1.0 - dx)) + v(br) * (dy * dx)
                    } else {
                        v(tl) * (1.0 - dy) * (1.0 - dx) + v(bl) * dy * (1.0 - dx) + v(tr) * (1.0 - dy) * dx + v(br) * dy * dx
                    };
                    (sum + 0.5) as i32
                });
                super::narrow(DType::U8, &shape, out)
            }
            Arith::XnnpackFloat { ys, xs } => {
                let v = floats()?;
                let out = self.interpolate(ys, xs, |[tl, tr, bl, br], ty, tx| {
                    let t = v[tl] + (v[tr] - v[tl]) * tx.pos;
                    let b = v[bl] + (v[br] - v[bl]) * tx.pos;
                    t + (b - t) * ty.pos
                });
                Value { shape, data: Data::F32(out) }
            }
            Arith::XnnpackQ11 { ys, xs, dtype } => {
                let q = super::ints(x, self.input)?;
                let out = self.interpolate(ys, xs, |[tl, tr, bl, br], ty, tx| {
                    let t = (q[tl] << 11) + (q[tr] - q[tl]) * tx.pos;
                    let b = (q[bl] << 11) + (q[br] - q[bl]) * tx.pos;
                    ((t << 11) + (b - t) * ty.pos + (1 << 21)) >> 22
                });
                super::narrow(*dtype, &shape, out)
            }
            Arith::Integer { ys, xs, dtype } => {
                let q = super::ints(x, self.input)?;
                let out = self.interpolate(ys, xs, |[tl, tr, bl, br], ty, tx| {
                    let fy = (ty.pos - (1 << 10) * ty.lo as i32) as i64;
                    let fx = (tx.pos - (1 << 10) * tx.lo as i32) as i64;
                    let sum = q[tl] as i64 * ((1 << 10) - fy) * ((1 << 10) - fx)
                        + q[bl] as i64 * fy * ((1 << 10) - fx)
                        + q[tr] as i64 * ((1 << 10) - fy) * fx
                        + q[br] as i64 * fy * fx;
                    let round = if sum > 0 { 1 << 19 } else { -(1 << 19) };
                    ((sum + round) / (1 << 20)) as i32
                });
                super::narrow(*dtype, &shape, out)
            }
        })
    }
}
