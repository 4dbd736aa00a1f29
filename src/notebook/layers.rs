//! The quantized layers of a plan in one shape (FULLY_CONNECTED, CONV_2D,
//! DEPTHWISE_CONV_2D and TRANSPOSE_CONV all compute `q3 = Z3 + M·(Σ(q1 − Z1)(q2 − Z2) + bias)`),
//! the file's quantization mode, and each layer's error against a float path.

use crate::lessons;
use crate::model::{Activation, DType, Model};
use crate::ops::fully_connected::{Arith, Steps};
use crate::plan::{Kernel, Plan};
use crate::profile::{FlatRequant, Multiplier, Rounding};
use crate::trace::Trace;
use crate::tensor::Value;

/// One quantized layer with weights: the symbols of the equations.
#[derive(Clone, Debug)]
pub struct QuantLayer {
    pub op: usize,
    /// `FULLY_CONNECTED`, `CONV_2D`, `DEPTHWISE_CONV_2D`, `TRANSPOSE_CONV`.
    pub kind: &'static str,
    pub input: usize,
    pub weights: usize,
    pub bias: Option<usize>,
    pub output: usize,
    pub s1: f32,
    pub z1: i32,
    /// One per output channel (repeated when per-tensor).
    pub s2: Vec<f32>,
    pub z2: Vec<i32>,
    pub s3: f32,
    pub z3: i32,
    pub per_channel: bool,
    pub multipliers: Vec<Multiplier>,
    pub rounding: Rounding,
    pub act_min: i32,
    pub act_max: i32,
    /// The fused activation.
    pub activation: Activation,
    /// `Some` when `rounding` is not the rule of every element (see [`QuantLayer::rounding_of`]).
    pub varies: Option<RoundingVaries>,
}

/// Where a layer's rounding depends on the element: LiteRT's builtin
/// TRANSPOSE_CONV requantizes vector blocks with a ties-up final shift and
/// the rest with the scalar double rounding.
#[derive(Clone, Debug, PartialEq)]
pub enum RoundingVaries {
    /// One rule per output channel (int8: blocks of 8 channels, then the rest).
    PerChannel(Vec<Rounding>),
    /// By the element's position in the image's flattened output (uint8: blocks of 16 elements, then the tail).
    Flat(FlatRequant),
}

impl RoundingVaries {
    /// A sentence for the page.
    pub fn describe(&self) -> String {
        match self {
            RoundingVaries::PerChannel(r) => {
                let first = r.iter().take_while(|x| **x == r[0]).count();
                format!("channels 0…{} {}, channels {}…{} {}", first.saturating_sub(1), r[0].name(), first, r.len() - 1, r[r.len() - 1].name())
            }
            RoundingVaries::Flat(f) => f.name(),
        }
    }
}

/// Every quantized FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV, in execution order.
pub fn quant_layers(plan: &Plan) -> Vec<QuantLayer> {
    let mut out = Vec::new();
    for step in &plan.steps {
        match &step.kernel {
            Kernel::FullyConnected(p) => {
                if let Arith::Quantized(q) = &p.arith {
                    out.push(QuantLayer {
                        op: step.op,
                        kind: "FULLY_CONNECTED",
                        input: p.input,
                        weights: p.weights,
                        bias: p.bias,
                        output: p.output,
                        s1: q.s1,
                        z1: q.z1,
                        s2: q.s2.clone(),
                        z2: q.z2.clone(),
                        s3: q.s3,
                        z3: q.z3,
                        per_channel: q.per_channel,
                        multipliers: q.multipliers.clone(),
                        rounding: q.rounding,
                        act_min: q.act_min,
                        act_max: q.act_max,
                        activation: p.activation,
                        varies: None,
                    });
                }
            }
            Kernel::Conv2d(p) => out.push(conv_layer(step.op, "CONV_2D", (p.input, p.filter, p.bias, p.output), &p.requant, p.activation)),
            Kernel::DepthwiseConv2d(p) => {
                out.push(conv_layer(step.op, "DEPTHWISE_CONV_2D", (p.input, p.filter, p.bias, p.output), &p.requant, p.activation))
            }
            Kernel::Vision(crate::ops::vision::VisionOp::TransposeConv(p)) => out.extend(super::tconv::layer(plan, step.op, p)),
            _ => {}
        }
    }
    out
}

fn conv_layer(
    op: usize,
    kind: &'static str,
    (input, weights, bias, output): (usize, usize, Option<usize>, usize),
    r: &crate::ops::conv::Requant,
    activation: Activation,
) -> QuantLayer {
    QuantLayer {
        op,
        kind,
        input,
        weights,
        bias,
        output,
        s1: r.s1,
        z1: r.z1,
        s2: r.s2.clone(),
        z2: vec![r.z2; r.s2.len()],
        s3: r.s3,
        z3: r.z3,
        per_channel: r.per_channel,
        multipliers: r.multipliers.clone(),
        rounding: r.rounding,
        act_min: r.act_min,
        act_max: r.act_max,
        activation,
        varies: None,
    }
}

impl QuantLayer {
    /// The step trace of output element `element` (flat index), as FULLY_CONNECTED steps.
    pub fn steps(&self, plan: &Plan, trace: &Trace, element: usize) -> Option<Steps> {
        match self.kind {
            "FULLY_CONNECTED" => trace.fc_steps(plan, self.op, element),
            "TRANSPOSE_CONV" => super::tconv::steps(self, plan, trace, element).map(|t| t.steps),
            _ => trace.conv_steps(plan, self.op, element).map(|s| s.as_fc_steps()),
        }
    }

    /// The rounding of flat element `element` of an output image of `per_image` elements.
    pub fn rounding_of(&self, element: usize, per_image: usize) -> Rounding {
        match &self.varies {
            None => self.rounding,
            Some(RoundingVaries::PerChannel(r)) => r[self.channel(element).min(r.len() - 1)],
            Some(RoundingVaries::Flat(f)) => {
                let (split, first, tail) = f.split(per_image);
                if element % per_image.max(1) < split { first } else { tail }
            }
        }
    }

    /// The output channel of flat element `element` (channels are the last axis).
    pub fn channel(&self, element: usize) -> usize {
        element % self.multipliers.len().max(1)
    }
}

/// The file's quantization mode, from its tensors' dtypes.
pub fn quant_mode(model: &Model) -> String {
    let produced = model.produced_tensors();
    let acts: Vec<DType> = produced.iter().map(|&t| model.tensors[t].dtype).collect();
    let weights: Vec<(DType, bool, bool)> = model
        .tensors
        .iter()
        .filter(|t| t.is_constant() && t.quant.is_some() && matches!(t.dtype, DType::I8 | DType::U8))
        .map(|t| {
            let q = t.quant.as_ref().unwrap();
            (t.dtype, q.is_per_channel(), q.zero_point.iter().any(|&z| z != 0))
        })
        .collect();
    let io = |ts: &[usize]| dtype_counts(ts.iter().map(|&t| model.tensors[t].dtype));
    let has = |d: DType| acts.contains(&d);
    let kind = if weights.is_empty() && !has(DType::I8) && !has(DType::U8) {
        if weights.is_empty() && model.tensors.iter().any(|t| t.is_constant() && t.dtype == DType::F32) { "float (not quantized)" } else { "no quantized weights" }
    } else if has(DType::U8) && !has(DType::I8) && weights.iter().all(|w| w.0 == DType::U8) {
        "legacy all-uint8 (asymmetric uint8 weights and activations)"
    } else if has(DType::F32) {
        "mixed integer and float (some ops run in float)"
    } else {
        "full-integer (int8 inside)"
    };
    let per_channel = weights.iter().filter(|w| w.1).count();
    let asym = weights.iter().filter(|w| w.2).count();
    format!(
        "{kind}; inputs {}, outputs {}; {} quantized weight tensors, {per_channel} per-channel, {asym} with nonzero weight zero points",
        io(&model.inputs),
        io(&model.outputs),
        weights.len()
    )
}

/// The dtypes of a tensor list, each once with its count, in order of first
/// appearance: `INT8` for one tensor, `2 × INT8` for two, `43 × UINT8, 2 × FLOAT32`
/// for a graph that exposes every intermediate tensor as an output.
fn dtype_counts(dtypes: impl Iterator<Item = DType>) -> String {
    let mut counts: Vec<(DType, usize)> = Vec::new();
    for d in dtypes {
        match counts.iter_mut().find(|(e, _)| *e == d) {
            Some((_, n)) => *n += 1,
            None => counts.push((d, 1)),
        }
    }
    if counts.is_empty() {
        return "none".to_string();
    }
    counts
        .iter()
        .map(|&(d, n)| if n == 1 { d.name().to_string() } else { format!("{n} × {}", d.name()) })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A layer's error against a float path.
#[derive(Clone, Debug)]
pub struct LayerError {
    pub layer: usize,
    pub elements: usize,
    pub max_abs: f64,
    pub mean_abs: f64,
    /// The layer's grid step S3.
    pub step: f64,
}

/// Each layer recomputed in real numbers from ITS dequantized input, weights
/// and bias (`S1·S2[c]·(acc + bias)`, then the activation's clamp in real
/// numbers), against the integer output dequantized: the error this layer
/// adds by itself (rounding to its grid, saturation). Up to `max_elements`
/// output elements per layer, evenly spread.
pub fn local_errors(plan: &Plan, layers: &[QuantLayer], trace: &Trace, max_elements: usize) -> Vec<LayerError> {
    layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let n = trace.value(l.output).map_or(0, Value::len);
            let stride = n.div_ceil(max_elements.max(1)).max(1);
            let (lo, hi) = (l.s3 as f64 * (l.act_min - l.z3) as f64, l.s3 as f64 * (l.act_max - l.z3) as f64);
            let (mut max, mut sum, mut count) = (0f64, 0f64, 0usize);
            for e in (0..n).step_by(stride) {
                let Some(s) = l.steps(plan, trace, e) else { continue };
                let c = l.channel(e);
                let real = (l.s1 as f64 * l.s2[c.min(l.s2.len() - 1)] as f64 * s.acc_with_bias as f64).clamp(lo, hi);
                let deq = l.s3 as f64 * (s.output - l.z3) as f64;
                let err = (deq - real).abs();
                max = max.max(err);
                sum += err;
                count += 1;
            }
            LayerError { layer: i, elements: count, max_abs: max, mean_abs: if count == 0 { 0.0 } else { sum / count as f64 }, step: l.s3 as f64 }
        })
        .collect()
}

/// [`local_errors`] as [`lessons::LayerComparison`]s (the same charts as the float
/// model's comparison): `float` holds each layer recomputed in real numbers from its
/// own dequantized input, weights and bias, `dequantized` the integer path. Up to
/// `max_elements` per layer, evenly spread; the k-th layer of each kind is numbered
/// from 0 (`layer`).
pub fn local_comparisons(plan: &Plan, layers: &[QuantLayer], trace: &Trace, max_elements: usize) -> Vec<lessons::LayerComparison> {
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    layers
        .iter()
        .map(|l| {
            let k = seen.entry(l.kind).or_insert(0);
            let layer = *k;
            *k += 1;
            let n = trace.value(l.output).map_or(0, Value::len);
            let stride = n.div_ceil(max_elements.max(1)).max(1);
            let (lo, hi) = (l.s3 as f64 * (l.act_min - l.z3) as f64, l.s3 as f64 * (l.act_max - l.z3) as f64);
            let (mut float, mut deq) = (Vec::new(), Vec::new());
            let (mut low, mut high) = (0, 0);
            for e in (0..n).step_by(stride) {
                let Some(s) = l.steps(plan, trace, e) else { continue };
                let c = l.channel(e).min(l.s2.len() - 1);
                let real = l.s1 as f64 * l.s2[c] as f64 * s.acc_with_bias as f64;
                float.push(real.clamp(lo, hi) as f32);
                deq.push((l.s3 as f64 * (s.output - l.z3) as f64) as f32);
                low += (s.with_zero_point < l.act_min) as usize;
                high += (s.with_zero_point > l.act_max) as usize;
            }
            let errs: Vec<f32> = deq.iter().zip(&float).map(|(a, b)| (a - b).abs()).collect();
            let max_abs_error = errs.iter().cloned().fold(0.0, f32::max);
            let mean_abs_error = if errs.is_empty() { 0.0 } else { (errs.iter().map(|&e| e as f64).sum::<f64>() / errs.len() as f64) as f32 };
            lessons::LayerComparison {
                layer,
                kind: l.kind,
                op: l.op,
                tensor: l.output,
                float_tensor: l.output,
                activation: l.activation,
                scale: l.s3,
                zero_point: l.z3,
                act_min: l.act_min,
                act_max: l.act_max,
                float,
                dequantized: deq,
                clamped_low: low,
                clamped_high: high,
                max_abs_error,
                mean_abs_error,
            }
        })
        .collect()
}

/// The float model's run beside the integer path: the k-th quantized layer
/// against the float model's k-th layer of the same kind, whole tensors.
pub fn float_errors(plan: &Plan, layers: &[QuantLayer], trace: &Trace, fplan: &Plan, ftrace: &Trace) -> Vec<LayerError> {
    let float_outputs = |kind: &str| -> Vec<usize> {
        fplan
            .steps
            .iter()
            .filter(|s| fplan.model.operators[s.op].kind.name() == kind)
            .map(|s| s.kernel.output())
            .collect()
    };
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    let mut out = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let k = seen.entry(l.kind).or_insert(0);
        let idx = *k;
        *k += 1;
        let Some(&ft) = float_outputs(l.kind).get(idx) else { continue };
        let (Some(d), Some(f)) = (lessons::dequantize_trace(plan, trace, l.output), ftrace.value(ft).and_then(Value::as_f32)) else { continue };
        if d.len() != f.len() {
            continue;
        }
        let errs: Vec<f64> = d.iter().zip(f).map(|(a, b)| (*a as f64 - *b as f64).abs()).collect();
        let max = errs.iter().cloned().fold(0.0, f64::max);
        let mean = errs.iter().sum::<f64>() / errs.len().max(1) as f64;
        out.push(LayerError { layer: i, elements: errs.len(), max_abs: max, mean_abs: mean, step: l.s3 as f64 });
    }
    out
}
