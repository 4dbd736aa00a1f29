//! The pixel loop of [`super::Packed`] in x86 SIMD: per output pixel and
//! block of channels, per tap inside one widening load of the input bytes
//! and one multiply-add by the tap's weights, then the requantization in
//! registers and one store of the output bytes.
//!
//! The products are exact: an int8 layer widens input and weight bytes to
//! i32 and multiplies the lanes (`vpmulld`; |x·w| ≤ 2¹⁴). A uint8 layer
//! zero-extends the input bytes and the i16 `W − Z2` to i32 lanes, so each
//! lane's high i16 half is zero: `vpmaddwd` (and `vpdpwssd`, which also
//! adds) sums `lo(x)·lo(w) + 0·0 = x·(W − Z2)`, exact in i32. The adds wrap
//! like the runtimes' int32.
//!
//! The rounding rule and the input's signedness are constants of each
//! compiled kernel (`R`, `S`): [`requantize8`]'s `match` and the choice of
//! extension fold away, and the table's vectors stay in registers.
//!
//! A partial block (the last `n < 8` channels)
//! loads its input bytes through a zeroed 16-byte copy when a full load
//! would read past the image, and stores only its `n` bytes.

use super::{Packed, BLOCK};
use crate::ops::conv::Geometry;
use crate::ops::requant::requantize8;
use crate::profile::Rounding;
use std::arch::x86_64::*;

fn check(pk: &Packed, g: &Geometry, x: &[u8], out: &[u8]) {
    let c = pk.channels;
    assert!(x.len() >= g.in_h * g.in_w * c, "input image too short");
    assert!(out.len() >= g.out_h * g.out_w * c, "output image too short");
    assert!(pk.cpad % BLOCK == 0 && pk.cpad >= c && pk.weights.len() >= g.k_h * g.k_w * pk.cpad * pk.wbytes);
    assert!(pk.wbytes == if pk.dtype == crate::model::DType::I8 { 1 } else { 2 });
    assert!(pk.rows.len() == g.out_h && pk.cols.len() == g.out_w);
    assert!(pk.offsets.len() >= (pk.rows.iter().map(|r| r.class).max().unwrap_or(0) + 1) * pk.col_classes * pk.cpad);
    assert!(pk.cols.iter().all(|s| s.class < pk.col_classes) && pk.table.channels == c);
    if let Some(u) = &pk.run {
        let row_classes = pk.rows.iter().map(|r| r.class).max().unwrap_or(0) + 1;
        assert!(g.stride_w == 1 && u.a < u.b && u.b <= g.out_w && u.lanes == (u.b - u.a) * c && u.lpad % BLOCK == 0 && u.lpad >= u.lanes);
        assert!(pk.cols[u.a..u.b].iter().all(|s| s.class == pk.cols[u.a].class) && u.table.channels == u.lanes);
        assert!(u.weights.len() >= g.k_h * g.k_w * u.lpad * pk.wbytes && u.offsets.len() >= row_classes * u.lpad);
    }
}

/// Every output pixel (or [`Run`](super::Run) of pixels taken as one), then
/// every block of its lanes (`$c`: the first lane, `$n`: how many, at most
/// `$width`): `$body`, with `$t` the unit's requantization table, `$offs`
/// its class's offsets, `$dst` its output bytes and `$taps` what
/// [`for_taps`] needs. `$wb`: bytes per weight. Plain loops, no closures:
/// everything inlines into the `target_feature` function.
macro_rules! for_blocks {
    ($pk:expr, $g:expr, $x:expr, $out:expr, $width:expr, $wb:expr, |$t:ident, $c:ident, $n:ident, $offs:ident, $dst:ident, $taps:ident| $body:block) => {{
        let (pk, g): (&Packed, &Geometry) = ($pk, $g);
        let (c_all, kw, wb) = (pk.channels, g.k_w, $wb);
        let (xp, op) = ($x.as_ptr(), $out.as_mut_ptr());
        // Input elements between two tap rows, two tap columns.
        let (row_step, col_step) = (g.dil_h * g.in_w * c_all, g.dil_w * c_all);
        let run_at = pk.run.as_ref().map_or(usize::MAX, |u| u.a);
        for (oy, r) in pk.rows.iter().enumerate() {
            let mut ox = 0;
            while ox < g.out_w {
                let s = &pk.cols[ox];
                let base = xp.add((r.start * g.in_w + s.start) * c_all);
                let $dst = op.add((oy * g.out_w + ox) * c_all);
                // The unit: its lanes, lanes per tap, weights, offsets, table, next column.
                let (lanes, cp, wts, $offs, $t, next) = match &pk.run {
                    Some(u) if ox == run_at => (u.lanes, u.lpad, u.weights.as_ptr(), u.offsets.as_ptr().add(r.class * u.lpad), &u.table, u.b),
                    _ => (c_all, pk.cpad, pk.weights.as_ptr(), pk.offsets.as_ptr().add((r.class * pk.col_classes + s.class) * pk.cpad), &pk.table, ox + 1),
                };
                let first_w = wts.add((r.k0 * kw + s.k0) * cp * wb);
                let $taps = (base, first_w, r.k1 - r.k0, s.k1 - s.k0, row_step, col_step, kw * cp * wb, cp * wb, wb);
                let mut $c = 0;
                while $c < lanes {
                    let $n = (lanes - $c).min($width);
                    $body
                    $c += $n;
                }
                ox = next;
            }
        }
    }};
}

/// For each tap inside (`$taps` from [`for_blocks`]): `$body` with `$x`
/// (the tap's input at channel `$c`) and `$w` (its weights at `$c`).
macro_rules! for_taps {
    ($taps:expr, $c:expr, |$x:ident, $w:ident| $body:block) => {{
        let (base, first_w, nky, nkx, row_step, col_step, w_row, w_col, wb) = $taps;
        let (mut xr, mut wr) = (base.wrapping_add($c), first_w.wrapping_add($c * wb));
        if nkx == 3 {
            // A full row of a 3-wide kernel (the common case) unrolled: no loop per tap.
            for _ in 0..nky {
                let ($x, $w) = (xr, wr);
                $body
                let ($x, $w) = (xr.wrapping_add(col_step), wr.wrapping_add(w_col));
                $body
                let ($x, $w) = (xr.wrapping_add(2 * col_step), wr.wrapping_add(2 * w_col));
                $body
                xr = xr.wrapping_add(row_step);
                wr = wr.wrapping_add(w_row);
            }
        } else {
            for _ in 0..nky {
                let (mut $x, mut $w) = (xr, wr);
                for _ in 0..nkx {
                    $body
                    $x = $x.wrapping_add(col_step);
                    $w = $w.wrapping_add(w_col);
                }
                xr = xr.wrapping_add(row_step);
                wr = wr.wrapping_add(w_row);
            }
        }
    }};
}

/// `a + x·w` for 8 channels: `x` the input bytes at `xq`, `w` the weights at `wq`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn mac8<const S: bool>(a: __m256i, xq: *const u8, wq: *const u8) -> __m256i {
    if S {
        let x = _mm256_cvtepi8_epi32(_mm_loadl_epi64(xq as *const __m128i));
        let w = _mm256_cvtepi8_epi32(_mm_loadl_epi64(wq as *const __m128i));
        _mm256_add_epi32(a, _mm256_mullo_epi32(x, w))
    } else {
        let x = _mm256_cvtepu8_epi32(_mm_loadl_epi64(xq as *const __m128i));
        let w = _mm256_cvtepu16_epi32(_mm_loadu_si128(wq as *const __m128i));
        _mm256_add_epi32(a, _mm256_madd_epi16(x, w))
    }
}

/// `p`, or (when fewer than `len` bytes from `p` to `end`) a zeroed copy of
/// its first `n` bytes in `buf`: a pointer `len` bytes can be loaded from.
#[inline(always)]
unsafe fn readable(p: *const u8, n: usize, len: usize, end: *const u8, buf: &mut [u8; 16]) -> *const u8 {
    if (end as usize) - (p as usize) >= len {
        p
    } else {
        *buf = [0; 16];
        std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
        buf.as_ptr()
    }
}

/// The 16 results `y0` (channels 0–7) and `y1` (8–15) as bytes, in order.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn bytes16<const S: bool>(y0: __m256i, y1: __m256i) -> __m128i {
    // i16 [y0 0–3, y1 0–3 | y0 4–7, y1 4–7]; the qword permutation puts y0 before y1.
    let w = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(y0, y1));
    let (lo, hi) = (_mm256_castsi256_si128(w), _mm256_extracti128_si256::<1>(w));
    // The results lie in the clamp range, inside the type: the packs never saturate.
    if S {
        _mm_packs_epi16(lo, hi)
    } else {
        _mm_packus_epi16(lo, hi)
    }
}

/// Store the first `n` of the 16 bytes `v` at `dst`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn store_bytes(dst: *mut u8, v: __m128i, n: usize) {
    if n == 16 {
        _mm_storeu_si128(dst as *mut __m128i, v);
    } else if n == 8 {
        _mm_storel_epi64(dst as *mut __m128i, v);
    } else {
        let mut buf = [0u8; 16];
        _mm_storeu_si128(buf.as_mut_ptr() as *mut __m128i, v);
        std::ptr::copy_nonoverlapping(buf.as_ptr(), dst, n);
    }
}

/// Pick the kernel compiled for the input's signedness and the table's rounding.
macro_rules! dispatch {
    ($f:ident, $pk:expr, $g:expr, $x:expr, $out:expr) => {{
        let r = Rounding::ALL.iter().position(|&r| r == $pk.table.rounding).unwrap_or(0);
        match ($pk.dtype == crate::model::DType::I8, r) {
            (true, 0) => $f::<true, 0>($pk, $g, $x, $out),
            (true, 1) => $f::<true, 1>($pk, $g, $x, $out),
            (true, 2) => $f::<true, 2>($pk, $g, $x, $out),
            (true, 3) => $f::<true, 3>($pk, $g, $x, $out),
            (true, _) => $f::<true, 4>($pk, $g, $x, $out),
            (false, 0) => $f::<false, 0>($pk, $g, $x, $out),
            (false, 1) => $f::<false, 1>($pk, $g, $x, $out),
            (false, 2) => $f::<false, 2>($pk, $g, $x, $out),
            (false, 3) => $f::<false, 3>($pk, $g, $x, $out),
            (false, _) => $f::<false, 4>($pk, $g, $x, $out),
        }
    }};
}

/// AVX2: blocks of 16 channels as two `ymm` (two independent sums), then 8.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn image_avx2(pk: &Packed, g: &Geometry, x: &[u8], out: &mut [u8]) {
    check(pk, g, x, out);
    dispatch!(avx2, pk, g, x, out)
}

#[target_feature(enable = "avx2")]
unsafe fn avx2<const S: bool, const R: usize>(pk: &Packed, g: &Geometry, x: &[u8], out: &mut [u8]) {
    let rule = Rounding::ALL[R];
    // Bytes per weight (a constant: `check` made sure).
    let wb: usize = if S { 1 } else { 2 };
    let end = x.as_ptr().add(x.len());
    let mut buf = [0u8; 16];
    for_blocks!(pk, g, x, out, 16, wb, |t, c, n, offs, dst, taps| {
        if n == 16 {
            let mut a0 = _mm256_loadu_si256(offs.add(c) as *const __m256i);
            let mut a1 = _mm256_loadu_si256(offs.add(c + 8) as *const __m256i);
            for_taps!(taps, c, |xq, wq| {
                a0 = mac8::<S>(a0, xq, wq);
                a1 = mac8::<S>(a1, xq.add(8), wq.add(8 * wb));
            });
            let v = bytes16::<S>(requantize8(t, rule, c, a0), requantize8(t, rule, c + 8, a1));
            _mm_storeu_si128(dst.add(c) as *mut __m128i, v);
        } else {
            // At most two blocks of 8: the last `n < 16` channels.
            let mut c8 = c;
            while c8 < c + n {
                let k = (c + n - c8).min(8);
                let mut a = _mm256_loadu_si256(offs.add(c8) as *const __m256i);
                for_taps!(taps, c8, |xq, wq| {
                    a = mac8::<S>(a, readable(xq, k, 8, end, &mut buf), wq);
                });
                let y = requantize8(t, rule, c8, a);
                store_bytes(dst.add(c8), bytes16::<S>(y, y), k);
                c8 += k;
            }
        }
    })
}
