//! `y = clamp(Z3 + round(M[c] · acc), act_min, act_max)` over a whole
//! output block, with the profile's [`Rounding`], vectorised for AVX2.
//!
//! The scalar loop calls [`Rounding::apply`] — the definition. The AVX2
//! loop computes the same thing lane by lane with the same IEEE operations
//! (f64 / f32 multiply, then the rounding) or the same integer recipe
//! (wrapping `acc · 2^left`, the rounded doubling high-mul, the rounding
//! right shift); `tests` compares the two on edge cases.

use super::gemm::KernelPath;
use crate::profile::{Multiplier, Rounding};

/// Per-channel multiplier forms, padded to a multiple of 8 channels.
#[derive(Clone, Debug, PartialEq)]
pub struct RequantTable {
    pub rounding: Rounding,
    pub channels: usize,
    pub multipliers: Vec<Multiplier>,
    real: Vec<f64>,
    real_f32: Vec<f32>,
    m0: Vec<i32>,
    /// `1 << left` (wrapping), `left = max(shift, 0)`.
    left_factor: Vec<i32>,
    /// `min(max(−shift, 0), 31)`.
    right: Vec<i32>,
    pub z3: i32,
    pub act_min: i32,
    pub act_max: i32,
    /// Whether the AVX2 loop implements this table (see `avx2_ok`).
    vectorisable: bool,
}

impl RequantTable {
    pub fn new(rounding: Rounding, multipliers: &[Multiplier], z3: i32, act_min: i32, act_max: i32) -> RequantTable {
        let channels = multipliers.len();
        let padded = channels.div_ceil(8) * 8;
        fn pad<T: Clone>(mut v: Vec<T>, z: T, n: usize) -> Vec<T> {
            v.resize(n, z);
            v
        }
        RequantTable {
            rounding,
            channels,
            multipliers: multipliers.to_vec(),
            real: pad(multipliers.iter().map(|m| m.real).collect(), 0.0, padded),
            real_f32: pad(multipliers.iter().map(|m| m.real_f32).collect(), 0.0, padded),
            m0: pad(multipliers.iter().map(|m| m.m0).collect(), 0, padded),
            left_factor: pad(multipliers.iter().map(|m| 1i32.wrapping_shl(m.shift.max(0) as u32)).collect(), 1, padded),
            right: pad(multipliers.iter().map(|m| (-m.shift).clamp(0, 31)).collect(), 0, padded),
            z3,
            act_min,
            act_max,
            vectorisable: false,
        }
        .with_vectorisable()
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
        !matches!(self.rounding, Rounding::FixedPointSingleRounding)
            && self.m0.iter().all(|&m| m != i32::MIN)
            && [self.z3, self.act_min, self.act_max].iter().all(|v| (-SMALL..=SMALL).contains(v))
    }

    /// Requantize `acc` in place: rows of `channels` accumulators.
    pub fn apply(&self, path: KernelPath, acc: &mut [i32]) {
        let m = self.channels;
        assert_eq!(acc.len() % m.max(1), 0);
        #[cfg(target_arch = "x86_64")]
        if path != KernelPath::Scalar && self.vectorisable && KernelPath::Avx2.is_available() {
            for row in acc.chunks_exact_mut(m) {
                // SAFETY: AVX2 is available (checked above); the tables are padded to 8.
                unsafe { x86::requantize_row(self, row) };
            }
            return;
        }
        let _ = path;
        self.apply_scalar(acc);
    }

    /// The definition, one element at a time.
    pub fn apply_scalar(&self, acc: &mut [i32]) {
        let (z3, lo, hi) = (self.z3 as i64, self.act_min as i64, self.act_max as i64);
        for row in acc.chunks_exact_mut(self.channels) {
            for (a, mu) in row.iter_mut().zip(&self.multipliers) {
                *a = (self.rounding.apply(*a, mu) as i64 + z3).clamp(lo, hi) as i32;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::RequantTable;
    use crate::profile::Rounding;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn requantize_row(t: &RequantTable, row: &mut [i32]) {
        let m = row.len();
        let mut c = 0;
        let mut tmp = [0i32; 8];
        while c < m {
            let n = (m - c).min(8);
            let acc = if n == 8 {
                _mm256_loadu_si256(row.as_ptr().add(c) as *const __m256i)
            } else {
                tmp = [0; 8];
                tmp[..n].copy_from_slice(&row[c..c + n]);
                _mm256_loadu_si256(tmp.as_ptr() as *const __m256i)
            };
            let y = match t.rounding {
                Rounding::DoubleHalfAway => double_half_away(t, c, acc),
                Rounding::Float32HalfEven => float32_half_even(t, c, acc),
                Rounding::FixedPointDoubleRounding => {
                    let h = srdhm(t, c, acc);
                    clamp_add(t, rounding_divide_by_pot(h, _mm256_loadu_si256(t.right.as_ptr().add(c) as *const __m256i)))
                }
                Rounding::FixedPointTiesUp => {
                    let h = srdhm(t, c, acc);
                    clamp_add(t, shift_ties_up(h, _mm256_loadu_si256(t.right.as_ptr().add(c) as *const __m256i)))
                }
                Rounding::FixedPointSingleRounding => unreachable!("not vectorised"),
            };
            if n == 8 {
                _mm256_storeu_si256(row.as_mut_ptr().add(c) as *mut __m256i, y);
            } else {
                _mm256_storeu_si256(tmp.as_mut_ptr() as *mut __m256i, y);
                row[c..c + n].copy_from_slice(&tmp[..n]);
            }
            c += 8;
        }
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

    /// `SRDHM(acc · 2^left, M0)` (M0 ≠ i32::MIN).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn srdhm(t: &RequantTable, c: usize, acc: __m256i) -> __m256i {
        let x = _mm256_mullo_epi32(acc, _mm256_loadu_si256(t.left_factor.as_ptr().add(c) as *const __m256i));
        let m0 = _mm256_loadu_si256(t.m0.as_ptr().add(c) as *const __m256i);
        // 64-bit products of the even lanes and of the odd lanes.
        let even = _mm256_mul_epi32(x, m0);
        let odd = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(m0, 32));
        let qe = srdhm_quotient(even);
        let qo = srdhm_quotient(odd);
        // even results in the low dword of each qword, odd ones moved to the high dword.
        _mm256_blend_epi32(qe, _mm256_slli_epi64(qo, 32), 0b1010_1010)
    }

    /// The low 32 bits of `(ab + nudge) / 2^31` (C division) per 64-bit lane.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn srdhm_quotient(ab: __m256i) -> __m256i {
        // nudge = ab ≥ 0 ? 2^30 : 1 − 2^30; then C division by 2^31 (toward zero).
        let neg = _mm256_cmpgt_epi64(_mm256_setzero_si256(), ab);
        let nudge = _mm256_blendv_epi8(_mm256_set1_epi64x(1 << 30), _mm256_set1_epi64x(1 - (1 << 30)), neg);
        let s = _mm256_add_epi64(ab, nudge);
        let sneg = _mm256_cmpgt_epi64(_mm256_setzero_si256(), s);
        let s = _mm256_add_epi64(s, _mm256_and_si256(sneg, _mm256_set1_epi64x((1 << 31) - 1)));
        // bits 31..62 of s: the low 32 bits of the quotient.
        _mm256_srli_epi64(s, 31)
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut reals: Vec<f64> = vec![1.0, 0.5, 0.25, 2.0, 3.0, 1e-9, 0.75, 0.0039215686, 1.0 / 3.0, 0.999999, 7.5, 2f64.powi(-31), 2f64.powi(-20)];
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
        for rounding in [Rounding::DoubleHalfAway, Rounding::Float32HalfEven, Rounding::FixedPointDoubleRounding, Rounding::FixedPointTiesUp] {
            for &(z3, lo, hi) in &[(0, -128, 127), (-128, -128, 127), (5, 0, 255), (-3, -3, 127), (100, -32768, 32767)] {
                let table = RequantTable::new(rounding, &mults, z3, lo, hi);
                for start in (0..accs.len()).step_by(m) {
                    let mut a: Vec<i32> = (0..m).map(|i| accs[(start + i) % accs.len()]).collect();
                    // also ties: acc chosen so acc·M lands on .5 for power-of-two M
                    if start == 0 {
                        for (i, v) in a.iter_mut().enumerate() {
                            *v = (2 * i as i32 + 1) << 3;
                        }
                    }
                    let mut want = a.clone();
                    table.apply_scalar(&mut want);
                    let mut got = a.clone();
                    table.apply(KernelPath::Avx2, &mut got);
                    assert_eq!(got, want, "{rounding:?} z3 {z3} range {lo}..{hi} acc {a:?}");
                }
            }
        }
    }
}
