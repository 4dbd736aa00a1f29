//! The single product of a run: every tensor's value, and the steps behind
//! any quantized FULLY_CONNECTED, CONV_2D or DEPTHWISE_CONV_2D output element.

use crate::ops::conv::ConvSteps;
use crate::ops::fully_connected::Steps;
use crate::plan::{Kernel, Plan};
use crate::tensor::Value;

/// The value of the input and of every op-produced tensor after running one
/// sample, indexed by tensor index (`None` for constants, which live in the
/// [`Plan`], and for tensors no operator wrote).
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    pub values: Vec<Option<Value>>,
}

impl Trace {
    /// The value of tensor `t`.
    pub fn value(&self, t: usize) -> Option<&Value> {
        self.values.get(t).and_then(Option::as_ref)
    }

    /// The steps that produced element `element` of the output of the
    /// FULLY_CONNECTED operator `op`: accumulator, + bias, × M, rounding,
    /// + Z3, clamp. `None` if `op` is not a quantized FULLY_CONNECTED.
    pub fn fc_steps(&self, plan: &Plan, op: usize, element: usize) -> Option<Steps> {
        let step = plan.steps.iter().find(|s| s.op == op)?;
        match &step.kernel {
            Kernel::FullyConnected(p) => p.steps(self.value(p.input)?, element),
            _ => None,
        }
    }

    /// The steps that produced element `element` (flat NHWC index) of the
    /// output of the CONV_2D or DEPTHWISE_CONV_2D operator `op`: the
    /// receptive field (every tap with its input and weight), the
    /// accumulator, + bias, × M, rounding, + Z3, clamp. `None` if `op` is
    /// not such an operator or `element` is out of range.
    pub fn conv_steps(&self, plan: &Plan, op: usize, element: usize) -> Option<ConvSteps> {
        let step = plan.steps.iter().find(|s| s.op == op)?;
        match &step.kernel {
            Kernel::Conv2d(p) => p.steps(self.value(p.input)?, element),
            Kernel::DepthwiseConv2d(p) => p.steps(self.value(p.input)?, element),
            _ => None,
        }
    }
}

// dynamic range (issue 11): S1 is not in the file, it is computed from every input.
impl Trace {
    /// The run-time input quantization (S1, Z1) of every batch row of the
    /// hybrid operator `op` (one per row of a FULLY_CONNECTED, one per image
    /// of a convolution), as the run computed it from the traced input.
    /// `None` if `op` is not a hybrid operator.
    pub fn hybrid_input_quant(&self, plan: &Plan, op: usize) -> Option<Vec<crate::quant::hybrid::RowQuant>> {
        let step = plan.steps.iter().find(|s| s.op == op)?;
        match &step.kernel {
            Kernel::HybridFullyConnected(p) => p.quantize_rows(self.value(p.core.input)?).ok().map(|r| r.0),
            Kernel::HybridConv2d(p) => p.quantize_images(self.value(p.core.input)?).ok().map(|r| r.0),
            Kernel::HybridDepthwiseConv2d(p) => p.quantize_images(self.value(p.core.input)?).ok().map(|r| r.0),
            // dynamic_bmm: one S1 per LHS row
            Kernel::HybridBatchMatmul(p) => p.quantize_rows(self.value(p.core.input)?).ok().map(|r| r.0),
            _ => None,
        }
    }

    /// The steps behind element `element` of the output of the hybrid
    /// operator `op`: the row's run-time S1 and Z1, the int32 accumulator,
    /// the float scaling, + bias, activation. `None` if `op` is not hybrid.
    pub fn hybrid_steps(&self, plan: &Plan, op: usize, element: usize) -> Option<crate::ops::hybrid::HybridSteps> {
        let step = plan.steps.iter().find(|s| s.op == op)?;
        match &step.kernel {
            Kernel::HybridFullyConnected(p) => p.steps(self.value(p.core.input)?, element),
            Kernel::HybridConv2d(p) => p.steps(self.value(p.core.input)?, element),
            Kernel::HybridDepthwiseConv2d(p) => p.steps(self.value(p.core.input)?, element),
            // dynamic_bmm
            Kernel::HybridBatchMatmul(p) => p.steps(self.value(p.core.input)?, element),
            _ => None,
        }
    }
}
