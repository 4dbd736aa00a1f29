//! Eigen's single-precision `tanh`, `erfc` and `exp`, operation for operation,
//! as LiteRT's float32 GELU evaluates them (`reference_ops::Gelu` maps the
//! tensor as an `Eigen::Array` and calls `.tanh()` / `.erfc()`).
//!
//! These are not libm: Eigen (with `EIGEN_FAST_MATH`, its default) evaluates
//! rational and polynomial approximations (`ptanh_float`,
//! `generic_fast_erfc<float>`, `pexp_float` in Eigen's
//! `GenericPacketMathTrig.h`, `SpecialFunctionsImpl.h`,
//! `GenericPacketMathFunctions.h`). How the LiteRT 2.3 wheel was compiled
//! decides the rest, and was read off its outputs (every candidate below was
//! tried against the goldens; only this one gives 0 differing bits):
//!
//! * **no FMA**: every `pmadd(a, b, c)` is `a·b` rounded, then `+ c` rounded
//!   (and `ptanh_float` clamps at ±7.90738964…, its non-FMA constant);
//! * **SSE packets of 4 floats**: the flat tensor is processed 4 elements at
//!   a time from its (aligned) start; the last `n mod 4` elements go through
//!   Eigen's *scalar* path, which for `erfc` computes `exp(−x²)` with the C
//!   library's `expf` instead of `pexp_float` ([`Lane`]);
//! * the reciprocal `1/x²` in `erfc` is an exact division (SSE without FMA
//!   has no `rcp`-based `preciprocal`).
//!
//! Hand-rolled on purpose: no crate reproduces Eigen's approximations bit for bit.
//! The constants are Eigen's decimal literals, unchanged.
#![allow(clippy::excessive_precision)]

/// Which of Eigen's two code paths evaluates an element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Inside a 4-float SSE packet: Eigen's own `pexp_float`.
    Packet,
    /// In the scalar tail: `exp` from the C library.
    Scalar,
}

/// Elements per SSE packet of `float`.
pub const PACKET: usize = 4;

/// The lane of element `i` of a flat tensor of `n` elements.
#[inline]
pub fn lane(i: usize, n: usize) -> Lane {
    if i < n / PACKET * PACKET {
        Lane::Packet
    } else {
        Lane::Scalar
    }
}

/// `pmadd` without FMA: two roundings.
#[inline]
fn madd(a: f32, b: f32, c: f32) -> f32 {
    a * b + c
}

/// Horner's rule as Eigen's `ppolevl` (`coeff[0]` is the highest power).
#[inline]
fn polevl(x: f32, coeff: &[f32]) -> f32 {
    coeff[1..].iter().fold(coeff[0], |p, &c| madd(p, x, c))
}

/// `ptanh_float` (`EIGEN_FAST_MATH`, no FMA): a [9/8] odd/even rational
/// approximation on the input clamped to ±7.90738964, where it reaches 1.
pub fn tanh(a: f32) -> f32 {
    const CLAMP: f32 = 7.90738964080810547;
    const ALPHA: [f32; 4] = [1.394553628e-8, 2.102733560e-5, 3.520756727e-3, 1.340216100e-1];
    const BETA: [f32; 5] = [8.015776984e-7, 3.326951409e-4, 2.597254514e-2, 4.673548340e-1, 1.0];
    // pmax(pmin(x, c), −c), as Eigen writes it (min/max, not clamp: their NaN rules).
    #[allow(clippy::manual_clamp)]
    let x = a.min(CLAMP).max(-CLAMP);
    let x2 = x * x;
    let x3 = x2 * x;
    let p = madd(x3, polevl(x2, &ALPHA), x);
    p / polevl(x2, &BETA)
}

/// `pexp_float<Packet, false>`: `exp(x) = 2^m · exp(r)`, `m = ⌊x·log₂e + ½⌋`,
/// `r = x − m·ln 2` in two parts (Cephes' C1, C2), a degree-6 polynomial for
/// `exp(r)`, then `2^m` put into the exponent bits.
pub fn exp(x_in: f32) -> f32 {
    let zero = x_in < -104.0;
    let x = x_in.min(88.723);
    let m = madd(x, std::f32::consts::LOG2_E, 0.5).floor(); // Eigen's 1.44269504088896341f
    let r = madd(m, 2.12194440e-4, madd(m, -0.693359375, x));
    let r2 = r * r;
    let p_even = madd(r2, madd(r2, 1.37449637986719608306884765625e-3, 4.166965186595916748046875e-2), 0.49999988079071044921875);
    let p_odd = madd(r2, 8.36894474923610687255859375e-3, 0.16666518151760101318359375);
    let y = madd(r2, madd(r, p_odd, p_even), r + 1.0);
    if x.abs() <= 87.0 {
        ldexp_fast(y, m).max(x_in)
    } else if zero {
        0.0
    } else {
        ldexp(y, m).max(x_in)
    }
}

/// `pldexp_fast`: `a · 2^e` with the biased exponent clamped to 0..=255.
fn ldexp_fast(a: f32, e: f32) -> f32 {
    let biased = (e + 127.0).clamp(0.0, 255.0) as u32;
    a * f32::from_bits(biased << 23)
}

/// `pldexp`: `a · 2^e` in four factors (no intermediate overflow).
fn ldexp(a: f32, e: f32) -> f32 {
    let e = e.clamp(-278.0, 278.0) as i32;
    let b = e >> 2;
    let c = f32::from_bits(((b + 127) as u32) << 23);
    let out = a * c * c * c;
    out * f32::from_bits(((e - 3 * b + 127) as u32) << 23)
}

/// `generic_fast_erfc<float>`: on `|x| ≤ 1`, `1 + x·S(x²)`; beyond,
/// `exp(−x²)·(1 − lo)·P(1/x²) / (x·Q(1/x²))` (+2 for negative x), where `lo`
/// is the rounding error of `x²` (exact: Dekker's product). `x` is clamped to ±11.
pub fn erfc(x_in: f32, lane: Lane) -> f32 {
    const ALPHA: [f32; 6] = [
        5.61802298761904239654541015625e-04,
        -4.91381669417023658752441406250e-03,
        2.67075151205062866210937500000e-02,
        -1.12800106406211853027343750000e-01,
        3.76122951507568359375000000000e-01,
        -1.12837910652160644531250000000e+00,
    ];
    const GAMMA: [f32; 4] = [1.0208116471767425537109375e-01, 4.2920666933059692382812500e-01, 3.2379078865051269531250000e-01, 5.3971976041793823242187500e-02];
    const DELTA: [f32; 5] = [1.7251677811145782470703125e-02, 3.9137163758277893066406250e-01, 1.0, 6.2173241376876831054687500e-01, 9.5662862062454223632812500e-02];
    let x = x_in.clamp(-11.0, 11.0);
    let x2 = x * x;
    if x2 <= 1.0 {
        return madd(x, polevl(x2, &ALPHA), 1.0);
    }
    // x·x − fl(x·x) exactly: both products fit an f64 exactly.
    let x2_lo = (x as f64 * x as f64 - x2 as f64) as f32;
    let exp_hi = match lane {
        Lane::Packet => exp(-x2),
        Lane::Scalar => (-x2).exp(),
    };
    let z = exp_hi - exp_hi * x2_lo;
    let q2 = 1.0 / x2;
    let r = polevl(q2, &GAMMA) / (x * polevl(q2, &DELTA));
    madd(z, r, if x < 0.0 { 2.0 } else { 0.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_to_the_true_functions() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.005;
            assert!((tanh(x) as f64 - (x as f64).tanh()).abs() < 1e-6, "tanh {x}");
            assert!((exp(x) as f64 / (x as f64).exp() - 1.0).abs() < 1e-6, "exp {x}");
            for lane in [Lane::Packet, Lane::Scalar] {
                let e = erfc(x, lane) as f64;
                let want = libm_erfc(x as f64);
                assert!((e - want).abs() <= 1e-6 * want.max(1e-30) + 1e-37, "erfc {x}: {e} vs {want}");
            }
        }
        assert_eq!(lane(7, 10), Lane::Packet);
        assert_eq!(lane(8, 10), Lane::Scalar);
    }

    /// erfc in f64 by its continued fraction / series (test reference only).
    fn libm_erfc(x: f64) -> f64 {
        // erfc(x) = 1 − erf(x); erf by its Taylor series for |x| < 3, else the asymptotic continued fraction.
        if x.abs() < 3.0 {
            let (mut term, mut sum, mut n) = (x, x, 0.0);
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -x * x / n;
                sum += term / (2.0 * n + 1.0);
            }
            1.0 - 2.0 / std::f64::consts::PI.sqrt() * sum
        } else if x > 0.0 {
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = (k as f64 / 2.0) / (x + f);
            }
            (-x * x).exp() / std::f64::consts::PI.sqrt() / (x + f)
        } else {
            2.0 - libm_erfc(-x)
        }
    }
}
