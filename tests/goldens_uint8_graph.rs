//! The uint8 graphs written with the TFLite schema (topic `uint8_graph`,
//! `scripts/data_uint8_graph.py`, manifest `data/manifests/uint8_graph.json`):
//! uint8 TRANSPOSE (3-D and 4-D), EQUAL / NOT_EQUAL / LESS / LESS_EQUAL /
//! GREATER / GREATER_EQUAL on two different scales and zero points,
//! broadcasting SELECT_V2 and standalone RELU6 requantizing to another scale —
//! the uint8 forms the converter does not write. Every op-produced tensor over
//! every golden image, in every profile whose runtime ran the model (LiteRT
//! ref, builtin, XNNPACK; TFLite Micro has no uint8 kernel for them, its
//! refusal is in the manifest), against that runtime's goldens: 0 differing
//! elements, traced and through the outputs-only paths.
//!
//! `--nocapture` prints the per-tensor table.

mod common;

use common::{exact_against_goldens, golden_dir, golden_inputs, open_plan};
use quantlens::io::Npz;
use quantlens::model::DType;
use quantlens::Profile;

const STEM: &str = "uint8_graph";
const IMAGES: usize = 40;

fn check(profile: Profile) {
    let golden = golden_dir(STEM).join(format!("{}.npz", profile.golden_key()));
    assert!(golden.exists(), "{STEM}: no {} goldens", profile.golden_key());
    let plan = open_plan(STEM, profile);
    let inputs = golden_inputs(STEM, IMAGES);
    let label = format!("{STEM} {profile}");
    let failures = exact_against_goldens(&label, &plan, &inputs, &mut Npz::open(&golden).unwrap());
    assert!(failures.is_empty(), "{label} is not bit-exact:\n{}", failures.join("\n"));
}

#[test]
fn uint8_graph_tflite_ref() {
    check(Profile::TfliteRef);
}

#[test]
fn uint8_graph_tflite_builtin() {
    check(Profile::TfliteBuiltin);
}

#[test]
fn uint8_graph_tflite_xnnpack() {
    check(Profile::TfliteXnnpack);
}

/// TFLite Micro refused the model (no uint8 TRANSPOSE, comparison, SELECT_V2
/// or RELU6): no goldens were written for it.
#[test]
fn uint8_graph_tflm_refused() {
    assert!(!golden_dir(STEM).join(format!("{}.npz", Profile::Tflm.golden_key())).exists());
}

/// The model holds every op this suite is about, in uint8, and each
/// comparison kind at least once on two inputs of different scales and zero
/// points (the rescaling path).
#[test]
fn holds_the_uint8_forms() {
    let plan = open_plan(STEM, Profile::TfliteRef);
    let m = &plan.model;
    let quant = |t: usize| m.tensors[t].quant.as_ref().map(|q| (q.scale[0].to_bits(), q.zero_point[0]));
    for kind in ["TRANSPOSE", "EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "SELECT_V2", "RELU6"] {
        let ops: Vec<_> = m.operators.iter().filter(|o| o.kind.to_string() == kind).collect();
        assert!(!ops.is_empty(), "no {kind}");
        for op in &ops {
            let data = op.inputs[if kind == "SELECT_V2" { 1 } else { 0 }].unwrap();
            assert_eq!(m.tensors[data].dtype, DType::U8, "{kind}: input dtype");
        }
        if kind.contains("EQUAL") || kind.starts_with("LESS") || kind.starts_with("GREATER") {
            let differ = ops.iter().any(|o| quant(o.inputs[0].unwrap()) != quant(o.inputs[1].unwrap()));
            assert!(differ, "{kind}: no instance with inputs on different scales");
        }
    }
    // RELU6 requantizes: its output's scale and zero point are not its input's
    for op in m.operators.iter().filter(|o| o.kind.to_string() == "RELU6") {
        assert_ne!(quant(op.inputs[0].unwrap()), quant(op.outputs[0]));
    }
}
