//! FULLY_CONNECTED's matrix product `dot[b][c] = Σ_k xu[b][k] · w8[c][k]`
//! (the [`super::gemm`] definition, same packed weights, same exact wrapping
//! result) with register tiles sized for the layer's shape on AVX-512 VNNI.
//!
//! # Why tiles
//!
//! `vpdpbusd` (u8 × i8, four products summed into each i32 lane) has a
//! latency of several cycles but starts one per cycle. A loop that feeds a
//! single accumulator waits the latency every step: one 64-byte weight block
//! per ~4 cycles. The kernels here keep `R · NP · KS` independent
//! accumulators in flight:
//!
//! * `R` input rows (samples) share each weight load (a batch);
//! * `NP` panels of 16 output channels share each input broadcast;
//! * `KS` interleaved slices of the inputs (quad `q` feeds slice `q mod KS`)
//!   give a single sample independent chains too; the slices are added at
//!   the end (wrapping, so the sum is the same integer).
//!
//! One sample (`R = 1`) streams the packed weights once, four panels at a
//! time with two slices (8 chains); a batch takes 8 rows × 2 panels (16
//! chains, one weight load per 8 multiply-adds, the 8 rows' inputs in L1).
//!
//! Other paths ([`KernelPath::Scalar`], [`KernelPath::Avx2`]) run
//! [`gemm::matmul`] unchanged.

use super::gemm::{self, KernelPath, PackedWeights};

/// `out[b·rows + c] = Σ_k xu[b·stride + k] · w8[c][k]` for `b < batch`
/// (`stride = w.padded_cols()`, each input row zero-padded past `w.cols`),
/// exact in wrapping i32 like [`gemm::matmul`], whose result it equals on
/// every path.
pub fn matmul(path: KernelPath, w: &PackedWeights, xu: &[u8], batch: usize, out: &mut [i32], scratch: &mut gemm::Scratch) {
    let stride = w.padded_cols();
    assert!(xu.len() >= batch * stride, "input rows too short");
    assert!(out.len() >= batch * w.rows, "output too short");
    #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
    if path == KernelPath::Avx512Vnni && KernelPath::Avx512Vnni.is_available() {
        // SAFETY: the CPU has AVX-512F/BW/VNNI (checked above); sizes checked above.
        unsafe { vnni::matmul(w, xu, batch, out) };
        return;
    }
    gemm::matmul(path, w, xu, batch, out, scratch)
}

/// One sample (`batch = 1`) given as bytes `xu ^ x_xor` (see
/// [`gemm::matmul_xor`]: with `x_xor = 0x80` an int8 row's own bytes), so
/// the caller need not convert it; the VNNI kernel flips each quad as it
/// broadcasts it (free: one sample is bound by the weight loads).
pub fn gemv_xor(path: KernelPath, w: &PackedWeights, x: &[u8], x_xor: u8, out: &mut [i32], scratch: &mut gemm::Scratch) {
    assert!(x.len() >= w.padded_cols(), "input row too short");
    assert!(out.len() >= w.rows, "output too short");
    #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
    if path == KernelPath::Avx512Vnni && KernelPath::Avx512Vnni.is_available() {
        // SAFETY: the CPU has AVX-512F/BW/VNNI (checked above); sizes checked above.
        unsafe { vnni::panels::<1, 4, 2, 4, true>(w, x.as_ptr(), i32::from_ne_bytes([x_xor; 4]), out.as_mut_ptr()) };
        return;
    }
    gemm::matmul_xor(path, w, x, x_xor, 1, out, scratch)
}

#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[allow(clippy::incompatible_msrv)]
mod vnni {
    use super::super::gemm::{PackedWeights, PANEL, QUAD};
    use std::arch::x86_64::*;

    /// Rows per batch tile.
    const ROWS: usize = 8;

    /// Every sample, [`ROWS`] at a time, with the tile shape of the rows left.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn matmul(w: &PackedWeights, xu: &[u8], batch: usize, out: &mut [i32]) {
        let stride = w.padded_cols();
        let mut b = 0;
        while b < batch {
            let r = (batch - b).min(ROWS);
            let x = xu.as_ptr().add(b * stride);
            let o = out.as_mut_ptr().add(b * w.rows);
            // <rows, panels per tile, slices; slices of the one-panel tail tiles>
            match r {
                8 => panels::<8, 2, 1, 1, false>(w, x, 0, o),
                7 => panels::<7, 2, 1, 1, false>(w, x, 0, o),
                6 => panels::<6, 2, 1, 1, false>(w, x, 0, o),
                5 => panels::<5, 2, 1, 2, false>(w, x, 0, o),
                4 => panels::<4, 2, 1, 2, false>(w, x, 0, o),
                3 => panels::<3, 2, 2, 2, false>(w, x, 0, o),
                2 => panels::<2, 2, 2, 4, false>(w, x, 0, o),
                _ => panels::<1, 4, 2, 4, false>(w, x, 0, o),
            }
            b += r;
        }
    }

    /// All panels for `R` rows: tiles of `NP` panels, then single panels
    /// with `KS1` slices. With `XOR`, every input quad is `^ xor4` first.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn panels<const R: usize, const NP: usize, const KS: usize, const KS1: usize, const XOR: bool>(
        w: &PackedWeights,
        x: *const u8,
        xor4: i32,
        o: *mut i32,
    ) {
        let mut p = 0;
        while p + NP <= w.panels {
            tile::<R, NP, KS, XOR>(w, x, xor4, p, o);
            p += NP;
        }
        while p < w.panels {
            tile::<R, 1, KS1, XOR>(w, x, xor4, p, o);
            p += 1;
        }
    }

    /// Rows `0..R` (inputs at `x`, row stride `w.padded_cols()`) × panels
    /// `p0..p0 + NP` into `o` (row stride `w.rows`; only the valid channels
    /// of a last partial panel are written).
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn tile<const R: usize, const NP: usize, const KS: usize, const XOR: bool>(w: &PackedWeights, x: *const u8, xor4: i32, p0: usize, o: *mut i32) {
        let quads = w.quads;
        let stride = w.padded_cols();
        // Panel p0 + j, quad q is the 64-byte block at wp + (j·quads + q)·64.
        let wp = w.blocks.as_ptr().add(p0 * quads) as *const u8;
        let mut acc = [[[_mm512_setzero_si512(); NP]; R]; KS];
        macro_rules! quad {
            ($s:expr, $q:expr) => {{
                let q = $q;
                let mut wv = [_mm512_setzero_si512(); NP];
                for (j, v) in wv.iter_mut().enumerate() {
                    *v = _mm512_load_si512(wp.add((j * quads + q) * 64) as *const _);
                }
                for r in 0..R {
                    let xq = (x.add(r * stride + q * QUAD) as *const i32).read_unaligned();
                    let xq = _mm512_set1_epi32(if XOR { xq ^ xor4 } else { xq });
                    for j in 0..NP {
                        acc[$s][r][j] = _mm512_dpbusd_epi32(acc[$s][r][j], xq, wv[j]);
                    }
                }
            }};
        }
        let mut q = 0;
        while q + KS <= quads {
            for s in 0..KS {
                quad!(s, q + s);
            }
            q += KS;
        }
        while q < quads {
            quad!(0, q);
            q += 1;
        }
        for r in 0..R {
            for j in 0..NP {
                let mut a = acc[0][r][j];
                for slice in acc.iter().skip(1) {
                    a = _mm512_add_epi32(a, slice[r][j]);
                }
                let c0 = (p0 + j) * PANEL;
                let n = PANEL.min(w.rows - c0);
                let mask: __mmask16 = if n == PANEL { !0 } else { (1u16 << n) - 1 };
                _mm512_mask_storeu_epi32(o.add(r * w.rows + c0), mask, a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testkit::lcg;

    /// Every available path, every batch 1..=19 (each tile shape and the
    /// row tails), shapes with partial panels and odd inputs, weights using
    /// −128 and 127, inputs using 0 and 255: equal to the definition.
    #[test]
    fn fast_matmul_matches_the_definition_on_every_path() {
        let mut seed = 11u64;
        for &(rows, cols) in &[(1, 1), (10, 100), (17, 33), (33, 7), (48, 5), (100, 512), (70, 129), (512, 61)] {
            let w8: Vec<i8> = (0..rows * cols)
                .map(|i| match i % 13 {
                    0 => -128,
                    1 => 127,
                    _ => lcg(&mut seed) as u8 as i8,
                })
                .collect();
            let pw = PackedWeights::pack(rows, cols, &w8);
            let stride = pw.padded_cols();
            for batch in 1..=19 {
                let mut xu = vec![0u8; batch * stride];
                for b in 0..batch {
                    for k in 0..cols {
                        xu[b * stride + k] = match (b + k) % 9 {
                            0 => 0,
                            1 => 255,
                            _ => lcg(&mut seed) as u8,
                        };
                    }
                }
                let want: Vec<i32> = (0..batch * rows)
                    .map(|e| {
                        let (b, c) = (e / rows, e % rows);
                        (0..cols).fold(0i32, |a, k| a.wrapping_add(xu[b * stride + k] as i32 * w8[c * cols + k] as i32))
                    })
                    .collect();
                for path in KernelPath::available() {
                    let mut got = vec![0; batch * rows];
                    matmul(path, &pw, &xu, batch, &mut got, &mut gemm::Scratch::default());
                    assert_eq!(got, want, "{path} rows {rows} cols {cols} batch {batch}");
                    if batch == 1 {
                        // The same row as int8 bytes, and as u8 bytes with no flip.
                        let xs: Vec<u8> = xu.iter().map(|&v| v ^ 0x80).collect();
                        for (x, xor) in [(&xs, 0x80), (&xu, 0)] {
                            let mut got = vec![0; rows];
                            gemv_xor(path, &pw, x, xor, &mut got, &mut gemm::Scratch::default());
                            assert_eq!(got, want, "{path} gemv xor {xor} rows {rows} cols {cols}");
                        }
                    }
                }
            }
        }
    }

    /// The accumulators wrap like the runtimes' int32 sums: 255 · 127 per
    /// product over 70 000 inputs exceeds 2³¹.
    #[test]
    fn fast_matmul_wraps_like_int32() {
        let (rows, cols) = (20, 70_000);
        let w8 = vec![127i8; rows * cols];
        let pw = PackedWeights::pack(rows, cols, &w8);
        let xu = vec![255u8; pw.padded_cols()];
        let want = (0..cols).fold(0i32, |a, _| a.wrapping_add(255 * 127));
        for path in KernelPath::available() {
            let mut got = vec![0; rows];
            matmul(path, &pw, &xu, 1, &mut got, &mut gemm::Scratch::default());
            assert!(got.iter().all(|&g| g == want), "{path}");
        }
    }
}
