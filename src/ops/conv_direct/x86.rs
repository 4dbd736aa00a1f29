//! The direct convolution's accumulation, 8 output channels a `ymm`
//! vector: AVX2 (`vpmaddwd` + `vpaddd`) and AVX-512 VNNI (`vpdpwssd`, the
//! same two products and the add in one instruction, on 256-bit vectors
//! (AVX512VL): the first layers this form serves have 8–32 channels, and
//! on CPUs that split 512-bit operations in two a `zmm` half-empty for 8
//! channels would cost twice as much for nothing).
//!
//! Two forms of each:
//! - **bytes** (the table is [`vectorised`](RequantTable::vectorised)): the
//!   sums start from the bias, and each vector of 8 is requantized in
//!   registers by the shared [`requantize8`] and stored as 8 output bytes
//!   (a partial last block only its bytes). The rounding rule and the
//!   output's signedness are constants of each compiled kernel, so the rule's
//!   `match` folds away. On AVX-512 VNNI two positions' vectors of the same
//!   8 channels are requantized as one `zmm` by the shared 16-lane rule
//!   ([`bytes_avx512`]), and when every centered weight fits i8 the sums are
//!   taken as u8 × i8 quads by `vpdpbusd` ([`quads_avx512`], see `Quads`):
//!   a 3 × 3 × 3 kernel is 9 quads where it is 15 pairs.
//! - **i32**: the sums without the bias into `acc`, requantized afterwards
//!   by [`RequantTable::apply_into`]. Each output row: the last channel block
//!   first, with whole-vector stores whose lanes past `out_c` spill into the
//!   next position's first channels, which the other blocks write afterwards
//!   (`acc` has 16 spare i32s past the end).
//!
//! Four positions at a time, two accumulators each (see `positions!`).

use super::{DirectConv, Quads};
use crate::ops::conv::Geometry;
use crate::ops::requant::{requantize8, RequantTable};
#[cfg(quantlens_avx512)]
use crate::ops::requant_lanes::{with_rule16, x86::Rule, LaneTable};
use crate::profile::Rounding;
use std::arch::x86_64::*;

/// Every output position `p` and channel block `cb` of `batches` samples
/// (last block first in each row): the sum of the pairs' products, started
/// from the first of `$init(cb) = (start, k)` (`k`: the block's other
/// constants, for the emits), handed to `$emit4(p, cb, [sum; 4])` for four
/// positions `p..p + 4` of a row, else to `$emit1(p, cb, sum)`.
///
/// Four positions of a row at a time, two accumulators each (alternate
/// pairs): eight independent chains hide the multiply-add's latency (with
/// one position, two chains of 7–8 dependent multiply-adds each left the
/// unit idle most of the time), and each weight vector is loaded once for
/// the four. The row's last `out_w mod 4` positions one at a time.
macro_rules! positions {
    ($d:expr, $g:expr, $batches:expr, $xc:expr, $taps:expr, |$s:ident, $x:ident, $w:ident| $madd:expr, |$icb:ident, $k:ident| $init:expr,
     |$p4:ident, $cb4:ident, $sums:ident| $emit4:expr, |$p:ident, $cb:ident, $sum:ident| $emit:expr) => {{
        let (d, g): (&DirectConv, &Geometry) = ($d, $g);
        // The taps' offsets (pairs of i16 or quads of u8: one i32 read each) and weights.
        let (offs, weights): (&[usize], &[i32]) = $taps;
        let (lanes, np) = (d.lanes, offs.len());
        let blocks = g.out_c.div_ceil(8);
        assert!(weights.len() >= np * lanes && lanes >= blocks * 8 && d.bias.len() >= blocks * 8);
        // Each read is 4 bytes from an element at most the last one of the copy
        // (+ 2 i16 or + 4 u8 past the end: see `Scratch`).
        let elem = std::mem::size_of_val(&$xc[0]);
        assert!($xc.len() * elem >= $batches * d.hp * d.wp * g.in_c * elem + 4);
        let (step, row_step) = (g.stride_w * g.in_c, g.stride_h * d.wp * g.in_c);
        let (x, off) = ($xc.as_ptr(), offs.as_ptr());
        for b in 0..$batches {
            for oy in 0..g.out_h {
                let row = b * d.hp * d.wp * g.in_c + oy * row_step;
                let p0 = (b * g.out_h + oy) * g.out_w;
                for cb in std::iter::once(blocks - 1).chain(0..blocks - 1) {
                    let w = weights.as_ptr().add(cb * 8);
                    let wj = |j: usize| _mm256_loadu_si256(w.add(j * lanes) as *const __m256i);
                    #[allow(unused_variables)]
                    let (start, $k) = { let $icb = cb; $init };
                    let mut ox = 0;
                    while ox + 4 <= g.out_w {
                        let base = x.add(row + ox * step);
                        // Pair j of the row's position ox + i.
                        let pair = |j: usize, i: usize| _mm256_set1_epi32((base.add(*off.add(j) + i * step) as *const i32).read_unaligned());
                        let mut s0 = [start; 4];
                        let mut s1 = [_mm256_setzero_si256(); 4];
                        let mut j = 0;
                        while j + 2 <= np {
                            let (w0, w1) = (wj(j), wj(j + 1));
                            for i in 0..4 {
                                s0[i] = { let ($s, $x, $w) = (s0[i], pair(j, i), w0); $madd };
                                s1[i] = { let ($s, $x, $w) = (s1[i], pair(j + 1, i), w1); $madd };
                            }
                            j += 2;
                        }
                        if j < np {
                            let w0 = wj(j);
                            for i in 0..4 {
                                s0[i] = { let ($s, $x, $w) = (s0[i], pair(j, i), w0); $madd };
                            }
                        }
                        let sum = |i: usize| _mm256_add_epi32(s0[i], s1[i]);
                        let ($p4, $cb4, $sums) = (p0 + ox, cb, [sum(0), sum(1), sum(2), sum(3)]);
                        $emit4;
                        ox += 4;
                    }
                    for ox in ox..g.out_w {
                        let base = x.add(row + ox * step);
                        let pair = |j: usize| _mm256_set1_epi32((base.add(*off.add(j)) as *const i32).read_unaligned());
                        let (mut s0, mut s1) = (start, _mm256_setzero_si256());
                        let mut j = 0;
                        while j + 2 <= np {
                            s0 = { let ($s, $x, $w) = (s0, pair(j), wj(j)); $madd };
                            s1 = { let ($s, $x, $w) = (s1, pair(j + 1), wj(j + 1)); $madd };
                            j += 2;
                        }
                        if j < np {
                            s0 = { let ($s, $x, $w) = (s0, pair(j), wj(j)); $madd };
                        }
                        let ($p, $cb, $sum) = (p0 + ox, cb, _mm256_add_epi32(s0, s1));
                        $emit;
                    }
                }
            }
        }
    }};
}

/// `acc[p·out_c + c]` (no bias) for every position of `batches` samples.
macro_rules! into_i32 {
    ($d:expr, $g:expr, $batches:expr, $xc:expr, $acc:expr, |$s:ident, $x:ident, $w:ident| $madd:expr) => {{
        let m = $g.out_c;
        assert!($acc.len() >= $batches * $g.out_h * $g.out_w * m + 16);
        let a = $acc.as_mut_ptr();
        let store = |p: usize, cb: usize, sum: __m256i| _mm256_storeu_si256(a.add(p * m + cb * 8) as *mut __m256i, sum);
        positions!($d, $g, $batches, $xc, (&$d.pair_off, &$d.weights), |$s, $x, $w| $madd, |_cb, _k| (_mm256_setzero_si256(), ()),
            |p, cb, sums| (0..4).for_each(|i| store(p + i, cb, sums[i])), |p, cb, sum| store(p, cb, sum))
    }};
}

/// The output bytes of every position of `batches` samples (module docs).
macro_rules! into_bytes {
    ($d:expr, $g:expr, $batches:expr, $xc:expr, $out:expr, $signed:expr, $rule:expr, |$s:ident, $x:ident, $w:ident| $madd:expr) => {{
        let (d, m): (&DirectConv, usize) = ($d, $g.out_c);
        let t: &RequantTable = &d.requant;
        assert!($out.len() >= $batches * $g.out_h * $g.out_w * m && t.channels == m);
        let (o, bias) = ($out.as_mut_ptr(), d.bias.as_ptr());
        let emit = |p: usize, cb: usize, sum: __m256i| store8(o.add(p * m + cb * 8), requantize8(t, $rule, cb * 8, sum), (m - cb * 8).min(8), $signed);
        positions!(d, $g, $batches, $xc, (&d.pair_off, &d.weights), |$s, $x, $w| $madd, |cb, _k| (_mm256_loadu_si256(bias.add(cb * 8) as *const __m256i), ()),
            |p, cb, sums| (0..4).for_each(|i| emit(p + i, cb, sums[i])), |p, cb, sum| emit(p, cb, sum))
    }};
}

/// The 8 results `y` (inside the output type: the packs never saturate) as
/// bytes, the first `n` of them stored at `dst`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn store8(dst: *mut u8, y: __m256i, n: usize, signed: bool) {
    // i16 [y0..y3 y0..y3 | y4..y7 y4..y7], then bytes y0..y3 in dword 0, y4..y7 in dword 4.
    let w = _mm256_packs_epi32(y, y);
    let b = if signed { _mm256_packs_epi16(w, w) } else { _mm256_packus_epi16(w, w) };
    let v = (_mm256_cvtsi256_si32(b) as u32 as u64) | ((_mm256_extract_epi32::<4>(b) as u32 as u64) << 32);
    if n == 8 {
        (dst as *mut u64).write_unaligned(v);
    } else {
        std::ptr::copy_nonoverlapping(v.to_le_bytes().as_ptr(), dst, n);
    }
}

#[target_feature(enable = "avx2")]
pub(super) unsafe fn accumulate_avx2(d: &DirectConv, g: &Geometry, batches: usize, xc: &[i16], acc: &mut [i32]) {
    into_i32!(d, g, batches, xc, acc, |s, x, w| _mm256_add_epi32(s, _mm256_madd_epi16(x, w)))
}

#[cfg(quantlens_avx512)]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn accumulate_avx512(d: &DirectConv, g: &Geometry, batches: usize, xc: &[i16], acc: &mut [i32]) {
    into_i32!(d, g, batches, xc, acc, |s, x, w| _mm256_dpwssd_epi32(s, w, x))
}

/// Pick the AVX2 kernel compiled for the output's signedness and the table's rounding.
macro_rules! dispatch {
    ($f:ident, $d:expr, $g:expr, $batches:expr, $xc:expr, $out:expr, $signed:expr) => {{
        let r = Rounding::ALL.iter().position(|&r| r == $d.requant.rounding).unwrap_or(0);
        match ($signed, r) {
            (true, 0) => $f::<true, 0>($d, $g, $batches, $xc, $out),
            (true, 1) => $f::<true, 1>($d, $g, $batches, $xc, $out),
            (true, 2) => $f::<true, 2>($d, $g, $batches, $xc, $out),
            (true, 3) => $f::<true, 3>($d, $g, $batches, $xc, $out),
            (true, _) => $f::<true, 4>($d, $g, $batches, $xc, $out),
            (false, 0) => $f::<false, 0>($d, $g, $batches, $xc, $out),
            (false, 1) => $f::<false, 1>($d, $g, $batches, $xc, $out),
            (false, 2) => $f::<false, 2>($d, $g, $batches, $xc, $out),
            (false, 3) => $f::<false, 3>($d, $g, $batches, $xc, $out),
            (false, _) => $f::<false, 4>($d, $g, $batches, $xc, $out),
        }
    }};
}

/// The output bytes (int8 when `signed`, else uint8), AVX2. Only for a
/// [`vectorised`](RequantTable::vectorised) table.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn bytes_avx2(d: &DirectConv, g: &Geometry, batches: usize, xc: &[i16], out: &mut [u8], signed: bool) {
    dispatch!(bytes_avx2_, d, g, batches, xc, out, signed)
}

#[target_feature(enable = "avx2")]
unsafe fn bytes_avx2_<const S: bool, const R: usize>(d: &DirectConv, g: &Geometry, batches: usize, xc: &[i16], out: &mut [u8]) {
    into_bytes!(d, g, batches, xc, out, S, Rounding::ALL[R], |s, x, w| _mm256_add_epi32(s, _mm256_madd_epi16(x, w)))
}

/// The output bytes on AVX-512 VNNI (`vpdpwssd`): the sums of two
/// positions for the same 8 channels joined into one `zmm` and requantized
/// by the shared 16-lane rule of [`requant_lanes`](crate::ops::requant_lanes)
/// against `d.lanes2` (each block's 8 channels' constants twice; loaded once
/// per block and row), clamped, truncated to bytes (`vpmovdb`: the results
/// lie inside the output type) and stored masked, 8 bytes (or the last
/// block's `out_c mod 8`) per position. Only for a
/// [`vectorised`](RequantTable::vectorised) table (`lanes2` is then present).
#[cfg(quantlens_avx512)]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn bytes_avx512(d: &DirectConv, g: &Geometry, batches: usize, xc: &[i16], out: &mut [u8]) {
    let l = d.lanes2.as_ref().expect("the 16-lane table of a vectorised requantization");
    with_rule16!(l, R => bytes16::<R>(d, l, g, batches, xc, out))
}

/// The body of the AVX-512 byte kernels: [`positions!`] over `$taps`
/// (sums started from `$start`), each two positions' sums of a block
/// requantized as one `zmm` by rule `R` (see [`bytes_avx512`]).
#[cfg(quantlens_avx512)]
macro_rules! into_bytes16 {
    ($R:ty, $d:expr, $l:expr, $g:expr, $batches:expr, $xc:expr, $out:expr, $taps:expr, $start:expr, |$s:ident, $x:ident, $w:ident| $madd:expr) => {{
        let (d, l, g, out): (&DirectConv, &LaneTable, &Geometry, &mut [u8]) = ($d, $l, $g, $out);
        let m = g.out_c;
        let start: &[i32] = $start;
        assert!(out.len() >= $batches * g.out_h * g.out_w * m && l.channels >= m.div_ceil(8) * 16 && start.len() >= m.div_ceil(8) * 8);
        // v + Z3 may wrap for |v| near 2^31: clamp v to [lo − Z3, hi − Z3] first (exact, no wrap).
        let lo = _mm512_set1_epi32((l.act_min as i64 - l.z3 as i64).max(i32::MIN as i64) as i32);
        let hi = _mm512_set1_epi32((l.act_max as i64 - l.z3 as i64).min(i32::MAX as i64) as i32);
        let z3 = _mm512_set1_epi32(l.z3);
        let (o, bias) = (out.as_mut_ptr(), start.as_ptr());
        // Block cb's sums `a` of position p and `b` of position q, requantized, stored.
        let emit2 = |k: &<$R as Rule>::K, cb: usize, p: usize, a: __m256i, q: usize, b: __m256i| {
            let v = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(a), b);
            let y = <$R>::apply(l, k, v, lo, hi);
            let bytes = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(y, lo), hi), z3));
            let mask: __mmask16 = (1 << (m - cb * 8).min(8)) - 1;
            _mm_mask_storeu_epi8(o.add(p * m + cb * 8) as *mut i8, mask, bytes);
            _mm_mask_storeu_epi8(o.add(q * m + cb * 8) as *mut i8, mask, _mm_srli_si128::<8>(bytes));
        };
        positions!(d, g, $batches, $xc, $taps, |$s, $x, $w| $madd,
            |cb, k| (_mm256_loadu_si256(bias.add(cb * 8) as *const __m256i), <$R>::load(l, cb * 16)),
            |p, cb, sums| {
                emit2(&k, cb, p, sums[0], p + 1, sums[1]);
                emit2(&k, cb, p + 2, sums[2], p + 3, sums[3]);
            },
            |p, cb, sum| emit2(&k, cb, p, sum, p, sum))
    }};
}

#[cfg(quantlens_avx512)]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn bytes16<R: Rule>(d: &DirectConv, l: &LaneTable, g: &Geometry, batches: usize, xc: &[i16], out: &mut [u8]) {
    into_bytes16!(R, d, l, g, batches, xc, out, (&d.pair_off, &d.weights), &d.bias, |s, x, w| _mm256_dpwssd_epi32(s, w, x))
}

/// [`bytes_avx512`] on the quad form ([`Quads`]): `vpdpbusd` of the
/// broadcast input quad (u8) and 8 channels' four weights (i8).
#[cfg(quantlens_avx512)]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn quads_avx512(d: &DirectConv, q: &Quads, g: &Geometry, batches: usize, xu: &[u8], out: &mut [u8]) {
    let l = d.lanes2.as_ref().expect("the 16-lane table of a vectorised requantization");
    with_rule16!(l, R => quads16::<R>(d, q, l, g, batches, xu, out))
}

#[cfg(quantlens_avx512)]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn quads16<R: Rule>(d: &DirectConv, q: &Quads, l: &LaneTable, g: &Geometry, batches: usize, xu: &[u8], out: &mut [u8]) {
    into_bytes16!(R, d, l, g, batches, xu, out, (&q.off, &q.weights), &q.start, |s, x, w| _mm256_dpbusd_epi32(s, x, w))
}

/// [`quads_avx512`] for `out_c` a multiple of 16 (`d.lanes16` present):
/// 16 output channels per `zmm` accumulator, so each input quad is
/// broadcast once for all 16 (the 8-channel form broadcasts it once per
/// block of 8), each position's 16 sums are requantized as one vector by
/// the shared 16-lane rule against `d.lanes16` (the channels in order) and
/// stored as one 16-byte vector. Four positions at a time, two chains each
/// (alternate quads), as in [`positions!`]; the same sums in the same i32
/// lanes, so the same bytes.
#[cfg(quantlens_avx512)]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn quads_avx512_16(d: &DirectConv, q: &Quads, g: &Geometry, batches: usize, xu: &[u8], out: &mut [u8]) {
    let l = d.lanes16.as_ref().expect("the in-order 16-lane table (out_c a multiple of 16)");
    with_rule16!(l, R => quads_zmm::<R>(d, q, l, g, batches, xu, out))
}

#[cfg(quantlens_avx512)]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn quads_zmm<R: Rule>(d: &DirectConv, q: &Quads, l: &LaneTable, g: &Geometry, batches: usize, xu: &[u8], out: &mut [u8]) {
    let m = g.out_c;
    let (lanes, nq) = (d.lanes, q.off.len());
    assert!(m % 16 == 0 && l.channels >= m && q.start.len() >= m && q.weights.len() >= nq * lanes && lanes >= m);
    assert!(out.len() >= batches * g.out_h * g.out_w * m);
    // Each read is 4 bytes from a byte at most the last one of the copy (+ 4 past the end).
    assert!(xu.len() >= batches * d.hp * d.wp * g.in_c + 4);
    // v + Z3 may wrap for |v| near 2^31: clamp v to [lo − Z3, hi − Z3] first (exact, no wrap).
    let lo = _mm512_set1_epi32((l.act_min as i64 - l.z3 as i64).max(i32::MIN as i64) as i32);
    let hi = _mm512_set1_epi32((l.act_max as i64 - l.z3 as i64).min(i32::MAX as i64) as i32);
    let z3 = _mm512_set1_epi32(l.z3);
    let (step, row_step) = (g.stride_w * g.in_c, g.stride_h * d.wp * g.in_c);
    let (x, off, o) = (xu.as_ptr(), q.off.as_ptr(), out.as_mut_ptr());
    for cb in 0..m / 16 {
        let w = q.weights.as_ptr().add(cb * 16);
        let wj = |j: usize| _mm512_loadu_si512(w.add(j * lanes) as *const _);
        let start = _mm512_loadu_si512(q.start.as_ptr().add(cb * 16) as *const _);
        let k = R::load(l, cb * 16);
        let emit = |p: usize, sum: __m512i| {
            let y = R::apply(l, &k, sum, lo, hi);
            let bytes = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(y, lo), hi), z3));
            _mm_storeu_si128(o.add(p * m + cb * 16) as *mut __m128i, bytes);
        };
        for b in 0..batches {
            for oy in 0..g.out_h {
                let row = b * d.hp * d.wp * g.in_c + oy * row_step;
                let p0 = (b * g.out_h + oy) * g.out_w;
                let mut ox = 0;
                while ox + 4 <= g.out_w {
                    let base = x.add(row + ox * step);
                    let quad = |j: usize, i: usize| _mm512_set1_epi32((base.add(*off.add(j) + i * step) as *const i32).read_unaligned());
                    let mut s0 = [start; 4];
                    let mut s1 = [_mm512_setzero_si512(); 4];
                    let mut j = 0;
                    while j + 2 <= nq {
                        let (w0, w1) = (wj(j), wj(j + 1));
                        for i in 0..4 {
                            s0[i] = _mm512_dpbusd_epi32(s0[i], quad(j, i), w0);
                            s1[i] = _mm512_dpbusd_epi32(s1[i], quad(j + 1, i), w1);
                        }
                        j += 2;
                    }
                    if j < nq {
                        let w0 = wj(j);
                        for i in 0..4 {
                            s0[i] = _mm512_dpbusd_epi32(s0[i], quad(j, i), w0);
                        }
                    }
                    for i in 0..4 {
                        emit(p0 + ox + i, _mm512_add_epi32(s0[i], s1[i]));
                    }
                    ox += 4;
                }
                for ox in ox..g.out_w {
                    let base = x.add(row + ox * step);
                    let mut s = start;
                    for j in 0..nq {
                        s = _mm512_dpbusd_epi32(s, _mm512_set1_epi32((base.add(*off.add(j)) as *const i32).read_unaligned()), wj(j));
                    }
                    emit(p0 + ox, s);
                }
            }
        }
    }
}
