//! The direct form against the reference loop ([`Params::eval`]) on every
//! kernel path and every rounding rule.

use crate::model::{Activation, DType, Padding};
use crate::ops::conv::{Params, Requant};
use crate::ops::conv_gemm::{ConvPacked, Scratch};
use crate::ops::testkit::{geometry, lcg};
use crate::ops::KernelPath;
use crate::profile::{Multiplier, Rounding};
use crate::tensor::{Data, Value};

/// A layer of random weights (int8 symmetric per channel, or uint8 with a
/// filter zero point and weights reaching 0 and 255) and an input of `batches` samples.
#[allow(clippy::too_many_arguments)]
fn layer(batches: usize, hwc: (usize, usize, usize), out_c: usize, k: (usize, usize), stride: (usize, usize), dil: (usize, usize), padding: Padding, uint8: bool, rounding: Rounding, seed: &mut u64) -> (Params, Value) {
    layer_w(batches, hwc, out_c, k, stride, dil, padding, uint8, false, rounding, seed)
}

/// [`layer`]; with `narrow`, uint8 weights with `Z2 = 128` (reaching 0 and 255), so the centered weights fit i8 and the quad form applies.
#[allow(clippy::too_many_arguments)]
fn layer_w(batches: usize, hwc: (usize, usize, usize), out_c: usize, k: (usize, usize), stride: (usize, usize), dil: (usize, usize), padding: Padding, uint8: bool, narrow: bool, rounding: Rounding, seed: &mut u64) -> (Params, Value) {
    let g = geometry(batches, hwc, out_c, k, stride, dil, padding);
    let kk = k.0 * k.1 * hwc.2;
    let mut r = |n: u32| (lcg(seed) % n) as i32;
    let (dtype, z1, z2, z3) = if uint8 { (DType::U8, 90 + r(60), if narrow { 128 } else { 100 + r(56) }, r(200)) } else { (DType::I8, r(256) - 128, 0, r(100) - 128) };
    let raw: Vec<i32> = (0..out_c * kk)
        .map(|i| match (uint8, i % 11) {
            (true, 0) if narrow => z2 - 128,
            (true, 1) if narrow => z2 + 127,
            (true, _) if narrow => z2 - 128 + r(256),
            (true, 0) => 0,
            (true, 1) => 255,
            (true, _) => r(256),
            (false, 0) => -127,
            (false, _) => r(255) - 127,
        })
        .collect();
    let weights: Vec<i32> = raw.iter().map(|&w| w - z2).collect();
    let s1 = 0.02f32;
    let s2: Vec<f32> = (0..out_c).map(|_| 0.001 + r(1000) as f32 * 1e-5).collect();
    let s3 = s1 * 0.004 * (kk as f32).sqrt() * 150.0;
    let multipliers = s2.iter().map(|&s| if uint8 { Multiplier::from_scales_legacy(s1, s, s3) } else { Multiplier::from_scales(s1, s, s3) }).collect();
    let bias = (0..out_c).map(|_| r(8001) - 4000).collect();
    let activation = if batches > 1 && out_c > 1 { Activation::Relu } else { Activation::None };
    let (act_min, act_max) = crate::ops::fused_range(activation, dtype, s3, z3);
    let requant = Requant { s1, z1, s2, z2, s3, z3, per_channel: !uint8, bias, multipliers, rounding, act_min, act_max, output_dtype: dtype };
    let packed = ConvPacked::new(&g, dtype, &requant, &weights);
    let shape = vec![batches, g.out_h, g.out_w, out_c];
    let p = Params { input: 0, filter: 1, bias: Some(2), output: 3, geometry: g, activation, padding, output_shape: shape, weights, requant, packed };
    let len = batches * hwc.0 * hwc.1 * hwc.2;
    let data = if uint8 { Data::U8((0..len).map(|_| lcg(seed) as u8).collect()) } else { Data::I8((0..len).map(|_| lcg(seed) as i8).collect()) };
    (p, Value { shape: vec![batches, hwc.0, hwc.1, hwc.2], data })
}

#[test]
fn direct_conv_equals_the_reference_loop_on_every_path_and_rounding() {
    let mut seed = 5u64;
    let (mut checked, mut uint8_quads, mut by16) = (0, 0, 0);
    for in_c in 1..=4 {
        for &(out_c, k, stride, dil) in &[
            (8, (3, 3), (1, 1), (1, 1)),
            (3, (3, 3), (2, 2), (1, 1)),
            (13, (3, 2), (1, 2), (2, 1)),
            (20, (2, 3), (2, 1), (1, 3)),
            (16, (1, 1), (1, 1), (1, 1)),
            (33, (5, 5), (2, 2), (1, 1)),
            (1, (4, 4), (3, 3), (1, 1)),
            // Two blocks of 16 (the 16-channel quad kernel), positions past the last four.
            (32, (3, 3), (1, 1), (1, 1)),
        ] {
            for padding in [Padding::Same, Padding::Valid] {
                for (uint8, batches, narrow) in [(false, 1, false), (true, 1, false), (false, 2, false), (true, 2, true)] {
                    for rounding in Rounding::ALL {
                        let (p, x) = layer_w(batches, (9, 10, in_c), out_c, k, stride, dil, padding, uint8, narrow, rounding, &mut seed);
                        let d = p.packed.as_ref().and_then(|pk| pk.direct.as_ref());
                        assert!(d.is_some(), "in_c {in_c} k {k:?}: the direct form applies");
                        // The quad form (vpdpbusd) when the centered weights fit i8: int8, and
                        // narrow uint8 (Z2 = 128); the pairs otherwise.
                        let fits = p.weights.iter().all(|w| (-128..=127).contains(w));
                        assert!(fits || (uint8 && !narrow));
                        assert_eq!(d.unwrap().quads.is_some(), fits);
                        uint8_quads += (uint8 && fits) as usize;
                        by16 += (fits && d.unwrap().lanes16.is_some()) as usize;
                        let want = p.eval(&x).unwrap();
                        let outs = crate::ops::widen(&want).unwrap();
                        let mut distinct = outs.clone();
                        distinct.sort_unstable();
                        distinct.dedup();
                        assert!(distinct.len() >= 6.min(outs.len() / 8), "too few distinct outputs: {distinct:?} in_c {in_c} out_c {out_c} k {k:?} uint8 {uint8} {padding:?} {rounding:?} batches {batches}");
                        for path in KernelPath::available() {
                            let mut got = Value { shape: want.shape.clone(), data: Data::I32(Vec::new()) };
                            let mut s = Scratch::default();
                            // Twice: the second call reuses the buffers.
                            for _ in 0..2 {
                                p.eval_into(path, &x, &mut got, &mut s).unwrap();
                                assert_eq!(got.data, want.data, "{path} {rounding:?} uint8 {uint8} in_c {in_c} out_c {out_c} k {k:?} stride {stride:?} dil {dil:?} {padding:?} batches {batches}");
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(checked >= 4 * 8 * 2 * 4 * Rounding::ALL.len());
    assert!(uint8_quads >= 4 * 8 * 2 * Rounding::ALL.len());
    // out_c 16 and 32, every in_c, padding, case but wide uint8, rounding (vectorised tables only).
    assert!(by16 >= 2 * 4 * 2 * 3 * 3, "the 16-channel quad kernel ran {by16} times");
}

#[test]
fn direct_form_only_for_few_input_channels() {
    let mut seed = 9u64;
    let (p, _) = layer(1, (6, 6, 5), 8, (3, 3), (1, 1), (1, 1), Padding::Same, false, Rounding::ALL[0], &mut seed);
    assert!(p.packed.as_ref().is_some_and(|pk| pk.direct.is_none()));
    let (p, _) = layer(1, (6, 6, 4), 8, (3, 3), (1, 1), (1, 1), Padding::Same, false, Rounding::ALL[0], &mut seed);
    assert_eq!(p.packed.as_ref().and_then(|pk| pk.direct.as_ref()).map(|d| d.pairs()), Some(3 * 6));
}

/// Exact ties of the final rounding, where the double rounding (away from
/// zero) and ties up part, on every path (the 16-channel quad kernel for
/// out_c 16 and 32, the 8-channel one for 24): int8 inputs and weights in
/// ±6, a small bias, multipliers `2^−k` and `0.75·2^−k` (`M0` = 2^30 and
/// 3·2^29), so many sums are exact ties, of both signs.
#[test]
fn direct_conv_is_exact_on_ties_of_both_signs() {
    let mut seed = 31u64;
    let reals = [0.25f32, 0.125, 0.0625, 0.03125, 0.75 * 0.25, 0.75 * 0.125, 0.75 * 0.0625];
    let (mut ties_neg, mut ties_pos) = (0, 0);
    for out_c in [16, 24, 32] {
        for in_c in [1, 3] {
            for rounding in Rounding::ALL {
                let (mut p, _) = layer(1, (9, 11, in_c), out_c, (3, 3), (1, 1), (1, 1), Padding::Same, false, rounding, &mut seed);
                p.weights = (0..p.weights.len()).map(|_| (lcg(&mut seed) % 13) as i32 - 6).collect();
                p.requant.multipliers = (0..out_c).map(|c| Multiplier::from_ratio(reals[c % reals.len()], 1.0)).collect();
                p.requant.bias = (0..out_c).map(|c| (c % 5) as i32 - 2).collect();
                (p.requant.z1, p.requant.z3, p.requant.act_min, p.requant.act_max) = (0, 3, -128, 127);
                p.packed = ConvPacked::new(&p.geometry, DType::I8, &p.requant, &p.weights);
                let d = p.packed.as_ref().and_then(|pk| pk.direct.as_ref()).expect("the direct form");
                assert!(d.quads.is_some() && d.lanes16.is_some() == (out_c % 16 == 0));
                let x = Value { shape: vec![1, 9, 11, in_c], data: Data::I8((0..9 * 11 * in_c).map(|_| (lcg(&mut seed) % 13) as i8 - 6).collect()) };
                // Count the ties of the final shift: (acc·M0 + 2^30) >> 31 ≡ 2^(r−1) mod 2^r.
                let g = &p.geometry;
                let kk = g.k_h * g.k_w * in_c;
                let xs = match &x.data {
                    Data::I8(v) => v.clone(),
                    _ => unreachable!(),
                };
                for oy in 0..g.out_h {
                    for ox in 0..g.out_w {
                        for c in 0..out_c {
                            let mut acc = p.requant.bias[c] as i64;
                            for ky in 0..g.k_h {
                                for kx in 0..g.k_w {
                                    let (iy, ix) = ((oy + ky) as isize - g.pad_h as isize, (ox + kx) as isize - g.pad_w as isize);
                                    if iy < 0 || ix < 0 || iy >= g.in_h as isize || ix >= g.in_w as isize {
                                        continue;
                                    }
                                    for ic in 0..in_c {
                                        let xv = xs[(iy as usize * g.in_w + ix as usize) * in_c + ic] as i64;
                                        acc += xv * p.weights[c * kk + (ky * g.k_w + kx) * in_c + ic] as i64;
                                    }
                                }
                            }
                            let m = &p.requant.multipliers[c];
                            let r = -m.shift;
                            let y = (acc * m.m0 as i64 + (1 << 30)) >> 31;
                            if y.rem_euclid(1 << r) == 1 << (r - 1) {
                                if y < 0 {
                                    ties_neg += 1;
                                } else {
                                    ties_pos += 1;
                                }
                            }
                        }
                    }
                }
                let want = p.eval(&x).unwrap();
                for path in KernelPath::available() {
                    let mut got = Value { shape: want.shape.clone(), data: Data::I32(Vec::new()) };
                    p.eval_into(path, &x, &mut got, &mut Scratch::default()).unwrap();
                    assert_eq!(got.data, want.data, "{path} {rounding:?} out_c {out_c} in_c {in_c}");
                }
            }
        }
    }
    assert!(ties_neg > 300 && ties_pos > 300, "ties: {ties_neg} negative, {ties_pos} positive");
}
