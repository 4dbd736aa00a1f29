//! The integer ops of the op-coverage model `tops_ptq_int8` in the graph
//! export: comparisons and logic (bool outputs, 0/1 in the int32 buffers),
//! SELECT / SELECT_V2, MAXIMUM / MINIMUM, int8 DIV, SUM / REDUCE_MAX /
//! REDUCE_MIN / REDUCE_PROD, int8 L2_NORMALIZATION, SLICE / SPLIT / SPLIT_V /
//! GATHER, and the element-wise int8 ops EXP, LOG, ABS and SQRT as tables.
//!
//! Nothing is derived twice: every constant is the engine's prepared one
//! (`src/ops/<op>.rs`): the comparison sides' `M0`/`shift`, DIV's
//! `M = S_a/(S_b·S_out)`, the reductions' multipliers and the index of each
//! input element's output, the broadcast index maps, the boxes of SLICE and
//! SPLIT as source indices, and the 256-entry tables of EXP and LOG as
//! LiteRT's `LUTPopulate` built them. ABS and SQRT have no table in the
//! engine; their table is the engine's kernel run on the 256 possible inputs
//! (SQRT refuses the inputs that dequantize below zero, and so does the C).
//! The C runtime is [`TOPS_C`].

use super::graph::{Ctx, Node};
use crate::error::Error;
use crate::model::DType;
use crate::ops::comparisons::Cmp;
use crate::ops::reduce::Fold;
use crate::ops::transformer::Op;
use crate::profile::SumMethod;
use crate::tensor::{Data, Value};

/// The C kernels `ql_compare`, `ql_select`, `ql_max_min`, `ql_div`, `ql_reduce`, `ql_l2_norm`.
pub const TOPS_C: &str = include_str!("tops.c");

/// [`TOPS_C`] after the gemmlowp fixed point it builds on ([`super::SOFTMAX_C`]).
const RUNTIME: &[&str] = &[super::SOFTMAX_C, TOPS_C];

/// True when this module exports `op` (its integer forms).
pub fn covers(op: &Op) -> bool {
    match op {
        Op::Compare(_) | Op::Select(_) | Op::Slice(_) | Op::Gather(_) => true,
        Op::MaximumMinimum(p) => p.dtype != DType::F32,
        Op::Div(p) => p.quant.is_some(),
        Op::Reduce(p) => p.dtype != DType::F32,
        Op::L2Normalization(p) => p.z_in.is_some(),
        Op::Table(t) => t.dtype != DType::F32,
        Op::Abs(p) => p.dtype != DType::F32,
        Op::Sqrt(p) => p.dtype != DType::F32,
        _ => false,
    }
}

/// The node of an op [`covers`] accepts.
pub fn node(cx: &Ctx, op: &Op) -> Result<Node, Error> {
    match op {
        Op::Compare(p) => compare(cx, p),
        Op::Select(p) => select(cx, p),
        Op::MaximumMinimum(p) => max_min(cx, p),
        Op::Div(p) => div(cx, p),
        Op::Reduce(p) => reduce(cx, p),
        Op::L2Normalization(p) => l2_norm(cx, p),
        Op::Slice(p) => gather(cx, &p.src, p.input, p.output),
        Op::Gather(p) => gather(cx, &p.src, p.input, p.output),
        Op::Table(t) => lut(cx, t),
        Op::Abs(_) | Op::Sqrt(_) => kernel_table(cx, op),
        _ => Err(cx.refuse("not one of the ops of src/export/c/tops.rs")),
    }
}

/// The map of output positions into one input, or `None` for the identity
/// (the input has the output's elements in the same order: no broadcast).
fn index_map(cx: &Ctx, name: &str, map: Vec<usize>, input: usize, arrays: &mut Vec<crate::export::Array>) -> String {
    if cx.tensor(input).size() == map.len() && map.iter().enumerate().all(|(i, &j)| i == j) {
        return "0".into();
    }
    let n = map.len();
    arrays.push(cx.array(name, DType::I32, map.into_iter().map(|j| j as i64).collect(), format!("[out={n}] position in t{input} of each output element (broadcast)")));
    cx.arr(name)
}

fn compare(cx: &Ctx, p: &crate::ops::comparisons::Params) -> Result<Node, Error> {
    if cx.tensor(p.a).dtype == DType::F32 {
        return Err(cx.refuse("a float32 comparison: the integer export compares int8, uint8, int32 and bool tensors"));
    }
    let code = match p.cmp {
        Cmp::Less => 0,
        Cmp::LessEqual => 1,
        Cmp::Greater => 2,
        Cmp::GreaterEqual => 3,
        Cmp::Equal => 4,
        Cmp::NotEqual => 5,
        Cmp::And => 6,
        Cmp::Or => 7,
    };
    let n = p.pairs.len();
    let mut arrays = Vec::new();
    let ia = index_map(cx, "ia", p.pairs.iter().map(|x| x.0).collect(), p.a, &mut arrays);
    let ib = index_map(cx, "ib", p.pairs.iter().map(|x| x.1).collect(), p.b, &mut arrays);
    let mut scalars = vec![cx.scalar("N", n as i64, "elements"), cx.scalar("CMP", code, "0 <, 1 <=, 2 >, 3 >=, 4 ==, 5 !=, 6 and, 7 or")];
    let (a, b) = p.quant.map_or(((0, 0, 0), (0, 0, 0)), |(a, b)| ((a.z, a.m0, a.shift), (b.z, b.m0, b.shift)));
    if p.quant.is_some() {
        for (side, (z, m0, shift)) in [("A", a), ("B", b)] {
            scalars.push(cx.scalar(&format!("Z_{side}"), z as i64, "zero point"));
            scalars.push(cx.scalar(&format!("M0_{side}"), m0 as i64, "S as M0 * 2^(SHIFT - 31)"));
            scalars.push(cx.scalar(&format!("SHIFT_{side}"), shift as i64, "(q - Z) * 2^8 * S compared"));
        }
    }
    let decl = format!(
        "static const ql_compare_t {} = {{{code}, {}, {n}, {}, {}, {}, {}, {}, {}}};\n",
        cx.arr("p"),
        p.quant.is_some() as i32,
        a.0,
        a.1,
        a.2,
        b.0,
        b.1,
        b.2
    );
    let call = format!("ql_compare(&{}, {ia}, {ib}, {}, {}, {});", cx.arr("p"), cx.buf(p.a), cx.buf(p.b), cx.buf(p.output));
    Ok(cx.node(scalars, arrays, decl, call, RUNTIME))
}

fn select(cx: &Ctx, p: &crate::ops::select::Params) -> Result<Node, Error> {
    let n = p.at.len();
    let mut arrays = Vec::new();
    let ic = index_map(cx, "ic", p.at.iter().map(|x| x[0]).collect(), p.cond, &mut arrays);
    let ix = index_map(cx, "ix", p.at.iter().map(|x| x[1]).collect(), p.x, &mut arrays);
    let iy = index_map(cx, "iy", p.at.iter().map(|x| x[2]).collect(), p.y, &mut arrays);
    if cx.tensor(p.x).dtype == DType::F32 {
        return Ok(super::tops_float::select(cx, p, [ic, ix, iy], arrays));
    }
    let call = format!("ql_select({n}, {ic}, {ix}, {iy}, {}, {}, {}, {});", cx.buf(p.cond), cx.buf(p.x), cx.buf(p.y), cx.buf(p.output));
    Ok(cx.node(vec![cx.scalar("N", n as i64, "elements")], arrays, String::new(), call, RUNTIME))
}

fn max_min(cx: &Ctx, p: &crate::ops::maximum_minimum::Params) -> Result<Node, Error> {
    let n = p.pairs.len();
    let mut arrays = Vec::new();
    let ia = index_map(cx, "ia", p.pairs.iter().map(|x| x.0).collect(), p.a, &mut arrays);
    let ib = index_map(cx, "ib", p.pairs.iter().map(|x| x.1).collect(), p.b, &mut arrays);
    let scalars = vec![cx.scalar("N", n as i64, "elements"), cx.scalar("MAX", p.maximum as i64, "1 MAXIMUM, 0 MINIMUM")];
    let call = format!("ql_max_min({n}, {}, {ia}, {ib}, {}, {}, {});", p.maximum as i32, cx.buf(p.a), cx.buf(p.b), cx.buf(p.output));
    Ok(cx.node(scalars, arrays, String::new(), call, RUNTIME))
}

fn div(cx: &Ctx, p: &crate::ops::div::Params) -> Result<Node, Error> {
    let q = p.quant.ok_or_else(|| cx.refuse("float32 DIV"))?;
    let n = p.pairs.len();
    let mut arrays = Vec::new();
    let ia = index_map(cx, "ia", p.pairs.iter().map(|x| x.0).collect(), p.a, &mut arrays);
    let ib = index_map(cx, "ib", p.pairs.iter().map(|x| x.1).collect(), p.b, &mut arrays);
    let scalars = vec![
        cx.scalar("N", n as i64, "elements"),
        cx.scalar("Z_A", q.z_a as i64, "dividend zero point"),
        cx.scalar("Z_B", q.z_b as i64, "divisor zero point"),
        cx.scalar("Z_OUT", q.z_out as i64, "output zero point"),
        cx.scalar("M0", q.m0 as i64, "S_a / (S_b * S_out) as M0 * 2^(SHIFT - 31)"),
        cx.scalar("SHIFT", q.shift as i64, "before the reciprocal's exponent and the headroom"),
        cx.scalar("ACT_MIN", q.lo as i64, "clamp low"),
        cx.scalar("ACT_MAX", q.hi as i64, "clamp high"),
    ];
    let decl = format!("static const ql_div_t {} = {{{n}, {}, {}, {}, {}, {}, {}, {}}};\n", cx.arr("p"), q.z_a, q.z_b, q.z_out, q.m0, q.shift, q.lo, q.hi);
    let call = format!("if (ql_div(&{}, {ia}, {ib}, {}, {}, {})) return QL_ERR_INPUT;", cx.arr("p"), cx.buf(p.a), cx.buf(p.b), cx.buf(p.output));
    Ok(cx.node(scalars, arrays, decl, call, RUNTIME))
}

fn reduce(cx: &Ctx, p: &crate::ops::reduce::Params) -> Result<Node, Error> {
    if p.dtype != DType::I8 {
        return Err(cx.refuse(format!("input {}: the C reductions are the int8 ones", p.dtype)));
    }
    let (fold, (z_in, z_out, m0, shift)) = match p.fold {
        Fold::Sum => {
            let (zi, zo, m) = p.sum_quant.ok_or_else(|| cx.refuse("int8 SUM without its multiplier"))?;
            (0, (zi, zo, m.m0, m.shift))
        }
        Fold::Max => (1, (0, 0, 0, 0)),
        Fold::Min => (2, (0, 0, 0, 0)),
        Fold::Prod => {
            let q = p.prod_quant.ok_or_else(|| cx.refuse("int8 REDUCE_PROD without its multiplier"))?;
            if q.3 > 14 {
                return Err(cx.refuse(format!("REDUCE_PROD shift {} leaves no rounding bit in the int64 multiply", q.3)));
            }
            (3, q)
        }
    };
    let as_u8 = p.sum_method == SumMethod::ReadAsUint8;
    let (n_in, n_out) = (p.dest.len(), p.n_out);
    let scalars = vec![
        cx.scalar("FOLD", fold, "0 SUM, 1 MAX, 2 MIN, 3 PROD"),
        cx.scalar("N_IN", n_in as i64, "input elements"),
        cx.scalar("N_OUT", n_out as i64, "outputs"),
        cx.scalar("COUNT", p.count as i64, "elements folded per output"),
        cx.scalar("AS_U8", as_u8 as i64, "SUM reads the bytes as uint8 (LiteRT 2.3's reference)"),
        cx.scalar("Z_IN", z_in as i64, "input zero point"),
        cx.scalar("Z_OUT", z_out as i64, "output zero point"),
        cx.scalar("M0", m0 as i64, "SUM: S_in / S_out; PROD: S_in / S_out^(1/COUNT), as M0 * 2^(SHIFT - 31)"),
        cx.scalar("SHIFT", shift as i64, "exponent of M"),
    ];
    let arrays = vec![cx.array("dest", DType::I32, p.dest.iter().map(|&d| d as i64).collect(), format!("[in={n_in}] output of each input element"))];
    let decl = format!("static const ql_reduce_t {} = {{{fold}, {}, {n_in}, {n_out}, {}, {z_in}, {z_out}, {m0}, {shift}}};\n", cx.arr("p"), as_u8 as i32, p.count);
    let call = format!("{{ static int32_t seen[{n_out}]; ql_reduce(&{}, {}, {}, {}, seen); }}", cx.arr("p"), cx.arr("dest"), cx.buf(p.input), cx.buf(p.output));
    Ok(cx.node(scalars, arrays, decl, call, RUNTIME))
}

fn l2_norm(cx: &Ctx, p: &crate::ops::l2_normalization::Params) -> Result<Node, Error> {
    let z = p.z_in.ok_or_else(|| cx.refuse("float32 L2_NORMALIZATION"))?;
    let rows = cx.tensor(p.input).size() / p.depth;
    let scalars = vec![cx.scalar("ROWS", rows as i64, "rows"), cx.scalar("DEPTH", p.depth as i64, "last axis, normalised"), cx.scalar("Z_IN", z as i64, "input zero point")];
    let call = format!("ql_l2_norm({rows}, {}, {z}, {}, {});", p.depth, cx.buf(p.input), cx.buf(p.output));
    Ok(cx.node(scalars, vec![], String::new(), call, RUNTIME))
}

/// SLICE, each output of SPLIT / SPLIT_V, and GATHER: `out[i] = in[src[i]]`.
fn gather(cx: &Ctx, src: &[usize], input: usize, output: usize) -> Result<Node, Error> {
    let n = src.len();
    let arrays = vec![cx.array("src", DType::I32, src.iter().map(|&s| s as i64).collect(), format!("[out={n}] input index per output element"))];
    let call = format!("ql_gather({n}, {}, 0, {}, {});", cx.arr("src"), cx.buf(input), cx.buf(output));
    Ok(cx.node(vec![cx.scalar("N", n as i64, "output elements")], arrays, String::new(), call, &[super::moves::MOVES_C]))
}

/// EXP and LOG on int8 / uint8: the engine's table.
fn lut(cx: &Ctx, t: &crate::ops::lut::TableOp) -> Result<Node, Error> {
    let in_min = crate::ops::int_range(t.dtype).0 as i64;
    let n = cx.tensor(t.output).size();
    let scalars = vec![cx.scalar("N", n as i64, "elements"), cx.scalar("IN_MIN", in_min, "table[x - IN_MIN]")];
    let arrays = vec![cx.array("table", DType::I16, t.table.iter().map(|&v| v as i64).collect(), format!("[256] output for input IN_MIN + i ({})", cx.op_name()))];
    let call = format!("ql_table({n}, {in_min}, {}, {}, {});", cx.arr("table"), cx.buf(t.input), cx.buf(t.output));
    Ok(cx.node(scalars, arrays, String::new(), call, &[super::unary::UNARY_C]))
}

/// ABS and SQRT on int8: the engine's kernel on each of the 256 inputs.
/// The inputs the kernel refuses (SQRT's below the zero point, which
/// dequantize below zero) must be the ones below a threshold: the C refuses
/// them at run time (`QL_ERR_INPUT`) with RSQRT's `ql_table_checked`.
fn kernel_table(cx: &Ctx, op: &Op) -> Result<Node, Error> {
    let input = op.inputs()[0];
    let (in_min, values): (i64, Vec<Data>) = match cx.plan.model.tensors[input].dtype {
        DType::I8 => (-128, (-128..=127).map(|v| Data::I8(vec![v as i8])).collect()),
        DType::U8 => (0, (0..=255).map(|v| Data::U8(vec![v])).collect()),
        other => return Err(cx.refuse(format!("input {other}: the table export covers 8-bit inputs"))),
    };
    let mut entries = Vec::with_capacity(256);
    let mut refused = Vec::with_capacity(256);
    for data in values {
        match op.eval(&[&Value { shape: vec![1], data }]).map(|v| v.to_i64_vec()) {
            Ok(Some(v)) if v.len() == 1 => {
                entries.push(v[0]);
                refused.push(false);
            }
            Ok(_) => return Err(cx.refuse("the kernel does not map one input to one integer output")),
            Err(_) => {
                entries.push(0);
                refused.push(true);
            }
        }
    }
    // The first input the kernel takes; every one after it must be taken too.
    let below = refused.iter().take_while(|&&r| r).count();
    if refused[below..].contains(&true) {
        return Err(cx.refuse("the kernel refuses inputs that are not all below one threshold"));
    }
    let n = cx.tensor(op.output()).size();
    let valid_min = in_min + below as i64;
    let scalars = vec![cx.scalar("N", n as i64, "elements"), cx.scalar("IN_MIN", in_min, "table[x - IN_MIN]"), cx.scalar("VALID_MIN", valid_min, "smaller inputs are refused")];
    let arrays = vec![cx.array("table", DType::I16, entries, format!("[256] output for input IN_MIN + i ({}; 0 below VALID_MIN, never read)", cx.op_name()))];
    if below == 0 {
        let call = format!("ql_table({n}, {in_min}, {}, {}, {});", cx.arr("table"), cx.buf(input), cx.buf(op.output()));
        return Ok(cx.node(scalars, arrays, String::new(), call, &[super::unary::UNARY_C]));
    }
    let call = format!("if (ql_table_checked({n}, {in_min}, {valid_min}, {}, {}, {})) return QL_ERR_INPUT;", cx.arr("table"), cx.buf(input), cx.buf(op.output()));
    Ok(cx.node(scalars, arrays, String::new(), call, &[super::unary::UNARY_C, super::transformer::TRANSFORMER_C]))
}
