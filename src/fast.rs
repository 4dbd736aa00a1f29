//! Outputs only: the same kernels as [`Plan::run`], without a [`Trace`](crate::Trace).
//!
//! [`Plan::run`] keeps every tensor of one sample so it can be shown; this
//! option of the run keeps only the model's output, reuses every buffer
//! between samples (a [`Workspace`]), pushes several samples through each
//! layer at once so the weights are read once per group, and can split a
//! batch over threads. The bits are the same: FULLY_CONNECTED runs the same
//! packed kernels in both; CONV_2D runs im2col + the packed gemm
//! ([`crate::ops::conv_gemm`]) and DEPTHWISE_CONV_2D an i16 channel loop
//! ([`crate::ops::depthwise_fast`]) here, the reference loops in [`Plan::run`],
//! with the same requantization function (the golden tests check both).
//!
//! ```no_run
//! use quantlens::{io, Model, Plan, Profile};
//! let plan = Plan::new(Model::from_path("data/models/mlp_ptq_int8_per_tensor.tflite")?, Profile::TfliteRef)?;
//! let images = io::read_samples("data/goldens/mlp_ptq_int8_per_tensor/input.npy")?;
//! let probs = plan.run_batch_outputs(&images)?;            // (1000, 1, 10), one thread
//! let probs2 = plan.run_batch_outputs_threads(&images, 2)?; // both cores
//! let mut ws = plan.workspace();                           // one sample at a time, no allocation
//! let y = ws.run(&plan, &images.sample(0))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::error::EngineError;
use crate::io::Stacked;
use crate::ops::{conv_gemm, depthwise_fast, fully_connected, KernelPath};
use crate::plan::{Kernel, Plan};
use crate::tensor::{Data, Value};

/// Samples pushed through each layer together by the batch runs.
pub const GROUP: usize = 16;

/// Reusable buffers for running one plan without a trace.
#[derive(Clone, Debug)]
pub struct Workspace {
    values: Vec<Option<Value>>,
    fc: fully_connected::Scratch,
    conv: conv_gemm::Scratch,
    depthwise: depthwise_fast::Scratch,
    xs: Vec<i32>,
    ys: Vec<i32>,
}

impl Plan {
    /// Buffers for [`Workspace::run`]; make one per thread and reuse it.
    pub fn workspace(&self) -> Workspace {
        let mut values = vec![None; self.model.tensors.len()];
        self.seed_constants(&mut values); // vit: constant operands read at run time
        Workspace { values, fc: Default::default(), conv: Default::default(), depthwise: Default::default(), xs: Vec::new(), ys: Vec::new() }
    }

    /// The model's output for one sample (no trace). Allocates a workspace:
    /// for many samples use [`Plan::run_batch_outputs`] or a [`Workspace`].
    pub fn run_outputs(&self, input: &Value) -> Result<Value, EngineError> {
        Ok(self.workspace().run(self, input)?.clone())
    }

    /// The model's output for every sample of `inputs` (`(N, …)` in the
    /// input dtype), stacked `(N, …output shape)`, on one thread.
    pub fn run_batch_outputs(&self, inputs: &Stacked) -> Result<Stacked, EngineError> {
        self.run_batch_outputs_threads(inputs, 1)
    }

    /// [`Plan::run_batch_outputs`] split over `threads` threads (each takes a
    /// contiguous share of the samples). The kernel path of the calling
    /// thread is used by all of them.
    pub fn run_batch_outputs_threads(&self, inputs: &Stacked, threads: usize) -> Result<Stacked, EngineError> {
        let t_in = &self.model.tensors[self.input()];
        let per: usize = t_in.num_elements();
        if inputs.dtype() != t_in.dtype {
            return Err(EngineError::BadInput(format!("inputs are {} but the model's input tensor {} is {}", inputs.dtype(), t_in.index, t_in.dtype)));
        }
        if inputs.sample_shape().iter().product::<usize>() != per {
            return Err(EngineError::BadInput(format!(
                "samples have shape {:?} but the model's input tensor {} has shape {:?}",
                inputs.sample_shape(),
                t_in.index,
                t_in.shape
            )));
        }
        let n = inputs.len();
        let path = crate::ops::kernel_path();
        let threads = threads.clamp(1, n.max(1));
        let chunk = n.div_ceil(threads);
        let parts: Vec<Result<Option<Data>, EngineError>> = if threads == 1 {
            vec![self.run_rows(path, &inputs.data, 0, n)]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let (start, end) = ((t * chunk).min(n), ((t + 1) * chunk).min(n));
                        s.spawn(move || self.run_rows(path, &inputs.data, start, end))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("worker thread panicked")).collect()
            })
        };
        let t_out = &self.model.tensors[self.output()];
        let mut data: Option<Data> = None;
        for part in parts {
            if let Some(d) = part? {
                match &mut data {
                    None => data = Some(d),
                    Some(acc) => {
                        acc.extend_from(&d);
                    }
                }
            }
        }
        let mut shape = vec![n];
        shape.extend_from_slice(&t_out.shape);
        let data = data.unwrap_or_else(|| Value::zeros(t_out.dtype, &[0]).data);
        Ok(Stacked { shape, data })
    }

    /// Samples `start..end` of `inputs`, in groups, on this thread.
    fn run_rows(&self, path: KernelPath, inputs: &Data, start: usize, end: usize) -> Result<Option<Data>, EngineError> {
        if start >= end {
            return Ok(None);
        }
        let mut ws = self.workspace();
        let group = if self.steps.iter().all(|s| batchable(&s.kernel)) { GROUP } else { 1 };
        let per = self.model.tensors[self.input()].num_elements();
        let out_per = self.model.tensors[self.output()].num_elements();
        let mut out: Option<Data> = None;
        let mut i = start;
        while i < end {
            let rows = group.min(end - i);
            let input = ws.values[self.input()].get_or_insert_with(|| Value::zeros(inputs.dtype(), &self.model.tensors[self.input()].shape));
            copy_range(inputs, i * per, rows * per, input);
            let y = ws.run_loaded(self, path, rows)?;
            let out = out.get_or_insert_with(|| {
                let mut d = y.data.clone_empty();
                reserve(&mut d, (end - start) * out_per);
                d
            });
            out.extend_from(&y.data);
            i += rows;
        }
        Ok(out)
    }
}

impl Workspace {
    /// Run one sample; the output borrows the workspace. After the first
    /// call nothing is allocated (for the kernels quantlens ships).
    pub fn run<'a>(&'a mut self, plan: &Plan, input: &Value) -> Result<&'a Value, EngineError> {
        if self.values.len() != plan.model.tensors.len() {
            // A workspace made for another plan: start afresh.
            *self = plan.workspace();
        }
        let t_in = &plan.model.tensors[plan.input()];
        if input.dtype() != t_in.dtype || input.len() != t_in.num_elements() {
            return Err(EngineError::BadInput(format!(
                "input is {} {:?} but the model's input tensor {} is {} {:?}",
                input.dtype(),
                input.shape,
                t_in.index,
                t_in.dtype,
                t_in.shape
            )));
        }
        let slot = self.values[plan.input()].get_or_insert_with(|| Value::zeros(t_in.dtype, &t_in.shape));
        copy_range(&input.data, 0, input.len(), slot);
        self.run_loaded(plan, crate::ops::kernel_path(), 1)
    }

    /// Run the plan on the `rows` samples already in the input slot.
    fn run_loaded(&mut self, plan: &Plan, path: KernelPath, rows: usize) -> Result<&Value, EngineError> {
        for step in &plan.steps {
            let k = &step.kernel;
            let (i, o) = (k.data_input(), k.output());
            let shape = &plan.model.tensors[o].shape;
            let mut out = self.values[o].take().unwrap_or_else(|| Value { shape: shape.clone(), data: Data::I32(Vec::new()) });
            let result = match (k, self.values[i].as_ref()) {
                (_, None) => Err(EngineError::BadInput(format!("tensor {i} has no value yet"))),
                (Kernel::FullyConnected(p), Some(x)) => p.eval_into(path, x, &mut out, &mut self.fc),
                (Kernel::Conv2d(p), Some(x)) => p.eval_into(path, x, &mut out, &mut self.conv),
                (Kernel::DepthwiseConv2d(p), Some(x)) => p.eval_into(path, x, &mut out, &mut self.depthwise),
                (Kernel::Softmax(p), Some(x)) => p.eval_into(x, &mut out, &mut self.xs, &mut self.ys),
                (Kernel::Quantize(p), Some(x)) => p.eval_into(path, x, &mut out, &mut self.xs),
                (Kernel::Dequantize(p), Some(x)) => p.eval_into(x, &mut out),
                (Kernel::Reshape(_), Some(x)) => {
                    copy_range(&x.data, 0, x.len(), &mut out);
                    Ok(())
                }
                #[allow(unreachable_patterns)]
                _ => {
                    debug_assert_eq!(rows, 1);
                    k.eval(&self.values).map(|v| out = v)
                }
            };
            result?;
            if out.shape != *shape {
                out.shape.clone_from(shape);
            }
            self.values[o] = Some(out);
        }
        self.values[plan.output()].as_ref().ok_or_else(|| EngineError::BadInput("the model's output was not produced".into()))
    }
}

/// Kernels whose fast form takes several samples at once.
fn batchable(k: &Kernel) -> bool {
    matches!(k, Kernel::FullyConnected(_) | Kernel::Softmax(_) | Kernel::Quantize(_) | Kernel::Dequantize(_) | Kernel::Reshape(_))
}

/// `dst.data ← src[start..start + len]`, reusing `dst`'s buffer when the dtypes match.
fn copy_range(src: &Data, start: usize, len: usize, dst: &mut Value) {
    macro_rules! copy {
        ($($v:ident),*) => {
            match (src, &mut dst.data) {
                $((Data::$v(s), Data::$v(d)) => {
                    d.clear();
                    d.extend_from_slice(&s[start..start + len]);
                })*
                $((Data::$v(s), d) => *d = Data::$v(s[start..start + len].to_vec()),)*
            }
        };
    }
    copy!(F32, I32, U8, I8, I16, I64, Bool);
}

fn reserve(d: &mut Data, n: usize) {
    match d {
        Data::F32(v) => v.reserve(n),
        Data::I32(v) => v.reserve(n),
        Data::U8(v) => v.reserve(n),
        Data::I8(v) => v.reserve(n),
        Data::I16(v) => v.reserve(n),
        Data::I64(v) => v.reserve(n),
        Data::Bool(v) => v.reserve(n),
    }
}
