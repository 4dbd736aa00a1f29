//! The float path of a convolutional model: its **float32 twin**.
//!
//! `cnn_float32`, `resnet_float32` and `ops_float32` are the very Keras
//! models behind `cnn_ptq_*`, `resnet_ptq_*` and `ops_ptq_int8` (same
//! builders, seeds and training), converted without quantization. Run on the
//! float32 kernels ([`crate::ops::float`], bit-identical to LiteRT's reference
//! kernels), a twin gives, for every held-out image, the real numbers the
//! integer path approximates: put each op's dequantized integer output
//! `S(q − Z)` beside the twin's float output ([`compare_ops`]).

use std::path::Path;

use crate::error::{EngineError, Error};
use crate::lessons::{dequantize_trace, open_plan, pixels};
use crate::model::DType;
use crate::plan::Plan;
use crate::profile::Profile;
use crate::tensor::{Data, Value};
use crate::trace::Trace;

/// The float32 twin of a convolutional model (`cnn_ptq_int8` → `cnn_float32`),
/// `None` for a model without one.
pub fn twin_stem(stem: &str) -> Option<&'static str> {
    if stem == "cnn_legacy_uint8" {
        return None; // its own architecture, trained apart
    }
    match stem.split('_').next()? {
        "cnn" => Some("cnn_float32"),
        "resnet" => Some("resnet_float32"),
        "ops" => Some("ops_float32"),
        _ => None,
    }
}

/// The float32 twin of `stem`, prepared with [`Profile::TfliteRef`] (the float
/// kernels are the same in every profile).
pub fn twin_plan(data_dir: impl AsRef<Path>, stem: &str) -> Result<Plan, Error> {
    let twin = twin_stem(stem).ok_or_else(|| EngineError::BadInput(format!("{stem} has no float32 twin")))?;
    open_plan(data_dir, twin, Profile::TfliteRef)
}

/// Held-out image `i` as a float model's input: `float32(pixel / 255)`
/// (computed in double, as `scripts/goldenlib.py` does), shape `[1, 28, 28, 1]`.
pub fn twin_input(data_dir: impl AsRef<Path>, i: usize) -> Result<Value, Error> {
    let x = pixels(data_dir, i)?.into_iter().map(|p| (p as f64 / 255.0) as f32).collect();
    Ok(Value { shape: vec![1, 28, 28, 1], data: Data::F32(x) })
}

/// The twin of `stem` and its traces on the first `images` held-out images.
pub fn twin_traces(data_dir: impl AsRef<Path>, stem: &str, images: usize) -> Result<(Plan, Vec<Trace>), Error> {
    let plan = twin_plan(&data_dir, stem)?;
    let traces = (0..images).map(|i| Ok(plan.run(&twin_input(&data_dir, i)?)?)).collect::<Result<Vec<_>, Error>>()?;
    Ok((plan, traces))
}

/// One op of the integer model beside the same op of its float twin.
#[derive(Clone, Debug, PartialEq)]
pub struct OpComparison {
    /// Operator kind, e.g. `CONV_2D`.
    pub kind: String,
    /// Operator index and output tensor in the integer model.
    pub op: usize,
    pub tensor: usize,
    /// Output tensor in the float twin.
    pub float_tensor: usize,
    /// Elements compared (all traces).
    pub elements: usize,
    /// Largest and mean `|S(q − Z) − float|`.
    pub max_abs_error: f32,
    pub mean_abs_error: f32,
}

/// Every op of the integer run whose output has a per-tensor (S, Z), beside
/// the op of the twin that holds the same place (the k-th op of that kind in
/// both graphs), over the same images in the same order. QUANTIZE and
/// DEQUANTIZE, which the twin has not, are skipped.
pub fn compare_ops(qplan: &Plan, qtraces: &[Trace], fplan: &Plan, ftraces: &[Trace]) -> Vec<OpComparison> {
    let nth = |plan: &Plan, kind: &str, k: usize| {
        plan.steps.iter().filter(|s| plan.model.operators[s.op].kind.name() == kind).nth(k).map(|s| s.kernel.output())
    };
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let mut out = Vec::new();
    for step in &qplan.steps {
        let kind = qplan.model.operators[step.op].kind.name().to_string();
        let k = seen.entry(kind.clone()).or_insert(0);
        let (tensor, index) = (step.kernel.output(), *k);
        *k += 1;
        let Some(ft) = nth(fplan, &kind, index) else { continue };
        if qplan.model.tensors[tensor].dtype == DType::F32 || fplan.model.tensors[ft].dtype != DType::F32 {
            continue;
        }
        let mut errors = Vec::new();
        for (qt, f) in qtraces.iter().zip(ftraces) {
            let (Some(d), Some(fv)) = (dequantize_trace(qplan, qt, tensor), f.value(ft).and_then(Value::as_f32)) else { continue };
            if d.len() == fv.len() {
                errors.extend(d.iter().zip(fv).map(|(a, b)| (a - b).abs()));
            }
        }
        if errors.is_empty() {
            continue;
        }
        let max_abs_error = errors.iter().cloned().fold(0.0, f32::max);
        let mean_abs_error = (errors.iter().map(|&e| e as f64).sum::<f64>() / errors.len() as f64) as f32;
        out.push(OpComparison { kind, op: step.op, tensor, float_tensor: ft, elements: errors.len(), max_abs_error, mean_abs_error });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
    }

    #[test]
    fn twins_of_the_conv_models() {
        assert_eq!(twin_stem("cnn_ptq_uint8io"), Some("cnn_float32"));
        assert_eq!(twin_stem("resnet_ptq_int8"), Some("resnet_float32"));
        assert_eq!(twin_stem("ops_ptq_int8"), Some("ops_float32"));
        assert_eq!(twin_stem("cnn_legacy_uint8"), None);
        assert_eq!(twin_stem("mlp_ptq_uint8io"), None);
    }

    #[test]
    fn twin_input_is_the_goldens_input() {
        let golden = crate::io::read_samples(data().join("goldens/cnn_float32/input.npy")).unwrap();
        for i in [0, 7] {
            assert_eq!(twin_input(data(), i).unwrap().data, golden.sample(i).data);
        }
    }

    #[test]
    fn the_integer_cnn_tracks_its_float_twin_layer_by_layer() {
        let stem = "cnn_ptq_int8";
        let qplan = open_plan(data(), stem, Profile::TfliteRef).unwrap();
        let inputs = crate::io::read_samples(data().join("goldens").join(stem).join("input.npy")).unwrap();
        let qtraces: Vec<Trace> = (0..8).map(|i| qplan.run(&inputs.sample(i)).unwrap()).collect();
        let (fplan, ftraces) = twin_traces(data(), stem, 8).unwrap();
        let cmp = compare_ops(&qplan, &qtraces, &fplan, &ftraces);
        let kinds: Vec<&str> = cmp.iter().map(|c| c.kind.as_str()).collect();
        assert!(kinds.starts_with(&["CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "CONV_2D"]), "{kinds:?}");
        let softmax = cmp.iter().find(|c| c.kind == "SOFTMAX").unwrap();
        assert!(softmax.max_abs_error < 0.1, "{softmax:?}");
        assert!(cmp.iter().all(|c| c.max_abs_error.is_finite() && c.elements > 0));
    }
}
