//! CONV_2D's gemm with the requantization fused into its stores (AVX-512
//! VNNI): each tile of accumulators is requantized while it is still in
//! registers and leaves the kernel as the output's bytes, with no i32
//! buffer written and read back.
//!
//! # What a tile computes
//!
//! For patch row `b` and output channel `c` (see [`super::conv_gemm`] for the
//! fold of the zero points):
//!
//! ```text
//!     acc      = Σ_k xu[b][k] · w8[c][k]                 vpdpbusd, 16 channels per zmm
//!     acc'     = acc + fold[c] − z2'·Σ_k xu[b][k]        wrapping i32 (the second term only when z2' ≠ 0)
//!     y[b][c]  = clamp(Z3 + round(M[c] · acc'), act_min, act_max)   the profile's Rounding
//! ```
//!
//! and stores `y` narrowed to one byte (`vpmovdb`: the clamp range lies in
//! the output's 8-bit type, so truncation is exact for int8 and uint8).
//!
//! # The rounding rules on 16 lanes
//!
//! Each [`Rounding`](crate::profile::Rounding) is the shared 16-lane form of
//! [`super::requant_lanes`] (the lane-wise image of
//! [`Rounding::apply`](crate::profile::Rounding::apply); the double rounding
//! and ties up as one floor division when every channel shifts right), its
//! per-channel constants ([`LaneTable`]) built once in prepare. A tile
//! requantizes panel by panel, the panel's constants loaded once for its rows.
//!
//! The rounded values of four panels then go to bytes together: saturated
//! to i16, `+ Z3` saturating, to bytes saturating, then the activation clamp
//! on the 64 bytes, and one store per row (see `narrow`: every step keeps a
//! value on its side of the clamp range). [`FusedTable::new`] refuses tables
//! where this could differ from the scalar rule (`Z3` outside ±1024, a clamp
//! range outside the output type, or `M0 = i32::MIN`).
//!
//! # Tiling
//!
//! A tile is up to 4 rows × 4 panels (64 channels): 16 zmm accumulators,
//! per input quad 4 weight loads and 4 broadcasts for 16 `vpdpbusd`. Panels
//! are the outer loop, so the weights of one panel group (64·K bytes) stay
//! in L1 while the patch rows stream past them.

use super::gemm::{KernelPath, PackedWeights};
use super::requant::RequantTable;
use super::requant_lanes::LaneTable;
use crate::model::DType;
use crate::tensor::{Data, Value};

/// `$body` for `$i` = 0, 1, … `$n − 1` (`$n` ≤ 8, a constant), written
/// out: every index a constant, so arrays of vectors stay in registers.
#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
macro_rules! unroll {
    ($n:expr, $i:ident => $body:block) => {
        unroll!(@ $n, $i, $body, 0 1 2 3 4 5 6 7)
    };
    (@ $n:expr, $i:ident, $body:block, $($k:literal)*) => {
        $(if $k < $n {
            #[allow(clippy::identity_op)]
            let $i = $k;
            $body
        })*
    };
}

mod pairs;
pub use pairs::Pairs;

/// A requantization table in the fused kernel's form: the shared 16-lane
/// constants ([`LaneTable`], padded to whole panels), built once in prepare.
#[derive(Clone, Debug, PartialEq)]
pub struct FusedTable {
    lanes: LaneTable,
    /// int8 output (else uint8).
    signed: bool,
}

impl FusedTable {
    /// The fused form of `t` (multipliers, offsets, Z3, clamp range), or
    /// `None` when the vector recipe could differ from the definition (see
    /// the module docs) or the clamp range does not lie in `output`, an 8-bit type.
    pub fn new(t: &RequantTable, output: DType) -> Option<FusedTable> {
        const SMALL: i32 = 1024;
        let range = match output {
            DType::I8 => -128..=127,
            DType::U8 => 0..=255,
            _ => return None,
        };
        let byte = t.act_min <= t.act_max && range.contains(&t.act_min) && range.contains(&t.act_max);
        let ms = &t.multipliers;
        if !byte || t.channels == 0 || ms.len() != t.channels || ms.iter().any(|m| m.m0 == i32::MIN) || !(-SMALL..=SMALL).contains(&t.z3) {
            return None;
        }
        let offset: Vec<i32> = (0..t.channels).map(|c| t.offset(c)).collect();
        Some(FusedTable { lanes: LaneTable::new(t.rounding, ms, &offset, t.z3, t.act_min, t.act_max), signed: output == DType::I8 })
    }
}

impl FusedTable {
    /// The shared 16-lane constants (for FULLY_CONNECTED's fused stores).
    pub(crate) fn lanes(&self) -> &LaneTable {
        &self.lanes
    }
}

/// `out`'s buffer as `n` bytes of `dtype` (int8 or uint8), reusing it when it
/// already holds that type; `None` for any other dtype.
pub fn out_bytes(out: &mut Value, dtype: DType, n: usize) -> Option<&mut [u8]> {
    match (&out.data, dtype) {
        (Data::I8(_), DType::I8) | (Data::U8(_), DType::U8) => {}
        (_, DType::I8) => out.data = Data::I8(Vec::new()),
        (_, DType::U8) => out.data = Data::U8(Vec::new()),
        _ => return None,
    }
    match &mut out.data {
        Data::U8(o) => {
            o.resize(n, 0);
            Some(o)
        }
        Data::I8(o) => {
            o.resize(n, 0);
            // SAFETY: i8 and u8 have the same layout; every bit pattern is valid for both.
            Some(unsafe { std::slice::from_raw_parts_mut(o.as_mut_ptr() as *mut u8, n) })
        }
        _ => None,
    }
}

/// True when [`gemm_requant`] runs on `path` on this CPU.
pub fn runs_on(path: KernelPath) -> bool {
    cfg!(all(target_arch = "x86_64", quantlens_avx512)) && path == KernelPath::Avx512Vnni && path.is_available()
}

/// `dst[b·channels + c] = y[b][c]` (module docs) for the `rows` patch rows
/// of `x` (stored as `xu ^ x_xor`, `w.padded_cols()` bytes each), where
/// `zsum[b] = z2'·Σ_k xu[b][k]` when given. Returns false (and writes
/// nothing) when `path` is not one this kernel runs on ([`runs_on`]).
#[allow(clippy::too_many_arguments)]
pub fn gemm_requant(path: KernelPath, w: &PackedWeights, t: &FusedTable, x: &[u8], x_xor: u8, rows: usize, zsum: Option<&[i32]>, dst: &mut [u8]) -> bool {
    assert_eq!(w.rows, t.lanes.channels, "one table channel per weight row");
    assert!(x.len() >= rows * w.padded_cols(), "patch rows too short");
    assert!(dst.len() >= rows * w.rows, "output too short");
    if let Some(z) = zsum {
        assert!(z.len() >= rows, "one zero-point sum per row");
    }
    if !runs_on(path) {
        return false;
    }
    #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
    // SAFETY: the CPU has AVX-512F/BW/VNNI (runs_on); sizes checked above; the table is padded to whole panels.
    unsafe {
        x86::gemm_requant(w, t, x, x_xor, rows, zsum, dst);
        true
    }
    #[cfg(not(all(target_arch = "x86_64", quantlens_avx512)))]
    false
}

#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[allow(clippy::incompatible_msrv)]
mod x86 {
    use super::FusedTable;
    use crate::ops::gemm::{PackedWeights, PANEL, QUAD};
    use crate::ops::requant_lanes::{with_rule16, x86::Rule};
    use std::arch::x86_64::*;

    /// Rows × panels per tile, by the layer's panel count: 8 × 1 and 6 × 2
    /// for narrow layers (enough independent `vpdpbusd` chains to hide its
    /// latency), else 4 × 4. (More panels for a lone row measured slower:
    /// such layers stream their weights from L2, one panel at a time is best.)
    fn tile_shape(panels: usize) -> (usize, usize) {
        match panels {
            1 => (8, 1),
            2 => (6, 2),
            _ => (4, 4),
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn gemm_requant(w: &PackedWeights, t: &FusedTable, x: &[u8], x_xor: u8, rows: usize, zsum: Option<&[i32]>, dst: &mut [u8]) {
        // The rule chosen once, outside every loop.
        match t.signed {
            true => with_rule16!(&t.lanes, R => tiles::<R, true>(w, t, x, x_xor, rows, zsum, dst)),
            false => with_rule16!(&t.lanes, R => tiles::<R, false>(w, t, x, x_xor, rows, zsum, dst)),
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn tiles<F: Rule, const S: bool>(w: &PackedWeights, t: &FusedTable, x: &[u8], x_xor: u8, rows: usize, zsum: Option<&[i32]>, dst: &mut [u8]) {
        let (tr, tp) = tile_shape(w.panels);
        let mut p = 0;
        while p < w.panels {
            let np = (w.panels - p).min(tp);
            let mut b = 0;
            while b < rows {
                let nr = (rows - b).min(tr);
                macro_rules! go {
                    ($($r:literal, $q:literal;)*) => {
                        match (nr, np) {
                            $(($r, $q) => tile::<$r, $q, F, S>(w, t, x, x_xor, b, p, zsum, dst),)*
                            _ => unreachable!("tile_shape's tiles and their remainders"),
                        }
                    };
                }
                go!(8, 1; 7, 1; 6, 1; 5, 1; 6, 2; 5, 2;
                    4, 4; 4, 3; 4, 2; 4, 1; 3, 4; 3, 3; 3, 2; 3, 1; 2, 4; 2, 3; 2, 2; 2, 1; 1, 4; 1, 3; 1, 2; 1, 1;);
                b += nr;
            }
            p += np;
        }
    }

    /// Rows `b0..b0+R` × panels `p0..p0+P`: the gemm in registers, then the
    /// offsets, the rounding `F`, and the bytes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize, const P: usize, F: Rule, const S: bool>(
        w: &PackedWeights,
        t: &FusedTable,
        x: &[u8],
        x_xor: u8,
        b0: usize,
        p0: usize,
        zsum: Option<&[i32]>,
        dst: &mut [u8],
    ) {
        let stride = w.padded_cols();
        let quads = w.quads;
        let xor = _mm512_set1_epi8(x_xor as i8);
        let m = w.rows;
        // The accumulators start at the offsets (fold[c] − z2'·Σxu of the row).
        let mut acc = [[_mm512_setzero_si512(); P]; R];
        for (i, a) in acc.iter_mut().enumerate() {
            for (j, v) in a.iter_mut().enumerate() {
                let off = ld(&t.lanes.offset, (p0 + j) * PANEL);
                *v = match zsum {
                    Some(z) => _mm512_sub_epi32(off, _mm512_set1_epi32(z[b0 + i])),
                    None => off,
                };
            }
        }
        let wp = w.blocks.as_ptr().add(p0 * quads) as *const u8;
        let xp = x.as_ptr().add(b0 * stride);
        let step = |q: usize, acc: &mut [[__m512i; P]; R]| {
            let mut wv = [_mm512_setzero_si512(); P];
            for (j, v) in wv.iter_mut().enumerate() {
                *v = _mm512_load_si512(wp.add((j * quads + q) * 64) as *const _);
            }
            for (i, a) in acc.iter_mut().enumerate() {
                let xq = _mm512_xor_si512(_mm512_set1_epi32((xp.add(i * stride + q * QUAD) as *const i32).read_unaligned()), xor);
                for j in 0..P {
                    a[j] = _mm512_dpbusd_epi32(a[j], xq, wv[j]);
                }
            }
        };
        if R <= 2 {
            // Few rows (a 1×1 or 2×1 map): too few chains to hide `vpdpbusd`'s
            // latency, so odd quads go to a second set of accumulators, added
            // at the end (wrapping: the same integer).
            let mut odd = [[_mm512_setzero_si512(); P]; R];
            let mut q = 0;
            while q + 2 <= quads {
                step(q, &mut acc);
                step(q + 1, &mut odd);
                q += 2;
            }
            if q < quads {
                step(q, &mut acc);
            }
            for (a, o) in acc.iter_mut().zip(&odd) {
                for j in 0..P {
                    a[j] = _mm512_add_epi32(a[j], o[j]);
                }
            }
        } else {
            for q in 0..quads {
                step(q, &mut acc);
            }
        }
        let l = &t.lanes;
        let (lo, hi) = (_mm512_set1_epi32(l.act_min - l.z3), _mm512_set1_epi32(l.act_max - l.z3));
        // Panel by panel: its constants loaded once for the R rows, and only
        // one panel's live at a time (with the 4 × 4 accumulators, four
        // panels' constants would not fit the registers). Unrolled by hand
        // (`unroll!`): as a loop, LLVM kept the accumulators on the stack.
        unroll!(P, j => {
            let k = F::load(l, (p0 + j) * PANEL);
            unroll!(R, i => {
                acc[i][j] = F::apply(l, &k, acc[i][j], lo, hi);
            });
        });
        // The row's P panels are contiguous bytes of the output: one store.
        let n = (P * PANEL).min(m - p0 * PANEL);
        let mask: __mmask64 = if n == 64 { !0 } else { (1u64 << n) - 1 };
        let nc = narrow_consts(t);
        unroll!(R, i => {
            let mut y = [_mm512_setzero_si512(); 4];
            y[..P].copy_from_slice(&acc[i]);
            _mm512_mask_storeu_epi8(dst.as_mut_ptr().add((b0 + i) * m + p0 * PANEL) as *mut _, mask, narrow::<S>(&nc, y));
        });
    }

    /// `Z3` as i16 lanes, the clamp bounds as byte lanes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn narrow_consts(t: &FusedTable) -> [__m512i; 3] {
        let l = &t.lanes;
        [_mm512_set1_epi16(l.z3 as i16), _mm512_set1_epi8(l.act_min as i8), _mm512_set1_epi8(l.act_max as i8)]
    }

    /// Four panels of `round(M·v)` to 64 bytes `clamp(q + Z3, act_min, act_max)`
    /// (`S`: int8, else uint8; `c` from [`narrow_consts`]):
    /// `q` saturated to i16, `+ Z3` saturating (|Z3| ≤ 1024: a saturated `q`
    /// stays outside the byte range), to bytes saturating, then the clamp on
    /// bytes (the range lies in the output type). Each step keeps a value's
    /// side of the clamp, so the result is the exact clamp of `q + Z3`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn narrow<const S: bool>(c: &[__m512i; 3], y: [__m512i; 4]) -> __m512i {
        // Within each 128-bit lane L: [y0 y1 | y2 y3] as i16 (4 lanes each), then bytes
        // [y0 y1 y2 y3] (4 each): dword 4L + p holds panel p's channels 4L..4L+3.
        let a = _mm512_adds_epi16(_mm512_packs_epi32(y[0], y[1]), c[0]);
        let b = _mm512_adds_epi16(_mm512_packs_epi32(y[2], y[3]), c[0]);
        let v = if S {
            _mm512_min_epi8(_mm512_max_epi8(_mm512_packs_epi16(a, b), c[1]), c[2])
        } else {
            _mm512_min_epu8(_mm512_max_epu8(_mm512_packus_epi16(a, b), c[1]), c[2])
        };
        // Dword 4p + L ← dword 4L + p: the panels in order.
        _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), v)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn ld(v: &[i32], c: usize) -> __m512i {
        _mm512_loadu_si512(v.as_ptr().add(c) as *const _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::gemm::{self, Scratch};
    use crate::ops::testkit::lcg;
    use crate::profile::{Multiplier, Rounding};

    /// False (with a note) when the CPU cannot run the fused kernels.
    pub(super) fn vnni() -> bool {
        let ok = runs_on(KernelPath::Avx512Vnni);
        if !ok {
            eprintln!("AVX-512 VNNI not available: nothing to compare");
        }
        ok
    }

    /// The bytes a fused kernel must store: the scalar gemm of `rows` patch
    /// rows of `x` (read as `byte ^ x_xor`), minus the zero-point sums, then
    /// [`RequantTable::apply_scalar`].
    pub(super) fn definition(w: &PackedWeights, table: &RequantTable, x: &[u8], x_xor: u8, rows: usize, zsum: Option<&[i32]>) -> Vec<u8> {
        let mut acc = vec![0; rows * w.rows];
        gemm::matmul_xor(KernelPath::Scalar, w, x, x_xor, rows, &mut acc, &mut Scratch::default());
        if let Some(zsum) = zsum {
            for (row, z) in acc.chunks_exact_mut(w.rows).zip(zsum) {
                row.iter_mut().for_each(|a| *a = a.wrapping_sub(*z));
            }
        }
        table.apply_scalar(&mut acc);
        acc.iter().map(|&v| v as u8).collect()
    }

    /// The fused kernel against the definition: the scalar gemm, the
    /// zero-point sums, [`RequantTable::apply_scalar`], then the bytes. Edge
    /// multipliers (powers of two: ties; > 1: a left shift; tiny), offsets
    /// that wrap the i32 sum, every rounding, both 8-bit types, every tile
    /// shape and remainder (rows 1..=15; 1..=9 panels, the last one partial or whole).
    #[test]
    fn fused_gemm_requant_equals_the_definition() {
        if !vnni() {
            return;
        }
        let mut seed = 5u64;
        let reals = [0.5, 0.25, 2f64.powi(-10), 1.0, 3.0, 1e-9, 0.0039215686, 1.0 / 3.0, 7.5, 2f64.powi(-31), 1e-12, 3e4, 0.75, 2.0, 1e-4];
        // Every multiplier below 1/2 (a right shift r ≥ 1 on every channel): the one-floor form.
        let low = [0.25, 2f64.powi(-10), 1e-9, 0.0039215686, 1.0 / 3.0, 2f64.powi(-31), 1e-4, 0.49999, 0.3, 2f64.powi(-2) * 1.5];
        let mut one_floor = 0;
        let mut checked = 0;
        let mut seen = std::collections::BTreeSet::new();
        for &(rows, cols) in &[(1, 3), (5, 16), (16, 33), (17, 8), (40, 4), (70, 24), (80, 64), (140, 12)] {
            for signed in [true, false] {
                let w8: Vec<i8> = (0..rows * cols).map(|i| if i % 9 == 0 { -128 } else { lcg(&mut seed) as i8 }).collect();
                let w = PackedWeights::pack(rows, cols, &w8);
                let stride = w.padded_cols();
                for batch in [1, 2, 3, 4, 5, 9, 15] {
                    let x: Vec<u8> = (0..batch * stride).map(|i| match i % 5 {
                        0 => 0,
                        1 => 255,
                        _ => lcg(&mut seed) as u8,
                    }).collect();
                    for rounding in Rounding::ALL {
                        let set: &[f64] = if checked % 3 == 0 { &low } else { &reals };
                        let mults: Vec<Multiplier> = (0..rows).map(|c| Multiplier::from_ratio(set[(c + checked) % set.len()] as f32, 1.0)).collect();
                        let offsets: Vec<i32> = (0..rows).map(|c| if c % 4 == 0 { i32::MAX - c as i32 } else { (lcg(&mut seed) as i32) >> (c % 20) }).collect();
                        let (dtype, z3, lo, hi) = if signed { (DType::I8, -5, -128, 127) } else { (DType::U8, 130, 3, 250) };
                        let table = RequantTable::new(rounding, &mults, z3, lo, hi).with_offsets(&offsets);
                        let fused = FusedTable::new(&table, dtype).expect("a byte range");
                        one_floor += fused.lanes.one_floor as usize;
                        for x_xor in [0u8, 0x80] {
                            let z2 = if x_xor == 0 { 3 } else { 0 };
                            let zsum: Vec<i32> = x.chunks_exact(stride).map(|r| z2 * r.iter().map(|&v| (v ^ x_xor) as i32).sum::<i32>()).collect();
                            let want = definition(&w, &table, &x, x_xor, batch, Some(&zsum));
                            let mut got = vec![0xAA; batch * rows];
                            assert!(gemm_requant(KernelPath::Avx512Vnni, &w, &fused, &x, x_xor, batch, (z2 != 0).then_some(&zsum[..]), &mut got));
                            assert_eq!(got, want, "{rounding:?} rows {rows} cols {cols} batch {batch} signed {signed} xor {x_xor}");
                            checked += 1;
                            seen.extend(want.iter().map(|&v| (signed, v)));
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 8 * 2 * 7 * 5 * 2);
        assert!(one_floor > 50, "the one-floor form ran {one_floor} times");
        // Not a test of saturation only: most of both output ranges is reached.
        assert!(seen.len() > 400, "{} distinct outputs", seen.len());
    }

    /// Outputs on exact ties of the final rounding, where the double
    /// rounding (away from zero) and ties up part: small products (inputs
    /// and weights in ±6, offsets that cancel the flip of the inputs' top
    /// bit) and multipliers `2^−k` and `0.75·2^−k` (`M0` = 2^30 and 3·2^29,
    /// so `x·M0 + 2^30` is often a multiple of `2^(30+r)`), accumulators of
    /// both signs. Every table takes the one-floor form; a change of its
    /// sign term (`−2^31·[x < 0]`) fails here.
    #[test]
    fn fused_gemm_requant_is_exact_on_ties_of_both_signs() {
        if !vnni() {
            return;
        }
        let mut seed = 23u64;
        let reals = [0.25, 0.125, 0.0625, 2f64.powi(-5), 0.75 * 0.25, 0.75 * 0.125, 0.75 * 2f64.powi(-6)];
        let (mut ties_neg, mut ties_pos) = (0, 0);
        for &(rows, cols) in &[(8, 8), (48, 8), (24, 16), (16, 48), (40, 12)] {
            let w8: Vec<i8> = (0..rows * cols).map(|_| (lcg(&mut seed) % 13) as i8 - 6).collect();
            let w = PackedWeights::pack(rows, cols, &w8);
            let stride = w.padded_cols();
            // The gemm reads xu = byte ^ 0x80 = s + 128 for the signed byte s: an offset of
            // −128·Σ_k w8 leaves Σ s·w8, plus a small shift.
            let offsets: Vec<i32> = (0..rows).map(|c| -128 * w8[c * cols..(c + 1) * cols].iter().map(|&v| v as i32).sum::<i32>() + (c as i32 % 5) - 2).collect();
            let mults: Vec<Multiplier> = (0..rows).map(|c| Multiplier::from_ratio(reals[c % reals.len()] as f32, 1.0)).collect();
            for batch in [1, 2, 5, 16, 37] {
                let x: Vec<u8> = (0..batch * stride).map(|_| ((lcg(&mut seed) % 13) as i8 - 6) as u8).collect();
                let mut acc = vec![0; batch * rows];
                gemm::matmul_xor(KernelPath::Scalar, &w, &x, 0x80, batch, &mut acc, &mut Scratch::default());
                for (i, a) in acc.iter().enumerate() {
                    let c = i % rows;
                    let (v, m) = (a.wrapping_add(offsets[c]) as i64, &mults[c]);
                    let r = -m.shift;
                    let y = (v * m.m0 as i64 + (1 << 30)) >> 31;
                    if y.rem_euclid(1 << r) == 1 << (r - 1) {
                        if y < 0 {
                            ties_neg += 1;
                        } else {
                            ties_pos += 1;
                        }
                    }
                }
                for rounding in Rounding::ALL {
                    for (dtype, z3, lo, hi) in [(DType::I8, 3, -128, 127), (DType::U8, 128, 0, 255)] {
                        let table = RequantTable::new(rounding, &mults, z3, lo, hi).with_offsets(&offsets);
                        let fused = FusedTable::new(&table, dtype).expect("a byte range");
                        if matches!(rounding, Rounding::FixedPointDoubleRounding | Rounding::FixedPointTiesUp) {
                            assert!(fused.lanes.one_floor, "every shift is right: the one-floor form");
                        }
                        let want = definition(&w, &table, &x, 0x80, batch, None);
                        let mut got = vec![0xAA; batch * rows];
                        assert!(gemm_requant(KernelPath::Avx512Vnni, &w, &fused, &x, 0x80, batch, None, &mut got));
                        assert_eq!(got, want, "{rounding:?} rows {rows} cols {cols} batch {batch} {dtype:?}");
                    }
                }
            }
        }
        assert!(ties_neg > 300 && ties_pos > 300, "ties: {ties_neg} negative, {ties_pos} positive");
    }

    #[test]
    fn tables_the_vector_recipe_cannot_hold_are_refused() {
        let m = [Multiplier::from_ratio(0.5, 1.0)];
        let t = |z3, lo, hi| RequantTable::new(Rounding::FixedPointDoubleRounding, &m, z3, lo, hi);
        assert!(FusedTable::new(&t(0, -128, 127), DType::I8).is_some());
        assert!(FusedTable::new(&t(0, -128, 127), DType::U8).is_none());
        assert!(FusedTable::new(&t(0, 0, 255), DType::I8).is_none());
        assert!(FusedTable::new(&t(0, -32768, 32767), DType::I16).is_none());
        assert!(FusedTable::new(&t(2000, 0, 255), DType::U8).is_none());
    }
}
