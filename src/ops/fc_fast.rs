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

use super::conv_fused::FusedTable;
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
        unsafe { vnni::panels::<1, 4, 2, 4, true, _>(w, x.as_ptr(), i32::from_ne_bytes([x_xor; 4]), &vnni::Sums { o: out.as_mut_ptr(), rows: w.rows }) };
        return;
    }
    gemm::matmul_xor(path, w, x, x_xor, 1, out, scratch)
}

/// fc (issue 16): `dst[b·rows + c]` = the requantized bytes of [`matmul`]'s
/// sums (`t`: the layer's table, its offsets included; see
/// [`crate::ops::requant_lanes`]), the rounding done while the sums are in
/// registers. With `x_xor`, one sample given as its own bytes (as
/// [`gemv_xor`]). `false` (nothing written) off AVX-512 VNNI.
pub fn matmul_requant(path: KernelPath, w: &PackedWeights, t: &FusedTable, xu: &[u8], x_xor: Option<u8>, batch: usize, dst: &mut [u8]) -> bool {
    let stride = w.padded_cols();
    assert!(xu.len() >= batch * stride, "input rows too short");
    assert!(dst.len() >= batch * w.rows, "output too short");
    assert_eq!(t.lanes().channels, w.rows, "one table channel per weight row");
    if !super::conv_fused::runs_on(path) {
        return false;
    }
    #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
    // SAFETY: the CPU has AVX-512F/BW/VNNI (runs_on); sizes checked above; the table is padded to whole panels.
    unsafe {
        match x_xor {
            Some(xor) if batch == 1 => vnni::gemv_xor_requant(w, t.lanes(), xu, xor, dst),
            Some(_) => panic!("a flipped input is one sample"),
            None => vnni::matmul_requant(w, t.lanes(), xu, batch, dst),
        }
        true
    }
    #[cfg(not(all(target_arch = "x86_64", quantlens_avx512)))]
    false
}

#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[allow(clippy::incompatible_msrv)]
mod vnni {
    use super::super::gemm::{PackedWeights, PANEL, QUAD};
    use crate::ops::requant_lanes::{with_rule16, x86::Rule, LaneTable};
    use std::arch::x86_64::*;

    /// Rows per batch tile.
    const ROWS: usize = 8;

    /// Every sample, [`ROWS`] at a time, with the tile shape of the rows left.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn matmul(w: &PackedWeights, xu: &[u8], batch: usize, out: &mut [i32]) {
        let o = out.as_mut_ptr();
        rows(w, xu, batch, |b| Sums { o: o.add(b * w.rows), rows: w.rows })
    }

    /// fc (issue 16): [`matmul`] with the requantization in the stores.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn matmul_requant(w: &PackedWeights, t: &LaneTable, xu: &[u8], batch: usize, dst: &mut [u8]) {
        let o = dst.as_mut_ptr();
        if let Some(h) = HalfAway::new(o, w.rows, t) {
            // The check once per call, not per block of rows.
            return match h.saturating() {
                true => rows(w, xu, batch, |b| h.at::<true>(o.add(b * w.rows))),
                false => rows(w, xu, batch, |b| h.at::<false>(o.add(b * w.rows))),
            };
        }
        with_rule16!(t, F => rows(w, xu, batch, |b| Bytes::<F>::new(o.add(b * w.rows), w.rows, t)))
    }

    /// fc (issue 16): [`super::gemv_xor`] with the requantization in the stores.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn gemv_xor_requant(w: &PackedWeights, t: &LaneTable, x: &[u8], x_xor: u8, dst: &mut [u8]) {
        let xor4 = i32::from_ne_bytes([x_xor; 4]);
        let o = dst.as_mut_ptr();
        if let Some(h) = HalfAway::new(o, w.rows, t) {
            return match h.saturating() {
                true => panels::<1, 4, 2, 4, true, _>(w, x.as_ptr(), xor4, &h.at::<true>(o)),
                false => panels::<1, 4, 2, 4, true, _>(w, x.as_ptr(), xor4, &h.at::<false>(o)),
            };
        }
        with_rule16!(t, F => panels::<1, 4, 2, 4, true, _>(w, x.as_ptr(), xor4, &Bytes::<F>::new(dst.as_mut_ptr(), w.rows, t)))
    }

    /// Every sample, [`ROWS`] at a time, into the store `out(first sample)`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn rows<S: Store>(w: &PackedWeights, xu: &[u8], batch: usize, out: impl Fn(usize) -> S) {
        let stride = w.padded_cols();
        let mut b = 0;
        while b < batch {
            let r = (batch - b).min(ROWS);
            let x = xu.as_ptr().add(b * stride);
            let o = &out(b);
            // <rows, panels per tile, slices; slices of the one-panel tail tiles>
            match r {
                8 => panels::<8, 2, 1, 1, false, _>(w, x, 0, o),
                7 => panels::<7, 2, 1, 1, false, _>(w, x, 0, o),
                6 => panels::<6, 2, 1, 1, false, _>(w, x, 0, o),
                5 => panels::<5, 2, 1, 2, false, _>(w, x, 0, o),
                4 => panels::<4, 2, 1, 2, false, _>(w, x, 0, o),
                3 => panels::<3, 2, 2, 2, false, _>(w, x, 0, o),
                2 => panels::<2, 2, 2, 4, false, _>(w, x, 0, o),
                _ => panels::<1, 4, 2, 4, false, _>(w, x, 0, o),
            }
            b += r;
        }
    }

    /// All panels for `R` rows: tiles of `NP` panels, then single panels
    /// with `KS1` slices. With `XOR`, every input quad is `^ xor4` first.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn panels<const R: usize, const NP: usize, const KS: usize, const KS1: usize, const XOR: bool, S: Store>(
        w: &PackedWeights,
        x: *const u8,
        xor4: i32,
        o: &S,
    ) {
        let mut p = 0;
        while p + NP <= w.panels {
            tile::<R, NP, KS, XOR, S>(w, x, xor4, p, o);
            p += NP;
        }
        while p < w.panels {
            tile::<R, 1, KS1, XOR, S>(w, x, xor4, p, o);
            p += 1;
        }
    }

    /// Where a tile's sums go: row `r` (of the tile), channels `c0..c0 + 16`
    /// (valid lanes in `mask`).
    pub(super) trait Store: Copy {
        unsafe fn store(&self, r: usize, c0: usize, mask: __mmask16, a: __m512i);
    }

    /// The i32 sums, rows of `rows` at `o`.
    #[derive(Clone, Copy)]
    pub(super) struct Sums {
        pub o: *mut i32,
        pub rows: usize,
    }

    impl Store for Sums {
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn store(&self, r: usize, c0: usize, mask: __mmask16, a: __m512i) {
            _mm512_mask_storeu_epi32(self.o.add(r * self.rows + c0), mask, a)
        }
    }

    /// fc (issue 16): the sums requantized in registers by the shared 16-lane
    /// rule `F` (offset, rounding, + Z3, clamp), stored as bytes. The
    /// constants are vectors made once per call ([`Bytes::new`]) and the store
    /// is a copy local to each tile, so they stay in registers across a
    /// tile's stores.
    pub(super) struct Bytes<'a, F> {
        o: *mut u8,
        rows: usize,
        t: &'a LaneTable,
        lo: __m512i,
        hi: __m512i,
        z3: __m512i,
        rule: std::marker::PhantomData<F>,
    }

    // By hand: a derive would ask `F: Copy` of the rule marker.
    impl<F> Clone for Bytes<'_, F> {
        fn clone(&self) -> Self {
            *self
        }
    }
    impl<F> Copy for Bytes<'_, F> {}

    impl<'a, F> Bytes<'a, F> {
        #[inline]
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn new(o: *mut u8, rows: usize, t: &'a LaneTable) -> Self {
            let (lo, hi, z3) = (_mm512_set1_epi32(t.act_min - t.z3), _mm512_set1_epi32(t.act_max - t.z3), _mm512_set1_epi32(t.z3));
            Bytes { o, rows, t, lo, hi, z3, rule: std::marker::PhantomData }
        }
    }

    impl<F: Rule> Store for Bytes<'_, F> {
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw")]
        unsafe fn store(&self, r: usize, c0: usize, mask: __mmask16, a: __m512i) {
            let t = self.t;
            let v = _mm512_add_epi32(a, _mm512_loadu_si512(t.offset.as_ptr().add(c0) as *const _));
            let q = F::apply(t, &F::load(t, c0), v, self.lo, self.hi);
            let y = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(q, self.lo), self.hi), self.z3);
            // vpmovdb: truncation (y lies in the 8-bit type).
            bytes_out(self.o.add(r * self.rows + c0), mask, _mm512_cvtepi32_epi8(y))
        }
    }

    /// fc (issue 16): tflite-ref's rule (`round(double(v)·M)` ties away from
    /// zero, [`crate::profile::Rounding::DoubleHalfAway`]) when every `|M| ≤ 1/2`,
    /// in fewer operations than the shared rule, which must also serve larger
    /// multipliers. Why each step is exact:
    ///
    /// * `|v| ≤ 2^31`, so `|v·M| ≤ 2^30` and `s = v·M + copysign(1/2 − 2⁻⁵⁴, v·M)`
    ///   (the shared rule's tie recipe) truncates into an i32 without overflow:
    ///   `vcvttpd2dq` (truncation) is the rounding itself, no `roundscale`;
    /// * truncation is monotonic and fixes integers, so clamping its result to
    ///   the integer bounds `[min − Z3, max − Z3]` equals clamping first: the
    ///   clamp is done once, on 16 i32 lanes, instead of on two halves of doubles;
    /// * with `SAT` (int8 output clamped to all of `[−128, 127]`, as a fused
    ///   RELU with `Z3 = −128` or no activation is), the clamp is the signed
    ///   saturation of the narrowing itself (`vpmovsdb`): `|q + Z3| < 2^31`.
    pub(super) struct HalfAway<'a, const SAT: bool = false> {
        /// The destination and the clamp constants (its rule unused).
        b: Bytes<'a, ()>,
    }

    impl<const SAT: bool> Clone for HalfAway<'_, SAT> {
        fn clone(&self) -> Self {
            *self
        }
    }
    impl<const SAT: bool> Copy for HalfAway<'_, SAT> {}

    impl<'a> HalfAway<'a> {
        /// `None` unless the table is tflite-ref's rule with every `|M| ≤ 1/2`.
        #[inline]
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn new(o: *mut u8, rows: usize, t: &'a LaneTable) -> Option<Self> {
            // (A max-reduction, which vectorises: this runs once per call.)
            if t.rounding != crate::profile::Rounding::DoubleHalfAway || t.real.iter().fold(0f64, |a, m| a.max(m.abs())) > 0.5 {
                return None;
            }
            Some(HalfAway { b: Bytes::new(o, rows, t) })
        }

        /// The output clamp is all of int8 (`SAT` applies).
        pub(super) fn saturating(&self) -> bool {
            (self.b.t.act_min, self.b.t.act_max) == (-128, 127)
        }

        /// This store writing at `o`, with or without `SAT`.
        pub(super) fn at<const SAT: bool>(&self, o: *mut u8) -> HalfAway<'a, SAT> {
            HalfAway { b: Bytes { o, ..self.b } }
        }
    }

    impl<const SAT: bool> Store for HalfAway<'_, SAT> {
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw")]
        unsafe fn store(&self, r: usize, c0: usize, mask: __mmask16, a: __m512i) {
            let b = &self.b;
            let t = b.t;
            let v = _mm512_add_epi32(a, _mm512_loadu_si512(t.offset.as_ptr().add(c0) as *const _));
            let (sign, h) = (_mm512_set1_epi64(i64::MIN), _mm512_castpd_si512(_mm512_set1_pd(0.49999999999999994)));
            let half = |x: __m256i, m: *const f64| {
                let p = _mm512_mul_pd(_mm512_cvtepi32_pd(x), _mm512_loadu_pd(m));
                // (p & sign bit) | h: copysign(h, p) as one ternary op (truth table 0xEA).
                let h = _mm512_castsi512_pd(_mm512_ternarylogic_epi64::<0xEA>(_mm512_castpd_si512(p), sign, h));
                _mm512_cvttpd_epi32(_mm512_add_pd(p, h))
            };
            let m = t.real.as_ptr().add(c0);
            let q = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(half(_mm512_castsi512_si256(v), m)), half(_mm512_extracti64x4_epi64::<1>(v), m.add(8)));
            let o = b.o.add(r * b.rows + c0);
            if SAT {
                return bytes_out(o, mask, _mm512_cvtsepi32_epi8(_mm512_add_epi32(q, b.z3)));
            }
            let y = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(q, b.lo), b.hi), b.z3);
            bytes_out(o, mask, _mm512_cvtepi32_epi8(y))
        }
    }

    /// The 16 bytes `b` (narrowed in a register: a masked `vpmovdb` to memory
    /// measured ≈ 2× slower on Zen 4) at `o`, the lanes of `mask` only.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn bytes_out(o: *mut u8, mask: __mmask16, b: __m128i) {
        if mask == !0 {
            _mm_storeu_si128(o as *mut __m128i, b)
        } else {
            _mm512_mask_storeu_epi8(o as *mut i8, mask as __mmask64, _mm512_castsi128_si512(b))
        }
    }

    /// Rows `0..R` (inputs at `x`, row stride `w.padded_cols()`) × panels
    /// `p0..p0 + NP` into `o` (row stride `w.rows`; only the valid channels
    /// of a last partial panel are written).
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[inline]
    unsafe fn tile<const R: usize, const NP: usize, const KS: usize, const XOR: bool, S: Store>(w: &PackedWeights, x: *const u8, xor4: i32, p0: usize, o: &S) {
        let o = *o; // a local copy: its constants stay in registers across the stores
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
                o.store(r, c0, mask, a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DType;
    use crate::ops::requant::RequantTable;
    use crate::ops::testkit::lcg;
    use crate::profile::{Multiplier, Rounding};

    /// The fused stores exist only on AVX-512 VNNI: say so when the CPU lacks it.
    fn no_vnni() -> bool {
        let no = !crate::ops::conv_fused::runs_on(KernelPath::Avx512Vnni);
        if no {
            eprintln!("AVX-512 VNNI not available: nothing to compare");
        }
        no
    }

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

    /// The fused stores of `batch` rows `xu` (and, for one row, the same row
    /// given as int8 bytes) equal `dots` requantized by `table`'s scalar definition.
    fn fused_equals_scalar(
        table: &RequantTable,
        fused: &crate::ops::conv_fused::FusedTable,
        pw: &PackedWeights,
        xu: &[u8],
        dots: &[i32],
        batch: usize,
        what: &str,
    ) {
        let mut want = dots.to_vec();
        table.apply_scalar(&mut want);
        let want: Vec<u8> = want.iter().map(|&v| v as u8).collect();
        let mut got = vec![0xAA; dots.len()];
        assert!(matmul_requant(KernelPath::Avx512Vnni, pw, fused, xu, None, batch, &mut got));
        assert_eq!(got, want, "{what}");
        if batch == 1 {
            let xs: Vec<u8> = xu.iter().map(|&v| v ^ 0x80).collect();
            let mut got = vec![0xAA; dots.len()];
            assert!(matmul_requant(KernelPath::Avx512Vnni, pw, fused, &xs, Some(0x80), 1, &mut got));
            assert_eq!(got, want, "{what} gemv");
        }
    }

    /// fc (issue 16): the sums requantized in the kernels' stores equal the
    /// definition (the scalar product, then [`RequantTable::apply_scalar`])
    /// for every rounding (each one-floor and two-step form), both 8-bit
    /// outputs, every batch tile and row tail, and the one-sample flipped input.
    #[test]
    fn fused_requantization_equals_the_definition() {
        if no_vnni() {
            return;
        }
        let mut seed = 7u64;
        let reals = [0.5, 0.25, 2f64.powi(-10), 1.0, 3.0, 1e-9, 0.0039215686, 1.0 / 3.0, 7.5, 2f64.powi(-31), 1e-12, 3e4, 0.75, 2.0, 1e-4];
        let low = [0.25, 2f64.powi(-10), 0.0039215686, 1.0 / 3.0, 2f64.powi(-14), 1e-4, 0.49999, 2f64.powi(-8) * 1.5];
        let (mut checked, mut one_floor) = (0, 0);
        for &(rows, cols) in &[(10, 100), (17, 33), (33, 7), (48, 5), (100, 64), (70, 129)] {
            let w8: Vec<i8> = (0..rows * cols).map(|i| if i % 13 == 0 { -128 } else { (lcg(&mut seed) as i8) >> 3 }).collect();
            let pw = PackedWeights::pack(rows, cols, &w8);
            let stride = pw.padded_cols();
            for batch in [1, 2, 3, 4, 5, 7, 8, 9, 17] {
                let mut xu = vec![0u8; batch * stride];
                for b in 0..batch {
                    for k in 0..cols {
                        xu[b * stride + k] = (lcg(&mut seed) as u8) >> 2;
                    }
                }
                let mut dots = vec![0; batch * rows];
                matmul(KernelPath::Scalar, &pw, &xu, batch, &mut dots, &mut gemm::Scratch::default());
                for rounding in Rounding::ALL {
                    for (dtype, z3, lo, hi) in [(DType::I8, -3, -128, 127), (DType::U8, 120, 0, 255)] {
                        let set: &[f64] = if checked % 2 == 0 { &low } else { &reals };
                        let mults: Vec<Multiplier> = (0..rows).map(|c| Multiplier::from_ratio((set[(c + checked) % set.len()] / 64.0) as f32, 1.0)).collect();
                        let offsets: Vec<i32> = (0..rows).map(|c| if c % 5 == 0 { i32::MAX - c as i32 } else { (lcg(&mut seed) as i32) >> 18 }).collect();
                        let table = RequantTable::new(rounding, &mults, z3, lo, hi).with_offsets(&offsets);
                        let fused = crate::ops::conv_fused::FusedTable::new(&table, dtype).expect("a byte range");
                        one_floor += fused.lanes().one_floor as usize;
                        fused_equals_scalar(&table, &fused, &pw, &xu, &dots, batch, &format!("{rounding:?} {dtype} rows {rows} cols {cols} batch {batch}"));
                        assert!(!matmul_requant(KernelPath::Avx2, &pw, &fused, &xu, None, batch, &mut vec![0; batch * rows]));
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 6 * 9 * 5 * 2);
        assert!(one_floor > 20, "{one_floor}");
    }

    /// fc (issue 16): tflite-ref's rule in the stores ([`vnni::HalfAway`] when
    /// every `|M| ≤ 1/2`, the shared rule otherwise) on exact ties: `M` a
    /// power of two, so `v·M` lands on `k + 1/2` for many `v`; `M = 1/2` with
    /// sums at the ends of i32 (offsets `i32::MAX`, `i32::MIN`); `M` just
    /// above 1/2; odd channel counts, every row tail.
    #[test]
    fn half_away_stores_equal_the_definition_on_ties() {
        if no_vnni() {
            return;
        }
        let mut seed = 3u64;
        for &(rows, cols) in &[(19, 3), (33, 8), (5, 17)] {
            let w8: Vec<i8> = (0..rows * cols).map(|i| if i % 7 == 0 { -128 } else { (lcg(&mut seed) as i8) >> 4 }).collect();
            let pw = PackedWeights::pack(rows, cols, &w8);
            let stride = pw.padded_cols();
            for batch in 1..=10 {
                let xu: Vec<u8> = (0..batch * stride).map(|i| if i % stride < cols { (lcg(&mut seed) as u8) >> 3 } else { 0 }).collect();
                let mut dots = vec![0; batch * rows];
                matmul(KernelPath::Scalar, &pw, &xu, batch, &mut dots, &mut gemm::Scratch::default());
                for (set, reals) in [(0, &[0.5, 0.25, 0.125, 2f64.powi(-9), 2f64.powi(-20)][..]), (1, &[0.5, 0.5000001, 2.0, 0.25][..])] {
                    let mults: Vec<Multiplier> = (0..rows).map(|c| Multiplier::from_ratio(reals[c % reals.len()] as f32, 1.0)).collect();
                    let offsets: Vec<i32> = (0..rows)
                        .map(|c| match c % 4 {
                            0 => i32::MAX - (c as i32 & 1),
                            1 => i32::MIN + (c as i32 & 3),
                            _ => 1 - 2 * (lcg(&mut seed) as i32 & 0x3ff),
                        })
                        .collect();
                    for (dtype, z3, lo, hi) in [(DType::I8, -128, -128, 127), (DType::I8, 5, -100, 127), (DType::U8, 128, 0, 255)] {
                        let table = RequantTable::new(Rounding::DoubleHalfAway, &mults, z3, lo, hi).with_offsets(&offsets);
                        let fused = crate::ops::conv_fused::FusedTable::new(&table, dtype).expect("a byte range");
                        assert_eq!(fused.lanes().real.iter().all(|m| m.abs() <= 0.5), set == 0, "the set picks the store");
                        fused_equals_scalar(&table, &fused, &pw, &xu, &dots, batch, &format!("set {set} {dtype} rows {rows} cols {cols} batch {batch}"));
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
