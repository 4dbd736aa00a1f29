//! The full-width EfficientNet-B0 (topic `effb0`, `scripts/data_effb0.py`):
//! `keras.applications.EfficientNetB0(weights=None, input_shape=(32,32,3),
//! classes=10)`, full-integer PTQ, int8 I/O. Every op-produced tensor over
//! every golden image, in every profile whose runtime ran the model, against
//! that runtime's goldens: 0 differing elements, traced and through the
//! outputs-only paths (batched on 1 and 2 threads, a reused workspace); the
//! outputs-only batch also on every kernel path this CPU has.
//!
//! `--nocapture` prints the per-tensor table.

mod common;

use common::{exact_against_goldens, golden_dir, golden_inputs, open_plan};
use quantlens::io::Npz;
use quantlens::ops::{with_kernel_path, KernelPath};
use quantlens::Profile;

const STEM: &str = "efficientnet_b0_ptq_int8";
/// Golden images (few: the network is large and its goldens hold every tensor).
const IMAGES: usize = 3;

fn check(profile: Profile) {
    let golden = golden_dir(STEM).join(format!("{}.npz", profile.golden_key()));
    // LiteRT reference, builtin, XNNPACK and TFLite Micro all ran it (scripts/data_effb0.py).
    assert!(golden.exists(), "{STEM}: no {} goldens", profile.golden_key());
    let plan = open_plan(STEM, profile);
    let inputs = golden_inputs(STEM, IMAGES);
    let mut npz = Npz::open(&golden).unwrap();
    let label = format!("{STEM} {profile}");
    let mut failures = exact_against_goldens(&label, &plan, &inputs, &mut npz);
    let want = npz.get(&format!("t{}", plan.output())).unwrap();
    for path in KernelPath::available() {
        let out = with_kernel_path(path, || plan.run_batch_outputs_threads(&inputs, 2)).unwrap().unwrap();
        if out.shape != want.shape || out.data != want.data {
            failures.push(format!("{label} [{path}]: outputs-only batch differs from the golden output"));
        }
    }
    assert!(failures.is_empty(), "{label} is not bit-exact:\n{}", failures.join("\n"));
}

#[test]
fn efficientnet_b0_tflite_ref() {
    check(Profile::TfliteRef);
}

#[test]
fn efficientnet_b0_tflite_builtin() {
    check(Profile::TfliteBuiltin);
}

#[test]
fn efficientnet_b0_tflite_xnnpack() {
    check(Profile::TfliteXnnpack);
}

#[test]
fn efficientnet_b0_tflm() {
    check(Profile::Tflm);
}

/// The model is the full-width B0: its op kinds are the half-width model's,
/// and its widest feature map has 1280 channels (the head's 1×1 convolution).
#[test]
fn is_the_full_width_b0() {
    let plan = open_plan(STEM, Profile::TfliteRef);
    let widest = plan.model.tensors.iter().filter_map(|t| t.shape.last().copied()).max().unwrap();
    assert_eq!(widest, 1280, "{STEM}: widest channel count");
    let mut kinds: Vec<String> = plan.model.operators.iter().map(|o| o.kind.to_string()).collect();
    kinds.sort();
    kinds.dedup();
    let half = open_plan("efficientnet_b0w05_ptq_int8", Profile::TfliteRef);
    let mut half_kinds: Vec<String> = half.model.operators.iter().map(|o| o.kind.to_string()).collect();
    half_kinds.sort();
    half_kinds.dedup();
    assert_eq!(kinds, half_kinds);
}
