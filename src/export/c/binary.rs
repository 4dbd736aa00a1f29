//! ADD, SUB, MUL and int8 SQUARED_DIFFERENCE in the graph export: the broadcast (output shape and
//! each input's stride per output dimension), the zero points, the
//! multipliers as `M0`/`shift` and the clamp. The C runtime is
//! [`BINARY_C`].

use super::graph::{c_list, Ctx, Node};
use crate::error::Error;
use crate::export::Scalar;
use crate::ops::add::{AddArith, Broadcast};
use crate::profile::Multiplier;

/// The C kernel `ql_binary` and its `ql_binary_t`.
pub const BINARY_C: &str = include_str!("binary.c");

const MAX_RANK: usize = 6;

/// What the broadcast adds to the scalars, and its C initializer fields.
fn broadcast(cx: &Ctx, b: &Broadcast) -> Result<(Vec<Scalar>, String), Error> {
    let rank = b.output_shape.len();
    if rank > MAX_RANK {
        return Err(cx.refuse(format!("rank {rank} > {MAX_RANK}")));
    }
    // Dimensions past `rank` are never read.
    let pad = |v: &[usize]| {
        let mut p: Vec<usize> = v.to_vec();
        p.resize(MAX_RANK, 0);
        c_list(&p)
    };
    let n: usize = b.output_shape.iter().product();
    let mut scalars = vec![cx.scalar("RANK", rank as i64, "output rank"), cx.scalar("N", n as i64, "output elements")];
    for (name, v) in [("SHAPE", &b.output_shape), ("A_STRIDE", &b.a_strides), ("B_STRIDE", &b.b_strides)] {
        for (d, &x) in v.iter().enumerate() {
            scalars.push(cx.scalar(&format!("{name}{d}"), x as i64, "per output dimension (stride 0: the input broadcasts)"));
        }
    }
    Ok((scalars, format!("{rank}, {n}, {}, {}, {}", pad(&b.output_shape), pad(&b.a_strides), pad(&b.b_strides))))
}

fn mult(cx: &Ctx, name: &str, m: &Multiplier, scalars: &mut Vec<Scalar>) -> String {
    scalars.push(cx.scalar(&format!("M0_{name}"), m.m0 as i64, "Q31 multiplier"));
    scalars.push(cx.scalar(&format!("SHIFT_{name}"), m.shift as i64, "M = M0 * 2^(SHIFT - 31)"));
    format!("{}, {}", m.m0, m.shift)
}

fn node(cx: &Ctx, inputs: [usize; 2], output: usize, scalars: Vec<Scalar>, init: String) -> Node {
    let decl = format!("static const ql_binary_t {} = {{{init}}};\n", cx.arr("p"));
    let call = format!("ql_binary(&{}, {}, {}, {});", cx.arr("p"), cx.buf(inputs[0]), cx.buf(inputs[1]), cx.buf(output));
    cx.node(scalars, vec![], decl, call, &[BINARY_C])
}

/// ADD and SUB (TFLite's left-shift recipe).
pub fn add_sub(cx: &Ctx, p: &crate::ops::add::Params) -> Result<Node, Error> {
    let AddArith::LeftShift { left_shift, z_a, z_b, m_a, m_b, m_out, rounding, sign_b } = &p.arith else {
        return Err(cx.refuse("XNNPACK's one-accumulator ADD: export with --profile tflm"));
    };
    if p.neon.is_some() {
        return Err(cx.refuse("LiteRT builtin's NEON-block ADD (add_blocks): export with --profile tflm"));
    }
    let code = cx.rounding(*rounding)?;
    let (mut scalars, bc) = broadcast(cx, &p.broadcast)?;
    scalars.extend([
        cx.scalar("Z_A", *z_a as i64, "first input zero point"),
        cx.scalar("Z_B", *z_b as i64, "second input zero point"),
        cx.scalar("Z_OUT", p.z_out as i64, "output zero point"),
        cx.scalar("ACT_MIN", p.act_min as i64, "clamp low"),
        cx.scalar("ACT_MAX", p.act_max as i64, "clamp high"),
        cx.scalar("LEFT_SHIFT", *left_shift as i64, "inputs shifted up by this before scaling"),
        cx.scalar("SIGN_B", *sign_b as i64, "1 ADD, -1 SUB"),
        cx.scalar("ROUNDING", code, rounding.name()),
    ]);
    let (ma, mb, mo) = (mult(cx, "A", m_a, &mut scalars), mult(cx, "B", m_b, &mut scalars), mult(cx, "OUT", m_out, &mut scalars));
    let init = format!("0, {bc}, {z_a}, {z_b}, {}, {}, {}, {left_shift}, {sign_b}, {code}, {ma}, {mb}, {mo}", p.z_out, p.act_min, p.act_max);
    Ok(node(cx, p.inputs, p.output, scalars, init))
}

/// MUL.
pub fn mul(cx: &Ctx, p: &crate::ops::mul::Params) -> Result<Node, Error> {
    let code = cx.rounding(p.rounding)?;
    let (mut scalars, bc) = broadcast(cx, &p.broadcast)?;
    scalars.extend([
        cx.scalar("Z_A", p.z_a as i64, "first input zero point"),
        cx.scalar("Z_B", p.z_b as i64, "second input zero point"),
        cx.scalar("Z_OUT", p.z_out as i64, "output zero point"),
        cx.scalar("ACT_MIN", p.act_min as i64, "clamp low"),
        cx.scalar("ACT_MAX", p.act_max as i64, "clamp high"),
        cx.scalar("ROUNDING", code, p.rounding.name()),
    ]);
    let m = mult(cx, "OUT", &p.multiplier, &mut scalars);
    let init = format!("1, {bc}, {}, {}, {}, {}, {}, 0, 1, {code}, 0, 0, 0, 0, {m}", p.z_a, p.z_b, p.z_out, p.act_min, p.act_max);
    Ok(node(cx, p.inputs, p.output, scalars, init))
}

// vit (issue 15, item 4)
/// The broadcast of `a` and `b` to `out` (numpy's rule, shapes right-aligned) as strides per output dimension.
fn strides_of(a: &[usize], b: &[usize], out: &[usize]) -> Broadcast {
    let stride = |s: &[usize]| -> Vec<usize> {
        let rank = out.len();
        let mut v = vec![0; rank];
        let mut acc = 1;
        for d in (0..rank).rev() {
            let k = d as isize - (rank - s.len()) as isize;
            if k >= 0 {
                let dim = s[k as usize];
                v[d] = if dim == 1 { 0 } else { acc };
                acc *= dim;
            }
        }
        v
    };
    Broadcast { output_shape: out.to_vec(), a_strides: stride(a), b_strides: stride(b), same_shape: a == b }
}

/// SQUARED_DIFFERENCE on int8: ADD's scaling (left shift 7), then the square
/// of the difference rescaled by `M_out`. The broadcast is checked against
/// the engine's prepared element pairs.
pub fn squared_difference(cx: &Ctx, p: &crate::ops::squared_difference::Params) -> Result<Node, Error> {
    let Some(q) = &p.quant else {
        return Err(cx.refuse("float32 SQUARED_DIFFERENCE: the export covers int8"));
    };
    let shape = |t: usize| cx.tensor(t).shape;
    let b = strides_of(&shape(p.a), &shape(p.b), &p.output_shape);
    // Every output element reads the pair the engine reads.
    let mut pairs = p.pairs.iter();
    let n: usize = p.output_shape.iter().product();
    for i in 0..n {
        let (mut rest, mut ia, mut ib) = (i, 0, 0);
        for d in (0..p.output_shape.len()).rev() {
            let k = rest % p.output_shape[d];
            rest /= p.output_shape[d];
            ia += k * b.a_strides[d];
            ib += k * b.b_strides[d];
        }
        if pairs.next() != Some(&(ia, ib)) {
            return Err(cx.refuse(format!("output element {i}: the broadcast's strides disagree with the engine's pairs")));
        }
    }
    let code = 0; // MultiplyByQuantizedMultiplier, gemmlowp double rounding, in every runtime
    let (mut scalars, bc) = broadcast(cx, &b)?;
    scalars.extend([
        cx.scalar("Z_A", q.z_a as i64, "first input zero point"),
        cx.scalar("Z_B", q.z_b as i64, "second input zero point"),
        cx.scalar("Z_OUT", q.z_out as i64, "output zero point"),
        cx.scalar("LEFT_SHIFT", 7, "inputs shifted up by this before scaling"),
    ]);
    let (ma, mb, mo) = (mult(cx, "A", &q.m_a, &mut scalars), mult(cx, "B", &q.m_b, &mut scalars), mult(cx, "OUT", &q.m_out, &mut scalars));
    let init = format!("2, {bc}, {}, {}, {}, -128, 127, 7, 1, {code}, {ma}, {mb}, {mo}", q.z_a, q.z_b, q.z_out);
    Ok(node(cx, [p.a, p.b], p.output, scalars, init))
}
