//! The convolutional models with float16 weights (`data/manifests/float16_cnn.json`:
//! `cnn_float16`, `resnet_float16`, `ops_float16`, `mobilenetv2_float16`,
//! `vision_ops_float16`): every weight and bias is FLOAT16 behind a DEQUANTIZE,
//! folded to float32 at prepare time, and every CONV_2D, DEPTHWISE_CONV_2D,
//! FULLY_CONNECTED, TRANSPOSE_CONV, PRELU and PADV2 runs its float32 kernel on
//! those folded constants.
//!
//! * LiteRT's reference kernels: every op-produced tensor in the goldens,
//!   every golden image, **bit-identical** (f32 bits), through the traced run
//!   and the outputs-only paths. (TFLite Micro refuses float16 DEQUANTIZE:
//!   the refusal is in the manifest, and there are no `tflm` goldens.)
//! * LiteRT's optimized kernels and XNNPACK sum in other orders: their largest
//!   distance in ULPs per tensor is printed (not a pass criterion); integer
//!   tensors must be equal.
//!
//! `cargo test --release --test goldens_float16 -- --nocapture` prints them.

mod common;

use quantlens::io::{Npz, Stacked};
use quantlens::plan::Kernel;
use quantlens::{DType, Model, Plan, Profile};

/// (model, golden images): the counts of `scripts/data_float16_cnn.py`.
const MODELS: [(&str, usize); 5] = [("cnn_float16", 8), ("resnet_float16", 8), ("ops_float16", 8), ("mobilenetv2_float16", 4), ("vision_ops_float16", 8)];

fn plan(stem: &str, profile: Profile) -> Plan {
    common::open_plan(stem, profile)
}

fn inputs(stem: &str, images: usize) -> Stacked {
    common::golden_inputs(stem, images)
}

fn npz(stem: &str, profile: Profile) -> Npz {
    Npz::open(common::golden_dir(stem).join(format!("{}.npz", profile.golden_key()))).unwrap()
}

/// Every FLOAT16 tensor of the file is dequantized by a folded step, and every
/// float32 constant an operator reads (the weights and bias of CONV_2D,
/// DEPTHWISE_CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV, PRELU's alpha, PADV2's
/// value) is the output of one: the file stores none of them in float32. The
/// kernels read their constants from the prepared model, where a folded
/// DEQUANTIZE's output is a constant like any other.
#[test]
fn every_float_constant_comes_from_a_folded_float16_dequantize() {
    for (stem, _) in MODELS {
        let file = Model::from_path(common::model(stem)).unwrap();
        let plan = plan(stem, Profile::TfliteRef);
        let folded: Vec<usize> = plan.steps.iter().filter_map(|s| matches!(s.kernel, Kernel::Folded(_)).then(|| s.kernel.output())).collect();
        let f16 = file.tensors.iter().filter(|t| t.dtype == DType::F16).count();
        assert!(f16 > 0 && folded.len() == f16, "{stem}: {f16} FLOAT16 tensors, {} folded steps", folded.len());
        let mut readers = std::collections::BTreeMap::new();
        for step in plan.steps.iter().filter(|s| !matches!(s.kernel, Kernel::Folded(_))) {
            let op = &plan.model.operators[step.op];
            for &t in op.inputs.iter().flatten() {
                let prepared = &plan.model.tensors[t];
                if prepared.is_constant() && prepared.dtype == DType::F32 {
                    assert!(folded.contains(&t) && file.tensors[t].data.is_none(), "{stem} op {} ({}): float32 constant t{t} not folded", step.op, op.kind);
                    *readers.entry(op.kind.name()).or_insert(0) += 1;
                }
            }
        }
        println!("{stem}: folded float16 constants read by {readers:?}");
        assert!(readers.values().sum::<usize>() >= 3, "{stem}: {readers:?}");
        // The reader names the mode, and the FLOAT16 tensors that make it so.
        let report = quantlens::model::mode::detect(&file);
        assert_eq!(report.mode, quantlens::model::mode::Mode::Float16, "{stem}: {}", report.describe());
    }
}

#[test]
fn float16_conv_models_are_bit_identical_to_the_reference_kernels() {
    let mut failures = Vec::new();
    for (stem, n) in MODELS {
        let plan = plan(stem, Profile::TfliteRef);
        let inputs = inputs(stem, n);
        let mut npz = npz(stem, Profile::TfliteRef);
        // The goldens hold every op-produced tensor but the folded constants.
        let unfolded = plan.steps.iter().filter(|s| !matches!(s.kernel, Kernel::Folded(_))).count();
        assert_eq!(npz.names().unwrap().len(), unfolded, "{stem}");
        failures.extend(common::exact_against_goldens(&format!("{stem} tflite-ref"), &plan, &inputs, &mut npz));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn optimized_runtimes_differ_by_a_few_ulps_and_agree_on_integers() {
    for profile in [Profile::TfliteBuiltin, Profile::TfliteXnnpack] {
        let mut worst = std::collections::BTreeMap::new();
        let mut integer_failures = Vec::new();
        for (stem, n) in MODELS {
            let (rows, failures) = common::ulp_rows(&plan(stem, profile), &inputs(stem, n), &mut npz(stem, profile));
            integer_failures.extend(failures.into_iter().map(|f| format!("{stem} {profile}: {f}")));
            for r in rows {
                println!("{stem} {profile}: t{} ({}, op {}): {} ULP alone, {} end to end", r.tensor, r.kind, r.op, r.alone, r.end_to_end);
                let w = worst.entry(r.kind).or_insert((0, 0, 0.0f64));
                *w = (w.0.max(r.alone), w.1.max(r.end_to_end), w.2.max(r.relative));
            }
        }
        for (kind, (alone, end_to_end, relative)) in &worst {
            println!("{profile}: {kind}: largest difference {alone} ULP alone (≤ {relative:.1e} of the largest |value|), {end_to_end} ULP end to end");
        }
        assert!(integer_failures.is_empty(), "{}", integer_failures.join("\n"));
        assert!(["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"].iter().all(|k| worst.contains_key(*k)), "{profile}: {worst:?}");
    }
}

/// TFLite Micro refused every model (float16 DEQUANTIZE), as the manifest records.
#[test]
fn tflite_micro_refusal_is_recorded() {
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(common::root().join("data/manifests/float16_cnn.json")).unwrap()).unwrap();
    for (stem, _) in MODELS {
        assert!(!common::golden_dir(stem).join("tflm.npz").exists(), "{stem}");
        let entry = &manifest["models"][stem];
        let log = entry["tflm_refusal"]["log"].as_str().unwrap_or_default();
        assert!(log.contains("DEQUANTIZE"), "{stem}: no TFLite Micro refusal of DEQUANTIZE recorded");
        let ran: Vec<&str> = entry["runtimes_that_ran"].as_array().unwrap().iter().filter_map(|r| r.as_str()).collect();
        assert_eq!(ran, ["ref", "builtin", "xnnpack"], "{stem}");
    }
}
