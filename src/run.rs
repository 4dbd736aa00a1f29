//! Eval: run a prepared [`Plan`] on one sample into a [`Trace`].

use crate::error::EngineError;
use crate::plan::Plan;
use crate::tensor::Value;
use crate::trace::Trace;

impl Plan {
    /// Run one sample. `input` must have the input tensor's dtype and element
    /// count (its shape may omit the leading batch dimension of 1).
    pub fn run(&self, input: &Value) -> Result<Trace, EngineError> {
        let t_in = &self.model.tensors[self.input()];
        if input.dtype() != t_in.dtype {
            return Err(EngineError::BadInput(format!(
                "input is {} but the model's input tensor {} ({}) is {}",
                input.dtype(),
                t_in.index,
                t_in.name,
                t_in.dtype
            )));
        }
        if input.len() != t_in.num_elements() {
            return Err(EngineError::BadInput(format!(
                "input has shape {:?} ({} elements) but the model's input tensor {} ({}) has shape {:?}",
                input.shape,
                input.len(),
                t_in.index,
                t_in.name,
                t_in.shape
            )));
        }
        let mut values: Vec<Option<Value>> = vec![None; self.model.tensors.len()];
        self.seed_constants(&mut values);
        values[self.input()] = Some(input.reshaped(&t_in.shape));
        for step in &self.steps {
            let y = step.kernel.eval(&values)?;
            let out = &self.model.tensors[step.kernel.output()];
            // `prepare` guarantees this; a kernel that broke it would hand
            // the next operator a value of the wrong size.
            if y.len() != out.num_elements() {
                return Err(EngineError::BadOperator {
                    op: step.op,
                    kind: self.model.operators[step.op].kind.name(),
                    reason: format!(
                        "produced {} elements for tensor {} ({}) of shape {:?}",
                        y.len(),
                        out.index,
                        out.name,
                        out.shape
                    ),
                });
            }
            values[step.kernel.output()] = Some(y);
        }
        Ok(Trace { values })
    }

    /// Run every sample of a batch.
    pub fn run_batch(&self, inputs: &[Value]) -> Result<Vec<Trace>, EngineError> {
        self.run_batch_progress(inputs, &|_| {})
    }

    /// [`Plan::run_batch`] that calls `progress(1)` after each sample.
    pub fn run_batch_progress(&self, inputs: &[Value], progress: &dyn Fn(usize)) -> Result<Vec<Trace>, EngineError> {
        inputs
            .iter()
            .map(|x| {
                let t = self.run(x);
                progress(1);
                t
            })
            .collect()
    }
}

// --- vit ---
impl Plan {
    /// Put into `values` the constants from the file that some step reads at
    /// run time (an ADD or MUL with a constant operand: the ViT's position
    /// embedding, LayerNorm's γ, β and ε, the attention's 1/√d scale). Such a
    /// constant then appears in the trace beside the op-produced tensors.
    pub(crate) fn seed_constants(&self, values: &mut [Option<Value>]) {
        for step in &self.steps {
            for t in step.kernel.inputs() {
                if values[t].is_none() {
                    values[t] = Value::from_constant(&self.model.tensors[t]);
                }
            }
        }
    }
}
