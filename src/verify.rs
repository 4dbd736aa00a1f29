//! Compare a run with golden tensors from a real runtime, element by element.

use crate::error::Error;
use crate::io::{Npz, Stacked};
use crate::plan::Plan;
use crate::trace::Trace;

/// How one tensor compares over all samples.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorDiff {
    pub tensor: usize,
    pub name: String,
    /// The operator that produced it.
    pub op: usize,
    pub op_kind: String,
    /// Elements compared (samples × tensor size).
    pub elements: usize,
    /// Elements that differ.
    pub differing: usize,
    /// Largest |ours − golden|.
    pub max_abs_diff: f64,
}

/// The result of comparing every op-produced tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub samples: usize,
    pub tensors: Vec<TensorDiff>,
}

impl Report {
    /// True when no element of any tensor differs.
    pub fn is_exact(&self) -> bool {
        self.tensors.iter().all(|t| t.differing == 0)
    }

    /// Total differing elements.
    pub fn total_differing(&self) -> usize {
        self.tensors.iter().map(|t| t.differing).sum()
    }
}

/// Stack tensor `t` over the traces of all samples.
pub fn stack_tensor(traces: &[Trace], t: usize) -> Option<Stacked> {
    let values: Option<Vec<_>> = traces.iter().map(|tr| tr.value(t)).collect();
    Stacked::from_values(&values?)
}

/// Compare two stacked arrays: (differing elements, max |diff|). Arrays of
/// different shape or dtype count every element as differing.
pub fn compare(ours: &Stacked, golden: &Stacked) -> (usize, f64) {
    let n = ours.to_f64_vec().len().max(golden.to_f64_vec().len());
    if ours.shape != golden.shape || ours.dtype() != golden.dtype() {
        return (n, f64::INFINITY);
    }
    match (ours.to_i64_vec(), golden.to_i64_vec()) {
        (Some(a), Some(b)) => {
            let mut differing = 0;
            let mut max = 0i64;
            for (x, y) in a.iter().zip(&b) {
                if x != y {
                    differing += 1;
                    max = max.max((x - y).abs());
                }
            }
            (differing, max as f64)
        }
        _ => {
            let (a, b) = (ours.to_f64_vec(), golden.to_f64_vec());
            let mut differing = 0;
            let mut max = 0f64;
            for (x, y) in a.iter().zip(&b) {
                if x.to_bits() != y.to_bits() {
                    differing += 1;
                    max = max.max((x - y).abs());
                }
            }
            (differing, max)
        }
    }
}

/// Compare every op-produced tensor of `traces` with the golden archive.
/// A tensor missing from the archive is an error (the goldens hold them all),
/// except a constant folded at prepare time (`Kernel::Folded`, e.g. DEQUANTIZE
/// of float16 weights): the same for every sample, the goldens may leave it out.
pub fn verify(plan: &Plan, traces: &[Trace], golden: &mut Npz) -> Result<Report, Error> {
    let mut tensors = Vec::new();
    let names = golden.names()?;
    for step in &plan.steps {
        let t = step.kernel.output();
        if matches!(step.kernel, crate::plan::Kernel::Folded(_)) && !names.contains(&format!("t{t}")) {
            continue;
        }
        let g = golden.get(&format!("t{t}"))?;
        let ours = stack_tensor(traces, t).ok_or_else(|| Error::Io {
            path: format!("t{t}"),
            message: "no value was computed for this tensor".into(),
        })?;
        let g = if g.len() > traces.len() { truncate(&g, traces.len()) } else { g };
        let (differing, max_abs_diff) = compare(&ours, &g);
        let tensor = &plan.model.tensors[t];
        tensors.push(TensorDiff {
            tensor: t,
            name: tensor.name.clone(),
            op: step.op,
            op_kind: plan.model.operators[step.op].kind.name(),
            elements: ours.to_f64_vec().len(),
            differing,
            max_abs_diff,
        });
    }
    Ok(Report { samples: traces.len(), tensors })
}

/// Compare the model's output alone, from the outputs-only run
/// ([`Plan::run_batch_outputs_threads`]), with the golden archive's: the
/// report has one row (the output tensor). For archives that hold only the
/// output, or when the intermediate tensors are not wanted.
pub fn verify_outputs(plan: &Plan, outputs: &Stacked, golden: &mut Npz) -> Result<Report, Error> {
    let t = plan.output();
    let g = golden.get(&format!("t{t}"))?;
    let n = outputs.len();
    let g = if g.len() > n { truncate(&g, n) } else { g };
    let (differing, max_abs_diff) = compare(outputs, &g);
    let step = plan.step_for_tensor(t).ok_or_else(|| Error::Io { path: format!("t{t}"), message: "no operator produces the model's output".into() })?;
    let tensor = &plan.model.tensors[t];
    let diff = TensorDiff {
        tensor: t,
        name: tensor.name.clone(),
        op: step.op,
        op_kind: plan.model.operators[step.op].kind.name(),
        elements: outputs.sample_shape().iter().product::<usize>() * n,
        differing,
        max_abs_diff,
    };
    Ok(Report { samples: n, tensors: vec![diff] })
}

/// True when the archive holds the model's output but none of the other
/// op-produced tensors (what `verify` then checks on the outputs-only path).
pub fn holds_only_output(plan: &Plan, names: &[String]) -> bool {
    let has = |t: usize| names.iter().any(|n| *n == format!("t{t}"));
    has(plan.output()) && plan.steps.iter().map(|s| s.kernel.output()).all(|t| t == plan.output() || !has(t))
}

/// The first `n` samples of a stacked array.
pub fn truncate(s: &Stacked, n: usize) -> Stacked {
    let values: Vec<_> = (0..n.min(s.len())).map(|i| s.sample(i)).collect();
    let refs: Vec<_> = values.iter().collect();
    Stacked::from_values(&refs).unwrap_or_else(|| s.clone())
}

/// Index of the largest element of each sample (the predicted class).
pub fn argmax_per_sample(s: &Stacked) -> Vec<usize> {
    let v = s.to_f64_vec();
    let n: usize = s.sample_shape().iter().product::<usize>().max(1);
    v.chunks(n)
        .map(|row| {
            let mut best = 0;
            for (i, &x) in row.iter().enumerate() {
                if x > row[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// Fraction of predictions equal to the labels.
pub fn accuracy(predictions: &[usize], labels: &[i64]) -> f64 {
    let n = predictions.len().min(labels.len());
    if n == 0 {
        return 0.0;
    }
    let correct = predictions.iter().zip(labels).filter(|(p, l)| **p as i64 == **l).count();
    correct as f64 / n as f64
}
