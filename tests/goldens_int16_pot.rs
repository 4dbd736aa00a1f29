//! 16x8 LOGISTIC and TANH with power-of-two input scales (topic `int16_pot`,
//! `scripts/data_int16_pot.py`): LiteRT's reference kernel and TFLite Micro
//! run the sigmoid table, LiteRT's optimized builtin kernels (also under
//! XNNPACK, which takes no int16 op) gemmlowp's int16 fixed point. Every
//! op-produced tensor of `pot_16x8` over its 100 golden images, 0 differing
//! elements in all four profiles, traced and outputs-only.

use std::path::PathBuf;

use quantlens::io::{read_samples, Npz};
use quantlens::ops::int16::Kernel16;
use quantlens::plan::Kernel;
use quantlens::profile::Activation16Pot;
use quantlens::verify::verify;
use quantlens::{Model, Plan, Profile};

const STEM: &str = "pot_16x8";
const IMAGES: usize = 100;
const PROFILES: [Profile; 4] = [Profile::TfliteRef, Profile::TfliteBuiltin, Profile::TfliteXnnpack, Profile::Tflm];

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn plan(profile: Profile) -> Plan {
    Plan::new(Model::from_path(data().join("models").join(format!("{STEM}.tflite"))).unwrap(), profile).unwrap()
}

/// (tensor, op kind, differing, elements) of `profile` against runtime `golden`'s goldens.
fn differing(profile: Profile, golden: &str) -> Vec<(usize, String, usize, usize)> {
    let dir = data().join("goldens").join(STEM);
    let plan = plan(profile);
    let inputs = read_samples(dir.join("input.npy")).unwrap();
    assert_eq!(inputs.len(), IMAGES);
    let traces = plan.run_batch(&inputs.samples()).unwrap();
    let mut npz = Npz::open(dir.join(format!("{golden}.npz"))).unwrap();
    let report = verify(&plan, &traces, &mut npz).unwrap();
    let mut rows: Vec<_> = report.tensors.iter().map(|t| (t.tensor, t.op_kind.to_string(), t.differing, t.elements)).collect();
    let golden_out = npz.get(&format!("t{}", plan.output())).unwrap();
    let out = plan.run_batch_outputs_threads(&inputs, 2).unwrap();
    rows.push((plan.output(), "outputs-only path".into(), usize::from(out.shape != golden_out.shape || out.data != golden_out.data), 1));
    rows
}

/// The (op index, power-of-two doublings if fixed point) of every LOGISTIC/TANH.
fn activations(plan: &Plan) -> Vec<(usize, bool, Option<i32>)> {
    plan.steps
        .iter()
        .filter_map(|s| match &s.kernel {
            Kernel::Int16(Kernel16::Sigmoid(p)) => Some((s.op, p.tanh, p.fixed_point)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_activations_have_power_of_two_input_scales() {
    let p = plan(Profile::TfliteBuiltin);
    let scales: Vec<f32> = activations(&p)
        .iter()
        .map(|&(op, _, _)| p.model.tensors[p.model.operators[op].inputs[0].unwrap()].quant.as_ref().unwrap().scale[0])
        .collect();
    assert_eq!(scales, [2f32.powi(-12), 2f32.powi(-12), 2f32.powi(-11)]);
    // The optimized kernels take the fixed point (TANH on 2^-11 doubles first), the others the table.
    assert_eq!(activations(&p).iter().map(|a| (a.1, a.2)).collect::<Vec<_>>(), [(false, Some(0)), (true, Some(0)), (true, Some(1))]);
    for profile in [Profile::TfliteRef, Profile::Tflm] {
        assert!(activations(&plan(profile)).iter().all(|a| a.2.is_none()), "{profile}");
        assert_eq!(profile.activation16_pot(), Activation16Pot::SigmoidTable);
    }
}

#[test]
fn bit_exact_in_every_profile() {
    let mut failures = String::new();
    for profile in PROFILES {
        for (t, kind, diff, n) in differing(profile, profile.golden_key()) {
            println!("{STEM} {profile}: t{t} ({kind}): {diff} of {n} differ");
            if diff > 0 {
                failures += &format!("{STEM} {profile}: t{t} ({kind}): {diff} of {n} differ\n");
            }
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

#[test]
fn the_fixed_point_and_the_table_disagree_on_these_inputs() {
    // The reference (table) profile against the builtin goldens misses the
    // activations' outputs: the choice is visible in the data.
    let rows = differing(Profile::TfliteRef, "builtin");
    let p = plan(Profile::TfliteRef);
    for (op, _, _) in activations(&p) {
        let t = p.model.operators[op].outputs[0];
        let (_, _, diff, n) = rows.iter().find(|r| r.0 == t).unwrap();
        println!("op {op} t{t}: sigmoid table vs LiteRT builtin: {diff} of {n} differ");
        assert!(*diff > 0, "op {op}: the table reproduces the fixed point");
    }
}
