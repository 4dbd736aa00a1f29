//! The broadcast of a binary op walked row by row, without the per-element
//! division of [`Broadcast::map`]: the innermost output dimension is a row,
//! contiguous or repeated in each input; the outer ones are counted like an
//! odometer.

use crate::ops::add::Broadcast;

/// Highest rank [`for_each_row`] counts without allocating.
pub const MAX_RANK: usize = 8;

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

/// Elements of one sample of each input: the product of the output
/// dimensions along which that input is not broadcast.
pub fn operand_sizes(b: &Broadcast) -> (usize, usize) {
    let size = |strides: &[usize]| b.output_shape.iter().zip(strides).map(|(&d, &s)| if s == 0 { 1 } else { d }).product();
    (size(&b.a_strides), size(&b.b_strides))
}
