//! The fused gemm for layers of 8 output channels: two patch rows per
//! 16-lane vector.
//!
//! With 8 channels, a panel of 16 lanes would hold 8 useful ones: half of
//! every `vpdpbusd` and of the requantization wasted. Here lanes 0–7 hold
//! row `b`'s channels and lanes 8–15 row `b + 1`'s: the weights and the
//! requantization constants are those of the 8 channels written twice
//! (16 "channels" `c mod 8`), and each input quad is broadcast as row `b`'s
//! dword into the low half and row `b + 1`'s into the high half. The 16
//! results are then rows `b` and `b + 1` of the output, one after the other
//! (8 bytes each): four pairs narrow to 64 contiguous bytes, one store.
//! Every lane computes what [`super::gemm_requant`] computes for its row
//! and channel (the same sums, offsets and rule), so the bytes are the same.
//! An odd last row is paired with itself and only its 8 bytes stored.

use super::{runs_on, FusedTable};
use crate::model::DType;
use crate::ops::gemm::{KernelPath, PackedWeights, PANEL};
use crate::ops::requant::RequantTable;
use crate::profile::Multiplier;

/// Output channels of a layer this form takes.
const M: usize = PANEL / 2;

/// An 8-channel layer's weights and table, each channel twice (module docs).
#[derive(Clone, Debug)]
pub struct Pairs {
    weights: PackedWeights,
    table: FusedTable,
}

impl Pairs {
    /// The paired form of weights `w` and table `t`, or `None` when the
    /// layer does not have 8 output channels or the fused kernel cannot hold
    /// its table ([`FusedTable::new`]).
    pub fn new(w: &PackedWeights, t: &RequantTable, output: DType) -> Option<Pairs> {
        if w.rows != M || t.channels != M {
            return None;
        }
        let w8: Vec<i8> = (0..2 * M).flat_map(|c| (0..w.cols).map(move |k| w.get(c % M, k))).collect();
        let ms: Vec<Multiplier> = (0..2 * M).map(|c| t.multipliers[c % M]).collect();
        let offsets: Vec<i32> = (0..2 * M).map(|c| t.offset(c % M)).collect();
        let twice = RequantTable::new(t.rounding, &ms, t.z3, t.act_min, t.act_max).with_offsets(&offsets);
        Some(Pairs { weights: PackedWeights::pack(2 * M, w.cols, &w8), table: FusedTable::new(&twice, output)? })
    }

    /// [`super::gemm_requant`] for the 8-channel layer: `dst[b·8 + c]` for
    /// the `rows` patch rows of `x` (`w.padded_cols()` bytes each, read as
    /// `byte ^ x_xor`). False (nothing written) when `path` is not one this
    /// kernel runs on.
    pub fn gemm_requant(&self, path: KernelPath, x: &[u8], x_xor: u8, rows: usize, zsum: Option<&[i32]>, dst: &mut [u8]) -> bool {
        assert!(x.len() >= rows * self.weights.padded_cols(), "patch rows too short");
        assert!(dst.len() >= rows * M, "output too short");
        if let Some(z) = zsum {
            assert!(z.len() >= rows, "one zero-point sum per row");
        }
        if !runs_on(path) {
            return false;
        }
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        // SAFETY: the CPU has AVX-512F/BW/VNNI (runs_on); sizes checked above.
        unsafe {
            x86::pairs(&self.weights, &self.table, x, x_xor, rows, zsum, dst);
            true
        }
        #[cfg(not(all(target_arch = "x86_64", quantlens_avx512)))]
        false
    }
}

#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[allow(clippy::incompatible_msrv)]
mod x86 {
    use super::super::x86::{ld, narrow, narrow_consts};
    use super::{FusedTable, M};
    use crate::ops::gemm::{PackedWeights, QUAD};
    use crate::ops::requant_lanes::{with_rule16, x86::Rule};
    use std::arch::x86_64::*;

    /// Pairs of rows per tile: 8 (16 rows, 8 independent `vpdpbusd` chains).
    const PAIRS: usize = 8;

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn pairs(w: &PackedWeights, t: &FusedTable, x: &[u8], x_xor: u8, rows: usize, zsum: Option<&[i32]>, dst: &mut [u8]) {
        match t.signed {
            true => with_rule16!(&t.lanes, R => tiles::<R, true>(w, t, x, x_xor, rows, zsum, dst)),
            false => with_rule16!(&t.lanes, R => tiles::<R, false>(w, t, x, x_xor, rows, zsum, dst)),
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn tiles<F: Rule, const S: bool>(w: &PackedWeights, t: &FusedTable, x: &[u8], x_xor: u8, rows: usize, zsum: Option<&[i32]>, dst: &mut [u8]) {
        let mut b = 0;
        while b < rows {
            let n = (rows - b).min(2 * PAIRS);
            match n.div_ceil(2) {
                8 => tile::<8, F, S>(w, t, x, x_xor, b, n, zsum, dst),
                7 => tile::<7, F, S>(w, t, x, x_xor, b, n, zsum, dst),
                6 => tile::<6, F, S>(w, t, x, x_xor, b, n, zsum, dst),
                5 => tile::<5, F, S>(w, t, x, x_xor, b, n, zsum, dst),
                4 => tile::<4, F, S>(w, t, x, x_xor, b, n, zsum, dst),
                3 => tile::<3, F, S>(w, t, x, x_xor, b, n, zsum, dst),
                2 => tile::<2, F, S>(w, t, x, x_xor, b, n, zsum, dst),
                _ => tile::<1, F, S>(w, t, x, x_xor, b, n, zsum, dst),
            }
            b += n;
        }
    }

    /// Rows `b0..b0 + n` (`n` ≤ 2R) as R pairs: the gemm, the rule `F`, the bytes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize, F: Rule, const S: bool>(
        w: &PackedWeights,
        t: &FusedTable,
        x: &[u8],
        x_xor: u8,
        b0: usize,
        n: usize,
        zsum: Option<&[i32]>,
        dst: &mut [u8],
    ) {
        const HIGH: __mmask16 = 0xFF00;
        let stride = w.padded_cols();
        let xor = _mm512_set1_epi8(x_xor as i8);
        // The row in half `h` of pair `i`: the last row again for an odd n.
        let row = |i: usize, h: usize| b0 + (2 * i + h).min(n - 1);
        let mut lo_p = [x.as_ptr(); R];
        let mut hi_p = [x.as_ptr(); R];
        let mut acc = [_mm512_setzero_si512(); R];
        let off = ld(&t.lanes.offset, 0);
        unroll!(R, i => {
            lo_p[i] = x.as_ptr().add(row(i, 0) * stride);
            hi_p[i] = x.as_ptr().add(row(i, 1) * stride);
            acc[i] = match zsum {
                None => off,
                Some(z) => _mm512_sub_epi32(off, _mm512_mask_set1_epi32(_mm512_set1_epi32(z[row(i, 0)]), HIGH, z[row(i, 1)])),
            };
        });
        let wp = w.blocks.as_ptr() as *const u8;
        for q in 0..w.quads {
            let wv = _mm512_load_si512(wp.add(q * 64) as *const _);
            unroll!(R, i => {
                let lo = (lo_p[i].add(q * QUAD) as *const i32).read_unaligned();
                let hi = (hi_p[i].add(q * QUAD) as *const i32).read_unaligned();
                let xq = _mm512_xor_si512(_mm512_mask_set1_epi32(_mm512_set1_epi32(lo), HIGH, hi), xor);
                acc[i] = _mm512_dpbusd_epi32(acc[i], xq, wv);
            });
        }
        let l = &t.lanes;
        let (lo, hi) = (_mm512_set1_epi32(l.act_min - l.z3), _mm512_set1_epi32(l.act_max - l.z3));
        let k = F::load(l, 0);
        unroll!(R, i => {
            acc[i] = F::apply(l, &k, acc[i], lo, hi);
        });
        // Four pairs (8 rows) to 64 contiguous bytes.
        let nc = narrow_consts(t);
        unroll!(2, g => {
            if 4 * g < R {
                let mut y = [_mm512_setzero_si512(); 4];
                let take = (R - 4 * g).min(4);
                y[..take].copy_from_slice(&acc[4 * g..4 * g + take]);
                let bytes = (n - 8 * g).min(8) * M;
                let mask: __mmask64 = if bytes == 64 { !0 } else { (1u64 << bytes) - 1 };
                _mm512_mask_storeu_epi8(dst.as_mut_ptr().add((b0 + 8 * g) * M) as *mut _, mask, narrow::<S>(&nc, y));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{definition, vnni};
    use super::*;
    use crate::ops::testkit::lcg;
    use crate::profile::Rounding;

    /// The paired kernel against the definition (the scalar gemm, the
    /// zero-point sums, [`RequantTable::apply_scalar`]) on every rounding,
    /// both 8-bit types, with and without zero-point sums, rows 1..=37
    /// (odd counts: a row paired with itself; every tile remainder).
    #[test]
    fn paired_rows_equal_the_definition() {
        if !vnni() {
            return;
        }
        let mut seed = 9u64;
        let reals = [0.25, 2f64.powi(-10), 1.0, 3.0, 1e-9, 0.0039215686, 1.0 / 3.0, 0.125, 0.75 * 0.125];
        let mut checked = 0;
        for cols in [3, 8, 16, 30, 48, 96] {
            let w8: Vec<i8> = (0..M * cols).map(|i| if i % 11 == 0 { -128 } else { lcg(&mut seed) as i8 }).collect();
            let w = PackedWeights::pack(M, cols, &w8);
            let stride = w.padded_cols();
            for rows in (1..=19).chain([31, 32, 37]) {
                let x: Vec<u8> = (0..rows * stride).map(|i| if i % 7 == 0 { 255 } else { lcg(&mut seed) as u8 }).collect();
                for rounding in Rounding::ALL {
                    let shift = checked % reals.len();
                    let mults: Vec<Multiplier> = (0..M).map(|c| Multiplier::from_ratio(reals[(c + shift) % reals.len()] as f32 * 0.01, 1.0)).collect();
                    let offsets: Vec<i32> = (0..M).map(|c| if c == 3 { i32::MAX } else { (lcg(&mut seed) as i32) >> 18 }).collect();
                    for (dtype, z3, lo, hi) in [(DType::I8, -4, -128, 127), (DType::U8, 120, 2, 250)] {
                        let table = RequantTable::new(rounding, &mults, z3, lo, hi).with_offsets(&offsets);
                        let p = Pairs::new(&w, &table, dtype).expect("8 channels, a byte range");
                        for x_xor in [0u8, 0x80] {
                            let z2 = if x_xor == 0 { -3 } else { 0 };
                            let zsum: Vec<i32> = x.chunks_exact(stride).map(|r| z2 * r.iter().map(|&v| (v ^ x_xor) as i32).sum::<i32>()).collect();
                            let want = definition(&w, &table, &x, x_xor, rows, Some(&zsum));
                            // One byte past the output: it must stay untouched.
                            let mut got = vec![0xAA; rows * M + 1];
                            assert!(p.gemm_requant(KernelPath::Avx512Vnni, &x, x_xor, rows, (z2 != 0).then_some(&zsum[..]), &mut got));
                            assert_eq!(got[..rows * M], want[..], "{rounding:?} cols {cols} rows {rows} {dtype:?} xor {x_xor}");
                            assert_eq!(got[rows * M], 0xAA, "a byte past the output written");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 6 * 22 * Rounding::ALL.len() * 2 * 2);
    }

    #[test]
    fn only_eight_channels_pair() {
        let m = |n| vec![Multiplier::from_ratio(0.01, 1.0); n];
        let t = |n| RequantTable::new(Rounding::FixedPointDoubleRounding, &m(n), 0, -128, 127);
        assert!(Pairs::new(&PackedWeights::pack(8, 5, &[1; 40]), &t(8), DType::I8).is_some());
        assert!(Pairs::new(&PackedWeights::pack(16, 5, &[1; 80]), &t(16), DType::I8).is_none());
        assert!(Pairs::new(&PackedWeights::pack(4, 5, &[1; 20]), &t(4), DType::I8).is_none());
        // A table the fused kernel cannot hold: none either.
        assert!(Pairs::new(&PackedWeights::pack(8, 5, &[1; 40]), &t(8), DType::U8).is_none());
    }
}
