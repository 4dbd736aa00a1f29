//! Which MULs read a one-input table op through its table, and which table
//! ops therefore need not run (the outputs-only path keeps no tensor it
//! does not need).
//!
//! EfficientNet's two MUL patterns both read a LOGISTIC:
//!
//! * **swish** `x·σ(x)`: `MUL(t, f(t))`, `f` a one-input 8-bit op, is a
//!   function of `t` alone — one 256-entry table, each entry computed by
//!   running `f`'s and the MUL's reference kernels on that value
//!   ([`swish_table`]);
//! * **squeeze-excitation** `x·σ(s)`: `MUL(x, f(s))` with `f(s)` a gate
//!   repeated over `x`'s pixels (or of `x`'s shape): the MUL reads `s` and
//!   maps each gate element through `f`'s table (probed from `f`'s own
//!   kernel) while it prepares the gate's constants
//!   ([`crate::ops::elementwise_fast::gate`]).
//!
//! Either way the MUL's result is the two reference kernels run in sequence
//! (the table *is* `f`'s output for each input value). A table op whose
//! every reader is such a MUL, and which is not a model output, is skipped.

use super::unary_eval;
use crate::model::DType;
use crate::ops::elementwise_fast::{gate_len, Lut};
use crate::ops::mul;
use crate::plan::{Kernel, Plan};

/// How a MUL step runs on the outputs-only path.
#[derive(Clone, Debug)]
pub(super) enum MulForm {
    /// `y = lut[t]`: `MUL(t, f(t))` as one table of `t`.
    Table { lut: Lut, t: usize },
    /// The gate kernel: `full` times the gate read from tensor `gate`
    /// (through `lut` when the MUL's operand is `lut`'s op applied to `gate`),
    /// repeated every `m` elements; `gate_is_b`: the gate is input 1.
    Gate { full: usize, gate: usize, lut: Option<Lut>, m: usize, gate_is_b: bool },
}

/// The fusion decisions for a plan, made on the workspace's first run.
#[derive(Clone, Debug)]
pub(super) struct Fusion {
    /// Per step: its output is read only through tables by fused MULs.
    pub skip: Vec<bool>,
    /// Per step: the form of a MUL (`None`: the generic MUL, or not a MUL).
    pub mul: Vec<Option<MulForm>>,
}

impl Fusion {
    pub fn new(plan: &Plan) -> Fusion {
        let n = plan.steps.len();
        let mut mul = vec![None; n];
        for (si, step) in plan.steps.iter().enumerate() {
            if let Kernel::Mul(p) = &step.kernel {
                mul[si] = mul_form(plan, p);
            }
        }
        // A one-input table op is skipped when every step reading its output
        // is a MUL that reads it through the table, and no model output is it.
        let mut skip = vec![false; n];
        for (si, step) in plan.steps.iter().enumerate() {
            let t = step.kernel.output();
            if table_input(&step.kernel).is_none() || plan.model.outputs.contains(&t) {
                continue;
            }
            let mut readers = plan.steps.iter().enumerate().filter(|(_, s)| s.kernel.inputs().contains(&t)).peekable();
            if readers.peek().is_none() {
                continue;
            }
            skip[si] = readers.all(|(ri, r)| match (&r.kernel, &mul[ri]) {
                (Kernel::Mul(p), Some(MulForm::Table { t: read, .. })) => p.inputs.contains(&t) && *read != t,
                (Kernel::Mul(p), Some(MulForm::Gate { full, lut: Some(_), .. })) => p.inputs.contains(&t) && *full != t,
                _ => false,
            });
        }
        Fusion { skip, mul }
    }
}

/// The data input of a one-input 8-bit element-wise op that runs as a table.
fn table_input(k: &Kernel) -> Option<usize> {
    match k {
        Kernel::Logistic(_) | Kernel::Tanh(_) | Kernel::HardSwish(_) | Kernel::LeakyRelu(_) | Kernel::Relu(_) => Some(k.data_input()),
        _ => None,
    }
}

/// The table of `f`'s step, when tensor `ft` is written by a one-input table
/// op of 8-bit `dtype` in and out: `(its input tensor, the table)`.
fn table_of(plan: &Plan, ft: usize, dtype: DType) -> Option<(usize, Lut)> {
    let step = plan.step_for_tensor(ft)?;
    let s = table_input(&step.kernel)?;
    if plan.model.tensors[s].dtype != dtype || plan.model.tensors[ft].dtype != dtype {
        return None;
    }
    Some((s, Lut::probe(dtype, |v| unary_eval(&step.kernel, v))?))
}

fn mul_form(plan: &Plan, p: &mul::Params) -> Option<MulForm> {
    if let Some((lut, first)) = swish_table(plan, p) {
        return Some(MulForm::Table { lut, t: p.inputs[if first { 0 } else { 1 }] });
    }
    let [a, b] = p.inputs;
    let dtype = p.output_dtype;
    if !matches!(dtype, DType::I8 | DType::U8) || plan.model.tensors[a].dtype != dtype || plan.model.tensors[b].dtype != dtype {
        return None;
    }
    // Prefer a gate that comes through a table op (its step can then be skipped).
    let mut plain = None;
    for (gate_is_b, full, g) in [(true, a, b), (false, b, a)] {
        let Some(m) = gate_len(&p.broadcast, gate_is_b) else { continue };
        if let Some((s, lut)) = table_of(plan, g, dtype) {
            return Some(MulForm::Gate { full, gate: s, lut: Some(lut), m, gate_is_b });
        }
        plain.get_or_insert(MulForm::Gate { full, gate: g, lut: None, m, gate_is_b });
    }
    plain
}

/// The table of a MUL of `t` by `f(t)`, `f` a one-input element-wise op
/// (either operand order), both 8-bit of one dtype and of the same shape:
/// `y = MUL(v, f(v))` for the 256 values `v`, each half computed by its own
/// reference kernel. With it, whether `t` is input 0 of the MUL. `None` for
/// any other MUL.
fn swish_table(plan: &Plan, p: &mul::Params) -> Option<(Lut, bool)> {
    if !p.broadcast.same_shape {
        return None;
    }
    let [a, b] = p.inputs;
    let dtype = plan.model.tensors[a].dtype;
    if plan.model.tensors[b].dtype != dtype || plan.model.tensors[p.output].dtype != dtype {
        return None;
    }
    for (t, ft, first) in [(a, b, true), (b, a, false)] {
        let Some(step) = plan.step_for_tensor(ft) else { continue };
        if step.kernel.data_input() != t || step.kernel.inputs().len() != 1 {
            continue;
        }
        let k = &step.kernel;
        let lut = Lut::probe(dtype, |v| {
            let fv = unary_eval(k, v)?;
            if first {
                p.eval(v, &fv)
            } else {
                p.eval(&fv, v)
            }
        });
        if let Some(l) = lut {
            return Some((l, first));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::ops::{with_kernel_path, KernelPath};
    use crate::{io, Model, Plan, Profile};

    /// On the models with squeeze-excitation and swish (and MobileNetV2's
    /// ADDs), in every profile and on every kernel path: every tensor the
    /// outputs-only path writes — each step's own output, not only the
    /// model's — equals the traced run's, and the steps it skips are the
    /// table ops whose readers all read through the table.
    #[test]
    fn every_written_tensor_equals_the_traced_one() {
        for stem in ["efficientnet_b0w05_ptq_int8", "efficientnet_b0_ptq_int8", "mobilenetv2_ptq_int8"] {
            let inputs = io::read_samples(format!("data/goldens/{stem}/input.npy")).unwrap();
            for profile in Profile::ALL {
                let plan = Plan::new(Model::from_path(format!("data/models/{stem}.tflite")).unwrap(), profile).unwrap();
                let fusion = super::Fusion::new(&plan);
                if stem.starts_with("efficientnet") {
                    assert!(fusion.skip.iter().filter(|&&s| s).count() >= 40, "{stem}: the swish and gate LOGISTICs are skipped");
                }
                for path in KernelPath::ALL.into_iter().filter(|p| p.is_available()) {
                    with_kernel_path(path, || {
                        let mut ws = plan.workspace();
                        for i in 0..inputs.len().min(3) {
                            let x = inputs.sample(i);
                            let trace = plan.run(&x).unwrap();
                            ws.run(&plan, &x).unwrap();
                            for (si, step) in plan.steps.iter().enumerate() {
                                let t = step.kernel.output();
                                if fusion.skip[si] {
                                    continue;
                                }
                                assert_eq!(ws.values[t].as_ref().map(|v| &v.data), trace.value(t).map(|v| &v.data), "{stem} {profile} {path:?} sample {i} step {si} tensor {t}");
                            }
                        }
                    })
                    .unwrap();
                }
            }
        }
    }
}
