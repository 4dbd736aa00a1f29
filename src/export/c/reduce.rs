//! MEAN in the graph export: which dimensions are reduced, the count per
//! output, the zero points and the multiplier `S_in/(n·S_out)` as
//! `M0`/`shift` (TFLite Micro's integer mean). The C runtime is
//! [`REDUCE_C`]. ARG_MAX / ARG_MIN (int8 → int32 indices) are here too ([`ARG_C`]).

use super::graph::{wide, Ctx, Node};
use crate::error::Error;
use crate::model::DType;
use crate::ops::mean::MeanArith;

/// The C kernel `ql_mean`.
pub const REDUCE_C: &str = include_str!("reduce.c");

/// MEAN.
pub fn mean(cx: &Ctx, p: &crate::ops::mean::Params) -> Result<Node, Error> {
    let MeanArith::Integer { multiplier, rounding } = &p.arith else {
        return Err(cx.refuse("this profile's MEAN is not TFLite Micro's integer mean: export with --profile tflm"));
    };
    let code = cx.rounding(*rounding)?;
    if p.output_dtype != DType::I8 {
        return Err(cx.refuse(format!("output {}: the C mean is the int8 one", p.output_dtype)));
    }
    let rank = p.input_shape.len();
    // Stride of each input dimension in the output (0 where reduced).
    let mut out_stride = vec![0i64; rank];
    let mut s = 1i64;
    for d in (0..rank).rev() {
        if !p.reduced[d] {
            out_stride[d] = s;
            s *= p.input_shape[d] as i64;
        }
    }
    let n_out = s;
    let scalars = vec![
        cx.scalar("RANK", rank as i64, "input rank"),
        cx.scalar("COUNT", p.count as i64, "elements averaged per output"),
        cx.scalar("N_OUT", n_out, "outputs"),
        cx.scalar("Z_IN", p.z_in as i64, "input zero point"),
        cx.scalar("Z_OUT", p.z_out as i64, "output zero point"),
        cx.scalar("M0", multiplier.m0 as i64, "Q31 multiplier of S_in / (COUNT * S_out)"),
        cx.scalar("SHIFT", multiplier.shift as i64, "M = M0 * 2^(SHIFT - 31)"),
        cx.scalar("ROUNDING", code, rounding.name()),
    ];
    let arrays = vec![
        cx.array("in_shape", DType::I32, p.input_shape.iter().map(|&d| d as i64).collect(), format!("[rank={rank}]")),
        cx.array("out_stride", DType::I32, out_stride, format!("[rank={rank}] 0 = reduced")),
        cx.array("reduced", DType::I32, wide(&p.reduced.iter().map(|&r| r as i32).collect::<Vec<_>>()), format!("[rank={rank}] 1 = reduced")),
    ];
    let call = format!(
        "{{ static int64_t sums[{n_out}]; ql_mean({rank}, {}, {}, {n_out}, {}, {}, {}, {}, {}, {code}, -128, 127, {}, {}, sums); }}",
        cx.arr("in_shape"),
        cx.arr("out_stride"),
        p.count,
        p.z_in,
        p.z_out,
        multiplier.m0,
        multiplier.shift,
        cx.buf(p.input),
        cx.buf(p.output)
    );
    Ok(cx.node(scalars, arrays, String::new(), call, &[REDUCE_C]))
}

/// The C kernel `ql_arg`.
pub const ARG_C: &str = include_str!("arg.c");

/// ARG_MAX / ARG_MIN along one axis: `outer × len × inner`, the index of the
/// first extreme (a later element must be strictly greater / smaller), as int32.
pub fn arg_min_max(cx: &Ctx, p: &crate::ops::arg_min_max::Params) -> Result<Node, Error> {
    if p.out_dtype != DType::I32 {
        return Err(cx.refuse(format!("output {}: the C export writes int32 indices", p.out_dtype)));
    }
    let scalars = vec![
        cx.scalar("OUTER", p.outer as i64, "product of the dimensions before the axis"),
        cx.scalar("LEN", p.len as i64, "length of the axis"),
        cx.scalar("INNER", p.inner as i64, "product of the dimensions after the axis"),
        cx.scalar("MAX", p.max as i64, "1 ARG_MAX, 0 ARG_MIN"),
    ];
    let call = format!("ql_arg({}, {}, {}, {}, {}, {});", p.outer, p.len, p.inner, p.max as i32, cx.buf(p.input), cx.buf(p.output));
    Ok(cx.node(scalars, vec![], String::new(), call, &[ARG_C]))
}
