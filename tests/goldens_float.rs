//! The float32 conv models (`data/manifests/float.json`: `cnn_float32`,
//! `resnet_float32`, `ops_float32`): every op-produced tensor, every golden
//! image.
//!
//! * LiteRT's reference kernels and TFLite Micro: **bit-identical** (f32 bits
//!   compared), through the traced run and the outputs-only paths.
//! * `resnet_ptq_floatio` (int8 inside, QUANTIZE / DEQUANTIZE at float32 I/O):
//!   bit-exact in every runtime.
//! * LiteRT's optimized kernels and XNNPACK sum in other orders: for them the
//!   largest distance in ULPs per tensor is printed (not a pass criterion),
//!   and every integer tensor (SHAPE, STRIDED_SLICE, PACK) must be equal.
//!
//! `cargo test --release --test goldens_float -- --nocapture` prints the table.

mod common;

use quantlens::io::{read_samples, Npz, Stacked};
use quantlens::verify::verify;
use quantlens::{Model, Plan, Profile};

/// (model, golden images): the counts of `scripts/data_float.py`.
const FLOAT_MODELS: [(&str, usize); 3] = [("cnn_float32", 16), ("resnet_float32", 24), ("ops_float32", 32)];

fn plan(stem: &str, profile: Profile) -> Plan {
    Plan::new(Model::from_path(common::model(stem)).unwrap(), profile).unwrap()
}

fn inputs(stem: &str, images: usize) -> Stacked {
    let inputs = read_samples(common::golden_dir(stem).join("input.npy")).unwrap();
    assert_eq!(inputs.len(), images, "{stem}: expected {images} golden images");
    inputs
}

/// Bit-exact against `profile`'s goldens: traced run, and the outputs-only
/// paths (batched on 1 and 2 threads, and a reused workspace).
fn check_exact(stem: &str, images: usize, profile: Profile) -> Vec<String> {
    let plan = plan(stem, profile);
    let inputs = inputs(stem, images);
    let mut npz = Npz::open(common::golden_dir(stem).join(format!("{}.npz", profile.golden_key()))).unwrap();
    let traces = plan.run_batch(&inputs.samples()).unwrap();
    let report = verify(&plan, &traces, &mut npz).unwrap();
    let mut failures = Vec::new();
    for t in &report.tensors {
        println!("{stem} {profile}: t{} ({}, op {}): {} of {} differ", t.tensor, t.op_kind, t.op, t.differing, t.elements);
        if t.differing != 0 {
            failures.push(format!("{stem} {profile}: t{} ({}) {} of {} differ, max |diff| {}", t.tensor, t.op_kind, t.differing, t.elements, t.max_abs_diff));
        }
    }
    let golden_out = npz.get(&format!("t{}", plan.output())).unwrap();
    for threads in [1, 2] {
        let out = plan.run_batch_outputs_threads(&inputs, threads).unwrap();
        if out.shape != golden_out.shape || out.data != golden_out.data {
            failures.push(format!("{stem} {profile}: outputs-only path on {threads} thread(s) differs"));
        }
    }
    let mut ws = plan.workspace();
    for i in 0..images {
        let y = ws.run(&plan, &inputs.sample(i)).unwrap();
        if y.data != golden_out.sample(i).data {
            failures.push(format!("{stem} {profile}: workspace run of sample {i} differs"));
        }
    }
    failures
}

#[test]
fn float_conv_models_are_bit_identical_to_the_reference_kernels() {
    let failures: Vec<String> = FLOAT_MODELS.iter().flat_map(|&(stem, n)| check_exact(stem, n, Profile::TfliteRef)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn float_conv_models_are_bit_identical_to_tflite_micro() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for (stem, n) in FLOAT_MODELS {
        if common::golden_dir(stem).join("tflm.npz").exists() {
            checked += 1;
            failures.extend(check_exact(stem, n, Profile::Tflm));
        }
    }
    assert_eq!(checked, FLOAT_MODELS.len(), "TFLite Micro ran every float conv model (data/manifests/float.json)");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Largest ULP distance between two equally shaped float stacks, and the
/// largest absolute difference relative to the largest |golden| value.
fn max_ulps(ours: &Stacked, golden: &Stacked) -> (u64, f64) {
    let (a, b) = (ours.to_f64_vec(), golden.to_f64_vec());
    let ulps = a.iter().zip(&b).map(|(&x, &y)| common::ulp_distance(x as f32, y as f32)).max().unwrap_or(0);
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    (ulps, if scale > 0.0 { diff / scale } else { diff })
}

/// Per op kind, the largest ULP distance between quantlens (= the reference
/// kernels) and an optimized runtime, two ways: **own** — the op alone, fed
/// that runtime's own inputs (its goldens), so only its summation order
/// counts; **end to end** — the whole model run by quantlens, so earlier
/// ops' differences are inherited. Integer tensors must be equal.
fn ulps_against(profile: Profile) -> std::collections::BTreeMap<String, (u64, u64, f64)> {
    use quantlens::tensor::Value;
    let mut worst = std::collections::BTreeMap::new();
    let mut integer_failures = Vec::new();
    for (stem, n) in FLOAT_MODELS {
        let plan = plan(stem, profile);
        let inputs = inputs(stem, n);
        let traces = plan.run_batch(&inputs.samples()).unwrap();
        let mut npz = Npz::open(common::golden_dir(stem).join(format!("{}.npz", profile.golden_key()))).unwrap();
        for step in &plan.steps {
            let t = step.kernel.output();
            let golden = npz.get(&format!("t{t}")).unwrap();
            let kind = plan.model.operators[step.op].kind.name();
            // End to end.
            let ours: Vec<Value> = traces.iter().map(|tr| tr.value(t).unwrap().clone()).collect();
            let ours = Stacked::from_values(&ours.iter().collect::<Vec<_>>()).unwrap();
            assert_eq!(ours.shape, golden.shape, "{stem} t{t}");
            if let (Some(a), Some(b)) = (ours.to_i64_vec(), golden.to_i64_vec()) {
                if a != b {
                    integer_failures.push(format!("{stem} {profile}: integer tensor t{t} ({kind}) differs"));
                }
                continue;
            }
            let (end_to_end, _) = max_ulps(&ours, &golden);
            // The op alone, on the runtime's own inputs.
            let feeds: Vec<(usize, Stacked)> = step
                .kernel
                .inputs()
                .into_iter()
                .map(|i| (i, if i == plan.input() { inputs.clone() } else { npz.get(&format!("t{i}")).unwrap() }))
                .collect();
            let own: Vec<Value> = (0..n)
                .map(|k| {
                    let mut values = vec![None; plan.model.tensors.len()];
                    for (i, s) in &feeds {
                        values[*i] = Some(s.sample(k));
                    }
                    step.kernel.eval(&values).unwrap()
                })
                .collect();
            let (own, relative) = max_ulps(&Stacked::from_values(&own.iter().collect::<Vec<_>>()).unwrap(), &golden);
            println!(
                "{stem} {profile}: t{t} ({kind}, op {}): max {own} ULP alone (|diff| ≤ {relative:.1e} of the largest |value|), {end_to_end} ULP end to end",
                step.op
            );
            let w = worst.entry(kind.to_string()).or_insert((0, 0, 0.0f64));
            *w = (w.0.max(own), w.1.max(end_to_end), w.2.max(relative));
        }
    }
    assert!(integer_failures.is_empty(), "{}", integer_failures.join("\n"));
    for (kind, (own, end_to_end, relative)) in &worst {
        println!("{profile}: {kind}: largest difference {own} ULP alone (≤ {relative:.1e} of the largest |value|), {end_to_end} ULP end to end");
    }
    worst
}

#[test]
fn optimized_runtimes_differ_by_a_few_ulps_and_agree_on_integers() {
    for profile in [Profile::TfliteBuiltin, Profile::TfliteXnnpack] {
        let worst = ulps_against(profile);
        // Every float op kind of the three models was measured.
        assert!(worst.contains_key("CONV_2D") && worst.contains_key("MEAN") && worst.contains_key("HARD_SWISH"), "{profile}: {worst:?}");
    }
}

#[test]
fn ulp_distance_counts_representable_floats() {
    assert_eq!(common::ulp_distance(1.0, 1.0), 0);
    assert_eq!(common::ulp_distance(0.0, -0.0), 0);
    assert_eq!(common::ulp_distance(1.0, f32::from_bits(1.0f32.to_bits() + 3)), 3);
    assert_eq!(common::ulp_distance(f32::from_bits(1), -f32::from_bits(1)), 2);
}

/// The residual model with int8 inside and float32 I/O: QUANTIZE float32 →
/// int8 in front, DEQUANTIZE int8 → float32 at the end. Integer arithmetic
/// inside, so every runtime must match it exactly, the float output included.
#[test]
fn float_io_quantize_and_dequantize_are_bit_exact_in_every_runtime() {
    let mut failures = Vec::new();
    for profile in [Profile::TfliteRef, Profile::TfliteBuiltin, Profile::TfliteXnnpack, Profile::Tflm] {
        failures.extend(check_exact("resnet_ptq_floatio", 16, profile));
    }
    let plan = plan("resnet_ptq_floatio", Profile::TfliteRef);
    let kinds: Vec<_> = plan.model.operators.iter().map(|o| o.kind.name()).collect();
    assert_eq!((kinds[0].as_str(), kinds[kinds.len() - 1].as_str()), ("QUANTIZE", "DEQUANTIZE"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
