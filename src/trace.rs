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
