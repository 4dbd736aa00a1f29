//! Every op-produced tensor of every committed quantized model, for every
//! held-out image that has goldens (all 1 000 for the MLPs, the first 200
//! for the convolutional models, whose feature maps are large), against the
//! goldens the real runtimes wrote (`scripts/make_data.py`): 0 differing
//! elements, in every profile whose runtime ran the model.

use std::path::PathBuf;

use quantlens::io::{read_samples, Npz};
use quantlens::verify::verify;
use quantlens::{Model, Plan, Profile};

/// (model, held-out images with goldens).
const QUANTIZED: [(&str, usize); 8] = [
    ("mlp_ptq_uint8io", 1000),
    ("mlp_ptq_int8_per_tensor", 1000),
    ("mlp_legacy_uint8", 1000),
    ("cnn_ptq_int8", 200),
    ("cnn_ptq_uint8io", 200),
    ("resnet_ptq_int8", 200),
    ("resnet_ptq_uint8io", 200),
    ("ops_ptq_int8", 200),
];

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn check(model_stem: &str, images: usize, profile: Profile) -> Option<String> {
    let dir = data().join("goldens").join(model_stem);
    let golden = dir.join(format!("{}.npz", profile.golden_key()));
    if !golden.exists() {
        return None;
    }
    let model = Model::from_path(data().join("models").join(format!("{model_stem}.tflite"))).unwrap();
    let plan = Plan::new(model, profile).unwrap();
    let inputs = read_samples(dir.join("input.npy")).unwrap();
    assert_eq!(inputs.len(), images, "{model_stem}: expected {images} held-out images");
    let traces = plan.run_batch(&inputs.samples()).unwrap();
    let report = verify(&plan, &traces, &mut Npz::open(&golden).unwrap()).unwrap();
    let mut lines = String::new();
    for t in &report.tensors {
        lines += &format!(
            "{model_stem} {profile}: t{} ({}, op {}): {} of {} differ, max |diff| {}\n",
            t.tensor, t.op_kind, t.op, t.differing, t.elements, t.max_abs_diff
        );
    }
    print!("{lines}");
    (!report.is_exact()).then_some(lines)
}

fn check_all(profile: Profile, expected_models: usize) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (stem, images) in QUANTIZED {
        let golden = data().join("goldens").join(stem).join(format!("{}.npz", profile.golden_key()));
        if golden.exists() {
            checked += 1;
        }
        if let Some(f) = check(stem, images, profile) {
            failures.push(f);
        }
    }
    assert_eq!(checked, expected_models, "{profile}: golden files missing");
    assert!(failures.is_empty(), "{profile} is not bit-exact:\n{}", failures.join(""));
}

#[test]
fn tflite_ref_is_bit_exact() {
    check_all(Profile::TfliteRef, 8);
}

#[test]
fn tflite_builtin_is_bit_exact() {
    check_all(Profile::TfliteBuiltin, 8);
}

#[test]
fn tflite_xnnpack_is_bit_exact() {
    check_all(Profile::TfliteXnnpack, 8);
}

#[test]
fn tflm_is_bit_exact() {
    // TFLite Micro refuses the legacy uint8 model (recorded in data/manifest.json).
    check_all(Profile::Tflm, 7);
}

/// The float model: LiteRT's reference kernels and TFLite Micro sum each dot
/// product sequentially in f32, as quantlens does, so even the float path is
/// bit-exact against them. (The optimized kernels and XNNPACK sum in SIMD
/// order and differ in the last bits; that is not emulated.)
#[test]
fn float_model_is_bit_exact_against_reference_and_tflm() {
    for profile in [Profile::TfliteRef, Profile::Tflm] {
        assert!(check("mlp_float32", profile).is_none(), "float model differs from {profile}");
    }
}
