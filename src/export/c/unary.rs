//! The element-wise ops on 8-bit tensors in the graph export: LOGISTIC and
//! TANH in TFLite Micro's gemmlowp fixed point ([`logistic_tanh`]); RELU,
//! RELU6, RELU_N1_TO_1, LEAKY_RELU and QUANTIZE between 8-bit types as a
//! requantization ([`rescale`]); HARD_SWISH in the reference's 16-bit fixed
//! point ([`hard_swish`]); under a profile that computes them otherwise
//! (f32 tables, 8-bit multipliers), a 256-entry [`table`].
//!
//! Each of these maps one 8-bit input value to one output value, whatever
//! the shape, so the whole op is a table of 256 entries. The table is built
//! at export time by running the engine's own kernel (the chosen profile's
//! arithmetic: gemmlowp's fixed-point logistic and tanh, the int16
//! hard-swish, the requantizing relus) on the 256 possible inputs; the C
//! runtime ([`UNARY_C`]) only reads it. This is how LiteRT's optimized
//! int8 kernels run LOGISTIC and TANH too; the bits are those of the
//! reference arithmetic because the entries are.

use super::graph::{Ctx, Node};
use crate::error::Error;
use crate::model::DType;
use crate::ops::leaky_relu::LeakyArith;
use crate::ops::logistic::LutArith;
use crate::ops::relu::ReluArith;
use crate::plan::Kernel;
use crate::profile::{Multiplier, Rounding};
use crate::tensor::{Data, Value};

/// The C kernel `ql_table`.
pub const UNARY_C: &str = include_str!("unary.c");

/// The op as a table over every value of its 8-bit input.
pub fn table(cx: &Ctx) -> Result<Node, Error> {
    let inputs = cx.step.kernel.inputs();
    let (&input, output) = (inputs.first().ok_or_else(|| cx.refuse("no run-time input"))?, cx.step.kernel.output());
    let dtype = cx.plan.model.tensors[input].dtype;
    let (in_min, data) = match dtype {
        DType::I8 => (-128i64, Data::I8((-128..=127).map(|v| v as i8).collect())),
        DType::U8 => (0, Data::U8((0..=255).collect())),
        DType::F32 => return Err(cx.refuse("a float32 input: the integer export needs the model's integer input (this op quantizes a float)")),
        other => return Err(cx.refuse(format!("input {other}: the table export covers 8-bit inputs"))),
    };
    let mut values: Vec<Option<Value>> = vec![None; cx.plan.model.tensors.len()];
    values[input] = Some(Value { shape: vec![256], data });
    let out = cx.step.kernel.eval(&values).map_err(|e| cx.refuse(e))?;
    let entries = out.to_i64_vec().filter(|v| v.len() == 256).ok_or_else(|| cx.refuse("the kernel does not map 256 inputs to 256 integer outputs"))?;
    let n = cx.tensor(output).size();
    let scalars = vec![
        cx.scalar("N", n as i64, "elements"),
        cx.scalar("IN_MIN", in_min, "table[x - IN_MIN]"),
    ];
    let arrays = vec![cx.array("table", DType::I16, entries, format!("[256] output for input IN_MIN + i ({})", cx.op_name()))];
    let call = format!("ql_table({n}, {in_min}, {}, {}, {});", cx.arr("table"), cx.buf(input), cx.buf(output));
    Ok(cx.node(scalars, arrays, String::new(), call, &[UNARY_C]))
}

/// The C kernel `ql_logistic_tanh` (needs gemmlowp's fixed point, [`super::SOFTMAX_C`]).
pub const ACTIVATION_C: &str = include_str!("activation.c");

/// True when LOGISTIC / TANH run in gemmlowp fixed point (TFLite Micro's kernels, the `tflm` profile).
pub fn fixed_point(p: &crate::ops::logistic::Params) -> bool {
    matches!(p.arith, LutArith::FixedPoint { .. })
}

/// LOGISTIC and TANH in TFLite Micro's arithmetic: the input rescaled to
/// Q4.27 by `M`·2^`LEFT_SHIFT`, saturated beyond `RADIUS`, gemmlowp's
/// logistic / tanh, a rounding shift to the output grid.
pub fn logistic_tanh(cx: &Ctx, p: &crate::ops::logistic::Params, tanh: bool) -> Result<Node, Error> {
    let LutArith::FixedPoint { z_in, multiplier, left_shift, radius } = p.arith else {
        return table(cx);
    };
    let n = cx.tensor(p.output).size();
    let scalars = vec![
        cx.scalar("N", n as i64, "elements"),
        cx.scalar("TANH", tanh as i64, "1 TANH (output 1/128, 0), 0 LOGISTIC (output 1/256, -128)"),
        cx.scalar("Z_IN", z_in as i64, "input zero point"),
        cx.scalar("MULTIPLIER", multiplier as i64, "S_in * 2^27 as M0 (Q31) ..."),
        cx.scalar("LEFT_SHIFT", left_shift as i64, "... times 2^LEFT_SHIFT"),
        cx.scalar("RADIUS", radius as i64, "|x - Z_IN| at or beyond which the output saturates"),
    ];
    let call = format!("ql_logistic_tanh({n}, {}, {z_in}, {multiplier}, {left_shift}, {radius}, {}, {});", tanh as i32, cx.buf(p.input), cx.buf(p.output));
    Ok(cx.node(scalars, vec![], String::new(), call, &[super::SOFTMAX_C, ACTIVATION_C]))
}

/// `y = clamp(Z_out + requant(x − Z_in, M_pos or M_neg), lo, hi)`: the
/// arithmetic of RELU*, LEAKY_RELU and 8-bit QUANTIZE under `tflm`.
struct Rescale {
    z_in: i32,
    z_out: i32,
    pos: Multiplier,
    neg: Multiplier,
    rounding: Rounding,
    lo: i32,
    hi: i32,
}

/// The op's [`Rescale`], when its profile computes it that way (else `None`: a table).
fn rescale_of(kernel: &Kernel, size: usize) -> Option<Rescale> {
    match kernel {
        Kernel::Relu(p) => match &p.arith {
            ReluArith::Requantize { z_in, z_out, multiplier, rounding, lo, hi } => {
                Some(Rescale { z_in: *z_in, z_out: *z_out, pos: *multiplier, neg: *multiplier, rounding: *rounding, lo: *lo, hi: *hi })
            }
            ReluArith::ClampInInputScale { .. } => None,
        },
        Kernel::LeakyRelu(p) => match &p.arith {
            LeakyArith::TwoMultipliers { identity, alpha, rounding } => {
                Some(Rescale { z_in: p.z_in, z_out: p.z_out, pos: *identity, neg: *alpha, rounding: *rounding, lo: -128, hi: 127 })
            }
            LeakyArith::EightBit { .. } => None,
        },
        Kernel::Quantize(p) => {
            let r = crate::export::export_requant(p, size).ok()?;
            let m = Multiplier { real: r.m_real, real_f32: r.m_real as f32, m0: r.m0, shift: r.shift };
            Some(Rescale { z_in: r.z_in, z_out: r.z_out, pos: m, neg: m, rounding: r.rounding, lo: r.out_min, hi: r.out_max })
        }
        _ => None,
    }
}

/// RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU and QUANTIZE between 8-bit types:
/// the requantization itself when the profile requantizes (TFLite Micro), else a [`table`].
pub fn rescale(cx: &Ctx) -> Result<Node, Error> {
    let output = cx.step.kernel.output();
    let n = cx.tensor(output).size();
    let input = cx.step.kernel.inputs()[0];
    let Some(r) = rescale_of(&cx.step.kernel, n).filter(|_| cx.plan.model.tensors[input].dtype != DType::F32) else {
        return table(cx);
    };
    let code = cx.rounding(r.rounding)?;
    let scalars = vec![
        cx.scalar("N", n as i64, "elements"),
        cx.scalar("Z_IN", r.z_in as i64, "input zero point"),
        cx.scalar("Z_OUT", r.z_out as i64, "output zero point"),
        cx.scalar("M0_POS", r.pos.m0 as i64, "multiplier for x >= Z_IN, Q31"),
        cx.scalar("SHIFT_POS", r.pos.shift as i64, "M = M0 * 2^(SHIFT - 31)"),
        cx.scalar("M0_NEG", r.neg.m0 as i64, "multiplier for x < Z_IN (LEAKY_RELU: alpha times), Q31"),
        cx.scalar("SHIFT_NEG", r.neg.shift as i64, "M = M0 * 2^(SHIFT - 31)"),
        cx.scalar("ROUNDING", code, r.rounding.name()),
        cx.scalar("ACT_MIN", r.lo as i64, "clamp low"),
        cx.scalar("ACT_MAX", r.hi as i64, "clamp high"),
    ];
    let call = format!(
        "ql_rescale({n}, {}, {}, {}, {}, {}, {}, {code}, {}, {}, {}, {});",
        r.z_in,
        r.z_out,
        r.pos.m0,
        r.pos.shift,
        r.neg.m0,
        r.neg.shift,
        r.lo,
        r.hi,
        cx.buf(input),
        cx.buf(output)
    );
    Ok(cx.node(scalars, vec![], String::new(), call, &[UNARY_C]))
}

/// HARD_SWISH in the reference kernel's 16-bit fixed point.
pub fn hard_swish(cx: &Ctx, p: &crate::ops::hard_swish::Params) -> Result<Node, Error> {
    let n = cx.tensor(p.output).size();
    let scalars = vec![
        cx.scalar("N", n as i64, "elements"),
        cx.scalar("Z_IN", p.z_in as i64, "input zero point"),
        cx.scalar("Z_OUT", p.z_out as i64, "output zero point"),
        cx.scalar("OUT_M", p.output_multiplier as i64, "(S_in/128)/S_out in Q15 ..."),
        cx.scalar("OUT_E", p.output_exponent as i64, "... times 2^OUT_E (<= 0)"),
        cx.scalar("RELUISH_M", p.reluish_multiplier as i64, "(S_in/128)/(3/32768) in Q15 ..."),
        cx.scalar("RELUISH_E", p.reluish_exponent as i64, "... times 2^RELUISH_E"),
    ];
    let call = format!(
        "ql_hard_swish({n}, {}, {}, {}, {}, {}, {}, {}, {});",
        p.z_in,
        p.z_out,
        p.output_multiplier,
        p.output_exponent,
        p.reluish_multiplier,
        p.reluish_exponent,
        cx.buf(p.input),
        cx.buf(p.output)
    );
    Ok(cx.node(scalars, vec![], String::new(), call, &[UNARY_C]))
}
