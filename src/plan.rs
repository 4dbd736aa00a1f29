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
    /// Prepare every operator of `model` for `profile`.
    ///
    /// Fails with [`EngineError::UnsupportedOp`] naming the first operator
    /// quantlens cannot run, or with an error naming the operator whose
    /// tensors are inconsistent.
    pub fn new(model: Model, profile: Profile) -> Result<Plan, EngineError> {
        if model.inputs.len() != 1 {
            return Err(EngineError::BadInput(format!("model has {} inputs; quantlens runs single-input models", model.inputs.len())));
        }
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
            let ctx = OpContext { model: &model, op };
            let kernel = match &op.kind {
                OpKind::FullyConnected => Kernel::FullyConnected(ops::fully_connected::prepare(&ctx, profile)?),
                OpKind::Softmax => Kernel::Softmax(ops::softmax::prepare(&ctx, profile)?),
                OpKind::Quantize => Kernel::Quantize(ops::quantize::prepare(&ctx, profile)?),
                OpKind::Dequantize => Kernel::Dequantize(ops::dequantize::prepare(&ctx, profile)?),
                OpKind::Reshape => Kernel::Reshape(ops::reshape::prepare(&ctx, profile)?),
                other => return Err(EngineError::UnsupportedOp { op: op.index, kind: other.name() }),
            };
            for &t in &op.outputs {
                available[t] = true;
            }
            steps.push(Step { op: op.index, kernel });
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
