//! The vision models of issue 14 (`scripts/data_vision.py`, manifest
//! `data/manifests/vision.json`): every op-produced tensor over every golden
//! image, in every profile whose runtime ran the model, against the goldens
//! the runtimes wrote — 0 differing elements. Integer tensors must be equal;
//! float tensors bit-identical.
//!
//! Run one model with `cargo test --release --test goldens_vision <model>`
//! and `--nocapture` for the per-tensor table.

use std::path::PathBuf;

use quantlens::io::{read_samples, Npz};
use quantlens::verify::{stack_tensor, verify};
use quantlens::{Model, Plan, Profile};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// Differences of one model in one profile, or `None` when that runtime did
/// not run it (no golden file: see the manifest's `runtimes_without_goldens`).
fn diffs(stem: &str, images: usize, profile: Profile) -> Option<Vec<String>> {
    let dir = data().join("goldens").join(stem);
    let golden = dir.join(format!("{}.npz", profile.golden_key()));
    if !golden.exists() {
        return None;
    }
    let model = Model::from_path(data().join("models").join(format!("{stem}.tflite"))).unwrap();
    let plan = Plan::new(model, profile).unwrap_or_else(|e| panic!("{stem} {profile}: {e}"));
    let inputs = read_samples(dir.join("input.npy")).unwrap();
    assert_eq!(inputs.len(), images, "{stem}: expected {images} golden images");
    let traces = plan.run_batch(&inputs.samples()).unwrap();
    let report = verify(&plan, &traces, &mut Npz::open(&golden).unwrap()).unwrap();
    let mut bad = Vec::new();
    for t in &report.tensors {
        let line = format!(
            "{stem} {profile}: t{} ({}, op {}): {} of {} differ, max |diff| {}",
            t.tensor, t.op_kind, t.op, t.differing, t.elements, t.max_abs_diff
        );
        println!("{line}");
        if t.differing > 0 {
            bad.push(line);
        }
    }
    Some(bad)
}

/// Check `stem` in every profile; `runtimes` is how many have goldens.
fn check(stem: &str, images: usize, runtimes: usize) {
    let mut failures = Vec::new();
    let mut ran = 0;
    for profile in Profile::ALL {
        if let Some(bad) = diffs(stem, images, profile) {
            ran += 1;
            failures.extend(bad);
        }
    }
    assert_eq!(ran, runtimes, "{stem}: golden files missing");
    assert!(failures.is_empty(), "{stem} is not bit-exact:\n{}", failures.join("\n"));
}

/// The largest difference of any float tensor of a float model from the
/// golden of `profile`, relative to that tensor's largest magnitude (LiteRT's
/// optimized float kernels sum in other orders than the reference kernels
/// quantlens follows, and differences propagate down the chain).
fn max_relative(stem: &str, profile: Profile) -> Option<f64> {
    let dir = data().join("goldens").join(stem);
    let golden = dir.join(format!("{}.npz", profile.golden_key()));
    if !golden.exists() {
        return None;
    }
    let plan = Plan::new(Model::from_path(data().join("models").join(format!("{stem}.tflite"))).unwrap(), profile).unwrap();
    let inputs = read_samples(dir.join("input.npy")).unwrap();
    let traces = plan.run_batch(&inputs.samples()).unwrap();
    let mut npz = Npz::open(&golden).unwrap();
    let mut worst = 0f64;
    for step in &plan.steps {
        let t = step.kernel.output();
        let (ours, theirs) = (stack_tensor(&traces, t).unwrap().to_f64_vec(), npz.get(&format!("t{t}")).unwrap().to_f64_vec());
        assert_eq!(ours.len(), theirs.len(), "{stem} {profile}: t{t} size");
        let scale = theirs.iter().fold(0f64, |m, &v| m.max(v.abs())).max(f64::MIN_POSITIVE);
        let d = ours.iter().zip(&theirs).fold(0f64, |m, (&a, &b)| m.max((a - b).abs())) / scale;
        println!("{stem} {profile}: t{t} ({}): max |diff| / max |value| = {d:.3e}", plan.model.operators[step.op].kind);
        worst = worst.max(d);
    }
    Some(worst)
}

#[test]
fn mobilenetv2_ptq_int8() {
    check("mobilenetv2_ptq_int8", 16, 4);
}

/// EfficientNet-B0's blocks at half width: swish (LOGISTIC · MUL), squeeze-
/// and-excitation (MEAN over H, W with keep_dims → LiteRT builtin's optimized
/// mean, MUL broadcast).
#[test]
fn efficientnet_b0w05_ptq_int8() {
    check("efficientnet_b0w05_ptq_int8", 8, 4);
}

/// LiteRT's reference resolver and TFLite Micro refuse the U-Net (TILE v3,
/// from the nearest UpSampling2D): builtin and XNNPACK goldens only.
#[test]
fn unet_ptq_int8() {
    check("unet_ptq_int8", 16, 2);
}

#[test]
fn dscnn_ptq_int8() {
    check("dscnn_ptq_int8", 16, 4);
}

#[test]
fn vision_ops_ptq_int8() {
    check("vision_ops_ptq_int8", 50, 4);
}

/// TILE v3 and int8 DEPTH_TO_SPACE v2: the reference resolver and TFLite
/// Micro refuse them (recorded in the manifest).
#[test]
fn tile_ptq_int8() {
    check("tile_ptq_int8", 100, 2);
}

/// Float: bit-identical to the reference kernels (LiteRT reference and
/// TFLite Micro where it ran the model). LiteRT's builtin and XNNPACK float
/// kernels sum and interpolate in other orders; their largest relative
/// difference is printed and bounded.
fn check_float(stem: &str, images: usize, exact: &[Profile], optimized: &[(Profile, f64)]) {
    for &p in exact {
        let bad = diffs(stem, images, p).unwrap_or_else(|| panic!("{stem}: no {p} golden"));
        assert!(bad.is_empty(), "{stem} {p} is not bit-identical:\n{}", bad.join("\n"));
    }
    for &(p, bound) in optimized {
        let worst = max_relative(stem, p).unwrap_or_else(|| panic!("{stem}: no {p} golden"));
        println!("{stem} {p}: largest relative difference {worst:.3e}");
        assert!(worst <= bound, "{stem} {p}: relative difference {worst:.3e} > {bound:e}");
    }
}

#[test]
fn vision_ops_float32() {
    check_float("vision_ops_float32", 20, &[Profile::TfliteRef, Profile::Tflm], &[(Profile::TfliteBuiltin, 1e-5), (Profile::TfliteXnnpack, 1e-5)]);
}

#[test]
fn tile_float32() {
    check_float("tile_float32", 50, &[Profile::TfliteRef], &[(Profile::TfliteBuiltin, 1e-5), (Profile::TfliteXnnpack, 1e-5)]);
}
