//! [`RequantTable::apply_into`]'s fused 8-bit loop on AVX-512: 16 channels
//! per step (the AVX2 loop takes 8), the same IEEE operations or integer
//! recipe lane by lane as the AVX2 loop in the parent module (whose
//! derivations apply unchanged), the bytes narrowed with `vpmovdb` (the
//! results lie in the clamp range, inside the 8-bit type, so truncation is
//! exact). A submodule of [`super`] so it reads the table's private columns.
//!
//! Taken on [`KernelPath::Avx512Vnni`] (the CPU then has AVX-512F/BW); the
//! parent's tests compare it with the definition on every rule.

use super::RequantTable;
use crate::model::DType;
use crate::ops::gemm::KernelPath;
use crate::profile::Rounding;
use crate::tensor::{Data, Value};
use std::arch::x86_64::*;

/// Requantize `acc` (rows of `table.channels`, offsets not yet added) into
/// `out` as int8 or uint8 bytes. `false` (nothing done) when this loop does
/// not apply: another dtype, a table the vector loops do not implement, or
/// a CPU without AVX-512.
pub(super) fn bytes_into(t: &RequantTable, acc: &[i32], dtype: DType, out: &mut Value) -> bool {
    let signed = match dtype {
        DType::I8 => true,
        DType::U8 => false,
        _ => return false,
    };
    if !(t.vectorisable && t.channels > 0 && KernelPath::Avx512Vnni.is_available()) {
        return false;
    }
    assert_eq!(acc.len() % t.channels, 0);
    let n = acc.len();
    if !matches!((&out.data, signed), (Data::I8(_), true) | (Data::U8(_), false)) {
        out.data = if signed { Data::I8(Vec::new()) } else { Data::U8(Vec::new()) };
    }
    let dst: &mut [u8] = match &mut out.data {
        Data::U8(o) => {
            o.resize(n, 0);
            o
        }
        Data::I8(o) => {
            o.resize(n, 0);
            // SAFETY: i8 and u8 have the same layout; every bit pattern is valid for both.
            unsafe { std::slice::from_raw_parts_mut(o.as_mut_ptr() as *mut u8, n) }
        }
        _ => unreachable!("set to an 8-bit buffer above"),
    };
    // SAFETY: AVX-512F/BW are available (checked above); `dst` holds `acc.len()` bytes.
    unsafe { rows_bytes(t, acc, dst) };
    true
}

/// Every row, 16 channels at a time (the tail masked), the rule chosen once.
#[allow(clippy::incompatible_msrv)]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn rows_bytes(t: &RequantTable, acc: &[i32], dst: &mut [u8]) {
    macro_rules! rows {
        ($f:ident) => {{
            let m = t.channels;
            for (r, row) in acc.chunks_exact(m).enumerate() {
                let mut c = 0;
                while c < m {
                    let k: __mmask16 = if m - c >= 16 { !0 } else { (1u16 << (m - c)) - 1 };
                    let a = _mm512_maskz_loadu_epi32(k, row.as_ptr().add(c));
                    let a = _mm512_add_epi32(a, _mm512_maskz_loadu_epi32(k, t.offset.as_ptr().add(c)));
                    let y = _mm512_cvtepi32_epi8($f(t, c, k, a));
                    let d = dst.as_mut_ptr().add(r * m + c);
                    if k == !0 {
                        _mm_storeu_si128(d as *mut __m128i, y);
                    } else {
                        let mut tmp = [0u8; 16];
                        _mm_storeu_si128(tmp.as_mut_ptr() as *mut __m128i, y);
                        std::ptr::copy_nonoverlapping(tmp.as_ptr(), d, m - c);
                    }
                    c += 16;
                }
            }
        }};
    }
    match t.rounding {
        Rounding::DoubleHalfAway => rows!(double_half_away),
        Rounding::Float32HalfEven => rows!(float32_half_even),
        Rounding::FixedPointDoubleRounding => rows!(double_rounding),
        Rounding::FixedPointTiesUp => rows!(ties_up),
        Rounding::FixedPointSingleRounding => rows!(single_rounding),
    }
}

/// The 16 lanes of `$acc` (channels `$c..`, valid ones in mask `$k`) as two
/// halves of 8 through `$half(t, c, mask8, __m256i) -> __m256i` (it works
/// in f64 or i64 lanes and leaves out Z3), joined, then + Z3.
macro_rules! by_halves {
    ($half:ident, $t:expr, $c:expr, $k:expr, $acc:expr) => {{
        let (t, c, k, acc): (&RequantTable, usize, __mmask16, __m512i) = ($t, $c, $k, $acc);
        let lo = $half(t, c, k as __mmask8, _mm512_castsi512_si256(acc));
        let hi = $half(t, c + 8, (k >> 8) as __mmask8, _mm512_extracti64x4_epi64::<1>(acc));
        _mm512_add_epi32(_mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi), _mm512_set1_epi32(t.z3))
    }};
}

/// `clamp(v + Z3, lo, hi)` for i32 lanes (see the AVX2 `clamp_add`).
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn clamp_add(t: &RequantTable, v: __m512i) -> __m512i {
    let lo = _mm512_set1_epi32((t.act_min as i64 - t.z3 as i64).max(i32::MIN as i64) as i32);
    let hi = _mm512_set1_epi32((t.act_max as i64 - t.z3 as i64).min(i32::MAX as i64) as i32);
    _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(v, lo), hi), _mm512_set1_epi32(t.z3))
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn double_half_away(t: &RequantTable, c: usize, k: __mmask16, acc: __m512i) -> __m512i {
    by_halves!(dha_half, t, c, k, acc)
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn dha_half(t: &RequantTable, c: usize, k: __mmask8, x: __m256i) -> __m256i {
    let v = _mm512_mul_pd(_mm512_cvtepi32_pd(x), _mm512_maskz_loadu_pd(k, t.real.as_ptr().add(c)));
    // trunc(v + copysign(0.5 − 2⁻⁵⁴, v)): round half away from zero (see the AVX2 loop);
    // copysign as one ternary op: (v & sign bit) | 0.5 − 2⁻⁵⁴ (truth table 0xEA = A & B | C).
    let half = _mm512_ternarylogic_epi64::<0xEA>(
        _mm512_castpd_si512(v),
        _mm512_set1_epi64(i64::MIN),
        _mm512_castpd_si512(_mm512_set1_pd(0.49999999999999994)),
    );
    let r = _mm512_roundscale_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(_mm512_add_pd(v, _mm512_castsi512_pd(half)));
    // Clamp to [lo − Z3, hi − Z3] (integers, exact in f64), to i32; the caller adds Z3:
    // the same as + Z3 then the clamp.
    let lo = _mm512_set1_pd((t.act_min as i64 - t.z3 as i64) as f64);
    let hi = _mm512_set1_pd((t.act_max as i64 - t.z3 as i64) as f64);
    _mm512_cvttpd_epi32(_mm512_min_pd(_mm512_max_pd(r, lo), hi))
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn float32_half_even(t: &RequantTable, c: usize, k: __mmask16, acc: __m512i) -> __m512i {
    let v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_maskz_loadu_ps(k, t.real_f32.as_ptr().add(c)));
    let r = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v);
    let lo = _mm512_set1_ps((t.act_min as i64 - t.z3 as i64) as f32);
    let hi = _mm512_set1_ps((t.act_max as i64 - t.z3 as i64) as f32);
    let r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
    _mm512_add_epi32(_mm512_cvttps_epi32(r), _mm512_set1_epi32(t.z3))
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn double_rounding(t: &RequantTable, c: usize, k: __mmask16, acc: __m512i) -> __m512i {
    let h = srdhm(t, c, k, acc);
    clamp_add(t, rounding_divide_by_pot(h, _mm512_maskz_loadu_epi32(k, t.right.as_ptr().add(c))))
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn ties_up(t: &RequantTable, c: usize, k: __mmask16, acc: __m512i) -> __m512i {
    let h = srdhm(t, c, k, acc);
    clamp_add(t, shift_ties_up(h, _mm512_maskz_loadu_epi32(k, t.right.as_ptr().add(c))))
}

/// `(acc · M0 + 2^(n−1)) >> n` on the exact 64-bit product, clamped to
/// `[lo − Z3, hi − Z3]` in 64 bits, then + Z3 (see the AVX2 loop).
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn single_rounding(t: &RequantTable, c: usize, k: __mmask16, acc: __m512i) -> __m512i {
    by_halves!(single_half, t, c, k, acc)
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn single_half(t: &RequantTable, c: usize, k: __mmask8, x: __m256i) -> __m256i {
    let x = _mm512_cvtepi32_epi64(x);
    let m0 = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(_mm512_maskz_loadu_epi32(k as __mmask16, t.single_m0.as_ptr().add(c))));
    // Masked-off lanes get n = 1 (a valid shift; their results are never stored).
    let n = _mm512_mask_loadu_epi64(_mm512_set1_epi64(1), k, t.single_shift.as_ptr().add(c));
    let one = _mm512_set1_epi64(1);
    let s = _mm512_add_epi64(_mm512_mul_epi32(x, m0), _mm512_sllv_epi64(one, _mm512_sub_epi64(n, one)));
    let q = _mm512_srav_epi64(s, n);
    let q = _mm512_max_epi64(q, _mm512_set1_epi64(t.act_min as i64 - t.z3 as i64));
    let q = _mm512_min_epi64(q, _mm512_set1_epi64(t.act_max as i64 - t.z3 as i64));
    _mm512_cvtepi64_epi32(q)
}

/// `SRDHM(acc · 2^left, M0)`: bits 31..62 of `acc · M0 + 2^30` (see the AVX2 `srdhm`).
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn srdhm(t: &RequantTable, c: usize, k: __mmask16, acc: __m512i) -> __m512i {
    let x = if t.has_left { _mm512_mullo_epi32(acc, _mm512_maskz_loadu_epi32(k, t.left_factor.as_ptr().add(c))) } else { acc };
    let m0 = _mm512_maskz_loadu_epi32(k, t.m0.as_ptr().add(c));
    let nudge = _mm512_set1_epi64(1 << 30);
    let even = _mm512_add_epi64(_mm512_mul_epi32(x, m0), nudge);
    let odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64::<32>(x), _mm512_srli_epi64::<32>(m0)), nudge);
    _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64::<31>(even), _mm512_slli_epi64::<1>(odd))
}

/// gemmlowp `RoundingDivideByPOT(x, e)`, ties away from zero, `e ∈ [0, 31]`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn rounding_divide_by_pot(x: __m512i, e: __m512i) -> __m512i {
    let one = _mm512_set1_epi32(1);
    let mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, e), one);
    let rem = _mm512_and_si512(x, mask);
    let half = _mm512_srai_epi32::<1>(mask);
    // + 1 on the threshold when x < 0.
    let threshold = _mm512_mask_add_epi32(half, _mm512_cmplt_epi32_mask(x, _mm512_setzero_si512()), half, one);
    let q = _mm512_srav_epi32(x, e);
    _mm512_mask_add_epi32(q, _mm512_cmpgt_epi32_mask(rem, threshold), q, one)
}

/// `(x + 2^(e−1)) >> e` exactly: `(x >> e) + bit e−1 of x` (0 for e = 0).
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn shift_ties_up(x: __m512i, e: __m512i) -> __m512i {
    let one = _mm512_set1_epi32(1);
    let bit = _mm512_and_si512(_mm512_srlv_epi32(x, _mm512_sub_epi32(e, one)), one);
    _mm512_add_epi32(_mm512_srav_epi32(x, e), bit)
}
