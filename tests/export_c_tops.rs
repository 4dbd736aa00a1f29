//! The C kernels of `src/export/c/tops.rs`, one layer at a time, on the
//! committed op-coverage model `tops_ptq_int8`.
//!
//! For every layer of the model that family exports, a small C program is
//! generated around that layer's node alone: its input buffers are filled,
//! image after image, with the engine's (`tflm` profile) values of those
//! tensors on every held-out golden image, the node's call runs, and the
//! output buffer is printed. Every element must equal the engine's value of
//! the output tensor. The program is compiled with
//! `cc -std=c99 -pedantic -Wall -Wextra -Werror`. The whole model's export is
//! checked by `tests/export_c_all.rs`.

use std::fmt::Write as _;
use std::process::Command;

use quantlens::export::c::graph::{Ctx, Node};
use quantlens::export::c::tops;
use quantlens::export::c::FIXEDPOINT_C;
use quantlens::export::c::graph_c::buffer_type;
use quantlens::export::c::tops_float;
use quantlens::export::c_type;
use quantlens::io::read_samples;
use quantlens::ops::transformer::Op;
use quantlens::plan::Kernel;
use quantlens::tensor::{Data, Value};
use quantlens::verify::stack_tensor;
use quantlens::{Model, Plan, Profile};

mod common;

/// The values of tensor `t` on every image, flattened `[image][element]`.
/// Float32 values are their bits.
fn values(plan: &Plan, traces: &[quantlens::Trace], t: usize) -> Vec<i64> {
    match stack_tensor(traces, t) {
        Some(s) => bits(&Value { shape: vec![], data: s.data }),
        None => {
            let c = bits(&Value::from_constant(&plan.model.tensors[t]).unwrap());
            (0..traces.len()).flat_map(|_| c.iter().copied()).collect()
        }
    }
}

/// The integers of `v`, or the bits of its float32 values.
fn bits(v: &Value) -> Vec<i64> {
    match &v.data {
        Data::F32(f) => f.iter().map(|x| x.to_bits() as i64).collect(),
        _ => v.to_i64_vec().unwrap(),
    }
}

fn list(v: &[i64]) -> String {
    let parts: Vec<String> = v.iter().map(|&x| if x == i32::MIN as i64 { "(-2147483647 - 1)".into() } else { x.to_string() }).collect();
    parts.join(",")
}

/// The C program running `node` on `n` images of its inputs' values.
fn program(node: &Node, inputs: &[(usize, Vec<i64>)], n: usize) -> String {
    let mut s = String::from("#include <math.h>\n#include <stdint.h>\n#include <stdio.h>\n#include <string.h>\n#define QL_ERR_INPUT 2\n");
    s.push_str(FIXEDPOINT_C);
    let mut seen: Vec<&str> = Vec::new();
    for &text in &node.runtime {
        if !seen.contains(&text) {
            seen.push(text);
            s.push_str(text);
        }
    }
    // Every input as 32-bit words (a float32 value as its bits), copied into its buffer by memcpy.
    for (t, v) in inputs {
        let info = node.inputs.iter().find(|i| i.index == *t).unwrap();
        let size = v.len() / n;
        let words: Vec<i64> = v.iter().map(|&x| x as u32 as i64).collect();
        let _ = writeln!(s, "static {} ql_t{t}[{}];\nstatic const uint32_t in_t{t}[{}] = {{{}}};", buffer_type(info.dtype), size.max(1), v.len().max(1), list(&words));
    }
    let _ = writeln!(s, "static {} ql_t{}[{}];", buffer_type(node.output.dtype), node.output.index, node.output.size().max(1));
    for a in &node.arrays {
        let _ = writeln!(s, "static const {} ql_{}[{}] = {{{}}};", c_type(a.dtype), a.name, a.values.len().max(1), list(&a.values));
    }
    s.push_str(&node.decl);
    let _ = writeln!(s, "static int run(void) {{\n    {}\n    return 0;\n}}", node.call);
    let _ = writeln!(s, "int main(void) {{\n    for (long n = 0; n < {n}; n++) {{");
    for (t, v) in inputs {
        let size = v.len() / n;
        let _ = writeln!(s, "        memcpy(ql_t{t}, in_t{t} + n * {size}, sizeof ql_t{t});");
    }
    let _ = writeln!(s, "        if (run()) {{ printf(\"refused\\n\"); continue; }}");
    let _ = writeln!(s, "        for (long i = 0; i < {}; i++) {{", node.output.size());
    if node.output.dtype == quantlens::DType::F32 {
        let _ = writeln!(s, "            uint32_t b;\n            memcpy(&b, ql_t{} + i, 4);\n            printf(\"%lu \", (unsigned long)b);", node.output.index);
    } else {
        let _ = writeln!(s, "            printf(\"%ld \", (long)ql_t{}[i]);", node.output.index);
    }
    let _ = writeln!(s, "        }}\n        printf(\"\\n\");\n    }}\n    return 0;\n}}");
    s
}

/// Compile and run `node` on `n` images of `inputs`; per image, its outputs, or `None` where the C refused.
fn run_c(dir: &std::path::Path, tag: &str, node: &Node, inputs: &[(usize, Vec<i64>)], n: usize) -> Vec<Option<Vec<i64>>> {
    let src = dir.join(format!("{tag}.c"));
    std::fs::write(&src, program(node, inputs, n)).unwrap();
    let exe = dir.join(tag);
    let cc = Command::new("cc").args(["-std=c99", "-pedantic", "-O1", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", "-o"]).arg(&exe).arg(&src).arg("-lm").output().unwrap();
    assert!(cc.status.success(), "{tag} {}: {}", node.op_kind, String::from_utf8_lossy(&cc.stderr));
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success(), "{tag} {}", node.op_kind);
    let text = String::from_utf8(run.stdout).unwrap();
    let lines: Vec<Option<Vec<i64>>> = text
        .lines()
        .map(|l| (l != "refused").then(|| l.split_whitespace().map(|w| w.parse().unwrap_or_else(|_| panic!("{tag} {}: {w}", node.op_kind))).collect()))
        .collect();
    assert_eq!(lines.len(), n, "{tag} {}", node.op_kind);
    lines
}

/// The tops layers this family exports: (layer, op, node).
fn layers(plan: &Plan) -> Vec<(usize, &Kernel, Node)> {
    let mut out = Vec::new();
    for (k, step) in plan.steps.iter().enumerate() {
        let cx = Ctx { plan, step, k };
        let node = match &step.kernel {
            Kernel::Transformer(Op::Cast(p)) => tops_float::cast(&cx, p),
            Kernel::Transformer(op) if tops::covers(op) => tops::node(&cx, op),
            Kernel::Reshape(_) | Kernel::Concatenation(_) if tops_float::float_output(&cx) => tops_float::moves(&cx),
            _ => continue,
        };
        out.push((k, &step.kernel, node.unwrap_or_else(|e| panic!("layer {k}: {e}"))));
    }
    out
}

fn open() -> Plan {
    Plan::new(Model::from_path(common::model("tops_ptq_int8")).unwrap(), Profile::Tflm).unwrap()
}

#[test]
fn every_tops_layer_of_this_family_is_bit_exact_with_the_engine() {
    let plan = open();
    let xs = read_samples(common::golden_dir("tops_ptq_int8").join("input.npy")).unwrap().samples();
    let n = xs.len();
    let traces = plan.run_batch(&xs).unwrap();
    let dir = common::tempdir("export-c-tops", "layers");
    let mut checked = Vec::new();
    for (k, _, node) in layers(&plan) {
        let mut inputs: Vec<(usize, Vec<i64>)> = Vec::new();
        for t in &node.inputs {
            if !inputs.iter().any(|(u, _)| *u == t.index) {
                inputs.push((t.index, values(&plan, &traces, t.index)));
            }
        }
        let got: Vec<i64> = run_c(&dir, &format!("layer{k}"), &node, &inputs, n).into_iter().flat_map(|o| o.unwrap_or_else(|| panic!("layer {k}: the C refused a golden image"))).collect();
        let want = values(&plan, &traces, node.output.index);
        assert_eq!(got.len(), want.len(), "layer {k} {}", node.op_kind);
        let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        println!("layer {k:3} {:<16} t{:<4} {} images x {} elements: {differ} differ", node.op_kind, node.output.index, n, node.output.size());
        assert_eq!(differ, 0, "layer {k} {}: C vs engine", node.op_kind);
        checked.push(node.op_kind.clone());
    }
    let _ = std::fs::remove_dir_all(&dir);
    for op in [
        "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "EQUAL", "NOT_EQUAL", "LOGICAL_AND", "LOGICAL_OR", "SELECT", "SELECT_V2", "MAXIMUM", "MINIMUM", "DIV", "SUM", "REDUCE_MAX",
        "REDUCE_MIN", "REDUCE_PROD", "L2_NORMALIZATION", "SLICE", "SPLIT", "SPLIT_V", "GATHER", "EXP", "LOG", "ABS", "SQRT",
        "CAST", "RESHAPE", "CONCATENATION",
    ] {
        assert!(checked.iter().any(|c| c == op), "no {op} layer was checked: {checked:?}");
    }
}

/// The same layers on random inputs over their dtypes' whole ranges (int32
/// inputs, which are indices in this model, in 0..16): every element equals
/// the engine's kernel, and the C refuses exactly the images the engine
/// refuses (a zero divisor, a negative SQRT input).
#[test]
fn every_tops_layer_of_this_family_matches_the_engine_on_random_inputs() {
    let plan = open();
    let dir = common::tempdir("export-c-tops", "random");
    let n = 200;
    let mut rng = common::XorShift(0x7095);
    let (mut images, mut refused) = (0, 0);
    for (k, op, node) in layers(&plan) {
        let mut inputs: Vec<(usize, Vec<i64>)> = Vec::new();
        let mut per_image: Vec<Vec<Option<Value>>> = vec![vec![None; plan.model.tensors.len()]; n];
        for t in op.inputs() {
            if inputs.iter().any(|(u, _)| *u == t) {
                continue;
            }
            let tensor = &plan.model.tensors[t];
            if let Some(c) = Value::from_constant(tensor) {
                for v in per_image.iter_mut() {
                    v[t] = Some(c.clone());
                }
                let c = bits(&c);
                inputs.push((t, (0..n).flat_map(|_| c.iter().copied()).collect()));
                continue;
            }
            let size = tensor.num_elements();
            let mut all = Vec::with_capacity(n * size);
            for v in per_image.iter_mut() {
                let data = match tensor.dtype {
                    quantlens::DType::I8 => Data::I8((0..size).map(|_| (rng.below(256) as i64 - 128) as i8).collect()),
                    quantlens::DType::U8 => Data::U8((0..size).map(|_| rng.below(256) as u8).collect()),
                    quantlens::DType::Bool => Data::Bool((0..size).map(|_| rng.below(2) == 1).collect()),
                    quantlens::DType::I32 => Data::I32((0..size).map(|_| rng.below(16) as i32).collect()),
                    quantlens::DType::F32 => Data::F32((0..size).map(|_| if rng.below(50) == 0 { -0.0 } else { (rng.below(20001) as f32 - 10000.0) / 37.0 }).collect()),
                    other => panic!("layer {k}: input dtype {other}"),
                };
                let value = Value { shape: tensor.shape.clone(), data };
                all.extend(bits(&value));
                v[t] = Some(value);
            }
            inputs.push((t, all));
        }
        let got = run_c(&dir, &format!("random{k}"), &node, &inputs, n);
        for (i, (vals, c)) in per_image.iter().zip(&got).enumerate() {
            let want = op.eval(vals).ok().map(|v| bits(&v));
            assert_eq!(c, &want, "layer {k} {} image {i}: C vs engine (None: refused)", node.op_kind);
            images += 1;
            refused += want.is_none() as usize;
        }
    }
    println!("{images} random layer inputs, {refused} refused by both");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the family does not export is refused by the op's name: the float32
/// comparisons, DIV and reductions of `tops_float32`.
#[test]
fn float_comparisons_and_arithmetic_are_refused_by_name() {
    let plan = Plan::new(Model::from_path(common::model("tops_float32")).unwrap(), Profile::Tflm).unwrap();
    let mut refused = Vec::new();
    for (k, step) in plan.steps.iter().enumerate() {
        let Kernel::Transformer(op) = &step.kernel else { continue };
        let cx = Ctx { plan: &plan, step, k };
        let name = plan.model.operators[step.op].kind.name();
        let float = plan.model.tensors[op.inputs()[0]].dtype == quantlens::DType::F32;
        if matches!(op, Op::Compare(_)) && float {
            let e = tops::node(&cx, op).unwrap_err().to_string();
            assert!(e.contains(&name) && e.contains("float32"), "layer {k}: {e}");
            refused.push(name);
        } else if float && matches!(op, Op::Div(_) | Op::Reduce(_) | Op::L2Normalization(_) | Op::MaximumMinimum(_)) {
            assert!(!tops::covers(op), "layer {k} {name}: float32 is not covered");
        }
    }
    assert!(refused.len() >= 4, "{refused:?}");
}
