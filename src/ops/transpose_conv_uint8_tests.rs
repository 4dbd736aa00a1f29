//! The uint8 TRANSPOSE_CONV kernel against a direct definition: for every
//! output element, the sum over every (input pixel, input channel, tap)
//! that lands on it, in i64, then the rounding written out in i64
//! (gemmlowp's `SaturatingRoundingDoublingHighMul`, then either
//! `RoundingDivideByPOT` or NEON's `vrshl` rounding ties up), on small
//! random layers: SAME and VALID, strides 1 to 3, output sizes that are
//! not a multiple of the stride, 1 to 2 images.

use super::{conv_padding, Arith, Params};
use crate::model::{Activation, Padding};
use crate::ops::testkit::lcg;
use crate::profile::{FlatRequant, Multiplier, Rounding};
use crate::tensor::{Data, Value};

fn srdhm(a: i32, b: i32) -> i64 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX as i64;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    (ab + nudge) / (1i64 << 31)
}

/// `M0·2^shift · acc` with the final right shift rounded half away
/// (`ties_up == false`) or half up.
fn requant(acc: i32, m: &Multiplier, ties_up: bool) -> i64 {
    let (left, right) = (m.shift.max(0), (-m.shift).max(0));
    let x = srdhm(acc.wrapping_mul(1 << left), m.m0);
    if right == 0 {
        return x;
    }
    let half = 1i64 << (right - 1);
    if ties_up {
        (x + half) >> right
    } else {
        let q = x >> right;
        let rem = x - (q << right);
        let threshold = half - 1 + (x < 0) as i64;
        q + (rem > threshold) as i64
    }
}

struct Case {
    images: usize,
    input: (usize, usize, usize),
    out: (usize, usize, usize),
    k: (usize, usize),
    stride: (usize, usize),
    padding: Padding,
}

fn layer(c: &Case, seed: &mut u64, requant: FlatRequant) -> Params {
    let mut r = |n: u32| (lcg(seed) % n) as i32;
    let (ci, co) = (c.input.2, c.out.2);
    let z2 = 40 + r(150);
    let weights = (0..co * c.k.0 * c.k.1 * ci).map(|_| r(256) - z2).collect();
    let bias = (0..co).map(|_| r(4001) - 2000).collect();
    let multiplier = Multiplier::from_scales_legacy(0.02 + r(100) as f32 * 1e-4, 0.004 + r(100) as f32 * 1e-5, 0.03 + r(100) as f32 * 1e-4);
    let z3 = r(256);
    Params {
        input: 0,
        filter: 1,
        bias: Some(2),
        output: 3,
        input_shape: [1, c.input.0, c.input.1, ci],
        output_shape: [1, c.out.0, c.out.1, co],
        kernel: c.k,
        stride: c.stride,
        pad: (conv_padding(c.out.0, c.k.0, c.stride.0, c.padding), conv_padding(c.out.1, c.k.1, c.stride.1, c.padding)),
        padding: c.padding,
        activation: Activation::None,
        arith: Arith::Uint8 { z1: r(256), z3, weights, bias, multiplier, requant, range: (r(20), 255 - r(20)) },
    }
}

/// The direct definition of one image's output.
fn direct(p: &Params, x: &[u8]) -> Vec<u8> {
    let Arith::Uint8 { z1, z3, weights, bias, multiplier, requant: rq, range } = &p.arith else { unreachable!() };
    let [_, h, w, ci] = p.input_shape;
    let [_, oh, ow, co] = p.output_shape;
    let (kh, kw) = p.kernel;
    let n = oh * ow * co;
    let mut out = Vec::with_capacity(n);
    for oy in 0..oh {
        for ox in 0..ow {
            for o in 0..co {
                let mut acc = 0i64;
                for y in 0..h {
                    for xx in 0..w {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let ty = (y * p.stride.0 + ky) as isize - p.pad.0 as isize;
                                let tx = (xx * p.stride.1 + kx) as isize - p.pad.1 as isize;
                                if ty != oy as isize || tx != ox as isize {
                                    continue;
                                }
                                for i in 0..ci {
                                    let q = x[(y * w + xx) * ci + i] as i64 - *z1 as i64;
                                    acc += q * weights[((o * kh + ky) * kw + kx) * ci + i] as i64;
                                }
                            }
                        }
                    }
                }
                let j = out.len();
                let ties_up = match rq {
                    FlatRequant::Uniform(r) => *r == Rounding::FixedPointTiesUp,
                    FlatRequant::VectorBlocks { block } => j < n - n % block,
                };
                let v = requant((acc + bias[o] as i64) as i32, multiplier, ties_up) + *z3 as i64;
                out.push(v.clamp(range.0 as i64, range.1 as i64) as u8);
            }
        }
    }
    out
}

fn cases() -> Vec<Case> {
    use Padding::{Same, Valid};
    let c = |images, input, out, k, stride, padding| Case { images, input, out, k, stride, padding };
    vec![
        c(1, (4, 4, 3), (8, 8, 2), (3, 3), (2, 2), Same),
        c(2, (3, 5, 2), (7, 11, 3), (3, 3), (2, 2), Valid),
        c(1, (5, 5, 4), (5, 5, 5), (3, 3), (1, 1), Same),
        c(1, (4, 4, 2), (6, 6, 3), (3, 3), (1, 1), Valid),
        // output not a multiple of the stride: a trailing row and column
        c(2, (4, 3, 2), (7, 5, 4), (3, 3), (2, 2), Same),
        c(1, (3, 3, 3), (9, 8, 2), (4, 2), (3, 3), Same),
        c(1, (2, 3, 1), (5, 8, 17), (3, 4), (2, 2), Valid),
    ]
}

#[test]
fn uint8_matches_the_direct_definition() {
    let mut seed = 14u64;
    for requant in [FlatRequant::Uniform(Rounding::FixedPointDoubleRounding), FlatRequant::VectorBlocks { block: 16 }] {
        for (ci, c) in cases().iter().enumerate() {
            let p = layer(c, &mut seed, requant);
            let n_in: usize = p.input_shape.iter().product();
            let x: Vec<u8> = (0..c.images * n_in).map(|_| lcg(&mut seed) as u8).collect();
            let mut out = Value { shape: vec![], data: Data::I32(vec![]) };
            let mut acc = Vec::new();
            p.eval_uint8_into(&Value { shape: vec![c.images], data: Data::U8(x.clone()) }, &mut out, &mut acc).unwrap();
            let Data::U8(got) = &out.data else { panic!("case {ci}: not uint8") };
            let want: Vec<u8> = x.chunks_exact(n_in).flat_map(|im| direct(&p, im)).collect();
            assert_eq!(got, &want, "case {ci}, {requant:?}");
            assert_eq!(out.shape[0], c.images);
            // one image through `eval` (the traced path) is the same
            let one = p.eval(&Value { shape: p.input_shape.to_vec(), data: Data::U8(x[..n_in].to_vec()) }).unwrap();
            assert_eq!(one.data, Data::U8(want[..want.len() / c.images].to_vec()), "case {ci}: eval");
        }
    }
}

/// The two roundings differ on ties, and the blocks put them where LiteRT's
/// `optimized_ops::Quantize` does: whole blocks of 16 flattened outputs
/// ties up, the tail half away.
#[test]
fn vector_blocks_split_the_flattened_output() {
    assert_eq!(FlatRequant::VectorBlocks { block: 16 }.split(5 * 8 * 17).0, 672);
    assert_eq!(FlatRequant::VectorBlocks { block: 16 }.split(15).0, 0);
    let (split, a, b) = FlatRequant::Uniform(Rounding::FixedPointDoubleRounding).split(40);
    assert_eq!((split, a, b), (40, Rounding::FixedPointDoubleRounding, Rounding::FixedPointDoubleRounding));
    // M = 1/4: −6/4 = −1.5 rounds to −2 (away) or −1 (up)
    let m = Multiplier::from_real(0.25);
    assert_eq!((Rounding::FixedPointDoubleRounding.apply(-6, &m), Rounding::FixedPointTiesUp.apply(-6, &m)), (-2, -1));
    assert_eq!((requant(-6, &m, false), requant(-6, &m, true)), (-2, -1));
}
