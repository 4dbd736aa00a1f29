//! LiteRT builtin's 8-bit ADD in NEON blocks (topic `add_ties`,
//! `scripts/data_add_ties.py`, manifest `data/manifests/add_ties.json`):
//! uint8 and int8 ADDs on scales k/255 whose exact ties separate the
//! optimized kernel's vector blocks (truncating shift for uint8 and the
//! scalar-broadcast kernel, the shift folded into the left shift for int8
//! elementwise) from the reference formula — elementwise with and without a
//! tail, five-fold broadcasts (elementwise runs of 28, scalar runs of 28 and
//! of 3, a scalar) and a generic broadcast — and SUBs (reference in every
//! kernel set). Every op-produced tensor over every golden image, in every
//! profile whose runtime ran the model, against that runtime's goldens: 0
//! differing elements, traced and through the outputs-only paths. And the
//! choice is needed: without it the builtin profile differs from builtin's
//! goldens, and the ref goldens differ from builtin's.
//!
//! `--nocapture` prints the per-tensor table.

mod common;

use common::{exact_against_goldens, golden_dir, golden_inputs, open_plan};
use quantlens::io::Npz;
use quantlens::plan::Kernel;
use quantlens::Profile;

const IMAGES: usize = 24;
const STEMS: [&str; 2] = ["add_ties_uint8", "add_ties_int8"];

fn check(stem: &str, profile: Profile) {
    let golden = golden_dir(stem).join(format!("{}.npz", profile.golden_key()));
    assert!(golden.exists(), "{stem}: no {} goldens", profile.golden_key());
    let plan = open_plan(stem, profile);
    let inputs = golden_inputs(stem, IMAGES);
    let label = format!("{stem} {profile}");
    let failures = exact_against_goldens(&label, &plan, &inputs, &mut Npz::open(&golden).unwrap());
    assert!(failures.is_empty(), "{label} is not bit-exact:\n{}", failures.join("\n"));
}

#[test]
fn uint8_every_runtime_that_ran() {
    for p in [Profile::TfliteRef, Profile::TfliteBuiltin, Profile::TfliteXnnpack] {
        check("add_ties_uint8", p);
    }
    // TFLite Micro has no uint8 CONCATENATION (nor uint8 ADD): refused, recorded in the manifest
    assert!(!golden_dir("add_ties_uint8").join("tflm.npz").exists());
}

#[test]
fn int8_every_runtime() {
    for p in Profile::ALL {
        check("add_ties_int8", p);
    }
}

/// Differing elements of each ADD output of `plan` against `runtime`'s goldens, summed.
fn add_differing(stem: &str, plan: &quantlens::Plan, runtime: &str) -> usize {
    let mut npz = Npz::open(golden_dir(stem).join(format!("{runtime}.npz"))).unwrap();
    let traces = plan.run_batch(&golden_inputs(stem, IMAGES).samples()).unwrap();
    let report = quantlens::verify::verify(plan, &traces, &mut npz).unwrap();
    report.tensors.iter().filter(|t| t.op_kind.to_string() == "ADD").map(|t| t.differing).sum()
}

/// The builtin profile without its `add_blocks` choice (every ADD by the reference formula).
fn builtin_without_blocks(stem: &str) -> quantlens::Plan {
    let mut plan = open_plan(stem, Profile::TfliteBuiltin);
    let mut blocked = 0;
    for step in &mut plan.steps {
        if let Kernel::AddSub(p) = &mut step.kernel {
            blocked += usize::from(p.neon.take().is_some());
        }
    }
    assert_eq!(blocked, 6, "{stem}: six of the seven ADDs fit the five-fold pattern");
    plan
}

/// The choice is needed: LiteRT builtin's ADD outputs are not the reference
/// formula's (the ref profile, and the builtin profile with every ADD by the
/// reference formula, both differ from builtin's goldens), and the `ref`
/// goldens differ from builtin's.
#[test]
fn the_block_choice_is_needed() {
    for stem in STEMS {
        let without = add_differing(stem, &builtin_without_blocks(stem), "builtin");
        let reference = add_differing(stem, &open_plan(stem, Profile::TfliteRef), "builtin");
        let with = add_differing(stem, &open_plan(stem, Profile::TfliteBuiltin), "builtin");
        println!("{stem}: ADD outputs differing from builtin's goldens: builtin profile {with}, without add_blocks {without}, ref profile {reference}");
        assert_eq!(with, 0);
        assert!(without > 0 && reference > 0, "{stem}: {without} {reference}");
        // the SUBs and the generic broadcast take the reference kernel in builtin too
        let plan = open_plan(stem, Profile::TfliteBuiltin);
        for step in &plan.steps {
            if let Kernel::AddSub(p) = &step.kernel {
                let kind = plan.model.operators[step.op].kind.to_string();
                let generic = plan.model.tensors[p.output].name.ends_with("generic");
                assert_eq!(p.neon.is_some(), kind == "ADD" && !generic, "{kind} {}", plan.model.tensors[p.output].name);
            }
        }
    }
}
