//! `quantlens export --format c` on every committed 8-bit model.
//!
//! For each model whose ops the integer export covers, the CLI writes
//! `model.c`, `model.h` and `golden.h` for every held-out golden image; the
//! harness (the graph harness, or the MLP harness for the MLPs) is compiled
//! with `cc -std=c99 -pedantic -Wall -Wextra -Werror` and run; every
//! op-produced tensor of every image that the C code computed is compared
//! with the engine's `tflm` profile and, where the committed TFLite Micro
//! golden holds that tensor, with TFLite Micro — float32 tensors (after
//! DEQUANTIZE, inside float islands) by their bits. Every count of differing
//! elements must be 0. Every committed 8-bit model is exported (an op
//! outside the export would be refused with exit 2, naming it); a committed
//! 8-bit model missing from the table below fails the test.
//!
//! The JSON and Verilog exports of a conv model are read back and compared
//! with the engine's prepared constants.

use std::path::{Path, PathBuf};
use std::process::Command;

use quantlens::export::c::graph::{is_mlp, GraphExport};
use quantlens::export::c::{compile_and_run, graph_c::HARNESS_GRAPH_C};
use quantlens::export::{Export, HARNESS_C};
use quantlens::io::{read_samples, Npz};
use quantlens::verify::stack_tensor;
use quantlens::{Model, Plan, Profile};

mod common;

/// What the export does with a committed 8-bit model.
enum Expect {
    /// Exported; checked on every held-out image.
    Exact,
    /// Refused with exit 2: (op named in the message, why).
    Refused(&'static str, &'static str),
}

const MODELS: &[(&str, Expect)] = &[
    ("cnn_ptq_int8", Expect::Exact),
    ("cnn_ptq_uint8io", Expect::Exact),
    ("dscnn_ptq_int8", Expect::Exact),
    ("efficientnet_b0w05_ptq_int8", Expect::Exact),
    ("mobilenetv2_ptq_int8", Expect::Exact),
    ("ops_ptq_int8", Expect::Exact),
    ("resnet_ptq_int8", Expect::Exact),
    ("resnet_ptq_uint8io", Expect::Exact),
    ("tile_ptq_int8", Expect::Exact),
    ("unet_ptq_int8", Expect::Exact),
    ("vision_ops_ptq_int8", Expect::Exact),
    ("mlp_ptq_int8_per_tensor", Expect::Exact),
    ("mlp_ptq_uint8io", Expect::Exact),
    ("mlp_legacy_uint8", Expect::Exact),
    ("cnn_legacy_uint8", Expect::Exact),
    ("resnet_ptq_floatio", Expect::Exact),
    ("corpus_sparse_int8", Expect::Exact),
    ("vit_ptq_int8", Expect::Exact),
    ("tops_ptq_int8", Expect::Exact),
    // log_softmax, expand_dims, squeeze (issue 15, item 4)
    ("kws1d_ptq_int8", Expect::Exact),
    ("logsoftmax_ptq_int8", Expect::Exact),
    // cnn_modes (issue 11): the project CNN from cnn_float32's weights
    ("cnn_modes_ptq_int8", Expect::Exact),
    ("cnn_modes_ptq_uint8io", Expect::Exact),
    // effb0 (issue 14): the full-width keras.applications.EfficientNetB0
    ("efficientnet_b0_ptq_int8", Expect::Exact),
    // uint8 (issue 14): int8 PTQ coverage graphs rewritten into uint8 (issue 14)
    ("uint8_ops", Expect::Refused("REDUCE_MAX", "uint8 activations through the reductions, comparisons, GELU, …: the C forms of the issue-14 ops are the int8 ones")),
    ("uint8_ops_builtin", Expect::Exact),
    // uint8_graph (issue 14): uint8 TRANSPOSE, comparisons, SELECT_V2, RELU6 written with the schema
    ("uint8_graph", Expect::Exact),
    // add_ties (issue 14): ADDs whose ties separate LiteRT builtin's NEON blocks (exported with tflm: the reference)
    ("add_ties_uint8", Expect::Exact),
    ("add_ties_int8", Expect::Exact),
    // uint8_tconv (issue 14): uint8 TRANSPOSE_CONV written with the schema
    ("uint8_tconv", Expect::Refused("TRANSPOSE_CONV", "uint8 weights with a zero point: the C kernel takes int8 weights with zero point 0")),
];

/// Integer elements widened, float32 elements as their bits (as the harness writes them).
fn bits(data: &quantlens::tensor::Data) -> Option<Vec<i64>> {
    match data {
        quantlens::tensor::Data::F32(v) => Some(v.iter().map(|x| x.to_bits() as i32 as i64).collect()),
        d => quantlens::Value { shape: vec![], data: d.clone() }.to_i64_vec(),
    }
}

fn goldens(stem: &str) -> PathBuf {
    common::root().join("data/goldens").join(stem)
}

/// Per model: (images, layers, elements compared, differing vs engine, tensors and differing vs TFLite Micro,
/// and for a model TFLite Micro cannot run: tensors where the `tflm` profile equals LiteRT's reference
/// golden, of those compared, and the C output's differing elements on them).
struct Counts {
    n: usize,
    layers: usize,
    elements: usize,
    differ_engine: usize,
    tflm_tensors: usize,
    differ_tflm: usize,
    ref_equal: usize,
    ref_compared: usize,
    differ_ref: usize,
}

fn check_model(stem: &str) -> Counts {
    let dir = common::tempdir("export-c-all", stem);
    let model = common::model(stem);
    let input = goldens(stem).join("input.npy");
    let mut xs = read_samples(&input).unwrap().samples();
    // The MLPs' 1000 images are all checked by tests/export.rs; 200 here.
    if stem.starts_with("mlp_") {
        xs.truncate(200);
    }
    let n = xs.len();
    let (code, out) = common::export_with_goldens(&model, "c", &dir, n, &input);
    assert_eq!(code, 0, "{stem}: {out}");
    let plan = Plan::new(Model::from_path(&model).unwrap(), Profile::Tflm).unwrap();
    // The layers' output tensors, in export order.
    let tensors: Vec<(usize, usize)> = if is_mlp(&plan) {
        Export::new(&plan, stem, None).unwrap().layers.iter().map(|l| (l.output.index, l.output.size())).collect()
    } else {
        GraphExport::new(&plan, stem).unwrap().nodes.iter().map(|l| (l.output.index, l.output.size())).collect()
    };
    let harness = if is_mlp(&plan) { HARNESS_C } else { HARNESS_GRAPH_C };
    let sizes: Vec<usize> = tensors.iter().map(|t| t.1).collect();
    let run = compile_and_run(harness, &sizes, &dir, "cc").unwrap_or_else(|e| panic!("{stem}: {e}"));
    assert!(run.passed, "{stem}: the C harness found differences from golden.h:\n{}", run.stdout);
    assert!(run.stdout.contains(&format!("BIT-EXACT: {n} images")), "{stem}: {}", run.stdout);
    let computed = run.outputs.unwrap();
    assert_eq!(computed.len(), tensors.len());

    let traces = plan.run_batch(&xs).unwrap();
    let mut npz = Npz::open(goldens(stem).join("tflm.npz")).ok();
    let mut reference = if npz.is_none() { Npz::open(goldens(stem).join("ref.npz")).ok() } else { None };
    let (mut elements, mut differ_engine, mut tflm_tensors, mut differ_tflm) = (0, 0, 0, 0);
    let (mut ref_equal, mut ref_compared, mut differ_ref) = (0, 0, 0);
    for ((t, size), got) in tensors.iter().zip(&computed) {
        assert_eq!(got.len(), n * size, "{stem} t{t}");
        let engine = bits(&stack_tensor(&traces, *t).unwrap().data).unwrap();
        elements += got.len();
        differ_engine += got.iter().zip(&engine).filter(|(a, b)| **a as i64 != **b).count();
        if let Some(g) = npz.as_mut().and_then(|z| z.get(&format!("t{t}")).ok()).and_then(|v| bits(&v.data)) {
            if g.len() >= got.len() {
                tflm_tensors += 1;
                differ_tflm += got.iter().zip(&g).filter(|(a, b)| **a as i64 != **b).count();
            }
        }
        if let Some(g) = reference.as_mut().and_then(|z| z.get(&format!("t{t}")).ok()).and_then(|v| bits(&v.data)) {
            if g.len() >= got.len() {
                ref_compared += 1;
                if engine[..] == g[..engine.len()] {
                    ref_equal += 1;
                    differ_ref += got.iter().zip(&g).filter(|(a, b)| **a as i64 != **b).count();
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Counts { n, layers: tensors.len(), elements, differ_engine, tflm_tensors, differ_tflm, ref_equal, ref_compared, differ_ref }
}

#[test]
fn every_committed_8bit_model_is_in_the_table() {
    let mut committed: Vec<String> = std::fs::read_dir(common::root().join("data/models"))
        .unwrap()
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(String::from))
        .filter(|s| s.contains("int8") || s.contains("uint8"))
        .collect();
    committed.sort();
    for s in &committed {
        assert!(MODELS.iter().any(|(m, _)| m == s), "committed 8-bit model {s} is not in this test's table");
    }
}

/// Export `stem` and check it on every held-out image ([`MODELS`]).
fn check(stem: &str) {
    let (_, expect) = MODELS.iter().find(|(m, _)| *m == stem).unwrap();
    match expect {
        Expect::Exact => {
            let c = check_model(stem);
            let (n, layers, elements, de, tt, dt) = (c.n, c.layers, c.elements, c.differ_engine, c.tflm_tensors, c.differ_tflm);
            print!("{stem}: {n} images, {layers} layers, {elements} elements; differing from the engine: {de}; {tt} tensors compared with TFLite Micro, differing: {dt}");
            if c.ref_compared > 0 {
                print!("; no TFLite Micro golden: {} of {} tensors where tflm equals LiteRT's reference, differing: {}", c.ref_equal, c.ref_compared, c.differ_ref);
            }
            println!();
            assert_eq!(de, 0, "{stem}: C export vs engine tflm");
            assert_eq!(dt, 0, "{stem}: C export vs TFLite Micro golden");
            assert_eq!(c.differ_ref, 0, "{stem}: C export vs LiteRT reference golden where tflm equals it");
            assert!(tt > 0 || !goldens(stem).join("tflm.npz").exists(), "{stem}: no tensor compared with TFLite Micro");
        }
        Expect::Refused(op, why) => {
            let dir = common::tempdir("export-c-all", &format!("refused-{stem}"));
            let (code, out) = common::cli(&["export", common::model(stem).to_str().unwrap(), "--format", "c", "--out", dir.to_str().unwrap()]);
            assert_eq!(code, 2, "{stem} should be refused: {out}");
            assert!(out.contains(op), "{stem}: the refusal names {op}: {out}");
            println!("{stem}: refused ({op}): {why}");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

macro_rules! models {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            check(stringify!($name));
        }
    )*};
}

models!(
    cnn_ptq_int8,
    cnn_ptq_uint8io,
    dscnn_ptq_int8,
    efficientnet_b0w05_ptq_int8,
    mobilenetv2_ptq_int8,
    ops_ptq_int8,
    resnet_ptq_int8,
    resnet_ptq_uint8io,
    tile_ptq_int8,
    unet_ptq_int8,
    vision_ops_ptq_int8,
    mlp_ptq_int8_per_tensor,
    mlp_ptq_uint8io,
    mlp_legacy_uint8,
    cnn_legacy_uint8,
    resnet_ptq_floatio,
    corpus_sparse_int8,
    vit_ptq_int8,
    tops_ptq_int8,
    kws1d_ptq_int8,
    logsoftmax_ptq_int8,
    cnn_modes_ptq_int8,
    cnn_modes_ptq_uint8io,
    // effb0
    efficientnet_b0_ptq_int8,
    // uint8 (issue 14)
    uint8_ops,
    uint8_ops_builtin,
    // uint8_graph (issue 14)
    uint8_graph,
    // add_ties (issue 14)
    add_ties_uint8,
    add_ties_int8,
    // uint8_tconv (issue 14)
    uint8_tconv,
);

#[test]
fn the_table_and_the_tests_agree() {
    // Each model of the table has its #[test] above (the macro's list), and no other.
    let src = std::fs::read_to_string(common::root().join("tests/export_c_all.rs")).unwrap();
    let list = &src[src.find("\nmodels!(\n").unwrap()..];
    let list = &list[..list.find(");").unwrap()];
    for (m, _) in MODELS {
        assert!(list.contains(&format!("\n    {m},")), "{m} has no test");
    }
    assert_eq!(list.matches(',').count(), MODELS.len());
}

fn parse_hex_file(path: &Path, digits: usize, signed: bool) -> Vec<i64> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| quantlens::export::verilog::parse_hex(l, digits, signed).unwrap()).collect()
}

#[test]
fn json_and_verilog_export_of_a_conv_model_read_back() {
    let stem = "resnet_ptq_int8";
    let plan = Plan::new(Model::from_path(common::model(stem)).unwrap(), Profile::Tflm).unwrap();
    let e = GraphExport::new(&plan, stem).unwrap();
    // JSON: every layer's params and arrays, by name.
    let dir = common::tempdir("export-c-all", "json");
    let (code, out) = common::cli(&["export", common::model(stem).to_str().unwrap(), "--format", "json", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).unwrap()).unwrap();
    let layers = j["layers"].as_array().unwrap();
    assert_eq!(layers.len(), e.nodes.len());
    let mut convs = 0;
    for (l, jl) in e.nodes.iter().zip(layers) {
        assert_eq!(jl["kind"], l.op_kind.as_str());
        for sc in &l.scalars {
            let key = sc.name.split_once('_').unwrap().1.to_lowercase();
            assert_eq!(jl["params"][&key].as_i64(), Some(sc.value), "layer {} {key}", l.index);
        }
        for a in &l.arrays {
            let key = a.name.split_once('_').unwrap().1;
            let v: Vec<i64> = jl["arrays"][key]["values"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
            assert_eq!(v, a.values, "layer {} {key}", l.index);
        }
        if l.op_kind == "CONV_2D" {
            convs += 1;
            for key in ["stride_h", "stride_w", "dil_h", "dil_w", "pad_h", "pad_w", "z1", "z3", "act_min", "act_max"] {
                assert!(jl["params"][key].is_i64(), "layer {} has {key}", l.index);
            }
            assert_eq!(jl["arrays"]["m0"]["values"].as_array().unwrap().len(), l.output.shape[3]);
        }
    }
    assert!(convs >= 4);
    // The conv weights in JSON are the engine's prepared filter.
    let first_conv = plan.steps.iter().find_map(|s| if let quantlens::plan::Kernel::Conv2d(p) = &s.kernel { Some(p) } else { None }).unwrap();
    let jw: Vec<i64> = layers[0]["arrays"]["weights"]["values"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
    assert_eq!(jw, first_conv.weights.iter().map(|&w| w as i64).collect::<Vec<_>>());

    // Verilog: each ROM file parses back to its array; params.vh has every constant and each ROM's depth.
    let vdir = common::tempdir("export-c-all", "verilog");
    let (code, out) = common::cli(&["export", common::model(stem).to_str().unwrap(), "--format", "verilog", "--out", vdir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let vh = std::fs::read_to_string(vdir.join("params.vh")).unwrap();
    for l in &e.nodes {
        for sc in &l.scalars {
            assert!(vh.contains(&format!("localparam integer {} = {};", sc.name, sc.value)), "params.vh lacks {}", sc.name);
        }
        for a in &l.arrays {
            let digits = quantlens::export::hex_digits(a.dtype);
            assert_eq!(parse_hex_file(&vdir.join(format!("{}.hex", a.name)), digits, true), a.values, "{}", a.name);
            assert!(vh.contains(&format!("{}_DEPTH = {}", a.name.to_uppercase(), a.values.len())));
        }
    }
    // The ROM module and params.vh are valid Verilog-2005 (when iverilog is installed).
    if Command::new("iverilog").arg("-V").output().is_ok() {
        let l0 = &e.nodes[0].arrays[0];
        let up = l0.name.to_uppercase();
        let top = format!(
            "module top;\n`include \"params.vh\"\nreg clk = 0; reg [{up}_ADDR_BITS-1:0] addr = 0; wire [{up}_WIDTH-1:0] d;\n\
             quantlens_rom #(.WIDTH({up}_WIDTH), .DEPTH({up}_DEPTH), .ADDR_BITS({up}_ADDR_BITS), .FILE(\"{}.hex\")) rom(.clk(clk), .addr(addr), .data(d));\n\
             initial begin #1 clk = 1; #1 $display(\"%0d\", $signed(d)); $finish; end\nendmodule\n",
            l0.name
        );
        std::fs::write(vdir.join("top.v"), top).unwrap();
        let c = Command::new("iverilog").args(["-g2005", "-o", "sim", "top.v", "rom.v"]).current_dir(&vdir).output().unwrap();
        assert!(c.status.success(), "iverilog: {}", String::from_utf8_lossy(&c.stderr));
        let r = Command::new("vvp").arg("sim").current_dir(&vdir).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&r.stdout).lines().next().unwrap().trim(), l0.values[0].to_string());
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&vdir);
}

/// Every layer of `stem` with one int8 input tensor gets all 256 int8 values,
/// cycled over its input (in several passes when the input is smaller than
/// 256), through model.c's `ql_run_layer`, and is compared with the engine's
/// kernel on the same input; float outputs by their bits. Where the engine
/// refuses the input, `ql_run_layer` must return `QL_ERR_INPUT`. Returns the
/// op kinds checked.
fn every_int8_input(stem: &str) -> Vec<String> {
    let plan = Plan::new(Model::from_path(common::model(stem)).unwrap(), Profile::Tflm).unwrap();
    let e = GraphExport::new(&plan, stem).unwrap();
    let dir = common::tempdir("export-c-all", &format!("every-input-{stem}"));
    let (code, out) = common::cli(&["export", common::model(stem).to_str().unwrap(), "--format", "c", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let mut driver = String::from("#include \"model.c\"\n#include <stdio.h>\nint main(void) {\n    long i, p;\n");
    let passes = |n: usize| 256usize.div_ceil(n);
    let value = |p: usize, n: usize, i: usize| (((p * n + i) * 7) % 256) as i32 - 128;
    let mut checked = Vec::new();
    for l in &e.nodes {
        if l.inputs.len() != 1 || l.inputs[0].dtype != quantlens::DType::I8 {
            continue;
        }
        let (t_in, n, m, k) = (l.inputs[0].index, l.inputs[0].size(), l.output.size(), l.index);
        let code = if l.output.dtype == quantlens::DType::F32 { 5 } else { 4 };
        driver += &format!(
            "    for (p = 0; p < {np}; p++) {{\n        for (i = 0; i < {n}; i++) ql_t{t_in}[i] = (int32_t)(((p * {n} + i) * 7) % 256) - 128;\n        printf(\"%d\\n\", ql_run_layer({k}));\n        for (i = 0; i < {m}; i++) printf(\"%d\\n\", (int)ql_get(ql_layer_output({k}), {code}, i));\n    }}\n",
            np = passes(n)
        );
        checked.push(k);
    }
    driver += "    return 0;\n}\n";
    std::fs::write(dir.join("driver.c"), driver).unwrap();
    let exe = dir.join("driver");
    let cc = Command::new("cc")
        .args(["-std=c99", "-O1", "-ffp-contract=off", "-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(dir.join("driver.c"))
        .arg(format!("-I{}", dir.display()))
        .arg("-lm")
        .output()
        .unwrap();
    assert!(cc.status.success(), "{}", String::from_utf8_lossy(&cc.stderr));
    let run = Command::new(&exe).output().unwrap();
    let got: Vec<i64> = String::from_utf8_lossy(&run.stdout).lines().map(|l| l.parse().unwrap()).collect();
    let mut off = 0;
    let mut kinds = Vec::new();
    for &k in &checked {
        let l = &e.nodes[k];
        let step = plan.steps.iter().find(|s| s.op == l.op).unwrap();
        let (n, m) = (l.inputs[0].size(), l.output.size());
        for p in 0..passes(n) {
            let x: Vec<i8> = (0..n).map(|i| value(p, n, i) as i8).collect();
            let mut values: Vec<Option<quantlens::Value>> = vec![None; plan.model.tensors.len()];
            values[l.inputs[0].index] = Some(quantlens::Value { shape: l.inputs[0].shape.clone(), data: quantlens::tensor::Data::I8(x) });
            let rc = got[off];
            match step.kernel.eval(&values) {
                Ok(want) => {
                    assert_eq!(rc, 0, "layer {k} {}: ql_run_layer returned {rc}", l.op_kind);
                    let want = bits(&want.data).unwrap();
                    let differ = got[off + 1..off + 1 + m].iter().zip(&want).filter(|(a, b)| a != b).count();
                    assert_eq!(differ, 0, "layer {k} {} pass {p}: C vs engine on every int8 input", l.op_kind);
                }
                Err(err) => assert_eq!(rc, 2, "layer {k} {}: the engine refuses ({err}); the C must return QL_ERR_INPUT", l.op_kind),
            }
            off += 1 + m;
        }
        kinds.push(l.op_kind.clone());
    }
    assert_eq!(off, got.len());
    let _ = std::fs::remove_dir_all(&dir);
    kinds
}

#[test]
fn element_wise_kernels_match_the_engine_on_every_int8_input() {
    // LOGISTIC, TANH, HARD_SWISH, RELU, RELU6, LEAKY_RELU, …
    let kinds = every_int8_input("ops_ptq_int8");
    for must in ["LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "LEAKY_RELU"] {
        assert!(kinds.iter().any(|k| k == must), "{must} not checked: {kinds:?}");
    }
}

#[test]
fn transformer_layers_match_the_engine_on_every_int8_input() {
    // GELU and RSQRT (whose inputs below the zero point are refused), TRANSPOSE, DEQUANTIZE to float32, MEAN, FULLY_CONNECTED, …
    let kinds = every_int8_input("vit_ptq_int8");
    for must in ["GELU", "RSQRT", "TRANSPOSE", "DEQUANTIZE", "SOFTMAX"] {
        assert!(kinds.iter().any(|k| k == must), "{must} not checked: {kinds:?}");
    }
}
