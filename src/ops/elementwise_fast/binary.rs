//! ADD, SUB and MUL of 8-bit tensors in vector lanes, bit for bit the
//! reference kernels' [`add::Params::element`] and [`mul::Params::element`].
//!
//! **Why the arithmetic vectorises.** The reference `element` matches on the
//! recipe and on the profile's [`Rounding`] for every element, which keeps
//! the loop scalar. Here the match is made once per call: each arm passes a
//! closure in which the rounding is a *constant* variant, so
//! [`Rounding::apply`] inlines to that variant's arithmetic alone — one
//! `f64` multiply and `round` (DoubleHalfAway), one `f32` multiply and
//! `round_ties_even` (Float32HalfEven), or the 64-bit high multiply and
//! shift of the fixed-point rules — the same function the reference calls,
//! so the bits cannot differ. The loop over a row of contiguous elements is
//! branch-free and compiled three times (baseline, AVX2, AVX-512; see
//! [`Lanes`]), which the compiler turns into 4/8/16-lane code.
//!
//! **Broadcasting.** The broadcast is walked in rows ([`for_each_row`]): an
//! operand is contiguous along the row or one repeated value. A repeated
//! value is spread into a small stack buffer so every row runs the same
//! two-slice loop (EfficientNet's squeeze-excitation MUL of `(1, H, W, C)`
//! by `(1, 1, 1, C)` has contiguous rows of C in both operands).
//!
//! **Samples.** Several samples are read from the buffers' lengths: a
//! run-time operand holds one slice per sample, a constant one slice shared.

use super::fixed::{self, Scaled, Shifted};
use super::rows::{for_each_row, operand_sizes};
use super::{i8_buffer, samples, sized, u8_buffer, Lanes};
use crate::ops::add::{self, AddArith, Broadcast};
use crate::ops::{mul, KernelPath};
use crate::model::DType;
use crate::profile::{Multiplier, Rounding};
use crate::quant;
use crate::tensor::{Data, Value};

/// An 8-bit element: widened to i32 for the arithmetic, narrowed back after
/// the clamp (which keeps it in range).
pub trait Q8: Copy + Default {
    /// The data type of a buffer of these.
    const DTYPE: DType;
    fn widen(self) -> i32;
    fn narrow(v: i32) -> Self;
    /// The element with these bits (a table index back to a value).
    fn from_bits(b: u8) -> Self;
    /// The element's bits (its index in a 256-entry table).
    fn bits(self) -> u8;
}

impl Q8 for i8 {
    const DTYPE: DType = DType::I8;
    #[inline(always)]
    fn from_bits(b: u8) -> i8 {
        b as i8
    }
    #[inline(always)]
    fn bits(self) -> u8 {
        self as u8
    }
    #[inline(always)]
    fn widen(self) -> i32 {
        self as i32
    }
    #[inline(always)]
    fn narrow(v: i32) -> i8 {
        v as i8
    }
}

impl Q8 for u8 {
    const DTYPE: DType = DType::U8;
    #[inline(always)]
    fn from_bits(b: u8) -> u8 {
        b
    }
    #[inline(always)]
    fn bits(self) -> u8 {
        self
    }
    #[inline(always)]
    fn widen(self) -> i32 {
        self as i32
    }
    #[inline(always)]
    fn narrow(v: i32) -> u8 {
        v as u8
    }
}

/// `o[k] = f(a[k], b[k])`: the loop the compiler vectorises.
#[inline(always)]
fn zip_row<T: Q8, F: Fn(i32, i32) -> i32>(a: &[T], b: &[T], o: &mut [T], f: F) {
    for ((r, &p), &q) in o.iter_mut().zip(a).zip(b) {
        *r = T::narrow(f(p.widen(), q.widen()));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn zip_row_avx2<T: Q8, F: Fn(i32, i32) -> i32>(a: &[T], b: &[T], o: &mut [T], f: F) {
    zip_row(a, b, o, f)
}

#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn zip_row_avx512<T: Q8, F: Fn(i32, i32) -> i32>(a: &[T], b: &[T], o: &mut [T], f: F) {
    zip_row(a, b, o, f)
}

/// [`zip_row`] in the width `lanes` names.
#[inline(always)]
fn zip_lanes<T: Q8, F: Fn(i32, i32) -> i32>(lanes: Lanes, a: &[T], b: &[T], o: &mut [T], f: F) {
    match lanes {
        // SAFETY: `Lanes::of` returns Avx512 only when the CPU has
        // AVX-512 F/BW/DQ/VL, and Avx2 only when it has AVX2.
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        Lanes::Avx512 => unsafe { zip_row_avx512(a, b, o, f) },
        #[cfg(target_arch = "x86_64")]
        Lanes::Avx2 => unsafe { zip_row_avx2(a, b, o, f) },
        _ => zip_row(a, b, o, f),
    }
}

/// Elements of a repeated operand spread per call of the row loop.
const SPREAD: usize = 128;

/// One row of the broadcast: `a` and `b` start at their row's first
/// element, each contiguous (step 1) or one repeated value (step 0).
#[inline(always)]
pub(super) fn row<T: Q8, F: Fn(i32, i32) -> i32 + Copy>(lanes: Lanes, a: &[T], sa: usize, b: &[T], sb: usize, o: &mut [T], f: F) {
    let len = o.len();
    match (sa, sb) {
        (0, 0) => o.fill(T::narrow(f(a[0].widen(), b[0].widen()))),
        (0, _) => {
            let spread = [a[0]; SPREAD];
            for (oc, bc) in o.chunks_mut(SPREAD).zip(b[..len].chunks(SPREAD)) {
                zip_lanes(lanes, &spread[..oc.len()], bc, oc, f);
            }
        }
        (_, 0) => {
            let spread = [b[0]; SPREAD];
            for (oc, ac) in o.chunks_mut(SPREAD).zip(a[..len].chunks(SPREAD)) {
                zip_lanes(lanes, ac, &spread[..oc.len()], oc, f);
            }
        }
        _ => zip_lanes(lanes, &a[..len], &b[..len], o, f),
    }
}

/// `o[k] = T::narrow(g(s[k]))`: the vectorised half of a table row.
#[inline(always)]
fn map_row<T: Q8, G: Fn(i32) -> i32>(s: &[i32], o: &mut [T], g: G) {
    for (r, &v) in o.iter_mut().zip(s) {
        *r = T::narrow(g(v));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn map_row_avx2<T: Q8, G: Fn(i32) -> i32>(s: &[i32], o: &mut [T], g: G) {
    map_row(s, o, g)
}

#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn map_row_avx512<T: Q8, G: Fn(i32) -> i32>(s: &[i32], o: &mut [T], g: G) {
    map_row(s, o, g)
}

#[inline(always)]
pub(crate) fn map_lanes<T: Q8, G: Fn(i32) -> i32>(lanes: Lanes, s: &[i32], o: &mut [T], g: G) {
    match lanes {
        // SAFETY: as in `zip_lanes`.
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        Lanes::Avx512 => unsafe { map_row_avx512(s, o, g) },
        #[cfg(target_arch = "x86_64")]
        Lanes::Avx2 => unsafe { map_row_avx2(s, o, g) },
        _ => map_row(s, o, g),
    }
}

/// One row of a table form: `o[k] = g(ta[a[k·sa]] + tb[b[k·sb]])`, the
/// lookups scalar into a stack buffer, `g` in vector lanes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn table_row<T: Q8, G: Fn(i32) -> i32 + Copy>(lanes: Lanes, ta: &[i32; 256], tb: &[i32; 256], a: &[T], sa: usize, b: &[T], sb: usize, o: &mut [T], g: G) {
    let mut sums = [0i32; SPREAD];
    for (c, oc) in o.chunks_mut(SPREAD).enumerate() {
        let base = c * SPREAD;
        let sums = &mut sums[..oc.len()];
        for (k, s) in sums.iter_mut().enumerate() {
            let i = base + k;
            *s = ta[a[i * sa].bits() as usize].wrapping_add(tb[b[i * sb].bits() as usize]);
        }
        map_lanes(lanes, sums, oc, g);
    }
}

/// Run `row(o0, a, a_step, b, b_step, out_row)` over the broadcast for every
/// sample in the buffers (`a`/`b` start at the row's first element, `o0`
/// is the row's first output element within its sample).
/// `false` (then the reference runs) when the lengths are not whole
/// samples or the rank is beyond [`super::rows::MAX_RANK`].
pub(super) fn broadcast_all<T: Q8>(b: &Broadcast, xs: &[T], ys: &[T], o: &mut Vec<T>, mut row: impl FnMut(usize, &[T], usize, &[T], usize, &mut [T])) -> bool {
    let n: usize = b.output_shape.iter().product();
    let (na, nb) = operand_sizes(b);
    let (Some(ra), Some(rb)) = (samples(xs.len(), na), samples(ys.len(), nb)) else { return false };
    let rows = ra.max(rb);
    if rows == 0 || (ra != rows && ra != 1) || (rb != rows && rb != 1) {
        return false;
    }
    // Every output element is written below (the rows cover the output).
    sized(o, n * rows);
    for s in 0..rows {
        let xa = if ra == 1 { xs } else { &xs[s * na..(s + 1) * na] };
        let yb = if rb == 1 { ys } else { &ys[s * nb..(s + 1) * nb] };
        let os = &mut o[s * n..(s + 1) * n];
        if !for_each_row(b, |o0, a0, b0, sa, sb, len| row(o0, &xa[a0..], sa, &yb[b0..], sb, &mut os[o0..o0 + len])) {
            return false;
        }
    }
    true
}

/// Both operands and the output in one 8-bit dtype: `out ← f(x, y)`.
fn dispatch<F: Fn(i32, i32) -> i32 + Copy>(path: KernelPath, b: &Broadcast, x: &Value, y: &Value, out: &mut Value, f: F) -> bool {
    let lanes = Lanes::of(path);
    match (&x.data, &y.data) {
        (Data::I8(xs), Data::I8(ys)) => broadcast_all(b, xs, ys, i8_buffer(out), |_, a, sa, b, sb, o| row(lanes, a, sa, b, sb, o, f)),
        (Data::U8(xs), Data::U8(ys)) => broadcast_all(b, xs, ys, u8_buffer(out), |_, a, sa, b, sb, o| row(lanes, a, sa, b, sb, o, f)),
        _ => false,
    }
}

/// The left-shift-20 ADD's two per-input halves as tables: with 8-bit
/// inputs, `a' = round(M_a·((a − Z_a)·2^20))` has 256 possible values, and
/// so does `±b'`; the reference computes them with the same function, so
/// looking them up gives its bits. Only the last rounding, of `a' ± b'`,
/// is computed per element (in vector lanes). Keep one per ADD step: the
/// tables are built on first use and rebuilt if the step's constants differ.
#[derive(Clone, Debug, Default)]
pub struct AddTables {
    key: Option<AddKey>,
    /// Empty until first used (a workspace keeps one per step).
    a: Vec<i32>,
    b: Vec<i32>,
}

/// What the tables depend on: the dtype, `left_shift`, `Z_a`, `Z_b`, `M_a`,
/// `M_b`, the rounding and the sign of `b`.
type AddKey = (DType, i32, i32, i32, Multiplier, Multiplier, Rounding, i32);

impl AddTables {
    #[allow(clippy::too_many_arguments)]
    fn get<T: Q8>(&mut self, left_shift: i32, z_a: i32, z_b: i32, m_a: Multiplier, m_b: Multiplier, rounding: Rounding, sign_b: i32) -> (&[i32; 256], &[i32; 256]) {
        let key = Some((T::DTYPE, left_shift, z_a, z_b, m_a, m_b, rounding, sign_b));
        if self.key != key {
            self.a.resize(256, 0);
            self.b.resize(256, 0);
            for k in 0..256 {
                let v = T::from_bits(k as u8).widen();
                self.a[k] = rounding.apply((v - z_a).wrapping_mul(1 << left_shift), &m_a);
                self.b[k] = sign_b.wrapping_mul(rounding.apply((v - z_b).wrapping_mul(1 << left_shift), &m_b));
            }
            self.key = key;
        }
        (whole(&self.a), whole(&self.b))
    }
}

/// The reference's `(r.apply(acc, m) as i64 + z_out).clamp(lo, hi)`,
/// rearranged so that, with `r` a constant, it vectorises — and gives the
/// same integer for every `acc`:
///
/// * the float rules add `z_out` and clamp in the float type, then convert:
///   the rounded value is an integer, exact in the float type below 2^53
///   (f64) or 2^24 (f32), and beyond that far outside `[lo, hi]` on the
///   same side as the reference's saturated i32, so both clamp alike; the
///   conversion of a value already in `[lo, hi]` needs none of `as`'s
///   saturation, which is what keeps the reference loop scalar;
/// * the fixed-point rules clamp to `[lo − z_out, hi − z_out]` and add
///   `z_out`, the same as adding then clamping, in i32 without overflow.
///
/// The multiplier must be finite (every multiplier the ops prepare is), so
/// the float products are never NaN.
#[inline(always)]
pub(crate) fn requantize(r: Rounding, acc: i32, m: &Multiplier, z_out: i32, lo: i32, hi: i32) -> i32 {
    match r {
        Rounding::DoubleHalfAway => {
            let y = (quant::round_half_away_from_zero(acc as f64 * m.real) + z_out as f64).clamp(lo as f64, hi as f64);
            // SAFETY: `y` is an integer in [lo, hi] (not NaN: `m.real` is finite).
            unsafe { y.to_int_unchecked::<i32>() }
        }
        Rounding::Float32HalfEven => {
            let y = (quant::round_half_to_even_f32(acc as f32 * m.real_f32) + z_out as f32).clamp(lo as f32, hi as f32);
            // SAFETY: as above, with `m.real_f32` finite.
            unsafe { y.to_int_unchecked::<i32>() }
        }
        r => r.apply(acc, m).clamp(lo - z_out, hi - z_out) + z_out,
    }
}

/// True when [`requantize`]'s float forms are defined for `m`.
pub(crate) fn finite(m: &Multiplier) -> bool {
    m.real.is_finite() && m.real_f32.is_finite()
}

/// Call `$run` with a closure for each [`Rounding`] variant, the variant a
/// constant inside it: `$make!(Rounding::X)` builds the closure.
macro_rules! per_rounding {
    ($rounding:expr, $make:ident) => {
        match $rounding {
            Rounding::DoubleHalfAway => $make!(Rounding::DoubleHalfAway),
            Rounding::FixedPointDoubleRounding => $make!(Rounding::FixedPointDoubleRounding),
            Rounding::FixedPointSingleRounding => $make!(Rounding::FixedPointSingleRounding),
            Rounding::FixedPointTiesUp => $make!(Rounding::FixedPointTiesUp),
            Rounding::Float32HalfEven => $make!(Rounding::Float32HalfEven),
        }
    };
}
pub(crate) use per_rounding;

/// ADD or SUB into `out` (every sample of the buffers); `false` when this
/// form does not apply (then the reference `eval` runs). `tables` caches the
/// left-shift recipe's per-input halves (one per step).
pub fn add_into(path: KernelPath, p: &add::Params, x: &Value, y: &Value, out: &mut Value, tables: &mut AddTables) -> bool {
    if x.dtype() != p.output_dtype {
        return false;
    }
    // add_ties (issue 14): LiteRT builtin's NEON blocks
    if let Some(n) = &p.neon {
        return super::add_neon::add_neon_into(path, p, n, x, y, out);
    }
    let (z_out, lo, hi) = (p.z_out, p.act_min, p.act_max);
    match p.arith {
        AddArith::Xnnpack { m_a, m_b, bias, shift } => dispatch(path, &p.broadcast, x, y, out, move |a, b| {
            let acc = bias.wrapping_add(a.wrapping_mul(m_a)).wrapping_add(b.wrapping_mul(m_b));
            (acc >> shift).clamp(lo - z_out, hi - z_out) + z_out
        }),
        AddArith::LeftShift { left_shift, z_a, z_b, m_a, m_b, m_out, rounding, sign_b } => {
            if !finite(&m_out) {
                return false;
            }
            // The double rounding in i32 lanes ([`fixed`]): both halves and the sum's rounding.
            if let Some(k) = AddFixed::of(p, x.dtype()) {
                // Each half as one floor ([`fixed::Scaled`]) and the sign a constant, where they apply.
                return match (k.scaled, k.sign_b) {
                    (Some(h), 1) => dispatch(path, &p.broadcast, x, y, out, #[inline(always)] move |a, b| add_scaled::<false>(a, b, &k, h)),
                    (Some(h), -1) => dispatch(path, &p.broadcast, x, y, out, #[inline(always)] move |a, b| add_scaled::<true>(a, b, &k, h)),
                    _ => dispatch(path, &p.broadcast, x, y, out, #[inline(always)] move |a, b| add_fixed(a, b, &k)),
                };
            }
            let lanes = Lanes::of(path);
            macro_rules! left_shift {
                ($r:expr) => {{
                    let g = move |sum: i32| requantize($r, sum, &m_out, z_out, lo, hi);
                    match (&x.data, &y.data) {
                        (Data::I8(xs), Data::I8(ys)) => {
                            let (ta, tb) = tables.get::<i8>(left_shift, z_a, z_b, m_a, m_b, rounding, sign_b);
                            broadcast_all(&p.broadcast, xs, ys, i8_buffer(out), |_, a, sa, b, sb, o| table_row(lanes, ta, tb, a, sa, b, sb, o, g))
                        }
                        (Data::U8(xs), Data::U8(ys)) => {
                            let (ta, tb) = tables.get::<u8>(left_shift, z_a, z_b, m_a, m_b, rounding, sign_b);
                            broadcast_all(&p.broadcast, xs, ys, u8_buffer(out), |_, a, sa, b, sb, o| table_row(lanes, ta, tb, a, sa, b, sb, o, g))
                        }
                        _ => false,
                    }
                }};
            }
            per_rounding!(rounding, left_shift)
        }
    }
}

/// The left-shift ADD's constants for [`add_fixed`].
#[derive(Clone, Copy)]
pub(super) struct AddFixed {
    z_a: i32,
    z_b: i32,
    ka: Shifted,
    kb: Shifted,
    ra: u32,
    rb: u32,
    sign_b: i32,
    left_o: u32,
    m0: i32,
    ro: u32,
    z_out: i32,
    lo: i32,
    hi: i32,
    /// Both halves' [`fixed::Scaled`] constants, when they apply and the
    /// sum's rounding stays within [`fixed::rdbp_small`]'s bound.
    scaled: Option<(Scaled, Scaled)>,
}

impl AddFixed {
    /// The constants of `p` (the left-shift recipe with the fixed-point
    /// double rounding) on `dtype` inputs, when the i32-lane form holds.
    pub(super) fn of(p: &add::Params, dtype: DType) -> Option<AddFixed> {
        let AddArith::LeftShift { left_shift, z_a, z_b, m_a, m_b, m_out, rounding, sign_b } = p.arith else { return None };
        let (ka, kb) = (Shifted::new(m_a.m0, left_shift + m_a.shift.max(0)), Shifted::new(m_b.m0, left_shift + m_b.shift.max(0)));
        let (Rounding::FixedPointDoubleRounding, Some(ka), Some(kb), true, true, true) = (rounding, ka, kb, in_range(dtype, z_a), in_range(dtype, z_b), m_out.m0 >= 0) else {
            return None;
        };
        let right = |m: &Multiplier| (-m.shift).clamp(0, 31) as u32;
        let (z_out, lo, hi) = (p.z_out, p.act_min, p.act_max);
        let half = |m: &Multiplier| Scaled::new(m.m0, left_shift + m.shift.max(0), right(m) as i32);
        // The sum's rounding by `rdbp_small` needs |SRDHM(sum·2^left_o, M0)| < 2^30,
        // which |sum|·2^left_o < 2^30 gives (|SRDHM(v, M0)| ≤ |v|); the halves
        // are monotone in d, so their extremes are at d = ±255.
        let (small_sum, left_o) = (|h: &(Scaled, Scaled)| {
            let most = |s: Scaled| (fixed::scaled(255, s) as i64).abs().max((fixed::scaled(-255, s) as i64).abs());
            (most(h.0) + most(h.1)) << m_out.shift.max(0) < 1 << 30
        }, m_out.shift.max(0) as u32);
        let scaled = half(&m_a).zip(half(&m_b)).filter(small_sum);
        Some(AddFixed { z_a, z_b, ka, kb, ra: right(&m_a), rb: right(&m_b), sign_b, left_o, m0: m_out.m0, ro: right(&m_out), z_out, lo, hi, scaled })
    }
}

/// The left-shift ADD's element with the double rounding in i32 lanes
/// ([`fixed`]): both halves, their sum, its rounding, the clamp. Always
/// inlined, so the row loop it is called from vectorises.
#[inline(always)]
pub(super) fn add_fixed(a: i32, b: i32, k: &AddFixed) -> i32 {
    let sa = fixed::rdbp(fixed::shifted(a - k.z_a, k.ka), k.ra);
    let sb = fixed::rdbp(fixed::shifted(b - k.z_b, k.kb), k.rb);
    let sum = sa.wrapping_add(k.sign_b.wrapping_mul(sb));
    let y = fixed::rdbp(fixed::srdhm(sum.wrapping_mul(1i32.wrapping_shl(k.left_o)), k.m0), k.ro);
    y.clamp(k.lo - k.z_out, k.hi - k.z_out) + k.z_out
}

/// [`add_fixed`] with each half as one floor ([`fixed::scaled`], `h` from
/// [`AddFixed::scaled`]) and `sign_b` the constant `−1` (`NEG`) or `1`.
#[inline(always)]
fn add_scaled<const NEG: bool>(a: i32, b: i32, k: &AddFixed, (ha, hb): (Scaled, Scaled)) -> i32 {
    let (sa, sb) = (fixed::scaled(a - k.z_a, ha), fixed::scaled(b - k.z_b, hb));
    let sum = if NEG { sa.wrapping_sub(sb) } else { sa.wrapping_add(sb) };
    let y = fixed::rdbp_small(fixed::srdhm(sum.wrapping_mul(1i32.wrapping_shl(k.left_o)), k.m0), k.ro);
    y.clamp(k.lo - k.z_out, k.hi - k.z_out) + k.z_out
}

/// True when `z` is a value of the 8-bit `dtype` (so `|q − z| ≤ 255` for every `q`).
pub(crate) fn in_range(dtype: DType, z: i32) -> bool {
    match dtype {
        DType::U8 => (0..=255).contains(&z),
        _ => (-128..=127).contains(&z),
    }
}

fn whole(t: &[i32]) -> &[i32; 256] {
    t.try_into().expect("256 entries, set by AddTables::get")
}

/// MUL into `out` (every sample of the buffers); `false` when this form
/// does not apply.
pub fn mul_into(path: KernelPath, p: &mul::Params, x: &Value, y: &Value, out: &mut Value) -> bool {
    if x.dtype() != p.output_dtype {
        return false;
    }
    let (z_a, z_b, z_out, lo, hi, m) = (p.z_a, p.z_b, p.z_out, p.act_min, p.act_max, p.multiplier);
    if !finite(&m) {
        return false;
    }
    if p.rounding == Rounding::FixedPointDoubleRounding && m.shift <= 0 && m.m0 >= 0 && in_range(x.dtype(), z_a) && in_range(x.dtype(), z_b) {
        // |p| ≤ 255²: the double rounding in i32 lanes ([`fixed::small`]).
        let (parts, right) = (fixed::parts(m.m0), (-m.shift).min(31) as u32);
        return dispatch(path, &p.broadcast, x, y, out, #[inline(always)] move |a, b| fixed::small((a - z_a) * (b - z_b), parts, right, z_out, lo, hi));
    }
    macro_rules! product {
        ($r:expr) => {
            dispatch(path, &p.broadcast, x, y, out, move |a, b| {
                let prod = (a - z_a).wrapping_mul(b - z_b);
                requantize($r, prod, &m, z_out, lo, hi)
            })
        };
    }
    per_rounding!(p.rounding, product)
}
