//! The transformer models of issue 14 (`data/manifests/vit.json`) against the
//! goldens the real runtimes wrote:
//!
//! * `vit_ptq_int8` end to end: every op-produced tensor of every golden
//!   image, 0 differing elements, in every profile whose runtime ran it
//!   (LiteRT reference, optimized builtin, XNNPACK; TFLite Micro has no GELU
//!   and refused the model, as the manifest records);
//! * every transformer op of `vit_ptq_int8`, `tops_ptq_int8` and
//!   `tops_float32` in isolation: fed the runtime's own golden inputs, its
//!   output must equal the runtime's golden output bit for bit (floats
//!   compared by their bits). This proves each kernel even where the rest of
//!   the graph needs kernels from elsewhere.

use std::collections::BTreeMap;
use std::path::PathBuf;

use quantlens::io::{read_samples, Npz};
use quantlens::ops::transformer::eval_op;
use quantlens::tensor::{Data, Value};
use quantlens::verify::verify;
use quantlens::{Model, Plan, Profile};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn same_bits(a: &Value, b: &Value) -> (usize, usize) {
    let n = a.len();
    let differ = match (&a.data, &b.data) {
        (Data::F32(x), Data::F32(y)) => x.iter().zip(y).filter(|(p, q)| p.to_bits() != q.to_bits()).count(),
        (Data::Bool(x), Data::Bool(y)) => x.iter().zip(y).filter(|(p, q)| p != q).count(),
        _ if a.dtype() != b.dtype() => n,
        _ => {
            let (x, y) = (a.to_i64_vec().unwrap(), b.to_i64_vec().unwrap());
            x.iter().zip(&y).filter(|(p, q)| p != q).count()
        }
    };
    (differ + n.abs_diff(b.len()), n)
}

/// Every golden runtime of a model: (profile, npz path).
fn runtimes(stem: &str) -> Vec<(Profile, PathBuf)> {
    Profile::ALL
        .iter()
        .map(|&p| (p, data().join("goldens").join(stem).join(format!("{}.npz", p.golden_key()))))
        .filter(|(_, path)| path.exists())
        .collect()
}

#[test]
fn vit_end_to_end_every_tensor_in_every_profile() {
    let stem = "vit_ptq_int8";
    let rts = runtimes(stem);
    let keys: Vec<_> = rts.iter().map(|(p, _)| p.golden_key()).collect();
    assert_eq!(keys, ["ref", "builtin", "xnnpack"], "TFLite Micro refuses GELU; the other three ran the ViT");
    let inputs = read_samples(data().join("goldens").join(stem).join("input.npy")).unwrap();
    assert_eq!(inputs.len(), 24);
    let mut failures = String::new();
    for (profile, path) in rts {
        let plan = Plan::new(Model::from_path(data().join("models").join(format!("{stem}.tflite"))).unwrap(), profile).unwrap();
        let traces = plan.run_batch(&inputs.samples()).unwrap();
        let report = verify(&plan, &traces, &mut Npz::open(&path).unwrap()).unwrap();
        assert_eq!(report.tensors.len(), plan.steps.len());
        let differing: Vec<_> = report.tensors.iter().filter(|t| t.differing > 0).collect();
        for t in differing {
            failures += &format!("{profile}: t{} ({} op {}): {} of {} differ\n", t.tensor, t.op_kind, t.op, t.differing, t.elements);
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

/// Each transformer op of `stem`, on each runtime's own inputs; returns the
/// op kinds checked (with their output dtype) and the ones quantlens refuses.
fn ops_in_isolation(stem: &str, images: usize) -> (BTreeMap<String, usize>, Vec<String>) {
    let model = Model::from_path(data().join("models").join(format!("{stem}.tflite"))).unwrap();
    let dir = data().join("goldens").join(stem);
    let inputs = read_samples(dir.join("input.npy")).unwrap();
    assert_eq!(inputs.len(), images);
    let mut checked = BTreeMap::new();
    let mut refused = Vec::new();
    let mut failures = String::new();
    for (profile, path) in runtimes(stem) {
        // float32 is bit-identical to LiteRT's kernels; XNNPACK's own float
        // kernels (polynomial exp/log, other summation orders) are not emulated.
        if stem.ends_with("float32") && profile == Profile::TfliteXnnpack {
            continue;
        }
        let mut npz = Npz::open(&path).unwrap();
        let produced: Vec<usize> = model.operators.iter().flat_map(|o| o.outputs.iter().copied()).collect();
        let goldens: BTreeMap<usize, _> = produced.iter().map(|&t| (t, npz.get(&format!("t{t}")).unwrap())).collect();
        for s in 0..images {
            let mut values: Vec<Option<Value>> = vec![None; model.tensors.len()];
            values[model.inputs[0]] = Some(inputs.sample(s).reshaped(&model.tensors[model.inputs[0]].shape));
            for (&t, g) in &goldens {
                values[t] = Some(g.sample(s).reshaped(&model.tensors[t].shape));
            }
            for op in &model.operators {
                let outs = match eval_op(&model, op.index, profile, &values) {
                    Ok(Some(outs)) => outs,
                    Ok(None) => continue,
                    Err(quantlens::EngineError::Unsupported { kind, what, .. }) => {
                        let r = format!("{kind}: {what}");
                        if !refused.contains(&r) {
                            refused.push(r);
                        }
                        continue;
                    }
                    Err(e) => panic!("{stem} {profile} op {}: {e}", op.index),
                };
                // LiteRT's optimized float LOG_SOFTMAX (builtin) is not emulated:
                // float32 is bit-identical to the reference kernels.
                if stem.ends_with("float32") && profile == Profile::TfliteBuiltin && op.kind.name() == "LOG_SOFTMAX" {
                    continue;
                }
                for (t, ours) in outs {
                    let (differ, n) = same_bits(&ours, values[t].as_ref().unwrap());
                    if s == 0 {
                        *checked.entry(format!("{} {}", op.kind.name(), model.tensors[t].dtype)).or_insert(0) += 1;
                    }
                    if differ > 0 {
                        failures += &format!("{stem} {profile} image {s}: op {} {} → t{t}: {differ} of {n} differ\n", op.index, op.kind.name());
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", &failures[..failures.len().min(4000)]);
    (checked, refused)
}

#[test]
fn vit_ops_in_isolation() {
    let (checked, refused) = ops_in_isolation("vit_ptq_int8", 24);
    assert!(refused.is_empty(), "{refused:?}");
    for k in ["BATCH_MATMUL INT8", "TRANSPOSE INT8", "GELU INT8", "RSQRT INT8", "SQUARED_DIFFERENCE INT8", "NEG FLOAT32"] {
        assert!(checked.contains_key(k), "{k} not checked: {checked:?}");
    }
}

#[test]
fn op_coverage_int8_ops_in_isolation() {
    let (checked, refused) = ops_in_isolation("tops_ptq_int8", 60);
    eprintln!("{checked:?}\nrefused: {refused:?}");
    for k in [
        "ABS INT8", "ARG_MAX INT32", "ARG_MIN INT32", "BATCH_MATMUL INT8", "CAST FLOAT32", "DIV INT8", "EQUAL BOOL", "EXP INT8",
        "GATHER INT8", "GELU INT8", "GREATER BOOL", "GREATER_EQUAL BOOL", "LESS BOOL", "LESS_EQUAL BOOL", "LOG INT8",
        "LOGICAL_AND BOOL", "LOGICAL_OR BOOL", "MAXIMUM INT8", "MINIMUM INT8", "NEG FLOAT32", "NOT_EQUAL BOOL", "REDUCE_MAX INT8",
        "REDUCE_MIN INT8", "RSQRT INT8", "SELECT FLOAT32", "SELECT INT8", "SELECT_V2 INT8", "SLICE INT8", "SPLIT INT8",
        "SPLIT_V INT8", "SQRT INT8", "SQUARED_DIFFERENCE INT8", "SUM INT8", "TRANSPOSE INT8", "L2_NORMALIZATION INT8", "REDUCE_PROD INT8",
        "LOG_SOFTMAX INT8",
    ] {
        assert!(checked.contains_key(k), "{k} not checked: {checked:?}");
    }
    assert!(refused.is_empty(), "{refused:?}");
}

#[test]
fn op_coverage_float32_ops_in_isolation() {
    let (checked, refused) = ops_in_isolation("tops_float32", 60);
    eprintln!("{checked:?}\nrefused: {refused:?}");
    for k in [
        "ABS", "ARG_MAX", "ARG_MIN", "BATCH_MATMUL", "CAST", "DIV", "EXP", "GATHER", "LOG", "MAXIMUM", "MINIMUM", "NEG",
        "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "RSQRT", "L2_NORMALIZATION", "LOG_SOFTMAX", "SELECT", "SELECT_V2", "SLICE", "SPLIT", "SPLIT_V", "SQRT",
        "SQUARED_DIFFERENCE", "SUM", "TRANSPOSE", "GELU",
    ] {
        assert!(checked.keys().any(|c| c.starts_with(&format!("{k} "))), "{k} not checked: {checked:?}");
    }
    assert!(refused.is_empty(), "{refused:?}");
}

#[test]
fn attention_step_trace_of_the_first_block() {
    let stem = "vit_ptq_int8";
    let plan = Plan::new(Model::from_path(data().join("models").join(format!("{stem}.tflite"))).unwrap(), Profile::TfliteRef).unwrap();
    let blocks = quantlens::attention::blocks(&plan);
    assert_eq!(blocks.len(), 2, "two transformer blocks, one attention each");
    let b = &blocks[0];
    assert_eq!((b.scores_op, b.context_op), (22, 28));
    let inputs = read_samples(data().join("goldens").join(stem).join("input.npy")).unwrap();
    let trace = plan.run(&inputs.sample(0)).unwrap();
    let mut npz = Npz::open(data().join("goldens").join(stem).join("ref.npz")).unwrap();
    let golden_scores = npz.get(&format!("t{}", b.scores)).unwrap().sample(0);
    let golden_probs = npz.get(&format!("t{}", b.probs)).unwrap().sample(0);
    for head in 0..2 {
        let h = b.steps(&plan, &trace, head).unwrap();
        assert_eq!((h.rows, h.cols), (16, 16));
        let n = h.rows * h.cols;
        let g: Vec<i64> = golden_scores.to_i64_vec().unwrap()[head * n..(head + 1) * n].to_vec();
        assert_eq!(h.scores_q.iter().map(|&x| x as i64).collect::<Vec<_>>(), g);
        let gp: Vec<i64> = golden_probs.to_i64_vec().unwrap()[head * n..(head + 1) * n].to_vec();
        assert_eq!(h.probs_q.iter().map(|&x| x as i64).collect::<Vec<_>>(), gp);
        // Each row of probabilities sums to about 1, in integers (×256) and in reals.
        for row in h.probs_r.chunks(16) {
            let s: f32 = row.iter().sum();
            assert!((s - 1.0).abs() < 0.05, "{s}");
        }
        for i in [0, 7, 15] {
            for j in [0, 9] {
                let st = b.score_steps(&plan, &trace, head, i, j).unwrap();
                assert_eq!(st.q, h.scores_q[i * 16 + j], "head {head} ({i}, {j}): {st:?}");
            }
        }
    }
}
