//! Dynamic-range ("hybrid") models (`data/manifests/dynamic.json`, built by
//! `scripts/data_dynamic.py`): every op-produced tensor over every golden
//! image, **bit-identical** (f32 compared by bits) to LiteRT's reference
//! kernels, its optimized builtin kernels and XNNPACK (its own `qd8` dynamic
//! quantization); TFLite Micro's refusal is recorded in the manifest and
//! mirrored by `tflm`.

use std::path::PathBuf;

mod common;

use quantlens::io::{read_samples, Npz};
use quantlens::plan::Kernel;
use quantlens::tensor::Data;
use quantlens::{Model, Plan, Profile};

/// (model, golden images, hybrid op kinds it must contain).
const MODELS: [(&str, usize, &[&str]); 4] = [
    ("mlp_dynamic", 100, &["fc per-channel asymmetric"]),
    ("cnn_dynamic", 16, &["fc per-channel asymmetric", "conv per-channel asymmetric", "depthwise per-channel asymmetric"]),
    ("cnn_dynamic_per_tensor", 16, &["fc per-tensor asymmetric", "conv per-tensor symmetric"]),
    ("cnn_dynamic_symmetric_fc", 8, &["fc per-channel symmetric"]),
];

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn plan(stem: &str, profile: Profile) -> Result<Plan, quantlens::EngineError> {
    Plan::new(Model::from_path(data().join("models").join(format!("{stem}.tflite"))).unwrap(), profile)
}

fn f32s(d: &Data) -> &[f32] {
    match d {
        Data::F32(v) => v,
        other => panic!("expected float32 data, got {other:?}"),
    }
}

/// The hybrid kinds of a (LiteRT) plan, as "fc per-channel asymmetric", "conv per-tensor symmetric", …
fn hybrid_kinds(plan: &Plan) -> Vec<String> {
    use quantlens::ops::hybrid::{HybridCore, InputQuantizer};
    let kind = |op: &str, c: &HybridCore| {
        let pc = if c.per_channel { "per-channel" } else { "per-tensor" };
        let q = if c.quantizer == InputQuantizer::Symmetric { "symmetric" } else { "asymmetric" };
        format!("{op} {pc} {q}")
    };
    plan.steps
        .iter()
        .filter_map(|s| match &s.kernel {
            Kernel::HybridFullyConnected(p) => Some(kind("fc", &p.core)),
            Kernel::HybridConv2d(p) => Some(kind("conv", &p.core)),
            Kernel::HybridDepthwiseConv2d(p) => Some(kind("depthwise", &p.core)),
            _ => None,
        })
        .collect()
}

/// Differing elements (by bits) of every op-produced tensor, and the largest
/// distance in ulps, against one golden file.
fn compare(stem: &str, images: usize, profile: Profile, golden: &str) -> Vec<(usize, usize, usize, u32)> {
    let dir = data().join("goldens").join(stem);
    let plan = plan(stem, profile).unwrap();
    let inputs = read_samples(dir.join("input.npy")).unwrap();
    assert_eq!(inputs.len(), images, "{stem}: golden images");
    let traces = plan.run_batch(&inputs.samples()).unwrap();
    let mut npz = Npz::open(dir.join(format!("{golden}.npz"))).unwrap();
    let mut rows = Vec::new();
    for step in &plan.steps {
        let t = step.kernel.output();
        let g = npz.get(&format!("t{t}")).unwrap();
        let per = g.len() / images;
        let (mut differ, mut ulps) = (0usize, 0u32);
        for (i, tr) in traces.iter().enumerate() {
            let ours = tr.value(t).unwrap();
            let want = &g.sample(i).data;
            match (&ours.data, want) {
                (Data::F32(a), Data::F32(b)) => {
                    assert_eq!(a.len(), b.len(), "{stem} t{t}");
                    for (x, y) in a.iter().zip(b.iter()) {
                        if x.to_bits() != y.to_bits() {
                            differ += 1;
                            ulps = ulps.max(ulp_distance(*x, *y));
                        }
                    }
                }
                (a, b) => differ += usize::from(a != b) * per,
            }
        }
        rows.push((step.op, t, differ, ulps));
    }
    rows
}

/// Distance between two finite floats in units in the last place.
fn ulp_distance(a: f32, b: f32) -> u32 {
    let key = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 { i32::MIN.wrapping_sub(i) } else { i }
    };
    key(a).wrapping_sub(key(b)).unsigned_abs()
}

#[test]
fn every_hybrid_kind_is_in_a_committed_model() {
    for (stem, _, kinds) in MODELS {
        let found = hybrid_kinds(&plan(stem, Profile::TfliteRef).unwrap());
        for k in kinds {
            assert!(found.iter().any(|f| f == k), "{stem}: no hybrid {k} (found {found:?})");
        }
    }
}

fn is_hybrid(plan: &Plan, op: usize) -> bool {
    plan.steps.iter().any(|s| {
        s.op == op && matches!(s.kernel, Kernel::HybridFullyConnected(_) | Kernel::HybridConv2d(_) | Kernel::HybridDepthwiseConv2d(_))
    })
}

#[test]
fn bit_identical_to_litert_ref_builtin_and_xnnpack() {
    // Every op-produced tensor under the reference kernels; under the
    // optimized builtin kernels and XNNPACK every hybrid output and
    // everything else except the float32 ops of the optimized runtimes (a
    // FULLY_CONNECTED kept float by the converter, SOFTMAX), which sum and
    // exponentiate in other orders: their distance is reported, not required.
    let mut report = String::new();
    let mut bad = 0;
    for (stem, images, _) in MODELS {
        for profile in [Profile::TfliteRef, Profile::TfliteBuiltin, Profile::TfliteXnnpack] {
            let p = plan(stem, profile).unwrap();
            for (op, t, differ, ulps) in compare(stem, images, profile, profile.golden_key()) {
                let float_arith = matches!(p.model.operators[op].kind.name().as_str(), "FULLY_CONNECTED" | "SOFTMAX") && !is_hybrid(&p, op);
                let required = profile == Profile::TfliteRef || !float_arith;
                report += &format!(
                    "{stem} {profile}: op {op} ({}) t{t}: {differ} differ (max {ulps} ulp){}\n",
                    p.model.operators[op].kind.name(),
                    if required { "" } else { " [float op of the optimized kernels: reported only]" }
                );
                if required {
                    bad += differ;
                }
            }
        }
    }
    eprintln!("{report}");
    assert_eq!(bad, 0, "{report}");
}

#[test]
fn reference_and_builtin_differ_where_the_profile_says() {
    // The per-channel CONV_2D / DEPTHWISE_CONV_2D scale in different orders in
    // the two kernels: running the ref profile against the builtin goldens
    // must show differences there (and the named choice removes them above).
    let rows = compare("cnn_dynamic", 16, Profile::TfliteRef, "builtin");
    eprintln!("cnn_dynamic, ref profile vs builtin goldens: {rows:?}");
    let first_conv = rows[0];
    assert!(first_conv.2 > 0, "ref scaling equals builtin on the first CONV_2D: {rows:?}");
}

#[test]
fn the_named_choices_are_needed() {
    // Each runtime's choice run against another runtime's goldens differs
    // somewhere: the choices are separated by the data, not only read from source.
    for (stem, images, _) in MODELS {
        for (profile, golden) in [(Profile::TfliteBuiltin, "xnnpack"), (Profile::TfliteXnnpack, "builtin")] {
            let rows = compare(stem, images, profile, golden);
            let p = plan(stem, profile).unwrap();
            let hybrid_differ: usize = rows.iter().filter(|r| is_hybrid(&p, r.0)).map(|r| r.2).sum();
            eprintln!("{stem}: {profile} vs {golden} goldens (op, tensor, differing, max ulp): {rows:?}");
            assert!(hybrid_differ > 0, "{stem}: {profile} reproduces the {golden} goldens");
        }
    }
}

#[test]
fn tflm_refusal_is_recorded_and_the_profile_runs_the_reference_arithmetic() {
    let manifest = std::fs::read_to_string(data().join("manifests").join("dynamic.json")).unwrap();
    assert!(manifest.contains("Hybrid models are not supported on TFLite Micro"));
    assert!(manifest.contains("Input type: FLOAT32 with filter type: INT8 not supported"));
    for (stem, _, _) in MODELS {
        assert!(!data().join("goldens").join(stem).join("tflm.npz").exists(), "{stem}: TFLM ran it?");
        // As for the legacy models TFLM refuses, the tflm profile runs them
        // (with the reference kernels' arithmetic): same outputs as tflite-ref.
        let inputs = read_samples(data().join(format!("goldens/{stem}/input.npy"))).unwrap();
        let (a, b) = (plan(stem, Profile::Tflm).unwrap(), plan(stem, Profile::TfliteRef).unwrap());
        let x = inputs.sample(0);
        let (ta, tb) = (a.run(&x).unwrap(), b.run(&x).unwrap());
        for s in &a.steps {
            if is_hybrid(&a, s.op) {
                let t = s.kernel.output();
                assert_eq!(ta.value(t), tb.value(t), "{stem} t{t}");
            }
        }
    }
}

#[test]
fn s1_is_computed_per_row_at_run_time() {
    // cnn_dynamic's row FULLY_CONNECTED sees 7 rows: 7 run-time scales.
    let plan = plan("cnn_dynamic", Profile::TfliteRef).unwrap();
    let inputs = read_samples(data().join("goldens/cnn_dynamic/input.npy")).unwrap();
    let trace = plan.run(&inputs.sample(0)).unwrap();
    let (op, p) = plan
        .steps
        .iter()
        .find_map(|s| match &s.kernel {
            Kernel::HybridFullyConnected(p) if p.in_features == 224 => Some((s.op, p)),
            _ => None,
        })
        .unwrap();
    let rows = trace.hybrid_input_quant(&plan, op).unwrap();
    assert_eq!(rows.len(), 7);
    let distinct: std::collections::BTreeSet<u32> = rows.iter().map(|r| r.scale.to_bits()).collect();
    assert!(distinct.len() > 1, "every row got the same S1: {rows:?}");
    // The file has no scale for the float input: it is not in the model.
    assert!(plan.model.tensors[p.core.input].quant.as_ref().map_or(true, |q| q.scale.is_empty()));
    // The steps end in the traced output, for every element.
    let y = f32s(&trace.value(p.core.output).unwrap().data).to_vec();
    for (e, want) in y.iter().enumerate() {
        let s = trace.hybrid_steps(&plan, op, e).unwrap();
        assert_eq!(s.output.to_bits(), want.to_bits(), "element {e}: {s:?}");
        assert_eq!(s.input_quant, rows[s.row]);
    }
    // A second image gets other scales.
    let other = plan.run(&inputs.sample(1)).unwrap().hybrid_input_quant(&plan, op).unwrap();
    assert_ne!(other, rows);
}

#[test]
fn conv_steps_end_in_the_traced_output() {
    for stem in ["cnn_dynamic", "cnn_dynamic_per_tensor"] {
        for profile in [Profile::TfliteRef, Profile::TfliteBuiltin] {
            let plan = plan(stem, profile).unwrap();
            let inputs = read_samples(data().join(format!("goldens/{stem}/input.npy"))).unwrap();
            let trace = plan.run(&inputs.sample(3)).unwrap();
            for s in &plan.steps {
                if !matches!(s.kernel, Kernel::HybridConv2d(_) | Kernel::HybridDepthwiseConv2d(_)) {
                    continue;
                }
                let y = f32s(&trace.value(s.kernel.output()).unwrap().data).to_vec();
                for e in (0..y.len()).step_by(97) {
                    let st = trace.hybrid_steps(&plan, s.op, e).unwrap();
                    assert_eq!(st.output.to_bits(), y[e].to_bits(), "{stem} {profile} op {} element {e}: {st:?}", s.op);
                }
            }
        }
    }
}

#[cfg(feature = "cli")]
#[test]
fn inspect_says_s1_is_computed_at_run_time() {
    for (stem, _, _) in MODELS {
        let out = common::bin().args(["inspect", &format!("data/models/{stem}.tflite")]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stem}: {}", String::from_utf8_lossy(&out.stderr));
        let p = plan(stem, Profile::TfliteRef).unwrap();
        let hybrid = p.steps.iter().filter(|s| is_hybrid(&p, s.op)).count();
        assert_eq!(text.matches("not in the file — computed at run time").count(), hybrid, "{stem}:\n{text}");
        assert_eq!(text.matches("(dynamic range / hybrid)").count(), hybrid, "{stem}");
    }
}

#[test]
fn outputs_only_path_equals_the_traced_run() {
    for (stem, _, _) in MODELS {
        let inputs = read_samples(data().join(format!("goldens/{stem}/input.npy"))).unwrap();
        for profile in [Profile::TfliteRef, Profile::TfliteBuiltin, Profile::TfliteXnnpack] {
            let p = plan(stem, profile).unwrap();
            let traces = p.run_batch(&inputs.samples()).unwrap();
            let fast = p.run_batch_outputs_threads(&inputs, 2).unwrap();
            let traced: Vec<u32> = traces.iter().flat_map(|t| f32s(&t.value(p.output()).unwrap().data).iter().map(|v| v.to_bits()).collect::<Vec<_>>()).collect();
            let fast: Vec<u32> = f32s(&fast.data).iter().map(|v| v.to_bits()).collect();
            assert_eq!(fast, traced, "{stem} {profile}");
        }
    }
}
