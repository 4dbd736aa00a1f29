//! The models of the reader topics that run (issue 11): the float16 MLP
//! (DEQUANTIZE float16 → float32 folded at prepare time, then float32
//! FULLY_CONNECTED) and the sparse tiny MLPs (DENSIFY, float32 and int8).
//! Every op-produced tensor in the goldens (`scripts/data_float16.py`,
//! `scripts/data_reader_corpus.py`), for every golden image and every
//! profile whose runtime ran the model: 0 differing elements.

mod common;

use quantlens::io::{read_samples, Npz};
use quantlens::plan::Kernel;
use quantlens::verify::{compare, stack_tensor};
use quantlens::{DType, Model, Plan, Profile};

/// (model, golden images, runtimes that must have goldens).
const MODELS: [(&str, usize, &[&str]); 3] = [
    ("mlp_float16", 200, &["ref", "builtin", "xnnpack"]),
    ("corpus_sparse_float", 10, &["ref", "builtin", "xnnpack"]),
    ("corpus_sparse_int8", 10, &["ref", "builtin"]),
];

/// Compare every op-produced tensor with the goldens of every runtime that
/// ran the model. Integer tensors and the folded constants (DENSIFY,
/// DEQUANTIZE float16) must be exact in every profile; float32 tensors must be
/// bit-identical to the reference kernels, and for the optimized runtimes
/// (which sum in other orders) their differences are only reported. The
/// goldens leave out the DEQUANTIZE outputs of the float16 model (constants,
/// 1.6 MB per image): those, and only those, may be missing.
fn check(stem: &str, images: usize, must: &[&str]) {
    let dir = common::root().join("data/goldens").join(stem);
    let model = Model::from_path(common::model(stem)).unwrap();
    let inputs = read_samples(dir.join("input.npy")).unwrap();
    assert_eq!(inputs.len(), images, "{stem}");
    let mut checked = Vec::new();
    for profile in Profile::ALL {
        let golden = dir.join(format!("{}.npz", profile.golden_key()));
        if !golden.exists() {
            assert!(!must.contains(&profile.golden_key()), "{stem}: no goldens from {profile}");
            continue;
        }
        let plan = Plan::new(model.clone(), profile).unwrap();
        let traces = plan.run_batch(&inputs.samples()).unwrap();
        let mut npz = Npz::open(&golden).unwrap();
        let names = npz.names().unwrap();
        let (mut exact, mut lines, mut compared) = (true, Vec::new(), 0);
        for step in &plan.steps {
            let t = step.kernel.output();
            let folded = matches!(step.kernel, Kernel::Folded(_));
            if !names.contains(&format!("t{t}.npy")) && !names.contains(&format!("t{t}")) {
                assert!(folded && stem == "mlp_float16", "{stem} {profile}: t{t} missing from the goldens");
                continue;
            }
            let g = npz.get(&format!("t{t}")).unwrap();
            let ours = stack_tensor(&traces, t).unwrap();
            let (differing, max) = compare(&ours, &g);
            let float = ours.dtype() == DType::F32 && !folded;
            // XNNPACK takes DENSIFY into its delegate and densifies the
            // weights inside its own packing: the DENSIFY output tensor the
            // probe reads back is never written (it holds unrelated bytes,
            // the same for every image). Its FULLY_CONNECTED outputs, which
            // use the dense weights, are compared as usual.
            let unwritten = folded && profile == Profile::TfliteXnnpack && plan.model.operators[step.op].kind.name() == "DENSIFY";
            let must_match = (!float || profile == Profile::TfliteRef) && !unwritten;
            exact &= differing == 0 || !must_match;
            compared += 1;
            lines.push(format!(
                "t{t} ({}): {differing} of {} differ, max |d| {max:e}{}",
                plan.model.operators[step.op].kind,
                ours.to_f64_vec().len(),
                match (must_match, unwritten) {
                    (true, _) => "",
                    (false, true) => " (not written by the XNNPACK delegate: reported only)",
                    (false, false) => " (float32 of an optimized runtime: reported only)",
                }
            ));
        }
        eprintln!("{stem} {profile}:\n  {}", lines.join("\n  "));
        assert!(exact, "{stem} {profile}:\n{}", lines.join("\n"));
        assert!(compared > 0, "{stem} {profile}: nothing compared");
        checked.push(profile.golden_key());
    }
    for rt in must {
        assert!(checked.contains(rt), "{stem}: {rt} not checked");
    }
}

#[test]
fn float16_mlp_is_bit_exact() {
    let (stem, n, must) = MODELS[0];
    check(stem, n, must);
}

#[test]
fn sparse_float_densify_is_bit_exact() {
    let (stem, n, must) = MODELS[1];
    check(stem, n, must);
}

#[test]
fn sparse_int8_densify_is_bit_exact() {
    let (stem, n, must) = MODELS[2];
    check(stem, n, must);
}

/// The DENSIFY output is in the goldens as a tensor of its own: compare it
/// directly (it is a constant, so once), and check that it really is folded.
#[test]
fn densify_output_equals_litert() {
    for stem in ["corpus_sparse_float", "corpus_sparse_int8"] {
        let plan = Plan::new(Model::from_path(common::model(stem)).unwrap(), Profile::TfliteRef).unwrap();
        let step = plan.steps.iter().find(|s| matches!(s.kernel, Kernel::Folded(_))).expect("a folded DENSIFY");
        assert_eq!(plan.model.operators[step.op].kind.name(), "DENSIFY");
        let out = step.kernel.output();
        let mut npz = Npz::open(common::root().join("data/goldens").join(stem).join("ref.npz")).unwrap();
        let golden = npz.get(&format!("t{out}")).unwrap();
        let ours = step.kernel.eval(&[]).unwrap();
        assert_eq!(golden.sample(0).data, ours.data, "{stem}: DENSIFY output t{out}");
        let zeros = ours.to_f64_vec().iter().filter(|&&v| v == 0.0).count();
        assert!(zeros * 2 > ours.len(), "{stem}: the densified weights should be mostly zero");
    }
}

/// DEQUANTIZE float16 → float32 is exact: every weight read back as f16 equals the file's.
#[test]
fn float16_dequantize_is_exact() {
    let m = Model::from_path(common::model("mlp_float16")).unwrap();
    let plan = Plan::new(m.clone(), Profile::TfliteRef).unwrap();
    let mut folded = 0;
    for s in &plan.steps {
        if let Kernel::Folded(p) = &s.kernel {
            let raw = m.tensors[p.input].data.as_ref().unwrap();
            let v = p.value.as_f32().unwrap();
            assert_eq!(raw.len(), 2 * v.len());
            for (c, &x) in raw.chunks_exact(2).zip(v) {
                let h = u16::from_le_bytes([c[0], c[1]]);
                // Re-encode exactly: f32 → f16 of an f16-representable value is lossless.
                let back = half_bits(x);
                assert_eq!(back, h, "t{}: {x}", p.input);
            }
            folded += 1;
        }
    }
    assert_eq!(folded, 6, "three weights and three biases");
}

/// binary32 → binary16 bits for a value that is exactly representable (normal or subnormal).
fn half_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let a = x.abs();
    if a == 0.0 {
        return sign;
    }
    let e = ((b >> 23) & 0xff) as i32 - 127;
    if e >= -14 {
        sign | (((e + 15) as u16) << 10) | ((b >> 13) & 0x3ff) as u16
    } else {
        sign | (a * (1u32 << 24) as f32) as u16
    }
}
