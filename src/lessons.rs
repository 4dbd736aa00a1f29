//! Helpers for the notebooks (`notebooks/*.ipynb`): small, honest
//! computations on top of the engine that a lesson needs but the engine
//! itself does not.
//!
//! * [`dequantize_value`] / [`dequantize_trace`]: equation (1) on a traced value;
//! * [`float_plan`], [`float_trace`], [`float_traces`]: the float model, as
//!   the reference path the integer path approximates;
//! * [`compare_layers`]: float activations beside dequantized integer ones,
//!   with the error and the values the clamp changed;
//! * [`Variant`], [`run_variant`], [`why_ten_percent`]: the "why do I get
//!   10 %?" sequence, from integers used as if they were real numbers to the
//!   bit-exact integer path — every variant computed, nothing hard-coded;
//! * [`run_profiles`], [`disagreements`]: where the runtimes' roundings differ;
//! * [`rounding_results`], [`find_rounding_splits`]: one accumulator, every
//!   rounding rule;
//! * [`GridMap`]: how a real range becomes a scale and a (nudged) zero point;
//! * [`Json`]: a minimal JSON reader for `data/manifest.json` (no extra dependency).
//!
//! Every function takes its parameters from the [`Plan`] (the prepared
//! FULLY_CONNECTED constants: S1, Z1, S2, Z2, S3, Z3, multipliers, centered
//! weights, bias) — nothing here re-parses the model.

use std::path::{Path, PathBuf};

use crate::error::{EngineError, Error};
use crate::io::{read_samples, Npz, Stacked};
use crate::model::{Activation, DType, Model};
use crate::ops::fully_connected::{self, QuantParams, Steps};
use crate::plan::{Kernel, Plan};
use crate::profile::{Multiplier, Profile, Rounding};
use crate::quant;
use crate::tensor::{Data, Value};
use crate::trace::Trace;
use crate::verify;

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

/// `data/models/<stem>.tflite`.
pub fn model_path(data_dir: impl AsRef<Path>, stem: &str) -> PathBuf {
    data_dir.as_ref().join("models").join(format!("{stem}.tflite"))
}

/// `data/goldens/<stem>/input.npy`: the 1000 held-out images in the model's input dtype.
pub fn input_path(data_dir: impl AsRef<Path>, stem: &str) -> PathBuf {
    data_dir.as_ref().join("goldens").join(stem).join("input.npy")
}

/// `data/goldens/<stem>/<key>.npz`: what the runtime emulated by `profile` wrote.
pub fn golden_path(data_dir: impl AsRef<Path>, stem: &str, profile: Profile) -> PathBuf {
    data_dir.as_ref().join("goldens").join(stem).join(format!("{}.npz", profile.golden_key()))
}

/// The labels of the held-out images (`data/mnist/test_labels.npy`).
pub fn labels(data_dir: impl AsRef<Path>) -> Result<Vec<i64>, Error> {
    let path = data_dir.as_ref().join("mnist").join("test_labels.npy");
    let s = read_samples(&path)?;
    s.to_i64_vec().ok_or_else(|| Error::Npy { path: path.display().to_string(), message: "labels are not integers".into() })
}

/// The raw held-out pixels (`data/mnist/test_images.npy`, uint8 0…255), image `i`.
pub fn pixels(data_dir: impl AsRef<Path>, i: usize) -> Result<Vec<u8>, Error> {
    let path = data_dir.as_ref().join("mnist").join("test_images.npy");
    let s = read_samples(&path)?;
    if i >= s.len() {
        return Err(Error::Npy { path: path.display().to_string(), message: format!("image {i} of {}", s.len()) });
    }
    Ok(s.sample(i).to_i64_vec().unwrap_or_default().into_iter().map(|v| v as u8).collect())
}

/// Open a model and prepare it for `profile`.
pub fn open_plan(data_dir: impl AsRef<Path>, stem: &str, profile: Profile) -> Result<Plan, Error> {
    let model = Model::from_path(model_path(&data_dir, stem))?;
    Ok(Plan::new(model, profile)?)
}

// ---------------------------------------------------------------------------
// Dequantize
// ---------------------------------------------------------------------------

/// Equation (1), `r = S (q − Z)`, applied to every element of `value`, a value
/// of tensor `t` of `model`, with the tensor's own per-tensor (S, Z).
///
/// Float values are returned unchanged; `None` for a tensor without a single
/// (per-tensor) scale, or for a value that is neither float nor integer.
pub fn dequantize_value(model: &Model, t: usize, value: &Value) -> Option<Vec<f32>> {
    if let Some(f) = value.as_f32() {
        return Some(f.to_vec());
    }
    let (s, z) = model.tensors.get(t)?.per_tensor_quant()?;
    let q = value.to_i64_vec()?;
    Some(q.into_iter().map(|q| quant::dequantize(q as i32, s, z as i32)).collect())
}

/// [`dequantize_value`] of tensor `t` as traced: the real numbers the integer path stands for.
pub fn dequantize_trace(plan: &Plan, trace: &Trace, t: usize) -> Option<Vec<f32>> {
    dequantize_value(&plan.model, t, trace.value(t)?)
}

/// The integer elements of a traced tensor (`None` for float or missing values).
pub fn ints(trace: &Trace, t: usize) -> Option<Vec<i64>> {
    trace.value(t)?.to_i64_vec()
}

/// Index of the largest element (the first one on ties, as `numpy.argmax`).
pub fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Fraction of `predictions` equal to `labels`.
pub fn accuracy(predictions: &[usize], labels: &[i64]) -> f64 {
    verify::accuracy(predictions, labels)
}

// ---------------------------------------------------------------------------
// The float path
// ---------------------------------------------------------------------------

/// The float model `data/models/mlp_float32.tflite`, prepared with
/// [`Profile::TfliteRef`] (float kernels do not depend on the profile).
pub fn float_plan(data_dir: impl AsRef<Path>) -> Result<Plan, Error> {
    open_plan(data_dir, "mlp_float32", Profile::TfliteRef)
}

/// The float path for held-out image `image`: the float model run on
/// `data/goldens/mlp_float32/input.npy` (pixels / 255).
pub fn float_trace(data_dir: impl AsRef<Path>, image: usize) -> Result<Trace, Error> {
    let plan = float_plan(&data_dir)?;
    let inputs = read_samples(input_path(&data_dir, "mlp_float32"))?;
    if image >= inputs.len() {
        return Err(EngineError::BadInput(format!("image {image} of {}", inputs.len())).into());
    }
    Ok(plan.run(&inputs.sample(image))?)
}

/// The float plan and its traces for all held-out images.
pub fn float_traces(data_dir: impl AsRef<Path>) -> Result<(Plan, Vec<Trace>), Error> {
    let plan = float_plan(&data_dir)?;
    let inputs = read_samples(input_path(&data_dir, "mlp_float32"))?;
    let traces = plan.run_batch(&inputs.samples())?;
    Ok((plan, traces))
}

// ---------------------------------------------------------------------------
// Layers side by side
// ---------------------------------------------------------------------------

/// One FULLY_CONNECTED layer: the float model's output beside the integer
/// path's output dequantized with its own (S3, Z3).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerComparison {
    /// 0 for the first FULLY_CONNECTED, 1 for the second, …
    pub layer: usize,
    /// Operator index in the quantized model.
    pub op: usize,
    /// Output tensor in the quantized model.
    pub tensor: usize,
    /// Output tensor in the float model (for a layer recomputed from its own
    /// dequantized input instead, the quantized output tensor again).
    pub float_tensor: usize,
    /// `FULLY_CONNECTED`, `CONV_2D` or `DEPTHWISE_CONV_2D`.
    pub kind: &'static str,
    pub activation: Activation,
    /// S3, Z3 of the quantized output.
    pub scale: f32,
    pub zero_point: i32,
    /// The clamp range in integers.
    pub act_min: i32,
    pub act_max: i32,
    /// Float model outputs (all compared samples, concatenated).
    pub float: Vec<f32>,
    /// `S3 (q3 − Z3)` of the integer outputs, same order.
    pub dequantized: Vec<f32>,
    /// Elements whose `Z3 + round(M·acc)` was below `act_min` (ReLU zeros, or the bottom of the grid).
    pub clamped_low: usize,
    /// Elements whose `Z3 + round(M·acc)` was above `act_max` (saturated at the top of the grid).
    pub clamped_high: usize,
    /// Largest and mean `|dequantized − float|`.
    pub max_abs_error: f32,
    pub mean_abs_error: f32,
}

impl LayerComparison {
    /// A short name such as `FC1 (t8)` (`CONV1`, `DW1` for the convolutions).
    pub fn label(&self) -> String {
        let short = match self.kind {
            "CONV_2D" => "CONV",
            "DEPTHWISE_CONV_2D" => "DW",
            _ => "FC",
        };
        format!("{short}{} (t{})", self.layer + 1, self.tensor)
    }
}

/// Before-clamp values `Z3 + round(M·(acc + bias))` of one quantized FC layer
/// on one input value (the same functions the kernel uses).
fn unclamped_outputs(p: &fully_connected::Params, q: &QuantParams, input: &Value) -> Vec<i64> {
    let x = input.to_i64_vec().unwrap_or_default();
    let mut out = Vec::with_capacity(x.len() / p.in_features.max(1) * p.out_features);
    for row in x.chunks(p.in_features) {
        let xc: Vec<i32> = row.iter().map(|&v| v as i32 - q.z1).collect();
        for c in 0..p.out_features {
            let acc = q.accumulate(&xc, c, p.in_features).wrapping_add(q.bias[c]);
            out.push(q.rounding.apply(acc, &q.multipliers[c]) as i64 + q.z3 as i64);
        }
    }
    out
}

/// Compare every FULLY_CONNECTED output of the quantized run with the float
/// run, layer by layer (the i-th FC of one with the i-th FC of the other),
/// over the given traces (same images, same order).
pub fn compare_layers(qplan: &Plan, qtraces: &[Trace], fplan: &Plan, ftraces: &[Trace]) -> Vec<LayerComparison> {
    let fcs_f: Vec<usize> = fplan.fully_connected().map(|(_, p)| p.output).collect();
    let mut layers = Vec::new();
    for (layer, (op, p)) in qplan.fully_connected().enumerate() {
        let q = match &p.arith {
            fully_connected::Arith::Quantized(q) => q,
            fully_connected::Arith::Float(_) => continue,
        };
        let Some(&ft) = fcs_f.get(layer) else { continue };
        let (mut float, mut deq) = (Vec::new(), Vec::new());
        let (mut low, mut high) = (0, 0);
        for (qt, f) in qtraces.iter().zip(ftraces) {
            let (Some(d), Some(fv)) = (dequantize_trace(qplan, qt, p.output), f.value(ft).and_then(Value::as_f32)) else {
                continue;
            };
            deq.extend(d);
            float.extend_from_slice(fv);
            if let Some(input) = qt.value(p.input) {
                for v in unclamped_outputs(p, q, input) {
                    low += (v < q.act_min as i64) as usize;
                    high += (v > q.act_max as i64) as usize;
                }
            }
        }
        let errs: Vec<f32> = deq.iter().zip(&float).map(|(a, b)| (a - b).abs()).collect();
        let max_abs_error = errs.iter().cloned().fold(0.0, f32::max);
        let mean_abs_error = if errs.is_empty() { 0.0 } else { (errs.iter().map(|&e| e as f64).sum::<f64>() / errs.len() as f64) as f32 };
        layers.push(LayerComparison {
            layer,
            kind: "FULLY_CONNECTED",
            op,
            tensor: p.output,
            float_tensor: ft,
            activation: p.activation,
            scale: q.s3,
            zero_point: q.z3,
            act_min: q.act_min,
            act_max: q.act_max,
            float,
            dequantized: deq,
            clamped_low: low,
            clamped_high: high,
            max_abs_error,
            mean_abs_error,
        });
    }
    layers
}

// ---------------------------------------------------------------------------
// Why 10 %?
// ---------------------------------------------------------------------------

/// The steps from "I used the integers" to the bit-exact integer path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// (0) The question's own code, as written, with numpy's dtype rules:
    /// `X = img.astype('uint8'); z = np.dot(X, W.T) + b; a = relu(z)`, layer
    /// after layer, on the file's stored integers. `np.dot` of two `uint8`
    /// arrays returns `uint8`, so the first layer's sums wrap modulo 256;
    /// `+ b` (int32) promotes to int32; later layers are int32 · uint8 → int32.
    /// No zero points, no scales.
    SeedAsWritten,
    /// (1) The integer weights and biases of the file used as if they were
    /// real numbers — no zero points, no scales — in float arithmetic, with
    /// ReLU, on the first layer's integer input.
    RawIntegers,
    /// (2) Zero points subtracted (input `q1 − Z1`, weights `q2 − Z2`),
    /// still no scales, in float; each layer's output is taken as the next
    /// layer's `q1` (so that layer's `Z1` is subtracted from it).
    ZeroPointsOnly,
    /// (3) Scales applied: `r = S (q − Z)` for the input, the weights
    /// (S2 per channel) and the biases (scale S1·S2, Z = 0); float matmul.
    Dequantized,
    /// (4) Integers throughout: `q3 = clamp(Z3 + round(M · acc))` with
    /// `M = S1·S2/S3` in double and `round` = half away from zero, layer by layer.
    IntegerRequantize,
    /// (5) The engine's bit-exact path for the plan's profile (every op,
    /// softmax included), compared with the runtime's golden.
    BitExact,
}

impl Variant {
    /// All variants, in lesson order.
    pub const ALL: [Variant; 6] = [
        Variant::SeedAsWritten,
        Variant::RawIntegers,
        Variant::ZeroPointsOnly,
        Variant::Dequantized,
        Variant::IntegerRequantize,
        Variant::BitExact,
    ];

    /// A short label for tables and charts.
    pub fn name(self) -> &'static str {
        match self {
            Variant::SeedAsWritten => "0 the seed's numpy code",
            Variant::RawIntegers => "1 integers as reals",
            Variant::ZeroPointsOnly => "2 − zero points",
            Variant::Dequantized => "3 × scales (float)",
            Variant::IntegerRequantize => "4 requantize M (int)",
            Variant::BitExact => "5 bit-exact engine",
        }
    }

    /// One sentence on what the variant computes.
    pub fn describe(self) -> &'static str {
        match self {
            Variant::SeedAsWritten => "np.dot(X, W.T) + b, relu, with numpy's dtypes: uint8·uint8 stays uint8 and wraps modulo 256",
            Variant::RawIntegers => "y = relu(Σ q_w·q_x + q_b) in float, the integers taken as real numbers",
            Variant::ZeroPointsOnly => "y = relu(Σ (q_w − Z2)(q_x − Z1) + q_b) in float, no scales",
            Variant::Dequantized => "y = relu(Σ S2(q_w − Z2)·S1(q_x − Z1) + S1·S2·q_b) in float (dequantized weights)",
            Variant::IntegerRequantize => "q3 = clamp(Z3 + round(M·(Σ (q1 − Z1)(q2 − Z2) + q_b))), M = S1·S2/S3 in double",
            Variant::BitExact => "the engine's kernels for the profile (QUANTIZE, FC, SOFTMAX), bit-exact with the runtime",
        }
    }
}

/// The result of one variant over a set of images.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantResult {
    pub variant: Variant,
    /// Predicted class per image.
    pub predictions: Vec<usize>,
    /// Fraction of predictions equal to the labels.
    pub accuracy: f64,
    /// For the integer variants: elements differing from the runtime's golden
    /// (FULLY_CONNECTED outputs for (4), every op-produced tensor for (5)).
    pub golden_differing: Option<usize>,
    /// How many elements that count was taken over.
    pub golden_elements: Option<usize>,
}

/// The model input run through the operators before the first
/// FULLY_CONNECTED (e.g. the uint8 → int8 QUANTIZE of a model with uint8
/// I/O), with the engine's own kernels: the first layer's integer input.
pub fn first_fc_input(plan: &Plan, input: &Value) -> Result<Value, EngineError> {
    let t_in = &plan.model.tensors[plan.input()];
    let mut values: Vec<Option<Value>> = vec![None; plan.model.tensors.len()];
    values[plan.input()] = Some(input.reshaped(&t_in.shape));
    for step in &plan.steps {
        if let Kernel::FullyConnected(p) = &step.kernel {
            return values[p.input]
                .clone()
                .ok_or_else(|| EngineError::BadInput(format!("tensor {} has no value before the first FULLY_CONNECTED", p.input)));
        }
        let y = step.kernel.eval(&values)?;
        values[step.kernel.output()] = Some(y);
    }
    Err(EngineError::BadInput("the model has no FULLY_CONNECTED operator".into()))
}

fn quantized_fcs(plan: &Plan) -> Result<Vec<(&fully_connected::Params, &QuantParams)>, EngineError> {
    plan.fully_connected()
        .map(|(op, p)| match &p.arith {
            fully_connected::Arith::Quantized(q) => Ok((p, q.as_ref())),
            fully_connected::Arith::Float(_) => {
                Err(EngineError::BadInput(format!("operator {op} is a float FULLY_CONNECTED; the variants need a quantized model")))
            }
        })
        .collect()
}

fn relu_real(activation: Activation, y: f64) -> f64 {
    match activation {
        Activation::Relu => y.max(0.0),
        Activation::Relu6 => y.clamp(0.0, 6.0),
        Activation::ReluN1To1 => y.clamp(-1.0, 1.0),
        _ => y,
    }
}

/// The outputs of every FULLY_CONNECTED layer of `plan` under a float-or-
/// integer `variant` (1–4) for one input: one vector per layer, in the
/// variant's own units (accumulator units for 1–2, real numbers for 3,
/// output integers for 4). [`Variant::BitExact`] returns the engine's
/// FC outputs as integers.
pub fn variant_layers(plan: &Plan, variant: Variant, input: &Value) -> Result<Vec<Vec<f64>>, EngineError> {
    let fcs = quantized_fcs(plan)?;
    if variant == Variant::BitExact {
        let trace = plan.run(input)?;
        return Ok(fcs.iter().map(|(p, _)| trace.value(p.output).map(Value::to_f64_vec).unwrap_or_default()).collect());
    }
    let x0: Vec<i64> = first_fc_input(plan, input)?.to_i64_vec().ok_or_else(|| EngineError::BadInput("first layer input is not integer".into()))?;
    if variant == Variant::SeedAsWritten {
        return Ok(seed_as_written(plan, &fcs, x0));
    }
    let mut layers: Vec<Vec<f64>> = Vec::with_capacity(fcs.len());
    // `x` is the current layer's input in the variant's own representation.
    let mut x: Vec<f64> = match variant {
        Variant::RawIntegers | Variant::IntegerRequantize => x0.iter().map(|&v| v as f64).collect(),
        Variant::ZeroPointsOnly => x0.iter().map(|&v| (v - fcs[0].1.z1 as i64) as f64).collect(),
        Variant::Dequantized => {
            let q = fcs[0].1;
            x0.iter().map(|&v| q.s1 as f64 * (v - q.z1 as i64) as f64).collect()
        }
        Variant::BitExact | Variant::SeedAsWritten => unreachable!(),
    };
    for (k, (p, q)) in fcs.into_iter().enumerate() {
        if k > 0 && variant == Variant::ZeroPointsOnly {
            // The previous output stands in for this layer's q1: subtract its Z1.
            x.iter_mut().for_each(|v| *v -= q.z1 as f64);
        }
        let n = p.in_features;
        let batches = x.len() / n;
        let mut y = Vec::with_capacity(batches * p.out_features);
        for b in 0..batches {
            let row = &x[b * n..(b + 1) * n];
            for c in 0..p.out_features {
                let wc = &q.w_centered[c * n..(c + 1) * n];
                let v = match variant {
                    Variant::RawIntegers => {
                        // The file's integer weight is w_centered + Z2.
                        let z2 = q.z2[c] as f64;
                        let dot: f64 = wc.iter().zip(row).map(|(&w, &xv)| (w as f64 + z2) * xv).sum();
                        relu_real(p.activation, dot + q.bias[c] as f64)
                    }
                    Variant::ZeroPointsOnly => {
                        let dot: f64 = wc.iter().zip(row).map(|(&w, &xv)| w as f64 * xv).sum();
                        relu_real(p.activation, dot + q.bias[c] as f64)
                    }
                    Variant::Dequantized => {
                        let s2 = q.s2[c] as f64;
                        let dot: f64 = wc.iter().zip(row).map(|(&w, &xv)| s2 * w as f64 * xv).sum();
                        relu_real(p.activation, dot + q.s1 as f64 * s2 * q.bias[c] as f64)
                    }
                    Variant::IntegerRequantize => {
                        let acc: i64 = wc.iter().zip(row).map(|(&w, &xv)| w as i64 * (xv as i64 - q.z1 as i64)).sum::<i64>()
                            + q.bias[c] as i64;
                        let m = (q.s1 as f64 * q.s2[c] as f64) / q.s3 as f64;
                        let q3 = q.z3 as i64 + (m * acc as f64).round() as i64;
                        q3.clamp(q.act_min as i64, q.act_max as i64) as f64
                    }
                    Variant::BitExact | Variant::SeedAsWritten => unreachable!(),
                };
                y.push(v);
            }
        }
        layers.push(y.clone());
        x = y;
    }
    Ok(layers)
}

/// The dtype numpy gives `np.dot(a, b)` (and `a + b`) for arrays of these
/// dtypes (`np.result_type`): the same type when equal, the smallest signed
/// type holding both when signedness differs, the wider one otherwise.
pub fn numpy_result_type(a: DType, b: DType) -> DType {
    use DType::*;
    match (a, b) {
        _ if a == b => a,
        (U8, I8) | (I8, U8) => I16,
        (I64, _) | (_, I64) => I64,
        (I32, _) | (_, I32) => I32,
        (I16, _) | (_, I16) => I16,
        _ => I32,
    }
}

/// Wrap `v` into `dtype` the way numpy's fixed-width integers do.
fn numpy_wrap(v: i64, dtype: DType) -> i64 {
    match dtype {
        DType::U8 => v as u8 as i64,
        DType::I8 => v as i8 as i64,
        DType::I16 => v as i16 as i64,
        DType::I32 => v as i32 as i64,
        _ => v,
    }
}

/// [`Variant::SeedAsWritten`]: `z = np.dot(X, W.T) + b; a = np.maximum(z, 0)`
/// per layer, on the stored integers, every intermediate in numpy's dtype.
fn seed_as_written(plan: &Plan, fcs: &[(&fully_connected::Params, &QuantParams)], x0: Vec<i64>) -> Vec<Vec<f64>> {
    let mut x = x0;
    let mut x_dtype = fcs.first().map_or(DType::U8, |(p, _)| plan.model.tensors[p.input].dtype);
    let mut layers = Vec::with_capacity(fcs.len());
    for (p, q) in fcs {
        let w_dtype = plan.model.tensors[p.weights].dtype;
        let dot_dtype = numpy_result_type(x_dtype, w_dtype);
        let out_dtype = numpy_result_type(dot_dtype, DType::I32); // + b, an int32 array
        let n = p.in_features;
        let mut y = Vec::with_capacity(x.len() / n * p.out_features);
        for row in x.chunks(n) {
            for c in 0..p.out_features {
                let z2 = q.z2[c] as i64;
                let w = &q.w_centered[c * n..(c + 1) * n];
                // The stored weight is w_centered + Z2; numpy wraps the dot in its dtype.
                let dot = w.iter().zip(row).fold(0i64, |acc, (&wc, &xv)| numpy_wrap(acc + (wc as i64 + z2) * xv, dot_dtype));
                let z = numpy_wrap(dot + q.bias[c] as i64, out_dtype);
                y.push(if p.activation == Activation::None { z } else { z.max(0) });
            }
        }
        layers.push(y.iter().map(|&v| v as f64).collect());
        x = y;
        x_dtype = out_dtype;
    }
    layers
}

/// The logits (last FULLY_CONNECTED output) of one input under `variant` (0–4).
pub fn variant_logits(plan: &Plan, variant: Variant, input: &Value) -> Result<Vec<f64>, EngineError> {
    Ok(variant_layers(plan, variant, input)?.pop().unwrap_or_default())
}

/// Run one variant over all `inputs` and score it against `labels`.
///
/// Variants 1–4 predict the argmax of the last FULLY_CONNECTED output (the
/// softmax does not change the argmax). Variant 5 runs the engine and
/// predicts the argmax of the model output, as the runtimes' accuracy does.
/// When `golden` is given, the integer variants are compared with it:
/// (4) on the FULLY_CONNECTED outputs, (5) on every op-produced tensor.
pub fn run_variant(
    plan: &Plan,
    variant: Variant,
    inputs: &Stacked,
    labels: &[i64],
    golden: Option<&mut Npz>,
) -> Result<VariantResult, Error> {
    let samples = inputs.samples();
    let (predictions, golden_differing, golden_elements) = match variant {
        Variant::BitExact => {
            let traces = plan.run_batch(&samples)?;
            let out = verify::stack_tensor(&traces, plan.output())
                .ok_or_else(|| EngineError::BadInput("no output computed".into()))?;
            let predictions = verify::argmax_per_sample(&out);
            let (d, e) = match golden {
                Some(g) => {
                    let report = verify::verify(plan, &traces, g)?;
                    (Some(report.total_differing()), Some(report.tensors.iter().map(|t| t.elements).sum()))
                }
                None => (None, None),
            };
            (predictions, d, e)
        }
        _ => {
            let mut predictions = Vec::with_capacity(samples.len());
            let mut per_layer: Vec<Vec<f64>> = Vec::new();
            for s in &samples {
                let layers = variant_layers(plan, variant, s)?;
                predictions.push(argmax(layers.last().map(Vec::as_slice).unwrap_or(&[])));
                if variant == Variant::IntegerRequantize {
                    per_layer.resize(layers.len(), Vec::new());
                    for (acc, l) in per_layer.iter_mut().zip(layers) {
                        acc.extend(l);
                    }
                }
            }
            let (d, e) = match (variant, golden) {
                (Variant::IntegerRequantize, Some(g)) => {
                    let (mut d, mut e) = (0, 0);
                    for ((p, _), ours) in quantized_fcs(plan)?.iter().zip(&per_layer) {
                        let gold = g.get(&format!("t{}", p.output))?;
                        let gold = if gold.len() > samples.len() { verify::truncate(&gold, samples.len()) } else { gold };
                        let gv = gold.to_f64_vec();
                        e += ours.len();
                        d += ours.iter().zip(&gv).filter(|(a, b)| a != b).count() + ours.len().abs_diff(gv.len());
                    }
                    (Some(d), Some(e))
                }
                _ => (None, None),
            };
            (predictions, d, e)
        }
    };
    let accuracy = verify::accuracy(&predictions, labels);
    Ok(VariantResult { variant, predictions, accuracy, golden_differing, golden_elements })
}

/// All five variants over all `inputs`, with the golden of the plan's
/// profile (`None`: no golden comparison).
pub fn why_ten_percent(plan: &Plan, inputs: &Stacked, labels: &[i64], golden: Option<&Path>) -> Result<Vec<VariantResult>, Error> {
    let mut npz = match golden {
        Some(p) => Some(Npz::open(p)?),
        None => None,
    };
    Variant::ALL.iter().map(|&v| run_variant(plan, v, inputs, labels, npz.as_mut())).collect()
}

// ---------------------------------------------------------------------------
// Runtimes
// ---------------------------------------------------------------------------

/// One profile's run over a set of inputs.
#[derive(Clone, Debug)]
pub struct ProfileRun {
    pub profile: Profile,
    pub plan: Plan,
    pub traces: Vec<Trace>,
}

/// Run `model` under each profile over all `inputs`.
pub fn run_profiles(model: &Model, inputs: &Stacked, profiles: &[Profile]) -> Result<Vec<ProfileRun>, Error> {
    let samples = inputs.samples();
    profiles
        .iter()
        .map(|&profile| {
            let plan = Plan::new(model.clone(), profile)?;
            let traces = plan.run_batch(&samples)?;
            Ok(ProfileRun { profile, plan, traces })
        })
        .collect()
}

/// The op-produced tensors of a plan in execution order, each with a short
/// two-line label for charts: `t8` / `FC1`, `t11` / `SOFTMAX`, …
pub fn step_labels(plan: &Plan) -> Vec<(usize, String)> {
    let mut fc = 0;
    plan.steps
        .iter()
        .map(|s| {
            let name = match &s.kernel {
                Kernel::FullyConnected(_) => {
                    fc += 1;
                    format!("FC{fc}")
                }
                _ => plan.model.operators[s.op].kind.name(),
            };
            (s.kernel.output(), format!("t{}\n{}", s.kernel.output(), name))
        })
        .collect()
}

/// How one tensor compares between two runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorCount {
    pub tensor: usize,
    /// Elements that differ.
    pub differing: usize,
    /// Elements compared.
    pub elements: usize,
    /// Largest |a − b| over the differing elements (0 if none).
    pub max_abs_diff: f64,
}

/// Differing elements per op-produced tensor between two profiles' runs.
#[derive(Clone, Debug, PartialEq)]
pub struct PairDisagreement {
    pub a: Profile,
    pub b: Profile,
    /// One entry per op-produced tensor, in execution order.
    pub tensors: Vec<TensorCount>,
}

impl PairDisagreement {
    /// The manifest's name for the pair, e.g. `ref_vs_builtin`.
    pub fn key(&self) -> String {
        format!("{}_vs_{}", self.a.golden_key(), self.b.golden_key())
    }

    /// Differing elements of tensor `t` (0 if not listed).
    pub fn differing(&self, t: usize) -> usize {
        self.tensors.iter().find(|x| x.tensor == t).map_or(0, |x| x.differing)
    }

    /// Largest |a − b| in tensor `t` (0 if not listed or equal).
    pub fn max_abs_diff(&self, t: usize) -> f64 {
        self.tensors.iter().find(|x| x.tensor == t).map_or(0.0, |x| x.max_abs_diff)
    }

    /// Total differing elements.
    pub fn total(&self) -> usize {
        self.tensors.iter().map(|x| x.differing).sum()
    }
}

/// Count, for every pair of runs (in the order given) and every op-produced
/// tensor, the elements that differ.
pub fn disagreements(runs: &[ProfileRun]) -> Vec<PairDisagreement> {
    let mut out = Vec::new();
    for i in 0..runs.len() {
        for j in i + 1..runs.len() {
            let (ra, rb) = (&runs[i], &runs[j]);
            let mut tensors = Vec::new();
            for step in &ra.plan.steps {
                let t = step.kernel.output();
                let (mut d, mut n, mut max) = (0, 0, 0f64);
                for (ta, tb) in ra.traces.iter().zip(&rb.traces) {
                    let (va, vb) = (ta.value(t).map(Value::to_f64_vec).unwrap_or_default(), tb.value(t).map(Value::to_f64_vec).unwrap_or_default());
                    n += va.len().max(vb.len());
                    d += va.len().abs_diff(vb.len());
                    for (x, y) in va.iter().zip(&vb) {
                        if x.to_bits() != y.to_bits() {
                            d += 1;
                            max = max.max((x - y).abs());
                        }
                    }
                }
                tensors.push(TensorCount { tensor: t, differing: d, elements: n, max_abs_diff: max });
            }
            out.push(PairDisagreement { a: ra.profile, b: rb.profile, tensors });
        }
    }
    out
}

/// Every rounding rule applied to one accumulator and multiplier.
pub fn rounding_results(acc: i32, m: &Multiplier) -> Vec<(Rounding, i32)> {
    Rounding::ALL.iter().map(|&r| (r, r.apply(acc, m))).collect()
}

/// For every quantized FULLY_CONNECTED output of every trace, apply every
/// rule of [`Rounding::ALL`] to the same accumulator (the layer input taken
/// from the trace) and count, per rule, the elements where the rule's
/// `round(M·acc)` differs from [`Rounding::DoubleHalfAway`] (the reference
/// kernels' rule). Returns `(rule, differing, elements)`.
pub fn rounding_rule_disagreements(plan: &Plan, traces: &[Trace]) -> Vec<(Rounding, usize, usize)> {
    let mut counts = vec![0usize; Rounding::ALL.len()];
    let mut elements = 0;
    for trace in traces {
        for (_, p) in plan.fully_connected() {
            let fully_connected::Arith::Quantized(q) = &p.arith else { continue };
            let Some(x) = trace.value(p.input).and_then(Value::to_i64_vec) else { continue };
            for row in x.chunks(p.in_features) {
                let xc: Vec<i32> = row.iter().map(|&v| v as i32 - q.z1).collect();
                for c in 0..p.out_features {
                    let acc = q.accumulate(&xc, c, p.in_features).wrapping_add(q.bias[c]);
                    let m = &q.multipliers[c];
                    let reference = Rounding::DoubleHalfAway.apply(acc, m);
                    for (k, r) in Rounding::ALL.iter().enumerate() {
                        counts[k] += (r.apply(acc, m) != reference) as usize;
                    }
                    elements += 1;
                }
            }
        }
    }
    Rounding::ALL.iter().zip(counts).map(|(&r, n)| (r, n, elements)).collect()
}

/// An output element whose accumulator the rounding rules round differently.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundingSplit {
    pub image: usize,
    /// FULLY_CONNECTED operator index.
    pub op: usize,
    /// Flat element index in the op's output.
    pub element: usize,
    /// The step trace under the plan's profile.
    pub steps: Steps,
    /// `round(M·acc)` under every rule.
    pub results: Vec<(Rounding, i32)>,
}

/// Search `inputs` (in order) for up to `limit` output elements of any
/// FULLY_CONNECTED where [`Rounding::ALL`] do not all agree on `round(M·acc)`
/// **and** the disagreement survives the clamp (so the output integer
/// itself depends on the rule).
pub fn find_rounding_splits(plan: &Plan, inputs: &Stacked, limit: usize) -> Result<Vec<RoundingSplit>, Error> {
    let mut found = Vec::new();
    for image in 0..inputs.len() {
        if found.len() >= limit {
            break;
        }
        let trace = plan.run(&inputs.sample(image))?;
        for (op, p) in plan.fully_connected() {
            let fully_connected::Arith::Quantized(q) = &p.arith else { continue };
            let Some(input) = trace.value(p.input) else { continue };
            let x = input.to_i64_vec().unwrap_or_default();
            let xc: Vec<i32> = x.iter().map(|&v| v as i32 - q.z1).collect();
            for c in 0..p.out_features {
                let acc = q.accumulate(&xc[..p.in_features], c, p.in_features).wrapping_add(q.bias[c]);
                let results = rounding_results(acc, &q.multipliers[c]);
                let out = |r: i32| (r as i64 + q.z3 as i64).clamp(q.act_min as i64, q.act_max as i64);
                if results.iter().any(|r| out(r.1) != out(results[0].1)) {
                    if let Some(steps) = trace.fc_steps(plan, op, c) {
                        found.push(RoundingSplit { image, op, element: c, steps, results });
                        if found.len() >= limit {
                            return Ok(found);
                        }
                    }
                }
            }
        }
    }
    Ok(found)
}

// ---------------------------------------------------------------------------
// From a real range to the integer grid
// ---------------------------------------------------------------------------

/// How a real interval maps onto an integer grid: `r = S (q − Z)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridMap {
    /// The real range asked for (calibration), or the representable range
    /// when built from a file's (S, Z).
    pub r_min: f64,
    pub r_max: f64,
    /// The integer grid.
    pub q_min: i64,
    pub q_max: i64,
    /// `S = (r_max − r_min) / (q_max − q_min)`.
    pub scale: f64,
    /// `Z_real = q_min − r_min / S`: where real 0 falls on the grid before rounding.
    pub zero_point_real: f64,
    /// `Z`: `Z_real` rounded (nudged) to an integer of the grid, so that real 0 is exactly representable.
    pub zero_point: i64,
    /// The representable range after the nudge: `S (q_min − Z)` … `S (q_max − Z)`.
    pub nudged_min: f64,
    pub nudged_max: f64,
}

impl GridMap {
    /// From a calibration range, as TensorFlow's `FakeQuant` / TFLite's
    /// legacy converter chose (S, Z) (f32 arithmetic, as in `Nudge`):
    /// `S = (r_max − r_min)/(q_max − q_min)`, `Z = round(q_min − r_min/S)`
    /// clamped to the grid, and the nudged range `S(q_min − Z)…S(q_max − Z)`.
    pub fn from_range(r_min: f32, r_max: f32, dtype: DType) -> GridMap {
        let (q_min, q_max) = dtype.int_range().unwrap_or((0, 255));
        let (qmin_f, qmax_f) = (q_min as f32, q_max as f32);
        let scale = (r_max - r_min) / (qmax_f - qmin_f);
        let zp_from_min = qmin_f - r_min / scale;
        let zero_point = if zp_from_min < qmin_f {
            q_min
        } else if zp_from_min > qmax_f {
            q_max
        } else {
            zp_from_min.round() as i64
        };
        let nudged_min = (qmin_f - zero_point as f32) * scale;
        let nudged_max = (qmax_f - zero_point as f32) * scale;
        GridMap {
            r_min: r_min as f64,
            r_max: r_max as f64,
            q_min,
            q_max,
            scale: scale as f64,
            zero_point_real: zp_from_min as f64,
            zero_point,
            nudged_min: nudged_min as f64,
            nudged_max: nudged_max as f64,
        }
    }

    /// From a tensor's own (S, Z) when the file records no min/max: the
    /// representable range `r_min = S(q_min − Z)`, `r_max = S(q_max − Z)`
    /// (no nudge needed: Z is already an integer).
    pub fn from_scale(scale: f32, zero_point: i64, dtype: DType) -> GridMap {
        let (q_min, q_max) = dtype.int_range().unwrap_or((0, 255));
        let s = scale as f64;
        let r_min = s * (q_min - zero_point) as f64;
        let r_max = s * (q_max - zero_point) as f64;
        GridMap {
            r_min,
            r_max,
            q_min,
            q_max,
            scale: s,
            zero_point_real: zero_point as f64,
            zero_point,
            nudged_min: r_min,
            nudged_max: r_max,
        }
    }

    /// The (S, Z) of tensor `t` of `model` as a grid map (per-tensor only).
    pub fn of_tensor(model: &Model, t: usize) -> Option<GridMap> {
        let tensor = model.tensors.get(t)?;
        let (s, z) = tensor.per_tensor_quant()?;
        Some(GridMap::from_scale(s, z, tensor.dtype))
    }

    /// Equation (2) on this grid: `clamp(round(r/S) + Z)`.
    pub fn quantize(&self, r: f64) -> i64 {
        ((r / self.scale).round() as i64 + self.zero_point).clamp(self.q_min, self.q_max)
    }

    /// Equation (1) on this grid: `S (q − Z)`.
    pub fn dequantize(&self, q: i64) -> f64 {
        self.scale * (q - self.zero_point) as f64
    }
}

// ---------------------------------------------------------------------------
// A minimal JSON reader (for data/manifest.json)
// ---------------------------------------------------------------------------

/// A parsed JSON value. Objects keep their key order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

static NULL: Json = Json::Null;

impl Json {
    /// Parse a JSON document.
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonParser { s: text.as_bytes(), i: 0 };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing characters at byte {}", p.i));
        }
        Ok(v)
    }

    /// Read and parse a JSON file.
    pub fn read(path: impl AsRef<Path>) -> Result<Json, Error> {
        let path = path.as_ref();
        let err = |m: String| Error::Io { path: path.display().to_string(), message: m };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Json::parse(&text).map_err(err)
    }

    /// Member `key` of an object (`Null` if absent or not an object).
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map_or(&NULL, |(_, v)| v),
            _ => &NULL,
        }
    }

    /// Follow a path of object keys, e.g. `["models", "mlp_legacy_uint8", "heldout_accuracy"]`.
    pub fn path(&self, keys: &[&str]) -> &Json {
        keys.iter().fold(self, |v, k| v.get(k))
    }

    /// Element `i` of an array (`Null` if absent).
    pub fn at(&self, i: usize) -> &Json {
        match self {
            Json::Arr(a) => a.get(i).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(x) => Some(*x),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            _ => &[],
        }
    }

    /// The members of an object (empty for anything else).
    pub fn entries(&self) -> &[(String, Json)] {
        match self {
            Json::Obj(m) => m,
            _ => &[],
        }
    }

    /// An array of numbers as `Vec<f64>` (non-numbers skipped).
    pub fn f64s(&self) -> Vec<f64> {
        self.as_array().iter().filter_map(Json::as_f64).collect()
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn expect(&mut self, lit: &str) -> Result<(), String> {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(format!("expected {lit:?} at byte {}", self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            None => Err("unexpected end of input".into()),
            Some(b'{') => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(m));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.ws();
                    self.expect(":")?;
                    let v = self.value()?;
                    m.push((k, v));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(m));
                        }
                        _ => return Err(format!("expected ',' or '}}' at byte {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(a));
                }
                loop {
                    a.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(a));
                        }
                        _ => return Err(format!("expected ',' or ']' at byte {}", self.i)),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.expect("true").map(|_| Json::Bool(true)),
            Some(b'f') => self.expect("false").map(|_| Json::Bool(false)),
            Some(b'n') => self.expect("null").map(|_| Json::Null),
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len() && matches!(self.s[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                t.parse::<f64>().map(Json::Num).map_err(|_| format!("bad number {t:?} at byte {start}"))
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect("\"")?;
        let mut out = String::new();
        loop {
            let Some(&c) = self.s.get(self.i) else { return Err("unterminated string".into()) };
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else { return Err("unterminated escape".into()) };
                    self.i += 1;
                    match e {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let hex = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
                            let code = u32::from_str_radix(std::str::from_utf8(hex).map_err(|e| e.to_string())?, 16).map_err(|e| e.to_string())?;
                            self.i += 4;
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        other => out.push(other as char),
                    }
                }
                _ => {
                    // Copy a whole UTF-8 sequence.
                    let start = self.i - 1;
                    let len = match c {
                        0..=0x7f => 1,
                        0xc0..=0xdf => 2,
                        0xe0..=0xef => 3,
                        _ => 4,
                    };
                    let end = (start + len).min(self.s.len());
                    out.push_str(std::str::from_utf8(&self.s[start..end]).map_err(|e| e.to_string())?);
                    self.i = end;
                }
            }
        }
    }
}

/// Values as `Value`s of dtype f32 (handy for charts of dequantized data).
pub fn f32_value(shape: &[usize], data: Vec<f32>) -> Value {
    Value { shape: shape.to_vec(), data: Data::F32(data) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
    }

    fn first(stack: &Stacked, n: usize) -> Stacked {
        verify::truncate(stack, n)
    }

    #[test]
    fn dequantize_uses_the_tensor_scale() {
        let plan = open_plan(data(), "mlp_ptq_uint8io", Profile::TfliteRef).unwrap();
        let inputs = read_samples(input_path(data(), "mlp_ptq_uint8io")).unwrap();
        let trace = plan.run(&inputs.sample(0)).unwrap();
        let t = plan.fully_connected().next().unwrap().1.output;
        let (s, z) = plan.model.tensors[t].per_tensor_quant().unwrap();
        let q = ints(&trace, t).unwrap();
        let r = dequantize_trace(&plan, &trace, t).unwrap();
        for (q, r) in q.iter().zip(&r) {
            assert_eq!(*r, (s as f64 * (*q - z) as f64) as f32);
        }
    }

    #[test]
    fn float_path_runs() {
        let tr = float_trace(data(), 0).unwrap();
        let plan = float_plan(data()).unwrap();
        let out = tr.value(plan.output()).unwrap().as_f32().unwrap();
        assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn variants_on_a_few_images() {
        let stem = "mlp_ptq_uint8io";
        let plan = open_plan(data(), stem, Profile::TfliteRef).unwrap();
        let inputs = first(&read_samples(input_path(data(), stem)).unwrap(), 40);
        let labels = labels(data()).unwrap();
        let results = why_ten_percent(&plan, &inputs, &labels[..40], Some(&golden_path(data(), stem, Profile::TfliteRef))).unwrap();
        assert_eq!(results.len(), 6);
        // Variant 4 is the reference kernels' FULLY_CONNECTED; variant 5 is the engine.
        assert_eq!(results[4].golden_differing, Some(0));
        assert_eq!(results[5].golden_differing, Some(0));
        assert!(results[3].accuracy > 0.8 && results[5].accuracy > 0.8);
        assert!(results[1].accuracy < results[5].accuracy);
        // Variant 3 equals the dequantized integer weights' float path, close to variant 4.
        let agree = results[3].predictions.iter().zip(&results[4].predictions).filter(|(a, b)| a == b).count();
        assert!(agree >= 36);
    }

    #[test]
    fn numpy_dtype_rules() {
        assert_eq!(numpy_result_type(DType::U8, DType::U8), DType::U8);
        assert_eq!(numpy_result_type(DType::U8, DType::I8), DType::I16);
        assert_eq!(numpy_result_type(DType::U8, DType::I32), DType::I32);
        assert_eq!(numpy_result_type(DType::I8, DType::I8), DType::I8);
        assert_eq!(numpy_wrap(300, DType::U8), 44);
        assert_eq!(numpy_wrap(200, DType::I8), -56);
    }

    #[test]
    fn the_seed_code_wraps_in_uint8() {
        // The legacy model: uint8 input, uint8 weights; the first layer's dot
        // product stays uint8, so before + b every value is in 0..=255.
        let stem = "mlp_legacy_uint8";
        let plan = open_plan(data(), stem, Profile::TfliteRef).unwrap();
        let inputs = read_samples(input_path(data(), stem)).unwrap();
        let layers = variant_layers(&plan, Variant::SeedAsWritten, &inputs.sample(0)).unwrap();
        let fcs = quantized_fcs(&plan).unwrap();
        let (p, q) = fcs[0];
        for (c, &z) in layers[0].iter().enumerate().take(p.out_features) {
            let dot = z as i64 - q.bias[c] as i64;
            assert!(z == 0.0 || (0..=255).contains(&dot), "channel {c}: {z} − bias {}", q.bias[c]);
        }
    }

    #[test]
    fn legacy_variant_four_matches_reference() {
        let stem = "mlp_legacy_uint8";
        let plan = open_plan(data(), stem, Profile::TfliteRef).unwrap();
        let inputs = first(&read_samples(input_path(data(), stem)).unwrap(), 20);
        let labels = labels(data()).unwrap();
        let mut g = Npz::open(golden_path(data(), stem, Profile::TfliteRef)).unwrap();
        let r = run_variant(&plan, Variant::IntegerRequantize, &inputs, &labels[..20], Some(&mut g)).unwrap();
        assert_eq!(r.golden_differing, Some(0));
    }

    #[test]
    fn layer_comparison_counts() {
        let stem = "mlp_ptq_uint8io";
        let plan = open_plan(data(), stem, Profile::TfliteRef).unwrap();
        let inputs = read_samples(input_path(data(), stem)).unwrap();
        let qt = vec![plan.run(&inputs.sample(0)).unwrap()];
        let fplan = float_plan(data()).unwrap();
        let ft = vec![float_trace(data(), 0).unwrap()];
        let layers = compare_layers(&plan, &qt, &fplan, &ft);
        assert_eq!(layers.len(), 3);
        assert_eq!(layers[0].float.len(), 512);
        assert_eq!(layers[0].dequantized.len(), 512);
        // ReLU zeros: every value clamped low is at act_min.
        let q = ints(&qt[0], layers[0].tensor).unwrap();
        let at_min = q.iter().filter(|&&v| v == layers[0].act_min as i64).count();
        assert!(layers[0].clamped_low <= at_min && layers[0].clamped_low > 0);
        assert!(layers[0].max_abs_error < 0.2);
    }

    #[test]
    fn grid_map_reproduces_the_legacy_file() {
        // The legacy model's first weight range (manifest) gives the file's S and Z.
        let m = Json::read(data().join("manifest.json")).unwrap();
        let r = m.path(&["models", "mlp_legacy_uint8", "legacy_conversion", "weight_ranges"]).at(0).f64s();
        let g = GridMap::from_range(r[0] as f32, r[1] as f32, DType::U8);
        let model = Model::from_path(model_path(data(), "mlp_legacy_uint8")).unwrap();
        let w = &model.tensors[plan_weights(&model)];
        let (s, z) = w.per_tensor_quant().unwrap();
        assert_eq!(g.zero_point, z);
        assert_eq!(g.scale as f32, s);
        let back = GridMap::from_scale(s, z, DType::U8);
        assert_eq!(back.quantize(back.dequantize(7)), 7);
    }

    fn plan_weights(model: &Model) -> usize {
        let plan = Plan::new(model.clone(), Profile::TfliteRef).unwrap();
        let w = plan.fully_connected().next().unwrap().1.weights;
        w
    }

    #[test]
    fn json_parses() {
        let j = Json::parse(r#"{"a": [1, 2.5e1, -3], "b": {"c": "x\"y\u00e9"}, "d": true, "e": null}"#).unwrap();
        assert_eq!(j.get("a").f64s(), vec![1.0, 25.0, -3.0]);
        assert_eq!(j.path(&["b", "c"]).as_str(), Some("x\"yé"));
        assert_eq!(j.get("d"), &Json::Bool(true));
        assert_eq!(j.get("zz"), &Json::Null);
        assert!(Json::parse("{").is_err());
    }

    #[test]
    fn rounding_split_exists() {
        let stem = "mlp_ptq_uint8io";
        let plan = open_plan(data(), stem, Profile::TfliteRef).unwrap();
        let inputs = read_samples(input_path(data(), stem)).unwrap();
        let found = find_rounding_splits(&plan, &inputs, 1).unwrap();
        assert_eq!(found.len(), 1);
        let s = &found[0];
        assert!(s.results.iter().any(|r| r.1 != s.results[0].1));
    }

    #[test]
    fn rounding_rules_counted() {
        let stem = "mlp_ptq_uint8io";
        let plan = open_plan(data(), stem, Profile::TfliteRef).unwrap();
        let inputs = first(&read_samples(input_path(data(), stem)).unwrap(), 50);
        let traces = plan.run_batch(&inputs.samples()).unwrap();
        let counts = rounding_rule_disagreements(&plan, &traces);
        assert_eq!(counts.len(), Rounding::ALL.len());
        assert_eq!(counts[0].1, 0); // the reference rule agrees with itself
        assert_eq!(counts[0].2, 50 * (512 + 100 + 10));
    }

    #[test]
    fn profiles_disagree_somewhere() {
        let stem = "mlp_ptq_uint8io";
        let model = Model::from_path(model_path(data(), stem)).unwrap();
        let inputs = first(&read_samples(input_path(data(), stem)).unwrap(), 100);
        let runs = run_profiles(&model, &inputs, &[Profile::TfliteRef, Profile::TfliteXnnpack]).unwrap();
        let d = disagreements(&runs);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].key(), "ref_vs_xnnpack");
        assert_eq!(d[0].total(), 0); // manifest: ref and xnnpack agree on this model
    }
}
