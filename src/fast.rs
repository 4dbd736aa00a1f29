//! Outputs only: the same kernels as [`Plan::run`], without a [`Trace`](crate::Trace).
//!
//! [`Plan::run`] keeps every tensor of one sample so it can be shown; this
//! option of the run keeps only the model's output, reuses every buffer
//! between samples (a [`Workspace`]; the batch runs keep theirs in the plan
//! from one run to the next), pushes a group of samples (up to [`GROUP`],
//! as many as [`Plan::batch_group`] finds fit the cache) through each layer
//! at once — FULLY_CONNECTED and CONV_2D as one gemm whose N dimension is
//! the whole group, every other step on the group's buffers — so each
//! layer's weights are read once per group, and can split a batch over
//! threads (each a contiguous share of the samples). A model with a step that has no form for several
//! samples runs its samples one at a time. The bits are the same:
//! FULLY_CONNECTED runs the same packed kernels in both; CONV_2D runs
//! im2col + the packed gemm ([`crate::ops::conv_gemm`]) and
//! DEPTHWISE_CONV_2D a one-pass channel-vector loop ([`crate::ops::depthwise_fast`])
//! here, the reference loops in [`Plan::run`], with the same requantization
//! function (the golden tests check both). ADD, SUB, MUL, MEAN over (H, W),
//! the pools, CONCATENATION, PAD and the one-input 8-bit element-wise ops
//! (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, RELU, as 256-entry tables
//! probed from their own kernels) run in vector lanes or as copies
//! ([`crate::ops::elementwise_fast`]); a MUL that reads a table op's output
//! reads it through the table, and a table op read only that way is skipped
//! (`fusion`). The command line's `run`,
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
use fusion::{Fusion, MulForm};

mod fixed;
mod fusion;

/// The most samples the batch runs push through each layer together.
pub const GROUP: usize = 16;

/// The bytes a group's buffers of one step may take (see
/// [`Plan::batch_group`]): a quarter of the 1 MB second-level cache of the
/// cores quantlens is measured on, leaving room for the layer's weights.
/// Measured (CPU time per image, one thread): MobileNetV2 and EfficientNet-B0
/// w0.5 (64 KB per sample in their widest step) are 10–15 % faster in groups
/// of 4–16 than one at a time, and no faster at 8 or 16 than at 4 while the
/// command line's page faults grow with the group; the full EfficientNet-B0
/// (128 KB) is 12 % faster at 4 than at 1; the MLPs (3 KB) gain 2× from
/// groups of 8–16.
pub const GROUP_BYTES: usize = 256 * 1024;

/// Reusable buffers for running one plan without a trace.
#[derive(Clone, Debug)]
pub struct Workspace {
    values: Vec<Option<Value>>,
    /// Nanoseconds each step took, one entry per run, when timing is on
    /// ([`Workspace::time_steps`]); empty otherwise.
    step_ns: Vec<Vec<u32>>,
    scratch: Scratch,
    /// A batch run found a step with no form for several samples: the
    /// plan's later batch runs in this workspace go one sample at a time.
    one_at_a_time: bool,
    /// Per step: its output is fixed by the declared shapes, computed when
    /// the workspace was made ([`fixed`]); the runs skip it.
    fixed: Vec<bool>,
    /// Per step: its data input and output tensors (looked up once: each is a
    /// match over every kernel, and the runs need them per step).
    io: Vec<(usize, usize)>,
    /// Per step: where its output tensor's declared shape lies in `dims`.
    dims_at: Vec<(usize, usize)>,
    /// Every step's declared output shape, end to end: the check after each
    /// step reads this one small array instead of each output tensor's
    /// record and its shape's own allocation (two dependent cache misses per
    /// step, once the convolutions' weights have passed through the cache).
    dims: Vec<usize>,
}

/// The kernels' scratch buffers and tables, kept between runs.
#[derive(Clone, Debug, Default)]
struct Scratch {
    fc: fully_connected::Scratch,
    conv: conv_gemm::Scratch,
    depthwise: depthwise_fast::Scratch,
    xs: Vec<i32>,
    ys: Vec<i32>,
    /// Per step: the 256-entry table of a one-input 8-bit element-wise op
    /// (or of a MEAN of one term per output, `elementwise_fast::mean_table`),
    /// probed on the step's first run (`Some(None)`: not a table op).
    luts: Vec<Option<Option<(Lut, bool)>>>,
    /// The MULs' forms and the table ops they make unneeded, on the first run.
    fusion: Option<Fusion>,
    /// The gate MUL's per-gate-element constants.
    gate: elementwise_fast::GateScratch,
    /// A MUL operand read through a table, materialised when no fused form applies.
    operand: Option<Value>,
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
        // speed (issue 16): SHAPE and the steps computed only from it (the converter's Flatten).
        let fixed: Vec<bool> = fixed::fixed_values(self)
            .into_iter()
            .zip(&self.steps)
            .map(|(v, step)| v.map(|v| values[step.kernel.output()] = Some(v)).is_some())
            .collect();
        let io = self.steps.iter().map(|s| (s.kernel.data_input(), s.kernel.output())).collect();
        let (mut dims, mut dims_at) = (Vec::new(), Vec::with_capacity(self.steps.len()));
        for s in &self.steps {
            let shape = &self.model.tensors[s.kernel.output()].shape;
            dims_at.push((dims.len(), shape.len()));
            dims.extend_from_slice(shape);
        }
        Workspace { values, step_ns: Vec::new(), one_at_a_time: false, fixed, io, dims_at, dims, scratch: Scratch { luts: vec![None; self.steps.len()], adds: vec![Default::default(); self.steps.len()], ..Default::default() } }
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
        self.run_batch_outputs_grouped(inputs, threads, self.batch_group(), progress)
    }

    /// [`Plan::run_batch_outputs_progress`] with `group` samples through each
    /// layer together instead of [`Plan::batch_group`]'s choice (1: one
    /// sample at a time, as [`Workspace::run`]). The outputs are the same
    /// for every `group`; only the speed differs.
    pub fn run_batch_outputs_grouped(&self, inputs: &Stacked, threads: usize, group: usize, progress: &(dyn Fn(usize) + Sync)) -> Result<Stacked, EngineError> {
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
        let group = group.max(1);
        let chunk = n.div_ceil(threads);
        let share = |t: usize| ((t * chunk).min(n), ((t + 1) * chunk).min(n));
        // Thread 0's share runs on the calling thread while the others run
        // theirs: one spawn fewer, and each thread a fixed contiguous range.
        let parts: Vec<Result<Option<Data>, EngineError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (1..threads)
                .map(|t| {
                    let (start, end) = share(t);
                    s.spawn(move || self.run_rows(path, group, &inputs.data, start, end, progress))
                })
                .collect();
            let (start, end) = share(0);
            let first = self.run_rows(path, group, &inputs.data, start, end, progress);
            std::iter::once(first).chain(handles.into_iter().map(|h| h.join().expect("worker thread panicked"))).collect()
        });
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

    /// Samples pushed through each layer together by the batch runs of this
    /// plan. A group shares each layer's weights (read once per group, not
    /// once per sample) and its per-call work; it costs buffers `group` times
    /// larger, which leave the cache between layers and, in a fresh process
    /// (the command line), are page-faulted in at several µs per 4 KB page.
    /// So: one sample at a time when all the weights take fewer bytes than
    /// one sample's widest step (the project CNN: 3 KB of weights, 53 KB per
    /// sample — its groups ran no faster and the CLI 25 % slower); otherwise
    /// as many as keep the widest step's buffers within [`GROUP_BYTES`], at
    /// least 1 and at most [`GROUP`] (the MLPs 16, MobileNetV2 and
    /// EfficientNet-B0 w0.5 4, EfficientNet-B0 2).
    pub fn batch_group(&self) -> usize {
        let widest = self.steps.iter().map(|s| self.step_bytes(&s.kernel)).max().unwrap_or(0).max(1);
        let weights: usize = self.model.tensors.iter().filter(|t| t.is_constant()).map(|t| t.num_elements() * t.dtype.size()).sum();
        if weights < widest {
            return 1;
        }
        (GROUP_BYTES / widest).clamp(1, GROUP)
    }

    /// Bytes one sample makes step `k` touch: its run-time inputs and its
    /// output, plus the fast kernels' own buffers (the int32 accumulators of
    /// CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, CONV_2D's patch
    /// matrix, DEPTHWISE_CONV_2D's padded int16 copy of the input).
    fn step_bytes(&self, k: &Kernel) -> usize {
        let tensor = |t: usize| {
            let t = &self.model.tensors[t];
            t.num_elements() * t.dtype.size()
        };
        let out = &self.model.tensors[k.output()];
        let acc = 4 * out.num_elements();
        let own = match k {
            Kernel::Conv2d(p) => {
                let g = &p.geometry;
                acc + g.out_h * g.out_w * g.k_h * g.k_w * g.in_c
            }
            Kernel::DepthwiseConv2d(p) => {
                let g = &p.geometry;
                acc + 2 * (g.in_h + g.k_h) * (g.in_w + g.k_w) * g.in_c
            }
            Kernel::FullyConnected(_) => acc,
            _ => 0,
        };
        k.inputs().into_iter().map(tensor).sum::<usize>() + tensor(k.output()) + own
    }

    /// Samples `start..end` of `inputs`, in groups of `group`, on this thread,
    /// in a workspace from the plan's pool (returned to it afterwards).
    fn run_rows(&self, path: KernelPath, group: usize, inputs: &Data, start: usize, end: usize, progress: &(dyn Fn(usize) + Sync)) -> Result<Option<Data>, EngineError> {
        if start >= end {
            return Ok(None);
        }
        let mut ws = self.pool.take().unwrap_or_else(|| self.workspace());
        let out = self.run_rows_in(&mut ws, path, group, inputs, start, end, progress);
        self.pool.put(ws);
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn run_rows_in(&self, ws: &mut Workspace, path: KernelPath, group: usize, inputs: &Data, start: usize, end: usize, progress: &(dyn Fn(usize) + Sync)) -> Result<Option<Data>, EngineError> {
        // Groups go through each layer together; a model with a step that
        // has no form for several samples runs one at a time.
        let mut group = if ws.one_at_a_time { 1 } else { group };
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
                ws.one_at_a_time = true;
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

/// The workspaces of a plan's batch runs, kept between runs: a batch of a
/// few images (MobileNetV2's 16, EfficientNet's 3) would otherwise pay for
/// a fresh workspace each run — its buffers first touched, its element-wise
/// tables probed (≈ 200 µs on EfficientNet-B0), once per thread. A clone of
/// the plan starts with an empty pool.
#[derive(Default)]
pub struct WorkspacePool(std::sync::Mutex<Vec<Workspace>>);

impl WorkspacePool {
    fn take(&self) -> Option<Workspace> {
        self.0.lock().ok()?.pop()
    }

    fn put(&self, ws: Workspace) {
        if let Ok(mut v) = self.0.lock() {
            v.push(ws);
        }
    }
}

impl Clone for WorkspacePool {
    fn clone(&self) -> Self {
        WorkspacePool::default()
    }
}

impl std::fmt::Debug for WorkspacePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |v| v.len());
        write!(f, "WorkspacePool({n} kept)")
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
            if matches!(k, Kernel::Folded(_)) || self.fixed[si] {
                continue; // float16, or fixed by the shapes: already in the workspace (see `Plan::workspace`)
            }
            if self.scratch.fusion.get_or_insert_with(|| Fusion::new(plan)).skip[si] {
                continue; // read only through its table by fused MULs (`fusion`)
            }
            let (i, o) = self.io[si];
            let (at, rank) = self.dims_at[si];
            let shape = &self.dims[at..at + rank];
            let mut out = self.values[o].take().unwrap_or_else(|| Value { shape: shape.to_vec(), data: Data::I32(Vec::new()) });
            let done = match self.values[i].as_ref() {
                None => Err(EngineError::BadInput(format!("tensor {i} has no value yet"))),
                Some(x) => self.scratch.step_into(&self.values, plan, si, (i, o), path, rows, x, &mut out),
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
            // Compared in line: `!=` on the slices is a `memcmp` call per step
            // (measured ≈ 1 % of MobileNetV2's run).
            if out.shape.len() != shape.len() || out.shape.iter().zip(shape).any(|(a, b)| a != b) {
                out.shape.clear();
                out.shape.extend_from_slice(shape);
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
    /// Step `si` on `x` (its data input `i`, holding `rows` samples; the other
    /// operands in `values`) into `out` (tensor `o`) by its fast form, when it has one.
    #[allow(clippy::too_many_arguments)]
    fn step_into(&mut self, values: &[Option<Value>], plan: &Plan, si: usize, (i, o): (usize, usize), path: KernelPath, rows: usize, x: &Value, out: &mut Value) -> Result<Fast, EngineError> {
        let k = &plan.steps[si].kernel;
        let fast = |applied: bool| if applied { Fast::Done } else { Fast::Reference };
        Ok(match k {
            Kernel::FullyConnected(p) => p.eval_into(path, x, out, &mut self.fc).map(|_| Fast::Done)?,
            Kernel::Conv2d(p) if rows == 1 || p.packed.is_some() => p.eval_into(path, x, out, &mut self.conv).map(|_| Fast::Done)?,
            Kernel::DepthwiseConv2d(p) if rows == 1 || p.packed.is_some() => p.eval_into(path, x, out, &mut self.depthwise).map(|_| Fast::Done)?,
            Kernel::Softmax(p) if crate::ops::softmax_fast::rows_into(p, x, out) => Fast::Done, // mlp (issue 16): 8-bit rows, bytes to bytes
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
                let fusion = self.fusion.get_or_insert_with(|| Fusion::new(plan));
                mul_step(values, fusion.mul[si].as_ref(), p, path, rows, x, out, &mut self.gate, &mut self.operand)?
            }
            Kernel::MaxPool2d(p) | Kernel::AveragePool2d(p) => fast(elementwise_fast::pool_into(path, p, x, out, &mut self.sums)),
            // speed (issue 16): a MEAN of one term per output (a 1×1 map) is a table op.
            Kernel::Mean(p) => match self.luts[si].get_or_insert_with(|| elementwise_fast::mean_table(p).map(|l| (l, true))) {
                Some((l, _)) if x.dtype() == p.output_dtype => l.apply(path, x, out).map(|_| Fast::Done)?,
                _ => fast(elementwise_fast::mean_into(path, p, x, out, &mut self.sums)),
            },
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
            // uint8_tconv (issue 14): uint8 TRANSPOSE_CONV, every sample, its int32 sums in `sums`
            Kernel::Vision(crate::ops::vision::VisionOp::TransposeConv(p)) if matches!(p.arith, crate::ops::transpose_conv::Arith::Uint8 { .. }) => {
                p.eval_uint8_into(x, out, &mut self.sums).map(|_| Fast::Done)?
            }
            _ => Fast::Reference,
        })
    }
}

/// MUL step on `x` (its input 0) by its fused `form` ([`fusion`]), or the
/// generic element-wise form, or (one sample) the reference kernel.
#[allow(clippy::too_many_arguments)]
fn mul_step(
    values: &[Option<Value>],
    form: Option<&MulForm>,
    p: &crate::ops::mul::Params,
    path: KernelPath,
    rows: usize,
    x: &Value,
    out: &mut Value,
    gate_scratch: &mut elementwise_fast::GateScratch,
    operand: &mut Option<Value>,
) -> Result<Fast, EngineError> {
        let get = |t: usize| values[t].as_ref().ok_or_else(|| EngineError::BadInput(format!("tensor {t} has no value yet")));
        match form {
            Some(MulForm::Table { lut, t }) => return lut.apply(path, get(*t)?, out).map(|_| Fast::Done),
            Some(MulForm::Gate { full, gate, lut, m, gate_is_b }) => {
                let (f, g) = (get(*full)?, get(*gate)?);
                if elementwise_fast::gate_into(path, p, *m, *gate_is_b, f, g, lut.as_ref(), out, gate_scratch) {
                    return Ok(Fast::Done);
                }
                if let Some(l) = lut {
                    // The gate's table op was skipped: its output, then the generic forms.
                    let operand = operand.get_or_insert_with(|| Value::zeros(g.dtype(), &g.shape));
                    operand.shape.clone_from(&g.shape);
                    l.apply(path, g, operand)?;
                    let (a, b) = if *gate_is_b { (f, &*operand) } else { (&*operand, f) };
                    return Ok(if elementwise_fast::mul_into(path, p, a, b, out) {
                        Fast::Done
                    } else if rows == 1 {
                        *out = p.eval(a, b)?;
                        Fast::Done
                    } else {
                        Fast::Reference
                    });
                }
            }
            None => {}
        }
        Ok(match values[p.inputs[1]].as_ref() {
            Some(y) if elementwise_fast::mul_into(path, p, x, y, out) => Fast::Done,
            _ => Fast::Reference,
        })
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
