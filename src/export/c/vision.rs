//! PRELU, RESIZE_BILINEAR and TRANSPOSE_CONV in the graph export (the
//! vision models' int8 ops beyond the index moves of [`super::moves`]). The
//! C runtime is [`VISION_C`].

use super::graph::{wide, Ctx, Node};
use crate::error::Error;
use crate::model::DType;
use crate::ops::{prelu, resize_bilinear, transpose_conv};

/// The C kernels `ql_prelu`, `ql_resize_bilinear`, `ql_transpose_conv`.
pub const VISION_C: &str = include_str!("vision.c");

fn dims(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&d| d as i64).collect()
}

/// PRELU: `x − Z1` scaled by M1 where ≥ 0, by α·M2 below.
pub fn prelu(cx: &Ctx, p: &prelu::Params) -> Result<Node, Error> {
    let prelu::Arith::Quantized { z1, z3, alpha, m1, m2, rounding, range, .. } = &p.arith else {
        return Err(cx.refuse("float PRELU has no integer export"));
    };
    let code = cx.rounding(*rounding)?;
    let n = p.alpha_index.len();
    let scalars = vec![
        cx.scalar("N", n as i64, "elements"),
        cx.scalar("Z1", *z1 as i64, "input zero point"),
        cx.scalar("Z3", *z3 as i64, "output zero point"),
        cx.scalar("M1_M0", m1.m0 as i64, "S_in/S_out for x >= 0, Q31"),
        cx.scalar("M1_SHIFT", m1.shift as i64, "M = M0 * 2^(SHIFT - 31)"),
        cx.scalar("M2_M0", m2.m0 as i64, "S_in*S_alpha/S_out for x < 0, Q31"),
        cx.scalar("M2_SHIFT", m2.shift as i64, "M = M0 * 2^(SHIFT - 31)"),
        cx.scalar("ROUNDING", code, rounding.name()),
        cx.scalar("ACT_MIN", range.0 as i64, "clamp low"),
        cx.scalar("ACT_MAX", range.1 as i64, "clamp high"),
    ];
    let arrays = vec![
        cx.array("alpha", DType::I32, wide(alpha), "q_alpha - Z_alpha".into()),
        cx.array("alpha_index", DType::I32, p.alpha_index.iter().map(|&k| k as i64).collect(), format!("[{n}] the alpha element of each output")),
    ];
    let call = format!(
        "ql_prelu({n}, {}, {}, {z1}, {z3}, {}, {}, {}, {}, {code}, {}, {}, {}, {});",
        cx.arr("alpha_index"),
        cx.arr("alpha"),
        m1.m0,
        m1.shift,
        m2.m0,
        m2.shift,
        range.0,
        range.1,
        cx.buf(p.input),
        cx.buf(p.output)
    );
    Ok(cx.node(scalars, arrays, String::new(), call, &[VISION_C]))
}

/// RESIZE_BILINEAR (the reference's Q10 integer interpolation).
pub fn resize_bilinear(cx: &Ctx, p: &resize_bilinear::Params) -> Result<Node, Error> {
    let resize_bilinear::Arith::Integer { ys, xs, .. } = &p.arith else {
        return Err(cx.refuse("this profile's RESIZE_BILINEAR is not the reference's Q10 integer one: export with --profile tflm"));
    };
    let taps = |t: &[resize_bilinear::Tap<i32>]| t.iter().flat_map(|t| [t.lo as i64, t.hi as i64, t.pos as i64]).collect::<Vec<i64>>();
    let scalars = vec![
        cx.scalar("OUT_H", p.output_shape[1] as i64, "output height"),
        cx.scalar("OUT_W", p.output_shape[2] as i64, "output width"),
        cx.scalar("ALIGN_CORNERS", p.align_corners as i64, "align_corners"),
        cx.scalar("HALF_PIXEL_CENTERS", p.half_pixel_centers as i64, "half_pixel_centers"),
    ];
    let arrays = vec![
        cx.array("in_shape", DType::I32, dims(&p.input_shape), "[4] NHWC".into()),
        cx.array("ys", DType::I32, taps(ys), format!("[out_h={}][lo, hi, pos Q10]", ys.len())),
        cx.array("xs", DType::I32, taps(xs), format!("[out_w={}][lo, hi, pos Q10]", xs.len())),
    ];
    let call = format!(
        "ql_resize_bilinear({}, {}, {}, {}, {}, {}, {});",
        cx.arr("in_shape"),
        p.output_shape[1],
        p.output_shape[2],
        cx.arr("ys"),
        cx.arr("xs"),
        cx.buf(p.input),
        cx.buf(p.output)
    );
    Ok(cx.node(scalars, arrays, String::new(), call, &[VISION_C]))
}

/// TRANSPOSE_CONV: the reference's scatter of every input element through the filter.
pub fn transpose_conv(cx: &Ctx, p: &transpose_conv::Params) -> Result<Node, Error> {
    let transpose_conv::Arith::Quantized { z1, z3, weights, bias, multipliers, roundings, range, dtype } = &p.arith else {
        if let transpose_conv::Arith::Uint8 { .. } = &p.arith {
            return Err(cx.refuse("uint8 TRANSPOSE_CONV (asymmetric uint8 weights): the C kernel takes int8 weights with zero point 0"));
        }
        return Err(cx.refuse("float TRANSPOSE_CONV has no integer export"));
    };
    if *dtype != DType::I8 || weights.iter().any(|w| !(-128..=127).contains(w)) {
        return Err(cx.refuse(format!("output {dtype} or weights outside int8")));
    }
    let codes = roundings.iter().map(|&r| cx.rounding(r)).collect::<Result<Vec<i64>, Error>>()?;
    let [_, _, _, co] = p.output_shape;
    let n_out: usize = p.output_shape.iter().product();
    let per = format!("[out_c={co}]");
    let scalars = vec![
        cx.scalar("K_H", p.kernel.0 as i64, "kernel height"),
        cx.scalar("K_W", p.kernel.1 as i64, "kernel width"),
        cx.scalar("STRIDE_H", p.stride.0 as i64, "stride along height"),
        cx.scalar("STRIDE_W", p.stride.1 as i64, "stride along width"),
        cx.scalar("PAD_H", p.pad.0 as i64, "how far input pixel 0's window starts before output row 0"),
        cx.scalar("PAD_W", p.pad.1 as i64, "... before output column 0"),
        cx.scalar("Z1", *z1 as i64, "input zero point"),
        cx.scalar("Z3", *z3 as i64, "output zero point"),
        cx.scalar("ACT_MIN", range.0 as i64, "clamp low"),
        cx.scalar("ACT_MAX", range.1 as i64, "clamp high"),
    ];
    let arrays = vec![
        cx.array("in_shape", DType::I32, dims(&p.input_shape), "[4] NHWC".into()),
        cx.array("out_shape", DType::I32, dims(&p.output_shape), "[4] NHWC".into()),
        cx.array("weights", DType::I8, wide(weights), format!("[out_c={co}][k_h={}][k_w={}][in_c={}]", p.kernel.0, p.kernel.1, p.input_shape[3])),
        cx.array("bias", DType::I32, wide(bias), per.clone()),
        cx.array("m0", DType::I32, multipliers.iter().map(|m| m.m0 as i64).collect(), per.clone()),
        cx.array("shift", DType::I32, multipliers.iter().map(|m| m.shift as i64).collect(), per.clone()),
        cx.array("rounding", DType::I32, codes, per),
    ];
    let call = format!(
        "{{ static int64_t acc[{n_out}]; ql_transpose_conv({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {z1}, {z3}, {}, {}, {}, {}, acc); }}",
        cx.arr("in_shape"),
        cx.arr("out_shape"),
        p.kernel.0,
        p.kernel.1,
        p.stride.0,
        p.stride.1,
        p.pad.0,
        p.pad.1,
        cx.arr("weights"),
        cx.arr("bias"),
        cx.arr("m0"),
        cx.arr("shift"),
        cx.arr("rounding"),
        range.0,
        range.1,
        cx.buf(p.input),
        cx.buf(p.output)
    );
    Ok(cx.node(scalars, arrays, String::new(), call, &[VISION_C]))
}
