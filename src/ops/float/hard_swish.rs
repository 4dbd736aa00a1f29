//! HARD_SWISH (float32): `x · relu6(x + 3) / 6`, in the reference kernel's
//! order: `(x · min(6, max(0, x + 3))) / 6` — a multiplication, then a
//! division by 6 (not a multiplication by 1/6, which the optimized NEON path
//! does and which rounds differently).

/// hard_swish(x) as the reference kernel computes it.
#[inline]
pub fn hard_swish(x: f32) -> f32 {
    let shifted = x + 3.0;
    // std::max(0, v) = (0 < v) ? v : 0, then std::min(6, r) = (r < 6) ? r : 6.
    let relu = if 0.0 < shifted { shifted } else { 0.0 };
    let relu6 = if relu < 6.0 { relu } else { 6.0 };
    x * relu6 / 6.0
}
