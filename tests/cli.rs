//! The command-line contract: `inspect`, `run --dump`, `verify`, exit codes.

mod common;

use std::path::{Path, PathBuf};

use common::{bin, model, root};
use quantlens::io::{read_samples, Npz, Stacked};
use quantlens::model::OpKind;
use quantlens::{EngineError, Model, Plan, Profile};

fn golden_dir(stem: &str) -> PathBuf {
    root().join("data/goldens").join(stem)
}

fn tempdir(name: &str) -> PathBuf {
    common::tempdir("cli", name)
}

/// The first `n` held-out inputs of a model, written to `dir/x.npy`.
fn first_inputs(stem: &str, n: usize, dir: &Path) -> PathBuf {
    let all = read_samples(golden_dir(stem).join("input.npy")).unwrap();
    let samples: Vec<_> = (0..n).map(|i| all.sample(i)).collect();
    let refs: Vec<_> = samples.iter().collect();
    let p = dir.join("x.npy");
    Stacked::from_values(&refs).unwrap().write_npy(&p).unwrap();
    p
}

#[test]
fn inspect_names_s3_for_every_fully_connected() {
    let out = bin().arg("inspect").arg(model("mlp_ptq_uint8io")).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches("S3 = the OUTPUT tensor's scale").count(), 3, "{text}");
    // The primary model's first FC layer writes tensor 8; its S3 is that tensor's scale.
    let m = Model::from_path(model("mlp_ptq_uint8io")).unwrap();
    let s3 = m.tensors[8].quant.as_ref().unwrap().scale[0];
    assert!(text.contains(&format!("S3 = the OUTPUT tensor's scale (t8) = {s3:.9e}")), "{text}");
    assert!(text.contains("M0 = ") && text.contains("shift = "));
    assert!(text.contains("(ok)") && !text.contains("MISMATCH"));
}

#[test]
fn run_dump_writes_every_produced_tensor_equal_to_the_golden() {
    let stem = "mlp_ptq_uint8io";
    let dir = tempdir("dump");
    let x = first_inputs(stem, 25, &dir);
    let dump = dir.join("dump");
    let out = bin().args(["run"]).arg(model(stem)).arg("--input").arg(&x).arg("--dump").arg(&dump).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan = Plan::new(Model::from_path(model(stem)).unwrap(), Profile::TfliteRef).unwrap();
    let mut golden = Npz::open(golden_dir(stem).join("ref.npz")).unwrap();
    let produced = plan.model.produced_tensors();
    assert_eq!(std::fs::read_dir(&dump).unwrap().count(), produced.len());
    for t in produced {
        let ours = read_samples(dump.join(format!("t{t}.npy"))).unwrap();
        let mut shape = vec![25];
        shape.extend_from_slice(&plan.model.tensors[t].shape);
        assert_eq!(ours.shape, shape, "t{t}");
        let g = quantlens::verify::truncate(&golden.get(&format!("t{t}")).unwrap(), 25);
        assert_eq!(ours, g, "t{t} differs from the reference runtime");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_accepts_exactly_the_input_shape_for_one_sample_and_prints_accuracy() {
    let stem = "mlp_ptq_int8_per_tensor";
    let dir = tempdir("one");
    let all = read_samples(golden_dir(stem).join("input.npy")).unwrap();
    let one = all.sample(3).reshaped(&[1, 784]);
    let x = dir.join("one.npy");
    Stacked::from_values(&[&one]).unwrap().write_npy(&x).unwrap();
    // (1, 1, 784) → stacked of one; rewrite as exactly (1, 784).
    let s = read_samples(&x).unwrap();
    let exact = Stacked { shape: vec![1, 784], data: s.data };
    exact.write_npy(&x).unwrap();
    let out_npy = dir.join("y.npy");
    let out = bin().arg("run").arg(model(stem)).arg("--input").arg(&x).arg("--output").arg(&out_npy).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(read_samples(&out_npy).unwrap().shape, vec![1, 1, 10]);

    let labels = dir.join("labels.npy");
    let l = read_samples(root().join("data/mnist/test_labels.npy")).unwrap();
    Stacked { shape: vec![1], data: l.sample(3).data }.write_npy(&labels).unwrap();
    let out = bin().arg("run").arg(model(stem)).arg("--input").arg(&x).arg("--labels").arg(&labels).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("accuracy "), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verify_exit_codes_and_accuracy_match_the_interpreter() {
    let stem = "mlp_legacy_uint8";
    let g = golden_dir(stem);
    let labels = root().join("data/mnist/test_labels.npy");
    let run = |profile: &str, golden: &str| {
        bin()
            .arg("verify")
            .arg(model(stem))
            .arg("--input")
            .arg(g.join("input.npy"))
            .arg("--golden")
            .arg(g.join(golden))
            .args(["--profile", profile])
            .arg("--labels")
            .arg(&labels)
            .output()
            .unwrap()
    };
    let ok = run("tflite-builtin", "builtin.npz");
    let text = String::from_utf8(ok.stdout).unwrap();
    assert_eq!(ok.status.code(), Some(0), "{text}");
    assert!(text.contains("bit-exact: 0 differing elements"));
    // The accuracy line shows ours and the runtime's; they must be equal.
    let line = text.lines().find(|l| l.starts_with("accuracy:")).unwrap();
    let nums: Vec<&str> = line.split(|c: char| !(c.is_ascii_digit() || c == '.')).filter(|s| s.contains('.')).collect();
    assert_eq!(nums[0], nums[1], "{line}");
    // The reference profile against the optimized runtime's goldens: ±1 somewhere → exit 1.
    let bad = run("tflite-ref", "builtin.npz");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8(bad.stdout).unwrap().contains("NOT bit-exact"));
}

#[test]
fn bad_files_exit_2_with_a_named_reason() {
    let dir = tempdir("bad");
    let bytes = std::fs::read(model("mlp_ptq_uint8io")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated.tflite", bytes[..bytes.len() / 3].to_vec(), "malformed"),
        ("png.tflite", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(), "not a tflite model"),
        ("empty.tflite", vec![], "empty"),
    ];
    for (name, content, expect) in cases {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        let out = bin().arg("inspect").arg(&p).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.to_lowercase().contains(expect), "{name}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one-line reason: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unsupported_op_is_named_with_its_index() {
    let mut m = Model::from_path(model("mlp_ptq_int8_per_tensor")).unwrap();
    m.operators[1].kind = OpKind::Other(36); // GATHER
    let err = Plan::new(m, Profile::TfliteRef).unwrap_err();
    assert_eq!(err, EngineError::UnsupportedOp { op: 1, kind: "GATHER".into() });
    assert_eq!(err.to_string(), "operator 1 (GATHER): quantlens has no kernel for this operator");
}

#[test]
fn wrong_input_shape_is_refused() {
    let dir = tempdir("shape");
    let x = dir.join("x.npy");
    Stacked { shape: vec![2, 28, 27], data: quantlens::tensor::Data::U8(vec![0; 2 * 28 * 27]) }.write_npy(&x).unwrap();
    let out = bin().arg("run").arg(model("mlp_ptq_uint8io")).arg("--input").arg(&x).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("[2, 28, 27]") && err.contains("pixels"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
