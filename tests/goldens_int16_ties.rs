//! The runtimes' int16 ADD, SUB and MUL (topic `int16_ties`,
//! `scripts/data_int16_ties.py`, manifest `data/manifests/int16_ties.json`):
//! LiteRT builtin's non-broadcast int16 ADD in NEON blocks of 16 with the
//! input shift folded ([`quantlens::Profile::add16_blocks`]), and LiteRT's
//! shift-and-saturate ADD/SUB for power-of-two scales under
//! `pot_scale_int16`, which TFLite Micro ignores
//! ([`quantlens::Profile::addsub16_pot`]). Every op-produced tensor over
//! every golden image, in every profile, against its runtime's goldens: 0
//! differing elements, traced and through the outputs-only paths. And both
//! choices are needed: without them the profiles differ from their goldens.
//!
//! `--nocapture` prints the per-tensor table.

mod common;

use common::{exact_against_goldens, golden_dir, golden_inputs, open_plan};
use quantlens::io::Npz;
use quantlens::ops::int16::Kernel16;
use quantlens::plan::Kernel;
use quantlens::Profile;

const STEM: &str = "int16_ties";
const IMAGES: usize = 24;

#[test]
fn every_profile_is_bit_exact() {
    for profile in Profile::ALL {
        let golden = golden_dir(STEM).join(format!("{}.npz", profile.golden_key()));
        assert!(golden.exists(), "no {} goldens", profile.golden_key());
        let plan = open_plan(STEM, profile);
        let label = format!("{STEM} {profile}");
        let failures = exact_against_goldens(&label, &plan, &golden_inputs(STEM, IMAGES), &mut Npz::open(&golden).unwrap());
        assert!(failures.is_empty(), "{label} is not bit-exact:\n{}", failures.join("\n"));
    }
}

/// Differing elements of the outputs of `plan` whose name `pick`s, against `runtime`'s goldens, summed.
fn differing(plan: &quantlens::Plan, runtime: &str, pick: impl Fn(&str) -> bool) -> usize {
    let mut npz = Npz::open(golden_dir(STEM).join(format!("{runtime}.npz"))).unwrap();
    let traces = plan.run_batch(&golden_inputs(STEM, IMAGES).samples()).unwrap();
    let report = quantlens::verify::verify(plan, &traces, &mut npz).unwrap();
    report.tensors.iter().filter(|t| pick(&plan.model.tensors[t.tensor].name)).map(|t| t.differing).sum()
}

/// The int16 ADD/SUB kernels of `plan`, by output name.
fn add_subs(plan: &mut quantlens::Plan) -> Vec<(String, &mut quantlens::ops::int16::add::Params)> {
    let names: Vec<String> = plan.model.tensors.iter().map(|t| t.name.clone()).collect();
    plan.steps
        .iter_mut()
        .filter_map(|s| match &mut s.kernel {
            Kernel::Int16(Kernel16::AddSub(p)) => Some((names[p.output].clone(), p)),
            _ => None,
        })
        .collect()
}

/// LiteRT builtin's int16 ADD is not the reference formula: the builtin
/// profile without its blocks differs from builtin's goldens (and the ref
/// profile from them); SUB, MUL and the broadcast ADD are the reference.
#[test]
fn the_block_choice_is_needed() {
    let mut without = open_plan(STEM, Profile::TfliteBuiltin);
    let mut blocked = Vec::new();
    for (name, p) in add_subs(&mut without) {
        if p.add.neon.take().is_some() {
            blocked.push(name);
        }
    }
    // the three non-broadcast ADDs on general scales, and the pot-scaled ADD whose flag is false
    assert_eq!(blocked, ["add/elementwise", "add/elementwise_tail_relu", "add/const_first", "add/pot_flag_false"]);
    let adds = |n: &str| n.starts_with("add/");
    let with = differing(&open_plan(STEM, Profile::TfliteBuiltin), "builtin", adds);
    let off = differing(&without, "builtin", adds);
    let reference = differing(&open_plan(STEM, Profile::TfliteRef), "builtin", adds);
    println!("ADD outputs differing from builtin's goldens: builtin profile {with}, without add16_blocks {off}, ref profile {reference}");
    assert_eq!(with, 0);
    assert!(off > 0 && off == reference, "{off} {reference}");
    // the tail of 12 is the reference: blocks over all 812 elements differ on each image's tail,
    // whose constant row was chosen where the two forms part
    let mut no_tail = open_plan(STEM, Profile::TfliteBuiltin);
    for (name, p) in add_subs(&mut no_tail) {
        if let (true, Some(n)) = (name == "add/elementwise_tail_relu", p.add.neon.as_mut()) {
            assert_eq!((n.run, n.vector_len), (812, 800));
            n.vector_len = n.run;
        }
    }
    let tail = differing(&no_tail, "builtin", |n| n == "add/elementwise_tail_relu");
    assert_eq!(tail, 12 * IMAGES, "blocks over the tail");
    for prefix in ["sub/", "mul/", "add/rows"] {
        assert_eq!(differing(&open_plan(STEM, Profile::TfliteRef), "builtin", |n| n.starts_with(prefix)), 0, "{prefix}");
    }
}

/// LiteRT's power-of-two kernel is not the general formula, and TFLite
/// Micro takes the general formula: each profile with the other choice
/// differs from its goldens.
#[test]
fn the_pot_choice_is_needed() {
    let pot = ["add/pot", "sub/pot", "add/pot_near", "sub/pot_rows"];
    let mut general = open_plan(STEM, Profile::TfliteRef);
    let mut shifted = Vec::new();
    for (name, p) in add_subs(&mut general) {
        if p.pot.take().is_some() {
            shifted.push(name);
        }
    }
    assert_eq!(shifted, pot, "the ADD/SUBs with pot_scale_int16 and power-of-two scales");
    assert!(open_plan(STEM, Profile::Tflm).steps.iter().all(|s| !matches!(&s.kernel, Kernel::Int16(Kernel16::AddSub(p)) if p.pot.is_some())));
    for name in pot {
        let off = differing(&general, "ref", |n| n == name);
        let tflm_vs_ref = differing(&open_plan(STEM, Profile::Tflm), "ref", |n| n == name);
        let ref_vs_tflm = differing(&open_plan(STEM, Profile::TfliteRef), "tflm", |n| n == name);
        println!("{name}: differing from ref's goldens without addsub16_pot {off}, tflm profile {tflm_vs_ref}; ref profile vs tflm's goldens {ref_vs_tflm}");
        assert!(off > 0 && tflm_vs_ref > 0 && ref_vs_tflm > 0, "{name}");
    }
}

/// MUL is the reference in every LiteRT kernel set; TFLite Micro's
/// multiplier (in double) gives other outputs on the constant row's products
/// ([`quantlens::Profile::mul16_multiplier`]).
#[test]
fn mul_differs_only_by_its_multiplier() {
    let muls = |n: &str| n.starts_with("mul/");
    let litert_vs_tflm = differing(&open_plan(STEM, Profile::TfliteRef), "tflm", muls);
    let tflm_vs_ref = differing(&open_plan(STEM, Profile::Tflm), "ref", muls);
    println!("MUL outputs: ref profile vs tflm's goldens {litert_vs_tflm}, tflm profile vs ref's {tflm_vs_ref}");
    assert!(litert_vs_tflm >= 28 * IMAGES && tflm_vs_ref >= 28 * IMAGES);
}
