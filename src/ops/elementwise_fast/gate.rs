//! MUL of a full 8-bit tensor by a **gate**: an operand repeated along the
//! leading dimensions (EfficientNet's squeeze-excitation `(1, H, W, C) ×
//! (1, 1, 1, C)`), or of the same shape (the gate then has one value per
//! element). The gate may be read through a one-input table op (the
//! squeeze-excitation's σ), so that op's own step need not run.
//!
//! **The arithmetic in 32-bit lanes.** Every profile but XNNPACK
//! requantizes the product `p = (a − Z_a)(g − Z_g)` (|p| ≤ 255²) with the
//! double-rounding `M0·2^(−right)`; [`fixed::small`] does that exactly in
//! i32 (four 32-bit multiplies, 16 lanes per AVX-512 register; two with
//! [`fixed::gated`] when the gate repeats over at least four rows). Other
//! roundings (XNNPACK's f32, a multiplier ≥ 1) run [`requantize`] on `p`
//! with the rounding fixed per call, as [`super::binary`] does.
//!
//! **The gate** is first written as centred i32 (`g − Z_g`, through the
//! table when given: one `vpermb` pass and a widening pass), so the row loop
//! reads two contiguous slices, with no per-row call.

use super::binary::{finite, in_range, per_rounding, requantize, Q8};
use super::fixed;
use super::lut::Lut;
use super::{i8_buffer, samples, u8_buffer, Lanes};
use crate::ops::{mul, KernelPath};
use crate::profile::Rounding;
use crate::tensor::{Data, Value};

/// How the gate operand repeats over the output: `Some(m)` when the output,
/// seen as rows of `m` elements, reads the gate's `m` elements in every row
/// and the other operand contiguously (`b_is_gate`: the gate is input 1).
pub fn gate_len(b: &crate::ops::add::Broadcast, b_is_gate: bool) -> Option<usize> {
    let shape = &b.output_shape;
    let (full, gate) = if b_is_gate { (&b.a_strides, &b.b_strides) } else { (&b.b_strides, &b.a_strides) };
    let rank = shape.len();
    // The full operand: contiguous in output order (size-1 dimensions aside).
    let mut stride = 1;
    for d in (0..rank).rev() {
        if shape[d] > 1 && full[d] != stride {
            return None;
        }
        stride *= shape[d];
    }
    // The gate: contiguous over a suffix of the dimensions, repeated over the rest.
    let (mut m, mut d) = (1, rank);
    while d > 0 && (shape[d - 1] == 1 || gate[d - 1] == m) {
        m *= shape[d - 1];
        d -= 1;
    }
    (0..d).all(|k| shape[k] == 1 || gate[k] == 0).then_some(m)
}

/// Every row of `m = gh.len()` elements: `o[j] = f(x[j] widened, gh[j % m], gl[j % m])`.
#[inline(always)]
fn rows2<T: Q8, F: Fn(i32, i32, i32) -> i32>(x: &[T], gh: &[i32], gl: &[i32], o: &mut [T], f: F) {
    let m = gh.len();
    for (xr, or) in x.chunks_exact(m).zip(o.chunks_exact_mut(m)) {
        for (((r, &v), &h), &l) in or.iter_mut().zip(xr).zip(gh).zip(&gl[..m]) {
            *r = T::narrow(f(v.widen(), h, l));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn rows2_avx2<T: Q8, F: Fn(i32, i32, i32) -> i32>(x: &[T], gh: &[i32], gl: &[i32], o: &mut [T], f: F) {
    rows2(x, gh, gl, o, f)
}

#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn rows2_avx512<T: Q8, F: Fn(i32, i32, i32) -> i32>(x: &[T], gh: &[i32], gl: &[i32], o: &mut [T], f: F) {
    rows2(x, gh, gl, o, f)
}

#[inline(always)]
fn rows2_lanes<T: Q8, F: Fn(i32, i32, i32) -> i32>(lanes: Lanes, x: &[T], gh: &[i32], gl: &[i32], o: &mut [T], f: F) {
    match lanes {
        // SAFETY: as in `rows_lanes`.
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        Lanes::Avx512 => unsafe { rows2_avx512(x, gh, gl, o, f) },
        #[cfg(target_arch = "x86_64")]
        Lanes::Avx2 => unsafe { rows2_avx2(x, gh, gl, o, f) },
        _ => rows2(x, gh, gl, o, f),
    }
}

/// Every row of `m = k.len()` elements: `o[j] = f(x[j] widened, k[j % m])`.
#[inline(always)]
fn rows<T: Q8, F: Fn(i32, i32) -> i32>(x: &[T], k: &[i32], o: &mut [T], f: F) {
    let m = k.len();
    for (xr, or) in x.chunks_exact(m).zip(o.chunks_exact_mut(m)) {
        for ((r, &v), &g) in or.iter_mut().zip(xr).zip(k) {
            *r = T::narrow(f(v.widen(), g));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn rows_avx2<T: Q8, F: Fn(i32, i32) -> i32>(x: &[T], k: &[i32], o: &mut [T], f: F) {
    rows(x, k, o, f)
}

#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn rows_avx512<T: Q8, F: Fn(i32, i32) -> i32>(x: &[T], k: &[i32], o: &mut [T], f: F) {
    rows(x, k, o, f)
}

#[inline(always)]
fn rows_lanes<T: Q8, F: Fn(i32, i32) -> i32>(lanes: Lanes, x: &[T], k: &[i32], o: &mut [T], f: F) {
    match lanes {
        // SAFETY: `Lanes::of` returns Avx512 only when the CPU has
        // AVX-512 F/BW/DQ/VL, and Avx2 only when it has AVX2.
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        Lanes::Avx512 => unsafe { rows_avx512(x, k, o, f) },
        #[cfg(target_arch = "x86_64")]
        Lanes::Avx2 => unsafe { rows_avx2(x, k, o, f) },
        _ => rows(x, k, o, f),
    }
}

/// The gate's bytes through the table and its centred values, kept
/// between calls (one per workspace).
#[derive(Clone, Debug, Default)]
pub struct GateScratch {
    bytes: Vec<u8>,
    k: Vec<i32>,
    /// The gate elements' [`fixed::gate_parts`].
    gh: Vec<i32>,
    gl: Vec<i32>,
}

/// MUL of `full` by `gate` into `out` (every sample of the buffers), the
/// gate repeated every `m` output elements ([`gate_len`]), read through
/// `table` when given (the gate tensor is then that op's input, and the
/// table gives the MUL's operand). `gate_is_b`: the gate is the MUL's input
/// 1. `false` when the form does not apply (then the caller materialises
/// the operand and runs another form).
#[allow(clippy::too_many_arguments)]
pub fn gate_into(path: KernelPath, p: &mul::Params, m: usize, gate_is_b: bool, full: &Value, gate: &Value, table: Option<&Lut>, out: &mut Value, s: &mut GateScratch) -> bool {
    if full.dtype() != p.output_dtype || gate.dtype() != p.output_dtype || !finite(&p.multiplier) {
        return false;
    }
    let (z_full, z_gate) = if gate_is_b { (p.z_a, p.z_b) } else { (p.z_b, p.z_a) };
    match (&full.data, &gate.data) {
        (Data::I8(xs), Data::I8(gs)) => run(path, p, m, z_full, z_gate, xs, gs, table, i8_buffer(out), s),
        (Data::U8(xs), Data::U8(gs)) => run(path, p, m, z_full, z_gate, xs, gs, table, u8_buffer(out), s),
        _ => false,
    }
}

#[allow(clippy::too_many_arguments)]
fn run<T: Q8>(path: KernelPath, p: &mul::Params, m: usize, z_full: i32, z_gate: i32, xs: &[T], gs: &[T], table: Option<&Lut>, o: &mut Vec<T>, s: &mut GateScratch) -> bool {
    let n: usize = p.broadcast.output_shape.iter().product();
    if m == 0 || n % m != 0 {
        return false;
    }
    let (Some(rx), Some(rg)) = (samples(xs.len(), n), samples(gs.len(), m)) else { return false };
    let rows_n = rx.max(rg);
    if rows_n == 0 || (rx != rows_n && rx != 1) || (rg != rows_n && rg != 1) {
        return false;
    }
    let in_range = |z: i32| in_range(T::DTYPE, z);
    let mult = p.multiplier;
    let fixed_form = p.rounding == Rounding::FixedPointDoubleRounding && mult.shift <= 0 && mult.m0 >= 0 && in_range(z_full) && in_range(z_gate);
    let (right, m_parts) = ((-mult.shift).min(31) as u32, fixed::parts(mult.m0));
    let (z_out, lo, hi) = (p.z_out, p.act_min, p.act_max);
    let lanes = Lanes::of(path);
    o.clear();
    o.resize(n * rows_n, T::default());
    s.k.resize(m, 0);
    for sample in 0..rows_n {
        let x = if rx == 1 { xs } else { &xs[sample * n..(sample + 1) * n] };
        let g = if rg == 1 { gs } else { &gs[sample * m..(sample + 1) * m] };
        let os = &mut o[sample * n..(sample + 1) * n];
        // The gate's operand values, centred (through the table when given).
        if sample == 0 || rg != 1 {
            let g = bytes(g);
            let g = match table {
                Some(t) => {
                    s.bytes.resize(m, 0);
                    t.lookup_bytes(lanes, g, &mut s.bytes);
                    &s.bytes[..]
                }
                None => g,
            };
            for (k, &q) in s.k.iter_mut().zip(g) {
                *k = T::from_bits(q).widen() - z_gate;
            }
        }
        if fixed_form && n >= 4 * m {
            // The gate repeats over at least 4 rows: its parts once, two multiplies per element.
            s.gh.resize(m, 0);
            s.gl.resize(m, 0);
            for ((h, l), &k) in s.gh.iter_mut().zip(s.gl.iter_mut()).zip(&s.k) {
                (*h, *l) = fixed::gate_parts(k, mult.m0);
            }
            rows2_lanes(lanes, x, &s.gh, &s.gl, os, #[inline(always)] move |v, h, l| fixed::gated(v - z_full, (h, l), right, z_out, lo, hi));
        } else if fixed_form {
            rows_lanes(lanes, x, &s.k, os, #[inline(always)] move |v, gk| fixed::small((v - z_full) * gk, m_parts, right, z_out, lo, hi));
        } else {
            macro_rules! product {
                ($r:expr) => {
                    rows_lanes(lanes, x, &s.k, os, move |v, gk| requantize($r, (v - z_full).wrapping_mul(gk), &mult, z_out, lo, hi))
                };
            }
            per_rounding!(p.rounding, product)
        }
    }
    true
}

/// An 8-bit buffer as its bytes.
fn bytes<T: Q8>(v: &[T]) -> &[u8] {
    // SAFETY: `Q8` is implemented for i8 and u8 only: one byte, every bit pattern valid.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len()) }
}
