//! The direct convolution's accumulation, 8 output channels a `ymm`
//! vector: AVX2 (`vpmaddwd` + `vpaddd`) and AVX-512 VNNI (`vpdpwssd`, the
//! same two products and the add in one instruction, on 256-bit vectors
//! (AVX512VL): the first layers this form serves have 8–32 channels, and
//! on CPUs that split 512-bit operations in two a `zmm` half-empty for 8
//! channels would cost twice as much for nothing).
//!
//! Each output row: the last channel block first, with whole-vector stores
//! whose lanes past `out_c` spill into the next position's first channels,
//! which the other blocks write afterwards (`acc` has 16 spare i32s past the
//! end). Two accumulators take alternate pairs.

use super::DirectConv;
use crate::ops::conv::Geometry;
use std::arch::x86_64::*;

macro_rules! accumulate {
    ($d:expr, $g:expr, $batches:expr, $xc:expr, $acc:expr, |$s:ident, $x:ident, $w:ident| $madd:expr) => {{
        let (d, g): (&DirectConv, &Geometry) = ($d, $g);
        let (m, lanes, np) = (g.out_c, d.lanes, d.pair_off.len());
        let blocks = m.div_ceil(8);
        assert!($acc.len() >= $batches * g.out_h * g.out_w * m + 16 && d.weights.len() >= np * lanes && lanes >= blocks * 8);
        let (step, row_step) = (g.stride_w * g.in_c, g.stride_h * d.wp * g.in_c);
        let (x, a, off) = ($xc.as_ptr(), $acc.as_mut_ptr(), d.pair_off.as_ptr());
        for b in 0..$batches {
            for oy in 0..g.out_h {
                let row = b * d.hp * d.wp * g.in_c + oy * row_step;
                let p0 = (b * g.out_h + oy) * g.out_w;
                for cb in std::iter::once(blocks - 1).chain(0..blocks - 1) {
                    let w = d.weights.as_ptr().add(cb * 8);
                    for ox in 0..g.out_w {
                        let base = x.add(row + ox * step);
                        let pair = |j: usize| _mm256_set1_epi32((base.add(*off.add(j)) as *const i32).read_unaligned());
                        let wj = |j: usize| _mm256_loadu_si256(w.add(j * lanes) as *const __m256i);
                        let (mut s0, mut s1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
                        let mut j = 0;
                        while j + 2 <= np {
                            s0 = { let ($s, $x, $w) = (s0, pair(j), wj(j)); $madd };
                            s1 = { let ($s, $x, $w) = (s1, pair(j + 1), wj(j + 1)); $madd };
                            j += 2;
                        }
                        if j < np {
                            s0 = { let ($s, $x, $w) = (s0, pair(j), wj(j)); $madd };
                        }
                        _mm256_storeu_si256(a.add((p0 + ox) * m + cb * 8) as *mut __m256i, _mm256_add_epi32(s0, s1));
                    }
                }
            }
        }
    }};
}

#[target_feature(enable = "avx2")]
pub(super) unsafe fn accumulate_avx2(d: &DirectConv, g: &Geometry, batches: usize, xc: &[i16], acc: &mut [i32]) {
    accumulate!(d, g, batches, xc, acc, |s, x, w| _mm256_add_epi32(s, _mm256_madd_epi16(x, w)))
}

#[cfg(quantlens_avx512)]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn accumulate_avx512(d: &DirectConv, g: &Geometry, batches: usize, xc: &[i16], acc: &mut [i32]) {
    accumulate!(d, g, batches, xc, acc, |s, x, w| _mm256_dpwssd_epi32(s, x, w))
}
