//! AVERAGE_POOL_2D (int8, uint8): the mean of the inputs in each window that lie inside the
//! input (padding is not counted), rounded to nearest with ties away from
//! zero in integers — `(Σ ± n/2) / n` with C's truncating division — then
//! clamped to the fused activation's range. Input and output share scale and
//! zero point, so the zero point passes through the mean unchanged. The options,
//! geometry and loop are [`super::pool`]'s.

use super::pool::Pooling;
use super::OpContext;
use crate::error::EngineError;
use crate::profile::Profile;

/// Everything AVERAGE_POOL_2D needs, computed once (shared with MAX_POOL_2D).
pub use super::pool::Params;

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    super::pool::prepare(ctx, Pooling::Average)
}

/// `sum / count` rounded half away from zero, as the integer kernels do it.
#[inline]
pub fn rounded_mean(sum: i32, count: i32) -> i32 {
    if sum > 0 {
        (sum + count / 2) / count
    } else {
        (sum - count / 2) / count
    }
}

/// The rounded mean of the values of a window, `None` for an empty one.
#[inline]
pub fn mean(window: impl Iterator<Item = i32>) -> Option<i32> {
    let (sum, count) = window.fold((0i32, 0i32), |(sum, count), v| (sum + v, count + 1));
    (count > 0).then(|| rounded_mean(sum, count))
}

// speed (issue 16): the rounded mean without a division per element.
/// [`rounded_mean`] by one count for many sums, with a multiplication and a
/// shift in place of the division (the fast pools: one per window, not one
/// per channel).
///
/// `rounded_mean(s, n)` is `sign(s) · ⌊(|s| + ⌊n/2⌋) / n⌋` (C's division
/// truncates toward zero, and `−s + ⌊n/2⌋ ≥ 0` when `s ≤ 0`). With
/// `M = ⌈2³²/n⌉ = (2³² + e)/n`, `0 ≤ e < n`:
/// `u·M/2³² = u/n + u·e/(n·2³²)`, and the second term is below `1/n` when
/// `u·e < 2³²`; the fraction of `u/n` is at most `(n − 1)/n`, so the floor
/// is unchanged: `⌊u·M / 2³²⌋ = ⌊u/n⌋` for every `u < 2³²/n`. 8-bit window
/// sums have `|s| ≤ 256·n`, so `u ≤ 257·n`, inside the bound for every
/// `n ≤` [`MeanDivisor::MAX_COUNT`] (`257·n² < 2³²`).
#[derive(Clone, Copy, Debug)]
pub struct MeanDivisor {
    half: u32,
    m: u64,
}

impl MeanDivisor {
    /// The largest count taken (the windows of 8-bit pools up to 64×64).
    pub const MAX_COUNT: i32 = 4096;

    /// The divisor for windows of `count` values, `None` outside `1..=MAX_COUNT`.
    pub fn new(count: i32) -> Option<MeanDivisor> {
        (1..=Self::MAX_COUNT).contains(&count).then(|| MeanDivisor { half: count as u32 / 2, m: (1u64 << 32).div_ceil(count as u64) })
    }

    /// `rounded_mean(sum, count)` for `|sum| ≤ 256·count`.
    #[inline(always)]
    pub fn mean(self, sum: i32) -> i32 {
        let u = (sum.unsigned_abs() + self.half) as u64;
        let q = ((u * self.m) >> 32) as i32;
        if sum > 0 {
            q
        } else {
            -q
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sum of every count up to 300 and of a few larger ones up to
    /// the largest, over the whole range of 8-bit window sums: the division's result.
    #[test]
    fn mean_divisor_equals_the_rounded_division() {
        let counts = (1..=300).chain([511, 1000, 2047, 3000, 4095, 4096]);
        for n in counts {
            let d = MeanDivisor::new(n).unwrap();
            for s in -256 * n..=256 * n {
                assert_eq!(d.mean(s), rounded_mean(s, n), "sum {s} count {n}");
            }
        }
        assert!(MeanDivisor::new(0).is_none() && MeanDivisor::new(4097).is_none());
    }
}
