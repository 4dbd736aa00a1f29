//! uint8 TRANSPOSE_CONV (topic `uint8_tconv`, `scripts/data_uint8_tconv.py`,
//! manifest `data/manifests/uint8_tconv.json`): a uint8 CONV_2D, then six
//! TRANSPOSE_CONVs with asymmetric per-tensor uint8 weights — SAME and VALID,
//! strides 1, 2 and (2, 1), outputs that are not a multiple of the stride,
//! with and without bias, fused RELU and RELU6, and one (`ties`) whose
//! multiplier is 1/128 with exact negative ties in its flattened tail. Every op-produced tensor over
//! every golden image, in every profile whose runtime ran the model (LiteRT
//! ref, builtin, XNNPACK; TFLite Micro has no uint8 TRANSPOSE_CONV, its
//! refusal is in the manifest), against that runtime's goldens: 0 differing
//! elements, traced, and through the outputs-only paths for each of the six
//! outputs in turn. And the builtin profile's choice is needed: with either
//! of its two roundings everywhere it differs from builtin's goldens.
//!
//! `--nocapture` prints the per-tensor table.

mod common;

use common::{exact_against_goldens, golden_dir, golden_inputs, model};
use quantlens::io::Npz;
use quantlens::model::DType;
use quantlens::ops::transpose_conv::Arith;
use quantlens::ops::vision::VisionOp;
use quantlens::plan::Kernel;
use quantlens::profile::{FlatRequant, Rounding};
use quantlens::{Model, Plan, Profile};

const STEM: &str = "uint8_tconv";
const IMAGES: usize = 32;

/// The model with output `k` first (the one the outputs-only paths return).
fn plan_with_output(profile: Profile, k: usize) -> Plan {
    let mut m = Model::from_path(model(STEM)).unwrap();
    m.outputs.rotate_left(k);
    Plan::new(m, profile).unwrap()
}

fn check(profile: Profile) {
    let golden = golden_dir(STEM).join(format!("{}.npz", profile.golden_key()));
    assert!(golden.exists(), "{STEM}: no {} goldens", profile.golden_key());
    let inputs = golden_inputs(STEM, IMAGES);
    let outputs = plan_with_output(profile, 0).model.outputs.len();
    assert_eq!(outputs, 6);
    let mut failures = Vec::new();
    for k in 0..outputs {
        let plan = plan_with_output(profile, k);
        let label = format!("{STEM} {profile} (output {k} first)");
        failures.extend(exact_against_goldens(&label, &plan, &inputs, &mut Npz::open(&golden).unwrap()));
    }
    assert!(failures.is_empty(), "{STEM} {profile} is not bit-exact:\n{}", failures.join("\n"));
}

#[test]
fn uint8_tconv_tflite_ref() {
    check(Profile::TfliteRef);
}

#[test]
fn uint8_tconv_tflite_builtin() {
    check(Profile::TfliteBuiltin);
}

#[test]
fn uint8_tconv_tflite_xnnpack() {
    check(Profile::TfliteXnnpack);
}

/// TFLite Micro refused the model ("Type UINT8 (3) not supported" for
/// TRANSPOSE_CONV; the model's uint8 CONV_2D already fails to prepare): no
/// goldens, the refusal recorded in the manifest.
#[test]
fn uint8_tconv_tflm_refused() {
    assert!(!golden_dir(STEM).join(format!("{}.npz", Profile::Tflm.golden_key())).exists());
    let manifest = std::fs::read_to_string(common::root().join("data/manifests/uint8_tconv.json")).unwrap();
    assert!(manifest.contains("tflm_refusal") && manifest.contains("Type UINT8 (3) not supported"));
}

/// Differing TRANSPOSE_CONV elements of `plan` against `runtime`'s goldens.
fn tconv_differing(plan: &Plan, runtime: &str) -> usize {
    let mut npz = Npz::open(golden_dir(STEM).join(format!("{runtime}.npz"))).unwrap();
    let traces = plan.run_batch(&golden_inputs(STEM, IMAGES).samples()).unwrap();
    let report = quantlens::verify::verify(plan, &traces, &mut npz).unwrap();
    report.tensors.iter().filter(|t| t.op_kind.to_string() == "TRANSPOSE_CONV").map(|t| t.differing).sum()
}

/// The builtin profile with every uint8 TRANSPOSE_CONV requantized by `requant`.
fn builtin_with(requant: FlatRequant) -> Plan {
    let mut plan = plan_with_output(Profile::TfliteBuiltin, 0);
    for step in &mut plan.steps {
        if let Kernel::Vision(VisionOp::TransposeConv(p)) = &mut step.kernel {
            if let Arith::Uint8 { requant: r, .. } = &mut p.arith {
                *r = requant;
            }
        }
    }
    plan
}

/// LiteRT builtin's flattened blocks of 16 are what separates it from the
/// reference, both halves of the rule: the scalar double rounding everywhere
/// (the ref profile's rule) differs from builtin's goldens, and so does the
/// vector code's ties-up rounding everywhere (the `ties` layer's tail holds
/// exact negative ties on every image); the blocks give 0.
#[test]
fn the_builtin_blocks_are_needed() {
    let all_scalar = tconv_differing(&builtin_with(FlatRequant::Uniform(Rounding::FixedPointDoubleRounding)), "builtin");
    let all_vector = tconv_differing(&builtin_with(FlatRequant::Uniform(Rounding::FixedPointTiesUp)), "builtin");
    println!("against builtin's goldens: double rounding everywhere {all_scalar}, ties up everywhere {all_vector} TRANSPOSE_CONV elements differ");
    assert!(all_scalar > 0 && all_vector > 0);
    assert_eq!(Profile::TfliteBuiltin.transpose_conv_uint8_requant(), FlatRequant::VectorBlocks { block: 16 });
    assert_eq!(tconv_differing(&plan_with_output(Profile::TfliteBuiltin, 0), "builtin"), 0);
}

/// The model is what this suite is about: six uint8 TRANSPOSE_CONVs with
/// per-tensor uint8 weights whose zero point is neither 0 nor 128, one
/// without bias, SAME and VALID, stride 1 and 2, an output not a multiple
/// of the stride.
#[test]
fn holds_the_uint8_forms() {
    let plan = plan_with_output(Profile::TfliteRef, 0);
    let m = &plan.model;
    let tconvs: Vec<_> = m.operators.iter().filter(|o| o.kind.to_string() == "TRANSPOSE_CONV").collect();
    assert_eq!(tconvs.len(), 6);
    let mut no_bias = 0;
    for op in &tconvs {
        let (w, x, y) = (op.inputs[1].unwrap(), op.inputs[2].unwrap(), op.outputs[0]);
        for t in [w, x, y] {
            assert_eq!(m.tensors[t].dtype, DType::U8);
        }
        let q = m.tensors[w].quant.as_ref().unwrap();
        assert_eq!(q.scale.len(), 1, "per-tensor weights");
        assert!(q.zero_point[0] != 0 && q.zero_point[0] != 128, "weight zero point {}", q.zero_point[0]);
        no_bias += op.inputs.get(3).is_none_or(|b| b.is_none()) as usize;
    }
    assert_eq!(no_bias, 1);
    let shapes: Vec<Vec<usize>> = tconvs.iter().map(|o| m.tensors[o.outputs[0]].shape.clone()).collect();
    assert!(shapes.iter().any(|s| s[1] % 2 == 1), "an output not a multiple of stride 2: {shapes:?}");
}

/// As LiteRT's Prepare, a TRANSPOSE_CONV whose output, filter, strides and
/// padding do not come from its input's size is refused by name (here `up2`,
/// 14×14 → 28×28 SAME, given stride 1: the forward convolution would need a
/// 28×28 input), and a uint8 filter quantized per channel is refused too.
#[test]
fn inconsistent_layers_are_refused_by_name() {
    use quantlens::model::Options;
    let mut m = Model::from_path(model(STEM)).unwrap();
    let k = m.operators.iter().position(|o| o.kind.to_string() == "TRANSPOSE_CONV").unwrap();
    if let Options::TransposeConv { stride_w, stride_h, .. } = &mut m.operators[k].options {
        (*stride_w, *stride_h) = (1, 1);
    }
    let err = Plan::new(m, Profile::TfliteRef).err().expect("refused").to_string();
    assert!(err.contains("TRANSPOSE_CONV") && err.contains("28×28 input") && err.contains("14×14"), "{err}");

    let mut m = Model::from_path(model(STEM)).unwrap();
    let w = m.operators[k].inputs[1].unwrap();
    let co = m.tensors[w].shape[0];
    let q = m.tensors[w].quant.as_mut().unwrap();
    (q.scale, q.zero_point) = (vec![q.scale[0]; co], vec![q.zero_point[0]; co]);
    let err = Plan::new(m, Profile::TfliteBuiltin).err().expect("refused").to_string();
    assert!(err.contains("TRANSPOSE_CONV") && err.contains("per-channel"), "{err}");
}
