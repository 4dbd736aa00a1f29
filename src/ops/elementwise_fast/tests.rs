//! Every fast form against its reference kernel.

use super::*;
use super::gate::{gate_into, GateScratch};
use crate::error::EngineError;
use crate::model::{Activation, DType};
use crate::ops::add::{self, Broadcast};
use crate::ops::pool::{self, Pooling};
use crate::ops::testkit::lcg;
use crate::ops::{mean, mul, KernelPath};
use crate::profile::{Multiplier, Rounding};

fn bc(a: &[usize], b: &[usize], o: &[usize]) -> Broadcast {
    let st = |s: &[usize]| crate::ops::strides(s);
    let rank = o.len();
    let pad = |s: &[usize]| {
        let mut v = vec![1; rank - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (pa, pb) = (pad(a), pad(b));
    let (ta, tb) = (st(&pa), st(&pb));
    let a_strides = (0..rank).map(|d| if pa[d] == 1 { 0 } else { ta[d] }).collect();
    let b_strides = (0..rank).map(|d| if pb[d] == 1 { 0 } else { tb[d] }).collect();
    Broadcast { output_shape: o.to_vec(), a_strides, b_strides, same_shape: a == o && b == o }
}

/// The rows visit exactly the pairs `Broadcast::map` does, in output order.
#[test]
fn rows_visit_the_broadcast_pairs() {
    let cases: [(&[usize], &[usize], &[usize]); 6] = [
        (&[1, 4, 4, 8], &[1, 1, 1, 8], &[1, 4, 4, 8]),
        (&[1, 1, 1, 8], &[1, 4, 4, 8], &[1, 4, 4, 8]),
        (&[2, 3, 1], &[1, 3, 5], &[2, 3, 5]),
        (&[3, 5], &[1], &[3, 5]),
        (&[2, 3, 4], &[2, 3, 4], &[2, 3, 4]),
        (&[4, 1], &[1, 6], &[4, 6]),
    ];
    for (a, b, o) in cases {
        let br = bc(a, b, o);
        let (na, nb): (usize, usize) = (a.iter().product(), b.iter().product());
        let xa: Vec<i32> = (0..na as i32).collect();
        let xb: Vec<i32> = (0..nb as i32).map(|v| v * 1000).collect();
        let want = br.map(&xa, &xb, |p, q| p + q);
        let mut got = vec![0; want.len()];
        assert!(for_each_row(&br, |o0, a0, b0, sa, sb, len| {
            for k in 0..len {
                got[o0 + k] = xa[a0 + k * sa] + xb[b0 + k * sb];
            }
        }));
        assert_eq!(got, want, "{a:?} {b:?} → {o:?}");
    }
}

/// `n` random 8-bit values of `dtype` (int8 or uint8).
fn random(seed: &mut u64, dtype: DType, n: usize) -> Data {
    match dtype {
        DType::U8 => Data::U8((0..n).map(|_| lcg(seed) as u8).collect()),
        _ => Data::I8((0..n).map(|_| lcg(seed) as u8 as i8).collect()),
    }
}

fn values(seed: &mut u64, shape: &[usize]) -> Value {
    Value { shape: shape.to_vec(), data: random(seed, DType::I8, shape.iter().product()) }
}

/// `rows` samples of `shape` stacked in one buffer (the batch runs' layout).
fn stacked(seed: &mut u64, dtype: DType, shape: &[usize], rows: usize) -> Value {
    Value { shape: shape.to_vec(), data: random(seed, dtype, rows * shape.iter().product::<usize>()) }
}

/// Sample `s` of a stacked value of `per` elements a sample.
fn sample(v: &Value, s: usize, per: usize) -> Value {
    let data = match &v.data {
        Data::I8(x) => Data::I8(x[s * per..(s + 1) * per].to_vec()),
        Data::U8(x) => Data::U8(x[s * per..(s + 1) * per].to_vec()),
        Data::I16(x) => Data::I16(x[s * per..(s + 1) * per].to_vec()),
        Data::F32(x) => Data::F32(x[s * per..(s + 1) * per].to_vec()),
        Data::I32(x) => Data::I32(x[s * per..(s + 1) * per].to_vec()),
        _ => unreachable!("test dtypes"),
    };
    Value { shape: v.shape.clone(), data }
}

/// The reference run on each sample, outputs concatenated.
fn per_sample(rows: usize, mut eval: impl FnMut(usize) -> Value) -> Data {
    let mut all = eval(0).data;
    for s in 1..rows {
        all.extend_from(&eval(s).data);
    }
    all
}

/// A random real in `[lo, hi)` (log-uniform).
fn real(seed: &mut u64, lo: f64, hi: f64) -> f64 {
    (lo.ln() + (hi.ln() - lo.ln()) * (lcg(seed) as f64 / (1u64 << 31) as f64)).exp()
}

fn zero_point(seed: &mut u64, dtype: DType) -> i32 {
    let z = (lcg(seed) % 256) as i32;
    if dtype == DType::U8 {
        z
    } else {
        z - 128
    }
}

/// A random broadcast of rank 1–5 with the innermost dimension long enough
/// to cross the vector widths and the spread buffer (up to 150): each input
/// dimension is the output's or 1.
fn random_broadcast(seed: &mut u64) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let rank = 1 + (lcg(seed) % 5) as usize;
    let mut o: Vec<usize> = (0..rank).map(|_| 1 + (lcg(seed) % 4) as usize).collect();
    o[rank - 1] = 1 + (lcg(seed) % 150) as usize;
    let pick = |seed: &mut u64| -> Vec<usize> { o.iter().map(|&d| if lcg(seed) % 3 == 0 { 1 } else { d }).collect() };
    let (mut a, mut b) = (pick(seed), pick(seed));
    // Sometimes a lower-rank operand, as NumPy allows.
    if rank > 1 && lcg(seed) % 4 == 0 {
        b.remove(0);
    }
    if lcg(seed) % 5 == 0 {
        a = o.clone();
    }
    (a, b, o)
}

/// Run `check(path)` on every kernel path this CPU has.
fn every_path(mut check: impl FnMut(KernelPath)) {
    for path in KernelPath::ALL.into_iter().filter(|p| p.is_available()) {
        check(path);
    }
}

/// ADD (both recipes, every rounding), SUB and MUL (every rounding) on
/// random shapes and broadcasts, int8 and uint8, random scales and zero
/// points, one and several samples (a constant second operand shared by
/// all), on every kernel path: the fast form writes the reference `eval`'s bits.
#[test]
fn binary_ops_equal_the_reference() {
    let mut seed = 7u64;
    for case in 0..60 {
        let (sa, sb, so) = random_broadcast(&mut seed);
        let dtype = if case % 4 == 3 { DType::U8 } else { DType::I8 };
        let rows = [1, 1, 3, 16][case % 4];
        let b_constant = case % 3 == 0;
        let broadcast = bc(&sa, &sb, &so);
        let x = stacked(&mut seed, dtype, &sa, rows);
        let y = stacked(&mut seed, dtype, &sb, if b_constant { 1 } else { rows });
        let (na, nb) = (sa.iter().product::<usize>(), sb.iter().product::<usize>());
        let y_of = |s: usize| if b_constant { y.clone() } else { sample(&y, s, nb) };
        let (lo, hi) = if dtype == DType::U8 { (0, 255) } else { (-128, 127) };
        let (z_a, z_b, z_out) = (zero_point(&mut seed, dtype), zero_point(&mut seed, dtype), zero_point(&mut seed, dtype));
        let act_min = if case % 2 == 0 { z_out.max(lo) } else { lo };
        let (s_a, s_b, s_out) = (real(&mut seed, 0.01, 0.2) as f32, real(&mut seed, 0.01, 0.2) as f32, real(&mut seed, 0.01, 0.3) as f32);
        let mut ariths: Vec<add::AddArith> = Rounding::ALL
            .iter()
            .flat_map(|&rounding| {
                let twice_max = 2.0 * s_a.max(s_b) as f64;
                [1, -1].map(|sign_b| add::AddArith::LeftShift {
                    left_shift: 20,
                    z_a,
                    z_b,
                    m_a: Multiplier::from_real(s_a as f64 / twice_max),
                    m_b: Multiplier::from_real(s_b as f64 / twice_max),
                    m_out: Multiplier::from_real(twice_max / ((1i64 << 20) as f64 * s_out as f64)),
                    rounding,
                    sign_b,
                })
            })
            .collect();
        for sign in [1.0f32, -1.0] {
            let (m_a, m_b, bias, shift) = add::xnnpack_add_multipliers(s_a / s_out, sign * s_b / s_out, z_a, z_b);
            ariths.push(add::AddArith::Xnnpack { m_a, m_b, bias, shift });
        }
        for arith in ariths {
            let p = add::Params { inputs: [0, 1], output: 2, broadcast: broadcast.clone(), activation: Activation::Relu, z_out, act_min, act_max: hi, output_dtype: dtype, arith, neon: None };
            let want = per_sample(rows, |s| p.eval(&sample(&x, s, na), &y_of(s)).unwrap());
            let mut tables = AddTables::default();
            every_path(|path| {
                let mut out = Value { shape: so.clone(), data: Data::I32(Vec::new()) };
                assert!(add_into(path, &p, &x, &y, &mut out, &mut tables));
                assert_eq!(out.data, want, "ADD {:?} {sa:?} {sb:?} rows {rows} {path:?}", p.arith);
            });
        }
        for rounding in Rounding::ALL {
            let multiplier = Multiplier::from_real(real(&mut seed, 1e-4, 4.0));
            let p = mul::Params { inputs: [0, 1], output: 2, broadcast: broadcast.clone(), activation: Activation::None, z_a, z_b, z_out, multiplier, rounding, act_min, act_max: hi, output_dtype: dtype };
            let want = per_sample(rows, |s| p.eval(&sample(&x, s, na), &y_of(s)).unwrap());
            every_path(|path| {
                let mut out = Value { shape: so.clone(), data: Data::I8(vec![1; 3]) };
                assert!(mul_into(path, &p, &x, &y, &mut out));
                assert_eq!(out.data, want, "MUL {rounding:?} {multiplier:?} {sa:?} {sb:?} rows {rows} {path:?}");
            });
        }
    }
}

/// Buffers that are not whole samples are refused (the reference then runs
/// and names the problem), never misread.
#[test]
fn binary_refuses_partial_samples() {
    let broadcast = bc(&[1, 4, 8], &[1, 1, 8], &[1, 4, 8]);
    let p = mul::Params { inputs: [0, 1], output: 2, broadcast, activation: Activation::None, z_a: 0, z_b: 0, z_out: 0, multiplier: Multiplier::from_real(0.5), rounding: Rounding::DoubleHalfAway, act_min: -128, act_max: 127, output_dtype: DType::I8 };
    let mut seed = 1;
    let (x, y) = (values(&mut seed, &[33]), values(&mut seed, &[8]));
    let mut out = Value { shape: vec![1, 4, 8], data: Data::I8(Vec::new()) };
    assert!(!mul_into(KernelPath::Scalar, &p, &x, &y, &mut out));
    // Two samples of x but three of y: no sample count fits both.
    let (x, y) = (values(&mut seed, &[64]), values(&mut seed, &[24]));
    assert!(!mul_into(KernelPath::Scalar, &p, &x, &y, &mut out));
}

/// MEAN over (H, W) in every method, one and several samples, every path:
/// the fast sums and finish give the reference `eval`'s bits.
#[test]
fn mean_equals_the_reference() {
    use crate::ops::mean::MeanArith;
    let mut seed = 11u64;
    for (shape, rows) in [([1usize, 7, 7, 40], 1), ([1, 3, 5, 67], 4), ([1, 1, 1, 1280], 2), ([1, 2, 2, 9], 16)] {
        let count = shape[1] * shape[2];
        let per: usize = shape.iter().product();
        let x = stacked(&mut seed, DType::I8, &shape, rows);
        let (z_in, z_out) = (zero_point(&mut seed, DType::I8), zero_point(&mut seed, DType::I8));
        let (s_in, s_out) = (real(&mut seed, 0.01, 0.1) as f32, real(&mut seed, 0.005, 0.05) as f32);
        let mut ariths: Vec<MeanArith> = Rounding::ALL.iter().map(|&rounding| MeanArith::Integer { multiplier: mean::folded_multiplier(s_in, s_out, count), rounding }).collect();
        let scale = (s_in / s_out) * (1.0 / count as f32);
        ariths.push(MeanArith::Float { scale, zero_point: z_out as f32 - (count as f32 * z_in as f32) * ((s_in / s_out) / count as f32) });
        ariths.push(MeanArith::BiasedSum { multiplier: Multiplier::from_real(s_in as f64 / (count as f64 * s_out as f64)), bias: 20, depth: shape[3], vector_channels: 32 });
        for arith in ariths {
            let p = mean::Params {
                input: 0,
                output: 1,
                input_shape: shape.to_vec(),
                reduced: vec![false, true, true, false],
                count,
                z_in,
                z_out,
                arith,
                output_shape: vec![1, 1, 1, shape[3]],
                output_dtype: DType::I8,
            };
            let want = per_sample(rows, |s| p.eval(&sample(&x, s, per)).unwrap());
            every_path(|path| {
                let (mut out, mut sums) = (Value { shape: p.output_shape.clone(), data: Data::I8(Vec::new()) }, Vec::new());
                assert!(mean_into(path, &p, &x, &mut out, &mut sums));
                assert_eq!(out.data, want, "{:?} {shape:?} rows {rows} {path:?}", p.arith);
            });
        }
    }
}

/// MEAN of one term per output (reduced axes of length 1) as a table: the
/// reference `eval`'s bits in every integer rounding and the f32 method,
/// int8 and uint8, several samples, every path; refused for n > 1 and for
/// the biased sum (its rounding depends on the channel).
#[test]
fn mean_of_one_term_is_a_table() {
    use crate::ops::mean::MeanArith;
    let mut seed = 13u64;
    for (dtype, shape, rows) in [(DType::I8, [1usize, 1, 1, 1280], 3), (DType::U8, [1, 1, 1, 67], 2), (DType::I8, [1, 1, 1, 5], 1)] {
        let per: usize = shape.iter().product();
        let x = stacked(&mut seed, dtype, &shape, rows);
        let (z_in, z_out) = (zero_point(&mut seed, dtype), zero_point(&mut seed, dtype));
        let (s_in, s_out) = (real(&mut seed, 0.01, 0.1) as f32, real(&mut seed, 0.005, 0.05) as f32);
        let mut ariths: Vec<MeanArith> = Rounding::ALL.iter().map(|&rounding| MeanArith::Integer { multiplier: mean::folded_multiplier(s_in, s_out, 1), rounding }).collect();
        ariths.push(MeanArith::Integer { multiplier: mean::folded_multiplier(s_in, s_in, 1), rounding: Rounding::FixedPointDoubleRounding });
        ariths.push(MeanArith::Float { scale: s_in / s_out, zero_point: z_out as f32 - z_in as f32 * (s_in / s_out) });
        for arith in ariths {
            let p = mean::Params { input: 0, output: 1, input_shape: shape.to_vec(), reduced: vec![false, true, true, false], count: 1, z_in, z_out, arith, output_shape: vec![1, shape[3]], output_dtype: dtype };
            let want = per_sample(rows, |s| p.eval(&sample(&x, s, per)).unwrap());
            let lut = mean_table(&p).expect("one term per output");
            every_path(|path| {
                let mut out = Value { shape: p.output_shape.clone(), data: Data::I8(vec![9; 3]) };
                lut.apply(path, &x, &mut out).unwrap();
                assert_eq!(out.data, want, "{:?} {dtype} {shape:?} rows {rows} {path:?}", p.arith);
            });
        }
        let biased = MeanArith::BiasedSum { multiplier: Multiplier::from_real(0.7), bias: 3, depth: shape[3], vector_channels: 0 };
        let p = mean::Params { input: 0, output: 1, input_shape: shape.to_vec(), reduced: vec![false, true, true, false], count: 1, z_in, z_out, arith: biased, output_shape: vec![1, shape[3]], output_dtype: dtype };
        assert!(mean_table(&p).is_none());
        let wide = mean::Params { input_shape: vec![1, 2, 1, shape[3]], count: 2, arith: MeanArith::Float { scale: 0.5, zero_point: 0.0 }, ..p };
        assert!(mean_table(&wide).is_none());
    }
}

/// A table probed from a one-input op applies as the op does, int8 and
/// uint8, on lengths around the 64-byte vector, on every path.
#[test]
fn lut_equals_the_op() {
    let op = |v: &Value| -> Result<Value, EngineError> {
        let data = match &v.data {
            Data::I8(x) => Data::I8(x.iter().map(|&q| (q as i32 * 3 / 2 - 7).clamp(-128, 127) as i8).collect()),
            Data::U8(x) => Data::U8(x.iter().map(|&q| (q as i32 * q as i32 / 200).clamp(0, 255) as u8).collect()),
            _ => unreachable!(),
        };
        Ok(Value { shape: v.shape.clone(), data })
    };
    let mut seed = 3u64;
    for dtype in [DType::I8, DType::U8] {
        let lut = Lut::probe(dtype, op).unwrap();
        for n in [0usize, 1, 63, 64, 65, 200, 648, 1000] {
            let x = stacked(&mut seed, dtype, &[n], 1);
            every_path(|path| {
                let mut out = Value { shape: vec![n], data: Data::I32(vec![]) };
                lut.apply(path, &x, &mut out).unwrap();
                assert_eq!(out.data, op(&x).unwrap().data, "{dtype} {n} {path:?}");
            });
        }
    }
    assert!(Lut::probe(DType::I16, op).is_none());
}

/// Max and average pools, SAME and VALID, strides 1 and 2, with a fused
/// clamp, int8 and uint8, one and several samples, depths the fixed-size
/// forms take (3, 8, 16) and one they do not (12), every path: the fast
/// form writes the reference `eval`'s bits.
#[test]
fn pools_equal_the_reference() {
    use crate::model::Padding;
    let mut seed = 5u64;
    for (pooling, dtype, act_min, act_max) in [(Pooling::Max, DType::I8, -100, 90), (Pooling::Average, DType::I8, -100, 90), (Pooling::Max, DType::U8, 10, 200), (Pooling::Average, DType::U8, 0, 255)] {
        for padding in [Padding::Same, Padding::Valid] {
            for (k, stride) in [((3, 3), (1, 1)), ((2, 2), (2, 2)), ((3, 2), (2, 1))] {
                for (batches, rows, c) in [(2, 1, 12), (1, 5, 12), (2, 1, 8), (1, 3, 16), (2, 2, 3)] {
                    let geometry = crate::ops::testkit::geometry(batches, (7, 6, c), c, k, stride, (1, 1), padding);
                    let shape = [batches, 7, 6, c];
                    let per: usize = shape.iter().product();
                    let x = stacked(&mut seed, dtype, &shape, rows);
                    let output_shape = vec![batches, geometry.out_h, geometry.out_w, c];
                    let p = pool::Params { pooling, input: 0, output: 1, geometry, padding, act_min, act_max, output_dtype: dtype, output_shape };
                    let want = per_sample(rows, |s| p.eval(&sample(&x, s, per)).unwrap());
                    every_path(|path| {
                        let (mut out, mut acc) = (Value { shape: p.output_shape.clone(), data: Data::I8(Vec::new()) }, Vec::new());
                        assert!(pool_into(path, &p, &x, &mut out, &mut acc));
                        assert_eq!(out.data, want, "{pooling:?} {dtype} {padding:?} {k:?} {stride:?} rows {rows} c {c} {path:?}");
                    });
                }
            }
        }
    }
}

/// CONCATENATION along every axis of random shapes, with a constant input,
/// int8, float32 and uint8 with inputs on other scales, one and several
/// samples: the copies (and the uint8 tables) are the reference's.
#[test]
fn concat_equals_the_reference() {
    use crate::ops::concatenation;
    let mut seed = 17u64;
    for case in 0..24 {
        let rank = 1 + case % 4;
        let axis = (lcg(&mut seed) as usize) % rank;
        let rows = [1, 4, 16][case % 3];
        let base: Vec<usize> = (0..rank).map(|_| 1 + (lcg(&mut seed) % 4) as usize).collect();
        let n_in = 2 + (lcg(&mut seed) % 3) as usize;
        let shapes: Vec<Vec<usize>> = (0..n_in)
            .map(|_| {
                let mut s = base.clone();
                s[axis] = 1 + (lcg(&mut seed) % 5) as usize;
                s
            })
            .collect();
        let mut output_shape = base.clone();
        output_shape[axis] = shapes.iter().map(|s| s[axis]).sum();
        let outer: usize = base[..axis].iter().product();
        let chunk: Vec<usize> = shapes.iter().map(|s| s[axis..].iter().product()).collect();
        let float = case % 5 == 4;
        // uint8 with every other input on its own scale (mapped through its table).
        let uint8 = case % 5 == 3 || case % 7 == 1;
        let make = |seed: &mut u64, shape: &[usize], rows: usize| {
            let v = stacked(seed, if uint8 { DType::U8 } else { DType::I8 }, shape, rows);
            match (&v.data, float) {
                (Data::I8(x), true) => Value { shape: v.shape.clone(), data: Data::F32(x.iter().map(|&q| q as f32 * 0.25).collect()) },
                _ => v,
            }
        };
        let rescale: Vec<Option<concatenation::Rescale>> =
            (0..n_in).map(|k| (uint8 && k % 2 == 0).then(|| concatenation::Rescale::new(0.01 + 0.013 * k as f32, 3 * k as i32 + 100, 0.031, 77))).collect();
        // The last input is a constant of the model when case is even.
        let constant_last = case % 2 == 0;
        let vals: Vec<Value> = shapes.iter().enumerate().map(|(k, s)| make(&mut seed, s, if constant_last && k == n_in - 1 { 1 } else { rows })).collect();
        let constants: Vec<Option<Value>> = (0..n_in).map(|k| (constant_last && k == n_in - 1).then(|| vals[k].clone())).collect();
        let p = concatenation::Params {
            inputs: (0..n_in).collect(),
            constants,
            output: n_in,
            axis,
            outer,
            chunk: chunk.clone(),
            output_shape: output_shape.clone(),
            output_dtype: if float { DType::F32 } else if uint8 { DType::U8 } else { DType::I8 },
            rescale,
        };
        let want = per_sample(rows, |s| {
            let runtime: Vec<Value> = (0..n_in).filter(|&k| p.constants[k].is_none()).map(|k| sample(&vals[k], s, outer * chunk[k])).collect();
            p.eval(&runtime.iter().collect::<Vec<_>>()).unwrap()
        });
        let mut out = Value { shape: output_shape.clone(), data: Data::I8(Vec::new()) };
        assert!(concat_into(&p, |t| vals.get(t), &mut out));
        assert_eq!(out.data, want, "{shapes:?} axis {axis} rows {rows}");
    }
}

/// PAD of random shapes and paddings, int8 and float32, one and several
/// samples: fill and row copies give the reference's bits.
#[test]
fn pad_equals_the_reference() {
    use crate::ops::pad;
    let mut seed = 23u64;
    for case in 0..24 {
        let rank = 1 + case % 4;
        let rows = [1, 3, 16][case % 3];
        let input_shape: Vec<usize> = (0..rank).map(|_| 1 + (lcg(&mut seed) % 5) as usize).collect();
        let paddings: Vec<(usize, usize)> = (0..rank).map(|_| ((lcg(&mut seed) % 3) as usize, (lcg(&mut seed) % 3) as usize)).collect();
        let output_shape: Vec<usize> = input_shape.iter().zip(&paddings).map(|(&d, &(a, b))| d + a + b).collect();
        let float = case % 4 == 3;
        let mut x = stacked(&mut seed, DType::I8, &input_shape, rows);
        if let (Data::I8(v), true) = (&x.data, float) {
            x.data = Data::F32(v.iter().map(|&q| q as f32 - 0.5).collect());
        }
        let p = pad::Params {
            input: 0,
            output: 1,
            paddings,
            input_shape: input_shape.clone(),
            output_shape: output_shape.clone(),
            pad_value: -7,
            output_dtype: if float { DType::F32 } else { DType::I8 },
        };
        let per: usize = input_shape.iter().product();
        let want = per_sample(rows, |s| p.eval(&sample(&x, s, per)).unwrap());
        let mut out = Value { shape: output_shape.clone(), data: Data::I32(Vec::new()) };
        assert!(pad_into(&p, &x, &mut out));
        assert_eq!(out.data, want, "{input_shape:?} {:?} rows {rows}", p.paddings);
    }
}

/// The vectorisable requantization gives the reference's integer for every
/// rounding, on ties (multiplier ½, odd accumulators), saturation (huge
/// multipliers, the i32 extremes) and every clamp range of 8-bit outputs.
#[test]
fn requantize_equals_the_rounding() {
    use super::binary::requantize;
    let mut seed = 29u64;
    let mut accs: Vec<i32> = vec![0, 1, -1, 2, -2, 3, -3, 5, -5, 255, -255, 65025, -65025, i32::MAX, i32::MIN, i32::MAX - 1, i32::MIN + 1, 1 << 24, -(1 << 24), (1 << 24) + 1];
    accs.extend((0..2000).map(|_| lcg(&mut seed) as i32 ^ ((lcg(&mut seed) as i32) << 1)));
    accs.extend((0..2000).map(|_| (lcg(&mut seed) % 200_001) as i32 - 100_000));
    let reals = [0.5, 0.25, 1.0, 1.5, 1.7e-6, 0.0123, 3.0, 1024.0, 2.5e5, 7.0e9, 1e-12, 0.999_999_9];
    for rounding in Rounding::ALL {
        for real in reals {
            let m = Multiplier::from_real(real);
            for (z, lo, hi) in [(0, -128, 127), (-128, -128, 127), (127, -128, 127), (-5, -5, 127), (17, 0, 255), (255, 0, 255), (0, -1, 1)] {
                for &acc in &accs {
                    let want = (rounding.apply(acc, &m) as i64 + z as i64).clamp(lo as i64, hi as i64) as i32;
                    assert_eq!(requantize(rounding, acc, &m, z, lo, hi), want, "{rounding:?} M {real} acc {acc} z {z} [{lo}, {hi}]");
                }
            }
        }
    }
}

/// MAX_POOL_2D at every depth the pixel-array form is compiled for and at
/// others (the slice form), with padding (empty taps), strides and a
/// dilation, int8 and uint8, a clamp that bites: the reference's bits.
#[test]
fn max_pool_every_depth_equals_the_reference() {
    use crate::model::Padding;
    let mut seed = 17u64;
    for (dtype, act_min, act_max) in [(DType::I8, -100, 90), (DType::U8, 10, 200), (DType::I8, -128, 127)] {
        for c in [1, 2, 3, 4, 5, 8, 16, 24, 32, 64, 12] {
            for (k, stride, dil, padding) in [((2, 2), (2, 2), (1, 1), Padding::Valid), ((3, 3), (2, 2), (1, 1), Padding::Same), ((2, 3), (1, 2), (2, 1), Padding::Same)] {
                let batches = 2;
                let geometry = crate::ops::testkit::geometry(batches, (7, 9, c), c, k, stride, dil, padding);
                let shape = [batches, 7, 9, c];
                let per: usize = shape.iter().product();
                let x = stacked(&mut seed, dtype, &shape, 1);
                let output_shape = vec![batches, geometry.out_h, geometry.out_w, c];
                let p = pool::Params { pooling: Pooling::Max, input: 0, output: 1, geometry, padding, act_min, act_max, output_dtype: dtype, output_shape };
                let want = per_sample(1, |s| p.eval(&sample(&x, s, per)).unwrap());
                every_path(|path| {
                    let (mut out, mut acc) = (Value { shape: p.output_shape.clone(), data: Data::I8(Vec::new()) }, Vec::new());
                    assert!(pool_into(path, &p, &x, &mut out, &mut acc));
                    assert_eq!(out.data, want, "{dtype} c {c} {padding:?} {k:?} {stride:?} {dil:?} {path:?}");
                });
            }
        }
    }
}

/// The gate MUL (a full operand times a gate repeated along the leading
/// dimensions, or of the same shape), either operand order, the gate read
/// directly or through a table op, int8 and uint8, every rounding, random
/// multipliers below and above 1, one and several samples (a constant gate
/// shared by all), every path: the reference MUL's bits on the table op's
/// reference output.
#[test]
fn gate_mul_equals_the_reference() {
    let mut seed = 31u64;
    let op = |v: &Value| -> Result<Value, EngineError> {
        let data = match &v.data {
            Data::I8(x) => Data::I8(x.iter().map(|&q| (q as i32 * 5 / 7 + 40).clamp(-128, 127) as i8).collect()),
            Data::U8(x) => Data::U8(x.iter().map(|&q| (255 - q as i32 / 3) as u8).collect()),
            _ => unreachable!(),
        };
        Ok(Value { shape: v.shape.clone(), data })
    };
    let shapes: [(&[usize], &[usize]); 6] = [
        (&[1, 4, 4, 32], &[1, 1, 1, 32]),
        (&[1, 3, 5, 17], &[1, 1, 1, 17]),
        (&[1, 1, 1, 150], &[1, 1, 1, 150]),
        (&[1, 2, 2, 480], &[480]),
        (&[2, 3, 8], &[3, 8]),
        (&[1, 6, 6, 40], &[1, 6, 6, 40]),
    ];
    for case in 0..48 {
        let (full_shape, gate_shape) = shapes[case % shapes.len()];
        let dtype = if case % 5 == 4 { DType::U8 } else { DType::I8 };
        let rows = [1, 3, 16][case % 3];
        let gate_is_b = case % 2 == 0;
        let gate_constant = case % 7 == 3;
        let with_table = case % 4 < 2;
        let so = full_shape.to_vec();
        let broadcast = if gate_is_b { bc(full_shape, gate_shape, &so) } else { bc(gate_shape, full_shape, &so) };
        let m = gate::gate_len(&broadcast, gate_is_b).expect("a gate broadcast");
        assert_eq!(m, gate_shape.iter().product::<usize>());
        let (nf, ng) = (full_shape.iter().product::<usize>(), m);
        let x = stacked(&mut seed, dtype, full_shape, rows);
        let g = stacked(&mut seed, dtype, gate_shape, if gate_constant { 1 } else { rows });
        let lut = with_table.then(|| Lut::probe(dtype, op).unwrap());
        let operand = |s: usize| {
            let gs = if gate_constant { g.clone() } else { sample(&g, s, ng) };
            if with_table {
                op(&gs).unwrap()
            } else {
                gs
            }
        };
        let (lo, hi) = if dtype == DType::U8 { (0, 255) } else { (-128, 127) };
        let (z_a, z_b, z_out) = (zero_point(&mut seed, dtype), zero_point(&mut seed, dtype), zero_point(&mut seed, dtype));
        let act_min = if case % 3 == 0 { z_out.max(lo) } else { lo };
        for rounding in Rounding::ALL {
            let multiplier = Multiplier::from_real(real(&mut seed, 1e-4, 3.0));
            let p = mul::Params { inputs: [0, 1], output: 2, broadcast: broadcast.clone(), activation: Activation::None, z_a, z_b, z_out, multiplier, rounding, act_min, act_max: hi, output_dtype: dtype };
            let want = per_sample(rows, |s| {
                let xs = sample(&x, s, nf);
                if gate_is_b {
                    p.eval(&xs, &operand(s)).unwrap()
                } else {
                    p.eval(&operand(s), &xs).unwrap()
                }
            });
            let mut scratch = GateScratch::default();
            every_path(|path| {
                let mut out = Value { shape: so.clone(), data: Data::I32(vec![]) };
                assert!(gate_into(path, &p, m, gate_is_b, &x, &g, lut.as_ref(), &mut out, &mut scratch));
                assert_eq!(out.data, want, "{rounding:?} {multiplier:?} {full_shape:?} {gate_shape:?} gate_is_b {gate_is_b} table {with_table} rows {rows} {path:?}");
            });
        }
    }
}

// add_ties (issue 14): LiteRT builtin's NEON-block ADD
/// ADD with [`add::NeonBlocks`] (both block forms, both dtypes) on random
/// shapes and broadcasts, one and several samples, scales k/255 (exact ties)
/// and random ones, zero points in and out of the dtype: on every kernel
/// path the outputs-only form writes the reference `eval`'s bits, which
/// differ from the reference formula's on some elements.
#[test]
fn neon_block_add_equals_the_reference() {
    let mut seed = 0x5eed_add;
    let (mut blocked, mut differ) = (0, 0);
    for case in 0..120 {
        let (sa, sb, so) = random_broadcast(&mut seed);
        let dtype = if case % 2 == 0 { DType::U8 } else { DType::I8 };
        let rows = [1, 3][(case / 2) % 2];
        let broadcast = bc(&sa, &sb, &so);
        let x = stacked(&mut seed, dtype, &sa, rows);
        let y = stacked(&mut seed, dtype, &sb, rows);
        let (na, nb) = (sa.iter().product::<usize>(), sb.iter().product::<usize>());
        let (lo, hi) = if dtype == DType::U8 { (0, 255) } else { (-128, 127) };
        let (z_a, z_b, z_out) = (zero_point(&mut seed, dtype), zero_point(&mut seed, dtype), zero_point(&mut seed, dtype));
        let act_min = if case % 3 == 0 { z_out.max(lo) } else { lo };
        let scale = |seed: &mut u64| if case % 4 < 2 { (1 + lcg(seed) % 9) as f32 / 255.0 } else { real(seed, 0.001, 0.2) as f32 };
        let (s_a, s_b, s_out) = (scale(&mut seed), scale(&mut seed), scale(&mut seed));
        let twice_max = 2.0 * s_a.max(s_b) as f64;
        let (m_a, m_b) = (Multiplier::from_real(s_a as f64 / twice_max), Multiplier::from_real(s_b as f64 / twice_max));
        let m_out = Multiplier::from_real(twice_max / ((1i64 << 20) as f64 * s_out as f64));
        let arith = add::AddArith::LeftShift { left_shift: 20, z_a, z_b, m_a, m_b, m_out, rounding: Rounding::FixedPointDoubleRounding, sign_b: 1 };
        let Some(neon) = add::NeonBlocks::new(&sa, &sb, dtype, &arith) else { continue };
        let p = add::Params { inputs: [0, 1], output: 2, broadcast, activation: Activation::Relu, z_out, act_min, act_max: hi, output_dtype: dtype, arith, neon: Some(neon) };
        let want = per_sample(rows, |s| p.eval(&sample(&x, s, na), &sample(&y, s, nb)).unwrap());
        let reference = per_sample(rows, |s| add::Params { neon: None, ..p.clone() }.eval(&sample(&x, s, na), &sample(&y, s, nb)).unwrap());
        blocked += 1;
        differ += usize::from(want != reference);
        let mut tables = AddTables::default();
        every_path(|path| {
            let mut out = Value { shape: so.clone(), data: Data::I32(Vec::new()) };
            assert!(add_into(path, &p, &x, &y, &mut out, &mut tables));
            assert_eq!(out.data, want, "NEON ADD {dtype} {sa:?} {sb:?} rows {rows} {path:?} {:?}", p.neon);
        });
    }
    assert!(blocked > 60 && differ > 0, "{blocked} {differ}");
}
