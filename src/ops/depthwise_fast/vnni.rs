//! An int8 DEPTHWISE_CONV_2D on AVX-512 VNNI: four taps per instruction.
//!
//! # Why
//!
//! The AVX2 kernel ([`super::x86`]) spends per tap and 8 channels two
//! widening loads (input and weight bytes to i32), one `vpmulld` and one
//! add. `vpdpbusd` multiplies four unsigned bytes by four signed bytes and
//! adds the four products to an i32 lane: with the input bytes of **four
//! taps of one channel** side by side in a lane, one instruction does four
//! taps of eight channels (a `ymm`), exactly.
//!
//! # The derivation
//!
//! 1. **Signed input as unsigned bytes.** `x' = x XOR 0x80 = x + 128 ∈
//!    [0, 255]`, so `Σ x·w = Σ x'·w − 128·Σ w`. The second sum runs over the
//!    pixel's rectangle of taps, one of a few classes (see the parent
//!    module): it joins the class's offset, `bias − (Z1 + 128)·Σ_rect w`.
//!    Every product and sum is an exact integer, and the adds wrap like the
//!    runtimes' int32 (`vpdpbusd` does not saturate). The XOR is done once
//!    per image into a scratch copy: each input byte is read by several taps.
//! 2. **Four taps in a lane, by two in-lane interleaves.** For 32 channels
//!    and taps `t0..t3` (32 input bytes each), `unpack{lo,hi}_epi8(t0, t1)`
//!    and `(t2, t3)` give pairs, `unpack{lo,hi}_epi16` of those give
//!    quadruples. Because AVX2 unpacks work inside each 128-bit half, the
//!    four results hold channels `{0–3, 16–19}`, `{4–7, 20–23}`,
//!    `{8–11, 24–27}`, `{12–15, 28–31}`: accumulator `k`, lane `i` is
//!    channel `4k + i` (`i < 4`) or `16 + 4k + i − 4`. Weights, offsets and
//!    the requantization table are stored in that order (prepare), and the
//!    narrowing packs (`packs_epi32` of accumulators 0,1 and 2,3, then
//!    `packs_epi16`), also in-lane, put the 32 bytes back in channel order:
//!    one store.
//! 3. **The rectangle's taps as a list.** Per class, the byte offsets of its
//!    taps from the pixel's first inside tap, padded with weight-0 taps to a
//!    multiple of four (a 3×3 interior: 9 taps, three instructions per
//!    accumulator; a 1×1 map under a 3×3 kernel: one tap, one group).
//!
//! A unit's last block of at most 16 lanes runs as four `xmm` (16 input
//! bytes per tap): the interleaves then leave the channels in order, and
//! two 8-lane requantizations replace four.
//!
//! Narrow layers take their longest run of same-class columns as one wide
//! pixel, as the parent's [`Run`](super::Run) does (lane `j` is channel
//! `j mod C` of pixel `a + j div C`). A block of fewer than 32 lanes (the
//! last of a pixel) loads through a zeroed copy when 32 bytes would run past
//! the image, and stores only its bytes.

use super::{Packed, Span};
use crate::ops::conv::Geometry;
use crate::ops::requant::{requantize8, RequantTable};
use crate::profile::{Multiplier, Rounding};
use std::arch::x86_64::*;

/// Lanes per block: four accumulators of 8 i32.
const LANES: usize = 32;

/// One class's taps and tables, for a [`Unit`].
#[derive(Clone, Debug)]
struct Class {
    /// Byte offsets of the taps from the pixel's first inside tap, a multiple of 4 long.
    taps: Vec<usize>,
    /// Per group of four taps, `lpad` positions, 4 bytes (the group's taps) each.
    weights: Vec<i8>,
    /// Per position: `bias − (Z1 + 128)·Σ_rect w` (wrapping).
    offsets: Vec<i32>,
}

/// Pixels (or a run of pixels) taken as `lanes` lanes, in blocks of 32.
#[derive(Clone, Debug)]
struct Unit {
    lanes: usize,
    /// `lanes` rounded up to 32.
    lpad: usize,
    /// Pixel unit: by class `row_class · col_classes + col_class`; run: by row class.
    classes: Vec<Class>,
    /// The requantization, position by position (padding: channel 0's).
    table: RequantTable,
}

/// The VNNI form of a [`Packed`] int8 layer.
#[derive(Clone, Debug)]
pub(super) struct Vnni {
    pixel: Unit,
    /// Columns `a..b` (column stride 1, one class) as one pixel.
    run: Option<(usize, usize, Unit)>,
}

/// Logical lane (within a full block of 32) of position `p = 8k + i`.
fn lane_of(p: usize) -> usize {
    let (k, i) = (p / 8, p % 8);
    if i < 4 {
        4 * k + i
    } else {
        16 + 4 * k + i - 4
    }
}

/// Logical lane of position `p` in a unit of `lanes` lanes: in a last block
/// of at most 16 lanes (taken as four `xmm`, channels in order) the lane is
/// the position.
fn lane_at(p: usize, lanes: usize) -> usize {
    let base = p / LANES * LANES;
    if lanes - base.min(lanes) <= LANES / 2 {
        p
    } else {
        base + lane_of(p % LANES)
    }
}

/// True when this CPU runs the kernel.
pub(super) fn available() -> bool {
    crate::ops::gemm::KernelPath::Avx512Vnni.is_available() && std::arch::is_x86_feature_detected!("avx512vl")
}

impl Vnni {
    /// The VNNI form of an int8 layer: `centered` its weights `[tap][C]`,
    /// `bias`, `z1`, `multipliers` as in [`super::pack`].
    pub(super) fn new(pk: &Packed, g: &Geometry, centered: &[i32], bias: &[i32], z1: i32, multipliers: &[Multiplier]) -> Vnni {
        let c = pk.channels;
        let first = |spans: &[Span], class: usize| *spans.iter().find(|s| s.class == class).expect("every class has a span");
        let row_classes = pk.rows.iter().map(|r| r.class).max().map_or(0, |m| m + 1);
        // The class of row class `rc` and column class `cc`, for `lanes` lanes of channel `ch(j)`.
        let class = |rc: usize, cc: usize, lanes: usize, lpad: usize| {
            let (r, s) = (first(&pk.rows, rc), first(&pk.cols, cc));
            let mut taps = Vec::new();
            let mut list = Vec::new();
            for ky in r.k0..r.k1 {
                for kx in s.k0..s.k1 {
                    taps.push(((ky - r.k0) * g.dil_h * g.in_w + (kx - s.k0) * g.dil_w) * c);
                    list.push(ky * g.k_w + kx);
                }
            }
            let real = list.len();
            taps.resize(real.div_ceil(4) * 4, 0);
            let mut weights = vec![0i8; taps.len() / 4 * lpad * 4];
            let mut offsets = vec![0i32; lpad];
            for p in 0..lpad {
                let j = lane_at(p, lanes);
                if j >= lanes {
                    continue;
                }
                let ch = j % c;
                let mut sum = 0i32;
                for (n, &t) in list.iter().enumerate() {
                    let w = centered[t * c + ch];
                    sum = sum.wrapping_add(w);
                    weights[((n / 4) * lpad + p) * 4 + n % 4] = w as i8;
                }
                offsets[p] = bias[ch].wrapping_sub(z1.wrapping_add(128).wrapping_mul(sum));
            }
            Class { taps, weights, offsets }
        };
        let table = |lanes: usize, lpad: usize| {
            let m: Vec<Multiplier> = (0..lpad)
                .map(|p| {
                    let j = lane_at(p, lanes);
                    multipliers[if j < lanes { j % c } else { 0 }]
                })
                .collect();
            let t = &pk.table;
            RequantTable::new(t.rounding, &m, t.z3, t.act_min, t.act_max)
        };
        let lpad = c.div_ceil(LANES) * LANES;
        let classes = (0..row_classes).flat_map(|rc| (0..pk.col_classes).map(move |cc| (rc, cc))).map(|(rc, cc)| class(rc, cc, c, lpad)).collect();
        let pixel = Unit { lanes: c, lpad, classes, table: table(c, lpad) };
        // The longest run of at least two same-class columns, when C is not a multiple of 32.
        let mut run = None;
        if c % LANES != 0 && g.stride_w == 1 {
            let (a, b) = super::longest_run(&pk.cols);
            if b - a >= 2 {
                let lanes = (b - a) * c;
                let lpad = lanes.div_ceil(LANES) * LANES;
                let cc = pk.cols[a].class;
                let classes = (0..row_classes).map(|rc| class(rc, cc, lanes, lpad)).collect();
                run = Some((a, b, Unit { lanes, lpad, classes, table: table(lanes, lpad) }));
            }
        }
        Vnni { pixel, run }
    }
}

#[cfg(test)]
impl Vnni {
    /// Whether some columns are taken as one wide pixel.
    pub(super) fn has_run(&self) -> bool {
        self.run.is_some()
    }
}

fn check(pk: &Packed, v: &Vnni, g: &Geometry, x: &[u8], out: &[u8]) {
    let c = pk.channels;
    assert!(x.len() >= g.in_h * g.in_w * c, "input image too short");
    assert!(out.len() >= g.out_h * g.out_w * c, "output image too short");
    assert!(pk.rows.len() == g.out_h && pk.cols.len() == g.out_w);
    let row_classes = pk.rows.iter().map(|r| r.class).max().map_or(0, |m| m + 1);
    let unit_ok = |u: &Unit, classes: usize| {
        u.lpad % LANES == 0
            && u.lpad >= u.lanes
            && u.table.channels == u.lpad
            && u.classes.len() == classes
            && u.classes.iter().all(|k| k.taps.len() % 4 == 0 && k.weights.len() == k.taps.len() * u.lpad && k.offsets.len() == u.lpad)
    };
    assert!(unit_ok(&v.pixel, row_classes * pk.col_classes) && v.pixel.lanes == c);
    assert!(pk.cols.iter().all(|s| s.class < pk.col_classes));
    if let Some((a, b, u)) = &v.run {
        assert!(g.stride_w == 1 && a < b && *b <= g.out_w && u.lanes == (b - a) * c && unit_ok(u, row_classes));
        assert!(pk.cols[*a..*b].iter().all(|s| s.class == pk.cols[*a].class));
    }
    // Every tap read (of every pixel) lies inside the image: the spans put the
    // rectangle inside, and each tap offset is inside the rectangle.
}

/// One image (`x`: `in_h × in_w × C` int8 bytes) into `out`.
///
/// # Safety
/// The CPU has AVX-512 VNNI and VL ([`available`]).
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
pub(super) unsafe fn image(pk: &Packed, v: &Vnni, g: &Geometry, x: &[u8], out: &mut [u8], flipped: &mut Vec<u8>) {
    check(pk, v, g, x, out);
    // x' = x XOR 0x80 once per image (each input byte is read by several taps).
    flipped.resize(x.len(), 0);
    let flip = _mm256_set1_epi8(-128);
    let mut i = 0;
    while i + LANES <= x.len() {
        let b = _mm256_loadu_si256(x.as_ptr().add(i) as *const __m256i);
        _mm256_storeu_si256(flipped.as_mut_ptr().add(i) as *mut __m256i, _mm256_xor_si256(b, flip));
        i += LANES;
    }
    for (f, &b) in flipped[i..].iter_mut().zip(&x[i..]) {
        *f = b ^ 0x80;
    }
    let x: &[u8] = flipped;
    let r = Rounding::ALL.iter().position(|&r| r == pk.table.rounding).unwrap_or(0);
    match r {
        0 => kernel::<0>(pk, v, g, x, out),
        1 => kernel::<1>(pk, v, g, x, out),
        2 => kernel::<2>(pk, v, g, x, out),
        3 => kernel::<3>(pk, v, g, x, out),
        _ => kernel::<4>(pk, v, g, x, out),
    }
}

#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
unsafe fn kernel<const R: usize>(pk: &Packed, v: &Vnni, g: &Geometry, x: &[u8], out: &mut [u8]) {
    let c = pk.channels;
    let (xp, op) = (x.as_ptr(), out.as_mut_ptr());
    let end = xp.add(x.len());
    let mut buf = [[0u8; LANES]; 4];
    let (run_a, run_b) = v.run.as_ref().map_or((usize::MAX, 0), |(a, b, _)| (*a, *b));
    for (oy, r) in pk.rows.iter().enumerate() {
        let mut ox = 0;
        while ox < g.out_w {
            let s = &pk.cols[ox];
            let base = xp.add((r.start * g.in_w + s.start) * c);
            let dst = op.add((oy * g.out_w + ox) * c);
            let (u, k, next) = match &v.run {
                Some((_, _, u)) if ox == run_a => (u, &u.classes[r.class], run_b),
                _ => (&v.pixel, &v.pixel.classes[r.class * pk.col_classes + s.class], ox + 1),
            };
            unit::<R>(u, k, base, dst, end, &mut buf);
            ox = next;
        }
    }
}

/// Every block of one unit at one pixel: accumulate, requantize, store.
/// `base`: the pixel's first inside tap in the flipped image (which ends at `end`).
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
unsafe fn unit<const R: usize>(u: &Unit, k: &Class, base: *const u8, dst: *mut u8, end: *const u8, buf: &mut [[u8; LANES]; 4]) {
    let rule = Rounding::ALL[R];
    let groups = k.taps.len() / 4;
    let t = &u.table;
    // A pointer `len` bytes can be loaded from: the tap's input at lane `c`,
    // or a zeroed copy of its first `n` bytes when the image ends sooner.
    let at = |i: usize, gi: usize, c: usize, n: usize, len: usize, buf: &mut [u8; LANES]| {
        let p = base.add(*k.taps.get_unchecked(4 * gi + i) + c);
        if n == len || (end as usize) - (p as usize) >= len {
            p
        } else {
            *buf = [0; LANES];
            std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
            buf.as_ptr()
        }
    };
    let mut c = 0;
    while c < u.lanes {
        let n = (u.lanes - c).min(LANES);
        let offs = k.offsets.as_ptr().add(c);
        let [b0, b1, b2, b3] = &mut *buf;
        if n > LANES / 2 {
            let mut a0 = _mm256_loadu_si256(offs as *const __m256i);
            let mut a1 = _mm256_loadu_si256(offs.add(8) as *const __m256i);
            let mut a2 = _mm256_loadu_si256(offs.add(16) as *const __m256i);
            let mut a3 = _mm256_loadu_si256(offs.add(24) as *const __m256i);
            for gi in 0..groups {
                let ld = |p: *const u8| _mm256_loadu_si256(p as *const __m256i);
                let (t0, t1) = (ld(at(0, gi, c, n, LANES, b0)), ld(at(1, gi, c, n, LANES, b1)));
                let (t2, t3) = (ld(at(2, gi, c, n, LANES, b2)), ld(at(3, gi, c, n, LANES, b3)));
                let (lo01, hi01) = (_mm256_unpacklo_epi8(t0, t1), _mm256_unpackhi_epi8(t0, t1));
                let (lo23, hi23) = (_mm256_unpacklo_epi8(t2, t3), _mm256_unpackhi_epi8(t2, t3));
                let w = k.weights.as_ptr().add((gi * u.lpad + c) * 4) as *const __m256i;
                a0 = _mm256_dpbusd_epi32(a0, _mm256_unpacklo_epi16(lo01, lo23), _mm256_loadu_si256(w));
                a1 = _mm256_dpbusd_epi32(a1, _mm256_unpackhi_epi16(lo01, lo23), _mm256_loadu_si256(w.add(1)));
                a2 = _mm256_dpbusd_epi32(a2, _mm256_unpacklo_epi16(hi01, hi23), _mm256_loadu_si256(w.add(2)));
                a3 = _mm256_dpbusd_epi32(a3, _mm256_unpackhi_epi16(hi01, hi23), _mm256_loadu_si256(w.add(3)));
            }
            let (y0, y1) = (requantize8(t, rule, c, a0), requantize8(t, rule, c + 8, a1));
            let (y2, y3) = (requantize8(t, rule, c + 16, a2), requantize8(t, rule, c + 24, a3));
            // The results lie in the clamp range, inside int8: the packs never saturate.
            let bytes = _mm256_packs_epi16(_mm256_packs_epi32(y0, y1), _mm256_packs_epi32(y2, y3));
            if n == LANES {
                _mm256_storeu_si256(dst.add(c) as *mut __m256i, bytes);
            } else {
                store_first(dst.add(c), bytes, n);
            }
        } else {
            // At most 16 lanes, in order: four `xmm` of 4 channels × 4 taps.
            let mut a0 = _mm_loadu_si128(offs as *const __m128i);
            let mut a1 = _mm_loadu_si128(offs.add(4) as *const __m128i);
            let mut a2 = _mm_loadu_si128(offs.add(8) as *const __m128i);
            let mut a3 = _mm_loadu_si128(offs.add(12) as *const __m128i);
            for gi in 0..groups {
                let ld = |p: *const u8| _mm_loadu_si128(p as *const __m128i);
                let (t0, t1) = (ld(at(0, gi, c, n, 16, b0)), ld(at(1, gi, c, n, 16, b1)));
                let (t2, t3) = (ld(at(2, gi, c, n, 16, b2)), ld(at(3, gi, c, n, 16, b3)));
                let (lo01, hi01) = (_mm_unpacklo_epi8(t0, t1), _mm_unpackhi_epi8(t0, t1));
                let (lo23, hi23) = (_mm_unpacklo_epi8(t2, t3), _mm_unpackhi_epi8(t2, t3));
                let w = k.weights.as_ptr().add((gi * u.lpad + c) * 4) as *const __m128i;
                a0 = _mm_dpbusd_epi32(a0, _mm_unpacklo_epi16(lo01, lo23), _mm_loadu_si128(w));
                a1 = _mm_dpbusd_epi32(a1, _mm_unpackhi_epi16(lo01, lo23), _mm_loadu_si128(w.add(1)));
                a2 = _mm_dpbusd_epi32(a2, _mm_unpacklo_epi16(hi01, hi23), _mm_loadu_si128(w.add(2)));
                a3 = _mm_dpbusd_epi32(a3, _mm_unpackhi_epi16(hi01, hi23), _mm_loadu_si128(w.add(3)));
            }
            let y0 = requantize8(t, rule, c, _mm256_set_m128i(a1, a0));
            let y1 = requantize8(t, rule, c + 8, _mm256_set_m128i(a3, a2));
            // i16 [y0 0–3, y1 0–3 | y0 4–7, y1 4–7]; the qword permutation puts y0 first.
            let w = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(y0, y1));
            let bytes = _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256::<1>(w));
            if n == 16 {
                _mm_storeu_si128(dst.add(c) as *mut __m128i, bytes);
            } else {
                store_first(dst.add(c), _mm256_castsi128_si256(bytes), n);
            }
        }
        c += n;
    }
}

/// The first `n` of the bytes of `v` at `dst`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn store_first(dst: *mut u8, v: __m256i, n: usize) {
    let mut tmp = [0u8; LANES];
    _mm256_storeu_si256(tmp.as_mut_ptr() as *mut __m256i, v);
    std::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, n);
}
