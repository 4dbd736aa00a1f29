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
//! Zero inputs are skipped (issue 16): a quad of inputs that is zero in
//! every row of a tile adds nothing to any sum, so each tile runs over the
//! list of its non-zero quads when that list is at most 7/8 of the row
//! (`xu = x + 128` is `x − Z1` when `Z1 = −128`: the background pixels of an
//! image in [0, 1] and a RELU's clipped outputs). Sparse blocks of a batch
//! run as pairs of rows, whose lists are shorter than those of 8 rows.
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
        let mut list = std::mem::MaybeUninit::<[u32; MAX_LIST + 16]>::uninit();
        let mut b = 0;
        while b < batch {
            let r = (batch - b).min(ROWS);
            let x = xu.as_ptr().add(b * stride);
            let o = &out(b);
            // Sparse inputs (see [`Quads`]): pairs of rows, whose quads that
            // are zero in both are more than those zero in all 8 (on the MLP's
            // pixels 61 % against 45 %); measured 0.89× of the 8-row tiles there.
            if r > 2 && w.quads <= MAX_LIST && sparse(active_quads::<false>(x, stride, r, w.quads, 0, list.as_mut_ptr() as *mut u32), w.quads) {
                let mut k = 0;
                while k < r {
                    match r - k {
                        1 => panels::<1, 4, 2, 4, false, _>(w, x.add(k * stride), 0, &out(b + k)),
                        _ => panels::<2, 4, 2, 4, false, _>(w, x.add(k * stride), 0, &out(b + k)),
                    }
                    k += 2;
                }
                b += r;
                continue;
            }
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
        let mut list = std::mem::MaybeUninit::<[u32; MAX_LIST + 16]>::uninit();
        let list = list.as_mut_ptr() as *mut u32;
        if w.quads <= MAX_LIST {
            let n = active_quads::<XOR>(x, w.padded_cols(), R, w.quads, xor4, list);
            if sparse(n, w.quads) {
                return panels_over::<R, NP, KS, KS1, XOR, S, _>(w, x, xor4, List { p: list, n }, o);
            }
        }
        panels_over::<R, NP, KS, KS1, XOR, S, _>(w, x, xor4, Dense(w.quads), o)
    }

    /// [`panels`] over the quads `qs`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn panels_over<const R: usize, const NP: usize, const KS: usize, const KS1: usize, const XOR: bool, S: Store, Q: Quads>(
        w: &PackedWeights,
        x: *const u8,
        xor4: i32,
        qs: Q,
        o: &S,
    ) {
        let mut p = 0;
        while p + NP <= w.panels {
            tile::<R, NP, KS, XOR, S, Q>(w, x, xor4, qs, p, o);
            p += NP;
        }
        while p < w.panels {
            tile::<R, 1, KS1, XOR, S, Q>(w, x, xor4, qs, p, o);
            p += 1;
        }
    }

    /// Whether `n` active quads of `quads` are few enough for a list (the
    /// indirect loads cost more than the skipped blocks save when nearly all are active).
    #[inline(always)]
    fn sparse(n: usize, quads: usize) -> bool {
        n * 8 <= quads * 7
    }

    /// The longest row (in quads) whose active quads are listed (on the
    /// stack, 8 KB); longer rows run every quad.
    const MAX_LIST: usize = 2048;

    /// fc (issue 16): which input quads a tile reads. A quad whose four
    /// inputs are 0 in every row of the tile adds `0 · w` to every sum, so
    /// skipping it leaves each sum the same integer. Inputs are `xu =
    /// x + 128` for int8 (`x − Z1` exactly when `Z1 = −128`, as for pixels in
    /// [0, 1] and for a RELU's output), so background pixels and clipped
    /// activations are zero: on the MLP's 784 pixels 28 % of the quads of an
    /// image are non-zero, 55 % of the quads of 8 images.
    pub(super) trait Quads: Copy {
        fn len(&self) -> usize;
        /// The `i`-th quad (`i < len`).
        unsafe fn at(&self, i: usize) -> usize;
    }

    /// Quads `0..n`.
    #[derive(Clone, Copy)]
    pub(super) struct Dense(usize);

    impl Quads for Dense {
        #[inline(always)]
        fn len(&self) -> usize {
            self.0
        }
        #[inline(always)]
        unsafe fn at(&self, i: usize) -> usize {
            i
        }
    }

    /// The `n` quads listed at `p`.
    #[derive(Clone, Copy)]
    pub(super) struct List {
        p: *const u32,
        n: usize,
    }

    impl Quads for List {
        #[inline(always)]
        fn len(&self) -> usize {
            self.n
        }
        #[inline(always)]
        unsafe fn at(&self, i: usize) -> usize {
            *self.p.add(i) as usize
        }
    }

    /// Writes at `list` the quads `q < quads` that are non-zero in some row
    /// `0..r` of `x` (row stride `stride`; with `XOR`, each quad `^ xor4`
    /// first), in increasing order; returns how many. `list` has room for
    /// `quads + 16` (each block of 16 quads is stored whole).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn active_quads<const XOR: bool>(x: *const u8, stride: usize, r: usize, quads: usize, xor4: i32, list: *mut u32) -> usize {
        let ids = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let xv = _mm512_set1_epi32(xor4);
        let (mut n, mut q) = (0, 0);
        while q < quads {
            let m: __mmask16 = if quads - q >= 16 { !0 } else { (1u16 << (quads - q)) - 1 };
            let mut any = _mm512_setzero_si512();
            for row in 0..r {
                let v = _mm512_maskz_loadu_epi32(m, x.add(row * stride + q * QUAD) as *const i32);
                any = _mm512_or_si512(any, if XOR { _mm512_xor_si512(v, xv) } else { v });
            }
            let nz = _mm512_mask_test_epi32_mask(m, any, any);
            // The register form of the compress (its store form is slow on Zen 4), stored whole.
            let found = _mm512_maskz_compress_epi32(nz, _mm512_add_epi32(ids, _mm512_set1_epi32(q as i32)));
            _mm512_storeu_si512(list.add(n) as *mut _, found);
            n += nz.count_ones() as usize;
            q += 16;
        }
        n
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
    unsafe fn tile<const R: usize, const NP: usize, const KS: usize, const XOR: bool, S: Store, Q: Quads>(w: &PackedWeights, x: *const u8, xor4: i32, qs: Q, p0: usize, o: &S) {
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
        // The quads of `qs` only: the others are zero in every row of the tile.
        let n = qs.len();
        let mut i = 0;
        while i + KS <= n {
            for s in 0..KS {
                quad!(s, qs.at(i + s));
            }
            i += KS;
        }
        while i < n {
            quad!(0, qs.at(i));
            i += 1;
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
mod tests;
