//! The requantization of one vector of accumulators in registers, on 16
//! lanes (AVX-512): the one form shared by every 16-lane kernel (the
//! CONV_2D gemm's fused stores in [`super::conv_fused`], the AVX-512 rows of
//! [`super::requant::RequantTable::apply_into`]). Each rule is the lane-wise
//! image of its scalar definition ([`Rounding::apply`]): the same IEEE
//! operations, or an integer recipe equal to it for every input.
//!
//! [`LaneTable`] holds every per-channel constant a rule reads, padded to
//! whole 16-channel blocks and computed once in prepare, so the inner loop
//! loads them and does no per-vector setup.
//!
//! # The fixed-point rules as one floor division
//!
//! gemmlowp's double rounding is `RoundingDivideByPOT(SRDHM(x, M0), r)` with
//! `x = acc'·2^left` (wrapping i32) and `t = x·M0` exact in 64 bits:
//!
//! ```text
//!     SRDHM(x, M0)            = ⌊(t + 2^30) / 2^31⌋               (for every t: see requant's srdhm)
//!     RoundingDivideByPOT(y, r) = ⌊(y + 2^(r−1) − [y < 0]) / 2^r⌋   (r ≥ 1)
//! ```
//!
//! Nested floors merge, `⌊(⌊a/b⌋ + c)/d⌋ = ⌊(a + b·c)/(b·d)⌋` (b, d > 0,
//! c an integer), and for `M0 ∈ [2^30, 2^31)`, `r ≥ 1`, `[y < 0] = [x < 0]`
//! (`y < 0` iff `t < −2^30`; for `x ≤ −1` that holds except `x = −1`,
//! `M0 = 2^30`, where `y = 0` and the term changes nothing: `⌊(−2^30 + 2^30 +
//! 2^(30+r) − 2^31)/2^(31+r)⌋ = 0` as well). So
//!
//! ```text
//!     result = ⌊(t + 2^30 + 2^(30+r) − 2^31·[x < 0]) / 2^(31+r)⌋
//!            = ⌊hi32(t + C) / 2^(r−1)⌋,      C = 2^30 + 2^(30+r) − 2^31·[t < 0]
//! ```
//!
//! (`[x < 0] = [t < 0]`, since `M0 > 0`), with `hi32` the high dword of the
//! 64-bit sum: `⌊⌊v/2^32⌋/2^(r−1)⌋ = ⌊v/2^(31+r)⌋`, so a 32-bit arithmetic
//! shift finishes it. Ties up (`(y + 2^(r−1)) >> r`) is the same without the
//! sign term, for any `M0`. Per 16 lanes: the two `vpmuldq` (even and odd
//! lanes), the nudges, one shuffle joining the high dwords, one `vpsravd`.
//! [`LaneTable`] takes this form when every channel has `r ≥ 1` (and, for
//! the double rounding, `M0 ∈ [2^30, 2^31)`); otherwise the two-step recipe
//! (the high-mul, then the rounding shift). The test
//! `tests::single_floor_equals_the_two_step_definition` checks the identity.

use super::gemm::PANEL;
use crate::profile::{Multiplier, Rounding};

/// Per-channel constants of a requantization, padded to whole 16-lane blocks.
#[derive(Clone, Debug, PartialEq)]
pub struct LaneTable {
    pub rounding: Rounding,
    pub channels: usize,
    /// Added (wrapping) to each accumulator of the channel before the rounding.
    pub offset: Vec<i32>,
    pub real: Vec<f64>,
    pub real_f32: Vec<f32>,
    pub m0: Vec<i32>,
    /// `M0` of the odd channel of each pair in the even slot and vice versa
    /// (`vpmuldq` reads the even dwords: the odd lanes' products need no shuffle of `M0`).
    pub m0_swapped: Vec<i32>,
    /// `left = max(shift, 0) mod 32`: `acc·2^left` (wrapping) is `acc << left`.
    pub left: Vec<i32>,
    /// `e = min(max(−shift, 0), 31)`, `2^e − 1` and `(2^e − 1) >> 1`
    /// (`RoundingDivideByPOT`'s mask and threshold; the two-step recipe).
    pub right: Vec<i32>,
    pub right_mask: Vec<i32>,
    pub right_half: Vec<i32>,
    /// The one-floor form (module docs): `r − 1` per channel, and per block
    /// of 16 the nudge `2^30 + 2^(30+r)` of its 8 even channels, then of its 8 odd ones.
    pub floor_shift: Vec<i32>,
    pub floor_nudge: Vec<i64>,
    /// Single rounding: `M0`, `n = 31 − shift` after the clamp of `shift`
    /// to `[−31, 30]`, and the nudge `2^(n−1)`.
    pub single_m0: Vec<i64>,
    pub single_shift: Vec<i64>,
    pub single_nudge: Vec<i64>,
    /// Some channel has `left > 0`.
    pub has_left: bool,
    /// The fixed-point rule of this table takes the one-floor form.
    pub one_floor: bool,
    pub z3: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl LaneTable {
    /// The constants of `multipliers` (one per channel) with `offset`.
    pub fn new(rounding: Rounding, ms: &[Multiplier], offset: &[i32], z3: i32, act_min: i32, act_max: i32) -> LaneTable {
        assert_eq!(ms.len(), offset.len(), "one offset per channel");
        let channels = ms.len();
        let padded = channels.div_ceil(PANEL) * PANEL;
        fn col<T: Clone>(ms: &[Multiplier], n: usize, pad: T, f: impl Fn(&Multiplier) -> T) -> Vec<T> {
            let mut v: Vec<T> = ms.iter().map(f).collect();
            v.resize(n, pad);
            v
        }
        // The clamp of `multiply_by_quantized_multiplier_single_rounding`.
        let single = |m: &Multiplier| match m.shift {
            s if s > 30 => (i32::MAX, 30),
            s if s < -31 => (0, 0),
            s => (m.m0, s),
        };
        let right = |m: &Multiplier| (-m.shift).clamp(0, 31);
        let mut off = offset.to_vec();
        off.resize(padded, 0);
        // Block b, slot i < 8: channel 16b + 2i; slot 8 + i: channel 16b + 2i + 1.
        let floor_nudge = (0..padded)
            .map(|s| {
                let c = s / PANEL * PANEL + 2 * (s % PANEL % 8) + (s % PANEL) / 8;
                ms.get(c).map_or(0, |m| (1i64 << 30) + (1i64 << (30 + right(m))))
            })
            .collect();
        let all_right = ms.iter().all(|m| right(m) >= 1);
        let one_floor = match rounding {
            Rounding::FixedPointDoubleRounding => all_right && ms.iter().all(|m| m.m0 >= 1 << 30),
            Rounding::FixedPointTiesUp => all_right,
            _ => false,
        };
        LaneTable {
            rounding,
            channels,
            offset: off,
            real: col(ms, padded, 0.0, |m| m.real),
            real_f32: col(ms, padded, 0.0, |m| m.real_f32),
            m0: col(ms, padded, 0, |m| m.m0),
            m0_swapped: (0..padded).map(|c| ms.get(c ^ 1).map_or(0, |m| m.m0)).collect(),
            left: col(ms, padded, 0, |m| m.shift.max(0) & 31),
            right: col(ms, padded, 0, right),
            right_mask: col(ms, padded, 0, |m| ((1i64 << right(m)) - 1) as i32),
            right_half: col(ms, padded, 0, |m| ((1i64 << right(m)) - 1) as i32 >> 1),
            floor_shift: col(ms, padded, 0, |m| (right(m) - 1).max(0)),
            floor_nudge,
            single_m0: col(ms, padded, 0, |m| single(m).0 as i64),
            single_shift: col(ms, padded, 1, |m| 31 - single(m).1 as i64),
            single_nudge: col(ms, padded, 1, |m| 1i64 << (30 - single(m).1)),
            has_left: ms.iter().any(|m| m.shift > 0),
            one_floor,
            z3,
            act_min,
            act_max,
        }
    }
}

/// `$body` with `$R` bound to the 16-lane rule type of table `$t` (chosen
/// once, outside the caller's loops).
#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
macro_rules! with_rule16 {
    ($t:expr, $R:ident => $body:expr) => {{
        use $crate::ops::requant_lanes::x86 as rl;
        use $crate::profile::Rounding as Ro;
        let t: &$crate::ops::requant_lanes::LaneTable = $t;
        match (t.rounding, t.one_floor) {
            (Ro::FixedPointDoubleRounding, true) => { type $R = rl::DoubleRoundingFloor; $body }
            (Ro::FixedPointDoubleRounding, false) => { type $R = rl::DoubleRounding; $body }
            (Ro::FixedPointTiesUp, true) => { type $R = rl::TiesUpFloor; $body }
            (Ro::FixedPointTiesUp, false) => { type $R = rl::TiesUp; $body }
            (Ro::FixedPointSingleRounding, _) => { type $R = rl::SingleRounding; $body }
            (Ro::DoubleHalfAway, _) => { type $R = rl::DoubleHalfAway; $body }
            (Ro::Float32HalfEven, _) => { type $R = rl::Float32HalfEven; $body }
        }
    }};
}
#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
pub(crate) use with_rule16;

#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[allow(clippy::incompatible_msrv)]
pub(crate) mod x86 {
    use super::LaneTable;
    use std::arch::x86_64::*;

    /// One rounding rule on 16 lanes: its constants for the block of
    /// channels `c..c + 16` ([`Rule::load`], once per block), and
    /// `round(M·v)` ([`Rule::apply`]) for `v` = the accumulators + offsets,
    /// either as it is or clamped to `[lo, hi]` (the activation bounds − Z3;
    /// the caller clamps again and adds Z3).
    pub(crate) trait Rule {
        type K: Copy;
        unsafe fn load(t: &LaneTable, c: usize) -> Self::K;
        unsafe fn apply(t: &LaneTable, k: &Self::K, v: __m512i, lo: __m512i, hi: __m512i) -> __m512i;
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn ld(v: &[i32], c: usize) -> __m512i {
        _mm512_loadu_si512(v.as_ptr().add(c) as *const _)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn ld64(v: &[i64], c: usize) -> __m512i {
        _mm512_loadu_si512(v.as_ptr().add(c) as *const _)
    }

    /// `acc·2^left` (wrapping).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn left(t: &LaneTable, left: __m512i, acc: __m512i) -> __m512i {
        if t.has_left {
            _mm512_sllv_epi32(acc, left)
        } else {
            acc
        }
    }

    /// `(x·M0 + 2^30) >> 31`, bits 31..62 of the exact sum (see `requant`'s
    /// AVX2 `srdhm` for why one nudge serves both signs).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn srdhm(k: &Fixed, x: __m512i) -> __m512i {
        let nudge = _mm512_set1_epi64(1 << 30);
        let even = _mm512_add_epi64(_mm512_mul_epi32(x, k.m0), nudge);
        let odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64::<32>(x), k.m0_swapped), nudge);
        _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64::<31>(even), _mm512_slli_epi64::<1>(odd))
    }

    /// The constants of the two-step fixed-point rules.
    #[derive(Clone, Copy)]
    pub(crate) struct Fixed {
        left: __m512i,
        m0: __m512i,
        m0_swapped: __m512i,
        right: __m512i,
        mask: __m512i,
        half: __m512i,
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn fixed(t: &LaneTable, c: usize) -> Fixed {
        Fixed {
            left: ld(&t.left, c),
            m0: ld(&t.m0, c),
            m0_swapped: ld(&t.m0_swapped, c),
            right: ld(&t.right, c),
            mask: ld(&t.right_mask, c),
            half: ld(&t.right_half, c),
        }
    }

    /// A two-step fixed-point rule: [`Fixed`] constants, the high-mul `x = srdhm(v)`, then `$shift`.
    macro_rules! fixed_rule {
        ($(#[$doc:meta])* $name:ident, |$x:ident, $k:ident| $shift:block) => {
            pub(crate) struct $name;
            impl Rule for $name {
                type K = Fixed;
                #[inline]
                #[target_feature(enable = "avx512f")]
                unsafe fn load(t: &LaneTable, c: usize) -> Fixed {
                    fixed(t, c)
                }
                $(#[$doc])*
                #[inline]
                #[target_feature(enable = "avx512f")]
                unsafe fn apply(t: &LaneTable, $k: &Fixed, v: __m512i, _: __m512i, _: __m512i) -> __m512i {
                    let $x = srdhm($k, left(t, $k.left, v));
                    $shift
                }
            }
        };
    }

    fixed_rule!(
        /// gemmlowp's `RoundingDivideByPOT`: up when the remainder exceeds
        /// half (half + 1 for x < 0, i.e. half − (x >> 31)).
        DoubleRounding,
        |x, k| {
            let rem = _mm512_and_si512(x, k.mask);
            let threshold = _mm512_sub_epi32(k.half, _mm512_srai_epi32::<31>(x));
            let q = _mm512_srav_epi32(x, k.right);
            _mm512_mask_sub_epi32(q, _mm512_cmpgt_epi32_mask(rem, threshold), q, _mm512_set1_epi32(-1))
        }
    );

    fixed_rule!(
        /// `(x >> e) + bit e−1 of x` (e = 0: a shift by 2³² − 1, which gives 0).
        TiesUp,
        |x, k| {
            let one = _mm512_set1_epi32(1);
            let bit = _mm512_and_si512(_mm512_srlv_epi32(x, _mm512_sub_epi32(k.right, one)), one);
            _mm512_add_epi32(_mm512_srav_epi32(x, k.right), bit)
        }
    );

    /// The constants of the one-floor rules: `left`, `M0` (even lanes, and
    /// the odd lanes' in the even slots), the nudges of the even and the odd
    /// lanes, `r − 1`.
    #[derive(Clone, Copy)]
    pub(crate) struct Floor {
        left: __m512i,
        m0: __m512i,
        m0_swapped: __m512i,
        nudge_even: __m512i,
        nudge_odd: __m512i,
        shift: __m512i,
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn floor_consts(t: &LaneTable, c: usize) -> Floor {
        Floor {
            left: ld(&t.left, c),
            m0: ld(&t.m0, c),
            m0_swapped: ld(&t.m0_swapped, c),
            nudge_even: ld64(&t.floor_nudge, c),
            nudge_odd: ld64(&t.floor_nudge, c + 8),
            shift: ld(&t.floor_shift, c),
        }
    }

    /// `⌊hi32(t + C) / 2^(r−1)⌋` (module docs), `C` = the nudge, minus
    /// `2^31` on the lanes where `t < 0` when `SIGNED` (the double rounding).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn one_floor<const SIGNED: bool>(t: &LaneTable, k: &Floor, v: __m512i) -> __m512i {
        let x = left(t, k.left, v);
        let te = _mm512_mul_epi32(x, k.m0);
        let to = _mm512_mul_epi32(_mm512_srli_epi64::<32>(x), k.m0_swapped);
        let (mut ve, mut vo) = (_mm512_add_epi64(te, k.nudge_even), _mm512_add_epi64(to, k.nudge_odd));
        if SIGNED {
            let (zero, two31) = (_mm512_setzero_si512(), _mm512_set1_epi64(1 << 31));
            ve = _mm512_mask_sub_epi64(ve, _mm512_cmplt_epi64_mask(te, zero), ve, two31);
            vo = _mm512_mask_sub_epi64(vo, _mm512_cmplt_epi64_mask(to, zero), vo, two31);
        }
        // Even dword lanes ← the high dword of ve (dwords swapped within each qword);
        // odd lanes keep vo's high dword.
        let hi = _mm512_mask_shuffle_epi32::<0b1011_0001>(vo, 0x5555, ve);
        _mm512_srav_epi32(hi, k.shift)
    }

    /// The double rounding (`SIGNED`) or ties up as one floor division (module docs).
    pub(crate) struct OneFloor<const SIGNED: bool>;
    pub(crate) type DoubleRoundingFloor = OneFloor<true>;
    pub(crate) type TiesUpFloor = OneFloor<false>;
    impl<const SIGNED: bool> Rule for OneFloor<SIGNED> {
        type K = Floor;
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn load(t: &LaneTable, c: usize) -> Floor {
            floor_consts(t, c)
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn apply(t: &LaneTable, k: &Floor, v: __m512i, _: __m512i, _: __m512i) -> __m512i {
            one_floor::<SIGNED>(t, k, v)
        }
    }

    pub(crate) struct SingleRounding;
    impl Rule for SingleRounding {
        /// `M0`, `n`, `2^(n−1)` of channels 0..8 and 8..16 (as i64).
        type K = [[__m512i; 3]; 2];
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn load(t: &LaneTable, c: usize) -> Self::K {
            let h = |c| [ld64(&t.single_m0, c), ld64(&t.single_shift, c), ld64(&t.single_nudge, c)];
            [h(c), h(c + 8)]
        }
        /// `(v·M0 + 2^(n−1)) >> n` on the exact 64-bit product, clamped in 64 bits.
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn apply(_: &LaneTable, k: &Self::K, v: __m512i, lo: __m512i, hi: __m512i) -> __m512i {
            let half = |x: __m256i, k: &[__m512i; 3]| {
                // |x·M0| ≤ 2^62 and the nudge ≤ 2^61: no overflow.
                let s = _mm512_add_epi64(_mm512_mul_epi32(_mm512_cvtepi32_epi64(x), k[0]), k[2]);
                let q = _mm512_srav_epi64(s, k[1]);
                let q = _mm512_min_epi64(_mm512_max_epi64(q, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(lo))), _mm512_cvtepi32_epi64(_mm512_castsi512_si256(hi)));
                _mm512_cvtepi64_epi32(q)
            };
            let a = half(_mm512_castsi512_si256(v), &k[0]);
            let b = half(_mm512_extracti64x4_epi64::<1>(v), &k[1]);
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(a), b)
        }
    }

    pub(crate) struct DoubleHalfAway;
    impl Rule for DoubleHalfAway {
        type K = [__m512d; 2];
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn load(t: &LaneTable, c: usize) -> Self::K {
            [_mm512_loadu_pd(t.real.as_ptr().add(c)), _mm512_loadu_pd(t.real.as_ptr().add(c + 8))]
        }
        /// `round(double(v)·M)` ties away from zero as `trunc(v + copysign(0.5 − 2⁻⁵⁴, v))`
        /// (exact for every double: a tie reaches the next integer, anything below half
        /// stays below it), clamped in f64 (integers: exact).
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn apply(_: &LaneTable, k: &Self::K, v: __m512i, lo: __m512i, hi: __m512i) -> __m512i {
            let (lo, hi) = (_mm512_cvtepi32_pd(_mm512_castsi512_si256(lo)), _mm512_cvtepi32_pd(_mm512_castsi512_si256(hi)));
            let half = |x: __m256i, m: __m512d| {
                let v = _mm512_mul_pd(_mm512_cvtepi32_pd(x), m);
                // copysign as one ternary op: (v & sign bit) | (0.5 − 2⁻⁵⁴) (truth table 0xEA = A & B | C).
                let h = _mm512_ternarylogic_epi64::<0xEA>(
                    _mm512_castpd_si512(v),
                    _mm512_set1_epi64(i64::MIN),
                    _mm512_castpd_si512(_mm512_set1_pd(0.49999999999999994)),
                );
                let r = _mm512_roundscale_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(_mm512_add_pd(v, _mm512_castsi512_pd(h)));
                _mm512_cvttpd_epi32(_mm512_min_pd(_mm512_max_pd(r, lo), hi))
            };
            let a = half(_mm512_castsi512_si256(v), k[0]);
            let b = half(_mm512_extracti64x4_epi64::<1>(v), k[1]);
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(a), b)
        }
    }

    pub(crate) struct Float32HalfEven;
    impl Rule for Float32HalfEven {
        type K = __m512;
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn load(t: &LaneTable, c: usize) -> __m512 {
            _mm512_loadu_ps(t.real_f32.as_ptr().add(c))
        }
        /// `round_half_even(float(v)·float(M))`, clamped in f32 (small integers: exact).
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn apply(_: &LaneTable, k: &__m512, v: __m512i, lo: __m512i, hi: __m512i) -> __m512i {
            let r = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_ps(_mm512_cvtepi32_ps(v), *k));
            _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(r, _mm512_cvtepi32_ps(lo)), _mm512_cvtepi32_ps(hi)))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::quant::{multiply_by_quantized_multiplier_double_rounding as double, multiply_by_quantized_multiplier_ties_up_shift as ties_up};

    /// The one-floor form of the module docs, in i64 (what the lanes compute): for
    /// `r ≥ 1` the high dword of `t + C` shifted right by `r − 1`; for `r = 0`
    /// (`left ≥ 0`) `⌊(t + 2^30)/2^31⌋`.
    fn one_floor(x: i32, m0: i32, shift: i32, signed: bool) -> i32 {
        let left = shift.max(0);
        let r = (-shift).clamp(0, 31) as u32;
        let t = x.wrapping_mul(1i32.wrapping_shl(left as u32)) as i64 * m0 as i64;
        if r == 0 {
            return (t + (1i64 << 30)).div_euclid(1i64 << 31) as i32;
        }
        let v = t + (1i64 << 30) + (1i64 << (30 + r)) - if signed && t < 0 { 1i64 << 31 } else { 0 };
        let via_hi = ((v >> 32) as i32) >> (r - 1);
        assert_eq!(via_hi as i64, v.div_euclid(1i64 << (31 + r)), "hi32 then r − 1 is one floor");
        via_hi
    }

    #[test]
    fn single_floor_equals_the_two_step_definition() {
        let mut seed = 17u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 32) as u32
        };
        let edge_x = [0, 1, -1, 2, -2, i32::MAX, i32::MIN, i32::MAX - 1, i32::MIN + 1, 1 << 30, -(1 << 30), 12345, -12345];
        let edge_m0 = [1 << 30, (1 << 30) + 1, i32::MAX, i32::MAX - 1, 1518500250];
        // r = 0, r = 1 and r = 31 edges (−33: r capped at 31), mid values, and left > 0
        // (shift 1, 5, 31: r = 0) with its wrapping.
        let shifts = [0, -1, -2, -7, -13, -30, -31, -33, 1, 5, 31];
        let mut n = 0;
        let mut check = |x: i32, m0: i32, shift: i32| {
            assert_eq!(one_floor(x, m0, shift, true), double(x, m0, shift), "double x {x} m0 {m0} shift {shift}");
            assert_eq!(one_floor(x, m0, shift, false), ties_up(x, m0, shift), "ties up x {x} m0 {m0} shift {shift}");
            n += 1;
        };
        for &x in &edge_x {
            for &m0 in &edge_m0 {
                for &s in &shifts {
                    check(x, m0, s);
                }
            }
        }
        for _ in 0..400_000 {
            let m0 = (1 << 30) | (rnd() as i32 & 0x3fff_ffff);
            let s = -((rnd() % 31) as i32) - 1;
            let x = (rnd() as i32) >> (rnd() % 32);
            check(x, m0, s);
            // Exact ties of the final shift: x·M0 + 2^30 a multiple of 2^(30+r) ± 0.
            let r = (-s) as u32;
            let tie = (1i64 << (30 + r)) - (1i64 << 30);
            if let Ok(x) = i32::try_from(tie / (1i64 << 30)) {
                check(x, 1 << 30, s);
                check(-x, 1 << 30, s);
            }
        }
        // x = −1 with M0 = 2^30: the one case where [y < 0] ≠ [x < 0]; both give 0.
        assert_eq!(one_floor(-1, 1 << 30, -1, true), 0);
        assert_eq!(double(-1, 1 << 30, -1), 0);
        assert!(n > 400_000);
    }
}
