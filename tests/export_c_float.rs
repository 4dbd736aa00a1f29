//! The float32 edges of the C graph export on the values that decide
//! bit-exactness: QUANTIZE of float32 inputs that are ties of `r/S` (rounded
//! half away from zero, not to even), ±0, subnormals, values beyond the
//! int8 range, ±∞ and NaN, then DEQUANTIZE back to float32, compared by bits
//! with the engine's `tflm` profile through the golden-checking harness;
//! DEQUANTIZE → QUANTIZE on every int8 value with a scale that halves (every
//! odd value a tie). A float32 tensor reaching an op whose C kernel carries
//! integers is refused by name.

use quantlens::export::c::graph::GraphExport;
use quantlens::export::c::{compile_and_run, graph_c::HARNESS_GRAPH_C};
use quantlens::io::Stacked;
use quantlens::tensor::Data;
use quantlens::{Model, Plan, Profile};

mod common;
use common::{op, q, t, OptSpec, Spec, DEQUANTIZE, FLOAT32, INT8, QUANTIZE, RESHAPE};

/// The builtin code of SQUEEZE.
const SQUEEZE: i32 = 43;

/// `dtype_in` [1, n] → op 0 → INT8 or FLOAT32 … : a chain of single-input ops on [1, n] tensors.
fn chain(n: i32, tensors: Vec<common::TSpec>, codes: Vec<i32>) -> Spec {
    let ops = (0..codes.len()).map(|k| {
        let options = if codes[k] == RESHAPE { OptSpec::Reshape { new_shape: vec![1, n] } } else { OptSpec::None };
        op(k as u32, &[k as i32], &[k as i32 + 1], options)
    });
    Spec { ops: ops.collect(), inputs: vec![0], outputs: vec![codes.len() as i32], codes, tensors, buffers: vec![vec![]], subgraphs: 1 }
}

/// Export `spec` with golden vectors on `x` (`[N, n]`), run the harness, and compare every layer with the engine by bits.
fn exact(name: &str, spec: &Spec, x: Stacked) -> (usize, usize) {
    let dir = common::tempdir("export-c-float", name);
    let model = dir.join(format!("{name}.tflite"));
    std::fs::write(&model, common::build(spec)).unwrap();
    let input = dir.join("input.npy");
    x.write_npy(&input).unwrap();
    let n = x.len();
    let (code, out) = common::export_with_goldens(&model, "c", &dir, n, &input);
    assert_eq!(code, 0, "{name}: {out}");
    let plan = Plan::new(Model::from_path(&model).unwrap(), Profile::Tflm).unwrap();
    let e = GraphExport::new(&plan, name).unwrap();
    let sizes: Vec<usize> = e.nodes.iter().map(|l| l.output.size()).collect();
    let run = compile_and_run(HARNESS_GRAPH_C, &sizes, &dir, "cc").unwrap_or_else(|err| panic!("{name}: {err}"));
    assert!(run.passed && run.stdout.contains(&format!("BIT-EXACT: {n} images")), "{name}: {}", run.stdout);
    let traces = plan.run_batch(&x.samples()).unwrap();
    let (mut elements, mut differ) = (0, 0);
    for (l, got) in e.nodes.iter().zip(run.outputs.unwrap()) {
        let want: Vec<i32> = match quantlens::verify::stack_tensor(&traces, l.output.index).unwrap().data {
            Data::F32(v) => v.iter().map(|f| f.to_bits() as i32).collect(),
            d => quantlens::Value { shape: vec![], data: d }.to_i64_vec().unwrap().iter().map(|&v| v as i32).collect(),
        };
        elements += got.len();
        differ += got.iter().zip(&want).filter(|(a, b)| a != b).count();
    }
    let _ = std::fs::remove_dir_all(&dir);
    (elements, differ)
}

#[test]
fn quantize_from_float_and_back_is_bit_exact_on_ties_and_special_values() {
    // S = 0.5, Z = 3: r/S = 2r, so r = k + 0.25 is the tie 2k + 0.5.
    let mut v: Vec<f32> = vec![0.0, -0.0, 0.25, -0.25, 0.75, -0.75, 1.25, -1.25, 62.25, 62.75, -65.25, -65.75, 1e-45, -1e-45, 1e30, -1e30];
    v.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::MAX, f32::MIN, f32::MIN_POSITIVE, 0.2499999, 0.2500001, 3.0e-8, 123.456, -7.77, 0.1, 0.3, 64.0, 62.0, -66.0]);
    let rows = 4;
    for i in 0..rows * 32 - v.len() {
        v.push(((i * 37) % 301) as f32 * 0.25 - 37.5);
    }
    let spec = chain(
        32,
        vec![t("r", &[1, 32], FLOAT32, 0, None), t("q", &[1, 32], INT8, 0, q(&[0.5], &[3])), t("back", &[1, 32], FLOAT32, 0, None)],
        vec![QUANTIZE, DEQUANTIZE],
    );
    let (elements, differ) = exact("quantize_special", &spec, Stacked { shape: vec![rows, 1, 32], data: Data::F32(v) });
    println!("QUANTIZE float32 → int8 → DEQUANTIZE: {elements} elements, {differ} differing from the engine (by bits)");
    assert_eq!(elements, 2 * rows * 32);
    assert_eq!(differ, 0);
}

#[test]
fn dequantize_then_quantize_every_int8_value() {
    // S_in = 0.1, Z_in = -3; S_out = 0.2, Z_out = 5: every other value lands near a tie of r/S_out.
    let spec = chain(
        256,
        vec![t("q", &[1, 256], INT8, 0, q(&[0.1], &[-3])), t("r", &[1, 256], FLOAT32, 0, None), t("q2", &[1, 256], INT8, 0, q(&[0.2], &[5]))],
        vec![DEQUANTIZE, QUANTIZE],
    );
    let x: Vec<i8> = (-128..=127).collect();
    let (elements, differ) = exact("dequantize_every", &spec, Stacked { shape: vec![1, 1, 256], data: Data::I8(x) });
    println!("DEQUANTIZE int8 → float32 → QUANTIZE: {elements} elements, {differ} differing from the engine (by bits)");
    assert_eq!(elements, 2 * 256);
    assert_eq!(differ, 0);
}

#[test]
fn a_float_tensor_into_an_integer_kernel_is_refused_by_name() {
    let spec = chain(
        4,
        // tops_ptq_int8: float32 RESHAPE is exported now (src/export/c/tops_float.rs); SQUEEZE's C copies integers
        vec![t("q", &[1, 4], INT8, 0, q(&[0.1], &[0])), t("r", &[1, 4], FLOAT32, 0, None), t("r2", &[4], FLOAT32, 0, None), t("q2", &[4], INT8, 0, q(&[0.1], &[0]))],
        vec![DEQUANTIZE, SQUEEZE, QUANTIZE],
    );
    let dir = common::tempdir("export-c-float", "refused");
    let model = dir.join("m.tflite");
    std::fs::write(&model, common::build(&spec)).unwrap();
    let (code, out) = common::cli(&["export", model.to_str().unwrap(), "--format", "c", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("SQUEEZE") && out.contains("float32; this op's C kernel carries integers"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
