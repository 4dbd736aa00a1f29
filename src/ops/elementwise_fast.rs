//! The outputs-only forms of the int8/uint8 element-wise ops and MEAN: the
//! same arithmetic as their reference `eval`, written into the output's
//! buffer (no allocation once the workspace is warm).
//!
//! * **One-input element-wise ops** (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU,
//!   RELU…): an 8-bit input has 256 values, so the op *is* a 256-entry table.
//!   [`Lut::probe`] builds it by running the op's own reference kernel once
//!   on the 256 values; the run is then one load per element. The bits are
//!   the reference kernel's by construction.
//! * **ADD, SUB, MUL**: the reference kernel's `element` function in a
//!   tight loop over the broadcast in rows ([`for_each_row`]): the innermost
//!   dimension is contiguous or repeated, the outer ones counted like an
//!   odometer, without the per-element division of [`Broadcast::map`].
//! * **MAX_POOL_2D, AVERAGE_POOL_2D**: [`pool_into`], a channel row at a time.
//! * **MEAN**: the int32 sums into a reused buffer, then the kernel's own
//!   [`mean::Params::finish`] per output. Wrapping int32 addition is
//!   associative, so summing over (H, W) channel by channel in memory order
//!   gives the reference's sums.

use super::add::{self, Broadcast};
use super::pool::{self, Pooling};
use super::{average_pool, mean, mul};
use crate::error::EngineError;
use crate::model::DType;
use crate::profile::Rounding;
use crate::tensor::{Data, Value};

/// A one-input element-wise op on 8-bit integers as its table.
#[derive(Clone, Debug)]
pub struct Lut {
    /// `table[x as u8 as usize]`: the output bits of input `x`.
    table: [u8; 256],
    dtype: DType,
}

impl Lut {
    /// Run `eval` (the op's reference kernel) on the 256 values of `dtype`
    /// (int8 or uint8) and keep its outputs as the table; `None` when the op
    /// does not map 8-bit values to 8-bit values of the same dtype one to one.
    pub fn probe(dtype: DType, eval: impl FnOnce(&Value) -> Result<Value, EngineError>) -> Option<Lut> {
        let probe = match dtype {
            DType::I8 => Data::I8((-128..=127).collect()),
            DType::U8 => Data::U8((0..=255).collect()),
            _ => return None,
        };
        let y = eval(&Value { shape: vec![256], data: probe }).ok()?;
        let mut table = [0u8; 256];
        match (&y.data, dtype) {
            (Data::I8(v), DType::I8) if v.len() == 256 => {
                for (k, &q) in v.iter().enumerate() {
                    table[(k as i32 - 128) as i8 as u8 as usize] = q as u8;
                }
            }
            (Data::U8(v), DType::U8) if v.len() == 256 => table.copy_from_slice(v),
            _ => return None,
        }
        Some(Lut { table, dtype })
    }

    /// `out ← table[x]` element by element.
    pub fn apply(&self, x: &Value, out: &mut Value) -> Result<(), EngineError> {
        let t = &self.table;
        match (&x.data, self.dtype) {
            (Data::I8(v), DType::I8) => {
                let o = i8_buffer(out);
                o.clear();
                o.extend(v.iter().map(|&q| t[q as u8 as usize] as i8));
            }
            (Data::U8(v), DType::U8) => {
                let o = u8_buffer(out);
                o.clear();
                o.extend(v.iter().map(|&q| t[q as usize]));
            }
            _ => return Err(EngineError::BadInput(format!("a {} table op got {} data", self.dtype, x.dtype()))),
        }
        Ok(())
    }
}

/// `out`'s data as a buffer of one 8-bit type (replacing another dtype's):
/// `i8_buffer`, `u8_buffer`.
macro_rules! buffer {
    ($name:ident, $variant:ident, $t:ty) => {
        fn $name(out: &mut Value) -> &mut Vec<$t> {
            if !matches!(out.data, Data::$variant(_)) {
                out.data = Data::$variant(Vec::new());
            }
            match &mut out.data {
                Data::$variant(v) => v,
                _ => unreachable!("set above"),
            }
        }
    };
}
buffer!(i8_buffer, I8, i8);
buffer!(u8_buffer, U8, u8);

/// Highest rank [`for_each_row`] counts without allocating.
const MAX_RANK: usize = 8;

/// Visit the broadcast row by row (a row = the innermost output dimension):
/// `f(out_start, a_start, b_start, a_step, b_step, len)`, the steps being 1
/// (contiguous) or 0 (repeated). `false` when the rank exceeds [`MAX_RANK`].
pub fn for_each_row(b: &Broadcast, mut f: impl FnMut(usize, usize, usize, usize, usize, usize)) -> bool {
    let shape = &b.output_shape;
    let rank = shape.len();
    if rank > MAX_RANK {
        return false;
    }
    let n: usize = shape.iter().product();
    if rank == 0 || b.same_shape {
        f(0, 0, 0, 1, 1, n);
        return true;
    }
    let len = shape[rank - 1];
    if len == 0 || n == 0 {
        return true;
    }
    let (sa, sb) = (b.a_strides[rank - 1], b.b_strides[rank - 1]);
    let mut idx = [0usize; MAX_RANK];
    let (mut ia, mut ib) = (0usize, 0usize);
    let mut o = 0;
    while o < n {
        f(o, ia, ib, sa, sb, len);
        o += len;
        // Odometer over the outer dimensions.
        let mut d = rank - 1;
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            ia += b.a_strides[d];
            ib += b.b_strides[d];
            if idx[d] < shape[d] {
                break;
            }
            ia -= b.a_strides[d] * shape[d];
            ib -= b.b_strides[d] * shape[d];
            idx[d] = 0;
        }
    }
    true
}

/// `out ← element(a, b)` over the broadcast, for int8 or uint8 operands and
/// output of the same dtype. `false` (nothing written) for other dtypes.
fn binary(b: &Broadcast, x: &Value, y: &Value, out: &mut Value, element: impl Fn(i32, i32) -> i32) -> bool {
    macro_rules! run {
        ($xs:expr, $ys:expr, $buf:expr, $t:ty) => {{
            let (xs, ys) = ($xs, $ys);
            let n: usize = b.output_shape.iter().product();
            let o = $buf;
            o.clear();
            o.resize(n, 0);
            for_each_row(b, |o0, a0, b0, sa, sb, len| {
                let row = &mut o[o0..o0 + len];
                if sa == 1 && sb == 1 {
                    for ((r, &p), &q) in row.iter_mut().zip(&xs[a0..a0 + len]).zip(&ys[b0..b0 + len]) {
                        *r = element(p as i32, q as i32) as $t;
                    }
                } else {
                    for (k, r) in row.iter_mut().enumerate() {
                        *r = element(xs[a0 + k * sa] as i32, ys[b0 + k * sb] as i32) as $t;
                    }
                }
            })
        }};
    }
    match (&x.data, &y.data) {
        (Data::I8(xs), Data::I8(ys)) => run!(xs, ys, i8_buffer(out), i8),
        (Data::U8(xs), Data::U8(ys)) => run!(xs, ys, u8_buffer(out), u8),
        _ => false,
    }
}

/// ADD or SUB into `out`; `false` when this form does not apply (then the
/// reference `eval` runs).
pub fn add_into(p: &add::Params, x: &Value, y: &Value, out: &mut Value) -> bool {
    x.dtype() == p.output_dtype && binary(&p.broadcast, x, y, out, |a, b| p.element(a, b))
}

/// MUL into `out`; `false` when this form does not apply. The rounding is
/// chosen once, outside the loop: each arm calls [`Rounding::apply`] on a
/// constant variant, so the compiler inlines that variant's arithmetic alone
/// (the same function [`mul::Params::element`] calls).
pub fn mul_into(p: &mul::Params, x: &Value, y: &Value, out: &mut Value) -> bool {
    if x.dtype() != p.output_dtype {
        return false;
    }
    let (z_a, z_b, z_out, lo, hi, m) = (p.z_a, p.z_b, p.z_out as i64, p.act_min as i64, p.act_max as i64, &p.multiplier);
    macro_rules! with {
        ($r:expr) => {
            binary(&p.broadcast, x, y, out, |a, b| {
                let prod = (a - z_a).wrapping_mul(b - z_b);
                ($r.apply(prod, m) as i64 + z_out).clamp(lo, hi) as i32
            })
        };
    }
    match p.rounding {
        Rounding::DoubleHalfAway => with!(Rounding::DoubleHalfAway),
        Rounding::FixedPointDoubleRounding => with!(Rounding::FixedPointDoubleRounding),
        Rounding::FixedPointSingleRounding => with!(Rounding::FixedPointSingleRounding),
        Rounding::FixedPointTiesUp => with!(Rounding::FixedPointTiesUp),
        Rounding::Float32HalfEven => with!(Rounding::Float32HalfEven),
    }
}

/// MEAN over the middle two axes of an NHWC int8 tensor (the global average
/// pool of MobileNet and EfficientNet) into `out`, with `sums` as scratch;
/// `false` for any other reduction (then the reference `eval` runs).
pub fn mean_into(p: &mean::Params, x: &Value, out: &mut Value, sums: &mut Vec<i32>) -> bool {
    let (Data::I8(xs), DType::I8) = (&x.data, p.output_dtype) else { return false };
    if p.input_shape.len() != 4 || p.reduced != [false, true, true, false] {
        return false;
    }
    let (batches, hw, c) = (p.input_shape[0], p.input_shape[1] * p.input_shape[2], p.input_shape[3]);
    if xs.len() != batches * hw * c {
        return false;
    }
    sums.clear();
    sums.resize(batches * c, 0);
    for (bi, image) in xs.chunks_exact(hw * c.max(1)).enumerate() {
        let acc = &mut sums[bi * c..(bi + 1) * c];
        for pixel in image.chunks_exact(c.max(1)) {
            for (s, &v) in acc.iter_mut().zip(pixel) {
                *s = s.wrapping_add(v as i32);
            }
        }
    }
    let o = i8_buffer(out);
    o.clear();
    o.extend(sums.iter().enumerate().map(|(j, &s)| p.finish(j, s) as i8));
    true
}

/// MAX_POOL_2D or AVERAGE_POOL_2D on int8/uint8 into `out`, channel rows
/// at a time (`acc` is scratch): per output pixel, the window's input pixels
/// are visited in the reference order and each of their channels added to
/// (or maxed into) its accumulator. Integer sums of 8-bit values cannot
/// overflow here, so the result is the reference's. `false` when the form
/// does not apply or a window is empty (the reference then runs, and names the error).
pub fn pool_into(p: &pool::Params, x: &Value, out: &mut Value, acc: &mut Vec<i32>) -> bool {
    let g = &p.geometry;
    let c = g.in_c;
    if g.out_c != c || c == 0 {
        return false;
    }
    macro_rules! run {
        ($xs:expr, $buf:expr, $t:ty) => {{
            let xs = $xs;
            if xs.len() != g.batches * g.in_h * g.in_w * c {
                return false;
            }
            let o = $buf;
            o.clear();
            o.reserve(g.out_len());
            acc.resize(c, 0);
            for b in 0..g.batches {
                for oy in 0..g.out_h {
                    for ox in 0..g.out_w {
                        let init = if p.pooling == Pooling::Max { i32::MIN } else { 0 };
                        acc.iter_mut().for_each(|a| *a = init);
                        let mut count = 0i32;
                        for (_, _, iy, ix) in g.inside(oy, ox) {
                            let start = g.in_index(b, iy, ix, 0);
                            let pixel = &xs[start..start + c];
                            if p.pooling == Pooling::Max {
                                acc.iter_mut().zip(pixel).for_each(|(a, &v)| *a = (*a).max(v as i32));
                            } else {
                                acc.iter_mut().zip(pixel).for_each(|(a, &v)| *a += v as i32);
                            }
                            count += 1;
                        }
                        if p.pooling == Pooling::Average {
                            if count == 0 {
                                return false;
                            }
                            o.extend(acc.iter().map(|&s| average_pool::rounded_mean(s, count).clamp(p.act_min, p.act_max) as $t));
                        } else {
                            o.extend(acc.iter().map(|&m| m.clamp(p.act_min, p.act_max) as $t));
                        }
                    }
                }
            }
            true
        }};
    }
    match (&x.data, p.output_dtype) {
        (Data::I8(xs), DType::I8) => run!(xs, i8_buffer(out), i8),
        (Data::U8(xs), DType::U8) => run!(xs, u8_buffer(out), u8),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bc(a: &[usize], b: &[usize], o: &[usize]) -> Broadcast {
        let st = |s: &[usize]| super::super::strides(s);
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

    fn values(seed: &mut u64, shape: &[usize]) -> Value {
        let n: usize = shape.iter().product();
        Value { shape: shape.to_vec(), data: Data::I8((0..n).map(|_| super::super::testkit::lcg(seed) as u8 as i8).collect()) }
    }

    /// ADD (both recipes, every rounding), SUB and MUL (every rounding), same
    /// shape and broadcast: the fast form writes the reference `eval`'s bits.
    #[test]
    fn binary_ops_equal_the_reference() {
        use crate::model::Activation;
        use crate::profile::{Multiplier, Rounding};
        let mut seed = 7u64;
        let shapes: [(&[usize], &[usize], &[usize]); 3] =
            [(&[1, 5, 5, 24], &[1, 5, 5, 24], &[1, 5, 5, 24]), (&[1, 4, 4, 16], &[1, 1, 1, 16], &[1, 4, 4, 16]), (&[1, 1, 1, 16], &[1, 4, 4, 16], &[1, 4, 4, 16])];
        for (sa, sb, so) in shapes {
            let broadcast = bc(sa, sb, so);
            let (x, y) = (values(&mut seed, sa), values(&mut seed, sb));
            let mut ariths: Vec<add::AddArith> = Rounding::ALL
                .iter()
                .flat_map(|&rounding| {
                    [1, -1].map(|sign_b| add::AddArith::LeftShift {
                        left_shift: 20,
                        z_a: -3,
                        z_b: 11,
                        m_a: Multiplier::from_real(0.43),
                        m_b: Multiplier::from_real(0.5),
                        m_out: Multiplier::from_real(1.7e-6),
                        rounding,
                        sign_b,
                    })
                })
                .collect();
            let (m_a, m_b, bias, shift) = add::xnnpack_add_multipliers(0.81, -1.13, -3, 11);
            ariths.push(add::AddArith::Xnnpack { m_a, m_b, bias, shift });
            for arith in ariths {
                let p = add::Params {
                    inputs: [0, 1],
                    output: 2,
                    broadcast: broadcast.clone(),
                    activation: Activation::Relu,
                    z_out: -5,
                    act_min: -5,
                    act_max: 127,
                    output_dtype: DType::I8,
                    arith,
                };
                let mut out = Value { shape: so.to_vec(), data: Data::I32(Vec::new()) };
                assert!(add_into(&p, &x, &y, &mut out));
                assert_eq!(out.data, p.eval(&x, &y).unwrap().data, "ADD {:?} {sa:?} {sb:?}", p.arith);
            }
            for rounding in Rounding::ALL {
                let p = mul::Params {
                    inputs: [0, 1],
                    output: 2,
                    broadcast: broadcast.clone(),
                    activation: Activation::None,
                    z_a: 4,
                    z_b: -128,
                    z_out: 9,
                    multiplier: Multiplier::from_real(0.0123),
                    rounding,
                    act_min: -128,
                    act_max: 127,
                    output_dtype: DType::I8,
                };
                let mut out = Value { shape: so.to_vec(), data: Data::I8(vec![1; 3]) };
                assert!(mul_into(&p, &x, &y, &mut out));
                assert_eq!(out.data, p.eval(&x, &y).unwrap().data, "MUL {rounding:?} {sa:?} {sb:?}");
            }
        }
    }

    /// MEAN over (H, W) in every method: the fast sums and the kernel's own
    /// finish give the reference `eval`'s bits.
    #[test]
    fn mean_equals_the_reference() {
        use crate::ops::mean::MeanArith;
        use crate::profile::{Multiplier, Rounding};
        let mut seed = 11u64;
        let shape = [1usize, 7, 7, 40];
        let x = values(&mut seed, &shape);
        let count = 49;
        let mut ariths: Vec<MeanArith> = Rounding::ALL
            .iter()
            .map(|&rounding| MeanArith::Integer { multiplier: super::super::mean::folded_multiplier(0.05, 0.02, count), rounding })
            .collect();
        ariths.push(MeanArith::Float { scale: (0.05f32 / 0.02) * (1.0 / count as f32), zero_point: 3.0 - (count as f32 * -7.0) * ((0.05f32 / 0.02) / count as f32) });
        ariths.push(MeanArith::BiasedSum { multiplier: Multiplier::from_real(0.05 / (49.0 * 0.02)), bias: 20, depth: 40, vector_channels: 32 });
        for arith in ariths {
            let p = mean::Params {
                input: 0,
                output: 1,
                input_shape: shape.to_vec(),
                reduced: vec![false, true, true, false],
                count,
                z_in: -7,
                z_out: 3,
                arith,
                output_shape: vec![1, 1, 1, 40],
                output_dtype: DType::I8,
            };
            let (mut out, mut sums) = (Value { shape: vec![1, 1, 1, 40], data: Data::I8(Vec::new()) }, Vec::new());
            assert!(mean_into(&p, &x, &mut out, &mut sums));
            assert_eq!(out.data, p.eval(&x).unwrap().data, "{:?}", p.arith);
        }
    }

    /// A table probed from a one-input op applies as the op does.
    #[test]
    fn lut_equals_the_op() {
        let op = |v: &Value| -> Result<Value, EngineError> {
            let Data::I8(x) = &v.data else { unreachable!() };
            Ok(Value { shape: v.shape.clone(), data: Data::I8(x.iter().map(|&q| (q as i32 * 3 / 2 - 7).clamp(-128, 127) as i8).collect()) })
        };
        let lut = Lut::probe(DType::I8, op).unwrap();
        let mut seed = 3u64;
        let x = values(&mut seed, &[1, 9, 9, 8]);
        let mut out = Value { shape: vec![1, 9, 9, 8], data: Data::I32(vec![]) };
        lut.apply(&x, &mut out).unwrap();
        assert_eq!(out.data, op(&x).unwrap().data);
        assert!(Lut::probe(DType::I16, op).is_none());
    }

    /// Max and average pools, SAME and VALID, strides 1 and 2, with a fused
    /// clamp: the fast form writes the reference `eval`'s bits.
    #[test]
    fn pools_equal_the_reference() {
        use crate::model::Padding;
        let mut seed = 5u64;
        for pooling in [Pooling::Max, Pooling::Average] {
            for padding in [Padding::Same, Padding::Valid] {
                for (k, stride) in [((3, 3), (1, 1)), ((2, 2), (2, 2)), ((3, 2), (2, 1))] {
                    let geometry = super::super::testkit::geometry(2, (7, 6, 12), 12, k, stride, (1, 1), padding);
                    let shape = [2, 7, 6, 12];
                    let x = values(&mut seed, &shape);
                    let output_shape = vec![2, geometry.out_h, geometry.out_w, 12];
                    let p = pool::Params { pooling, input: 0, output: 1, geometry, padding, act_min: -100, act_max: 90, output_dtype: DType::I8, output_shape };
                    let (mut out, mut acc) = (Value { shape: p.output_shape.clone(), data: Data::I8(Vec::new()) }, Vec::new());
                    assert!(pool_into(&p, &x, &mut out, &mut acc));
                    assert_eq!(out.data, p.eval(&x).unwrap().data, "{pooling:?} {padding:?} {k:?} {stride:?}");
                }
            }
        }
    }
}
