//! The ops that move integers without arithmetic, in the graph export:
//! RESHAPE, SHAPE, CONCATENATION, PACK, PAD, STRIDED_SLICE and the vision
//! moves (DEPTH_TO_SPACE, TILE, … as a precomputed gather). Their
//! geometry (shapes, chunks, paddings, the indices taken along each
//! dimension) is exported as arrays; the C runtime is [`MOVES_C`].

use super::graph::{Ctx, Node};
use crate::error::Error;
use crate::model::DType;
use crate::ops::index_map::{Fill, FILL};
use crate::tensor::Value;

/// The C kernels `ql_copy`, `ql_interleave`, `ql_pad`, `ql_slice`, `ql_gather`.
pub const MOVES_C: &str = include_str!("shape.c");

fn dims(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&d| d as i64).collect()
}

/// RESHAPE: the same integers under a new shape.
pub fn reshape(cx: &Ctx) -> Result<Node, Error> {
    let (input, output) = (cx.step.kernel.inputs()[0], cx.step.kernel.output());
    let n = cx.tensor(output).size();
    let call = format!("ql_copy({n}, {}, {});", cx.buf(input), cx.buf(output));
    Ok(cx.node(vec![cx.scalar("N", n as i64, "elements")], vec![], String::new(), call, &[MOVES_C]))
}

/// SHAPE: the input's static shape, a constant of the model.
pub fn shape(cx: &Ctx) -> Result<Node, Error> {
    let (input, output) = (cx.step.kernel.inputs()[0], cx.step.kernel.output());
    let shape = dims(&cx.tensor(input).shape);
    let n = shape.len();
    let arrays = vec![cx.array("dims", DType::I32, shape, format!("[rank={n}] the input's shape"))];
    let call = format!("ql_copy({n}, {}, {});", cx.arr("dims"), cx.buf(output));
    Ok(cx.node(vec![cx.scalar("RANK", n as i64, "input rank")], arrays, String::new(), call, &[MOVES_C]))
}

/// CONCATENATION and PACK: `outer` blocks of `chunk[j]` elements of each input j,
/// input j first mapped through `tables[j]` (256 entries, uint8 → uint8) where it has one.
fn interleave(cx: &Ctx, inputs: &[usize], constants: &[Option<Value>], tables: &[Option<Vec<i64>>], outer: usize, chunk: &[usize], output: usize) -> Result<Node, Error> {
    let mut arrays = vec![cx.array("chunk", DType::I32, dims(chunk), format!("[inputs={}] elements per block", chunk.len()))];
    let mut srcs = Vec::new();
    let mut mapped = String::new();
    let mut runtime = vec![MOVES_C];
    for (j, (&t, c)) in inputs.iter().zip(constants).enumerate() {
        let table = tables.get(j).and_then(Option::as_ref);
        match c {
            None => match table {
                None => srcs.push(cx.buf(t)),
                Some(tab) => {
                    let (name, n) = (format!("rescale{j}"), outer * chunk[j]);
                    arrays.push(cx.array(&name, DType::I16, tab.clone(), format!("[256] input {j} (t{t}) on the output's (S, Z), for q = 0..255")));
                    mapped += &format!("static int32_t r{j}[{n}]; ql_table({n}, 0, {}, {}, r{j}); ", cx.arr(&name), cx.buf(t));
                    srcs.push(format!("r{j}"));
                    runtime.insert(0, super::unary::UNARY_C);
                }
            },
            Some(v) => {
                let mut vals = v.to_i64_vec().ok_or_else(|| cx.refuse(format!("constant input t{t} is not integer")))?;
                if let Some(tab) = table {
                    vals = vals.iter().map(|&q| tab[q.clamp(0, 255) as usize]).collect();
                }
                let name = format!("const{j}");
                arrays.push(cx.array(&name, DType::I32, vals, format!("constant input t{t}")));
                srcs.push(cx.arr(&name));
            }
        }
    }
    let scalars = vec![cx.scalar("OUTER", outer as i64, "blocks (product of the dimensions before the axis)"), cx.scalar("INPUTS", inputs.len() as i64, "inputs")];
    let call = format!(
        "{{ {mapped}{{ const int32_t *const src[{}] = {{{}}}; ql_interleave({outer}, {}, {}, src, {}); }} }}",
        srcs.len(),
        srcs.join(", "),
        srcs.len(),
        cx.arr("chunk"),
        cx.buf(output)
    );
    Ok(cx.node(scalars, arrays, String::new(), call, &runtime))
}

/// CONCATENATION. A uint8 input on another (S, Z) than the output's is
/// requantized in f32 by the engine ([`crate::ops::concatenation::Rescale`]);
/// that maps each of its 256 values to one output value, so the export
/// carries the map, computed by the engine's own `apply`.
pub fn concatenation(cx: &Ctx, p: &crate::ops::concatenation::Params) -> Result<Node, Error> {
    let tables: Vec<Option<Vec<i64>>> = p.rescale.iter().map(|r| r.map(|r| (0..256).map(|q| r.apply(q) as i64).collect())).collect();
    let mut node = interleave(cx, &p.inputs, &p.constants, &tables, p.outer, &p.chunk, p.output)?;
    node.scalars.push(cx.scalar("AXIS", p.axis as i64, "concatenation axis"));
    Ok(node)
}

/// PACK.
pub fn pack(cx: &Ctx, p: &crate::ops::pack::Params) -> Result<Node, Error> {
    interleave(cx, &p.inputs, &p.constants, &[], p.outer, &vec![p.inner; p.inputs.len()], p.output)
}

/// PAD: the output filled with the pad value, the input placed after `before[d]`.
pub fn pad(cx: &Ctx, p: &crate::ops::pad::Params) -> Result<Node, Error> {
    let rank = p.input_shape.len();
    let before: Vec<usize> = p.paddings.iter().map(|x| x.0).collect();
    let after: Vec<usize> = p.paddings.iter().map(|x| x.1).collect();
    let arrays = vec![
        cx.array("in_shape", DType::I32, dims(&p.input_shape), format!("[rank={rank}]")),
        cx.array("out_shape", DType::I32, dims(&p.output_shape), format!("[rank={rank}]")),
        cx.array("before", DType::I32, dims(&before), format!("[rank={rank}] padding before")),
        cx.array("after", DType::I32, dims(&after), format!("[rank={rank}] padding after")),
    ];
    let scalars = vec![cx.scalar("RANK", rank as i64, "rank"), cx.scalar("PAD_VALUE", p.pad_value as i64, "the fill (the output zero point)")];
    let call = format!(
        "ql_pad({rank}, {}, {}, {}, {}, {}, {});",
        cx.arr("in_shape"),
        cx.arr("out_shape"),
        cx.arr("before"),
        p.pad_value,
        cx.buf(p.input),
        cx.buf(p.output)
    );
    Ok(cx.node(scalars, arrays, String::new(), call, &[MOVES_C]))
}

/// STRIDED_SLICE: along dimension d, the input indices listed for it.
pub fn strided_slice(cx: &Ctx, p: &crate::ops::strided_slice::Params) -> Result<Node, Error> {
    let rank = p.input_shape.len();
    let count: Vec<usize> = p.indices.iter().map(Vec::len).collect();
    let mut off = Vec::with_capacity(rank);
    let mut idx = Vec::new();
    for v in &p.indices {
        off.push(idx.len());
        idx.extend(v.iter().copied());
    }
    let arrays = vec![
        cx.array("in_shape", DType::I32, dims(&p.input_shape), format!("[rank={rank}]")),
        cx.array("count", DType::I32, dims(&count), format!("[rank={rank}] indices taken per dimension")),
        cx.array("off", DType::I32, dims(&off), format!("[rank={rank}] where dimension d's indices start in idx")),
        cx.array("idx", DType::I32, dims(&idx), "the input indices taken, dimension after dimension".into()),
    ];
    let call = format!(
        "ql_slice({rank}, {}, {}, {}, {}, {}, {});",
        cx.arr("in_shape"),
        cx.arr("count"),
        cx.arr("off"),
        cx.arr("idx"),
        cx.buf(p.input),
        cx.buf(p.output)
    );
    Ok(cx.node(vec![cx.scalar("RANK", rank as i64, "rank")], arrays, String::new(), call, &[MOVES_C]))
}

/// The precomputed gathers (DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPACE_TO_BATCH_ND,
/// BATCH_TO_SPACE_ND, TILE, MIRROR_PAD, PADV2, RESIZE_NEAREST_NEIGHBOR):
/// `out[i] = in[src[i]]`, or the fill value where `src[i] = −1`.
pub fn gather(cx: &Ctx, m: &crate::ops::index_map::IndexMap) -> Result<Node, Error> {
    let Fill::Int(fill) = m.fill else {
        return Err(cx.refuse("a float fill value: no integer export"));
    };
    let src: Vec<i64> = m.src.iter().map(|&s| if s == FILL { -1 } else { s as i64 }).collect();
    let n = src.len();
    let arrays = vec![cx.array("src", DType::I32, src, format!("[out={n}] input index per output element, -1 = fill"))];
    let scalars = vec![cx.scalar("N", n as i64, "output elements"), cx.scalar("FILL", fill, "value where src = -1 (the zero point, or PADV2's constant)")];
    let call = format!("ql_gather({n}, {}, {fill}, {}, {});", cx.arr("src"), cx.buf(m.input), cx.buf(m.output));
    Ok(cx.node(scalars, arrays, String::new(), call, &[MOVES_C]))
}
