//! Steps whose output the model's declared shapes fix: computed once, when
//! a workspace is made, not per sample.
//!
//! The converter writes Keras' `Flatten` for a dynamic batch as
//! `SHAPE → STRIDED_SLICE → PACK → RESHAPE`: the RESHAPE's new shape is
//! `[batch, -1]` with `batch` read from the input at run time. A plan runs
//! one fixed input shape, so `SHAPE` of any tensor is a constant (it reads
//! the tensor's shape, never its elements), and so is every step whose
//! run-time inputs are all such constants. Each is computed here by its own
//! reference kernel ([`Kernel::eval`]) on exactly the values a run would
//! give it, so the value is the one the run would produce; the
//! outputs-only path then skips the step, keeps the value in the workspace
//! for the steps that read it, and runs the rest in groups (these steps have
//! no form for several samples). The traced path ([`Plan::run`]) still runs
//! every step, so its trace holds these tensors as before.

use crate::plan::{Kernel, Plan};
use crate::tensor::Value;

/// Per step, its output value when the declared shapes fix it (`None`: it
/// depends on the samples, or is left to run).
pub(super) fn fixed_values(plan: &Plan) -> Vec<Option<Value>> {
    let mut known: Vec<Option<Value>> = vec![None; plan.model.tensors.len()];
    let mut out = vec![None; plan.steps.len()];
    for (si, step) in plan.steps.iter().enumerate() {
        let k = &step.kernel;
        let v = match k {
            Kernel::Folded(_) => None, // float16: already a constant of the workspace
            Kernel::Shape(p) => {
                let t = &plan.model.tensors[p.input];
                p.eval(&Value::zeros(t.dtype, &t.shape)).ok()
            }
            _ => {
                let inputs = k.inputs();
                let all = !inputs.is_empty() && inputs.iter().all(|&t| known[t].is_some());
                if all {
                    k.eval(&known).ok()
                } else {
                    None
                }
            }
        };
        // The run's value has the tensor's declared shape (as `run_loaded` sets it).
        let v = v.map(|mut v| {
            v.shape.clone_from(&plan.model.tensors[k.output()].shape);
            v
        });
        if let Some(v) = &v {
            known[k.output()] = Some(v.clone());
        }
        out[si] = v;
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::plan::Kernel;
    use crate::{io, Model, Plan, Profile};

    /// On every committed model with a SHAPE, in every profile: the steps
    /// folded are SHAPE and the Flatten's STRIDED_SLICE and PACK (never a
    /// step that reads the samples), each folded value equals the traced
    /// run's tensor on every golden sample tried, and a batch in groups of 5
    /// runs every step in its group form (no fallback to one sample at a
    /// time, on the quantized CNNs) with the outputs of one sample at a time.
    #[test]
    fn fixed_steps_are_the_traced_values_and_the_cnns_batch() {
        for stem in ["cnn_ptq_int8", "cnn_ptq_uint8io", "cnn_float32", "cnn_float16"] {
            let inputs = io::read_samples(format!("data/goldens/{stem}/input.npy")).unwrap();
            for profile in Profile::ALL {
                let plan = Plan::new(Model::from_path(format!("data/models/{stem}.tflite")).unwrap(), profile).unwrap();
                let fixed = super::fixed_values(&plan);
                let kinds: Vec<String> = plan.steps.iter().zip(&fixed).filter(|(_, v)| v.is_some()).map(|(s, _)| plan.model.operators[s.op].kind.name()).collect();
                assert_eq!(kinds, ["SHAPE", "STRIDED_SLICE", "PACK"], "{stem} {profile}");
                for i in 0..3 {
                    let trace = plan.run(&inputs.sample(i)).unwrap();
                    for (step, v) in plan.steps.iter().zip(&fixed) {
                        if let Some(v) = v {
                            assert_eq!(Some(v), trace.value(step.kernel.output()), "{stem} {profile} sample {i}");
                        }
                    }
                }
                let mut ws = plan.workspace();
                let n_in = inputs.len().min(11);
                let want: Vec<_> = (0..n_in).map(|i| ws.run(&plan, &inputs.sample(i)).unwrap().data.clone()).collect();
                let batch = io::Stacked { shape: [&[n_in][..], inputs.sample_shape()].concat(), data: inputs.sample(0).data.clone() };
                let mut batch = batch;
                for i in 1..n_in {
                    batch.data.extend_from(&inputs.sample(i).data);
                }
                let got = plan.run_batch_outputs_grouped(&batch, 1, 5, &|_| {}).unwrap();
                let mut all = want[0].clone();
                want[1..].iter().for_each(|d| {
                    all.extend_from(d);
                });
                assert_eq!(got.data, all, "{stem} {profile}");
                let mut bws = plan.workspace();
                let n = plan.model.tensors[plan.input()].num_elements();
                let slot = bws.values[plan.input()].get_or_insert_with(|| inputs.sample(0));
                super::super::copy_range(&batch.data, 0, 3 * n, slot);
                // (The float32 kernels have no group form: only the quantized CNNs.)
                let grouped = bws.run_loaded(&plan, crate::ops::kernel_path(), 3).unwrap();
                assert!(grouped || stem.starts_with("cnn_float"), "{stem} {profile}: every step has a group form");
                assert!(plan.steps.iter().any(|s| matches!(s.kernel, Kernel::Reshape(_))));
            }
        }
    }
}
