//! 16x8 models (topic `int16`, `scripts/data_int16.py`): every op-produced
//! tensor, over every golden image, against the goldens the real runtimes
//! wrote — 0 differing elements in every profile whose runtime ran the model.
//!
//! The models: the MLP (FULLY_CONNECTED, SOFTMAX), the CNN (CONV_2D,
//! DEPTHWISE_CONV_2D, MAX_POOL_2D, AVERAGE_POOL_2D, RESHAPE), the residual
//! model (ADD, CONCATENATION, MEAN, int16→int16 QUANTIZE), the op-coverage
//! model (PAD, RELU, RELU6, LEAKY_RELU, LOGISTIC, TANH, MUL, SUB) and a
//! hand-built chain float32 → int16 → int8 → int16 → float32 (QUANTIZE and
//! DEQUANTIZE both ways).

mod common;

use std::path::PathBuf;

use quantlens::io::{read_samples, Npz};
use quantlens::verify::verify;
use quantlens::{Model, Plan, Profile};

/// (model, golden images, runtimes that ran it).
const MODELS: [(&str, usize); 5] =
    [("mlp_16x8", 100), ("cnn_16x8", 20), ("resnet_16x8", 20), ("ops_16x8", 20), ("requant_16x8", 100)];

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// Differing elements per tensor of `stem` under `plan`'s profile against
/// runtime `golden_key`'s goldens; `None` when that runtime has none.
fn differing(stem: &str, images: usize, profile: Profile, golden_key: &str) -> Option<Vec<(usize, String, usize, usize)>> {
    let dir = data().join("goldens").join(stem);
    let golden = dir.join(format!("{golden_key}.npz"));
    if !golden.exists() {
        return None;
    }
    let model = Model::from_path(data().join("models").join(format!("{stem}.tflite"))).unwrap();
    let plan = Plan::new(model, profile).unwrap_or_else(|e| panic!("{stem} {profile}: {e}"));
    let inputs = read_samples(dir.join("input.npy")).unwrap();
    assert_eq!(inputs.len(), images, "{stem}: expected {images} golden images");
    let traces = plan.run_batch(&inputs.samples()).unwrap();
    let mut npz = Npz::open(&golden).unwrap();
    let report = verify(&plan, &traces, &mut npz).unwrap();
    let mut diffs: Vec<_> = report.tensors.iter().map(|t| (t.tensor, t.op_kind.to_string(), t.differing, t.elements)).collect();
    // The outputs-only path (two threads) must give the same final output.
    let golden_out = npz.get(&format!("t{}", plan.output())).unwrap();
    let out = plan.run_batch_outputs_threads(&inputs, 2).unwrap();
    let same = out.shape == golden_out.shape && out.data == golden_out.data;
    diffs.push((plan.output(), "outputs-only path".into(), usize::from(!same), 1));
    Some(diffs)
}

fn check_all(profile: Profile) {
    let mut failures = String::new();
    let mut checked = 0;
    for (stem, images) in MODELS {
        let Some(tensors) = differing(stem, images, profile, profile.golden_key()) else { continue };
        checked += 1;
        for (t, kind, diff, n) in tensors {
            println!("{stem} {profile}: t{t} ({kind}): {diff} of {n} differ");
            if diff > 0 {
                failures += &format!("{stem} {profile}: t{t} ({kind}): {diff} of {n} differ\n");
            }
        }
    }
    assert_eq!(checked, MODELS.len(), "{profile}: golden files missing (every runtime ran every 16x8 model)");
    assert!(failures.is_empty(), "{profile} is not bit-exact on the 16x8 models:\n{failures}");
}

#[test]
fn tflite_ref_is_bit_exact_on_16x8() {
    check_all(Profile::TfliteRef);
}

#[test]
fn tflite_builtin_is_bit_exact_on_16x8() {
    check_all(Profile::TfliteBuiltin);
}

#[test]
fn tflite_xnnpack_is_bit_exact_on_16x8() {
    check_all(Profile::TfliteXnnpack);
}

#[test]
fn tflm_is_bit_exact_on_16x8() {
    check_all(Profile::Tflm);
}

/// The profile choices are not decoration: LiteRT's arithmetic misses TFLite
/// Micro's goldens on FULLY_CONNECTED (M0 reduced to 16 bits) and RELU6
/// (clamped in the input's scale), and the reverse.
#[test]
fn litert_and_tflm_arithmetic_differ_on_16x8() {
    let ops_of = |stem: &str, images: usize, profile: Profile, key: &str| -> Vec<String> {
        differing(stem, images, profile, key).unwrap().into_iter().filter(|t| t.2 > 0).map(|t| t.1).collect()
    };
    let litert_on_tflm = ops_of("mlp_16x8", 100, Profile::TfliteRef, "tflm");
    assert!(litert_on_tflm.iter().any(|k| k == "FULLY_CONNECTED"), "{litert_on_tflm:?}");
    let tflm_on_litert = ops_of("ops_16x8", 20, Profile::Tflm, "ref");
    assert!(tflm_on_litert.iter().any(|k| k == "RELU6"), "{tflm_on_litert:?}");
}

/// LOGISTIC and TANH on an int16 input whose scale is a power of two (2^-12:
/// Q3.12): LiteRT's reference kernels and TFLite Micro still use the sigmoid
/// table; LiteRT's optimized kernels switch to gemmlowp's int16 fixed point
/// (int16_pot: proven against the goldens of `pot_16x8` in
/// `tests/goldens_int16_pot.rs`). Both are sigmoid/tanh to within 2e-3.
#[test]
fn power_of_two_input_scale_runs_in_every_profile() {
    use common::{build, op, q, t, OptSpec, Spec, INT16};
    const LOGISTIC: i32 = 14;
    const TANH: i32 = 28;
    for (code, name) in [(LOGISTIC, "LOGISTIC"), (TANH, "TANH")] {
        let spec = Spec {
            codes: vec![code],
            tensors: vec![
                t("x", &[1, 5], INT16, 0, q(&[1.0 / 4096.0], &[0])),
                t("y", &[1, 5], INT16, 0, q(&[1.0 / 32768.0], &[0])),
            ],
            ops: vec![op(0, &[0], &[1], OptSpec::None)],
            inputs: vec![0],
            outputs: vec![1],
            buffers: vec![vec![]],
            subgraphs: 1,
        };
        let model = Model::from_bytes(&build(&spec)).unwrap();
        for profile in [Profile::TfliteRef, Profile::Tflm, Profile::TfliteBuiltin, Profile::TfliteXnnpack] {
            let plan = Plan::new(model.clone(), profile).unwrap();
            let x = quantlens::tensor::Value { shape: vec![1, 5], data: quantlens::tensor::Data::I16(vec![-32768, -4096, 0, 4096, 32767]) };
            let y = plan.run(&x).unwrap().values[1].clone().unwrap();
            let y = y.as_i16().unwrap().to_vec();
            // f(0) is exactly the midpoint; f is odd around it; ±8 saturates.
            let mid = if code == LOGISTIC { 16384 } else { 0 };
            assert_eq!(y[2], mid, "{name} {profile}: {y:?}");
            assert!(y.windows(2).all(|w| w[0] <= w[1]), "{name} {profile}: {y:?}");
            assert!((y[1] as i32 + y[3] as i32 - 2 * mid as i32).abs() <= 1, "{name} {profile}: {y:?}");
            let exact = |v: f64| if code == LOGISTIC { 1.0 / (1.0 + (-v).exp()) } else { v.tanh() };
            assert!((y[3] as f64 / 32768.0 - exact(1.0)).abs() < 2e-3, "{name} {profile}: {y:?}");
        }
    }
}
