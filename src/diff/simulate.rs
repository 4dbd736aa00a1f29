//! A forward pass that makes known mistakes on purpose.
//!
//! [`simulate`] runs the model as the profile does, except that every
//! quantized FULLY_CONNECTED is computed under the given [`Mistake`]s — the
//! same recomputation [`super::diff`] uses to find a likely cause. Its output
//! is what a hand-written implementation with those mistakes would dump, so
//! a lesson can measure what a mistake costs (accuracy), and then show that
//! `diff` names it:
//!
//! ```no_run
//! use quantlens::{diff, io::read_samples, Model, Plan, Profile};
//! use quantlens::diff::{Mistake, ScaleUsed};
//! let plan = Plan::new(Model::from_path("data/models/mlp_legacy_uint8.tflite")?, Profile::TfliteRef)?;
//! let inputs = read_samples("data/goldens/mlp_legacy_uint8/input.npy")?.samples();
//! let wrong = diff::simulate(&plan, &inputs, &[Mistake::WrongOutputScale(ScaleUsed::Omitted)])?;
//! let report = diff::diff(&plan, &inputs, &wrong)?;
//! assert_eq!(report.likely_cause().unwrap().key(), "wrong-s3:omitted");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every other op runs the engine's own kernel on the (possibly wrong)
//! values it receives. A mistaken value is stored in the tensor's dtype the
//! way numpy's `astype` stores it (wrapping), as a user's array would hold it.

use super::{bad, fc_ctx, Mistake, Yours};
use crate::error::Error;
use crate::io::Stacked;
use crate::ops::fully_connected::Arith;
use crate::plan::{Kernel, Plan};
use crate::tensor::Value;

/// Every op-produced tensor of `plan` on `inputs`, each quantized
/// FULLY_CONNECTED computed under `mistakes` (none: the profile's own values).
pub fn simulate(plan: &Plan, inputs: &[Value], mistakes: &[Mistake]) -> Result<Yours, Error> {
    let n = inputs.len();
    if n == 0 {
        return Err(bad("input", "no samples (N = 0)"));
    }
    let model = &plan.model;
    let input_shape = &model.tensors[plan.input()].shape;
    // values[i][t]: sample i's value of tensor t.
    let mut values: Vec<Vec<Option<Value>>> = inputs
        .iter()
        .map(|x| {
            let mut v = vec![None; model.tensors.len()];
            v[plan.input()] = Some(x.reshaped(input_shape));
            v
        })
        .collect();
    let mut yours = Yours::new();
    for step in &plan.steps {
        let out = step.kernel.output();
        let shape = &model.tensors[out].shape;
        match &step.kernel {
            Kernel::FullyConnected(p) if matches!(p.arith, Arith::Quantized(_)) => {
                let mut x = Vec::new();
                for (i, v) in values.iter().enumerate() {
                    let xi = v[p.input].as_ref().and_then(Value::to_i64_vec).ok_or_else(|| {
                        bad(format!("t{}", p.input), format!("sample {i}: no integer value before operator {}", step.op))
                    })?;
                    x.extend(xi);
                }
                let mut ctx = fc_ctx(plan, p, x, Vec::new(), None, n).ok_or_else(|| {
                    bad(format!("operator {}", step.op), "FULLY_CONNECTED with a batch of rows: mistakes are simulated for one row per sample")
                })?;
                let y = ctx.compute(mistakes);
                let per = y.len() / n;
                let dtype = model.tensors[out].dtype;
                for (i, chunk) in y.chunks(per).enumerate() {
                    values[i][out] = Some(crate::ops::from_i64(dtype, shape, chunk.to_vec()));
                }
            }
            k => {
                for (i, v) in values.iter_mut().enumerate() {
                    let y = k.eval(v).map_err(|e| bad(format!("operator {}", step.op), format!("sample {i}: {e}")))?;
                    v[out] = Some(y);
                }
            }
        }
        let per_sample: Vec<&Value> = values.iter().map(|v| v[out].as_ref().expect("computed above")).collect();
        let stacked = Stacked::from_values(&per_sample).ok_or_else(|| bad(format!("t{out}"), "samples of different shapes"))?;
        yours.arrays.insert(out, stacked);
        yours.sources.insert(out, format!("t{out} (simulated)"));
    }
    Ok(yours)
}
