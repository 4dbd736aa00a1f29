//! `y = clamp(Z3 + round(M[c] · (acc + offset[c])), act_min, act_max)` over a
//! whole output block, with the profile's [`Rounding`], vectorised for AVX2.
//!
//! This is the one requantization of the fast integer kernels
//! (FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, QUANTIZE): a layer builds a
//! [`RequantTable`] once in prepare and calls [`RequantTable::apply`] on its
//! rows of i32 accumulators, channel `c` at position `c` of each row.
//!
//! ```text
//!     table = RequantTable::from_conv(&requant)   // multipliers, Z3, fused range; offset = bias
//!                 .with_offsets(&fold);           // or: CONV_2D's folded zero-point terms
//!     table.apply(path, &mut acc);                // acc: rows of `channels` i32, in place
//! ```
//!
//! The per-channel `offset` is added in wrapping i32 arithmetic (like the
//! runtimes' `acc + bias`), then [`Rounding::apply`] and the clamp. The
//! scalar loop calls [`Rounding::apply`] — the definition. The AVX2 loop
//! computes the same thing lane by lane with the same IEEE operations
//! (f64 / f32 multiply, then the rounding) or the same integer recipe
//! (wrapping `acc · 2^left`, the rounded doubling high-mul, the rounding
//! right shift; for the single rounding the exact 64-bit product and one
//! rounding shift); `tests` compares the two on edge cases, for every rule.

use super::gemm::KernelPath;
use crate::model::DType;
use crate::profile::{Multiplier, Rounding};
use crate::tensor::{Data, Value};

/// Per-channel multiplier forms and offsets, padded to a multiple of 8 channels.
#[derive(Clone, Debug, PartialEq)]
pub struct RequantTable {
    pub rounding: Rounding,
    pub channels: usize,
    pub multipliers: Vec<Multiplier>,
    /// Added to each accumulator of the channel before the rounding (wrapping).
    offset: Vec<i32>,
    real: Vec<f64>,
    real_f32: Vec<f32>,
    m0: Vec<i32>,
    /// `1 << left` (wrapping), `left = max(shift, 0)`.
    left_factor: Vec<i32>,
    /// `min(max(−shift, 0), 31)`.
    right: Vec<i32>,
    /// Single rounding: `M0` and `31 − shift` after the clamp of `shift` to `[−31, 30]`
    /// ([`crate::quant::multiply_by_quantized_multiplier_single_rounding`]).
    single_m0: Vec<i32>,
    single_shift: Vec<i64>,
    pub z3: i32,
    pub act_min: i32,
    pub act_max: i32,
    /// Whether the AVX2 loop implements this table (see `avx2_ok`).
    vectorisable: bool,
    /// Whether some channel has `left > 0` (else the AVX2 loop skips `acc · 2^left`).
    has_left: bool,
    /// conv (issue 16): the constants of the shared 16-lane form (the AVX-512 loop).
    lanes: super::requant_lanes::LaneTable,
    /// direct (issue 16): the nudges of the 8-lane one-floor form, when
    /// `lanes.one_floor`: per block of 8 channels `c..c + 8`, 16 i64s —
    /// `2^30 + 2^(30+r)` of the even channels `c, c+2, c+4, c+6`, of the odd
    /// ones, then both again minus `2^31` (the double rounding's `t < 0`
    /// term; the same for ties up, which has none). Empty otherwise.
    floor8: Vec<i64>,
}

impl RequantTable {
    /// The table of `multipliers` (one per channel), output zero point `z3`
    /// and clamp range `[act_min, act_max]`, with no offset.
    pub fn new(rounding: Rounding, multipliers: &[Multiplier], z3: i32, act_min: i32, act_max: i32) -> RequantTable {
        let channels = multipliers.len();
        let padded = channels.div_ceil(8) * 8;
        fn pad<T: Clone>(mut v: Vec<T>, z: T, n: usize) -> Vec<T> {
            v.resize(n, z);
            v
        }
        let single = |m: &Multiplier| match m.shift {
            s if s > 30 => (i32::MAX, 30),
            s if s < -31 => (0, 0),
            s => (m.m0, s),
        };
        RequantTable {
            rounding,
            channels,
            multipliers: multipliers.to_vec(),
            offset: vec![0; padded],
            real: pad(multipliers.iter().map(|m| m.real).collect(), 0.0, padded),
            real_f32: pad(multipliers.iter().map(|m| m.real_f32).collect(), 0.0, padded),
            m0: pad(multipliers.iter().map(|m| m.m0).collect(), 0, padded),
            left_factor: pad(multipliers.iter().map(|m| 1i32.wrapping_shl(m.shift.max(0) as u32)).collect(), 1, padded),
            right: pad(multipliers.iter().map(|m| (-m.shift).clamp(0, 31)).collect(), 0, padded),
            single_m0: pad(multipliers.iter().map(|m| single(m).0).collect(), 0, padded),
            single_shift: pad(multipliers.iter().map(|m| 31 - single(m).1 as i64).collect(), 1, padded),
            z3,
            act_min,
            act_max,
            vectorisable: false,
            has_left: multipliers.iter().any(|m| m.shift > 0),
            lanes: super::requant_lanes::LaneTable::new(rounding, multipliers, &vec![0; channels], z3, act_min, act_max),
            floor8: Vec::new(),
        }
        .with_vectorisable()
        .with_floor8()
    }

    /// The table of a convolution's [`Requant`](super::conv::Requant)
    /// (CONV_2D, DEPTHWISE_CONV_2D): its multipliers, rounding, Z3 and fused
    /// activation range, with the bias as the offset (so `apply` takes
    /// `Σ (x − Z1)·W` without the bias).
    pub fn from_conv(r: &super::conv::Requant) -> RequantTable {
        RequantTable::new(r.rounding, &r.multipliers, r.z3, r.act_min, r.act_max).with_offsets(&r.bias)
    }

    /// The same table with `offsets[c]` added (wrapping) to every accumulator
    /// of channel `c` before the rounding, in place of the current offsets.
    pub fn with_offsets(mut self, offsets: &[i32]) -> RequantTable {
        assert_eq!(offsets.len(), self.channels, "one offset per channel");
        self.offset[..offsets.len()].copy_from_slice(offsets);
        self.lanes.offset[..offsets.len()].copy_from_slice(offsets);
        self
    }

    /// The offset of channel `c`.
    pub fn offset(&self, c: usize) -> i32 {
        self.offset[c]
    }

    /// `floor8` (see the field) when the one-floor form applies.
    fn with_floor8(mut self) -> RequantTable {
        if !self.lanes.one_floor {
            return self;
        }
        let signed = self.rounding == Rounding::FixedPointDoubleRounding;
        let nudge = |c: usize| self.multipliers.get(c).map_or(0, |m| (1i64 << 30) + (1i64 << (30 + (-m.shift).clamp(0, 31))));
        let padded = self.offset.len();
        self.floor8 = (0..padded / 8)
            .flat_map(|b| {
                let half = |odd: usize| (0..4).map(move |i| 8 * b + 2 * i + odd);
                let pos: Vec<i64> = half(0).chain(half(1)).map(nudge).collect();
                let neg: Vec<i64> = pos.iter().map(|n| n - if signed { 1i64 << 31 } else { 0 }).collect();
                pos.into_iter().chain(neg)
            })
            .collect();
        self
    }

    fn with_vectorisable(mut self) -> RequantTable {
        self.vectorisable = self.avx2_ok();
        self
    }

    /// True when the AVX2 loop implements this table's rule.
    fn avx2_ok(&self) -> bool {
        // SRDHM saturates only for M0 = i32::MIN, which quantize_multiplier never yields.
        // Small Z3 and clamp bounds (always true for 8/16-bit outputs) keep every
        // clamp bound exact in f32 and make the i32 saturation of the scalar rule moot.
        const SMALL: i32 = 1 << 20;
        self.m0.iter().all(|&m| m != i32::MIN) && [self.z3, self.act_min, self.act_max].iter().all(|v| (-SMALL..=SMALL).contains(v))
    }

    /// Requantize `acc` in place: rows of `channels` accumulators (offset not yet added).
    /// Any path but [`KernelPath::Scalar`] takes the AVX2 loop when the CPU has it.
    pub fn apply(&self, path: KernelPath, acc: &mut [i32]) {
        let m = self.channels;
        assert_eq!(acc.len() % m.max(1), 0);
        #[cfg(target_arch = "x86_64")]
        if path != KernelPath::Scalar && self.vectorisable && m > 0 && KernelPath::Avx2.is_available() {
            // SAFETY: AVX2 is available (checked above); the tables are padded to 8.
            unsafe { x86::requantize_rows(self, acc) };
            return;
        }
        let _ = path;
        self.apply_scalar(acc);
    }

    /// Requantize `acc` (rows of `channels` accumulators, offset not yet
    /// added) into `out` as `dtype`, reusing `out`'s buffer: [`apply`](Self::apply)
    /// then [`narrow_into`](super::narrow_into), fused into one pass (8-bit
    /// bytes stored straight from the vector registers) on the AVX2 loop.
    /// `acc` is left unspecified.
    pub fn apply_into(&self, path: KernelPath, acc: &mut [i32], dtype: DType, out: &mut Value) {
        // speed (issue 16, mlp): 16 channels a step on AVX-512.
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        if path == KernelPath::Avx512Vnni && avx512::bytes_into(self, acc, dtype, out) {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if path != KernelPath::Scalar && self.vectorisable && self.channels > 0 && KernelPath::Avx2.is_available() {
            assert_eq!(acc.len() % self.channels, 0);
            let n = acc.len();
            let signed = match dtype {
                DType::I8 => true,
                DType::U8 => false,
                _ => {
                    self.apply(path, acc);
                    return super::narrow_into(dtype, acc, out);
                }
            };
            let dst: &mut [u8] = match (&mut out.data, signed) {
                (Data::U8(o), false) => {
                    o.resize(n, 0);
                    o
                }
                (Data::I8(o), true) => {
                    o.resize(n, 0);
                    // SAFETY: i8 and u8 have the same layout; every bit pattern is valid for both.
                    unsafe { std::slice::from_raw_parts_mut(o.as_mut_ptr() as *mut u8, n) }
                }
                (d, _) => {
                    *d = if signed { Data::I8(vec![0; n]) } else { Data::U8(vec![0; n]) };
                    return self.apply_into(path, acc, dtype, out);
                }
            };
            // SAFETY: AVX2 is available (checked above); `dst` holds `acc.len()` bytes.
            unsafe { x86::requantize_rows_bytes(self, acc, dst, signed) };
            return;
        }
        self.apply(path, acc);
        super::narrow_into(dtype, acc, out);
    }

    /// The definition, one element at a time.
    pub fn apply_scalar(&self, acc: &mut [i32]) {
        let (z3, lo, hi) = (self.z3 as i64, self.act_min as i64, self.act_max as i64);
        for row in acc.chunks_exact_mut(self.channels) {
            for ((a, mu), &o) in row.iter_mut().zip(&self.multipliers).zip(&self.offset) {
                *a = (self.rounding.apply(a.wrapping_add(o), mu) as i64 + z3).clamp(lo, hi) as i32;
            }
        }
    }
}

// speed (issue 16, mlp): the AVX-512 form of `apply_into`'s fused 8-bit loop.
#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[path = "requant_avx512.rs"]
mod avx512;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::RequantTable;
    use crate::profile::Rounding;
    use std::arch::x86_64::*;

    /// Every row of `acc`, 8 channels at a time (the tail of a row masked),
    /// the rule chosen once outside the loop; `$store(p, c, y, full)` puts the
    /// 8 results of row start `p`, channel `c` (only `tail` of them unless `full`).
    macro_rules! rows {
        ($t:expr, $acc:expr, $store:expr) => {{
            let t: &RequantTable = $t;
            match t.rounding {
                Rounding::DoubleHalfAway => rows!(@ t, $acc, $store, double_half_away),
                Rounding::Float32HalfEven => rows!(@ t, $acc, $store, float32_half_even),
                Rounding::FixedPointDoubleRounding => rows!(@ t, $acc, $store, double_rounding),
                Rounding::FixedPointTiesUp => rows!(@ t, $acc, $store, ties_up),
                Rounding::FixedPointSingleRounding => rows!(@ t, $acc, $store, single_rounding),
            }
        }};
        (@ $t:expr, $acc:expr, $store:expr, $f:ident) => {{
            let m = $t.channels;
            let tail = m % 8;
            // Lanes 0..tail set (the sign bit of each i32 is the mask).
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            let acc: &mut [i32] = $acc;
            for (r, row) in acc.chunks_exact_mut(m).enumerate() {
                let p = row.as_mut_ptr();
                let mut c = 0;
                while c + 8 <= m {
                    let a = _mm256_loadu_si256(p.add(c) as *const __m256i);
                    let a = _mm256_add_epi32(a, _mm256_loadu_si256($t.offset.as_ptr().add(c) as *const __m256i));
                    $store(r * m, p, c, $f($t, c, a), mask, true);
                    c += 8;
                }
                if tail > 0 {
                    let a = _mm256_maskload_epi32(p.add(c) as *const i32, mask);
                    let a = _mm256_add_epi32(a, _mm256_loadu_si256($t.offset.as_ptr().add(c) as *const __m256i));
                    $store(r * m, p, c, $f($t, c, a), mask, false);
                }
            }
        }};
    }

    /// In place, as i32.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn requantize_rows(t: &RequantTable, acc: &mut [i32]) {
        let store = |_: usize, p: *mut i32, c: usize, y: __m256i, mask: __m256i, full: bool| {
            if full {
                _mm256_storeu_si256(p.add(c) as *mut __m256i, y)
            } else {
                _mm256_maskstore_epi32(p.add(c), mask, y)
            }
        };
        rows!(t, acc, store)
    }

    /// Into `dst` as int8 (`signed`) or uint8 bytes (the results lie in the
    /// clamp range, inside the type: the packs never saturate).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn requantize_rows_bytes(t: &RequantTable, acc: &mut [i32], dst: &mut [u8], signed: bool) {
        assert!(dst.len() >= acc.len());
        let tail = t.channels % 8;
        let d = dst.as_mut_ptr();
        let store = |row: usize, _: *mut i32, c: usize, y: __m256i, _: __m256i, full: bool| {
            // i16 [y0..y3 y0..y3 | y4..y7 y4..y7], then bytes y0..y3 in dword 0, y4..y7 in dword 4.
            let w = _mm256_packs_epi32(y, y);
            let b = if signed { _mm256_packs_epi16(w, w) } else { _mm256_packus_epi16(w, w) };
            let v = (_mm256_cvtsi256_si32(b) as u32 as u64) | ((_mm256_extract_epi32::<4>(b) as u32 as u64) << 32);
            if full {
                (d.add(row + c) as *mut u64).write_unaligned(v);
            } else {
                std::ptr::copy_nonoverlapping(v.to_le_bytes().as_ptr(), d.add(row + c), tail);
            }
        };
        rows!(t, acc, store)
    }

    /// `clamp(v + Z3, lo, hi)` for i32 lanes (Z3 and the bounds are small: see `avx2_ok`).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn clamp_add(t: &RequantTable, v: __m256i) -> __m256i {
        // v + z3 may wrap for |v| near 2^31: clamp v to [lo − z3, hi − z3] first (exact, no wrap).
        let lo = _mm256_set1_epi32((t.act_min as i64 - t.z3 as i64).max(i32::MIN as i64) as i32);
        let hi = _mm256_set1_epi32((t.act_max as i64 - t.z3 as i64).min(i32::MAX as i64) as i32);
        _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(v, lo), hi), _mm256_set1_epi32(t.z3))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn double_rounding(t: &RequantTable, c: usize, acc: __m256i) -> __m256i {
        if t.lanes.one_floor {
            return clamp_add(t, one_floor::<true>(t, c, acc));
        }
        let h = srdhm(t, c, acc);
        clamp_add(t, rounding_divide_by_pot(h, _mm256_loadu_si256(t.right.as_ptr().add(c) as *const __m256i)))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn ties_up(t: &RequantTable, c: usize, acc: __m256i) -> __m256i {
        if t.lanes.one_floor {
            return clamp_add(t, one_floor::<false>(t, c, acc));
        }
        let h = srdhm(t, c, acc);
        clamp_add(t, shift_ties_up(h, _mm256_loadu_si256(t.right.as_ptr().add(c) as *const __m256i)))
    }

    /// `round(double(acc) · M)` ties away from zero, then + Z3 and the clamp (all in f64, exact).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn double_half_away(t: &RequantTable, c: usize, acc: __m256i) -> __m256i {
        let lo = dha_half(t, c, _mm256_castsi256_si128(acc));
        let hi = dha_half(t, c + 4, _mm256_extracti128_si256(acc, 1));
        _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn dha_half(t: &RequantTable, c: usize, x: __m128i) -> __m128i {
        let v = _mm256_mul_pd(_mm256_cvtepi32_pd(x), _mm256_loadu_pd(t.real.as_ptr().add(c)));
        // round half away from zero = trunc(v + copysign(0.5 − 2⁻⁵⁴, v)), exact for every
        // double (LLVM's lowering of `round`): a tie reaches the next integer, anything
        // below half (even 0.5 − 2⁻⁵⁴) stays below it.
        let sign = _mm256_and_pd(v, _mm256_castsi256_pd(_mm256_set1_epi64x(i64::MIN)));
        let half = _mm256_or_pd(sign, _mm256_set1_pd(0.49999999999999994));
        let r = _mm256_round_pd(_mm256_add_pd(v, half), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        // + Z3, clamp to the activation range (integers, exact in f64), to i32. With small
        // Z3 and bounds this equals the scalar rule's clamp to i32 first.
        let r = _mm256_add_pd(r, _mm256_set1_pd(t.z3 as f64));
        let r = _mm256_min_pd(_mm256_max_pd(r, _mm256_set1_pd(t.act_min as f64)), _mm256_set1_pd(t.act_max as f64));
        _mm256_cvttpd_epi32(r)
    }

    /// `round_half_even(float(acc) · float(M))`, then + Z3 and the clamp.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn float32_half_even(t: &RequantTable, c: usize, acc: __m256i) -> __m256i {
        let v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_loadu_ps(t.real_f32.as_ptr().add(c)));
        let r = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        // r is an integer-valued float; clamp to [lo − z3, hi − z3] (small, exact), then to int, + z3.
        let lo = _mm256_set1_ps((t.act_min as i64 - t.z3 as i64) as f32);
        let hi = _mm256_set1_ps((t.act_max as i64 - t.z3 as i64) as f32);
        let r = _mm256_min_ps(_mm256_max_ps(r, lo), hi);
        _mm256_add_epi32(_mm256_cvttps_epi32(r), _mm256_set1_epi32(t.z3))
    }

    /// `(acc · M0 + 2^(n−1)) >> n` on the exact 64-bit product, `n = 31 − shift ∈ [1, 62]`,
    /// clamped (in 64 bits) to `[lo − Z3, hi − Z3]`, then + Z3.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn single_rounding(t: &RequantTable, c: usize, acc: __m256i) -> __m256i {
        let lo = single_half(t, c, _mm256_castsi256_si128(acc));
        let hi = single_half(t, c + 4, _mm256_extracti128_si256(acc, 1));
        // Each result sits in the low dword of a qword: gather dwords 0, 2, 4, 6.
        let pick = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
        let lo = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(lo, pick));
        let hi = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(hi, pick));
        _mm256_add_epi32(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1), _mm256_set1_epi32(t.z3))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn single_half(t: &RequantTable, c: usize, x: __m128i) -> __m256i {
        let x = _mm256_cvtepi32_epi64(x);
        let m0 = _mm256_cvtepi32_epi64(_mm_loadu_si128(t.single_m0.as_ptr().add(c) as *const __m128i));
        let n = _mm256_loadu_si256(t.single_shift.as_ptr().add(c) as *const __m256i);
        let one = _mm256_set1_epi64x(1);
        // |x · M0| ≤ 2^62 and the nudge ≤ 2^61: no overflow.
        let s = _mm256_add_epi64(_mm256_mul_epi32(x, m0), _mm256_sllv_epi64(one, _mm256_sub_epi64(n, one)));
        // Arithmetic shift right by n: flip negatives, logical shift, flip back.
        let neg = _mm256_cmpgt_epi64(_mm256_setzero_si256(), s);
        let q = _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(s, neg), n), neg);
        let lo = _mm256_set1_epi64x(t.act_min as i64 - t.z3 as i64);
        let hi = _mm256_set1_epi64x(t.act_max as i64 - t.z3 as i64);
        let q = _mm256_blendv_epi8(q, lo, _mm256_cmpgt_epi64(lo, q));
        _mm256_blendv_epi8(q, hi, _mm256_cmpgt_epi64(q, hi))
    }

    /// direct (issue 16): the double rounding (`SIGNED`) or ties up as one
    /// floor division, `⌊hi32(t + C) / 2^(r−1)⌋` with `t = acc·M0` exact in
    /// 64 bits and `C = 2^30 + 2^(30+r) − 2^31·[t < 0]` (the proof is in
    /// [`requant_lanes`](crate::ops::requant_lanes)'s docs; the table takes
    /// this form only when every channel has `r ≥ 1`, hence `left = 0`, and
    /// for the double rounding `M0 ≥ 2^30`). Per 8 lanes: two `vpmuldq`
    /// (even lanes; odd lanes shifted down, against `M0` of the odd channels
    /// stored in the even slots), the nudges chosen by the product's sign
    /// (`vblendvpd` reads bit 63 of each qword: one instruction for the sign
    /// term), two 64-bit adds, the high dwords joined (a shift and a blend),
    /// one `vpsravd` — 10 operations where the two-step form takes 19.
    /// `c` is a multiple of 8 (the nudges are stored per block of 8).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn one_floor<const SIGNED: bool>(t: &RequantTable, c: usize, x: __m256i) -> __m256i {
        debug_assert!(c % 8 == 0 && t.floor8.len() >= 2 * c + 16);
        let l = &t.lanes;
        let ld = |v: &[i32]| _mm256_loadu_si256(v.as_ptr().add(c) as *const __m256i);
        let k = t.floor8.as_ptr().add(2 * c) as *const __m256i;
        let te = _mm256_mul_epi32(x, ld(&l.m0));
        let to = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), ld(&l.m0_swapped));
        let (ne, no) = if SIGNED {
            let pick = |pos: __m256i, neg: __m256i, t: __m256i| _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(pos), _mm256_castsi256_pd(neg), _mm256_castsi256_pd(t)));
            (pick(_mm256_loadu_si256(k), _mm256_loadu_si256(k.add(2)), te), pick(_mm256_loadu_si256(k.add(1)), _mm256_loadu_si256(k.add(3)), to))
        } else {
            (_mm256_loadu_si256(k), _mm256_loadu_si256(k.add(1)))
        };
        let (ve, vo) = (_mm256_add_epi64(te, ne), _mm256_add_epi64(to, no));
        // Even lanes ← the high dword of ve, odd lanes ← the high dword of vo.
        let hi = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(ve), vo);
        _mm256_srav_epi32(hi, ld(&l.floor_shift))
    }

    /// `SRDHM(acc · 2^left, M0)` (M0 ≠ i32::MIN).
    ///
    /// gemmlowp's nudge is `2^30` for `ab ≥ 0` and `1 − 2^30` below; division
    /// toward zero of `ab + 1 − 2^30 < 0` is `⌈(ab + 1 − 2^30) / 2^31⌉ =
    /// ⌊(ab + 2^30) / 2^31⌋`, the same floor as the non-negative case. So the
    /// high-mul is `(ab + 2^30) >> 31` for every `ab`: its low 32 bits are
    /// bits 31..62 of the 64-bit sum.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn srdhm(t: &RequantTable, c: usize, acc: __m256i) -> __m256i {
        let x = if t.has_left { _mm256_mullo_epi32(acc, _mm256_loadu_si256(t.left_factor.as_ptr().add(c) as *const __m256i)) } else { acc };
        let m0 = _mm256_loadu_si256(t.m0.as_ptr().add(c) as *const __m256i);
        let nudge = _mm256_set1_epi64x(1 << 30);
        // 64-bit products (+ nudge) of the even lanes and of the odd lanes.
        let even = _mm256_add_epi64(_mm256_mul_epi32(x, m0), nudge);
        let odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(m0, 32)), nudge);
        // Bits 31..62: to the low dword for the even lanes, to the high dword for the odd ones.
        _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0b1010_1010)
    }

    /// gemmlowp `RoundingDivideByPOT(x, e)`, ties away from zero, per lane `e ∈ [0, 31]`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn rounding_divide_by_pot(x: __m256i, e: __m256i) -> __m256i {
        let one = _mm256_set1_epi32(1);
        // mask = 2^e − 1 (e = 31 → 0x7fffffff).
        let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, e), one);
        let rem = _mm256_and_si256(x, mask);
        let neg = _mm256_cmpgt_epi32(_mm256_setzero_si256(), x);
        let threshold = _mm256_sub_epi32(_mm256_srai_epi32(mask, 1), neg); // + 1 when x < 0
        let up = _mm256_cmpgt_epi32(rem, threshold);
        _mm256_sub_epi32(_mm256_srav_epi32(x, e), up)
    }

    /// `(x + 2^(e−1)) >> e` in exact arithmetic: `(x >> e) + bit e−1 of x` (0 for e = 0).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn shift_ties_up(x: __m256i, e: __m256i) -> __m256i {
        let one = _mm256_set1_epi32(1);
        // e − 1 = −1 for e = 0: srlv by ≥ 32 gives 0.
        let bit = _mm256_and_si256(_mm256_srlv_epi32(x, _mm256_sub_epi32(e, one)), one);
        _mm256_add_epi32(_mm256_srav_epi32(x, e), bit)
    }

    /// depthwise (issue 16): channels `c..c + 8` (`c < channels`) of `acc`,
    /// which already holds the offset, requantized by `rule` — the table's
    /// rounding, passed as a constant by the caller so the match folds away
    /// inside its loop. Only for a table with [`RequantTable::vectorised`].
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn requantize8(t: &RequantTable, rule: Rounding, c: usize, acc: __m256i) -> __m256i {
        match rule {
            Rounding::DoubleHalfAway => double_half_away(t, c, acc),
            Rounding::Float32HalfEven => float32_half_even(t, c, acc),
            Rounding::FixedPointDoubleRounding => double_rounding(t, c, acc),
            Rounding::FixedPointTiesUp => ties_up(t, c, acc),
            Rounding::FixedPointSingleRounding => single_rounding(t, c, acc),
        }
    }
}

// depthwise (issue 16): the requantization of one vector in registers, for
// kernels that fuse it into their accumulation loop.
impl RequantTable {
    /// True when [`requantize8`] implements this table (else use [`RequantTable::apply_scalar`]).
    pub(crate) fn vectorised(&self) -> bool {
        self.vectorisable
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::requantize8;

// direct (issue 16): `requantize8` (the one-floor form) against the definition.
#[cfg(all(test, target_arch = "x86_64"))]
#[path = "requant_floor8_tests.rs"]
mod floor8_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// `apply_into` (fused narrowing) gives `want` narrowed, for each 8-bit
    /// type that holds `[lo, hi]`, into a fresh and into a reused buffer.
    fn into_bytes_equals(t: &RequantTable, acc: &[i32], want: &[i32], lo: i32, hi: i32) {
        for dtype in [DType::I8, DType::U8] {
            let (min, max) = if dtype == DType::I8 { (-128, 127) } else { (0, 255) };
            if lo < min || hi > max {
                continue;
            }
            let expected = crate::ops::narrow(dtype, &[want.len()], want.to_vec());
            let mut out = Value { shape: vec![want.len()], data: Data::I32(Vec::new()) };
            for path in [KernelPath::Avx2, KernelPath::Avx512Vnni, KernelPath::Avx2].into_iter().filter(|p| p.is_available()) {
                t.apply_into(path, &mut acc.to_vec(), dtype, &mut out);
                assert_eq!(out.data, expected.data, "{path} {:?} {dtype} {} channels", t.rounding, t.channels);
            }
        }
    }

    /// The AVX2 loop in place and `apply_into` (AVX2 and AVX-512 bytes) on
    /// the rows `a` equal [`RequantTable::apply_scalar`].
    fn check(t: &RequantTable, a: &[i32], lo: i32, hi: i32, what: &str) {
        let mut want = a.to_vec();
        t.apply_scalar(&mut want);
        let mut got = a.to_vec();
        t.apply(KernelPath::Avx2, &mut got);
        assert_eq!(got, want, "{what}");
        into_bytes_equals(t, a, &want, lo, hi);
    }

    #[test]
    fn avx2_requantization_equals_the_definition() {
        if !KernelPath::Avx2.is_available() {
            eprintln!("AVX2 not available: nothing to compare");
            return;
        }
        let mut seed = 3u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 32) as u32 as i32
        };
        // Multipliers from tiny to > 1, including exact powers of two (ties).
        let mut reals: Vec<f64> = vec![1.0, 0.5, 0.25, 2.0, 3.0, 1e-9, 0.75, 0.0039215686, 1.0 / 3.0, 0.999999, 7.5, 2f64.powi(-31), 2f64.powi(-20), 1e-12, 3e4];
        for _ in 0..40 {
            reals.push((rnd() as u32 as f64 / 2f64.powi(32)) * 2f64.powi(rnd().rem_euclid(24) - 20));
        }
        let mults: Vec<Multiplier> = reals.iter().map(|&r| Multiplier::from_ratio(r as f32, 1.0)).collect();
        let mut accs: Vec<i32> = vec![0, 1, -1, 2, -2, 3, -3, i32::MAX, i32::MIN, i32::MAX - 1, i32::MIN + 1, 1 << 30, -(1 << 30), 1 << 20, -(1 << 20)];
        for _ in 0..4000 {
            let r = rnd();
            accs.push(r >> (r as u32 % 31));
        }
        let m = mults.len();
        let below_one: Vec<Multiplier> = mults.iter().filter(|u| u.shift <= 0).cloned().collect();
        assert!(below_one.len() > 20);
        let below_half: Vec<Multiplier> = mults.iter().filter(|u| u.shift < 0).cloned().collect();
        assert!(below_half.len() > 20);
        let mut one_floor = 0;
        // Offsets: none, small (a bias), and large enough to wrap the i32 sum.
        let offsets: Vec<Vec<i32>> = vec![vec![0; m], (0..m).map(|_| rnd() >> 16).collect(), (0..m).map(|i| if i % 3 == 0 { i32::MAX - i as i32 } else { rnd() }).collect()];
        for rounding in Rounding::ALL {
            for (&(z3, lo, hi), offset) in [(0, -128, 127), (-128, -128, 127), (5, 0, 255), (-3, -3, 127), (100, -32768, 32767)].iter().zip(offsets.iter().cycle()) {
                let table = RequantTable::new(rounding, &mults, z3, lo, hi).with_offsets(offset);
                assert!(table.vectorisable, "{rounding:?}");
                // Rows: the special values against every multiplier (shifted so each
                // meets several), ties of both signs (acc·M lands on .5 for the
                // power-of-two M), then random accumulators.
                let specials = 15;
                let mut rows: Vec<Vec<i32>> = (0..specials).map(|r| (0..m).map(|i| accs[(i + r) % specials]).collect()).collect();
                rows.push((0..m).map(|i| (2 * i as i32 + 1) << 3).collect());
                rows.push((0..m).map(|i| -((2 * i as i32 + 1) << 3)).collect());
                rows.push((0..m).map(|i| -(2 * i as i32 + 1)).collect());
                rows.extend((specials..accs.len()).step_by(m).map(|start| (0..m).map(|i| accs[(start + i) % accs.len()]).collect()));
                for a in rows {
                    check(&table, &a, lo, hi, &format!("{rounding:?} z3 {z3} range {lo}..{hi} acc {a:?}"));
                    // Fewer channels than a vector, and a tail: the masked lanes.
                    for k in [1, 5, 8, 11] {
                        let sub = RequantTable::new(rounding, &mults[..k], z3, lo, hi).with_offsets(&offset[..k]);
                        check(&sub, &a[..2 * k], lo, hi, &format!("{rounding:?} {k} channels"));
                    }
                    // Only multipliers below 1 (no left shift: the AVX2 loop skips it).
                    let sub = RequantTable::new(rounding, &below_one, z3, lo, hi);
                    assert!(!sub.has_left);
                    check(&sub, &a[..below_one.len()], lo, hi, &format!("{rounding:?} below one"));
                    // Only multipliers below 1/2 (r ≥ 1 on every channel): the 16-lane
                    // one-floor form, on the ties above too.
                    let sub = RequantTable::new(rounding, &below_half, z3, lo, hi);
                    assert_eq!(sub.lanes.one_floor, matches!(rounding, Rounding::FixedPointDoubleRounding | Rounding::FixedPointTiesUp), "{rounding:?}");
                    check(&sub, &a[..below_half.len()], lo, hi, &format!("{rounding:?} below half"));
                    one_floor += sub.lanes.one_floor as usize;
                }
                // Exact ties of the below-half table: M = 2^(shift−1) (M0 = 2^30), acc = ±(2n+1)·2^(−shift).
                let sub = RequantTable::new(rounding, &below_half, z3, lo, hi);
                let pow2: Vec<usize> = (0..below_half.len()).filter(|&i| below_half[i].m0 == 1 << 30 && below_half[i].shift >= -26).collect();
                assert!(pow2.len() >= 2);
                for n in 0..6 {
                    for sign in [1, -1] {
                        let a: Vec<i32> = below_half.iter().enumerate().map(|(i, u)| if pow2.contains(&i) { sign * ((2 * n + 1) << -u.shift) } else { sign * n }).collect();
                        check(&sub, &a, lo, hi, &format!("{rounding:?} ties below half"));
                    }
                }
            }
        }
        assert!(one_floor > 0);
    }
}
