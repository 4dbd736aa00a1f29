//! The fast DEPTHWISE_CONV_2D against the reference loop, on every kernel
//! path the CPU has, every profile's rounding, both 8-bit types, SAME and
//! VALID, strides 1–3, dilations, depth multipliers 1–3, 3×3 and 5×5 (and
//! odd) kernels, and small, odd and wide channel counts.

use super::*;
use crate::model::{Activation, Padding};
use crate::ops::conv::output_size;
use crate::ops::testkit::{geometry, lcg, quant_layer, QuantSpec};
use crate::profile::{Profile, Rounding};

#[allow(clippy::too_many_arguments)]
fn params(
    seed: &mut u64,
    profile: Profile,
    uint8: bool,
    batches: usize,
    (in_h, in_w, in_c): (usize, usize, usize),
    mult: usize,
    k: (usize, usize),
    stride: (usize, usize),
    dil: (usize, usize),
    padding: Padding,
) -> Params {
    let out_c = in_c * mult;
    let g = geometry(batches, (in_h, in_w, in_c), out_c, k, stride, dil, padding);
    // The fused clamp on the batched cases, where enough channels keep some outputs above it.
    let activation = if batches == 1 || out_c < 8 { Activation::None } else { Activation::Relu6 };
    let taps = k.0 * k.1;
    let spec = QuantSpec { uint8, out_c, n_weights: taps * out_c, fan_in: taps, full_range: true, activation, rounding: profile.depthwise_rounding() };
    let (dtype, weights, requant) = quant_layer(seed, &spec);
    let packed = pack(dtype, &g, mult, &requant, &weights);
    assert!(packed.is_some());
    Params {
        input: 0,
        filter: 1,
        bias: Some(2),
        output: 3,
        geometry: g,
        depth_multiplier: mult,
        activation,
        padding,
        output_shape: vec![batches, g.out_h, g.out_w, out_c],
        weights,
        requant,
        packed,
    }
}

#[test]
fn fast_depthwise_equals_the_reference_loop_on_every_available_path() {
    let mut seed = 5u64;
    let mut checked = 0;
    let mut runs = 0;
    let (mut flat, mut cases) = (0, 0);
    // Cases the VNNI kernel takes (int8, when the CPU has it), and with a run of pixels.
    let (mut vnnis, mut vnni_runs, mut int8_cases) = (0, 0, 0);
    let mut shared = Scratch::default();
    for uint8 in [false, true] {
        for padding in [Padding::Same, Padding::Valid] {
            for &(shape, mult, k, stride, dil) in &[
                // (in_h, in_w, in_c), depth multiplier, kernel, stride, dilation
                ((5, 5, 1), 1, (3, 3), (1, 1), (1, 1)),
                ((8, 7, 8), 1, (3, 3), (2, 2), (1, 1)),
                ((16, 16, 16), 1, (3, 3), (1, 1), (1, 1)),
                ((9, 11, 24), 1, (3, 3), (2, 2), (1, 1)),
                ((7, 9, 5), 1, (5, 5), (1, 1), (1, 1)),
                ((9, 8, 13), 1, (5, 5), (2, 2), (1, 1)),
                ((2, 2, 40), 1, (5, 5), (1, 1), (1, 1)),
                ((1, 1, 36), 1, (3, 3), (1, 1), (1, 1)),
                ((3, 3, 7), 1, (3, 3), (2, 2), (1, 1)),
                ((6, 5, 3), 2, (3, 3), (2, 1), (1, 1)),
                ((9, 9, 3), 2, (3, 2), (1, 2), (2, 1)),
                ((7, 10, 17), 1, (2, 3), (2, 1), (2, 3)),
                ((6, 6, 4), 3, (5, 5), (1, 1), (1, 1)),
                ((4, 4, 33), 1, (4, 4), (3, 3), (1, 1)),
                ((7, 14, 3), 1, (3, 3), (1, 3), (1, 2)),
                // The models' channel counts: 8 (a run of pixels), 24 and 72
                // (16 + 8), 144, and wide layers on 2×2 and 1×1 maps.
                ((10, 9, 8), 1, (3, 3), (1, 1), (1, 1)),
                ((5, 6, 24), 1, (3, 3), (2, 2), (1, 1)),
                ((4, 5, 72), 1, (5, 5), (1, 1), (1, 1)),
                ((3, 3, 144), 1, (3, 3), (1, 1), (1, 1)),
                ((2, 2, 336), 1, (5, 5), (1, 1), (1, 1)),
                ((1, 1, 200), 1, (5, 5), (1, 1), (1, 1)),
                // Maps of at least 8×8: MobileNetV2's 48 channels at strides 1
                // and 2, a last block of 17–31 lanes ending the image, dilation,
                // 2- and 4-row kernels, a depth multiplier.
                ((16, 16, 48), 1, (3, 3), (2, 2), (1, 1)),
                ((8, 8, 48), 1, (3, 3), (1, 1), (1, 1)),
                ((9, 10, 24), 1, (3, 3), (1, 1), (1, 1)),
                ((12, 11, 17), 1, (3, 3), (1, 1), (2, 2)),
                ((10, 12, 40), 1, (2, 3), (1, 1), (1, 1)),
                ((11, 9, 64), 1, (4, 4), (1, 1), (3, 1)),
                ((9, 8, 12), 2, (3, 3), (1, 1), (1, 1)),
            ] {
                // A VALID window larger than the input has no outputs (and no model).
                if output_size(padding, shape.0, k.0, stride.0, dil.0) == 0 || output_size(padding, shape.1, k.1, stride.1, dil.1) == 0 {
                    continue;
                }
                for batches in [1, 3] {
                    for profile in Profile::ALL {
                        let p = params(&mut seed, profile, uint8, batches, shape, mult, k, stride, dil, padding);
                        runs += p.packed.as_ref().is_some_and(|pk| pk.run.is_some()) as usize;
                        int8_cases += !uint8 as usize;
                        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
                        if let Some(v) = p.packed.as_ref().and_then(|pk| pk.vnni.as_ref()) {
                            vnnis += 1;
                            vnni_runs += v.has_run() as usize;
                        }
                        let len = batches * shape.0 * shape.1 * shape.2;
                        let data = if uint8 {
                            Data::U8((0..len).map(|_| lcg(&mut seed) as u8).collect())
                        } else {
                            Data::I8((0..len).map(|_| lcg(&mut seed) as i8).collect())
                        };
                        let input = Value { shape: vec![batches, shape.0, shape.1, shape.2], data };
                        let want = p.eval(&input).unwrap();
                        let mut distinct = crate::ops::widen(&want).unwrap();
                        let all = distinct.len();
                        distinct.sort_unstable();
                        distinct.dedup();
                        // A case whose outputs are nearly all one value (a single channel
                        // with a large negative bias, all clamped) tests little: few allowed.
                        flat += (distinct.len() < 4.min(all / 4)) as usize;
                        cases += 1;
                        for path in KernelPath::available() {
                            let mut got = Value { shape: want.shape.clone(), data: Data::I32(Vec::new()) };
                            let mut s = Scratch::default();
                            for _ in 0..2 {
                                p.eval_into(path, &input, &mut got, &mut s).unwrap();
                                assert_eq!(
                                    got.data, want.data,
                                    "{path} {profile} uint8 {uint8} {padding:?} {shape:?} mult {mult} k {k:?} stride {stride:?} dil {dil:?} batches {batches}"
                                );
                            }
                            // One scratch shared by every layer, as in a plan: no stale frame.
                            p.eval_into(path, &input, &mut got, &mut shared).unwrap();
                            assert_eq!(got.data, want.data, "{path} {profile} shared scratch {shape:?} k {k:?} stride {stride:?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(checked >= 2 * (2 * 28 - 5) * 2 * Profile::ALL.len());
    assert!(flat * 20 <= cases, "{flat} of {cases} cases have too few distinct outputs");
    assert!(runs >= 2 * 8 * 2 * Profile::ALL.len(), "{runs} cases with a run of pixels");
    #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
    if vnni::available() {
        // Every int8 case, at least 8 of them (per profile and batch count) with a run.
        assert_eq!(vnnis, int8_cases, "int8 cases on the VNNI kernel");
        assert!(vnni_runs >= 8 * 2 * Profile::ALL.len(), "{vnni_runs} VNNI cases with a run of pixels");
    }
    let _ = (vnnis, vnni_runs, int8_cases);
}

/// Exact rounding ties of both signs on every path: power-of-two
/// multipliers `M = 2^−k` (`M0 = 2^30`), so `acc·M` lies on a tie whenever
/// `acc ≡ 2^(k−1) mod 2^k`, small weights and biases so that most outputs
/// stay inside the clamp, and accumulators of both signs. The roundings
/// differ only on ties (double rounding takes a negative tie away from
/// zero, ties up toward +∞, half even to the even neighbour), so the test
/// first checks that the reference outputs of the roundings differ, then
/// that every path equals the reference in each rounding: a rule that gets
/// the sign term or the tie direction wrong fails. Channel counts 8, 17, 24,
/// 72 and 144 (a run of pixels, a partial block, the last block of ≤ 16
/// lanes), strides 1 and 2, a 1×1 map.
#[test]
fn fast_depthwise_is_exact_on_rounding_ties_of_both_signs() {
    let mut seed = 11u64;
    let mut tie_diffs = 0;
    for &(shape, k, stride) in &[
        ((6, 7, 8), (3, 3), (1, 1)),
        ((5, 6, 17), (3, 3), (1, 1)),
        ((7, 6, 24), (3, 3), (2, 2)),
        ((4, 5, 72), (5, 5), (1, 1)),
        ((3, 3, 144), (3, 3), (1, 1)),
        ((1, 1, 40), (3, 3), (1, 1)),
        // ≥ 8×8 maps, 48 and 24 channels, strides 1 and 2.
        ((8, 9, 48), (3, 3), (1, 1)),
        ((16, 17, 24), (3, 3), (2, 2)),
    ] {
        let c = shape.2;
        // One layer and input for every profile: weights in −2..=2, a bias in −8..=8,
        // Z1 = 0, Z3 = 0, no clamp but int8's.
        let weights: Vec<i32> = (0..k.0 * k.1 * c).map(|_| (lcg(&mut seed) % 5) as i32 - 2).collect();
        let bias: Vec<i32> = (0..c).map(|_| (lcg(&mut seed) % 17) as i32 - 8).collect();
        let len = 2 * shape.0 * shape.1 * c;
        let input = Value { shape: vec![2, shape.0, shape.1, c], data: Data::I8((0..len).map(|_| lcg(&mut seed) as i8).collect()) };
        let mut refs: Vec<(Rounding, Data)> = Vec::new();
        for profile in Profile::ALL {
            let mut p = params(&mut seed, profile, false, 2, shape, 1, k, stride, (1, 1), Padding::Same);
            p.weights = weights.clone();
            let r = &mut p.requant;
            r.z1 = 0;
            r.z3 = 0;
            r.act_min = -128;
            r.act_max = 127;
            r.bias = bias.clone();
            r.multipliers = (0..c).map(|ch| crate::profile::Multiplier::from_real(2f64.powi(-(1 + (ch % 6) as i32)))).collect();
            assert!(r.multipliers.iter().all(|m| m.m0 == 1 << 30 && m.shift <= 0));
            p.activation = Activation::None;
            p.packed = pack(DType::I8, &p.geometry, 1, &p.requant, &p.weights);
            assert!(p.packed.is_some());
            let want = p.eval(&input).unwrap();
            let rounding = profile.depthwise_rounding();
            if let Some((_, first)) = refs.iter().find(|(r, _)| *r != rounding) {
                let (Data::I8(a), Data::I8(b)) = (first, &want.data) else { panic!("int8 outputs") };
                tie_diffs += a.iter().zip(b).filter(|(x, y)| x != y).count();
            }
            for path in KernelPath::available() {
                let mut got = Value { shape: want.shape.clone(), data: Data::I32(Vec::new()) };
                p.eval_into(path, &input, &mut got, &mut Scratch::default()).unwrap();
                assert_eq!(got.data, want.data, "{path} {profile} ties {shape:?} k {k:?} stride {stride:?}");
            }
            refs.push((rounding, want.data));
        }
    }
    assert!(tie_diffs > 100, "only {tie_diffs} outputs differ between the roundings: too few ties");
}
