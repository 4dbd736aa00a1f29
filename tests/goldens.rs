//! Every op-produced tensor of every committed quantized model, for all
//! 1 000 held-out images, against the goldens the real runtimes wrote
//! (`scripts/make_data.py`): 0 differing elements, in every profile whose
//! runtime ran the model.
//!
//! Each check runs on every kernel path this CPU has (scalar, AVX2,
//! AVX-512 VNNI; forced with `with_kernel_path`), through both the traced
//! run (every tensor) and the outputs-only fast path (one thread, two
//! threads, and a reused `Workspace` sample by sample).

use std::path::Path;

use quantlens::io::{read_samples, Npz};
use quantlens::verify::verify;
use quantlens::ops::{with_kernel_path, KernelPath};
use quantlens::{Model, Plan, Profile};

const QUANTIZED: [&str; 3] = ["mlp_ptq_uint8io", "mlp_ptq_int8_per_tensor", "mlp_legacy_uint8"];

fn data() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").leak()
}

trait Leak {
    fn leak(self) -> &'static Path;
}
impl Leak for std::path::PathBuf {
    fn leak(self) -> &'static Path {
        Box::leak(self.into_boxed_path())
    }
}

fn check(model_stem: &str, profile: Profile) -> Option<String> {
    let dir = data().join("goldens").join(model_stem);
    let golden = dir.join(format!("{}.npz", profile.golden_key()));
    if !golden.exists() {
        return None;
    }
    let model = Model::from_path(data().join("models").join(format!("{model_stem}.tflite"))).unwrap();
    let plan = Plan::new(model, profile).unwrap();
    let inputs = read_samples(dir.join("input.npy")).unwrap();
    assert_eq!(inputs.len(), 1000, "{model_stem}: expected 1000 held-out images");
    let mut npz = Npz::open(&golden).unwrap();
    let golden_out = npz.get(&format!("t{}", plan.output())).unwrap();
    let mut lines = String::new();
    let mut exact = true;
    let paths = KernelPath::available();
    assert!(paths.contains(&KernelPath::Scalar));
    for path in paths {
        with_kernel_path(path, || {
            // Traced run: every op-produced tensor.
            let traces = plan.run_batch(&inputs.samples()).unwrap();
            let report = verify(&plan, &traces, &mut npz).unwrap();
            for t in &report.tensors {
                lines += &format!(
                    "{model_stem} {profile} [{path}, traced]: t{} ({}, op {}): {} of {} differ, max |diff| {}\n",
                    t.tensor, t.op_kind, t.op, t.differing, t.elements, t.max_abs_diff
                );
            }
            exact &= report.is_exact();
            // Outputs-only fast path: batched on 1 and 2 threads, and sample by sample.
            for threads in [1, 2] {
                let out = plan.run_batch_outputs_threads(&inputs, threads).unwrap();
                let same = out.shape == golden_out.shape && out.data == golden_out.data;
                lines += &format!("{model_stem} {profile} [{path}, outputs, {threads} thread(s)]: output t{} equal: {same}\n", plan.output());
                exact &= same;
            }
            let mut ws = plan.workspace();
            let per = golden_out.len();
            let mut differ = 0;
            for i in 0..inputs.len() {
                let y = ws.run(&plan, &inputs.sample(i)).unwrap();
                differ += usize::from(y.data != golden_out.sample(i).data || y.shape != golden_out.sample_shape());
            }
            let _ = per;
            lines += &format!("{model_stem} {profile} [{path}, workspace]: {differ} of 1000 samples differ\n");
            exact &= differ == 0;
        })
        .unwrap();
    }
    print!("{lines}");
    (!exact).then_some(lines)
}

fn check_all(profile: Profile, expected_models: usize) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for stem in QUANTIZED {
        let golden = data().join("goldens").join(stem).join(format!("{}.npz", profile.golden_key()));
        if golden.exists() {
            checked += 1;
        }
        if let Some(f) = check(stem, profile) {
            failures.push(f);
        }
    }
    assert_eq!(checked, expected_models, "{profile}: golden files missing");
    assert!(failures.is_empty(), "{profile} is not bit-exact:\n{}", failures.join(""));
}

#[test]
fn tflite_ref_is_bit_exact() {
    check_all(Profile::TfliteRef, 3);
}

#[test]
fn tflite_builtin_is_bit_exact() {
    check_all(Profile::TfliteBuiltin, 3);
}

#[test]
fn tflite_xnnpack_is_bit_exact() {
    check_all(Profile::TfliteXnnpack, 3);
}

#[test]
fn tflm_is_bit_exact() {
    // TFLite Micro refuses the legacy uint8 model (recorded in data/manifest.json).
    check_all(Profile::Tflm, 2);
}
