//! [`requantize8`] (the 8-lane AVX2 requantization the fused kernels call)
//! against [`RequantTable::apply_scalar`] (the definition), on every
//! rounding rule, for tables that take the one-floor form of the
//! fixed-point rules (every channel `r ≥ 1`) and tables that do not, on
//! random sums and on sums at or next to the rounding boundaries: exact
//! ties of the final shift (power-of-two multipliers, `M0 = 2^30`) and,
//! for any `M0`, the sums whose `t + C` lands on (or one `M0` beside) a
//! multiple of `2^(31+r)`, where a wrong nudge or sign term changes the result.

use super::*;
use crate::ops::testkit::lcg;

/// `requantize8` on every block of `acc` (one row of `t.channels`, offsets
/// not yet added) equals the definition.
fn check_row(t: &RequantTable, acc: &[i32], what: &str) {
    let m = t.channels;
    let mut want = acc.to_vec();
    t.apply_scalar(&mut want);
    let mut got = vec![0i32; m.div_ceil(8) * 8];
    for c in (0..m).step_by(8) {
        let mut lane = [0i32; 8];
        for (i, l) in lane.iter_mut().enumerate().take((m - c).min(8)) {
            *l = acc[c + i].wrapping_add(t.offset(c + i));
        }
        // SAFETY: AVX2 is available (checked by the caller); the table is vectorised.
        unsafe {
            use std::arch::x86_64::*;
            let y = requantize8(t, t.rounding, c, _mm256_loadu_si256(lane.as_ptr() as *const __m256i));
            _mm256_storeu_si256(got.as_mut_ptr().add(c) as *mut __m256i, y);
        }
    }
    assert_eq!(&got[..m], &want[..], "{what}: acc {acc:?}");
}

/// The sums of channel `u` near the one-floor boundaries: `x` with
/// `x·M0 + 2^30 + 2^(30+r) − 2^31·[x < 0]` at a multiple `k·2^(31+r)`, and `x ± 1`.
fn near_boundaries(u: &Multiplier, k: i64) -> [i32; 3] {
    let r = (-u.shift).clamp(1, 31);
    let m0 = u.m0.max(1) as i64;
    let target = k << (31 + r);
    let nudge = (1i64 << 30) + (1i64 << (30 + r)) - if k < 0 { 1i64 << 31 } else { 0 };
    let x = ((target - nudge) as f64 / m0 as f64).round() as i64;
    let c = |v: i64| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
    [c(x - 1), c(x), c(x + 1)]
}

/// Channels built to sit exactly on the floor's steps: multipliers
/// `M0·2^(−31−r)` and sums `x` (small, so the result lies inside the clamp
/// range) with `v = x·M0 + 2^30 + 2^(30+r) − 2^31·[x < 0 and signed]`
/// exactly `≡ d (mod 2^(31+r))`, `d ∈ {0, −1}` — where one unit more or
/// less in the nudge changes the result. For each odd `x`, `M0 ≡ (d − C)·x⁻¹`
/// (mod `2^(31+r)`), kept when it falls in `[2^30, 2^31)`.
fn on_steps(signed: bool) -> (Vec<Multiplier>, Vec<i32>) {
    let (mut ms, mut xs) = (Vec::new(), Vec::new());
    for r in 1..=14u32 {
        let modulus = 1i128 << (31 + r);
        let mut found = 0;
        let mut x: i64 = 1;
        while found < 4 && x < 100 << r {
            for (x, d) in [(x, 0i64), (-x, -1), (x, -1), (-x, 0)] {
                let c = (1i64 << 30) + (1i64 << (30 + r)) - if signed && x < 0 { 1i64 << 31 } else { 0 };
                // The inverse of the odd x modulo 2^64 (Newton's iteration), then modulo 2^(31+r).
                let xu = x as u64;
                let mut inv = xu;
                for _ in 0..6 {
                    inv = inv.wrapping_mul(2u64.wrapping_sub(xu.wrapping_mul(inv)));
                }
                let m0 = ((d - c) as i128).rem_euclid(modulus) * (inv as i128 & (modulus - 1)) % modulus;
                if (1i128 << 30..1i128 << 31).contains(&m0) {
                    let v = x * m0 as i64 + c;
                    assert_eq!(v.rem_euclid(1i64 << (31 + r)), d.rem_euclid(1i64 << (31 + r)));
                    let real = m0 as f64 * 2f64.powi(-31 - r as i32);
                    ms.push(Multiplier { real, real_f32: real as f32, m0: m0 as i32, shift: -(r as i32) });
                    xs.push(x as i32);
                    found += 1;
                }
            }
            x += 2;
        }
    }
    (ms, xs)
}

#[test]
fn requantize8_equals_the_definition_on_random_and_tie_rich_sums() {
    if !KernelPath::Avx2.is_available() {
        eprintln!("AVX2 not available: nothing to compare");
        return;
    }
    let mut seed = 41u64;
    // Below one half (r ≥ 1: the one-floor form): random, and powers of two
    // (M0 = 2^30, exact ties), r from 1 to 31.
    let random: Vec<Multiplier> = (0..21)
        .map(|i| {
            let f = 0.5 + lcg(&mut seed) as f64 / 2f64.powi(33);
            Multiplier::from_ratio((f * 2f64.powi(-(1 + (i * 3) % 30))) as f32, 1.0)
        })
        .collect();
    let pow2: Vec<Multiplier> = (1..=31).map(|r| Multiplier::from_ratio(2f32.powi(-r - 1), 1.0)).collect();
    assert!(pow2.iter().all(|u| u.m0 == 1 << 30) && pow2.last().unwrap().shift == -31);
    // With a channel at r = 0 or left > 0: the two-step form on every lane.
    let mut mixed = random.clone();
    mixed[5] = Multiplier::from_ratio(0.75, 1.0);
    mixed[11] = Multiplier::from_ratio(3.0, 1.0);
    let mut checked = 0;
    for rounding in Rounding::ALL {
        let fixed = matches!(rounding, Rounding::FixedPointDoubleRounding | Rounding::FixedPointTiesUp);
        for (name, ms, floor) in [("random", &random, fixed), ("pow2", &pow2, fixed), ("mixed", &mixed, false)] {
            for (z3, lo, hi) in [(0, -128, 127), (-5, -128, 127), (3, 0, 255), (0, -32768, 32767)] {
                let m = ms.len();
                let offsets: Vec<i32> = (0..m).map(|_| (lcg(&mut seed) as i32) >> 18).collect();
                let t = RequantTable::new(rounding, ms, z3, lo, hi).with_offsets(&offsets);
                assert!(t.vectorised());
                assert_eq!(t.lanes.one_floor, floor, "{rounding:?} {name}");
                assert_eq!(t.floor8.is_empty(), !floor);
                let t0 = RequantTable::new(rounding, ms, z3, lo, hi);
                let what = format!("{rounding:?} {name} z3 {z3} {lo}..{hi}");
                // Random sums of every magnitude, with the offsets (wrapping near ±2^31 too).
                for _ in 0..300 {
                    let acc: Vec<i32> = (0..m).map(|_| (lcg(&mut seed) as i32) >> (lcg(&mut seed) % 32)).collect();
                    check_row(&t, &acc, &what);
                    checked += 1;
                }
                check_row(&t, &vec![i32::MAX; m], &what);
                check_row(&t, &vec![i32::MIN; m], &what);
                // At and beside the boundaries, both signs, no offset: small k
                // (outputs inside the clamp range) and large.
                for k in [-3i64, -2, -1, 0, 1, 2, 3, -77, 77, -1000, 1000] {
                    for j in 0..3 {
                        let acc: Vec<i32> = ms.iter().map(|u| near_boundaries(u, k)[j]).collect();
                        check_row(&t0, &acc, &format!("{what} boundary k {k}"));
                        checked += 1;
                    }
                }
                // Exact ties of the power-of-two rows: x = ±(2n+1)·2^r (+0 / −1: the
                // high-mul's own rounding), y = ±(2n+1)·2^(r−1).
                for n in 0..5i64 {
                    for sign in [1i64, -1] {
                        for d in [0i64, -1, 1] {
                            let acc: Vec<i32> = ms.iter().map(|u| (sign * ((2 * n + 1) << (-u.shift).clamp(1, 31)) + d).clamp(i32::MIN as i64, i32::MAX as i64) as i32).collect();
                            check_row(&t0, &acc, &format!("{what} ties n {n} sign {sign} d {d}"));
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 5 * 3 * 4 * 300);
    // Exactly on the floor's steps, every r from 1 to 14, both signs: the
    // results inside the int16 range, so no clamp hides a unit.
    for rounding in [Rounding::FixedPointDoubleRounding, Rounding::FixedPointTiesUp] {
        let (ms, xs) = on_steps(rounding == Rounding::FixedPointDoubleRounding);
        assert!(ms.len() >= 40, "{}", ms.len());
        let t = RequantTable::new(rounding, &ms, 0, -32768, 32767);
        assert!(t.lanes.one_floor);
        let mut want = xs.clone();
        t.apply_scalar(&mut want);
        assert!(want.iter().all(|y| y.abs() < 32000), "{want:?}");
        check_row(&t, &xs, &format!("{rounding:?} on the steps"));
    }
}
