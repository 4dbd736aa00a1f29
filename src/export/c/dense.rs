//! FULLY_CONNECTED (over every row of its input), SOFTMAX and int8
//! LOG_SOFTMAX (over every row of its last dimension) in the graph export. The constants are the
//! MLP export's ([`crate::export::Fc`], [`crate::export::Softmax`]), so
//! both exports describe a layer alike; the C runtimes are [`DENSE_C`] and
//! the shared gemmlowp softmax ([`super::SOFTMAX_C`]).

use super::super::Scalar;
use super::graph::{wide, Ctx, Node};
use crate::error::Error;
use crate::model::DType;
use crate::profile::SoftmaxMethod;

/// The C kernel `ql_dense`.
pub const DENSE_C: &str = include_str!("dense.c");

/// FULLY_CONNECTED: rows × [out][in] centred weights.
pub fn fully_connected(cx: &Ctx, p: &crate::ops::fully_connected::Params) -> Result<Node, Error> {
    let f = crate::export::export_fc(cx.plan, p, None, &[]).map_err(|e| cx.refuse(e))?;
    // int8: the centred weights W − Z2; legacy uint8 (issue 15, item 4): the stored weights, Z2 subtracted in C.
    let w_u8 = f.weight_dtype == DType::U8;
    let (w_dtype, weights): (DType, Vec<i64>) = if w_u8 {
        (DType::U8, wide(&f.weights))
    } else {
        (DType::I8, f.weights.iter().enumerate().map(|(i, &w)| (w - f.z2[i / f.in_features]) as i64).collect())
    };
    if weights.iter().any(|w| !(-128..=255).contains(w)) || (!w_u8 && weights.iter().any(|w| *w > 127)) {
        return Err(cx.refuse(format!("{} weights outside the {} range (centred W − Z2 for int8)", f.weight_dtype, w_dtype)));
    }
    let rounding = cx.rounding(f.rounding)?;
    let size = cx.tensor(p.input).size();
    let rows = size / f.in_features.max(1);
    let scalars = vec![
        cx.scalar("ROWS", rows as i64, "input rows (batches)"),
        cx.scalar("IN", f.in_features as i64, "inputs per output"),
        cx.scalar("OUT", f.out_features as i64, "outputs per row"),
        cx.scalar("Z1", f.z1 as i64, "input zero point"),
        cx.scalar("Z3", f.z3 as i64, "output zero point"),
        cx.scalar("ACT_MIN", f.act_min as i64, "clamp low"),
        cx.scalar("ACT_MAX", f.act_max as i64, "clamp high"),
        cx.scalar("PER_CHANNEL", f.per_channel as i64, "1 = one weight scale per output channel"),
        cx.scalar("ROUNDING", rounding, f.rounding.name()),
    ];
    let per = format!("[out={}]", f.out_features);
    let arrays = vec![
        cx.array("weights", w_dtype, weights, format!("[out={}][in={}] {}", f.out_features, f.in_features, if w_u8 { "W (uint8)" } else { "W - Z2" })),
        cx.array("bias", DType::I32, wide(&f.bias), per.clone()),
        cx.array("z2", DType::I32, wide(&f.z2), per.clone()),
        cx.array("m0", DType::I32, wide(&f.m0), per.clone()),
        cx.array("shift", DType::I32, wide(&f.shift), per),
    ];
    let call = format!(
        "ql_dense({rows}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {rounding}, {}, {});",
        f.in_features,
        f.out_features,
        cx.arr("weights"),
        w_u8 as i32,
        cx.arr("z2"),
        cx.arr("bias"),
        cx.arr("m0"),
        cx.arr("shift"),
        f.z1,
        f.z3,
        f.act_min,
        f.act_max,
        cx.buf(p.input),
        cx.buf(p.output)
    );
    Ok(cx.node(scalars, arrays, String::new(), call, &[DENSE_C]))
}

/// SOFTMAX: gemmlowp's fixed point over every row of the last dimension.
pub fn softmax(cx: &Ctx, p: &crate::ops::softmax::Params) -> Result<Node, Error> {
    let sm = crate::export::export_softmax(cx.plan, p).map_err(|e| cx.refuse(e))?;
    if sm.method != SoftmaxMethod::GemmlowpFixedPoint {
        return Err(cx.refuse("the f32 exp-table softmax needs floating point: export with --profile tflm"));
    }
    let out = cx.tensor(p.output);
    let depth = *out.shape.last().unwrap_or(&1);
    let rows = out.size() / depth.max(1);
    let out_bits = if out.dtype == DType::I16 { 16 } else { 8 };
    let args = [sm.diff_min as i64, sm.input_left_shift as i64, sm.input_multiplier as i64, out_bits, sm.out_min as i64, sm.out_max as i64];
    let (mut scalars, call) = per_row(cx, p.input, p.output, rows, depth, "softmax_row", &args);
    scalars.extend([
        cx.scalar("SM_MULTIPLIER", sm.input_multiplier as i64, "beta*S_in*2^26 as M0"),
        cx.scalar("SM_LEFT_SHIFT", sm.input_left_shift as i64, "... times 2^SM_LEFT_SHIFT"),
        cx.scalar("SM_DIFF_MIN", sm.diff_min as i64, "differences below this give 0"),
        cx.scalar("Z_OUT", sm.z_out as i64, "output zero point"),
        cx.scalar("OUT_MIN", sm.out_min as i64, "clamp low"),
        cx.scalar("OUT_MAX", sm.out_max as i64, "clamp high"),
    ]);
    Ok(cx.node(scalars, vec![], String::new(), call, &[super::SOFTMAX_C]))
}

/// The C kernel `log_softmax_row` (needs gemmlowp's fixed point, [`super::SOFTMAX_C`]).
pub const LOG_SOFTMAX_C: &str = include_str!("log_softmax.c");

/// int8 LOG_SOFTMAX in TFLite Micro's gemmlowp fixed point over every row
/// of the last dimension ([`crate::ops::log_softmax`]): `d·M_in` in Q5.26,
/// `Σ exp` in Q12.19, `ln Σ` in Q5.26, a shift by 22 to the grid 16/256, + 127.
pub fn log_softmax(cx: &Ctx, p: &crate::ops::log_softmax::Params) -> Result<Node, Error> {
    let crate::ops::log_softmax::Arith::FixedPoint(f) = &p.arith else {
        return Err(cx.refuse("this profile's LOG_SOFTMAX is not the gemmlowp fixed point (float32, or the f32 exp table): export with --profile tflm"));
    };
    let depth = p.depth;
    let rows = cx.tensor(p.output).size() / depth.max(1);
    let args = [f.input_multiplier as i64, f.input_left_shift as i64, f.reverse_multiplier as i64, f.reverse_shift as i64, f.diff_min as i64];
    let (mut scalars, call) = per_row(cx, p.input, p.output, rows, depth, "log_softmax_row", &args);
    scalars.extend([
        cx.scalar("LS_MULTIPLIER", f.input_multiplier as i64, "S_in*2^26 as M0 (Q31) ..."),
        cx.scalar("LS_LEFT_SHIFT", f.input_left_shift as i64, "... times 2^LS_LEFT_SHIFT: d in Q5.26"),
        cx.scalar("LS_REVERSE_MULTIPLIER", f.reverse_multiplier as i64, "1/(S_in*2^26) as M0 (Q31) ..."),
        cx.scalar("LS_REVERSE_SHIFT", f.reverse_shift as i64, "... times 2^LS_REVERSE_SHIFT (<= 0)"),
        cx.scalar("LS_DIFF_MIN", f.diff_min as i64, "differences below this are left out of the sum"),
        cx.scalar("Z_OUT", crate::ops::log_softmax::OUTPUT_ZERO_POINT as i64, "output zero point (scale 16/256)"),
    ]);
    Ok(cx.node(scalars, vec![], String::new(), call, &[super::SOFTMAX_C, LOG_SOFTMAX_C]))
}

/// The `ROWS` and `DEPTH` scalars and the C loop calling `func(in_row, out_row, depth, args…)` on every row.
fn per_row(cx: &Ctx, input: usize, output: usize, rows: usize, depth: usize, func: &str, args: &[i64]) -> (Vec<Scalar>, String) {
    let scalars = vec![cx.scalar("ROWS", rows as i64, "rows"), cx.scalar("DEPTH", depth as i64, "values per row (last dimension)")];
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let call = format!(
        "{{ int r; for (r = 0; r < {rows}; r++) {func}({} + (long)r * {depth}, {} + (long)r * {depth}, {depth}, {}); }}",
        cx.buf(input),
        cx.buf(output),
        args.join(", ")
    );
    (scalars, call)
}
