//! Dynamic range ("hybrid") quantization: S1 is computed at run time.
//!
//! A dynamic-range model (`converter.optimizations = [Optimize.DEFAULT]`, no
//! representative dataset) stores int8 weights with their scales S2, but its
//! activations are float32 and **carry no scale at all**: nobody measured their
//! range when the file was written. A hybrid FULLY_CONNECTED, CONV_2D or
//! DEPTHWISE_CONV_2D therefore measures its input every time it runs, picks
//! S1 (and Z1) from the values it sees, quantizes the input with them,
//! multiplies in integers and scales back to float:
//!
//! ```text
//!     S1, Z1  = from min(x), max(x) of this batch row            (computed at run time)
//!     q1      = clamp(round(x / S1) + Z1)                         (done as x · (1/S1), see below)
//!     acc[c]  = Σ (q1 − Z1) · W[c]                                (int32, weights symmetric: Z2 = 0)
//!     y[c]    = act( float(acc[c]) · S1 · S2[c] + bias[c] )       (float32; bias stays float)
//! ```
//!
//! One batch row (one sample of a FULLY_CONNECTED's `[rows, in]` input, one
//! image of a convolution's NHWC input) gets one (S1, Z1).
//!
//! Two quantizers exist, as in LiteRT's `tensor_utils`:
//!
//! - **symmetric** ([`symmetric_quantize`], `SymmetricQuantizeFloats`):
//!   `range = max(|min x|, |max x|)`, `S1 = range / 127`, `Z1 = 0`, and
//!   `q = clamp(round(x · (127 / range)), −127, 127)`.
//! - **asymmetric** ([`asymmetric_quantize`], `AsymmetricQuantizeFloats`):
//!   the range `[min(0, min x), max(0, max x)]` mapped onto `[−128, 127]`:
//!   `S1 = f32(rmax − rmin) / 255` (the difference in f32, the rest in double), `Z1` the nudged zero point
//!   of the end whose error is smaller, then `q = clamp(Z1 + round(x · (1/S1)))`
//!   with `1/S1` computed from the f32 `S1` (see "Which rounding" below).
//!
//! Both multiply by a reciprocal instead of dividing. That is what LiteRT's
//! source does, and the goldens of the committed models confirm it
//! for the ai-edge-litert 2.3.0 wheel: the division `round(x / S1) + Z1` gives
//! other integers on some inputs (8 of 1 792 outputs of `cnn_dynamic`'s row
//! FULLY_CONNECTED in the builtin goldens, 6 661 of 150 528 outputs of
//! `cnn_dynamic_per_tensor`'s first CONV_2D), the reciprocal none.
//! An all-equal row (for instance all zeros) gets `S1 = 1`, `Z1 = 0`, `q = 0`.
//!
//! **Which rounding.** On x86 the wheel's `tensor_utils` are its NEON
//! functions compiled through the NEON_2_SSE translator, not the portable
//! ones. They round the product `y = x · (1/S1)` in two ways
//! ([`neon_round`]): the first `len & !7` values of a row (two vectors of
//! four at a time) as `trunc(y ± 0.5)`, the ± 0.5 added **in f32**; the
//! remaining `len % 8` as `TfLiteRound(y)` (half away from zero). The
//! asymmetric quantizer then **adds Z1 to the rounded integer**
//! (`Z1 + round(y)`), where the portable source rounds `Z1 + y`: on an input
//! where `y` is a tie the two differ (`bmm_dynamic`'s digits: 158 of 17 920
//! outputs of its first BATCH_MATMUL, rows whose `1/S1` makes `k/255 · (1/S1)`
//! land on a half). `1/S1` is `1.0 / S1` in double, rounded to f32.

/// The run-time quantization of one batch row: S1 and Z1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowQuant {
    /// S1, computed from this row's values.
    pub scale: f32,
    /// Z1 (0 for the symmetric quantizer).
    pub zero_point: i32,
}

/// `SymmetricQuantizeFloats`: S1 = max|x| / 127, Z1 = 0, q ∈ [−127, 127].
pub fn symmetric_quantize(x: &[f32], q: &mut [i8]) -> RowQuant {
    let (lo, hi) = min_max(x);
    let range = lo.abs().max(hi.abs());
    if range == 0.0 {
        q.iter_mut().for_each(|v| *v = 0);
        return RowQuant { scale: 1.0, zero_point: 0 };
    }
    let inv = 127.0f32 / range;
    let vectorized = x.len() & !7;
    for (i, (o, &v)) in q.iter_mut().zip(x).enumerate() {
        *o = neon_round(v * inv, i < vectorized).clamp(-127, 127) as i8;
    }
    RowQuant { scale: range / 127.0, zero_point: 0 }
}

/// `AsymmetricQuantizeFloats`: [min(0, min x), max(0, max x)] onto [−128, 127].
pub fn asymmetric_quantize(x: &[f32], q: &mut [i8]) -> RowQuant {
    let (lo, hi) = min_max(x);
    let rmin = lo.min(0.0) as f64;
    let rmax = hi.max(0.0) as f64;
    if rmin == rmax {
        q.iter_mut().for_each(|v| *v = 0);
        return RowQuant { scale: 1.0, zero_point: 0 };
    }
    let (qmin, qmax) = (-128.0f64, 127.0f64);
    // The wheel's NEON code keeps rmin and rmax in f32: their difference is
    // rounded to f32 before the division in double (the portable source
    // subtracts in double; they differ once a row has negative values).
    let scale = ((rmax as f32 - rmin as f32) as f64) / (qmax - qmin);
    let from_min = qmin - rmin / scale;
    let from_max = qmax - rmax / scale;
    let err_min = qmin.abs() + (rmin / scale).abs();
    let err_max = qmax.abs() + (rmax / scale).abs();
    let z = if err_min < err_max { from_min } else { from_max };
    let zero_point = if z <= qmin {
        -128
    } else if z >= qmax {
        127
    } else {
        z.round() as i32
    };
    let s1 = scale as f32;
    let inv = (1.0f64 / s1 as f64) as f32;
    let vectorized = x.len() & !7;
    for (i, (o, &v)) in q.iter_mut().zip(x).enumerate() {
        *o = (zero_point + neon_round(v * inv, i < vectorized)).clamp(-128, 127) as i8;
    }
    RowQuant { scale: s1, zero_point }
}

/// LiteRT's rounding of `y = x · (1/S1)` on x86 (its NEON code through
/// NEON_2_SSE): inside the vectorized part of a row `RoundToNearest`,
/// `trunc(y + (y < 0 ? −0.5 : 0.5))` with the addition rounded in f32 (so
/// `0.49999997` becomes 1); in the scalar tail `TfLiteRound`, half away from zero.
#[inline]
pub fn neon_round(y: f32, vectorized: bool) -> i32 {
    if vectorized {
        (y + if y < 0.0 { -0.5f32 } else { 0.5f32 }) as i32
    } else {
        y.round() as i32
    }
}

/// XNNPACK's `qd8` quantizer (`xnn_f32_qd8_asymmetric_quantization_params`
/// and its f32 → qs8 convert kernel): the parameters in **f32**,
/// `m = 255 / (rmax − rmin)` (the multiplier; S1 = 1/m), the zero point of the
/// end with the smaller error rounded **half to even**, and
/// `q = round_half_even(clamp(x · m, −128 − Z1, 127 − Z1)) + Z1`.
pub fn xnnpack_qd8_quantize(x: &[f32], q: &mut [i8]) -> RowQuant {
    let (lo, hi) = min_max(x);
    let (rmin, rmax) = (lo.min(0.0), hi.max(0.0));
    let m = if rmin == rmax { 1.0f32 } else { 255.0f32 / (rmax - rmin) };
    let (dmin, dmax) = (rmin * m, rmax * m);
    let z = if (-128.0f32 + dmin) + (127.0f32 + dmax) > 0.0 { -128.0f32 - dmin } else { 127.0f32 - dmax };
    let zero_point = z.clamp(-128.0, 127.0).round_ties_even() as i32;
    let (lo_q, hi_q) = ((-128 - zero_point) as f32, (127 - zero_point) as f32);
    for (o, &v) in q.iter_mut().zip(x) {
        *o = ((v * m).clamp(lo_q, hi_q).round_ties_even() as i32 + zero_point) as i8;
    }
    RowQuant { scale: 1.0f32 / m, zero_point }
}

/// `std::minmax_element` of a non-empty row (0, 0 for an empty one).
fn min_max(x: &[f32]) -> (f32, f32) {
    let Some(&first) = x.first() else { return (0.0, 0.0) };
    x.iter().fold((first, first), |(lo, hi), &v| (if v < lo { v } else { lo }, if v > hi { v } else { hi }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xnnpack_rounds_half_to_even_and_keeps_the_multiplier_in_f32() {
        // rmax − rmin = 2.55: m = 100, S1 = 0.01; x·m = 0.5 and 1.5 round to 0 and 2.
        let x = [0.005f32, 0.015, 2.55, 0.0];
        let mut q = [0i8; 4];
        let r = xnnpack_qd8_quantize(&x, &mut q);
        assert_eq!(r.zero_point, -128);
        assert_eq!(r.scale, 1.0f32 / (255.0f32 / 2.55f32));
        let m = 255.0f32 / 2.55f32;
        assert_eq!(q[0] as i32 + 128, (0.005f32 * m).round_ties_even() as i32);
        assert_eq!(q[2], 127);
        assert_eq!(q[3], -128);
    }

    #[test]
    fn symmetric_maps_the_largest_magnitude_to_127() {
        let x = [0.5f32, -1.0, 0.25, 0.0];
        let mut q = [0i8; 4];
        let r = symmetric_quantize(&x, &mut q);
        assert_eq!(r, RowQuant { scale: 1.0 / 127.0, zero_point: 0 });
        assert_eq!(q, [64, -127, 32, 0]);
    }

    #[test]
    fn asymmetric_of_a_nonnegative_row_puts_zero_at_minus_128() {
        let x = [0.0f32, 1.0, 0.5, 0.2];
        let mut q = [0i8; 4];
        let r = asymmetric_quantize(&x, &mut q);
        assert_eq!(r.zero_point, -128);
        assert_eq!(r.scale, (1.0f64 / 255.0) as f32);
        assert_eq!(q[0], -128);
        assert_eq!(q[1], 127);
        // Exactly, −128 + 0.5·255 = −0.5 would round to −1 (half away from
        // zero) as well; but 1/S1 is computed in f32 from the f32 S1 and is
        // a little below 255, so the product is a little below 127.5: −1.
        let inv = 1.0f32 / r.scale;
        assert!(inv < 255.0);
        assert_eq!(q[2], -1);
    }

    #[test]
    fn constant_rows_get_scale_one() {
        let mut q = [5i8; 3];
        assert_eq!(asymmetric_quantize(&[0.0; 3], &mut q), RowQuant { scale: 1.0, zero_point: 0 });
        assert_eq!(q, [0; 3]);
        let mut q = [5i8; 3];
        assert_eq!(symmetric_quantize(&[0.0; 3], &mut q), RowQuant { scale: 1.0, zero_point: 0 });
        assert_eq!(q, [0; 3]);
    }

    #[test]
    fn asymmetric_round_trip_is_within_half_a_step() {
        let x: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin() * 3.0 - 0.5).collect();
        let mut q = vec![0i8; x.len()];
        let r = asymmetric_quantize(&x, &mut q);
        for (&v, &qv) in x.iter().zip(&q) {
            let back = r.scale * (qv as i32 - r.zero_point) as f32;
            assert!((back - v).abs() <= r.scale * 0.5 + 1e-6, "{v} → {qv} → {back}");
        }
    }
}
