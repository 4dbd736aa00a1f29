//! [`NeonBlocks`] against a literal model of LiteRT's optimized ADD: the
//! five nested loops of `BinaryBroadcastFiveFold` over the inputs' buffers
//! (with its input swap), each kernel call running its full blocks with the
//! NEON arithmetic written out in 64 bits and its tail with the reference
//! formula.

use super::*;
use crate::quant::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul};

/// NEON `vqrdmulh` on one lane, from its definition: `(2ab + 2^31) >> 32`, saturated.
fn vqrdmulh(a: i32, b: i32) -> i32 {
    ((2 * a as i128 * b as i128 + (1i128 << 31)) >> 32).clamp(i32::MIN as i128, i32::MAX as i128) as i32
}

/// The reference `MultiplyByQuantizedMultiplierSmallerThanOneExp`.
fn mbqm(x: i32, m: &Multiplier) -> i32 {
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, m.m0), -m.shift)
}

struct Case {
    m: [Multiplier; 3],
    z: [i32; 3],
    lo: i32,
    hi: i32,
    u8: bool,
}

impl Case {
    fn reference(&self, a: i32, b: i32) -> i32 {
        let sa = mbqm((a - self.z[0]) << 20, &self.m[0]);
        let sb = mbqm((b - self.z[1]) << 20, &self.m[1]);
        (mbqm(sa + sb, &self.m[2]) + self.z[2]).clamp(self.lo, self.hi)
    }

    /// One lane of a NEON block; `folded`: the int8 elementwise kernel.
    fn block(&self, a: i32, b: i32, folded: bool) -> i32 {
        let input = |q: i32, z: i32, m: &Multiplier| -> i32 {
            let x = (q - z) as i64;
            if folded {
                let s = 20 + m.shift;
                let x = if s >= 0 { x << s } else { x >> -s };
                vqrdmulh(x as i32, m.m0)
            } else {
                (vqrdmulh((x << 20) as i32, m.m0) as i64 >> -m.shift) as i32
            }
        };
        let sum = input(a, self.z[0], &self.m[0]) + input(b, self.z[1], &self.m[1]);
        let s = rounding_divide_by_pot(vqrdmulh(sum, self.m[2].m0), -self.m[2].shift);
        let s16 = (s as i16).wrapping_add(self.z[2] as i16) as i32;
        let (dlo, dhi) = if self.u8 { (0, 255) } else { (-128, 127) };
        s16.clamp(dlo, dhi).clamp(self.lo, self.hi)
    }

    /// `AddElementwise(size, ...)`.
    fn elementwise(&self, a: &[i32], b: &[i32], out: &mut Vec<i32>) {
        let block = if self.u8 { 8 } else { 16 };
        let full = a.len() / block * block;
        for i in 0..a.len() {
            out.push(if i < full { self.block(a[i], b[i], !self.u8) } else { self.reference(a[i], b[i]) });
        }
    }

    /// `AddScalarBroadcast(size, scalar, ...)`: blocks of 8, truncating, for both dtypes.
    fn scalar(&self, a: i32, b: &[i32], out: &mut Vec<i32>) {
        let full = b.len() / 8 * 8;
        for (i, &q) in b.iter().enumerate() {
            out.push(if i < full { self.block(a, q, false) } else { self.reference(a, q) });
        }
    }
}

/// `ProcessBroadcastShapes` + `BinaryBroadcastFiveFold`, literally; `None` for the generic category.
fn litert(case: &Case, sa: &[usize], a: &[i32], sb: &[usize], b: &[i32]) -> Option<Vec<i32>> {
    let rank = sa.len().max(sb.len());
    let ext = |s: &[usize]| [vec![1; rank - s.len()], s.to_vec()].concat();
    let (e0, e1) = (ext(sa), ext(sb));
    let mut out = Vec::new();
    if e0 == e1 {
        case.elementwise(a, b, &mut out);
        return Some(out);
    }
    let d = (0..rank).rev().find(|&d| e0[d] != e1[d]).unwrap();
    let first_fast = e0[d] == 1;
    assert!(first_fast || e1[d] == 1);
    // the swap: "input 1" is the input that broadcasts fast; ADD is symmetric in its two
    // rescaled inputs, but each keeps its own zero point and multiplier
    let (shape1, shape2, d1, d2, swapped) = if first_fast { (&e0, &e1, a, b, false) } else { (&e1, &e0, b, a, true) };
    let cs = Case { m: if swapped { [case.m[1], case.m[0], case.m[2]] } else { case.m }, z: if swapped { [case.z[1], case.z[0], case.z[2]] } else { case.z }, ..*case };
    let mut y = [1usize; 5];
    let mut i = rank as isize - 1;
    let g = |v: &Vec<usize>, i: isize| v[i as usize];
    for (k, cond) in [(4, 0), (3, 1), (2, 0), (1, 2), (0, 0)] {
        while i >= 0 && match cond {
            0 => g(shape1, i) == g(shape2, i),
            1 => g(shape1, i) == 1,
            _ => g(shape2, i) == 1,
        } {
            y[k] *= if cond == 2 { g(shape1, i) } else { g(shape2, i) };
            i -= 1;
        }
    }
    if i >= 0 {
        return None;
    }
    let (mut p1, mut p2_reset) = (0, 0);
    for _ in 0..y[0] {
        let mut p2 = 0;
        for _ in 0..y[1] {
            p2 = p2_reset;
            for _ in 0..y[2] {
                if y[4] > 1 {
                    for _ in 0..y[3] {
                        cs.elementwise(&d1[p1..p1 + y[4]], &d2[p2..p2 + y[4]], &mut out);
                        p2 += y[4];
                    }
                    p1 += y[4];
                } else {
                    cs.scalar(d1[p1], &d2[p2..p2 + y[3]], &mut out);
                    p2 += y[3];
                    p1 += 1;
                }
            }
        }
        p2_reset = p2;
    }
    Some(out)
}

fn lcg(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *seed >> 33
}

fn broadcast_of(sa: &[usize], sb: &[usize]) -> Broadcast {
    let rank = sa.len().max(sb.len());
    let ext = |s: &[usize]| [vec![1; rank - s.len()], s.to_vec()].concat();
    let (pa, pb) = (ext(sa), ext(sb));
    let so: Vec<usize> = pa.iter().zip(&pb).map(|(&p, &q)| p.max(q)).collect();
    let st = |p: &Vec<usize>| -> Vec<usize> {
        let t = strides(p);
        p.iter().zip(t).map(|(&d, t)| if d == 1 { 0 } else { t }).collect()
    };
    Broadcast { same_shape: pa == so && pb == so, a_strides: st(&pa), b_strides: st(&pb), output_shape: so }
}

#[test]
fn five_fold_categories() {
    assert_eq!(five_fold(&[1, 28, 28, 1], &[1, 28, 28, 1]), Some((0, 0, 784)));
    assert_eq!(five_fold(&[28, 28], &[1, 28, 28]), Some((0, 0, 784)));
    // second input broadcasts fast: swapped, scalar runs of 28
    assert_eq!(five_fold(&[1, 28, 28, 1], &[1, 28, 1, 1]), Some((28, 1, 784)));
    // first input broadcasts over rows: elementwise runs of 28
    assert_eq!(five_fold(&[1, 1, 28, 1], &[1, 28, 28, 1]), Some((28, 28, 784)));
    assert_eq!(five_fold(&[1, 28, 28, 1], &[1, 1, 1, 3]), Some((3, 1, 2352)));
    assert_eq!(five_fold(&[1], &[5, 7]), Some((35, 1, 35)));
    assert_eq!(five_fold(&[2, 1, 3], &[1, 4, 3]), Some((4, 3, 24)));
    assert_eq!(five_fold(&[1, 28, 28, 1], &[2, 1, 1, 3]), None);
    assert_eq!(five_fold(&[2, 3], &[4, 3]), None);
}

/// Every (dtype, shape pair, multipliers) case: the kernel's `eval` with
/// [`NeonBlocks`] equals the literal model, element by element, at block
/// and tail boundaries (runs of 1..=40 elements) and across broadcasts.
#[test]
fn neon_blocks_match_the_literal_model() {
    let shapes: Vec<(Vec<usize>, Vec<usize>)> = vec![
        (vec![1, 7], vec![1, 7]),
        (vec![8], vec![8]),
        (vec![16], vec![16]),
        (vec![17], vec![17]),
        (vec![2, 23], vec![2, 23]),
        (vec![40], vec![1]),
        (vec![1], vec![39]),
        (vec![3, 1, 9], vec![3, 17, 9]),
        (vec![3, 17, 1], vec![3, 1, 1]),
        (vec![1, 1, 24], vec![5, 3, 24]),
        (vec![2, 1, 3], vec![1, 4, 3]),
        (vec![4, 1, 33], vec![1, 2, 33]),
        (vec![1, 6, 1, 1], vec![2, 6, 19, 1]),
        (vec![1, 5, 5, 1], vec![2, 1, 1, 3]),
        (vec![9, 1], vec![1, 16]),
    ];
    let mut seed = 7u64;
    let (mut blocks, mut differ_from_reference) = (0usize, 0usize);
    for round in 0..40 {
        for u8 in [true, false] {
            let dtype = if u8 { DType::U8 } else { DType::I8 };
            let (dlo, dhi) = if u8 { (0, 255) } else { (-128, 127) };
            // scales k/255 with small k: exact ties are common
            let k = |seed: &mut u64| (1 + lcg(seed) % 9) as f32 / 255.0;
            let (s_a, s_b, s_out) = (k(&mut seed), k(&mut seed), k(&mut seed));
            let twice_max = 2.0 * s_a.max(s_b) as f64;
            let m = [
                Multiplier::from_real(s_a as f64 / twice_max),
                Multiplier::from_real(s_b as f64 / twice_max),
                Multiplier::from_real(twice_max / ((1i64 << 20) as f64 * s_out as f64)),
            ];
            let zp = |seed: &mut u64| dlo + (lcg(seed) % 256) as i32;
            let z = [zp(&mut seed), zp(&mut seed), zp(&mut seed)];
            let lo = if round % 2 == 0 { z[2].max(dlo) } else { dlo };
            let case = Case { m, z, lo, hi: dhi, u8 };
            for (sa, sb) in &shapes {
                let (sa, sb) = if round % 3 == 0 { (sb, sa) } else { (sa, sb) };
                let draw = |seed: &mut u64, s: &[usize]| -> Vec<i32> { (0..s.iter().product::<usize>()).map(|_| dlo + (lcg(seed) % 256) as i32).collect() };
                let (a, b) = (draw(&mut seed, sa), draw(&mut seed, sb));
                let arith = AddArith::LeftShift { left_shift: 20, z_a: z[0], z_b: z[1], m_a: m[0], m_b: m[1], m_out: m[2], rounding: Rounding::FixedPointDoubleRounding, sign_b: 1 };
                let neon = NeonBlocks::new(sa, sb, dtype, &arith);
                let p = Params { inputs: [0, 1], output: 2, broadcast: broadcast_of(sa, sb), activation: Activation::Relu, z_out: z[2], act_min: lo, act_max: dhi, output_dtype: dtype, arith, neon: neon.clone() };
                let va = narrow(dtype, sa, a.clone());
                let vb = narrow(dtype, sb, b.clone());
                let got = ints(&p.eval(&va, &vb).unwrap(), 2).unwrap();
                let reference = ints(&Params { neon: None, ..p.clone() }.eval(&va, &vb).unwrap(), 2).unwrap();
                match litert(&case, sa, &a, sb, &b) {
                    Some(want) => {
                        assert_eq!(got, want, "{dtype} {sa:?} + {sb:?} {m:?} {z:?}");
                        let n = neon.expect("five-fold: blocks");
                        blocks += (0..got.len()).filter(|&i| n.in_block(i)).count();
                    }
                    None => {
                        assert!(neon.is_none(), "generic broadcast: the reference kernel");
                        assert_eq!(got, reference);
                    }
                }
                differ_from_reference += got.iter().zip(&reference).filter(|(g, r)| g != r).count();
            }
        }
    }
    // the cases exercise both forms and the difference is real
    assert!(blocks > 10_000, "{blocks}");
    assert!(differ_from_reference > 0);
}
