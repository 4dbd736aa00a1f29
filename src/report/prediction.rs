//! The page's "Prediction" section: the predicted class and the accuracy
//! when the model's output is a class vector, and otherwise what the output
//! holds — its shape, its dequantized values' range and mean, a picture —
//! with the reason no class is shown.
//!
//! Whether the output is a class vector is read from the model: it must be a
//! vector (`[C]`, or `[1, C]` with the batch), with at least two elements and
//! no label outside `0..C`; and either its head (the op that writes it, past
//! QUANTIZE, DEQUANTIZE, RESHAPE and SQUEEZE) is a SOFTMAX, LOG_SOFTMAX,
//! LOGISTIC or FULLY_CONNECTED, or C is small ([`MAX_HEADLESS_CLASSES`]).

use std::fmt::Write as _;

use super::{f, tensor_ref, Charts};
use crate::charts;
use crate::lessons;
use crate::model::{Model, OpKind};
use crate::plan::Plan;
use crate::tensor::Value;
use crate::trace::Trace;
use crate::verify;

use super::html::esc;

/// Ops after which a vector output is read as class scores.
const HEADS: [OpKind; 4] = [OpKind::Softmax, OpKind::LogSoftmax, OpKind::Logistic, OpKind::FullyConnected];

/// Ops that pass a vector through unchanged in meaning.
const PASS: [OpKind; 4] = [OpKind::Quantize, OpKind::Dequantize, OpKind::Reshape, OpKind::Squeeze];

/// A vector output without a classifier head is read as class scores up to this many elements.
pub const MAX_HEADLESS_CLASSES: usize = 100;

/// The number of classes `C` of output `t`, or why it is not a class vector.
pub fn classes(model: &Model, t: usize, labels: Option<&[i64]>) -> Result<usize, String> {
    let shape = &model.tensors[t].shape;
    let c = match shape.as_slice() {
        [c] | [1, c] => *c,
        _ => return Err(format!("its shape {shape:?} is not a vector of class scores ([C] or [1, C])")),
    };
    if c < 2 {
        return Err(format!("it holds {c} value{}", if c == 1 { "" } else { "s" }));
    }
    if let Some(bad) = labels.and_then(|l| l.iter().find(|&&l| l < 0 || l as usize >= c)) {
        return Err(format!("label {bad} is not one of its {c} classes 0…{}", c - 1));
    }
    // the head: the op that writes the output, past the ops that only move or requantize it
    let mut chain = Vec::new();
    let mut at = t;
    while let Some(op) = model.producer(at) {
        chain.push(op.kind.name());
        match op.inputs.first().copied().flatten() {
            Some(next) if PASS.contains(&op.kind) && chain.len() < 16 => at = next,
            _ => {
                if HEADS.contains(&op.kind) {
                    return Ok(c);
                }
                break;
            }
        }
    }
    if c <= MAX_HEADLESS_CLASSES {
        return Ok(c);
    }
    let from = if chain.is_empty() { "the model's input".to_string() } else { chain.join(" ← ") };
    Err(format!(
        "its {c} values come from {from}, not from a softmax, log-softmax, logistic or fully-connected head, and {c} are more than a class vector without such a head is taken to have here ({MAX_HEADLESS_CLASSES})"
    ))
}

/// What the section needs from the page.
pub(super) struct Inputs<'a> {
    pub model: &'a Model,
    pub plan: &'a Plan,
    pub trace: &'a Trace,
    pub sample: usize,
    pub labels: Option<&'a [i64]>,
    /// The step-through profile's run over the comparison's samples, when it ran.
    pub run: Option<&'a lessons::ProfileRun>,
}

/// The section's HTML (after its heading).
pub(super) fn section(x: &Inputs, charts: &mut Charts) -> String {
    let out_t = x.plan.output();
    let values: Vec<f64> = lessons::dequantize_trace(x.plan, x.trace, out_t)
        .map(|v| v.iter().map(|&v| v as f64).collect())
        .unwrap_or_else(|| x.trace.value(out_t).map(Value::to_f64_vec).unwrap_or_default());
    match classes(x.model, out_t, x.labels) {
        Ok(_) => classifier(x, &values, charts),
        Err(why) => feature_map(x, &values, &why, charts),
    }
}

/// A class vector: the predicted class, the top 5, the bars, the accuracy.
fn classifier(x: &Inputs, probs: &[f64], charts: &mut Charts) -> String {
    let mut b = String::new();
    let out_t = x.plan.output();
    let best = lessons::argmax(probs);
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &c| probs[c].total_cmp(&probs[a]).then(a.cmp(&c)));
    let top: Vec<String> = order.iter().take(5).map(|&c| format!("class {c}: {}", f(probs[c]))).collect();
    let label = x.labels.and_then(|l| l.get(x.sample));
    let _ = writeln!(
        b,
        "<p>Output {} dequantized; predicted class <b>{best}</b>{}. Top: {}.</p>",
        tensor_ref(x.model, out_t),
        label.map(|&l| format!(" (label {l}: {})", if l == best as i64 { "<span class=\"ok\">right</span>" } else { "<span class=\"bad\">wrong</span>" })).unwrap_or_default(),
        top.join("; ")
    );
    let shown: Vec<usize> = if probs.len() <= 20 { (0..probs.len()).collect() } else { order.iter().take(10).copied().collect() };
    let title = format!("Sample {}: the output per class", x.sample);
    b.push_str(&charts.add(|| {
        charts::grouped_bars(&title, "S(q − Z)", &shown.iter().map(|c| c.to_string()).collect::<Vec<_>>(), &[("integer path".into(), shown.iter().map(|&c| probs[c]).collect())])
    }));
    if let (Some(labels), Some(run)) = (x.labels, x.run) {
        if let Some(out) = verify::stack_tensor(&run.traces, out_t) {
            let pred = verify::argmax_per_sample(&out);
            let n = pred.len().min(labels.len());
            let _ = writeln!(b, "<p>Accuracy on the first {n} samples: {:.1} %.</p>", 100.0 * verify::accuracy(&pred[..n], &labels[..n]));
        }
    }
    b
}

/// Not a class vector: the shape, the dequantized values' summary and a picture.
fn feature_map(x: &Inputs, values: &[f64], why: &str, charts: &mut Charts) -> String {
    let mut b = String::new();
    let out_t = x.plan.output();
    let tensor = &x.model.tensors[out_t];
    let n_out = x.model.outputs.len();
    let q = tensor.per_tensor_quant();
    let _ = writeln!(
        b,
        "<p>Output {}{}: {} {}{}. This output is not a classifier's, so no class is named and no accuracy computed: {}.</p>",
        tensor_ref(x.model, out_t),
        if n_out > 1 { format!(" (the first of the model's {n_out} outputs)") } else { String::new() },
        tensor.dtype.name(),
        esc(&format!("{:?}", tensor.shape)),
        q.map(|(s, z)| format!(", S = {}, Z = {z}", f(s as f64))).unwrap_or_default(),
        esc(why)
    );
    if values.is_empty() {
        b.push_str("<p class=\"note\">The output holds no values.</p>\n");
        return b;
    }
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, c), &v| (a.min(v), c.max(v)));
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let zeros = values.iter().filter(|&&v| v == 0.0).count();
    let what = if q.is_some() { "dequantized, S·(q − Z)" } else { "as computed" };
    let _ = writeln!(b, "<p>Its {} values, {what}: min {}, max {}, mean {}; {zeros} {} exactly 0.</p>", values.len(), f(lo), f(hi), f(mean), if zeros == 1 { "is" } else { "are" });
    let (panels, grid) = panels(x.trace.value(out_t), values);
    let title = format!("Output t{out_t}, sample {}", x.sample);
    b.push_str(&charts.add(|| charts::heatmaps(&title, &panels, grid, 4, "real value")));
    b
}

/// The output as heatmap panels of real values: the first 4 channels of an
/// NHWC map, a `[H, W]` map, or a vector folded row by row into its most
/// nearly square rectangle. Returns the captioned panels and their (rows, columns).
fn panels(v: Option<&Value>, values: &[f64]) -> (Vec<(String, Vec<f64>)>, (usize, usize)) {
    let shape: Vec<usize> = v.map(|v| v.shape.clone()).unwrap_or_else(|| vec![values.len()]);
    match shape.get(1..).unwrap_or_default() {
        [h, w, c] if h * w * c == values.len() => {
            let panels = (0..(*c).min(4)).map(|ch| (format!("channel {ch} of {c}, {h}×{w}"), (0..h * w).map(|p| values[p * c + ch]).collect())).collect();
            (panels, (*h, *w))
        }
        [h, w] if h * w == values.len() => (vec![(format!("{h}×{w}"), values.to_vec())], (*h, *w)),
        _ => {
            let n = values.len();
            let rows = (1..=n).take_while(|d| d * d <= n).filter(|d| n % d == 0).last().unwrap_or(1);
            (vec![(format!("{n} values, {rows}×{} row by row", n / rows), values.to_vec())], (rows, n / rows))
        }
    }
}
