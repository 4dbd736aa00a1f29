//! The float32 edges of `tops_ptq_int8` in the graph export, on the float
//! plumbing of [`super::float`] (`float` buffers for float32 tensors):
//! CAST (integer / bool ↔ float32, integer ↔ integer, as the engine's
//! `static_cast`), SELECT of float32 values, and CONCATENATION of float32
//! tensors. These move or convert values; none rounds except CAST to
//! float32 (`(float)x`, nearest even, as Rust's `as f32`). The C runtime is
//! [`TOPS_FLOAT_C`] (after [`super::tops::TOPS_C`], whose index maps it uses).

use super::graph::{Ctx, Node};
use crate::error::Error;
use crate::model::DType;

/// The C kernels `ql_cast_*`, `ql_select_f32`, `ql_interleave_f32`.
pub const TOPS_FLOAT_C: &str = include_str!("tops_float.c");

const RUNTIME: &[&str] = &[super::SOFTMAX_C, super::tops::TOPS_C, TOPS_FLOAT_C];

/// True for the kernels whose C here reads or writes `float` buffers (their
/// float32 forms; the integer forms of SELECT, RESHAPE and CONCATENATION
/// carry no float32 tensor).
pub fn carries_floats(kernel: &crate::plan::Kernel) -> bool {
    use crate::ops::transformer::Op;
    use crate::plan::Kernel;
    matches!(kernel, Kernel::Transformer(Op::Cast(_) | Op::Select(_)) | Kernel::Reshape(_) | Kernel::Concatenation(_))
}

/// The target code of an integer or bool CAST output.
fn to_code(cx: &Ctx, d: DType) -> Result<i64, Error> {
    Ok(match d {
        DType::I8 => 1,
        DType::U8 => 2,
        DType::I32 => 4,
        DType::Bool => 6,
        other => return Err(cx.refuse(format!("CAST to {other}: the export carries int8, uint8, int32, bool and float32"))),
    })
}

/// CAST.
pub fn cast(cx: &Ctx, p: &crate::ops::cast::Params) -> Result<Node, Error> {
    let (from, to) = (cx.tensor(p.input).dtype, p.to);
    let n = cx.tensor(p.output).size();
    let (x, y) = (cx.buf(p.input), cx.buf(p.output));
    let (code, call) = match (from == DType::F32, to == DType::F32) {
        (true, true) => (5, format!("{{ long i; for (i = 0; i < {n}; i++) {y}[i] = {x}[i]; }}")),
        (false, true) => (5, format!("ql_cast_int_float({n}, {x}, {y});")),
        (true, false) => {
            let c = to_code(cx, to)?;
            (c, format!("ql_cast_float_int({n}, {c}, {x}, {y});"))
        }
        (false, false) => {
            let c = to_code(cx, to)?;
            (c, format!("ql_cast_int_int({n}, {c}, {x}, {y});"))
        }
    };
    let scalars = vec![cx.scalar("N", n as i64, "elements"), cx.scalar("TO", code, "1 int8, 2 uint8, 4 int32, 5 float32, 6 bool")];
    Ok(cx.node(scalars, vec![], String::new(), call, RUNTIME))
}

/// SELECT / SELECT_V2 of float32 values.
pub fn select(cx: &Ctx, p: &crate::ops::select::Params, maps: [String; 3], arrays: Vec<crate::export::Array>) -> Node {
    let n = p.at.len();
    let [ic, ix, iy] = maps;
    let call = format!("ql_select_f32({n}, {ic}, {ix}, {iy}, {}, {}, {}, {});", cx.buf(p.cond), cx.buf(p.x), cx.buf(p.y), cx.buf(p.output));
    cx.node(vec![cx.scalar("N", n as i64, "elements")], arrays, String::new(), call, RUNTIME)
}

/// True when the step writes a float32 tensor.
pub fn float_output(cx: &Ctx) -> bool {
    cx.tensor(cx.step.kernel.output()).dtype == DType::F32
}

/// RESHAPE and CONCATENATION of float32 tensors.
pub fn moves(cx: &Ctx) -> Result<Node, Error> {
    match &cx.step.kernel {
        crate::plan::Kernel::Concatenation(p) => concatenation(cx, p),
        _ => {
            let (input, output) = (cx.step.kernel.inputs()[0], cx.step.kernel.output());
            let n = cx.tensor(output).size();
            let call = format!("ql_copy_f32({n}, {}, {});", cx.buf(input), cx.buf(output));
            Ok(cx.node(vec![cx.scalar("N", n as i64, "elements")], vec![], String::new(), call, RUNTIME))
        }
    }
}

/// CONCATENATION of float32 tensors (constant inputs as `static const float` arrays, bit for bit).
pub fn concatenation(cx: &Ctx, p: &crate::ops::concatenation::Params) -> Result<Node, Error> {
    let chunk: Vec<i64> = p.chunk.iter().map(|&c| c as i64).collect();
    let arrays = vec![cx.array("chunk", DType::I32, chunk, format!("[inputs={}] elements per block", p.chunk.len()))];
    let mut decl = String::new();
    let mut srcs = Vec::new();
    for (j, (&t, c)) in p.inputs.iter().zip(&p.constants).enumerate() {
        match c {
            None => srcs.push(cx.buf(t)),
            Some(v) => {
                let crate::tensor::Data::F32(vals) = &v.data else {
                    return Err(cx.refuse(format!("constant input t{t} is not float32")));
                };
                let name = cx.arr(&format!("const{j}"));
                let lits: Vec<String> = vals.iter().map(|&f| super::float::f32_literal(f)).collect();
                decl += &format!("/* constant input t{t} */\nstatic const float {name}[{}] = {{{}}};\n", lits.len().max(1), lits.join(", "));
                srcs.push(name);
            }
        }
    }
    let scalars = vec![
        cx.scalar("OUTER", p.outer as i64, "blocks (product of the dimensions before the axis)"),
        cx.scalar("INPUTS", p.inputs.len() as i64, "inputs"),
        cx.scalar("AXIS", p.axis as i64, "concatenation axis"),
    ];
    let call = format!(
        "{{ static const float *const src[{}] = {{{}}}; ql_interleave_f32({}, {}, {}, src, {}); }}",
        srcs.len(),
        srcs.join(", "),
        p.outer,
        srcs.len(),
        cx.arr("chunk"),
        cx.buf(p.output)
    );
    Ok(cx.node(scalars, arrays, decl, call, RUNTIME))
}
