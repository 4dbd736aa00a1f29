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
//!   `match` folds away.
//! - **i32**: the sums without the bias into `acc`, requantized afterwards
//!   by [`RequantTable::apply_into`]. Each output row: the last channel block
//!   first, with whole-vector stores whose lanes past `out_c` spill into the
//!   next position's first channels, which the other blocks write afterwards
//!   (`acc` has 16 spare i32s past the end).
//!
//! Two accumulators take alternate pairs.

use super::DirectConv;
use crate::ops::conv::Geometry;
use crate::ops::requant::{requantize8, RequantTable};
use crate::profile::Rounding;
use std::arch::x86_64::*;

/// Every output position `p` and channel block `cb` of `batches` samples
/// (last block first in each row): the sum of the pairs' products, started
/// from `$init(cb)`, handed to `$emit(p, cb, sum)`.
macro_rules! positions {
    ($d:expr, $g:expr, $batches:expr, $xc:expr, |$s:ident, $x:ident, $w:ident| $madd:expr, |$icb:ident| $init:expr, |$p:ident, $cb:ident, $sum:ident| $emit:expr) => {{
        let (d, g): (&DirectConv, &Geometry) = ($d, $g);
        let (lanes, np) = (d.lanes, d.pair_off.len());
        let blocks = g.out_c.div_ceil(8);
        assert!(d.weights.len() >= np * lanes && lanes >= blocks * 8 && d.bias.len() >= blocks * 8);
        assert!($xc.len() >= $batches * d.hp * d.wp * g.in_c + 2);
        let (step, row_step) = (g.stride_w * g.in_c, g.stride_h * d.wp * g.in_c);
        let (x, off) = ($xc.as_ptr(), d.pair_off.as_ptr());
        for b in 0..$batches {
            for oy in 0..g.out_h {
                let row = b * d.hp * d.wp * g.in_c + oy * row_step;
                let p0 = (b * g.out_h + oy) * g.out_w;
                for $cb in std::iter::once(blocks - 1).chain(0..blocks - 1) {
                    let w = d.weights.as_ptr().add($cb * 8);
                    let start = { let $icb = $cb; $init };
                    for ox in 0..g.out_w {
                        let base = x.add(row + ox * step);
                        let pair = |j: usize| _mm256_set1_epi32((base.add(*off.add(j)) as *const i32).read_unaligned());
                        let wj = |j: usize| _mm256_loadu_si256(w.add(j * lanes) as *const __m256i);
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
                        let ($p, $sum) = (p0 + ox, _mm256_add_epi32(s0, s1));
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
        positions!($d, $g, $batches, $xc, |$s, $x, $w| $madd, |_cb| _mm256_setzero_si256(), |p, cb, sum| {
            _mm256_storeu_si256(a.add(p * m + cb * 8) as *mut __m256i, sum)
        })
    }};
}

/// The output bytes of every position of `batches` samples (module docs).
macro_rules! into_bytes {
    ($d:expr, $g:expr, $batches:expr, $xc:expr, $out:expr, $signed:expr, $rule:expr, |$s:ident, $x:ident, $w:ident| $madd:expr) => {{
        let (d, m): (&DirectConv, usize) = ($d, $g.out_c);
        let t: &RequantTable = &d.requant;
        assert!($out.len() >= $batches * $g.out_h * $g.out_w * m && t.channels == m);
        let (o, bias) = ($out.as_mut_ptr(), d.bias.as_ptr());
        positions!(d, $g, $batches, $xc, |$s, $x, $w| $madd, |cb| _mm256_loadu_si256(bias.add(cb * 8) as *const __m256i), |p, cb, sum| {
            store8(o.add(p * m + cb * 8), requantize8(t, $rule, cb * 8, sum), (m - cb * 8).min(8), $signed)
        })
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
    into_i32!(d, g, batches, xc, acc, |s, x, w| _mm256_dpwssd_epi32(s, x, w))
}

/// Pick the kernel compiled for the output's signedness and the table's rounding.
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

/// [`bytes_avx2`] with `vpdpwssd`.
#[cfg(quantlens_avx512)]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn bytes_avx512(d: &DirectConv, g: &Geometry, batches: usize, xc: &[i16], out: &mut [u8], signed: bool) {
    dispatch!(bytes_avx512_, d, g, batches, xc, out, signed)
}

#[cfg(quantlens_avx512)]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn bytes_avx512_<const S: bool, const R: usize>(d: &DirectConv, g: &Geometry, batches: usize, xc: &[i16], out: &mut [u8]) {
    into_bytes!(d, g, batches, xc, out, S, Rounding::ALL[R], |s, x, w| _mm256_dpwssd_epi32(s, x, w))
}
