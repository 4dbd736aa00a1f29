//! Prepare: everything derivable from the model alone, computed once.
//!
//! This is TFLite Micro's "prepare" phase. For each operator it checks the
//! dtypes and shapes and computes the constants the eval loop needs — for a
//! quantized FULLY_CONNECTED that is S1, S2, **S3 (the output tensor's
//! scale)**, M = S1·S2/S3, its fixed-point form M0·2^shift and the clamp
//! range. `quantlens inspect` prints the plan.

use crate::error::EngineError;
use crate::model::{Model, OpKind};
use crate::ops::{self, OpContext};
use crate::profile::Profile;
use crate::tensor::Value;

/// A prepared operator.
#[derive(Clone, Debug)]
pub enum Kernel {
    FullyConnected(ops::fully_connected::Params),
    Softmax(ops::softmax::Params),
    Quantize(ops::quantize::Params),
    Dequantize(ops::dequantize::Params),
    Reshape(ops::reshape::Params),
}

impl Kernel {
    /// Evaluate the kernel: read its inputs from `values` (indexed by tensor
    /// index) and return the value of its output tensor.
    pub fn eval(&self, values: &[Option<Value>]) -> Result<Value, EngineError> {
        let x = values
            .get(self.data_input())
            .and_then(Option::as_ref)
            .ok_or_else(|| EngineError::BadInput(format!("tensor {} has no value yet", self.data_input())))?;
        match self {
            Kernel::FullyConnected(p) => p.eval(x),
            Kernel::Softmax(p) => p.eval(x),
            Kernel::Quantize(p) => p.eval(x),
            Kernel::Dequantize(p) => p.eval(x),
            Kernel::Reshape(p) => p.eval(x),
        }
    }

    /// The tensor this kernel reads its data from.
    pub fn data_input(&self) -> usize {
        match self {
            Kernel::FullyConnected(p) => p.input,
            Kernel::Softmax(p) => p.input,
            Kernel::Quantize(p) => p.input,
            Kernel::Dequantize(p) => p.input,
            Kernel::Reshape(p) => p.input,
        }
    }

    /// The tensor this kernel writes.
    pub fn output(&self) -> usize {
        match self {
            Kernel::FullyConnected(p) => p.output,
            Kernel::Softmax(p) => p.output,
            Kernel::Quantize(p) => p.output,
            Kernel::Dequantize(p) => p.output,
            Kernel::Reshape(p) => p.output,
        }
    }
}

/// One operator of the plan.
#[derive(Clone, Debug)]
pub struct Step {
    /// Operator index in the model.
    pub op: usize,
    pub kernel: Kernel,
}

/// A model prepared for one profile.
#[derive(Clone, Debug)]
pub struct Plan {
    pub model: Model,
    pub profile: Profile,
    pub steps: Vec<Step>,
}

impl Plan {
    /// Prepare every operator of `model` for `profile`, within the default
    /// [`Limits`].
    ///
    /// Fails with [`EngineError::UnsupportedOp`] naming the first operator
    /// quantlens cannot run, or with an error naming the operator whose
    /// tensors are inconsistent.
    pub fn new(model: Model, profile: Profile) -> Result<Plan, EngineError> {
        Plan::with_limits(model, profile, Limits::default())
    }

    /// [`Plan::new`] with explicit resource limits: a model whose tensors
    /// would need more memory than `limits` allows is refused with
    /// [`EngineError::TooLarge`] before anything is allocated for it.
    pub fn with_limits(model: Model, profile: Profile, limits: Limits) -> Result<Plan, EngineError> {
        model.validate()?;
        if model.inputs.len() != 1 {
            return Err(EngineError::BadInput(format!("model has {} inputs; quantlens runs single-input models", model.inputs.len())));
        }
        if model.outputs.is_empty() {
            return Err(EngineError::BadGraph("the model has no graph output".into()));
        }
        check_memory(&model, limits)?;
        let mut available: Vec<bool> = model.tensors.iter().map(|t| t.is_constant()).collect();
        for &i in &model.inputs {
            available[i] = true;
        }
        let mut steps = Vec::with_capacity(model.operators.len());
        for op in &model.operators {
            for &t in op.inputs.iter().flatten() {
                if !available[t] {
                    return Err(EngineError::NotYetProduced { op: op.index, kind: op.kind.name(), tensor: t });
                }
            }
            // Every tensor is written once: by the caller (the graph input),
            // by the file (a constant) or by exactly one operator.
            for &t in &op.outputs {
                if available[t] {
                    let tensor = &model.tensors[t];
                    let what = if tensor.is_constant() {
                        "a constant from the file"
                    } else if model.inputs.contains(&t) {
                        "the graph input"
                    } else {
                        "already written by an earlier operator (or twice by this one)"
                    };
                    return Err(EngineError::BadOperator {
                        op: op.index,
                        kind: op.kind.name(),
                        reason: format!("writes tensor {t} ({}), which is {what}", tensor.name),
                    });
                }
                available[t] = true;
            }
            let ctx = OpContext { model: &model, op };
            let kernel = match &op.kind {
                OpKind::FullyConnected => Kernel::FullyConnected(ops::fully_connected::prepare(&ctx, profile)?),
                OpKind::Softmax => Kernel::Softmax(ops::softmax::prepare(&ctx, profile)?),
                OpKind::Quantize => Kernel::Quantize(ops::quantize::prepare(&ctx, profile)?),
                OpKind::Dequantize => Kernel::Dequantize(ops::dequantize::prepare(&ctx, profile)?),
                OpKind::Reshape => Kernel::Reshape(ops::reshape::prepare(&ctx, profile)?),
                other => return Err(EngineError::UnsupportedOp { op: op.index, kind: other.name() }),
            };
            steps.push(Step { op: op.index, kernel });
        }
        // A run's trace holds the input and the op-produced tensors; an
        // output must be one of them.
        let mut computed = vec![false; model.tensors.len()];
        for &t in model.inputs.iter().chain(model.operators.iter().flat_map(|op| op.outputs.iter())) {
            computed[t] = true;
        }
        for (i, &t) in model.outputs.iter().enumerate() {
            if !computed[t] {
                let tensor = &model.tensors[t];
                let what = if tensor.is_constant() { "a constant from the file" } else { "never written: no operator produces it" };
                return Err(EngineError::BadGraph(format!("graph output {i} is tensor {t} ({}), which is {what}", tensor.name)));
            }
        }
        Ok(Plan { model, profile, steps })
    }

    /// The same model prepared for another profile.
    pub fn with_profile(&self, profile: Profile) -> Result<Plan, EngineError> {
        Plan::new(self.model.clone(), profile)
    }

    /// The input tensor index.
    pub fn input(&self) -> usize {
        self.model.inputs[0]
    }

    /// The (first) output tensor index.
    pub fn output(&self) -> usize {
        self.model.outputs[0]
    }

    /// The step that writes tensor `t`.
    pub fn step_for_tensor(&self, t: usize) -> Option<&Step> {
        self.steps.iter().find(|s| s.kernel.output() == t)
    }

    /// The prepared FULLY_CONNECTED steps, in execution order.
    pub fn fully_connected(&self) -> impl Iterator<Item = (usize, &ops::fully_connected::Params)> {
        self.steps.iter().filter_map(|s| match &s.kernel {
            Kernel::FullyConnected(p) => Some((s.op, p)),
            _ => None,
        })
    }
}

/// Resource limits of a [`Plan`] (see [`Plan::with_limits`]).
///
/// A `.tflite` file of a few kilobytes can declare tensors of two billion
/// elements, or point a thousand operators at one large weight tensor. Such
/// a file is refused up front instead of making quantlens allocate gigabytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Upper bound, in bytes, on the memory a plan may need: the weights its
    /// operators prepare, plus the values one run keeps (the input and every
    /// op-produced tensor) and the largest temporary buffers of one operator.
    /// It is an estimate computed from the shapes alone, on the high side.
    pub max_bytes: u64,
}

impl Limits {
    /// 1 GiB: far above what the committed models need (about 20 MiB),
    /// enough for large image models.
    pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_bytes: Limits::DEFAULT_MAX_BYTES }
    }
}

/// Refuse a model whose tensors would need more than `limits` allows.
///
/// The estimate, from shapes alone: every value a run keeps (the graph input
/// and each op-produced tensor, in its dtype); the largest per-operator
/// scratch (its non-constant inputs and outputs widened to 32 bits); and for
/// every operator its constant inputs as prepared (copied, widened to 32 bits
/// and centered, plus per-channel constants).
fn check_memory(model: &Model, limits: Limits) -> Result<(), EngineError> {
    let elements = |t: usize| model.tensors[t].num_elements() as u64;
    let bytes = |t: usize| elements(t).saturating_mul(model.tensors[t].dtype.size() as u64);
    let mut kept_flags = vec![false; model.tensors.len()];
    for &t in model.inputs.iter().chain(model.operators.iter().flat_map(|op| op.outputs.iter())) {
        kept_flags[t] = true;
    }
    let kept: u64 = (0..model.tensors.len()).filter(|&t| kept_flags[t]).map(bytes).fold(0, u64::saturating_add);
    let mut scratch = 0u64;
    let mut prepared = 0u64;
    let mut largest: Option<(u64, usize)> = None;
    for op in &model.operators {
        let mut op_scratch = 0u64;
        for t in op.inputs.iter().flatten().copied().chain(op.outputs.iter().copied()) {
            let tensor = &model.tensors[t];
            if tensor.is_constant() {
                let rows = tensor.shape.first().copied().unwrap_or(1) as u64;
                let cost = bytes(t).saturating_add(elements(t).saturating_mul(8)).saturating_add(rows.saturating_mul(64));
                prepared = prepared.saturating_add(cost);
            } else {
                op_scratch = op_scratch.saturating_add(elements(t).saturating_mul(4));
            }
        }
        scratch = scratch.max(op_scratch);
    }
    for (t, &is_kept) in kept_flags.iter().enumerate() {
        let b = if is_kept { bytes(t) } else { 0 };
        if largest.map_or(true, |(lb, _)| b > lb) {
            largest = Some((b, t));
        }
    }
    let needed = kept.saturating_add(scratch).saturating_add(prepared);
    if needed <= limits.max_bytes {
        return Ok(());
    }
    let mut detail = format!("{kept} for the values of one run, {scratch} of scratch, {prepared} for prepared weights");
    if let Some((b, t)) = largest.filter(|&(b, _)| b > 0) {
        let tensor = &model.tensors[t];
        detail.push_str(&format!(
            "; largest tensor {t} ({}) of shape {:?} {} holds {b}",
            tensor.name, tensor.shape, tensor.dtype
        ));
    }
    Err(EngineError::TooLarge { needed, limit: limits.max_bytes, detail })
}
