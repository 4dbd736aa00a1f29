//! Topic `arch` (issue 14, `data/manifests/arch.json`): the Conv1D
//! keyword-spotting model `kws1d_ptq_int8` against the goldens the real
//! runtimes wrote.
//!
//! * end to end: every op-produced tensor (EXPAND_DIMS, CONV_2D,
//!   DEPTHWISE_CONV_2D, SQUEEZE, MEAN, FULLY_CONNECTED, LOG_SOFTMAX) of every
//!   golden image, 0 differing elements, in all four profiles (all four
//!   runtimes ran the model), traced;
//! * LOG_SOFTMAX, EXPAND_DIMS and SQUEEZE in isolation: fed each runtime's
//!   own golden inputs, the output equals that runtime's golden output.

use std::path::PathBuf;

use quantlens::io::{read_samples, Npz};
use quantlens::ops::transformer::eval_op;
use quantlens::tensor::Value;
use quantlens::verify::verify;
use quantlens::{Model, Plan, Profile};

const STEM: &str = "kws1d_ptq_int8";

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn model() -> Model {
    Model::from_path(data().join("models").join(format!("{STEM}.tflite"))).unwrap()
}

/// Every op-produced tensor of `stem` over its `images` golden images, traced,
/// in every profile (all four runtimes ran these models), and the
/// outputs-only path's output.
fn end_to_end(stem: &str, images: usize) {
    let model = || Model::from_path(data().join("models").join(format!("{stem}.tflite"))).unwrap();
    let inputs = read_samples(data().join("goldens").join(stem).join("input.npy")).unwrap();
    assert_eq!(inputs.len(), images);
    let mut failures = String::new();
    for profile in Profile::ALL {
        let path = data().join("goldens").join(stem).join(format!("{}.npz", profile.golden_key()));
        assert!(path.exists(), "all four runtimes ran {stem}: {path:?}");
        let plan = Plan::new(model(), profile).unwrap();
        let traces = plan.run_batch(&inputs.samples()).unwrap();
        let report = verify(&plan, &traces, &mut Npz::open(&path).unwrap()).unwrap();
        assert_eq!(report.tensors.len(), plan.steps.len());
        for t in report.tensors.iter().filter(|t| t.differing > 0) {
            failures += &format!("{stem} {profile}: t{} ({} op {}): {} of {} differ\n", t.tensor, t.op_kind, t.op, t.differing, t.elements);
        }
        // The outputs-only fast path gives the golden output too.
        let out = plan.run_batch_outputs(&inputs).unwrap();
        let golden_out = Npz::open(&path).unwrap().get(&format!("t{}", plan.output())).unwrap();
        if !(out.shape == golden_out.shape && out.data == golden_out.data) {
            failures += &format!("{stem} {profile}: outputs-only output differs\n");
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

#[test]
fn kws1d_end_to_end_every_tensor_in_every_profile() {
    let kinds: Vec<String> = model().operators.iter().map(|o| o.kind.name().to_string()).collect();
    for k in ["EXPAND_DIMS", "SQUEEZE", "LOG_SOFTMAX", "CONV_2D", "DEPTHWISE_CONV_2D"] {
        assert!(kinds.iter().any(|n| n == k), "{k} missing from {kinds:?}");
    }
    end_to_end(STEM, 100);
}

#[test]
fn logsoftmax_end_to_end_every_tensor_in_every_profile() {
    end_to_end("logsoftmax_ptq_int8", 100);
}

#[test]
fn log_softmax_expand_dims_squeeze_in_isolation() {
    let model = model();
    let dir = data().join("goldens").join(STEM);
    let inputs = read_samples(dir.join("input.npy")).unwrap();
    let mut checked = 0;
    for profile in Profile::ALL {
        let mut npz = Npz::open(dir.join(format!("{}.npz", profile.golden_key()))).unwrap();
        let mut values: Vec<Option<Value>> = vec![None; model.tensors.len()];
        let produced: Vec<usize> = model.operators.iter().flat_map(|o| o.outputs.iter().copied()).collect();
        let goldens: Vec<(usize, _)> = produced.iter().map(|&t| (t, npz.get(&format!("t{t}")).unwrap())).collect();
        for s in 0..100 {
            values[model.inputs[0]] = Some(inputs.sample(s).reshaped(&model.tensors[model.inputs[0]].shape));
            for (t, g) in &goldens {
                values[*t] = Some(g.sample(s).reshaped(&model.tensors[*t].shape));
            }
            for op in &model.operators {
                let Some(outs) = eval_op(&model, op.index, profile, &values).unwrap() else { continue };
                for (t, ours) in outs {
                    assert_eq!(&ours, values[t].as_ref().unwrap(), "{profile} image {s} op {} {}", op.index, op.kind.name());
                    checked += 1;
                }
            }
        }
    }
    // 5 EXPAND_DIMS, 5 SQUEEZE, 1 LOG_SOFTMAX per image.
    assert_eq!(checked, 4 * 100 * 11);
}

/// Each LOG_SOFTMAX of `logsoftmax_ptq_int8`, fed each runtime's own inputs,
/// under each method: the runtime's own method gives its goldens exactly,
/// the other method does not (the choice is `Profile::log_softmax_method`).
/// Counts printed with `--nocapture`.
#[test]
fn log_softmax_methods_against_each_runtime() {
    let stem = "logsoftmax_ptq_int8";
    let model = Model::from_path(data().join("models").join(format!("{stem}.tflite"))).unwrap();
    for op in model.operators.iter().filter(|o| o.kind.name() == "LOG_SOFTMAX") {
        let (x, y) = (op.input(0).unwrap(), op.outputs[0]);
        for profile in Profile::ALL {
            let mut npz = Npz::open(data().join("goldens").join(stem).join(format!("{}.npz", profile.golden_key()))).unwrap();
            let (gx, gy) = (npz.get(&format!("t{x}")).unwrap(), npz.get(&format!("t{y}")).unwrap());
            for other in Profile::ALL {
                let mut values: Vec<Option<Value>> = vec![None; model.tensors.len()];
                let (mut differ, mut n) = (0, 0);
                for s in 0..100 {
                    values[x] = Some(gx.sample(s).reshaped(&model.tensors[x].shape));
                    let out = eval_op(&model, op.index, other, &values).unwrap().unwrap();
                    let want = gy.sample(s).reshaped(&model.tensors[y].shape).to_i64_vec().unwrap();
                    n += want.len();
                    differ += out[0].1.to_i64_vec().unwrap().iter().zip(&want).filter(|(a, b)| a != b).count();
                }
                eprintln!(
                    "op {} t{y}: {} goldens vs {other}'s log_softmax_method {:?}: {differ} of {n} differ",
                    op.index,
                    profile.golden_key(),
                    other.log_softmax_method()
                );
                if other.log_softmax_method() == profile.log_softmax_method() {
                    assert_eq!(differ, 0);
                } else {
                    assert!(differ > 0, "the two methods are not separated by {stem}");
                }
            }
        }
    }
}

/// float32 GELU (`gelu_float32`): LiteRT's reference run end to end, every
/// tensor bit-identical (f32 bits); each GELU fed the reference's and the
/// optimized builtin kernels' own inputs gives their output bit for bit,
/// exact (erfc) and tanh-approximate, packet lanes and the scalar tail.
/// XNNPACK runs its own float GELU (not emulated); TFLite Micro has none.
#[test]
fn gelu_float32_bit_identical_to_litert() {
    let stem = "gelu_float32";
    let model = Model::from_path(data().join("models").join(format!("{stem}.tflite"))).unwrap();
    let dir = data().join("goldens").join(stem);
    let inputs = read_samples(dir.join("input.npy")).unwrap();
    assert_eq!(inputs.len(), 24);
    // End to end under the reference kernels (FULLY_CONNECTED sums in the reference order).
    let plan = Plan::new(model.clone(), Profile::TfliteRef).unwrap();
    let traces = plan.run_batch(&inputs.samples()).unwrap();
    let report = verify(&plan, &traces, &mut Npz::open(dir.join("ref.npz")).unwrap()).unwrap();
    let bad: Vec<_> = report.tensors.iter().filter(|t| t.differing > 0).map(|t| format!("t{} {}: {} of {}", t.tensor, t.op_kind, t.differing, t.elements)).collect();
    assert!(bad.is_empty(), "{bad:?}");
    // Each GELU alone on each runtime's own inputs.
    let mut checked = 0;
    for profile in [Profile::TfliteRef, Profile::TfliteBuiltin] {
        let mut npz = Npz::open(dir.join(format!("{}.npz", profile.golden_key()))).unwrap();
        for op in model.operators.iter().filter(|o| o.kind.name() == "GELU") {
            let (x, y) = (op.input(0).unwrap(), op.outputs[0]);
            let (gx, gy) = (npz.get(&format!("t{x}")).unwrap(), npz.get(&format!("t{y}")).unwrap());
            let mut values: Vec<Option<Value>> = vec![None; model.tensors.len()];
            for s in 0..24 {
                values[x] = Some(gx.sample(s).reshaped(&model.tensors[x].shape));
                let ours = eval_op(&model, op.index, profile, &values).unwrap().unwrap().remove(0).1;
                let want = gy.sample(s);
                let (a, b) = (ours.as_f32().unwrap(), want.as_f32().unwrap());
                let differ = a.iter().zip(b).filter(|(p, q)| p.to_bits() != q.to_bits()).count();
                assert_eq!(differ, 0, "{profile} image {s} op {} GELU: {differ} of {} differ", op.index, a.len());
                checked += a.len();
            }
        }
    }
    // 2 runtimes × 24 images × (39 + 39 + 756 + 756) elements.
    assert_eq!(checked, 2 * 24 * (2 * 39 + 2 * 756));
}
