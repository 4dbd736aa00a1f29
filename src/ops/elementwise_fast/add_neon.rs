//! The outputs-only ADD of the `tflite-builtin` profile: LiteRT's optimized
//! 8-bit ADD, whose kernel calls compute their full blocks with the NEON
//! arithmetic and their tails with the reference formula
//! ([`crate::ops::add::NeonBlocks`], [`crate::profile::Profile::add_blocks`]).
//!
//! Each broadcast row ([`super::rows::for_each_row`]) is cut where the
//! output position crosses a kernel call's block/tail boundary
//! (`i mod run` against `vector_len`); every piece then runs the row loop
//! of [`super::binary`] with one form throughout, a closure whose arithmetic
//! is fixed, so it vectorises like the other ADD forms:
//!
//! * blocks: the inputs' high-mul `SRDHM(x·2^L, M0)` exact in i32 lanes
//!   ([`fixed::shifted`]; `L = 20` then a truncating shift, or `L = 20 + shift`
//!   for int8 elementwise), the sum's `RoundingDivideByPOT(SRDHM(sum, M0_out))`,
//!   the 16-bit narrowing and offset of `vmovn`/`vaddq_s16`, the saturation
//!   and the activation clamp; outside the range where the i32-lane high-mul
//!   is exact, [`NeonBlocks::element`] itself;
//! * tails: the reference double rounding in i32 lanes ([`binary::AddFixed`]),
//!   or [`add::Params::element`].

use super::binary::{add_fixed, broadcast_all, row, AddFixed, Q8};
use super::fixed::{self, Shifted};
use super::{i8_buffer, u8_buffer, Lanes};
use crate::ops::add::{self, BlockForm, NeonBlocks};
use crate::ops::KernelPath;
use crate::tensor::{Data, Value};

/// ADD into `out` with `n`'s blocks; `false` when the buffers are not whole samples.
pub(super) fn add_neon_into(path: KernelPath, p: &add::Params, n: &NeonBlocks, x: &Value, y: &Value, out: &mut Value) -> bool {
    let lanes = Lanes::of(path);
    let (z_out, lo, hi) = (p.z_out, p.act_min, p.act_max);
    macro_rules! with_tail {
        ($block:expr) => {{
            let block = $block;
            match AddFixed::of(p, x.dtype()) {
                Some(k) => run(lanes, n, x, y, out, &p.broadcast, block, #[inline(always)] move |a, b| add_fixed(a, b, &k)),
                None => run(lanes, n, x, y, out, &p.broadcast, block, move |a, b| p.element(a, b)),
            }
        }};
    }
    let fast = BlockLanes::of(n, z_out, lo, hi);
    match fast {
        Some(k) => with_tail!(move |a, b| k.element(a, b)),
        None => with_tail!(move |a, b| n.element(a, b, z_out).clamp(lo, hi)),
    }
}

/// Both 8-bit dtypes: the rows cut at the block/tail boundaries.
#[allow(clippy::too_many_arguments)]
fn run<B, R>(lanes: Lanes, n: &NeonBlocks, x: &Value, y: &Value, out: &mut Value, bc: &add::Broadcast, block: B, tail: R) -> bool
where
    B: Fn(i32, i32) -> i32 + Copy,
    R: Fn(i32, i32) -> i32 + Copy,
{
    match (&x.data, &y.data) {
        (Data::I8(xs), Data::I8(ys)) => broadcast_all(bc, xs, ys, i8_buffer(out), |o0, a, sa, b, sb, o| pieces(lanes, n, o0, a, sa, b, sb, o, block, tail)),
        (Data::U8(xs), Data::U8(ys)) => broadcast_all(bc, xs, ys, u8_buffer(out), |o0, a, sa, b, sb, o| pieces(lanes, n, o0, a, sa, b, sb, o, block, tail)),
        _ => false,
    }
}

/// One broadcast row starting at output element `o0`, in pieces that lie
/// wholly in blocks or wholly in a tail.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pieces<T: Q8, B, R>(lanes: Lanes, n: &NeonBlocks, o0: usize, a: &[T], sa: usize, b: &[T], sb: usize, o: &mut [T], block: B, tail: R)
where
    B: Fn(i32, i32) -> i32 + Copy,
    R: Fn(i32, i32) -> i32 + Copy,
{
    let mut k = 0;
    while k < o.len() {
        let pos = (o0 + k) % n.run;
        let (in_block, left) = if pos < n.vector_len { (true, n.vector_len - pos) } else { (false, n.run - pos) };
        let m = left.min(o.len() - k);
        let (a, b, piece) = (&a[k * sa..], &b[k * sb..], &mut o[k..k + m]);
        if in_block {
            row(lanes, a, sa, b, sb, piece, block);
        } else {
            row(lanes, a, sa, b, sb, piece, tail);
        }
        k += m;
    }
}

/// A block element's constants in the i32-lane form.
#[derive(Clone, Copy)]
struct BlockLanes {
    z_a: i32,
    z_b: i32,
    ka: Shifted,
    kb: Shifted,
    /// The truncating right shifts (0 for the folded form).
    ra: u32,
    rb: u32,
    m0: i32,
    ro: u32,
    z_out: i32,
    dmin: i32,
    dmax: i32,
    lo: i32,
    hi: i32,
}

impl BlockLanes {
    /// `None` when a high-mul's shift is outside what [`Shifted`] takes
    /// exactly, a zero point is outside the dtype, or `M0_out < 0`.
    fn of(n: &NeonBlocks, z_out: i32, lo: i32, hi: i32) -> Option<BlockLanes> {
        let in_range = |z: i32| (n.dtype_min..=n.dtype_max).contains(&z);
        if !in_range(n.z_a) || !in_range(n.z_b) || n.m_out.m0 < 0 || n.m_a.shift > 0 || n.m_b.shift > 0 || n.offset_in_32_bits {
            return None;
        }
        let (ka, kb, ra, rb) = match n.form {
            BlockForm::TruncatingShift => {
                (Shifted::new(n.m_a.m0, n.left_shift)?, Shifted::new(n.m_b.m0, n.left_shift)?, (-n.m_a.shift).min(31) as u32, (-n.m_b.shift).min(31) as u32)
            }
            BlockForm::FoldedShift => (Shifted::new(n.m_a.m0, n.left_shift + n.m_a.shift)?, Shifted::new(n.m_b.m0, n.left_shift + n.m_b.shift)?, 0, 0),
        };
        let ro = (-n.m_out.shift).clamp(0, 31) as u32;
        Some(BlockLanes { z_a: n.z_a, z_b: n.z_b, ka, kb, ra, rb, m0: n.m_out.m0, ro, z_out, dmin: n.dtype_min, dmax: n.dtype_max, lo, hi })
    }

    /// [`NeonBlocks::element`] then the activation clamp, in i32 lanes.
    #[inline(always)]
    fn element(&self, a: i32, b: i32) -> i32 {
        let sa = fixed::shifted(a - self.z_a, self.ka) >> self.ra;
        let sb = fixed::shifted(b - self.z_b, self.kb) >> self.rb;
        let s = fixed::rdbp(fixed::srdhm(sa.wrapping_add(sb), self.m0), self.ro);
        let s16 = (s as i16).wrapping_add(self.z_out as i16) as i32;
        s16.clamp(self.dmin, self.dmax).clamp(self.lo, self.hi)
    }
}

