//! CONCATENATION and PAD as copies: no per-element index arithmetic, no
//! allocation once the output buffer has grown, every sample in the buffers.
//!
//! * **CONCATENATION** of inputs that share the output's (S, Z) (every
//!   int8 model; uint8 inputs with their own scale keep the reference's f32
//!   requantization): for each outer index, each input's slice of
//!   `dim[axis]·inner` elements is one `memcpy`.
//! * **PAD**: the output is filled with the pad value, then each innermost
//!   row of the input is one `memcpy` to its place, the outer input indices
//!   counted like an odometer.

use super::samples;
use crate::ops::{concatenation, pad};
use crate::tensor::{Data, Value};

/// `out`'s data as a `Vec` of the variant `$v` (replacing another dtype's).
macro_rules! vec_of {
    ($out:expr, $v:ident) => {{
        if !matches!($out.data, Data::$v(_)) {
            $out.data = Data::$v(Vec::new());
        }
        match &mut $out.data {
            Data::$v(v) => v,
            _ => unreachable!("set above"),
        }
    }};
}

/// CONCATENATION into `out` when every input is copied unchanged or (uint8)
/// mapped through its rescale's table ([`concatenation::Rescale::table`]);
/// `get(tensor)` gives a run-time input's value. `false` when the form does
/// not apply (a requantized input not uint8, a dtype mismatch, a length
/// that is not whole samples): then the reference runs.
pub fn concat_into<'a>(p: &'a concatenation::Params, get: impl Fn(usize) -> Option<&'a Value>, out: &mut Value) -> bool {
    if p.inputs.len() > MAX_INPUTS || (p.rescale.iter().any(Option::is_some) && p.output_dtype != crate::model::DType::U8) {
        return false;
    }
    let mut vals: [Option<&Value>; MAX_INPUTS] = [None; MAX_INPUTS];
    for (k, (&t, c)) in p.inputs.iter().zip(&p.constants).enumerate() {
        vals[k] = c.as_ref().or_else(|| get(t));
        if vals[k].is_none() {
            return false;
        }
    }
    let vals = &vals[..p.inputs.len()];
    let per_out: usize = p.outer * p.chunk.iter().sum::<usize>();
    // Samples per input: run-time inputs hold `rows`, constants one.
    let mut rows = 1;
    for (v, &ch) in vals.iter().zip(&p.chunk) {
        match samples(v.map_or(0, Value::len), p.outer * ch) {
            Some(r) if r == 1 || rows == 1 || r == rows => rows = rows.max(r),
            _ => return false,
        }
    }
    macro_rules! run {
        ($v:ident) => {{
            let mut srcs: [&[_]; MAX_INPUTS] = [&[]; MAX_INPUTS];
            for (k, v) in vals.iter().enumerate() {
                match v.map(|v| &v.data) {
                    Some(Data::$v(s)) => srcs[k] = s,
                    _ => return false,
                }
            }
            let o = vec_of!(out, $v);
            o.clear();
            o.reserve(rows * per_out);
            for s in 0..rows {
                for outer in 0..p.outer {
                    for (src, &ch) in srcs.iter().zip(&p.chunk) {
                        let sample = if src.len() == p.outer * ch { 0 } else { s };
                        let start = (sample * p.outer + outer) * ch;
                        o.extend_from_slice(&src[start..start + ch]);
                    }
                }
            }
            true
        }};
        // uint8 inputs on other scales: mapped through their rescale tables.
        (U8 rescaled) => {{
            let mut srcs: [(&[u8], Option<&[u8; 256]>); MAX_INPUTS] = [(&[], None); MAX_INPUTS];
            for (k, v) in vals.iter().enumerate() {
                match v.map(|v| &v.data) {
                    Some(Data::U8(s)) => srcs[k] = (s, p.rescale[k].as_ref().map(|r| &r.table)),
                    _ => return false,
                }
            }
            let o = vec_of!(out, U8);
            o.clear();
            o.reserve(rows * per_out);
            for s in 0..rows {
                for outer in 0..p.outer {
                    for (&(src, table), &ch) in srcs.iter().zip(&p.chunk) {
                        let sample = if src.len() == p.outer * ch { 0 } else { s };
                        let start = (sample * p.outer + outer) * ch;
                        match table {
                            Some(t) => o.extend(src[start..start + ch].iter().map(|&q| t[q as usize])),
                            None => o.extend_from_slice(&src[start..start + ch]),
                        }
                    }
                }
            }
            true
        }};
    }
    if p.rescale.iter().any(Option::is_some) {
        return run!(U8 rescaled);
    }
    match p.output_dtype {
        crate::model::DType::I8 => run!(I8),
        crate::model::DType::U8 => run!(U8),
        crate::model::DType::I32 => run!(I32),
        crate::model::DType::F32 => run!(F32),
        crate::model::DType::I16 => run!(I16),
        _ => false,
    }
}

/// Inputs [`concat_into`] takes without allocating (more run the reference).
const MAX_INPUTS: usize = 16;

/// Highest rank [`pad_into`] counts without allocating.
const MAX_RANK: usize = 8;

/// PAD into `out` (every sample in `x`); `false` when the form does not apply.
pub fn pad_into(p: &pad::Params, x: &Value, out: &mut Value) -> bool {
    let rank = p.input_shape.len();
    if rank == 0 || rank > MAX_RANK || p.output_shape.len() != rank || p.paddings.len() != rank {
        return false;
    }
    let per_in: usize = p.input_shape.iter().product();
    let per_out: usize = p.output_shape.iter().product();
    let Some(rows) = samples(x.len(), per_in) else { return false };
    macro_rules! run {
        ($v:ident, $fill:expr) => {{
            let Data::$v(xs) = &x.data else { return false };
            let o = vec_of!(out, $v);
            o.clear();
            o.resize(rows * per_out, $fill);
            for (src, dst) in xs.chunks_exact(per_in).zip(o.chunks_exact_mut(per_out)) {
                place(p, src, dst);
            }
            true
        }};
    }
    match (&x.data, p.output_dtype) {
        (Data::F32(_), _) => run!(F32, 0.0),
        (Data::I8(_), crate::model::DType::I8) => run!(I8, p.pad_value as i8),
        (Data::I16(_), crate::model::DType::I16) => run!(I16, p.pad_value as i16),
        _ => false,
    }
}

/// Copy one sample's innermost rows to their padded places.
fn place<T: Copy>(p: &pad::Params, src: &[T], dst: &mut [T]) {
    let rank = p.input_shape.len();
    let (ins, outs) = (&p.input_shape, &p.output_shape);
    let len = ins[rank - 1];
    if len == 0 || src.is_empty() {
        return;
    }
    // Output strides, and the offset of the input's first element.
    let mut ostride = [0usize; MAX_RANK];
    let mut s = 1;
    for d in (0..rank).rev() {
        ostride[d] = s;
        s *= outs[d];
    }
    let base: usize = (0..rank).map(|d| p.paddings[d].0 * ostride[d]).sum();
    let mut idx = [0usize; MAX_RANK];
    let mut o = base;
    for row in src.chunks_exact(len) {
        dst[o..o + len].copy_from_slice(row);
        // Odometer over the input's outer dimensions.
        let mut d = rank - 1;
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            o += ostride[d];
            if idx[d] < ins[d] {
                break;
            }
            o -= ostride[d] * ins[d];
            idx[d] = 0;
        }
    }
}
