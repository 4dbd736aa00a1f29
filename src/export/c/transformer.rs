//! The transformer ops of the ViT in the graph export: int8 BATCH_MATMUL
//! of run-time operands, TRANSPOSE (a precomputed gather), int8 GELU and
//! RSQRT (256-entry tables: the engine's prepared GELU table; the engine's
//! RSQRT kernel on every input), and float32 NEG. The C runtime is
//! [`TRANSFORMER_C`]; TRANSPOSE uses the moves' `ql_gather`
//! ([`super::moves::MOVES_C`]), GELU the unary `ql_table`
//! ([`super::unary::UNARY_C`]).

use super::graph::{Ctx, Node};
use crate::error::Error;
use crate::model::DType;
use crate::ops::{batch_matmul, gelu, neg, rsqrt, transpose};
use crate::profile::NegMethod;

/// The C kernels `ql_batch_matmul`, `ql_table_checked`, `ql_neg_f32`.
pub const TRANSFORMER_C: &str = include_str!("transformer.c");

fn dims(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&d| d as i64).collect()
}

/// BATCH_MATMUL on int8: per batch, `rows × depth` times `depth × cols`.
pub fn batch_matmul(cx: &Ctx, p: &batch_matmul::Params) -> Result<Node, Error> {
    let Some(q) = &p.quant else {
        return Err(cx.refuse("float32 BATCH_MATMUL: the export covers int8 operands"));
    };
    let rounding = cx.rounding(q.rounding)?;
    // Strides of X[i][k] and Y[k][j] as the engine reads them (adj_x / adj_y: stored transposed).
    let (xi, xk) = if p.adj_x { (1, p.rows) } else { (p.depth, 1) };
    let (yk, yj) = if p.adj_y { (1, p.depth) } else { (p.cols, 1) };
    let nb = p.batches.len();
    let mut arrays = vec![
        cx.array("ox", DType::I32, p.batches.iter().map(|b| b.0 as i64).collect(), format!("[batches={nb}] where X's matrix starts")),
        cx.array("oy", DType::I32, p.batches.iter().map(|b| b.1 as i64).collect(), format!("[batches={nb}] where Y's matrix starts")),
    ];
    let y = match &p.y_const {
        None => cx.buf(p.y),
        Some(v) => {
            let vals = v.to_i64_vec().ok_or_else(|| cx.refuse(format!("constant Y t{} is not integer", p.y)))?;
            arrays.push(cx.array("y", DType::I32, vals, format!("constant Y t{}", p.y)));
            cx.arr("y")
        }
    };
    let m = &q.multiplier;
    let scalars = vec![
        cx.scalar("BATCHES", nb as i64, "output matrices"),
        cx.scalar("ROWS", p.rows as i64, "rows of X (and of the output)"),
        cx.scalar("COLS", p.cols as i64, "columns of Y (and of the output)"),
        cx.scalar("DEPTH", p.depth as i64, "columns of X = rows of Y"),
        cx.scalar("ADJ_X", p.adj_x as i64, "X stored transposed"),
        cx.scalar("ADJ_Y", p.adj_y as i64, "Y stored transposed"),
        cx.scalar("Z_X", q.z_x as i64, "X zero point"),
        cx.scalar("Z_Y", q.z_y as i64, "Y zero point"),
        cx.scalar("Z_OUT", q.z_out as i64, "output zero point"),
        cx.scalar("M0", m.m0 as i64, "Q31 multiplier of S_x*S_y/S_out"),
        cx.scalar("SHIFT", m.shift as i64, "M = M0 * 2^(SHIFT - 31)"),
        cx.scalar("ROUNDING", rounding, q.rounding.name()),
    ];
    let call = format!(
        "ql_batch_matmul({nb}, {}, {}, {}, {}, {}, {xi}, {xk}, {yk}, {yj}, {}, {}, {}, {}, {}, {rounding}, {}, {y}, {});",
        cx.arr("ox"),
        cx.arr("oy"),
        p.rows,
        p.cols,
        p.depth,
        q.z_x,
        q.z_y,
        q.z_out,
        m.m0,
        m.shift,
        cx.buf(p.x),
        cx.buf(p.output)
    );
    Ok(cx.node(scalars, arrays, String::new(), call, &[TRANSFORMER_C]))
}

/// TRANSPOSE: `out[i] = in[src[i]]`, the engine's prepared `src`.
pub fn transpose(cx: &Ctx, p: &transpose::Params) -> Result<Node, Error> {
    let n = p.src.len();
    let rank = p.perm.len();
    let arrays = vec![
        cx.array("perm", DType::I32, dims(&p.perm), format!("[rank={rank}] output dimension d is input dimension perm[d]")),
        cx.array("src", DType::I32, dims(&p.src), format!("[out={n}] input index per output element")),
    ];
    let scalars = vec![cx.scalar("N", n as i64, "elements"), cx.scalar("RANK", rank as i64, "rank")];
    let call = format!("ql_gather({n}, {}, 0, {}, {});", cx.arr("src"), cx.buf(p.input), cx.buf(p.output));
    Ok(cx.node(scalars, arrays, String::new(), call, &[super::moves::MOVES_C]))
}

/// GELU on int8 / uint8: the engine's prepared 256-entry table.
pub fn gelu(cx: &Ctx, p: &gelu::Params) -> Result<Node, Error> {
    let in_min = match p.dtype {
        DType::I8 => -128,
        DType::U8 => 0,
        other => return Err(cx.refuse(format!("{other} GELU: the export covers the 8-bit table"))),
    };
    let n = cx.tensor(p.output).size();
    let scalars = vec![cx.scalar("N", n as i64, "elements"), cx.scalar("IN_MIN", in_min, "table[x - IN_MIN]"), cx.scalar("APPROXIMATE", p.approximate as i64, "1 tanh form, 0 erfc form")];
    let arrays = vec![cx.array("table", DType::I16, p.table.iter().map(|&v| v as i64).collect(), "[256] GELU of input IN_MIN + i".into())];
    let call = format!("ql_table({n}, {in_min}, {}, {}, {});", cx.arr("table"), cx.buf(p.input), cx.buf(p.output));
    Ok(cx.node(scalars, arrays, String::new(), call, &[super::unary::UNARY_C]))
}

/// RSQRT on int8: the engine's kernel on each of the 256 inputs; inputs below
/// the zero point are refused at run time (`QL_ERR_INPUT`), as the engine and LiteRT refuse them.
pub fn rsqrt(cx: &Ctx, p: &rsqrt::Params) -> Result<Node, Error> {
    if p.dtype != DType::I8 {
        return Err(cx.refuse(format!("{} RSQRT: the export covers int8", p.dtype)));
    }
    let table: Vec<i64> = (-128..=127).map(|q| p.element(q).map_or(0, |v| v as i64)).collect();
    let n = cx.tensor(p.output).size();
    let scalars = vec![
        cx.scalar("N", n as i64, "elements"),
        cx.scalar("Z_IN", p.z_in as i64, "input zero point: smaller inputs are refused"),
        cx.scalar("Z_OUT", p.z_out as i64, "output zero point"),
        cx.scalar("M0", p.m0 as i64, "Q31 multiplier of 1/(sqrt(S_in)*S_out)"),
        cx.scalar("SHIFT", p.shift as i64, "M = M0 * 2^(SHIFT - 31)"),
    ];
    let arrays = vec![cx.array("table", DType::I16, table, "[256] RSQRT of input -128 + i (0 below Z_IN, never read)".into())];
    let call = format!("if (ql_table_checked({n}, -128, {}, {}, {}, {})) return QL_ERR_INPUT;", p.z_in, cx.arr("table"), cx.buf(p.input), cx.buf(p.output));
    Ok(cx.node(scalars, arrays, String::new(), call, &[super::unary::UNARY_C, TRANSFORMER_C]))
}

/// NEG on float32, as the profile negates.
pub fn neg(cx: &Ctx, p: &neg::Params) -> Result<Node, Error> {
    if p.dtype != DType::F32 {
        return Err(cx.refuse(format!("{} NEG: the export covers float32", p.dtype)));
    }
    let zero_minus = p.method == NegMethod::ZeroMinus;
    let n = cx.tensor(p.output).size();
    let scalars = vec![cx.scalar("N", n as i64, "elements"), cx.scalar("ZERO_MINUS", zero_minus as i64, "1: 0 - x, 0: -x")];
    let call = format!("ql_neg_f32({n}, {}, {}, {});", zero_minus as i32, cx.buf(p.input), cx.buf(p.output));
    Ok(cx.node(scalars, vec![], String::new(), call, &[TRANSFORMER_C]))
}
