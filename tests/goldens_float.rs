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

use quantlens::io::{Npz, Stacked};
use quantlens::{Plan, Profile};

/// (model, golden images): the counts of `scripts/data_float.py`.
const FLOAT_MODELS: [(&str, usize); 3] = [("cnn_float32", 16), ("resnet_float32", 24), ("ops_float32", 32)];

fn plan(stem: &str, profile: Profile) -> Plan {
    common::open_plan(stem, profile)
}

fn inputs(stem: &str, images: usize) -> Stacked {
    common::golden_inputs(stem, images)
}

/// Bit-exact against `profile`'s goldens: traced run, and the outputs-only
/// paths (batched on 1 and 2 threads, and a reused workspace).
fn check_exact(stem: &str, images: usize, profile: Profile) -> Vec<String> {
    let mut npz = Npz::open(common::golden_dir(stem).join(format!("{}.npz", profile.golden_key()))).unwrap();
    common::exact_against_goldens(&format!("{stem} {profile}"), &plan(stem, profile), &inputs(stem, images), &mut npz)
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

/// Per op kind, the largest ULP distance between quantlens (= the reference
/// kernels) and an optimized runtime, two ways: **own** — the op alone, fed
/// that runtime's own inputs (its goldens), so only its summation order
/// counts; **end to end** — the whole model run by quantlens, so earlier
/// ops' differences are inherited. Integer tensors must be equal.
fn ulps_against(profile: Profile) -> std::collections::BTreeMap<String, (u64, u64, f64)> {
    let mut worst = std::collections::BTreeMap::new();
    let mut integer_failures = Vec::new();
    for (stem, n) in FLOAT_MODELS {
        let plan = plan(stem, profile);
        let mut npz = Npz::open(common::golden_dir(stem).join(format!("{}.npz", profile.golden_key()))).unwrap();
        let (rows, failures) = common::ulp_rows(&plan, &inputs(stem, n), &mut npz);
        integer_failures.extend(failures.into_iter().map(|f| format!("{stem} {profile}: {f}")));
        for r in rows {
            println!(
                "{stem} {profile}: t{} ({}, op {}): max {} ULP alone (|diff| ≤ {:.1e} of the largest |value|), {} ULP end to end",
                r.tensor, r.kind, r.op, r.alone, r.relative, r.end_to_end
            );
            let w = worst.entry(r.kind).or_insert((0, 0, 0.0f64));
            *w = (w.0.max(r.alone), w.1.max(r.end_to_end), w.2.max(r.relative));
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
