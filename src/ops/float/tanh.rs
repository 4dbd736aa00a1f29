//! TANH (float32): libm's `tanhf`, which both LiteRT's reference `Tanh`
//! (`std::tanh(float)`) and TFLite Micro call; Rust's `f32::tanh` calls it too.

/// tanh(x) as the reference kernel computes it.
#[inline]
pub fn tanh(x: f32) -> f32 {
    x.tanh()
}
