//! The uint8 models of issue 14 (`scripts/data_uint8.py`, manifest
//! `data/manifests/uint8.json`): int8 PTQ coverage graphs rewritten into uint8
//! (zero point +128, constant bytes +128). Every op-produced tensor over every
//! golden image, in every profile whose runtime ran the model, against the
//! goldens the runtimes wrote — 0 differing elements (floats by their bits) —
//! and the output through the outputs-only paths.
//!
//! Run one model with `cargo test --release --test goldens_uint8 <model>`
//! and `--nocapture` for the per-tensor table.

mod common;

use quantlens::io::Npz;
use quantlens::Profile;

/// Check `stem` in every profile whose runtime wrote goldens; `runtimes` is how many did.
fn check(stem: &str, images: usize, runtimes: usize) {
    let inputs = common::golden_inputs(stem, images);
    let mut failures = Vec::new();
    let mut ran = 0;
    for profile in Profile::ALL {
        let golden = common::golden_dir(stem).join(format!("{}.npz", profile.golden_key()));
        if !golden.exists() {
            continue; // that runtime refused the model (the manifest's `runtimes_without_goldens`)
        }
        ran += 1;
        let plan = common::open_plan(stem, profile);
        failures.extend(common::exact_against_goldens(&format!("{stem} {profile}"), &plan, &inputs, &mut Npz::open(&golden).unwrap()));
    }
    assert_eq!(ran, runtimes, "{stem}: golden files missing");
    assert!(failures.is_empty(), "{stem} is not bit-exact:\n{}", failures.join("\n"));
}

/// LOG_SOFTMAX, L2_NORMALIZATION, HARD_SWISH, GELU, LESS/GREATER(_EQUAL), SELECT,
/// MAXIMUM/MINIMUM, SUM/REDUCE_MAX/REDUCE_MIN/MEAN, ARG_*, the move ops,
/// PAD/PADV2/MIRROR_PAD, ADD/SUB/MUL/DIV, the activations, RESIZE_*,
/// SPACE_TO_DEPTH and the batch/space ops, all uint8: LiteRT ref, builtin and
/// XNNPACK (TFLite Micro has no uint8 kernel for them: refusal recorded).
#[test]
fn uint8_ops() {
    check("uint8_ops", 30, 3);
}

/// uint8 TILE (version 3) and DEPTH_TO_SPACE (version 2), the versions the
/// int8 converter writes and LiteRT's reference resolver lacks: builtin and
/// XNNPACK.
#[test]
fn uint8_ops_builtin() {
    check("uint8_ops_builtin", 30, 2);
}
