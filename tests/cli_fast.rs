//! The CLI's outputs-only path: `run` without `--dump`, `verify --outputs-only`
//! (or an archive holding only the output) and `diff` given only the output
//! run the batched, threaded outputs-only path; their results must be the
//! traced run's, byte for byte, on MLPs, CNNs and the real architectures.

mod common;

use std::path::{Path, PathBuf};

use common::{bin, model, root};
use quantlens::io::{read_samples, Stacked};
use quantlens::verify::stack_tensor;
use quantlens::{Model, Plan, Profile};

fn tempdir(name: &str) -> PathBuf {
    common::tempdir("cli_fast", name)
}

/// The first `n` held-out inputs of a model, written to `dir/x.npy`.
fn first_inputs(stem: &str, n: usize, dir: &Path) -> (PathBuf, Stacked) {
    let all = read_samples(root().join("data/goldens").join(stem).join("input.npy")).unwrap();
    let samples: Vec<_> = (0..n.min(all.len())).map(|i| all.sample(i)).collect();
    let refs: Vec<_> = samples.iter().collect();
    let x = Stacked::from_values(&refs).unwrap();
    let p = dir.join("x.npy");
    x.write_npy(&p).unwrap();
    (p, x)
}

/// `run --output` (outputs-only) writes the same file as `run --dump`'s
/// output tensor (traced) and as the library's traced run.
#[test]
fn run_output_equals_the_traced_output() {
    let cases = [
        ("mlp_ptq_uint8io", "tflite-ref", 40),
        ("mlp_ptq_int8_per_tensor", "tflite-xnnpack", 40),
        ("cnn_ptq_int8", "tflite-ref", 20),
        ("cnn_ptq_uint8io", "tflm", 20),
        ("resnet_ptq_int8", "tflite-builtin", 10),
        ("mobilenetv2_ptq_int8", "tflite-ref", 6),
        ("mobilenetv2_ptq_int8", "tflite-xnnpack", 6),
        ("efficientnet_b0w05_ptq_int8", "tflite-ref", 6),
        ("dscnn_ptq_int8", "tflite-ref", 6),
        ("vit_ptq_int8", "tflite-ref", 4),
        ("cnn_float32", "tflite-ref", 10),
        ("cnn_16x8", "tflite-ref", 10),
    ];
    for (stem, profile, n) in cases {
        let dir = tempdir(&format!("{stem}-{profile}"));
        let (x, xs) = first_inputs(stem, n, &dir);
        let fast = dir.join("fast.npy");
        let out = bin().arg("run").arg(model(stem)).arg("--input").arg(&x).args(["--profile", profile]).arg("--output").arg(&fast).output().unwrap();
        assert!(out.status.success(), "{stem}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{stem}: no progress bar without a terminal: {}", String::from_utf8_lossy(&out.stderr));
        let dump = dir.join("dump");
        let out = bin().arg("run").arg(model(stem)).arg("--input").arg(&x).args(["--profile", profile]).arg("--dump").arg(&dump).output().unwrap();
        assert!(out.status.success(), "{stem}: {}", String::from_utf8_lossy(&out.stderr));
        let plan = Plan::new(Model::from_path(model(stem)).unwrap(), profile.parse::<Profile>().unwrap()).unwrap();
        let traced_file = std::fs::read(dump.join(format!("t{}.npy", plan.output()))).unwrap();
        assert_eq!(std::fs::read(&fast).unwrap(), traced_file, "{stem} {profile}: run --output differs from run --dump's output");
        let traces = plan.run_batch(&xs.samples()).unwrap();
        let lib = stack_tensor(&traces, plan.output()).unwrap();
        let ours = read_samples(&fast).unwrap();
        assert_eq!((ours.shape, ours.data), (lib.shape, lib.data), "{stem} {profile}: CLI output differs from the traced run");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `verify --outputs-only` checks one row, the output, against the golden,
/// on the same images; exit 0 when equal. Without the flag every tensor.
#[test]
fn verify_outputs_only_checks_the_output() {
    for stem in ["cnn_ptq_int8", "mobilenetv2_ptq_int8"] {
        let dir = tempdir(&format!("verify-{stem}"));
        let (x, _) = first_inputs(stem, 8, &dir);
        let golden = root().join("data/goldens").join(stem).join("ref.npz");
        let out = bin().arg("verify").arg(model(stem)).arg("--input").arg(&x).arg("--golden").arg(&golden).arg("--outputs-only").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stem}: {text}{}", String::from_utf8_lossy(&out.stderr));
        let plan = Plan::new(Model::from_path(model(stem)).unwrap(), Profile::TfliteRef).unwrap();
        let rows: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with('t') && !l.contains("tensor")).collect();
        assert_eq!(rows.len(), 1, "{text}");
        assert!(rows[0].trim_start().starts_with(&format!("t{} ", plan.output())), "{text}");
        assert!(text.contains("bit-exact: 0 differing elements"), "{text}");
        let full = bin().arg("verify").arg(model(stem)).arg("--input").arg(&x).arg("--golden").arg(&golden).output().unwrap();
        let full_text = String::from_utf8_lossy(&full.stdout);
        assert_eq!(full.status.code(), Some(0));
        assert!(full_text.lines().count() > text.lines().count(), "{full_text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `verify --outputs-only` against the wrong profile's golden exits 1 like the traced verify.
#[test]
fn verify_outputs_only_finds_a_difference() {
    let stem = "mobilenetv2_ptq_int8";
    let dir = tempdir("verify-diff");
    let (x, _) = first_inputs(stem, 8, &dir);
    // A golden whose output disagrees: the traced verify of the same files sets the expectation.
    let golden = root().join("data/goldens").join(stem).join("xnnpack.npz");
    let fast = bin().arg("verify").arg(model(stem)).arg("--input").arg(&x).arg("--golden").arg(&golden).arg("--outputs-only").output().unwrap();
    let traced = bin().arg("verify").arg(model(stem)).arg("--input").arg(&x).arg("--golden").arg(&golden).output().unwrap();
    let plan = Plan::new(Model::from_path(model(stem)).unwrap(), Profile::TfliteRef).unwrap();
    let row = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout).lines().find(|l| l.trim_start().starts_with(&format!("t{} ", plan.output()))).map(str::to_string)
    };
    assert_eq!(row(&fast), row(&traced), "the output's row is the same on both paths");
    let differs = row(&traced).unwrap().split_whitespace().nth(3).unwrap().parse::<usize>().unwrap() > 0;
    assert_eq!(fast.status.code(), Some(if differs { 1 } else { 0 }));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `diff` given only the output: a match exits 0; a changed element exits 1
/// and still names the output tensor (the traced run made for the diagnosis).
#[test]
fn diff_of_the_output_alone() {
    for stem in ["cnn_ptq_int8", "mobilenetv2_ptq_int8"] {
        let dir = tempdir(&format!("diff-{stem}"));
        let (x, xs) = first_inputs(stem, 6, &dir);
        let plan = Plan::new(Model::from_path(model(stem)).unwrap(), Profile::TfliteRef).unwrap();
        let traces = plan.run_batch(&xs.samples()).unwrap();
        let y = stack_tensor(&traces, plan.output()).unwrap();
        let yours = dir.join("yours");
        std::fs::create_dir_all(&yours).unwrap();
        let path = yours.join(format!("t{}.npy", plan.output()));
        y.write_npy(&path).unwrap();
        let out = bin().arg("diff").arg(model(stem)).arg("--input").arg(&x).arg("--yours").arg(&yours).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{stem}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let mut bad = y.clone();
        match &mut bad.data {
            quantlens::tensor::Data::I8(v) => v[3] = v[3].wrapping_add(1),
            quantlens::tensor::Data::U8(v) => v[3] = v[3].wrapping_add(1),
            d => panic!("unexpected output dtype {:?}", d.dtype()),
        }
        bad.write_npy(&path).unwrap();
        let out = bin().arg("diff").arg(model(stem)).arg("--input").arg(&x).arg("--yours").arg(&yours).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stem}: {text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains(&format!("t{}", plan.output())), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
