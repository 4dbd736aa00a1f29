//! Moving elements without touching their values: the index maps behind
//! TRANSPOSE, GATHER, SLICE, SPLIT and SPLIT_V, and the broadcast pairing of
//! the binary transformer ops (MAXIMUM, SQUARED_DIFFERENCE, comparisons, …).
//!
//! Shapes are static, so each op computes once, in prepare, the list of
//! input positions its output elements come from (`src[i]` for output
//! element `i`); eval is then one pass of [`take`], whatever the dtype.

use super::strides;
use crate::error::EngineError;
use crate::tensor::{Data, Value};

/// `out[i] = data[src[i]]`, in the value's own dtype.
pub(crate) fn take(data: &Data, src: &[usize]) -> Data {
    fn pick<T: Copy>(v: &[T], src: &[usize]) -> Vec<T> {
        src.iter().map(|&i| v[i]).collect()
    }
    match data {
        Data::F32(v) => Data::F32(pick(v, src)),
        Data::I32(v) => Data::I32(pick(v, src)),
        Data::U8(v) => Data::U8(pick(v, src)),
        Data::I8(v) => Data::I8(pick(v, src)),
        Data::I16(v) => Data::I16(pick(v, src)),
        Data::I64(v) => Data::I64(pick(v, src)),
        Data::Bool(v) => Data::Bool(pick(v, src)),
    }
}

/// [`take`] into a value of `shape`, checking that every source index exists.
pub(crate) fn take_value(x: &Value, t: usize, src: &[usize], in_len: usize, shape: &[usize]) -> Result<Value, EngineError> {
    if x.len() != in_len {
        return Err(EngineError::BadInput(format!("tensor {t} has {} elements, expected {in_len}", x.len())));
    }
    Ok(Value { shape: shape.to_vec(), data: take(&x.data, src) })
}

/// The multi-index of flat position `i` in a row-major shape with strides `st`.
pub(crate) fn unravel(mut i: usize, st: &[usize], out: &mut [usize]) {
    for (d, &s) in st.iter().enumerate() {
        out[d] = i / s;
        i %= s;
    }
}

/// Output → input positions of a permutation of the axes (TRANSPOSE):
/// `out[j0, …] = in[…]` with output axis `d` being input axis `perm[d]`.
pub(crate) fn transpose_map(in_shape: &[usize], perm: &[usize]) -> Vec<usize> {
    let ist = strides(in_shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
    let ost = strides(&out_shape);
    let n: usize = out_shape.iter().product();
    let mut idx = vec![0; out_shape.len()];
    (0..n)
        .map(|i| {
            unravel(i, &ost, &mut idx);
            idx.iter().zip(perm).map(|(&k, &p)| k * ist[p]).sum()
        })
        .collect()
}

/// Output → input positions of a box `begin[d] .. begin[d] + size[d]` (SLICE, SPLIT).
pub(crate) fn box_map(in_shape: &[usize], begin: &[usize], size: &[usize]) -> Vec<usize> {
    let ist = strides(in_shape);
    let ost = strides(size);
    let n: usize = size.iter().product();
    let mut idx = vec![0; size.len()];
    (0..n)
        .map(|i| {
            unravel(i, &ost, &mut idx);
            idx.iter().zip(begin).zip(&ist).map(|((&k, &b), &s)| (k + b) * s).sum()
        })
        .collect()
}

/// For each output element of a broadcasting binary op, the positions in
/// its two inputs (numpy rules; shapes aligned at the right). The output
/// shape must be exactly the inputs' broadcast shape, as the runtimes compute
/// it (`CalculateShapeForBroadcast`): a file whose output tensor claims more
/// (a corrupted dimension of millions) is refused here, before this map of
/// one pair per output element is built.
pub(crate) fn broadcast_pairs(a: &[usize], b: &[usize], out: &[usize]) -> Option<Vec<(usize, usize)>> {
    let rank = out.len();
    // float16 (issue 11): found by malformed_corpus's bit flips (a NOT_EQUAL output of
    // [4194305, 12] from [1, 12] inputs took 4 s and 800 MB to be refused).
    let dim = |s: &[usize], d: usize| if d + s.len() >= rank { s[d + s.len() - rank] } else { 1 };
    if a.len() <= rank && b.len() <= rank && (0..rank).any(|d| dim(a, d) == 1 && dim(b, d) == 1 && out[d] != 1) {
        return None;
    }
    broadcast_to(a, b, out)
}

/// The numpy broadcast shape of several input shapes (aligned at the right),
/// or `None` when two dimensions differ and neither is 1. A kernel compares
/// it with its output tensor's shape before building any per-element map, so
/// a corrupted output dimension is refused at once (as the runtimes'
/// `CalculateShapeForBroadcast` does).
pub(crate) fn broadcast_shape(shapes: &[&[usize]]) -> Option<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for s in shapes {
        for (k, &d) in s.iter().enumerate() {
            let o = &mut out[rank - s.len() + k];
            match (*o, d) {
                (a, b) if a == b || b == 1 => {}
                (1, b) => *o = b,
                _ => return None,
            }
        }
    }
    Some(out)
}

/// For each element of `out`, the position in an input of shape `input`
/// broadcast to it (numpy rules).
pub(crate) fn broadcast_map(input: &[usize], out: &[usize]) -> Option<Vec<usize>> {
    broadcast_to(input, &[], out).map(|p| p.into_iter().map(|(i, _)| i).collect())
}

/// [`broadcast_pairs`] where `out` may also expand axes of size 1 in both inputs.
fn broadcast_to(a: &[usize], b: &[usize], out: &[usize]) -> Option<Vec<(usize, usize)>> {
    let rank = out.len();
    if a.len() > rank || b.len() > rank {
        return None;
    }
    let pad = |s: &[usize]| -> Vec<usize> {
        let mut v = vec![1; rank - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (pa, pb) = (pad(a), pad(b));
    let (sa, sb, so) = (strides(&pa), strides(&pb), strides(out));
    for d in 0..rank {
        if (pa[d] != out[d] && pa[d] != 1) || (pb[d] != out[d] && pb[d] != 1) {
            return None;
        }
    }
    let n: usize = out.iter().product();
    let mut idx = vec![0; rank];
    Some(
        (0..n)
            .map(|i| {
                unravel(i, &so, &mut idx);
                let mut ia = 0;
                let mut ib = 0;
                for d in 0..rank {
                    if pa[d] != 1 {
                        ia += idx[d] * sa[d];
                    }
                    if pb[d] != 1 {
                        ib += idx[d] * sb[d];
                    }
                }
                (ia, ib)
            })
            .collect(),
    )
}

/// The tensors of a one-input elementwise op: float32, or int8 with the
/// input's and output's (S, Z) (`(1, 0)` for float32).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unary {
    pub input: usize,
    pub output: usize,
    pub dtype: crate::model::DType,
    pub s_in: f32,
    pub z_in: i32,
    pub s_out: f32,
    pub z_out: i32,
}

impl Unary {
    /// Read input 0 and output 0: same dtype and element count, float32 or int8.
    pub(crate) fn read(ctx: &super::OpContext) -> Result<Unary, EngineError> {
        use crate::model::DType;
        let (input, output) = (ctx.input(0)?, ctx.output(0)?);
        ctx.require_same(input, output, false)?;
        super::same_element_count(ctx, input, output)?;
        let dtype = ctx.dtype(input);
        let ((s_in, z_in), (s_out, z_out)) = match dtype {
            DType::F32 => ((1.0, 0), (1.0, 0)),
            DType::I8 => (ctx.per_tensor_quant(input, "input")?, ctx.per_tensor_quant(output, "output")?),
            other => return Err(ctx.unsupported(format!("dtype {other} (int8 and float32 are supported)"))),
        };
        Ok(Unary { input, output, dtype, s_in, z_in, s_out, z_out })
    }
}

/// The elements of a value as f32, or an error naming the tensor.
pub(crate) fn f32s(v: &Value, t: usize) -> Result<&[f32], EngineError> {
    v.as_f32().ok_or_else(|| EngineError::BadInput(format!("tensor {t} is {} where float32 was expected", v.dtype())))
}

/// The elements of a value as bools, or an error naming the tensor.
pub(crate) fn bools(v: &Value, t: usize) -> Result<&[bool], EngineError> {
    match &v.data {
        Data::Bool(b) => Ok(b),
        _ => Err(EngineError::BadInput(format!("tensor {t} is {} where bool was expected", v.dtype()))),
    }
}

/// A normalized axis in `0..rank` from a possibly negative one.
pub(crate) fn axis(a: i32, rank: usize) -> Option<usize> {
    let r = if a < 0 { a + rank as i32 } else { a };
    (r >= 0 && (r as usize) < rank.max(1)).then_some(r as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_shape_follows_numpy() {
        assert_eq!(broadcast_shape(&[&[1, 28], &[4, 1], &[28]]), Some(vec![4, 28]));
        assert_eq!(broadcast_shape(&[&[3], &[4]]), None);
        // A corrupt output such as [1048576, 28] is not what [1, 28] and [28] broadcast to.
        assert_ne!(broadcast_shape(&[&[1, 28], &[28]]).as_deref(), Some(&[1048576usize, 28][..]));
    }

    #[test]
    fn transpose_of_a_matrix_swaps_rows_and_columns() {
        // [[0,1,2],[3,4,5]]ᵀ = [[0,3],[1,4],[2,5]]
        assert_eq!(transpose_map(&[2, 3], &[1, 0]), vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn box_and_broadcast() {
        assert_eq!(box_map(&[3, 4], &[1, 2], &[2, 2]), vec![6, 7, 10, 11]);
        let p = broadcast_pairs(&[2, 1], &[3], &[2, 3]).unwrap();
        assert_eq!(p, vec![(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
        assert!(broadcast_pairs(&[2], &[3], &[3]).is_none());
        // An output larger than the inputs' broadcast shape is refused; broadcast_map expands.
        assert!(broadcast_pairs(&[1, 12], &[12], &[4_194_305, 12]).is_none());
        assert_eq!(broadcast_map(&[1, 2], &[2, 2]), Some(vec![0, 1, 0, 1]));
    }
}
