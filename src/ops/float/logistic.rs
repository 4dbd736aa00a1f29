//! LOGISTIC (float32): `σ(x) = 1 / (1 + e^−x)`, exactly as LiteRT's
//! reference `Logistic` (and TFLite Micro) compute it in f32:
//!
//! ```text
//!     x > 16.619047164916992188  →  1
//!     x < −9                     →  e^x          (1 + e^−x would lose e^x's digits)
//!     otherwise                  →  1 / (1 + e^−x)
//! ```
//!
//! `e^x` is libm's `expf`, which Rust's `f32::exp` calls, as C++'s
//! `std::exp(float)` does.

/// Above this, `1 / (1 + e^−x)` rounds to 1 in f32.
pub const CUTOFF_UPPER: f32 = 16.619_047;
/// Below this, `e^x` alone is returned.
pub const CUTOFF_LOWER: f32 = -9.0;

/// σ(x) in the reference kernel's f32 formula.
#[inline]
pub fn logistic(x: f32) -> f32 {
    if x > CUTOFF_UPPER {
        1.0
    } else if x < CUTOFF_LOWER {
        x.exp()
    } else {
        1.0 / (1.0 + (-x).exp())
    }
}
