//! `quantlens diff` end to end: for each known mistake, a hand-written
//! forward pass that makes it (written here, from the model's own weights,
//! the way a numpy/C user would), its per-layer dumps written as `t<k>.npy`,
//! and `quantlens diff` run on them must name the right tensor and the right
//! cause. A correct implementation must report a full match (exit 0).

use std::path::{Path, PathBuf};
use std::process::Command;

use quantlens::diff::{diff, Yours};
use quantlens::io::{read_samples, Stacked};
use quantlens::model::{Activation, OpKind, Options};
use quantlens::tensor::Data;
use quantlens::{Model, Plan, Profile, Value};

/// Images per test (the rounding tests use all 1000: rounding rules differ on few elements).
const N: usize = 100;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn model_path(stem: &str) -> PathBuf {
    data().join("models").join(format!("{stem}.tflite"))
}

/// The first N held-out images of a model, as an .npy for the CLI and as values.
fn inputs(stem: &str, dir: &Path) -> (PathBuf, Vec<Value>) {
    inputs_n(stem, dir, N)
}

fn inputs_n(stem: &str, dir: &Path, n: usize) -> (PathBuf, Vec<Value>) {
    let all = read_samples(data().join("goldens").join(stem).join("input.npy")).unwrap();
    let values: Vec<Value> = (0..n).map(|i| all.sample(i)).collect();
    let refs: Vec<&Value> = values.iter().collect();
    let path = dir.join("input.npy");
    Stacked::from_values(&refs).unwrap().write_npy(&path).unwrap();
    (path, values)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quantlens-diff-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

// ---------------------------------------------------------------------------
// A user's hand-written forward pass, with switchable mistakes
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Bug {
    WeightZeroPoint,
    InputZeroPoint,
    OutputZeroPoint,
    S3IsInputScale,
    S3Omitted,
    MNotApplied,
    Transposed,
    BiasMissing,
    BiasRealValued,
    ReluAtZero,
    NoSaturation,
    Floor,
    Truncate,
    HalfUpShift,
    HalfEvenShift,
    DoubleRounding,
    PerChannelAsPerTensor,
    /// `np.dot` of uint8 arrays: the accumulator wraps modulo 256.
    AccWrapU8,
    /// The same with int8 arrays: wraps into [−128, 127].
    AccWrapI8,
    /// int8 weights read as uint8 (negative w becomes w + 256).
    WeightSignedness,
}

/// How the user rounds `M · acc` when making no rounding mistake.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Base {
    /// `round(double(acc) · M)` (numpy's float64 + C `round`): LiteRT's reference kernels.
    Double,
    /// `M0`/shift with gemmlowp's double rounding: TFLite Micro.
    FixedPoint,
}

struct Fc {
    output: usize,
    in_f: usize,
    out_f: usize,
    w: Vec<i32>,
    z2: Vec<i32>,
    s2: Vec<f32>,
    bias: Vec<i32>,
    s1: f32,
    z1: i32,
    s3: f32,
    z3: i32,
    relu: bool,
    qmin: i64,
    qmax: i64,
}

fn le_i32(b: &[u8]) -> Vec<i32> {
    b.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// The FULLY_CONNECTED layers of a model, read from the file's tensors.
fn layers(m: &Model) -> Vec<Fc> {
    let mut out = Vec::new();
    for op in &m.operators {
        if op.kind != OpKind::FullyConnected {
            continue;
        }
        let (x, w, b, y) = (op.input(0).unwrap(), op.input(1).unwrap(), op.input(2).unwrap(), op.outputs[0]);
        let wt = &m.tensors[w];
        let wq = wt.quant.as_ref().unwrap();
        let raw = wt.data.as_ref().unwrap();
        let wv: Vec<i32> = match wt.dtype {
            quantlens::DType::I8 => raw.iter().map(|&v| v as i8 as i32).collect(),
            _ => raw.iter().map(|&v| v as i32).collect(),
        };
        let out_f = wt.shape[0];
        let pc = wq.scale.len() > 1;
        let (s1, z1) = m.tensors[x].per_tensor_quant().unwrap();
        let (s3, z3) = m.tensors[y].per_tensor_quant().unwrap();
        let relu = matches!(op.options, Options::FullyConnected { activation: Activation::Relu, .. });
        let (qmin, qmax) = m.tensors[y].dtype.int_range().unwrap();
        out.push(Fc {
            output: y,
            in_f: wt.shape[1],
            out_f,
            w: wv,
            z2: (0..out_f).map(|c| wq.zero_point[if pc { c } else { 0 }] as i32).collect(),
            s2: (0..out_f).map(|c| wq.scale[if pc { c } else { 0 }]).collect(),
            bias: le_i32(m.tensors[b].data.as_ref().unwrap()),
            s1,
            z1: z1 as i32,
            s3,
            z3: z3 as i32,
            relu,
            qmin,
            qmax,
        });
    }
    out
}

/// M = q · 2^e, q ∈ [0.5, 1): M0 = round(q · 2^31), as a user writes it.
fn m0_shift(m: f64) -> (i64, i32) {
    let (mut q, mut e) = (m, 0);
    while q >= 1.0 {
        q /= 2.0;
        e += 1;
    }
    while q < 0.5 {
        q *= 2.0;
        e -= 1;
    }
    let mut m0 = (q * 2f64.powi(31)).round() as i64;
    if m0 == 1 << 31 {
        m0 /= 2;
        e += 1;
    }
    (m0, e)
}

/// gemmlowp's SaturatingRoundingDoublingHighMul: round(x·M0 / 2^31), ties up.
fn srdhm(x: i64, m0: i64) -> i64 {
    let ab = x * m0;
    let nudge = if ab >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    (ab + nudge) / (1i64 << 31)
}

/// gemmlowp's double rounding, written from its definition.
fn double_rounding(acc: i64, m0: i64, shift: i32) -> i64 {
    let high = srdhm(acc << shift.max(0), m0);
    let e = (-shift).max(0);
    let mask = (1i64 << e) - 1;
    let rem = high & mask;
    let thr = (mask >> 1) + if high < 0 { 1 } else { 0 };
    (high >> e) + if rem > thr { 1 } else { 0 }
}

fn fc_forward(l: &Fc, x: &[i64], bugs: &[Bug], base: Base) -> Vec<i64> {
    let has = |b: Bug| bugs.contains(&b);
    let z1 = if has(Bug::InputZeroPoint) { 0 } else { l.z1 as i64 };
    let mut y = Vec::with_capacity(l.out_f);
    for c in 0..l.out_f {
        let mut acc: i64 = 0;
        for (i, &xi) in x.iter().enumerate().take(l.in_f) {
            let w = if has(Bug::Transposed) { l.w[i * l.out_f + c] } else { l.w[c * l.in_f + i] } as i64;
            let w = if has(Bug::WeightSignedness) { w as i8 as u8 as i64 } else { w };
            let w = if has(Bug::WeightZeroPoint) { w } else { w - l.z2[c] as i64 };
            acc += (xi - z1) * w;
        }
        if has(Bug::AccWrapU8) {
            acc = acc as u8 as i64;
        } else if has(Bug::AccWrapI8) {
            acc = acc as i8 as i64;
        }
        let s2 = if has(Bug::PerChannelAsPerTensor) { l.s2[0] } else { l.s2[c] };
        let s3 = if has(Bug::S3IsInputScale) { l.s1 } else if has(Bug::S3Omitted) { 1.0 } else { l.s3 };
        let m = l.s1 as f64 * s2 as f64 / s3 as f64;
        let b = l.bias[c] as i64;
        let scaled: i64 = if has(Bug::BiasRealValued) {
            // y_real = S1·S2·acc + bias (the int32 bias taken for a real number), then / S3.
            ((l.s1 as f64 * s2 as f64 * acc as f64 + b as f64) / s3 as f64).round() as i64
        } else {
            let acc = if has(Bug::BiasMissing) { acc } else { acc + b };
            if has(Bug::MNotApplied) {
                acc
            } else if has(Bug::Floor) {
                (acc as f64 * m).floor() as i64
            } else if has(Bug::Truncate) {
                (acc as f64 * m) as i64
            } else if has(Bug::HalfEvenShift) {
                // The high-mul, then a convergent (ties-to-even) rounding shift, as a DSP block offers.
                let (m0, sh) = m0_shift(m);
                let high = srdhm(acc << sh.max(0), m0);
                let r = (-sh).max(0);
                let (fl, rem, half) = (high >> r, high & ((1i64 << r) - 1), 1i64 << (r - 1));
                fl + i64::from(rem > half || (rem == half && fl & 1 == 1))
            } else if has(Bug::HalfUpShift) {
                // The high-mul as TFLM does it, then `(x + 2^(r−1)) >> r`: the usual RTL shift.
                let (m0, sh) = m0_shift(m);
                let high = srdhm(acc << sh.max(0), m0);
                let r = (-sh).max(0);
                (high + (1i64 << (r - 1))) >> r
            } else if has(Bug::DoubleRounding) || base == Base::FixedPoint {
                let (m0, sh) = m0_shift(m);
                double_rounding(acc, m0, sh)
            } else {
                (acc as f64 * m).round() as i64
            }
        };
        let v = scaled + if has(Bug::OutputZeroPoint) { 0 } else { l.z3 as i64 };
        let lo = if l.relu { if has(Bug::ReluAtZero) { 0.max(l.qmin) } else { (l.z3 as i64).max(l.qmin) } } else { l.qmin };
        let v = if has(Bug::NoSaturation) {
            // No clamp; the value is stored in the output's 8-bit type (wraps).
            let v = v.max(if l.relu { lo } else { i64::MIN });
            if l.qmin < 0 {
                v as i8 as i64
            } else {
                v as u8 as i64
            }
        } else {
            v.clamp(lo, l.qmax)
        };
        y.push(v);
    }
    y
}

/// Run the user's forward pass on every sample and collect their dumps:
/// the input QUANTIZE (if any) and every FULLY_CONNECTED output, as int8/uint8.
fn user_dumps(stem: &str, xs: &[Value], bugs: &[Bug], base: Base) -> Yours {
    let m = Model::from_path(model_path(stem)).unwrap();
    let ls = layers(&m);
    let mut per_tensor: std::collections::BTreeMap<usize, Vec<i64>> = Default::default();
    for x in xs {
        let mut act: Vec<i64> = x.to_i64_vec().unwrap();
        // uint8 → int8 QUANTIZE at the input (same scale, zero point −128): x − 128.
        let q = m.operators.iter().find(|o| o.kind == OpKind::Quantize && o.input(0) == Some(m.inputs[0]));
        if let Some(q) = q {
            act = act.iter().map(|v| v - 128).collect();
            per_tensor.entry(q.outputs[0]).or_default().extend(&act);
        }
        for l in &ls {
            act = fc_forward(l, &act, bugs, base);
            per_tensor.entry(l.output).or_default().extend(&act);
        }
    }
    let mut yours = Yours::new();
    for (t, v) in per_tensor {
        let dt = m.tensors[t].dtype;
        let per = m.tensors[t].num_elements();
        let mut shape = vec![xs.len()];
        shape.extend(&m.tensors[t].shape);
        let data = match dt {
            quantlens::DType::I8 => Data::I8(v.iter().map(|&x| x as i8).collect()),
            _ => Data::U8(v.iter().map(|&x| x as u8).collect()),
        };
        assert_eq!(v.len(), xs.len() * per);
        yours.insert(t, Stacked { shape, data });
    }
    yours
}

struct Outcome {
    code: i32,
    stdout: String,
}

fn run_cli(args: &[&str]) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_quantlens")).args(args).output().unwrap();
    Outcome { code: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr) }
}

/// Write the dumps, run `quantlens diff` on them, return its outcome.
fn cli_diff(stem: &str, profile: &str, bugs: &[Bug], base: Base, name: &str) -> Outcome {
    cli_diff_n(stem, profile, bugs, base, name, N)
}

fn cli_diff_n(stem: &str, profile: &str, bugs: &[Bug], base: Base, name: &str, n: usize) -> Outcome {
    let dir = tmp(name);
    let (input, xs) = inputs_n(stem, &dir, n);
    let dumps = dir.join("yours");
    user_dumps(stem, &xs, bugs, base).write_dir(&dumps).unwrap();
    let o = run_cli(&["diff", model_path(stem).to_str().unwrap(), "--input", input.to_str().unwrap(), "--yours", dumps.to_str().unwrap(), "--profile", profile]);
    let _ = std::fs::remove_dir_all(&dir);
    o
}

/// Assert `quantlens diff` exits 1, names `tensor` first and `cause` as the likely cause.
fn assert_diagnosed(stem: &str, profile: &str, bugs: &[Bug], base: Base, tensor: usize, cause: &str) {
    assert_diagnosed_n(stem, profile, bugs, base, tensor, cause, N)
}

fn assert_diagnosed_n(stem: &str, profile: &str, bugs: &[Bug], base: Base, tensor: usize, cause: &str, n: usize) {
    let name = format!("{stem}-{profile}-{bugs:?}").replace([' ', '[', ']', ','], "");
    let o = cli_diff_n(stem, profile, bugs, base, &name, n);
    println!("{}", o.stdout);
    assert_eq!(o.code, 1, "{bugs:?}: expected exit 1 (divergence)\n{}", o.stdout);
    let first = format!("FIRST DIVERGENT TENSOR: t{tensor} ");
    assert!(o.stdout.contains(&first), "{bugs:?}: expected `{first}`\n{}", o.stdout);
    let line = o.stdout.lines().find(|l| l.contains("LIKELY CAUSE [")).unwrap_or_else(|| panic!("{bugs:?}: no likely cause\n{}", o.stdout));
    let key = line.split('[').nth(1).unwrap().split(']').next().unwrap();
    assert_eq!(key, cause, "{bugs:?}: wrong cause\n{}", o.stdout);
}

const PRIMARY: &str = "mlp_ptq_uint8io";
const LEGACY: &str = "mlp_legacy_uint8";

// ---------------------------------------------------------------------------
// A correct implementation: full match
// ---------------------------------------------------------------------------

#[test]
fn correct_implementation_is_a_full_match() {
    let o = cli_diff(PRIMARY, "tflite-ref", &[], Base::Double, "correct-ref");
    println!("{}", o.stdout);
    assert_eq!(o.code, 0, "{}", o.stdout);
    // The user's dumps stop at the last FULLY_CONNECTED: the SOFTMAX and output QUANTIZE are not given.
    assert!(!o.stdout.contains("FULL MATCH"), "{}", o.stdout);
    assert!(o.stdout.contains("MATCH ON THE 4 TENSOR(S) YOU GAVE (not a full match); not given: t11, t12"), "{}", o.stdout);
    // The same user code with M0/shift and double rounding matches TFLite Micro.
    let o = cli_diff(PRIMARY, "tflm", &[], Base::FixedPoint, "correct-tflm");
    assert_eq!(o.code, 0, "{}", o.stdout);
    // And the legacy all-uint8 model with asymmetric weights.
    let o = cli_diff(LEGACY, "tflite-ref", &[], Base::Double, "correct-legacy");
    assert_eq!(o.code, 0, "{}", o.stdout);
}

#[test]
fn float_dumps_are_compared_within_half_a_step() {
    let dir = tmp("float");
    let (input, xs) = inputs(PRIMARY, &dir);
    let m = Model::from_path(model_path(PRIMARY)).unwrap();
    let ints = user_dumps(PRIMARY, &xs, &[], Base::Double);
    // Dequantize every dump: r = S (q − Z), plus a third of a step of noise.
    let mut floats = Yours::new();
    for (&t, s) in &ints.arrays {
        let (sc, z) = m.tensors[t].per_tensor_quant().unwrap();
        let v: Vec<f32> = s.to_i64_vec().unwrap().iter().enumerate().map(|(i, &q)| sc * ((q - z) as f32 + if i % 2 == 0 { 0.3 } else { -0.3 })).collect();
        floats.insert(t, Stacked { shape: s.shape.clone(), data: Data::F32(v) });
    }
    let d = dir.join("floats");
    floats.write_dir(&d).unwrap();
    let o = run_cli(&["diff", model_path(PRIMARY).to_str().unwrap(), "--input", input.to_str().unwrap(), "--yours", d.to_str().unwrap()]);
    println!("{}", o.stdout);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("½ step"));

    // A mistake is still found from float dumps.
    let wrong = user_dumps(PRIMARY, &xs, &[Bug::BiasMissing], Base::Double);
    let mut floats = Yours::new();
    for (&t, s) in &wrong.arrays {
        let (sc, z) = m.tensors[t].per_tensor_quant().unwrap();
        floats.insert(t, Stacked { shape: s.shape.clone(), data: Data::F32(s.to_i64_vec().unwrap().iter().map(|&q| sc * (q - z) as f32).collect()) });
    }
    let plan = Plan::new(m, Profile::TfliteRef).unwrap();
    let report = diff(&plan, &xs, &floats).unwrap();
    let first = report.first_divergence().unwrap();
    assert_eq!(first.tensor, 8);
    assert!(first.max_diff_steps.unwrap() >= 1.0);
    assert_eq!(report.likely_cause().unwrap().key(), "bias-missing");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The dumps a user writes with `np.save(f"{dir}/{name}.npy", …)`: a tensor
/// name with `/` in it lands in sub-folders.
fn write_by_name(m: &Model, yours: &Yours, dir: &Path) {
    for (&t, s) in &yours.arrays {
        let path = dir.join(format!("{}.npy", m.tensors[t].name));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        s.write_npy(&path).unwrap();
    }
}

#[test]
fn dumps_named_by_tensor_name_are_read() {
    let dir = tmp("names");
    let (input, xs) = inputs(PRIMARY, &dir);
    let m = Model::from_path(model_path(PRIMARY)).unwrap();
    let ints = user_dumps(PRIMARY, &xs, &[Bug::ReluAtZero], Base::Double);
    // This model's FC outputs are named like `mlp_1/fc1_1/MatMul;…`: sub-folders.
    assert!(ints.arrays.keys().filter(|&&t| m.tensors[t].name.contains('/')).count() >= 3);
    let d = dir.join("named");
    write_by_name(&m, &ints, &d);
    let o = run_cli(&["diff", model_path(PRIMARY).to_str().unwrap(), "--input", input.to_str().unwrap(), "--yours", d.to_str().unwrap()]);
    println!("{}", o.stdout);
    assert_eq!(o.code, 1, "{}", o.stdout);
    for t in ints.arrays.keys() {
        assert!(o.stdout.contains(&format!("{}.npy", m.tensors[*t].name)), "t{t} not read\n{}", o.stdout);
    }
    assert!(o.stdout.contains("FIRST DIVERGENT TENSOR: t8 "));
    assert!(o.stdout.contains("LIKELY CAUSE [relu-at-zero]"));

    // The sanitized flat form (`/` and `;` as `_`) is read too.
    let flat = dir.join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    for (&t, s) in &ints.arrays {
        s.write_npy(&flat.join(format!("{}.npy", quantlens::diff::sanitize_name(&m.tensors[t].name)))).unwrap();
    }
    let o = run_cli(&["diff", model_path(PRIMARY).to_str().unwrap(), "--input", input.to_str().unwrap(), "--yours", flat.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains("LIKELY CAUSE [relu-at-zero]"), "{}", o.stdout);

    // A stray .npy beside valid ones (here one level down) is an error that names it.
    std::fs::create_dir_all(d.join("mlp_1")).unwrap();
    std::fs::write(d.join("mlp_1").join("notes.npy"), b"not a tensor").unwrap();
    let o = run_cli(&["diff", model_path(PRIMARY).to_str().unwrap(), "--input", input.to_str().unwrap(), "--yours", d.to_str().unwrap()]);
    println!("{}", o.stdout);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(o.stdout.contains("name no tensor of the model") && o.stdout.contains("mlp_1/notes.npy"), "{}", o.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn partial_and_full_dumps() {
    let dir = tmp("partial");
    let (input, xs) = inputs(PRIMARY, &dir);
    let model = model_path(PRIMARY);
    let m = Model::from_path(&model).unwrap();
    let ints = user_dumps(PRIMARY, &xs, &[], Base::Double);
    // Only the first FC output: a match on what was given, not a full match.
    let first_fc = layers(&m)[0].output;
    let mut one = Yours::new();
    one.insert(first_fc, ints.arrays[&first_fc].clone());
    let d = dir.join("one");
    one.write_dir(&d).unwrap();
    let o = run_cli(&["diff", model.to_str().unwrap(), "--input", input.to_str().unwrap(), "--yours", d.to_str().unwrap()]);
    println!("{}", o.stdout);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(!o.stdout.contains("FULL MATCH"), "{}", o.stdout);
    assert!(o.stdout.contains("MATCH ON THE 1 TENSOR(S) YOU GAVE (not a full match); not given:"), "{}", o.stdout);
    let plan = Plan::new(m.clone(), Profile::TfliteRef).unwrap();
    let report = diff(&plan, &xs, &one).unwrap();
    assert!(report.is_match() && !report.is_full_match());

    // Every op-produced tensor, the SOFTMAX and output QUANTIZE taken from LiteRT's reference golden: a full match.
    let mut all = ints.clone();
    let mut golden = quantlens::io::Npz::open(data().join("goldens").join(PRIMARY).join("ref.npz")).unwrap();
    for t in diff(&plan, &xs, &ints).unwrap().not_provided {
        let g = golden.get(&format!("t{t}")).unwrap();
        let per = g.len() / g.shape[0];
        let mut shape = vec![N];
        shape.extend(&g.shape[1..]);
        let data = match &g.data {
            Data::U8(v) => Data::U8(v[..N * per].to_vec()),
            Data::I8(v) => Data::I8(v[..N * per].to_vec()),
            other => panic!("t{t}: integer golden expected, got {other:?}"),
        };
        all.insert(t, Stacked { shape, data });
    }
    let report = diff(&plan, &xs, &all).unwrap();
    assert!(report.is_full_match(), "{}", report.render());
    assert!(report.render().contains("FULL MATCH: all 6 op-produced tensor(s) given"), "{}", report.render());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_partial_explanation_is_not_a_likely_cause() {
    // 65 % of the first layer's values made with ReLU at 0, the rest shifted by
    // an amount no known mistake produces: the closest candidate explains only
    // part of the values and must not be named the likely cause.
    let dir = tmp("partial-cause");
    let (input, xs) = inputs(PRIMARY, &dir);
    let model = model_path(PRIMARY);
    let m = Model::from_path(&model).unwrap();
    let good = user_dumps(PRIMARY, &xs, &[], Base::Double);
    let relu0 = user_dumps(PRIMARY, &xs, &[Bug::ReluAtZero], Base::Double);
    let t = layers(&m)[0].output;
    let a = good.arrays[&t].to_i64_vec().unwrap();
    let b = relu0.arrays[&t].to_i64_vec().unwrap();
    let mixed: Vec<i8> = a
        .iter()
        .zip(&b)
        .enumerate()
        .map(|(i, (&x, &y))| if (i * 7919) % 100 < 65 { y as i8 } else { (x as i8).wrapping_add(37) })
        .collect();
    let mut yours = Yours::new();
    yours.insert(t, Stacked { shape: good.arrays[&t].shape.clone(), data: Data::I8(mixed) });
    let d = dir.join("mixed");
    yours.write_dir(&d).unwrap();
    let o = run_cli(&["diff", model.to_str().unwrap(), "--input", input.to_str().unwrap(), "--yours", d.to_str().unwrap()]);
    println!("{}", o.stdout);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(!o.stdout.contains("LIKELY CAUSE"), "{}", o.stdout);
    assert!(o.stdout.contains("no known mistake explains these values"), "{}", o.stdout);
    assert!(o.stdout.contains("closest: [relu-at-zero]"), "{}", o.stdout);
    let plan = Plan::new(m, Profile::TfliteRef).unwrap();
    assert!(diff(&plan, &xs, &yours).unwrap().likely_cause().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_exits_2() {
    let dir = tmp("bad");
    let (input, xs) = inputs(PRIMARY, &dir);
    let model = model_path(PRIMARY);
    let m = model.to_str().unwrap();
    // Missing directory.
    let o = run_cli(&["diff", m, "--input", input.to_str().unwrap(), "--yours", dir.join("nope").to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    // Wrong number of samples.
    let d = dir.join("short");
    let ints = user_dumps(PRIMARY, &xs[..10], &[], Base::Double);
    ints.write_dir(&d).unwrap();
    let o = run_cli(&["diff", m, "--input", input.to_str().unwrap(), "--yours", d.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(o.stdout.contains("expected (N = 100"), "{}", o.stdout);
    // Wrong element count.
    let d = dir.join("shape");
    std::fs::create_dir_all(&d).unwrap();
    Stacked { shape: vec![N, 511], data: Data::I8(vec![0; N * 511]) }.write_npy(&d.join("t8.npy")).unwrap();
    let o = run_cli(&["diff", m, "--input", input.to_str().unwrap(), "--yours", d.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    // A constant (weights) is not an op output.
    let d = dir.join("const");
    std::fs::create_dir_all(&d).unwrap();
    Stacked { shape: vec![N, 10], data: Data::I32(vec![0; N * 10]) }.write_npy(&d.join("t1.npy")).unwrap();
    let o = run_cli(&["diff", m, "--input", input.to_str().unwrap(), "--yours", d.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    // No file names a tensor.
    let d = dir.join("empty");
    std::fs::create_dir_all(&d).unwrap();
    let o = run_cli(&["diff", m, "--input", input.to_str().unwrap(), "--yours", d.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// One test per mistake
// ---------------------------------------------------------------------------

#[test]
fn weight_zero_point_not_subtracted() {
    // Only the legacy uint8 model has nonzero weight zero points (Z2 = 122, 115, 130).
    assert_diagnosed(LEGACY, "tflite-ref", &[Bug::WeightZeroPoint], Base::Double, 5, "weight-zero-point");
}

#[test]
fn input_zero_point_ignored() {
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::InputZeroPoint], Base::Double, 8, "input-zero-point");
}

#[test]
fn output_zero_point_missing() {
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::OutputZeroPoint], Base::Double, 8, "output-zero-point");
}

#[test]
fn wrong_s3_input_scale_used_for_output() {
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::S3IsInputScale], Base::Double, 8, "wrong-s3:input-scale");
}

#[test]
fn wrong_s3_omitted() {
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::S3Omitted], Base::Double, 8, "wrong-s3:omitted");
}

#[test]
fn multiplier_not_applied() {
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::MNotApplied], Base::Double, 8, "m-not-applied");
}

#[test]
fn weights_transposed() {
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::Transposed], Base::Double, 8, "weights-transposed");
}

#[test]
fn bias_missing() {
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::BiasMissing], Base::Double, 8, "bias-missing");
}

#[test]
fn bias_treated_as_real_valued() {
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::BiasRealValued], Base::Double, 8, "bias-real-valued");
}

#[test]
fn relu_clamped_at_integer_zero() {
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::ReluAtZero], Base::Double, 8, "relu-at-zero");
}

#[test]
fn missing_saturation() {
    // FC1 never leaves [-128, 127] on these images; FC2 does (and wraps).
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::NoSaturation], Base::Double, 9, "clamp-missing");
}

#[test]
fn per_channel_scales_used_as_per_tensor() {
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::PerChannelAsPerTensor], Base::Double, 8, "per-channel-as-per-tensor:first");
}

#[test]
fn rounding_floor() {
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::Floor], Base::Double, 8, "rounding:floor");
}

#[test]
fn rounding_truncate() {
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::Truncate], Base::Double, 8, "rounding:truncate");
}

#[test]
fn rounding_half_up() {
    // M0/shift with TFLM's high-mul, then `(x + 2^(r−1)) >> r` (half up, LiteRT builtin's rule) where
    // TFLM rounds the shift ties away from zero. They differ only on negative ties, which a ReLU layer
    // with Z3 = −128 clamps away: the first divergence is the last FC (no activation).
    assert_diagnosed_n(PRIMARY, "tflm", &[Bug::HalfUpShift], Base::FixedPoint, 10, "rounding:half-up", 1000);
}

#[test]
fn rounding_half_even() {
    // Round half to even in the shift after TFLM's high-mul, where TFLM rounds ties away from zero.
    // (Half-even in double or f32, numpy's np.round, equals half-away on these models: ties of
    // acc·M in floating point do not occur; LiteRT's XNNPACK and reference goldens are identical.)
    assert_diagnosed_n(PRIMARY, "tflm", &[Bug::HalfEvenShift], Base::FixedPoint, 8, "rounding:half-even-fixed-point", 1000);
}

#[test]
fn rounding_double_rounding() {
    // gemmlowp double rounding (TFLM's rule) where the reference kernels round once in double.
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::DoubleRounding], Base::Double, 8, "rounding:double-rounding");
}

#[test]
fn accumulator_wraps_in_uint8() {
    // numpy: np.dot of two uint8 arrays stays uint8, the sum wraps modulo 256.
    assert_diagnosed(LEGACY, "tflite-ref", &[Bug::AccWrapU8], Base::Double, 5, "acc-wrap:uint8");
}

#[test]
fn accumulator_wraps_in_int8() {
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::AccWrapI8], Base::Double, 8, "acc-wrap:int8");
}

#[test]
fn int8_weights_read_as_uint8() {
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::WeightSignedness], Base::Double, 8, "weight-signedness");
}

#[test]
fn two_mistakes_at_once() {
    // The "10 %" kind of implementation: input zero point ignored and S3 left out.
    assert_diagnosed(PRIMARY, "tflite-ref", &[Bug::InputZeroPoint, Bug::S3Omitted], Base::Double, 8, "input-zero-point+wrong-s3:omitted");
}

// ---------------------------------------------------------------------------
// diff::simulate: the mistakes that give chance accuracy, made on purpose
// ---------------------------------------------------------------------------

#[test]
fn simulated_mistakes_are_diagnosed() {
    use quantlens::diff::{simulate, Mistake, ScaleUsed};
    let dir = tmp("simulate");
    for (stem, mistake, key) in [
        (LEGACY, Mistake::WrongOutputScale(ScaleUsed::Omitted), "wrong-s3:omitted"),
        (LEGACY, Mistake::AccumulatorWrap(quantlens::DType::U8), "acc-wrap:uint8"),
        (PRIMARY, Mistake::ReluAtZero, "relu-at-zero"),
    ] {
        let (_, xs) = inputs(stem, &dir);
        let plan = Plan::new(Model::from_path(model_path(stem)).unwrap(), Profile::TfliteRef).unwrap();
        // No mistake: the profile's own values, every op-produced tensor.
        let right = simulate(&plan, &xs, &[]).unwrap();
        let report = diff(&plan, &xs, &right).unwrap();
        assert!(report.is_full_match(), "{stem}\n{}", report.render());
        let wrong = simulate(&plan, &xs, &[mistake]).unwrap();
        let report = diff(&plan, &xs, &wrong).unwrap();
        println!("{}", report.render());
        assert_eq!(report.likely_cause().map(|c| c.key()).as_deref(), Some(key), "{stem}\n{}", report.render());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
