//! The fast DEPTHWISE_CONV_2D against the reference loop, on every kernel
//! path the CPU has, every profile's rounding, both 8-bit types, SAME and
//! VALID, strides 1–3, dilations, depth multipliers 1–3, 3×3 and 5×5 (and
//! odd) kernels, and small, odd and wide channel counts.

use super::*;
use crate::model::{Activation, Padding};
use crate::ops::conv::Requant;
use crate::ops::conv::output_size;
use crate::ops::testkit::{geometry, lcg};
use crate::profile::{Multiplier, Profile};

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
    let (dtype, z1, z2, z3) = if uint8 {
        (DType::U8, 100 + (lcg(seed) % 56) as i32, 100 + (lcg(seed) % 56) as i32, (lcg(seed) % 156) as i32)
    } else {
        (DType::I8, (lcg(seed) % 256) as i32 - 128, 0, (lcg(seed) % 100) as i32 - 128)
    };
    let n = k.0 * k.1 * out_c;
    let raw: Vec<i32> = (0..n)
        .map(|i| match (uint8, i % 11) {
            (true, 0) => 0,
            (true, 1) => 255,
            (true, _) => (lcg(seed) % 256) as i32,
            (false, 0) => -128,
            (false, 1) => 127,
            (false, _) => (lcg(seed) % 256) as i32 - 128,
        })
        .collect();
    let weights: Vec<i32> = raw.iter().map(|&w| w - z2).collect();
    let s1 = 0.02f32;
    let s2: Vec<f32> = (0..out_c).map(|_| 0.005 + (lcg(seed) % 1000) as f32 * 1e-5).collect();
    let s3 = s1 * 0.005 * ((k.0 * k.1) as f32).sqrt() * 100.0;
    let multipliers =
        s2.iter().map(|&s| if uint8 { Multiplier::from_scales_legacy(s1, s, s3) } else { Multiplier::from_scales(s1, s, s3) }).collect();
    let bias: Vec<i32> = (0..out_c).map(|_| (lcg(seed) % 4001) as i32 - 2000).collect();
    let activation = if batches == 1 { Activation::None } else { Activation::Relu6 };
    let (act_min, act_max) = crate::ops::fused_range(activation, dtype, s3, z3);
    let requant = Requant {
        s1,
        z1,
        s2,
        z2,
        s3,
        z3,
        per_channel: !uint8,
        bias,
        multipliers,
        rounding: profile.depthwise_rounding(),
        act_min,
        act_max,
        output_dtype: dtype,
    };
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
            ] {
                // A VALID window larger than the input has no outputs (and no model).
                if output_size(padding, shape.0, k.0, stride.0, dil.0) == 0 || output_size(padding, shape.1, k.1, stride.1, dil.1) == 0 {
                    continue;
                }
                for batches in [1, 3] {
                    for profile in Profile::ALL {
                        let p = params(&mut seed, profile, uint8, batches, shape, mult, k, stride, dil, padding);
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
                        assert!(distinct.len() >= 4.min(all / 4), "too few distinct outputs: {distinct:?} {profile} uint8 {uint8} {padding:?} {shape:?} k {k:?} stride {stride:?} batches {batches}");
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
    assert!(checked >= 2 * (2 * 15 - 2) * 2 * Profile::ALL.len());
}
