//! The float32 edges of a quantized graph in the graph export: QUANTIZE of
//! a float32 tensor, `q = clamp(round(r/S) + Z)` (TFLite Micro's
//! `AffineQuantize`: the f32 quotient, rounded half away from zero), and
//! DEQUANTIZE to float32, `r = S·(q − Z)` as the profile's
//! [`crate::profile::DequantizeMethod`] computes it. A float32 tensor has a
//! `float` buffer in `model.c`; the C runtime is [`FLOAT_C`].
//!
//! Bit-exact floats need the C compiler to do the operations as written:
//! `model.c` is compiled with `-ffp-contract=off` (no fused multiply-add)
//! and linked with `-lm`. A scale is passed as the shortest decimal that
//! reads back as the same f32 ([`f32_literal`]), and recorded by its bits
//! in the scalars (`L<k>_SCALE_BITS`) for JSON and Verilog.

use super::graph::{Ctx, Node};
use crate::error::Error;
use crate::profile::DequantizeMethod;

/// The C kernels `ql_quantize_f32` and `ql_dequantize_f32`.
pub const FLOAT_C: &str = include_str!("float.c");

/// A C expression of type `float` equal to `v` bit for bit: Rust's shortest
/// round-trip decimal with the `f` suffix (C99 reads it correctly rounded to
/// f32, so to `v`); the infinities and NaN through `<math.h>`.
pub fn f32_literal(v: f32) -> String {
    if v.is_nan() {
        "NAN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "INFINITY".into() } else { "(-INFINITY)".into() }
    } else {
        let s = format!("{v:?}");
        if v.is_sign_negative() { format!("({s}f)") } else { format!("{s}f") }
    }
}

/// QUANTIZE of a float32 input.
pub fn quantize(cx: &Ctx, p: &crate::ops::quantize::Params) -> Result<Node, Error> {
    let n = cx.tensor(p.output).size();
    let (lo, hi) = crate::ops::int_range(p.output_dtype);
    let scalars = vec![
        cx.scalar("N", n as i64, "elements"),
        cx.scalar("SCALE_BITS", p.s_out.to_bits() as i64, "the output scale S as f32 bits"),
        cx.scalar("Z_OUT", p.z_out as i64, "output zero point"),
        cx.scalar("Q_MIN", lo as i64, "clamp low"),
        cx.scalar("Q_MAX", hi as i64, "clamp high"),
    ];
    let call = format!("ql_quantize_f32({n}, {}, {}, {lo}, {hi}, {}, {});", f32_literal(p.s_out), p.z_out, cx.buf(p.input), cx.buf(p.output));
    Ok(cx.node(scalars, vec![], String::new(), call, &[FLOAT_C]))
}

/// DEQUANTIZE to float32.
pub fn dequantize(cx: &Ctx, p: &crate::ops::dequantize::Params) -> Result<Node, Error> {
    let n = cx.tensor(p.output).size();
    let method = match p.method {
        DequantizeMethod::Reference => 0,
        DequantizeMethod::VectorMla8 => 1,
    };
    let scalars = vec![
        cx.scalar("N", n as i64, "elements"),
        cx.scalar("SCALE_BITS", p.scale.to_bits() as i64, "the input scale S as f32 bits"),
        cx.scalar("Z_IN", p.zero_point as i64, "input zero point"),
        cx.scalar("METHOD", method, "0 S*(q - Z) rounded once (reference), 1 f32(q)*S + f32(-Z*S) eight at a time (LiteRT optimized)"),
    ];
    let call = format!("ql_dequantize_f32({n}, {}, {}, {method}, {}, {});", f32_literal(p.scale), p.zero_point, cx.buf(p.input), cx.buf(p.output));
    Ok(cx.node(scalars, vec![], String::new(), call, &[FLOAT_C]))
}
