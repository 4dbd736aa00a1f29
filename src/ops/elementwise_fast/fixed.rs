//! The double-rounding fixed-point requantization (gemmlowp's
//! `SaturatingRoundingDoublingHighMul` then `RoundingDivideByPOT`, what
//! LiteRT's reference and optimized kernels and TFLite Micro apply to MUL,
//! ADD and MEAN) in **32-bit lanes**, exact for the operands those ops
//! produce from 8-bit inputs.
//!
//! The reference computes `SRDHM(x, M0) = (x·M0 + nudge) / 2^31` in 64 bits
//! (truncating, nudge `2^30` or `1 − 2^30` by the sign), which is
//! `⌊(x·M0 + 2^30) / 2^31⌋` for every `x` when `M0 ≥ 0`; a loop in 64-bit
//! lanes holds 8 per AVX-512 register. When `|x|` is small the product can be
//! assembled from 32-bit pieces, using, for an integer `N` and `0 ≤ r < 2^k`,
//!
//! ```text
//!     ⌊(2^k·N + r) / 2^(k+j)⌋ = ⌊N / 2^j⌋                         (★)
//! ```
//!
//! * [`small`], `|x| ≤ 255²` (a MUL's product of two centred 8-bit values,
//!   a MEAN's centred sum of up to 255 values): split
//!   `M0 = M_h·2^16 + M_a·2^8 + M_b` (`M_h < 2^15`, `M_a, M_b < 2^8`); then
//!   `t_h = x·M_h`, `t_a = x·M_a`, `t_b = x·M_b` are exact i32
//!   (|t_h| ≤ 65025·32767 < 2^31 − 2^17, |t_a|, |t_b| < 2^24) and by (★)
//!
//!   ```text
//!       w = t_a + ⌊t_b / 2^8⌋
//!       ⌊(x·M0 + 2^30)/2^31⌋ = ⌊(t_h + ⌊(w + 2^22) / 2^8⌋) / 2^15⌋
//!   ```
//!
//! * [`shifted`], `x = d·2^L` with `|d| ≤ 255` and `15 ≤ L ≤ 22` (ADD's
//!   inputs scaled by `2^20`): split `M0 = M_h·2^16 + M_l` (`M_l < 2^16`);
//!   `d·M_h` (< 2^23) and `d·M_l` (< 2^24) are exact and by (★)
//!
//!   ```text
//!       ⌊(d·M0·2^L + 2^30)/2^31⌋ = 2^(L−15)·d·M_h + ⌊(d·M_l + 2^(30−L)) / 2^(31−L)⌋
//!   ```
//!
//! `RoundingDivideByPOT` is the reference's mask-and-threshold form in i32
//! ([`rdbp`]). The tests check both forms against the reference for every
//! `x` they accept.

/// `RoundingDivideByPOT(x, e)` (ties away from zero) in i32, `e ≤ 31`:
/// [`crate::quant::rounding_divide_by_pot`]'s mask and threshold.
#[inline(always)]
pub(crate) fn rdbp(x: i32, e: u32) -> i32 {
    let mask = (1u32 << e).wrapping_sub(1) as i32;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> e) + ((x & mask) > threshold) as i32
}

/// [`rdbp`] for `|x| < 2^30` without its comparison: for `e ≥ 1`,
/// `RoundingDivideByPOT(x, e) = ⌊(x + 2^(e−1) − [x < 0]) / 2^e⌋` (the
/// remainder reaches the threshold `2^(e−1) + [x < 0]` exactly when the
/// shifted sum carries), and `x >> 31` is `−[x < 0]`; `e = 0` keeps `x`
/// (no half, no sign term). The bound keeps `x + 2^(e−1)` in i32. Three
/// vector operations fewer than the mask-and-threshold form.
#[inline(always)]
pub(crate) fn rdbp_small(x: i32, e: u32) -> i32 {
    let half = ((1u32 << e) >> 1) as i32;
    let sign = (x >> 31) & -((e > 0) as i32);
    (x + half + sign) >> e
}

/// `M0`'s three parts `(M_h, M_a, M_b)` for [`small`].
#[inline(always)]
pub(crate) fn parts(m0: i32) -> (i32, i32, i32) {
    (m0 >> 16, (m0 >> 8) & 0xff, m0 & 0xff)
}

/// `RDBP(SRDHM(x, M0), right)` clamped to `[lo, hi]` after adding `z_out`,
/// for `|x| ≤ 255²`, `M0 ≥ 0` given by its [`parts`].
#[inline(always)]
pub(crate) fn small(x: i32, (mh, ma, mb): (i32, i32, i32), right: u32, z_out: i32, lo: i32, hi: i32) -> i32 {
    let w = x * ma + ((x * mb) >> 8);
    let high = (x * mh + ((w + (1 << 22)) >> 8)) >> 15;
    // |high| ≤ 255²: within `rdbp_small`'s bound.
    rdbp_small(high, right).clamp(lo - z_out, hi - z_out) + z_out
}

/// A gate element's constants for [`gated`]: `G = g·M0` split as
/// `(G_h, G_l) = (⌊G / 2^16⌋, G mod 2^16)`, for `|g| ≤ 255`, `M0 ≥ 0`.
#[inline(always)]
pub(crate) fn gate_parts(g: i32, m0: i32) -> (i32, i32) {
    let big = g as i64 * m0 as i64;
    ((big >> 16) as i32, (big & 0xffff) as i32)
}

/// [`small`] of `x = d·g` (|d|, |g| ≤ 255) from `g`'s [`gate_parts`]: with
/// `|G| < 2^39`, `|d·G_h| ≤ 255·2^23` and `u = d·G_l + 2^30` are exact i32,
/// and by (★) `⌊(x·M0 + 2^30)/2^31⌋ = ⌊(d·G_h + ⌊u / 2^16⌋) / 2^15⌋` — two
/// multiplies per element where the gate repeats.
#[inline(always)]
pub(crate) fn gated(d: i32, (gh, gl): (i32, i32), right: u32, z_out: i32, lo: i32, hi: i32) -> i32 {
    let u = d * gl + (1 << 30);
    let high = (d * gh + (u >> 16)) >> 15;
    // |high| ≤ 255²: within `rdbp_small`'s bound.
    rdbp_small(high, right).clamp(lo - z_out, hi - z_out) + z_out
}

/// The constants of [`shifted`] for `M0 ≥ 0` and `L`: `(M_h, M_l, L − 15, 31 − L, 2^(30−L))`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shifted {
    mh: i32,
    ml: i32,
    up: u32,
    down: u32,
    nudge: i32,
}

impl Shifted {
    /// `None` unless `M0 ≥ 0` and `15 ≤ L ≤ 22`.
    pub(crate) fn new(m0: i32, l: i32) -> Option<Shifted> {
        (m0 >= 0 && (15..=22).contains(&l)).then(|| Shifted { mh: m0 >> 16, ml: m0 & 0xffff, up: (l - 15) as u32, down: (31 - l) as u32, nudge: 1 << (30 - l) })
    }
}

/// `SRDHM(d·2^L, M0)` for `|d| ≤ 255`.
#[inline(always)]
pub(crate) fn shifted(d: i32, k: Shifted) -> i32 {
    ((d * k.mh) << k.up) + ((d * k.ml + k.nudge) >> k.down)
}

/// The constants of [`scaled`]: `RDBP(SRDHM(d·2^L, M0), r)` for `|d| ≤ 255`
/// as **one** floor, `⌊(d·M0 + c_d) / 2^q⌋` with `q = 31 − L + r`.
///
/// Why one floor: `SRDHM(d·2^L, M0) = ⌊y⌋`, `y = (d·M0 + 2^(30−L)) / 2^(31−L)`
/// (the high-mul's floor form above, then (★)); `RoundingDivideByPOT(x, r)`
/// for `r ≥ 1` is `⌊(x + 2^(r−1) − [x < 0]) / 2^r⌋` (its mask and threshold
/// say: round up when the remainder reaches `2^(r−1) + [x < 0]`); and
/// `⌊(⌊y⌋ + K) / 2^r⌋ = ⌊(y + K) / 2^r⌋` for an integer `K`. With
/// `M0 > 2^(30−L)`, `⌊y⌋ < 0` exactly when `d < 0`, so
/// `c_d = 2^(30−L) + (2^(r−1) − [d < 0])·2^(31−L)` (`r = 0`: `c = 2^(30−L)`).
/// `d·M0` needs 39 bits: `M0 = M_h·2^k + M_l` (`k = min(q, 16)`, `M_l < 2^k`)
/// gives `⌊(d·M_h + ⌊(d·M_l + c_d) / 2^k⌋) / 2^(q−k)⌋`, every term exact in
/// i32 (`|d·M_h| < 255·2^22`, `|d·M_l + c_d| < 2^24 + 2^30`). Five
/// operations fewer per element than [`shifted`] then [`rdbp`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scaled {
    mh: i32,
    ml: i32,
    c: i32,
    /// Subtracted from `c` for `d < 0`.
    neg: i32,
    k: u32,
    rest: u32,
}

impl Scaled {
    /// `None` unless `2^(30−L) < M0`, `15 ≤ L ≤ 22` and `q = 31 − L + r ≤ 30`.
    pub(crate) fn new(m0: i32, l: i32, r: i32) -> Option<Scaled> {
        if !(15..=22).contains(&l) || !(0..=31).contains(&r) || m0 <= 1 << (30 - l) || 31 - l + r > 30 {
            return None;
        }
        let q = (31 - l + r) as u32;
        let k = q.min(16);
        let step = 1i32 << (31 - l);
        let (c, neg) = if r == 0 { (1 << (30 - l), 0) } else { ((1 << (30 - l)) + (1 << (r - 1)) * step, step) };
        Some(Scaled { mh: m0 >> k, ml: m0 & ((1 << k) - 1), c, neg, k, rest: q - k })
    }
}

/// `RDBP(SRDHM(d·2^L, M0), r)` for `|d| ≤ 255` ([`Scaled`]).
#[inline(always)]
pub(crate) fn scaled(d: i32, s: Scaled) -> i32 {
    let c = s.c - ((d >> 31) & s.neg);
    (d * s.mh + ((d * s.ml + c) >> s.k)) >> s.rest
}

/// `SRDHM(x, M0)` for any `x` and `M0 ≥ 0`, in 64-bit arithmetic (the
/// compiler's 64-bit lanes).
#[inline(always)]
pub(crate) fn srdhm(x: i32, m0: i32) -> i32 {
    ((x as i64 * m0 as i64 + (1 << 30)) >> 31) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{multiply_by_quantized_multiplier_double_rounding as reference, saturating_rounding_doubling_high_mul};

    const M0S: [i32; 10] = [0, 1, 255, 1 << 30, (1 << 30) + 1, 1_518_500_250, 2_000_000_001, 1_234_567_891, i32::MAX - 1, i32::MAX];

    /// [`rdbp_small`] equals [`rdbp`] at and around every power of two below
    /// its bound, on both signs, for every exponent.
    #[test]
    fn rdbp_small_equals_rdbp() {
        for e in 0..=31u32 {
            for p in 0..30 {
                for x in [(1i32 << p) - 1, 1 << p, (1 << p) + 1, 3 << p.min(28), (1 << 30) - 1] {
                    for x in [x, -x, x / 2, -x / 2 - 1] {
                        assert_eq!(rdbp_small(x, e), rdbp(x, e), "x {x} e {e}");
                    }
                }
            }
        }
    }

    /// [`scaled`] equals `RDBP(SRDHM(d·2^L, M0), r)` for every `d` in ±255
    /// and every `(M0, L, r)` it takes; it refuses `M0 ≤ 2^(30−L)` and `q > 30`.
    #[test]
    fn scaled_equals_the_double_rounding() {
        let mut taken = 0;
        for &m0 in M0S.iter().chain(&[1 << 15, (1 << 15) + 1, 1 << 20, 1_073_741_823]) {
            for l in 15..=22 {
                for r in 0..=31 {
                    let Some(s) = Scaled::new(m0, l, r) else {
                        assert!(m0 <= 1 << (30 - l) || 31 - l + r > 30, "M0 {m0} L {l} r {r} refused");
                        continue;
                    };
                    taken += 1;
                    for d in -255..=255 {
                        let want = crate::quant::rounding_divide_by_pot(saturating_rounding_doubling_high_mul(d << l, m0), r);
                        assert_eq!(scaled(d, s), want, "d {d} M0 {m0} L {l} r {r}");
                    }
                }
            }
        }
        assert!(taken > 500, "{taken} cases");
    }

    /// [`small`] equals the reference for every `x` in ±255², multipliers
    /// across the Q31 range and every right shift.
    #[test]
    fn small_equals_double_rounding_for_every_product() {
        for &m0 in &M0S {
            for right in [0u32, 1, 2, 7, 8, 12, 15, 16, 20, 30, 31] {
                for x in -65025..=65025 {
                    let want = reference(x, m0, -(right as i32));
                    let (lo, hi) = (i32::MIN / 2, i32::MAX / 2);
                    assert_eq!(small(x, parts(m0), right, 0, lo, hi), want.clamp(lo, hi), "x {x} M0 {m0} right {right}");
                }
            }
        }
    }

    /// [`gated`] equals the reference for every pair of centred 8-bit values.
    #[test]
    fn gated_equals_double_rounding_for_every_pair() {
        for &m0 in &M0S {
            for right in [0u32, 1, 8, 15, 31] {
                for g in -255..=255 {
                    let k = gate_parts(g, m0);
                    for d in -255..=255 {
                        let want = reference(d * g, m0, -(right as i32));
                        assert_eq!(gated(d, k, right, 0, i32::MIN / 2, i32::MAX / 2), want.clamp(i32::MIN / 2, i32::MAX / 2), "d {d} g {g} M0 {m0} right {right}");
                    }
                }
            }
        }
    }

    /// [`shifted`] equals SRDHM for every `d` in ±255 and every `L` it takes;
    /// [`srdhm`] equals it on random and extreme `x`.
    #[test]
    fn shifted_and_srdhm_equal_the_high_mul() {
        for &m0 in &M0S {
            for l in 15..=22 {
                let k = Shifted::new(m0, l).unwrap();
                for d in -255..=255 {
                    assert_eq!(shifted(d, k), saturating_rounding_doubling_high_mul(d << l, m0), "d {d} L {l} M0 {m0}");
                }
            }
            let mut seed = 3u64;
            let xs = (0..20_000).map(|_| crate::ops::testkit::lcg(&mut seed) as i32 ^ ((crate::ops::testkit::lcg(&mut seed) as i32) << 1));
            for x in xs.chain([0, 1, -1, i32::MAX, i32::MIN, i32::MIN + 1, 1 << 30, -(1 << 30)]) {
                assert_eq!(srdhm(x, m0), saturating_rounding_doubling_high_mul(x, m0), "x {x} M0 {m0}");
            }
        }
        assert!(Shifted::new(1 << 30, 23).is_none() && Shifted::new(-1, 20).is_none());
    }
}
