//! The arithmetic of 16x8 quantization: int16 activations (zero point 0),
//! int8 weights, int64 bias.
//!
//! With 16-bit activations an accumulator `Σ q1·q2 + bias` no longer fits in
//! 32 bits (`32767 · 127 · n` passes 2^31 for n ≈ 520), so the runtimes sum in
//! int64 and need a multiply for an int64 accumulator. TFLite's
//! `MultiplyByQuantizedMultiplier(int64_t x, …)` (shared by LiteRT and TFLite
//! Micro) first **reduces M0 to 16 bits**, so that `x · M0'` fits in int64 for
//! any `|x| < 2^47`:
//!
//! ```text
//!     M0' = (M0 + 2^15) >> 16          (M0 ≥ 0x7FFF0000: M0' = 0x7FFF)
//!     y   = (x · M0' + 2^(14 − shift)) >> (15 − shift)
//! ```
//!
//! one rounding, ties toward +∞ — with a multiplier of 15 fractional bits
//! instead of 31. [`multiply_by_quantized_multiplier_i64`].
//!
//! The nonlinear functions work on 513-entry interpolated tables
//! ([`lut_populate`], [`lut_lookup`]) or, for LOGISTIC and TANH, on the
//! fixed 256-entry table of `sigmoid(i/24)` ([`SIGMOID_TABLE_UINT16`]).

/// TFLite's `MultiplyByQuantizedMultiplier` for an int64 accumulator: the
/// Q31 multiplier `M0` reduced to Q15, one rounding shift (ties toward +∞).
/// The result is truncated to 32 bits as the runtimes' `static_cast<int32_t>`.
///
/// `shift` is TFLite's exponent (−31 ..= 7, negative for a right shift).
#[inline]
pub fn multiply_by_quantized_multiplier_i64(x: i64, m0: i32, shift: i32) -> i32 {
    let reduced: i64 = if m0 < 0x7FFF_0000 { ((m0 as i64) + (1 << 15)) >> 16 } else { 0x7FFF };
    let total_shift = (15 - shift).clamp(1, 62);
    let round = 1i64 << (total_shift - 1);
    (x.wrapping_mul(reduced).wrapping_add(round) >> total_shift) as i32
}

/// Which float type a table is computed in (LiteRT's `FloatT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LutFloat {
    F32,
    F64,
}

/// The few float operations [`lut_populate`] needs, for f32 and f64.
pub trait LutReal: Copy + core::ops::Add<Output = Self> + core::ops::Sub<Output = Self> + core::ops::Mul<Output = Self> + core::ops::Div<Output = Self> + PartialOrd {
    fn of_i32(v: i32) -> Self;
    /// C's `round`: ties away from zero.
    fn round_away(self) -> Self;
    fn to_i16_saturating(self) -> i16;
}

impl LutReal for f32 {
    fn of_i32(v: i32) -> f32 {
        v as f32
    }
    fn round_away(self) -> f32 {
        self.round()
    }
    fn to_i16_saturating(self) -> i16 {
        self.clamp(-32768.0, 32767.0) as i16
    }
}

impl LutReal for f64 {
    fn of_i32(v: i32) -> f64 {
        v as f64
    }
    fn round_away(self) -> f64 {
        self.round()
    }
    fn to_i16_saturating(self) -> i16 {
        self.clamp(-32768.0, 32767.0) as i16
    }
}

/// TFLite's `LUTPopulateInt16<FloatT>`: a 513-entry table of `f` over the
/// whole int16 input range, for input scale/zero point (`s_in`, `z_in`) and
/// output (`s_out`, `z_out`).
///
/// Entry `i` samples `f` at `x_i = x_min + i·step` (`step = (x_max − x_min)/512`)
/// and is corrected by half the error the linear interpolation of
/// [`lut_lookup`] would make at the midpoint of the step:
///
/// ```text
///     v      = round(f(x_i) · k),     k = 65536 / (y_max − y_min)
///     interp = round((f(x_{i+1}) · k + v) / 2),   mid = round(f(x_i + step/2) · k)
///     lut[i] = clamp(v − round((interp − mid) / 2))
/// ```
///
/// All in the float type `T`, in the order written in the source, so that
/// the table is bit-identical to the runtime's.
pub fn lut_populate<T: LutReal>(s_in: T, z_in: i32, s_out: T, z_out: i32, f: impl Fn(T) -> T) -> Vec<i16> {
    let input_min = s_in * T::of_i32(-32768 - z_in);
    let input_max = s_in * T::of_i32(32767 - z_in);
    let output_min = s_out * T::of_i32(-32768 - z_out);
    let output_max = s_out * T::of_i32(32767 - z_out);
    let nb_steps = 512;
    let two = T::of_i32(2);
    let step = (input_max - input_min) / T::of_i32(nb_steps);
    let half_step = step / two;
    let scaling_inv = T::of_i32(65536) / (output_max - output_min);
    let mut lut = Vec::with_capacity(nb_steps as usize + 1);
    for i in 0..nb_steps {
        let at = |k: i32| input_min + T::of_i32(k) * step;
        let val = f(at(i));
        let val_mid = f(at(i) + half_step);
        let val_next = f(at(i + 1));
        let sample = (val * scaling_inv).round_away();
        let interp = ((val_next * scaling_inv + (val * scaling_inv).round_away()) / two).round_away();
        let mid = (val_mid * scaling_inv).round_away();
        let bias = ((interp - mid) / two).round_away();
        lut.push((sample - bias).to_i16_saturating());
    }
    lut.push((f(input_max) * scaling_inv).round_away().to_i16_saturating());
    lut
}

/// TFLite's `LUTLookup(int16_t, const int16_t*)`: the top 9 bits of
/// `value + 32768` index the table, the low 7 bits interpolate linearly
/// between two entries (rounding ties toward +∞).
#[inline]
pub fn lut_lookup(value: i16, lut: &[i16]) -> i16 {
    let index = (256 + (value >> 7) as i32) as usize;
    let offset = (value & 0x7f) as i32;
    let base = lut[index] as i32;
    let slope = lut[index + 1] as i32 - base;
    let delta = (slope * offset + 64) >> 7;
    (base + delta) as i16
}

/// `sigmoid(i/24)` in unsigned Q0.16 for i = 0 … 255: the table behind
/// LiteRT's and TFLite Micro's int16 LOGISTIC and TANH
/// (`tanh(x) = 2·sigmoid(2x) − 1`).
///
/// Copied as data from TFLite's `tensorflow/lite/kernels/internal/common.h`
/// (`sigmoid_table_uint16`). It is not recomputed here because it cannot be:
/// `round(65536·sigmoid(i/24))` misses 44 of the 256 entries by one (e.g.
/// entry 4 is 35493, the formula gives 35492), and no simple rounding rule
/// reproduces it.
pub const SIGMOID_TABLE_UINT16: [u16; 256] = [
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688, 43304, 43912,
    44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169,
    53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544, 58800, 59048,
    59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302,
    62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968,
    64030, 64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786,
    64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179,
    65194, 65208, 65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449, 65453, 65456,
    65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498,
    65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516, 65517, 65517, 65518,
    65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524, 65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528,
    65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65534, 65535,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduced_multiplier_rounds_the_q15_product() {
        // M = 0.5 exactly: M0 = 2^30, shift 0 → M0' = 2^14, y = (x·2^14 + 2^14) >> 15.
        assert_eq!(multiply_by_quantized_multiplier_i64(3, 1 << 30, 0), 2);
        assert_eq!(multiply_by_quantized_multiplier_i64(-3, 1 << 30, 0), -1);
        assert_eq!(multiply_by_quantized_multiplier_i64(1 << 40, 1 << 30, -10), 1 << 29);
        // The Q15 reduction loses the low bits of M0 that the 32-bit path keeps.
        let m0 = (1 << 30) + (1 << 14);
        assert_eq!(multiply_by_quantized_multiplier_i64(1 << 20, m0, 0), 1 << 19);
    }

    #[test]
    fn lookup_interpolates_between_entries() {
        let lut: Vec<i16> = (0..513).map(|i| (i * 64 - 16384) as i16).collect();
        assert_eq!(lut_lookup(-32768, &lut), lut[0]);
        assert_eq!(lut_lookup(0, &lut), lut[256]);
        assert_eq!(lut_lookup(64, &lut), lut[256] + 32);
    }

    #[test]
    fn sigmoid_table_is_sigmoid_of_i_over_24() {
        // Within about one unit of the exact value (the table is not plainly rounded), and increasing.
        for (i, &v) in SIGMOID_TABLE_UINT16.iter().enumerate() {
            let exact = 65536.0 / (1.0 + (-(i as f64) / 24.0).exp());
            assert!((v as f64 - exact).abs() < 1.5, "entry {i}: {v} vs {exact}");
        }
        assert!(SIGMOID_TABLE_UINT16.windows(2).all(|w| w[0] <= w[1]));
    }
}
