//! Bad inputs through the command line: every one ends with exit code 2 and
//! a single line on stderr naming the problem, never a panic; and `--dump`
//! never leaves a half-written directory behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use common::{bin, model, root};
use quantlens::io::Stacked;
use quantlens::tensor::Data;

fn tempdir(name: &str) -> PathBuf {
    common::tempdir("cli-errors", name)
}

fn write(dir: &Path, name: &str, s: Stacked) -> PathBuf {
    let p = dir.join(name);
    s.write_npy(&p).unwrap();
    p
}

fn u8s(shape: &[usize]) -> Stacked {
    Stacked { shape: shape.to_vec(), data: Data::U8(vec![7; shape.iter().product()]) }
}

/// Assert exit code 2, one line on stderr containing every one of `words`,
/// and no panic.
fn fails(out: Output, words: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("quantlens: error: "), "{err}");
    for w in words {
        assert!(err.contains(w), "{err:?} should mention {w:?}");
    }
    err
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    bin().args(args).output().unwrap()
}

macro_rules! os {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new(&$a)),*] };
}

const PRIMARY: &str = "mlp_ptq_uint8io";

#[test]
fn help_documents_the_exit_codes() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Exit codes: 0 ok; 1 differences found (verify, diff); 2 bad input or error."), "{text}");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("Exit codes: **0** success, **1** differences found, **2** bad input or any error"), "README");
}

#[test]
fn input_of_the_wrong_dtype() {
    let dir = tempdir("dtype");
    let m = model(PRIMARY);
    let x = write(&dir, "f32.npy", Stacked { shape: vec![2, 784], data: Data::F32(vec![0.5; 2 * 784]) });
    fails(run(os!["run", m, "--input", x]), &["f32.npy", "dtype FLOAT32", "input tensor 0 (pixels) is UINT8"]);
    let x = write(&dir, "i8.npy", Stacked { shape: vec![2, 784], data: Data::I8(vec![1; 2 * 784]) });
    fails(run(os!["verify", m, "--input", x, "--golden", root().join("data/goldens/mlp_ptq_uint8io/ref.npz")]), &["dtype INT8"]);
    // float64 is not a dtype quantlens reads at all.
    let mut f64_npy = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 784), }";
    let mut h = header.to_string();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    f64_npy.extend_from_slice(&(h.len() as u16).to_le_bytes());
    f64_npy.extend_from_slice(h.as_bytes());
    f64_npy.extend_from_slice(&vec![0u8; 784 * 8]);
    let x = dir.join("f64.npy");
    std::fs::write(&x, f64_npy).unwrap();
    fails(run(os!["run", m, "--input", x]), &["f64.npy", "unsupported .npy dtype"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn input_of_the_wrong_shape() {
    let dir = tempdir("shape");
    let m = model(PRIMARY);
    for (name, shape) in [("a.npy", vec![3, 783]), ("b.npy", vec![784]), ("c.npy", vec![2, 784, 1, 2]), ("d.npy", vec![])] {
        let x = write(&dir, name, u8s(&shape));
        fails(run(os!["run", m, "--input", x]), &[name, "does not fit the model's input tensor 0 (pixels)"]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_samples() {
    let dir = tempdir("empty");
    let m = model(PRIMARY);
    for shape in [vec![0, 784], vec![0], vec![0, 28, 28]] {
        let x = write(&dir, "x.npy", u8s(&shape));
        fails(run(os!["run", m, "--input", x]), &["no samples (N = 0"]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unreadable_inputs() {
    let dir = tempdir("unreadable");
    let m = model(PRIMARY);
    fails(run(os!["run", m, "--input", dir.join("missing.npy")]), &["missing.npy", "No such file"]);
    fails(run(os!["run", m, "--input", dir]), &["Is a directory"]);
    let garbage = dir.join("garbage.npy");
    std::fs::write(&garbage, b"definitely not numpy").unwrap();
    fails(run(os!["run", m, "--input", garbage]), &["garbage.npy", "not an .npy file"]);
    // A header that is not a Python literal: the parser's multi-line message
    // still comes out as one line.
    let bad = dir.join("bad_header.npy");
    let header = b"{'descr': '|u1', 'shape': ((((\n";
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header);
    b.extend_from_slice(&[0; 16]);
    std::fs::write(&bad, &b).unwrap();
    fails(run(os!["run", m, "--input", bad]), &["bad_header.npy"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `.npy` headers that promise far more than the file holds: refused before
/// anything is allocated for them.
#[test]
fn hostile_npy_headers() {
    let dir = tempdir("hostile");
    let m = model(PRIMARY);
    let npy = |name: &str, version: u8, header: &str, data: usize| -> PathBuf {
        let mut b = vec![0x93];
        b.extend_from_slice(b"NUMPY");
        b.extend_from_slice(&[version, 0]);
        let h = format!("{header}\n");
        if version == 1 {
            b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        } else {
            b.extend_from_slice(&(h.len() as u32).to_le_bytes());
        }
        b.extend_from_slice(h.as_bytes());
        b.extend(std::iter::repeat(0u8).take(data));
        let p = dir.join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    let x = npy("huge.npy", 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1099511627776, 784), }", 16);
    fails(run(os!["run", m, "--input", x]), &["huge.npy", "declares shape [1099511627776, 784]", "only 16 bytes of data follow"]);
    let x = npy("overflow.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", 0);
    fails(run(os!["run", m, "--input", x]), &["overflow.npy", "overflows"]);
    let x = npy("empty_rows.npy", 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1000000000000, 0), }", 0);
    fails(run(os!["run", m, "--input", x]), &["empty_rows.npy", "samples of no elements"]);
    let deep = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {}1,{} }}", "(".repeat(5000), ")".repeat(5000));
    let x = npy("deep.npy", 1, &deep, 1);
    fails(run(os!["run", m, "--input", x]), &["deep.npy", "nests brackets"]);
    // A version-2 header claiming to be 4 GiB long.
    let p = dir.join("long_header.npy");
    let mut b = b"\x93NUMPY\x02\x00".to_vec();
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    b.extend_from_slice(b"{'descr'");
    std::fs::write(&p, b).unwrap();
    fails(run(os!["run", m, "--input", p]), &["long_header.npy", "header is 4294967295 bytes long"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn labels() {
    let dir = tempdir("labels");
    let m = model(PRIMARY);
    let x = write(&dir, "x.npy", u8s(&[3, 784]));
    let l = write(&dir, "l5.npy", Stacked { shape: vec![5], data: Data::I64(vec![1; 5]) });
    fails(run(os!["run", m, "--input", x, "--labels", l]), &["l5.npy", "5 labels for 3 samples"]);
    let l = write(&dir, "lf.npy", Stacked { shape: vec![3], data: Data::F32(vec![1.0; 3]) });
    fails(run(os!["run", m, "--input", x, "--labels", l]), &["lf.npy", "labels must be integers"]);
    fails(run(os!["run", m, "--input", x, "--labels", dir.join("none.npy")]), &["none.npy"]);
    let g = root().join("data/goldens/mlp_ptq_uint8io/ref.npz");
    let l = write(&dir, "l2.npy", Stacked { shape: vec![2], data: Data::U8(vec![1; 2]) });
    fails(run(os!["verify", m, "--input", x, "--golden", g, "--labels", l]), &["2 labels for 3 samples"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_profile_missing_or_broken_model() {
    let dir = tempdir("model");
    let x = write(&dir, "x.npy", u8s(&[1, 784]));
    fails(run(os!["run", model(PRIMARY), "--input", x, "--profile", "tflite-gpu"]), &["unknown profile \"tflite-gpu\"", "tflm"]);
    fails(run(os!["inspect", model(PRIMARY), "--profile", "ref2"]), &["unknown profile \"ref2\""]);
    fails(run(os!["run", dir.join("nope.tflite"), "--input", x]), &["nope.tflite", "No such file"]);
    fails(run(os!["inspect", dir]), &["Is a directory"]);
    let broken = dir.join("broken.tflite");
    let mut bytes = std::fs::read(model(PRIMARY)).unwrap();
    bytes.truncate(1000);
    std::fs::write(&broken, bytes).unwrap();
    fails(run(os!["run", broken, "--input", x]), &["broken.tflite", "malformed FlatBuffer"]);
    let g = dir.join("golden.npz");
    std::fs::write(&g, b"PK\x03\x04 not really a zip").unwrap();
    fails(run(os!["verify", model(PRIMARY), "--input", x, "--golden", g]), &["golden.npz"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Models that used to make the CLI panic: one whose input is a scalar (the
/// shape message sliced `shape[1..]`) and one with no graph output.
#[test]
fn degenerate_models() {
    use common::*;
    let dir = crate::tempdir("degenerate");
    let spec = Spec {
        codes: vec![QUANTIZE],
        tensors: vec![t("scalar_in", &[], FLOAT32, 0, None), t("scalar_out", &[], INT8, 0, q(&[0.5], &[0]))],
        ops: vec![op(0, &[0], &[1], OptSpec::None)],
        inputs: vec![0],
        outputs: vec![1],
        buffers: vec![vec![]],
        subgraphs: 1,
    };
    let scalar = dir.join("scalar.tflite");
    std::fs::write(&scalar, build(&spec)).unwrap();
    let x = write(&dir, "x.npy", Stacked { shape: vec![2, 3], data: Data::F32(vec![1.0; 6]) });
    fails(run(os!["run", scalar, "--input", x]), &["does not fit the model's input tensor 0 (scalar_in) of shape []"]);
    // The right input: N scalars.
    let x = write(&dir, "ok.npy", Stacked { shape: vec![3], data: Data::F32(vec![1.0, -2.0, 300.0]) });
    let y = dir.join("y.npy");
    let out = run(os!["run", scalar, "--input", x, "--output", y]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(quantlens::io::read_samples(&y).unwrap().data, Data::I8(vec![2, -4, 127]));

    let mut no_out = spec.clone();
    no_out.outputs.clear();
    let p = dir.join("no_output.tflite");
    std::fs::write(&p, build(&no_out)).unwrap();
    fails(run(os!["run", p, "--input", x]), &["no graph output"]);
    // inspect shows a file it cannot run, and says why.
    let out = run(os!["inspect", p]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("run can execute it: no: model: the model has no graph output"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dump_is_complete_or_absent() {
    let dir = tempdir("dump");
    let m = model(PRIMARY);
    let good = write(&dir, "good.npy", u8s(&[2, 784]));
    let bad = write(&dir, "bad.npy", u8s(&[2, 783]));
    let leftovers = |d: &Path| -> Vec<String> {
        std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n != "good.npy" && n != "bad.npy").collect()
    };
    // Failing before the dump: nothing created, not even new parents.
    fails(run(os!["run", m, "--input", bad, "--dump", dir.join("a/b/dump")]), &["does not fit"]);
    assert_eq!(leftovers(&dir), Vec::<String>::new());
    // Failing while creating the dump (a name too long for the file system):
    // the parents it created are removed again.
    let long = "d".repeat(300);
    fails(run(os!["run", m, "--input", good, "--dump", dir.join("new1/new2").join(&long)]), &["creating"]);
    assert_eq!(leftovers(&dir), Vec::<String>::new());
    // A dump path that is a file, or a non-empty directory: refused, untouched.
    let file = dir.join("file");
    std::fs::write(&file, b"keep").unwrap();
    fails(run(os!["run", m, "--input", good, "--dump", file]), &["not a directory"]);
    assert_eq!(std::fs::read(&file).unwrap(), b"keep");
    let full = dir.join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("mine.txt"), b"mine").unwrap();
    fails(run(os!["run", m, "--input", good, "--dump", full]), &["exists and is not empty"]);
    assert_eq!(std::fs::read_dir(&full).unwrap().count(), 1);
    // Success into new nested directories, and into an existing empty one.
    let nested = dir.join("x/y/dump");
    let out = run(os!["run", m, "--input", good, "--dump", nested]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_dir(&nested).unwrap().count(), 6);
    let empty = dir.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run(os!["run", m, "--input", good, "--dump", empty]);
    assert!(out.status.success());
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 6);
    // The dump succeeds and the --output write fails afterwards: the dump is complete.
    let later = dir.join("later");
    fails(run(os!["run", m, "--input", good, "--dump", later, "--output", dir.join("no/such/dir/y.npy")]), &["y.npy"]);
    assert_eq!(std::fs::read_dir(&later).unwrap().count(), 6);
    // No temporary files or directories anywhere.
    let partial: Vec<_> = walk(&dir).into_iter().filter(|p| p.to_string_lossy().contains(".partial-")).collect();
    assert!(partial.is_empty(), "{partial:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn closed_stdout_is_not_a_panic() {
    let mut child = bin().arg("inspect").arg(model(PRIMARY)).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [vec!["frobnicate"], vec!["run", "m.tflite"], vec!["verify", "m.tflite", "--input", "x.npy"], vec![]] {
        let out = bin().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// A golden archive whose member decompresses to far more than the archive
/// could legitimately hold ("zip bomb"): refused, not decompressed into memory.
#[test]
fn golden_zip_bomb() {
    use std::io::Write;
    let dir = tempdir("bomb");
    let m = model(PRIMARY);
    let x = write(&dir, "x.npy", u8s(&[1, 784]));
    let g = dir.join("bomb.npz");
    let mut zw = zip::ZipWriter::new(std::fs::File::create(&g).unwrap());
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zw.start_file("t7.npy", opts).unwrap();
    let header = "{'descr': '|i1', 'fortran_order': False, 'shape': (200000000,), }";
    let mut h = header.to_string();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    zw.write_all(b"\x93NUMPY\x01\x00").unwrap();
    zw.write_all(&(h.len() as u16).to_le_bytes()).unwrap();
    zw.write_all(h.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..200 {
        zw.write_all(&zeros).unwrap();
    }
    zw.finish().unwrap();
    assert!(std::fs::metadata(&g).unwrap().len() < 1 << 20);
    fails(run(os!["verify", m, "--input", x, "--golden", g]), &["bomb.npz[t7.npy]", "decompresses to"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
