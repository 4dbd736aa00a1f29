//! Outputs only: the same kernels as [`Plan::run`], without a [`Trace`](crate::Trace).
//!
//! [`Plan::run`] keeps every tensor of one sample so it can be shown; this
//! option of the run keeps only the model's output, reuses every buffer
//! between samples (a [`Workspace`]), pushes a group of [`GROUP`] samples
//! through each layer at once — FULLY_CONNECTED and CONV_2D as one gemm
//! whose N dimension is the whole group, every other step on the group's
//! buffers — so each layer's weights are read once per group, and can split
//! a batch over threads. A model with a step that has no form for several
//! samples runs its samples one at a time. The bits are the same:
//! FULLY_CONNECTED runs the same packed kernels in both; CONV_2D runs
//! im2col + the packed gemm ([`crate::ops::conv_gemm`]) and
//! DEPTHWISE_CONV_2D an i16 channel loop ([`crate::ops::depthwise_fast`])
//! here, the reference loops in [`Plan::run`], with the same requantization
//! function (the golden tests check both). ADD, SUB, MUL, MEAN over (H, W),
//! the pools, CONCATENATION, PAD and the one-input 8-bit element-wise ops
//! (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, RELU, as 256-entry tables
//! probed from their own kernels) run in vector lanes or as copies
//! ([`crate::ops::elementwise_fast`]). The command line's `run`,
//! `verify --outputs-only` and `diff` of outputs use this path.
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
use crate::ops::elementwise_fast::{self, Lut};
use crate::ops::{conv_gemm, depthwise_fast, fully_connected, KernelPath};
use crate::plan::{Kernel, Plan};
use crate::tensor::{Data, Value};

/// Samples pushed through each layer together by the batch runs.
pub const GROUP: usize = 16;

/// Reusable buffers for running one plan without a trace.
#[derive(Clone, Debug)]
pub struct Workspace {
    values: Vec<Option<Value>>,
    /// Nanoseconds each step took, one entry per run, when timing is on
    /// ([`Workspace::time_steps`]); empty otherwise.
    step_ns: Vec<Vec<u32>>,
    scratch: Scratch,
}

/// The kernels' scratch buffers and tables, kept between runs.
#[derive(Clone, Debug, Default)]
struct Scratch {
    fc: fully_connected::Scratch,
    conv: conv_gemm::Scratch,
    depthwise: depthwise_fast::Scratch,
    xs: Vec<i32>,
    ys: Vec<i32>,
    /// Per step: the 256-entry table of a one-input 8-bit element-wise op,
    /// probed on the step's first run (`Some(None)`: not a table op).
    /// For a MUL, `(table, the operand it reads is input 0)` when it is x·f(x).
    luts: Vec<Option<Option<(Lut, bool)>>>,
    /// MEAN's int32 sums, the pools' accumulators.
    sums: Vec<i32>,
    /// Per step: an ADD's per-input tables (empty for other steps).
    adds: Vec<elementwise_fast::AddTables>,
}

impl Plan {
    /// Buffers for [`Workspace::run`]; make one per thread and reuse it.
    pub fn workspace(&self) -> Workspace {
        let mut values = vec![None; self.model.tensors.len()];
        self.seed_constants(&mut values); // vit: constant operands read at run time
        // float16: a folded operator (DEQUANTIZE float16, DENSIFY) has its value from
        // prepare; the workspace holds it from the start and the runs skip the step.
        for step in &self.steps {
            if let Kernel::Folded(p) = &step.kernel {
                values[p.output] = Some(p.value.clone());
            }
        }
        Workspace { values, step_ns: Vec::new(), scratch: Scratch { luts: vec![None; self.steps.len()], adds: vec![Default::default(); self.steps.len()], ..Default::default() } }
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
        self.run_batch_outputs_progress(inputs, threads, &|_| {})
    }

    /// [`Plan::run_batch_outputs_threads`] that calls `progress(k)` each time
    /// a thread has finished `k` more samples (from any of the threads: a
    /// progress bar's `inc`). The outputs are the same.
    pub fn run_batch_outputs_progress(&self, inputs: &Stacked, threads: usize, progress: &(dyn Fn(usize) + Sync)) -> Result<Stacked, EngineError> {
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
            vec![self.run_rows(path, &inputs.data, 0, n, progress)]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let (start, end) = ((t * chunk).min(n), ((t + 1) * chunk).min(n));
                        s.spawn(move || self.run_rows(path, &inputs.data, start, end, progress))
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
    fn run_rows(&self, path: KernelPath, inputs: &Data, start: usize, end: usize, progress: &(dyn Fn(usize) + Sync)) -> Result<Option<Data>, EngineError> {
        if start >= end {
            return Ok(None);
        }
        let mut ws = self.workspace();
        // Groups of GROUP samples go through each layer together; a model
        // with a step that has no form for several samples runs one at a time.
        let mut group = GROUP;
        let per = self.model.tensors[self.input()].num_elements();
        let out_per = self.model.tensors[self.output()].num_elements();
        let mut out: Option<Data> = None;
        let mut i = start;
        while i < end {
            let rows = group.min(end - i);
            let input = ws.values[self.input()].get_or_insert_with(|| Value::zeros(inputs.dtype(), &self.model.tensors[self.input()].shape));
            copy_range(inputs, i * per, rows * per, input);
            if !ws.run_loaded(self, path, rows)? {
                group = 1;
                continue;
            }
            let y = ws.output(self)?;
            let out = out.get_or_insert_with(|| {
                let mut d = y.data.clone_empty();
                reserve(&mut d, (end - start) * out_per);
                d
            });
            out.extend_from(&y.data);
            i += rows;
            progress(rows);
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
        self.run_loaded(plan, crate::ops::kernel_path(), 1)?;
        self.output(plan)
    }

    /// Time every step of the following runs (the bench's per-op profile):
    /// afterwards [`Workspace::step_median_ns`] gives each step's median time.
    /// Timing adds two clock reads and one stored number per step and run.
    pub fn time_steps(&mut self, plan: &Plan) {
        self.step_ns = vec![Vec::new(); plan.steps.len()];
    }

    /// The median nanoseconds of each step of the plan over the runs since
    /// [`Workspace::time_steps`] (empty when timing is off). The median, not
    /// the mean: on a loaded machine a run preempted for milliseconds would
    /// otherwise charge the whole pause to whichever step it hit.
    pub fn step_median_ns(&self) -> Vec<u64> {
        self.step_ns
            .iter()
            .map(|v| {
                let mut v = v.clone();
                v.sort_unstable();
                v.get(v.len() / 2).copied().unwrap_or(0) as u64
            })
            .collect()
    }

    /// Run the plan on the `rows` samples already in the input slot, layer
    /// by layer: each step takes all `rows` samples at once (the gemm's N
    /// grows by the group, the weights are read once). `Ok(false)` when a
    /// step has no form for several samples (`rows > 1`): the caller then
    /// runs one sample at a time. With `rows == 1` every step runs (its
    /// reference kernel where no fast form applies).
    fn run_loaded(&mut self, plan: &Plan, path: KernelPath, rows: usize) -> Result<bool, EngineError> {
        let timing = self.step_ns.len() == plan.steps.len();
        for (si, step) in plan.steps.iter().enumerate() {
            let start = timing.then(std::time::Instant::now);
            let k = &step.kernel;
            if matches!(k, Kernel::Folded(_)) {
                continue; // float16: already in the workspace (see `Plan::workspace`)
            }
            let (i, o) = (k.data_input(), k.output());
            let shape = &plan.model.tensors[o].shape;
            let mut out = self.values[o].take().unwrap_or_else(|| Value { shape: shape.clone(), data: Data::I32(Vec::new()) });
            let done = match self.values[i].as_ref() {
                None => Err(EngineError::BadInput(format!("tensor {i} has no value yet"))),
                Some(x) => self.scratch.step_into(&self.values, plan, si, path, rows, x, &mut out),
            };
            // No fast form: the reference kernel, for one sample.
            let done = match done? {
                Fast::Done => true,
                Fast::Reference if rows == 1 => {
                    out = k.eval(&self.values)?;
                    true
                }
                Fast::Reference => false,
            };
            if !done {
                self.values[o] = Some(out);
                return Ok(false);
            }
            if let Some(t0) = start {
                self.step_ns[si].push(t0.elapsed().as_nanos().min(u32::MAX as u128) as u32);
            }
            if out.shape != *shape {
                out.shape.clone_from(shape);
            }
            self.values[o] = Some(out);
        }
        Ok(true)
    }

    /// The plan's output after [`Workspace::run_loaded`].
    fn output(&self, plan: &Plan) -> Result<&Value, EngineError> {
        self.values[plan.output()].as_ref().ok_or_else(|| EngineError::BadInput("the model's output was not produced".into()))
    }

}

impl Scratch {
    /// Step `si` on `x` (its data input, holding `rows` samples; the other
    /// operands in `values`) into `out` by its fast form, when it has one.
    #[allow(clippy::too_many_arguments)]
    fn step_into(&mut self, values: &[Option<Value>], plan: &Plan, si: usize, path: KernelPath, rows: usize, x: &Value, out: &mut Value) -> Result<Fast, EngineError> {
        let k = &plan.steps[si].kernel;
        let (i, o) = (k.data_input(), k.output());
        let fast = |applied: bool| if applied { Fast::Done } else { Fast::Reference };
        Ok(match k {
            Kernel::FullyConnected(p) => p.eval_into(path, x, out, &mut self.fc).map(|_| Fast::Done)?,
            Kernel::Conv2d(p) if rows == 1 || p.packed.is_some() => p.eval_into(path, x, out, &mut self.conv).map(|_| Fast::Done)?,
            Kernel::DepthwiseConv2d(p) if rows == 1 || p.packed.is_some() => p.eval_into(path, x, out, &mut self.depthwise).map(|_| Fast::Done)?,
            Kernel::Softmax(p) => p.eval_into(x, out, &mut self.xs, &mut self.ys).map(|_| Fast::Done)?,
            Kernel::Quantize(p) => p.eval_into(path, x, out, &mut self.xs).map(|_| Fast::Done)?,
            Kernel::Dequantize(p) => p.eval_into(x, out).map(|_| Fast::Done)?,
            Kernel::Reshape(_) => {
                copy_range(&x.data, 0, x.len(), out);
                Fast::Done
            }
            // speed (issue 16): the element-wise ops, MEAN, the pools and the
            // moves without a per-image allocation, for every sample at once.
            Kernel::AddSub(p) => fast(values[p.inputs[1]].as_ref().is_some_and(|y| elementwise_fast::add_into(path, p, x, y, out, &mut self.adds[si]))),
            Kernel::Mul(p) => {
                // x·f(x) with f a one-input table op (EfficientNet's swish
                // x·σ(x)) is itself a table of x.
                let fused = self.luts[si].get_or_insert_with(|| swish_table(plan, p));
                match (fused, values[p.inputs[1]].as_ref()) {
                    (Some((l, true)), _) => l.apply(path, x, out).map(|_| Fast::Done)?,
                    (Some((l, false)), Some(y)) => l.apply(path, y, out).map(|_| Fast::Done)?,
                    (None, Some(y)) => fast(elementwise_fast::mul_into(path, p, x, y, out)),
                    _ => Fast::Reference,
                }
            }
            Kernel::MaxPool2d(p) | Kernel::AveragePool2d(p) => fast(elementwise_fast::pool_into(path, p, x, out, &mut self.sums)),
            Kernel::Mean(p) => fast(elementwise_fast::mean_into(path, p, x, out, &mut self.sums)),
            Kernel::Concatenation(p) => fast(elementwise_fast::concat_into(p, |t| values[t].as_ref(), out)),
            Kernel::Pad(p) => fast(elementwise_fast::pad_into(p, x, out)),
            Kernel::Logistic(_) | Kernel::Tanh(_) | Kernel::HardSwish(_) | Kernel::LeakyRelu(_) | Kernel::Relu(_) => {
                let lut = self.luts[si].get_or_insert_with(|| {
                    let (t_in, t_out) = (&plan.model.tensors[i], &plan.model.tensors[o]);
                    if t_in.dtype != t_out.dtype {
                        return None;
                    }
                    Lut::probe(t_in.dtype, |v| unary_eval(k, v)).map(|l| (l, true))
                });
                match lut {
                    Some((l, _)) => l.apply(path, x, out).map(|_| Fast::Done)?,
                    None => Fast::Reference,
                }
            }
            _ => Fast::Reference,
        })
    }
}

/// What [`Workspace::step_into`] did.
enum Fast {
    /// The output is written.
    Done,
    /// No fast form applies: the reference kernel must run (one sample).
    Reference,
}

/// The reference kernel of a one-input element-wise op on `v` alone (the
/// table probe of [`Lut::probe`]).
fn unary_eval(k: &Kernel, v: &Value) -> Result<Value, EngineError> {
    match k {
        Kernel::Logistic(p) => p.eval(v),
        Kernel::Tanh(p) => p.eval(v),
        Kernel::HardSwish(p) => p.eval(v),
        Kernel::LeakyRelu(p) => p.eval(v),
        Kernel::Relu(p) => p.eval(v),
        _ => Err(EngineError::BadInput("not a one-input element-wise op".into())),
    }
}

/// The table of a MUL of `t` by `f(t)`, `f` a one-input element-wise op
/// (either operand order), both 8-bit of one dtype and of the same shape:
/// `y = MUL(v, f(v))` for the 256 values `v`, each half computed by its own
/// reference kernel. With it, whether `t` is input 0 of the MUL. `None` for
/// any other MUL.
fn swish_table(plan: &Plan, p: &crate::ops::mul::Params) -> Option<(Lut, bool)> {
    if !p.broadcast.same_shape {
        return None;
    }
    let [a, b] = p.inputs;
    let dtype = plan.model.tensors[a].dtype;
    if plan.model.tensors[b].dtype != dtype || plan.model.tensors[p.output].dtype != dtype {
        return None;
    }
    for (t, ft, first) in [(a, b, true), (b, a, false)] {
        let Some(step) = plan.step_for_tensor(ft) else { continue };
        if step.kernel.data_input() != t || step.kernel.inputs().len() != 1 {
            continue;
        }
        let k = &step.kernel;
        let lut = Lut::probe(dtype, |v| {
            let fv = unary_eval(k, v)?;
            if first {
                p.eval(v, &fv)
            } else {
                p.eval(&fv, v)
            }
        });
        if let Some(l) = lut {
            return Some((l, first));
        }
    }
    None
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
