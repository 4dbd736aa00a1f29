//! The row loop of [`super::Packed`] in x86 SIMD: per block of 16 output
//! lanes two independent accumulators (two `zmm` taking alternate taps, or
//! two `ymm` of 8 lanes), and per tap that is not all frame one widening load
//! of 16 centered inputs (`vpmovsxwd`) and one multiply-add by the weights:
//! `vpmaddwd` + `vpaddd`.
//!
//! Why the multiply-add is exact: each i32 lane of `x` is `x − Z1`
//! sign-extended, each lane of `w` holds the i16 `W − Z2` in its
//! low half and zero in its high half. `vpmaddwd` sums the products of
//! the two i16 halves: `lo(x)·lo(w) + hi(x)·0 = x·(W − Z2)`, exact in i32
//! (|x − Z1| ≤ 32 767, |W − Z2| ≤ 32 767: at most 2³⁰), and the adds wrap like the runtimes' int32.
//!
//! Both functions need `padded` to hold `rows · row_len + SLACK` bytes and
//! `acc` to hold `(out_h − 1)·L + len_pad` lanes from this image's start:
//! the last block of a row reads up to 15 elements past the row's run and
//! writes up to 15 lanes past it (into the next row, computed later, or the
//! slack).

use super::{Packed, BLOCK, SLACK};
use crate::ops::conv::Geometry;
use std::arch::x86_64::*;

fn check(pk: &Packed, g: &Geometry, padded: &[i16], acc: &[i32]) {
    assert!(padded.len() >= pk.rows * pk.row_len + SLACK, "padded input too short");
    assert!(acc.len() >= (g.out_h - 1) * pk.len + pk.len_pad, "accumulators too short");
    assert!(pk.weights.len() >= pk.tap_offsets.len() * pk.period && pk.period % BLOCK == 0);
    assert!(pk.ky_range.len() == g.out_h && (pk.kx_range.len() == 1 || pk.kx_range.len() * pk.period >= pk.len));
}

/// Every block of every output row: `$init` once, `$tap` for each tap that
/// is not all frame (with `$x`, the tap's inputs for the block, and `$w`, its
/// weights), then `$store` (with `$dst`, the block's accumulators). Plain
/// loops, no closures: everything inlines into the `target_feature` function.
macro_rules! for_blocks {
    ($pk:expr, $g:expr, $padded:expr, $acc:expr, $init:block, |$x:ident, $w:ident| $tap:block, |$dst:ident| $store:block) => {{
        let (pk, g) = ($pk, $g);
        let (l, p, kw) = (pk.len, pk.period, pk.k_w);
        let (xp, ap, wp) = ($padded.as_ptr(), $acc.as_mut_ptr(), pk.weights.as_ptr());
        let offs = pk.tap_offsets.as_ptr();
        let last_kx = pk.kx_range.len() - 1;
        for oy in 0..g.out_h {
            let row = xp.add(oy * g.stride_h * pk.row_len);
            let (ky0, ky1) = *pk.ky_range.get_unchecked(oy);
            let mut seg = 0;
            let mut si = 0;
            while seg < l {
                let (kx0, kx1) = *pk.kx_range.get_unchecked(si.min(last_kx));
                let end = (seg + p).min(l);
                let mut j = seg;
                while j < end {
                    let xrow = row.add(j);
                    let ws = wp.add(j - seg);
                    $init
                    for ky in ky0..ky1 {
                        for kx in kx0..kx1 {
                            let t = ky * kw + kx;
                            let $x = xrow.add(*offs.add(t));
                            let $w = ws.add(t * p);
                            $tap
                        }
                    }
                    let $dst = ap.add(oy * l + j);
                    $store
                    j += BLOCK;
                }
                seg += p;
                si += 1;
            }
        }
    }};
}

/// AVX2: the 16 lanes of a block as two `ymm`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn rows_avx2(pk: &Packed, g: &Geometry, padded: &[i16], acc: &mut [i32]) {
    check(pk, g, padded, acc);
    let (mut a0, mut a1): (__m256i, __m256i);
    for_blocks!(
        pk,
        g,
        padded,
        acc,
        {
            a0 = _mm256_setzero_si256();
            a1 = _mm256_setzero_si256();
        },
        |x, w| {
            let x0 = _mm256_cvtepi16_epi32(_mm_loadu_si128(x as *const __m128i));
            let x1 = _mm256_cvtepi16_epi32(_mm_loadu_si128(x.add(8) as *const __m128i));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x0, _mm256_loadu_si256(w as *const __m256i)));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(x1, _mm256_loadu_si256(w.add(8) as *const __m256i)));
        },
        |dst| {
            _mm256_storeu_si256(dst as *mut __m256i, a0);
            _mm256_storeu_si256(dst.add(8) as *mut __m256i, a1);
        }
    )
}

/// AVX-512 (the VNNI path's CPU): the 16 lanes of a block in a `zmm`, even
/// and odd taps in two accumulators (two short dependency chains, summed at
/// the store; the sum wraps, so the grouping changes no bit). (Compiled only
/// when build.rs found rustc ≥ 1.89, where these intrinsics are stable.)
#[cfg(quantlens_avx512)]
#[allow(clippy::incompatible_msrv)]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn rows_avx512(pk: &Packed, g: &Geometry, padded: &[i16], acc: &mut [i32]) {
    check(pk, g, padded, acc);
    let (mut a, mut b): (__m512i, __m512i);
    for_blocks!(
        pk,
        g,
        padded,
        acc,
        {
            a = _mm512_setzero_si512();
            b = _mm512_setzero_si512();
        },
        |x, w| {
            let xv = _mm512_cvtepi16_epi32(_mm256_loadu_si256(x as *const __m256i));
            let sum = _mm512_add_epi32(a, _mm512_madd_epi16(xv, _mm512_loadu_si512(w as *const _)));
            // The next tap goes to the other accumulator (a swap of names, no instruction).
            a = b;
            b = sum;
        },
        |dst| {
            _mm512_storeu_si512(dst as *mut _, _mm512_add_epi32(a, b));
        }
    )
}
