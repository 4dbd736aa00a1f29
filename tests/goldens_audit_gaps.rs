//! Issue 14's op × dtype pairs that `scripts/audit_ops.py` found without a
//! committed proof (topic `audit_gaps`, `scripts/data_audit_gaps.py`):
//! uint8 SQUEEZE, EXPAND_DIMS, CAST and PRELU; int8 CAST, EQUAL and
//! NOT_EQUAL; float32 SQUEEZE, EXPAND_DIMS, EQUAL and NOT_EQUAL. Every
//! op-produced tensor over every golden image, in each profile whose runtime
//! ran the model (LiteRT ref, builtin, XNNPACK; TFLite Micro refuses the
//! uint8 SUB), against that runtime's goldens: 0 differing elements, traced
//! and through the outputs-only paths.
//!
//! `--nocapture` prints the per-tensor table.

mod common;

use common::{exact_against_goldens, golden_dir, golden_inputs, open_plan};
use quantlens::io::Npz;
use quantlens::Profile;

const STEM: &str = "audit_gaps";
const IMAGES: usize = 24;

#[test]
fn every_runtime_that_ran() {
    for profile in [Profile::TfliteRef, Profile::TfliteBuiltin, Profile::TfliteXnnpack] {
        let golden = golden_dir(STEM).join(format!("{}.npz", profile.golden_key()));
        let plan = open_plan(STEM, profile);
        let label = format!("{STEM} {profile}");
        let failures = exact_against_goldens(&label, &plan, &golden_inputs(STEM, IMAGES), &mut Npz::open(&golden).unwrap());
        assert!(failures.is_empty(), "{label} is not bit-exact:\n{}", failures.join("\n"));
    }
    // TFLite Micro has no uint8 SUB: refused, recorded in the manifest
    assert!(!golden_dir(STEM).join("tflm.npz").exists());
}
