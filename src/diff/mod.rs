//! Debug *your* implementation: compare your per-layer outputs with the
//! runtime's, find the first tensor where they part, and say why.
//!
//! ```text
//! your dumps (t<k>.npy or <tensor name>.npy, shape (N, …))
//!     │  compared in execution order with quantlens' run of the same inputs
//!     ▼
//! first divergent tensor ── the op that produced it ── recomputed under
//! every known mistake (zero points, S3, M, transposed weights, bias, clamp,
//! rounding rules, per-channel scales) ── the mistake that reproduces your
//! values is the likely cause
//! ```
//!
//! Integer dumps are compared exactly. Float dumps of a quantized tensor are
//! compared with the dequantized values `S·(q − Z)`: an element differs when
//! it is more than half a quantization step away, and differences are also
//! reported in steps (quantized units).
//!
//! ```no_run
//! use quantlens::{diff, io::read_samples, Model, Plan, Profile};
//! let plan = Plan::new(Model::from_path("data/models/mlp_ptq_uint8io.tflite")?, Profile::TfliteRef)?;
//! let inputs = read_samples("data/goldens/mlp_ptq_uint8io/input.npy")?.samples();
//! let yours = diff::Yours::read_dir(&plan.model, "my_dumps")?;
//! let report = diff::diff(&plan, &inputs, &yours)?;
//! print!("{}", report.render());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cause;
mod simulate;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub use cause::{Candidate, LayerFacts, Mistake, PerTensorChoice, Rule, ScaleUsed, SoftmaxVariant};
pub use simulate::simulate;
use cause::ReqCtx;

use crate::error::Error;
use crate::io::{read_samples, Stacked};
use crate::model::{Activation, DType, Model};
use crate::ops::{fully_connected, quantize, softmax};
use crate::plan::{Kernel, Plan};
use crate::profile::{Profile, SoftmaxMethod};
use crate::quant;
use crate::tensor::{Data, Value};
use crate::trace::Trace;
use crate::verify::stack_tensor;

fn bad(path: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Io { path: path.into(), message: message.into() }
}

/// Your per-tensor outputs, each `(N, …)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Yours {
    /// Tensor index → your values over all samples.
    pub arrays: BTreeMap<usize, Stacked>,
    /// Tensor index → where the values came from (file name).
    pub sources: BTreeMap<usize, String>,
}

/// A tensor name as a file name: every character outside `[A-Za-z0-9._-]` becomes `_`.
pub fn sanitize_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect()
}

impl Yours {
    /// Nothing yet.
    pub fn new() -> Yours {
        Yours::default()
    }

    /// Read every `.npy` under `dir` (sub-folders included).
    ///
    /// A file names a tensor in one of three ways:
    /// * `t<k>.npy`: tensor `k` (what `quantlens run --dump` writes);
    /// * its path below `dir` without `.npy` is the tensor's name: a name with
    ///   `/` in it (`mlp_1/fc1_1/MatMul;…`) is found as sub-folders, the way
    ///   `np.save(f"{dir}/{name}.npy", …)` writes it;
    /// * the same with every character outside `[A-Za-z0-9._-]` (the `/` too)
    ///   replaced by `_` ([`sanitize_name`]).
    ///
    /// Accepted shapes: `(N, *tensor shape)` as `run --dump` writes, or any
    /// `(N, …)` with the tensor's element count per sample (e.g. `(N, 512)`
    /// for a `[1, 512]` tensor); `N` must equal the number of input samples.
    ///
    /// Every `.npy` must name a tensor: a stray file is an error that lists it
    /// (a typo in a name would otherwise leave that tensor silently unchecked).
    pub fn read_dir(model: &Model, dir: impl AsRef<Path>) -> Result<Yours, Error> {
        let dir = dir.as_ref();
        let shown = dir.display().to_string();
        if !dir.is_dir() {
            return Err(bad(shown, "not a directory"));
        }
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for t in &model.tensors {
            by_name.entry(t.name.clone()).or_insert(t.index);
        }
        for t in &model.tensors {
            by_name.entry(sanitize_name(&t.name)).or_insert(t.index);
        }
        let mut entries = Vec::new();
        collect_npy(dir, &mut entries)?;
        entries.sort();
        let mut yours = Yours::new();
        let mut stray = Vec::new();
        for path in entries {
            // The path below `dir`, `/`-separated, without `.npy`.
            let rel = path.strip_prefix(dir).unwrap_or(&path).with_extension("");
            let rel: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            let stem = rel.join("/");
            let file = format!("{stem}.npy");
            let index = stem
                .strip_prefix('t')
                .and_then(|k| k.parse::<usize>().ok())
                .filter(|&k| k < model.tensors.len() && stem == format!("t{k}"))
                .or_else(|| by_name.get(&stem).copied())
                .or_else(|| by_name.get(&sanitize_name(&stem)).copied());
            let Some(k) = index else {
                stray.push(file);
                continue;
            };
            if let Some(prev) = yours.sources.get(&k) {
                return Err(bad(path.display().to_string(), format!("tensor t{k} is also given by {prev}")));
            }
            let s = read_samples(&path)?;
            yours.arrays.insert(k, s);
            yours.sources.insert(k, file);
        }
        if !stray.is_empty() {
            return Err(bad(
                shown,
                format!(
                    "{} .npy file(s) name no tensor of the model (expected t<k>.npy or a tensor name, `/` as sub-folders): {}",
                    stray.len(),
                    stray.join(", ")
                ),
            ));
        }
        if yours.arrays.is_empty() {
            return Err(bad(shown, "no .npy file under it (expected t<k>.npy or <tensor name>.npy)"));
        }
        Ok(yours)
    }

    /// Add your values of tensor `t` (shape `(N, …)`).
    pub fn insert(&mut self, tensor: usize, values: Stacked) {
        self.arrays.insert(tensor, values);
        self.sources.insert(tensor, format!("t{tensor} (in memory)"));
    }

    /// Add integer values of tensor `t` for `n` samples, row-major (N, len/N).
    pub fn insert_i32(&mut self, tensor: usize, n: usize, values: Vec<i32>) {
        let per = values.len().checked_div(n).unwrap_or(0);
        self.insert(tensor, Stacked { shape: vec![n, per], data: Data::I32(values) });
    }

    /// Add float values (real numbers, e.g. dequantized) of tensor `t` for `n` samples.
    pub fn insert_f32(&mut self, tensor: usize, n: usize, values: Vec<f32>) {
        let per = values.len().checked_div(n).unwrap_or(0);
        self.insert(tensor, Stacked { shape: vec![n, per], data: Data::F32(values) });
    }

    /// Write every array as `DIR/t<k>.npy` (the layout `quantlens diff --yours` reads).
    pub fn write_dir(&self, dir: impl AsRef<Path>) -> Result<(), Error> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| bad(dir.display().to_string(), e.to_string()))?;
        for (k, s) in &self.arrays {
            s.write_npy(&dir.join(format!("t{k}.npy")))?;
        }
        Ok(())
    }
}

/// Every `.npy` file under `dir`, depth first.
fn collect_npy(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| bad(dir.display().to_string(), e.to_string()))?;
    for e in entries {
        let path = e.map_err(|e| bad(dir.display().to_string(), e.to_string()))?.path();
        if path.is_dir() {
            collect_npy(&path, out)?;
        } else if path.is_file() && path.extension().and_then(|x| x.to_str()) == Some("npy") {
            out.push(path);
        }
    }
    Ok(())
}

/// How a tensor was compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareMode {
    /// Integers, exactly.
    Exact,
    /// Your floats against `S·(q − Z)`, within half a step.
    HalfStep,
    /// Floats against floats (a float tensor), with a small tolerance.
    Tolerance,
}

/// One differing element.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    pub sample: usize,
    /// Flat index within the sample.
    pub element: usize,
    pub yours: f64,
    pub expected: f64,
}

/// How one of your tensors compares.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorComparison {
    pub tensor: usize,
    pub name: String,
    /// The operator that produced it (`None` for the graph input).
    pub op: Option<usize>,
    pub op_kind: String,
    pub source: String,
    pub yours_dtype: DType,
    pub expected_dtype: DType,
    pub mode: CompareMode,
    /// Elements compared (samples × tensor size).
    pub elements: usize,
    pub differing: usize,
    /// Largest |yours − expected| in your units (integers, or real values for float dumps).
    pub max_abs_diff: f64,
    /// Largest difference in quantization steps (quantized tensors only).
    pub max_diff_steps: Option<f64>,
    /// Differing elements per sample.
    pub differing_per_sample: Vec<usize>,
    pub first_mismatch: Option<Mismatch>,
    /// Why it differs, for the first divergent tensor and for later ones
    /// whose op input you also gave.
    pub diagnosis: Option<Diagnosis>,
}

impl TensorComparison {
    /// True when no element differs.
    pub fn matches(&self) -> bool {
        self.differing == 0
    }

    /// Fraction of elements that differ.
    pub fn fraction_differing(&self) -> f64 {
        if self.elements == 0 {
            0.0
        } else {
            self.differing as f64 / self.elements as f64
        }
    }
}

/// Why an op's output differs.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnosis {
    pub tensor: usize,
    pub op: usize,
    pub op_kind: String,
    /// The op's data input.
    pub input: usize,
    /// True when the recomputation started from your own values of `input`.
    pub input_from_yours: bool,
    /// Elements of the op's output.
    pub total: usize,
    /// Elements the correct computation reproduces from that input.
    pub baseline_matched: usize,
    /// Explanations that reproduce more of your values than the correct
    /// computation, best first.
    pub candidates: Vec<Candidate>,
    /// Hypotheses tried.
    pub tried: usize,
    pub facts: Option<LayerFacts>,
}

impl Diagnosis {
    /// The diagnosis of tensor `t`, output of operator `op` computed from
    /// `input`, with nothing searched yet: no candidates, nothing matched.
    fn unsearched(plan: &Plan, t: usize, op: usize, input: usize, input_from_yours: bool, total: usize) -> Diagnosis {
        Diagnosis {
            tensor: t,
            op,
            op_kind: plan.model.operators[op].kind.name(),
            input,
            input_from_yours,
            total,
            baseline_matched: 0,
            candidates: vec![],
            tried: 0,
            facts: None,
        }
    }

    /// True when the correct op applied to your own input gives your output:
    /// this op is right, the divergence comes from before.
    pub fn is_inherited(&self) -> bool {
        self.input_from_yours && self.baseline_matched == self.total
    }

    /// The candidate that reproduces most of your values (it may explain
    /// only some of them: see [`Diagnosis::explained`]).
    pub fn best(&self) -> Option<&Candidate> {
        self.candidates.first()
    }

    /// How many of the op's values a likely cause may leave unexplained:
    /// 0.1 % of them, rounded down (none for fewer than 1 000 values).
    pub fn handful(&self) -> usize {
        self.total / 1000
    }

    /// The best candidate, when it reproduces all of your values or all but
    /// [`Diagnosis::handful`] of them. A candidate that explains 65 % is a
    /// clue, not a cause: it is shown as "closest", never as "likely cause".
    pub fn explained(&self) -> Option<&Candidate> {
        self.best().filter(|b| b.total - b.matched.min(b.total) <= self.handful())
    }

    /// Candidates that fit exactly as well as the best (indistinguishable on these inputs).
    pub fn tied(&self) -> Vec<&Candidate> {
        match self.best() {
            None => vec![],
            Some(b) => self
                .candidates
                .iter()
                .filter(|c| c.matched == b.matched && c.mistakes.len() == b.mistakes.len() && c.later_matched == b.later_matched)
                .collect(),
        }
    }

    /// Describe a candidate with this layer's numbers.
    pub fn describe(&self, c: &Candidate) -> String {
        let facts = self.facts.clone().unwrap_or_else(|| LayerFacts {
            is_fc: false,
            output: self.tensor,
            s1: 0.0,
            z1: 0,
            s3: 0.0,
            z3: 0,
            z2_summary: String::new(),
            m_example: 0.0,
            in_features: 0,
            out_features: 0,
            act_min: 0,
            act_max: 0,
            activation: String::new(),
            rule: Rule::Runtime(crate::profile::Rounding::DoubleHalfAway),
            user_dtype: None,
            weight_dtype: None,
        });
        c.mistakes.iter().map(|m| m.describe(&facts)).collect::<Vec<_>>().join("; and ")
    }
}

/// Settings of [`diff_with`].
#[derive(Clone, Debug, PartialEq)]
pub struct DiffOptions {
    /// Also try every pair of mistakes when no single one explains all values.
    pub pairs: bool,
    /// Samples used to pre-screen pairs (the best are then scored on all).
    pub pair_screen_samples: usize,
    /// Candidates kept per diagnosis.
    pub keep: usize,
    /// Diagnose later divergent tensors whose op input you gave, too.
    pub diagnose_later: bool,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions { pairs: true, pair_screen_samples: 32, keep: 8, diagnose_later: true }
    }
}

/// The whole comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffReport {
    pub profile: Profile,
    pub samples: usize,
    /// Your tensors, in execution order.
    pub tensors: Vec<TensorComparison>,
    /// Op-produced tensors you did not give.
    pub not_provided: Vec<usize>,
}

impl DiffReport {
    /// True when every tensor you gave matches (see [`DiffReport::is_full_match`]).
    pub fn is_match(&self) -> bool {
        self.tensors.iter().all(|t| t.matches())
    }

    /// True when you gave every op-produced tensor and each matches.
    pub fn is_full_match(&self) -> bool {
        self.is_match() && self.not_provided.is_empty()
    }

    /// The first of your tensors (in execution order) that differs.
    pub fn first_divergence(&self) -> Option<&TensorComparison> {
        self.tensors.iter().find(|t| !t.matches())
    }

    /// The likely cause at the first divergent tensor: a candidate that
    /// reproduces all of your values there, or all but a handful
    /// ([`Diagnosis::explained`]).
    pub fn likely_cause(&self) -> Option<&Candidate> {
        self.first_divergence()?.diagnosis.as_ref()?.explained()
    }

    /// The report as text (what `quantlens diff` prints).
    pub fn render(&self) -> String {
        let mut s = String::new();
        s += &format!(
            "quantlens diff — profile {}, {} samples, {} tensor(s) of yours compared in execution order\n",
            self.profile,
            self.samples,
            self.tensors.len()
        );
        s += &format!(
            "{:>6}  {:<16} {:>3}  {:<7} {:<9} {:>10} {:>10} {:>10} {:>9}  {}\n",
            "tensor", "op", "#", "yours", "compare", "elements", "differ", "max|d|", "steps", "file"
        );
        for t in &self.tensors {
            s += &format!(
                "{:>6}  {:<16} {:>3}  {:<7} {:<9} {:>10} {:>10} {:>10} {:>9}  {}\n",
                format!("t{}", t.tensor),
                t.op_kind,
                t.op.map_or("-".into(), |o| o.to_string()),
                t.yours_dtype.name().to_lowercase(),
                match t.mode {
                    CompareMode::Exact => "exact",
                    CompareMode::HalfStep => "½ step",
                    CompareMode::Tolerance => "tol",
                },
                t.elements,
                t.differing,
                fmt_num(t.max_abs_diff),
                t.max_diff_steps.map_or("-".into(), fmt_num),
                t.source
            );
        }
        if !self.not_provided.is_empty() {
            s += &format!(
                "not provided: {}\n",
                self.not_provided.iter().map(|t| format!("t{t}")).collect::<Vec<_>>().join(", ")
            );
        }
        let Some(first) = self.first_divergence() else {
            if self.is_full_match() {
                s += &format!(
                    "FULL MATCH: all {} op-produced tensor(s) given, every element equal to the {} profile's values\n",
                    self.tensors.iter().filter(|t| t.op.is_some()).count(),
                    self.profile
                );
            } else {
                s += &format!(
                    "MATCH ON THE {} TENSOR(S) YOU GAVE (not a full match); not given: {}\n",
                    self.tensors.len(),
                    self.not_provided.iter().map(|t| format!("t{t}")).collect::<Vec<_>>().join(", ")
                );
            }
            return s;
        };
        s += &format!(
            "\nFIRST DIVERGENT TENSOR: t{} ({}), produced by op {} {} — {} of {} elements differ\n",
            first.tensor,
            first.name,
            first.op.map_or("-".into(), |o| o.to_string()),
            first.op_kind,
            first.differing,
            first.elements
        );
        if let Some(m) = &first.first_mismatch {
            s += &format!(
                "  first differing element: sample {}, element {}: yours {}, expected {}\n",
                m.sample,
                m.element,
                fmt_num(m.yours),
                fmt_num(m.expected)
            );
        }
        match &first.diagnosis {
            Some(d) => s += &render_diagnosis(d, true),
            None => s += "  (no op to recompute)\n",
        }
        for t in self.tensors.iter().skip_while(|t| t.tensor != first.tensor).skip(1) {
            if t.matches() {
                continue;
            }
            match &t.diagnosis {
                Some(d) if d.is_inherited() => {
                    s += &format!("t{}: differs, but op {} {} is right given your t{} (divergence inherited)\n", t.tensor, d.op, d.op_kind, d.input)
                }
                Some(d) if d.input_from_yours => {
                    s += &format!("t{}: op {} {} is also wrong given your own t{}:\n", t.tensor, d.op, d.op_kind, d.input);
                    s += &render_diagnosis(d, false);
                }
                _ => {}
            }
        }
        s
    }

    /// Divergence per tensor as a bar chart (percent of elements differing).
    #[cfg(feature = "charts")]
    pub fn chart(&self) -> crate::charts::Chart {
        let bars: Vec<crate::charts::Bar> = self
            .tensors
            .iter()
            .map(|t| crate::charts::Bar {
                label: format!("t{}\n{}", t.tensor, t.op_kind),
                value: 100.0 * t.fraction_differing(),
                highlight: self.first_divergence().is_some_and(|f| f.tensor == t.tensor),
                note: if t.differing == 0 { "=".into() } else { format!("{} (max {})", t.differing, fmt_num(t.max_abs_diff)) },
            })
            .collect();
        let title = match self.first_divergence() {
            Some(f) => format!(
                "Where your implementation diverges ({}): first at t{} — {}",
                self.profile,
                f.tensor,
                self.likely_cause().map_or("cause unknown".into(), |c| c.key())
            ),
            None => format!("Your implementation matches {} everywhere", self.profile),
        };
        crate::charts::bars(&title, "% of elements differing", &bars, None)
    }
}

fn fmt_num(x: f64) -> String {
    if x.is_infinite() {
        "inf".into()
    } else if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x:.4}")
    }
}

fn render_diagnosis(d: &Diagnosis, first: bool) -> String {
    let mut s = String::new();
    let from = if d.input_from_yours { format!("your t{}", d.input) } else { format!("the expected t{}", d.input) };
    if first {
        s += &format!(
            "  recomputed op {} from {} under {} hypotheses; the correct computation reproduces {} of {} of your values\n",
            d.op, from, d.tried, d.baseline_matched, d.total
        );
    }
    match d.best() {
        None => {
            if d.baseline_matched == d.total {
                s += "  the op is right given this input\n";
            } else {
                s += &format!(
                    "  no known mistake explains these values: none of the {} tried reproduces more of them than the correct computation\n",
                    d.tried
                );
            }
        }
        Some(b) if d.explained().is_none() => {
            s += &format!(
                "  no known mistake explains these values ({} tried; a cause must reproduce all but at most {} of {})\n    closest:",
                d.tried,
                d.handful(),
                d.total
            );
            for c in d.candidates.iter().take(3) {
                s += &format!(" [{}] {} of {} ({:.2} %)", c.key(), c.matched, c.total, 100.0 * c.matched as f64 / c.total.max(1) as f64);
            }
            s += &format!("\n    (the correct computation reproduces {} of {}; best: {})\n", d.baseline_matched, d.total, d.describe(b));
        }
        Some(b) => {
            let how = if b.is_exact() {
                format!("reproduces all {} values", b.total)
            } else {
                format!("reproduces all but {} of {} values", b.total - b.matched, b.total)
            };
            s += &format!("  LIKELY CAUSE [{}]: {}\n    {how}", b.key(), d.describe(b));
            if b.later_total > 0 {
                s += &format!("; same mistake in later layers from your inputs: {} of {}", b.later_matched, b.later_total);
            }
            s += "\n";
            let tied = d.tied();
            if tied.len() > 1 {
                s += "    indistinguishable on these inputs:";
                for c in tied.iter().skip(1) {
                    s += &format!(" [{}]", c.key());
                }
                s += "\n";
            }
            let others: Vec<_> = d.candidates.iter().filter(|c| !tied.iter().any(|t| t.key() == c.key())).take(3).collect();
            if !others.is_empty() {
                s += "    less likely:";
                for c in others {
                    s += &format!(" [{}] {}/{}", c.key(), c.matched, c.total);
                    if c.later_total > 0 {
                        s += &format!(" (later layers {}/{})", c.later_matched, c.later_total);
                    }
                }
                s += "\n";
            }
        }
    }
    s
}

/// Compare your tensors with quantlens' run of `inputs` under `plan`'s profile.
pub fn diff(plan: &Plan, inputs: &[Value], yours: &Yours) -> Result<DiffReport, Error> {
    diff_with(plan, inputs, yours, &DiffOptions::default())
}

/// Your values in the integer domain of tensor `t` (floats: `round(r/S) + Z`).
fn user_integers(plan: &Plan, t: usize, s: &Stacked) -> Option<Vec<i64>> {
    if let Some(v) = s.to_i64_vec() {
        return Some(v);
    }
    let (scale, zp) = plan.model.tensors[t].per_tensor_quant()?;
    Some(
        s.to_f64_vec()
            .iter()
            .map(|&r| if r.is_finite() { quant::round_half_away_from_zero(r / scale as f64) as i64 + zp } else { i64::MIN })
            .collect(),
    )
}

/// [`diff`] with settings.
pub fn diff_with(plan: &Plan, inputs: &[Value], yours: &Yours, opts: &DiffOptions) -> Result<DiffReport, Error> {
    diff_with_progress(plan, inputs, yours, opts, &|_| {})
}

/// [`diff_with`] that calls `progress(k)` as the reference run finishes `k`
/// more samples. When you give only the model's output (and perhaps its
/// input), the reference output comes from the outputs-only path, batched
/// on every core; the traced run (every tensor) is made only when a tensor
/// diverges and its producer's input is needed for the diagnosis.
pub fn diff_with_progress(plan: &Plan, inputs: &[Value], yours: &Yours, opts: &DiffOptions, progress: &(dyn Fn(usize) + Sync)) -> Result<DiffReport, Error> {
    let n = inputs.len();
    if n == 0 {
        return Err(bad("input", "no samples (N = 0)"));
    }
    let model = &plan.model;
    let order: Vec<usize> = std::iter::once(plan.input()).chain(plan.steps.iter().map(|s| s.kernel.output())).collect();
    for (&k, s) in &yours.arrays {
        let src = yours.sources.get(&k).cloned().unwrap_or_else(|| format!("t{k}"));
        if k >= model.tensors.len() {
            return Err(bad(src, format!("tensor {k} does not exist (the model has {})", model.tensors.len())));
        }
        if !order.contains(&k) {
            return Err(bad(src, format!("tensor t{k} ({}) is not the input or an op output", model.tensors[k].name)));
        }
        let want = model.tensors[k].num_elements();
        let per: usize = s.sample_shape().iter().product();
        if s.shape.len() < 2 || s.len() != n || per != want {
            return Err(bad(
                src,
                format!(
                    "shape {:?}, expected (N = {n}, …{:?}) like `run --dump` writes: {} sample(s) of {want} element(s)",
                    s.shape, model.tensors[k].shape, n
                ),
            ));
        }
        if s.dtype() == DType::F32 && model.tensors[k].dtype != DType::F32 && model.tensors[k].per_tensor_quant().is_none() {
            return Err(bad(src, format!("float values for tensor t{k}, which is {} without a scale", model.tensors[k].dtype)));
        }
    }
    let ends_only = yours.arrays.keys().all(|&k| k == plan.input() || k == plan.output());
    let mut traces: Option<Vec<Trace>> = None;
    let mut fast_output: Option<Stacked> = None;
    if ends_only {
        let refs: Vec<&Value> = inputs.iter().collect();
        let x = Stacked::from_values(&refs).ok_or_else(|| bad("input", "samples of different shapes"))?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        fast_output = Some(plan.run_batch_outputs_progress(&x, threads, progress)?);
    } else {
        traces = Some(plan.run_batch_progress(inputs, &|k| progress(k))?);
    }
    let mut tensors = Vec::new();
    for &t in &order {
        let Some(ys) = yours.arrays.get(&t) else { continue };
        let expected = if t == plan.input() {
            let refs: Vec<&Value> = inputs.iter().collect();
            Stacked::from_values(&refs).ok_or_else(|| bad("input", "samples of different shapes"))?
        } else if let (true, Some(out)) = (t == plan.output(), &fast_output) {
            out.clone()
        } else {
            stack_tensor(traces.as_deref().unwrap_or_default(), t).ok_or_else(|| bad(format!("t{t}"), "not computed"))?
        };
        let op = model.producer(t).map(|o| o.index);
        tensors.push(compare_tensor(plan, t, op, yours.sources.get(&t).cloned().unwrap_or_default(), ys, &expected, n));
    }
    let not_provided: Vec<usize> = plan.steps.iter().map(|s| s.kernel.output()).filter(|t| !yours.arrays.contains_key(t)).collect();
    let mut report = DiffReport { profile: plan.profile, samples: n, tensors, not_provided };

    // Diagnose the first divergent tensor, and (optionally) later ones from your own inputs.
    let Some(first_pos) = report.tensors.iter().position(|t| !t.matches()) else {
        return Ok(report);
    };
    let divergent: Vec<usize> = report.tensors[first_pos..].iter().filter(|t| !t.matches()).map(|t| t.tensor).collect();
    // The diagnosis reads the divergent op's input: every tensor is needed now.
    let traces = match traces {
        Some(t) => t,
        None => plan.run_batch(inputs)?,
    };
    let mut diagnoses: BTreeMap<usize, Diagnosis> = BTreeMap::new();
    let mut contexts: Vec<(usize, ReqCtx)> = Vec::new();
    for (i, &t) in divergent.iter().enumerate() {
        if i > 0 && !opts.diagnose_later {
            break;
        }
        let Some(step) = plan.step_for_tensor(t) else { continue };
        let input = step.kernel.data_input();
        let from_yours = yours.arrays.contains_key(&input);
        if i > 0 && !from_yours {
            continue;
        }
        let x = input_integers(plan, &traces, yours, input);
        let user = user_integers(plan, t, &yours.arrays[&t]);
        let user_wrap = match yours.arrays[&t].dtype() {
            DType::F32 => None,
            d => Some(d),
        };
        match (&step.kernel, x, user) {
            (Kernel::FullyConnected(p), Some(x), Some(user)) => {
                if let Some(ctx) = fc_ctx(plan, p, x, user, user_wrap, n) {
                    contexts.push((t, ctx));
                }
            }
            (Kernel::Quantize(p), Some(x), Some(user)) => {
                if let Some(ctx) = quantize_ctx(plan, p, x, user, user_wrap, n) {
                    contexts.push((t, ctx));
                }
            }
            (Kernel::Softmax(p), Some(x), Some(user)) => {
                let d = diagnose_softmax(plan, step.op, p, &x, &user, n, from_yours);
                diagnoses.insert(t, d);
            }
            _ => {
                let total = report.tensors.iter().find(|c| c.tensor == t).map_or(0, |c| c.elements);
                diagnoses.insert(t, Diagnosis::unsearched(plan, t, step.op, input, from_yours, total));
            }
        }
    }
    // Requantizing ops: search, then break ties with the later layers of the same kind.
    let n_ctx = contexts.len();
    for i in 0..n_ctx {
        let t = contexts[i].0;
        let step = plan.step_for_tensor(t).expect("step");
        let input = step.kernel.data_input();
        let from_yours = yours.arrays.contains_key(&input);
        let (baseline, mut cands, tried) = search(&mut contexts[i].1, opts);
        // Tie-break among the best with later contexts of the same kind.
        if let Some(best) = cands.first().cloned() {
            let is_fc = contexts[i].1.is_fc;
            let tied: Vec<usize> =
                (0..cands.len()).filter(|&j| cands[j].matched == best.matched && cands[j].mistakes.len() == best.mistakes.len()).collect();
            if tied.len() > 1 {
                for &j in &tied {
                    let (mut lm, mut lt) = (0, 0);
                    for (_, later) in contexts.iter_mut().skip(i + 1).filter(|(_, c)| c.is_fc == is_fc) {
                        let applicable = later.applicable();
                        if cands[j].mistakes.iter().all(|m| applicable.contains(m)) {
                            lm += later.score(&cands[j].mistakes);
                            lt += later.user.len();
                        }
                    }
                    cands[j].later_matched = lm;
                    cands[j].later_total = lt;
                }
                let order_key = |c: &Candidate| (std::cmp::Reverse(c.matched), c.mistakes.len(), std::cmp::Reverse(c.later_matched));
                cands.sort_by_key(order_key);
            }
        }
        let ctx = &contexts[i].1;
        let facts = facts_for(plan, step, ctx);
        diagnoses.insert(
            t,
            Diagnosis {
                baseline_matched: baseline,
                candidates: cands,
                tried,
                facts: Some(facts),
                ..Diagnosis::unsearched(plan, t, step.op, input, from_yours, ctx.user.len())
            },
        );
    }
    for tc in &mut report.tensors {
        if let Some(d) = diagnoses.remove(&tc.tensor) {
            tc.diagnosis = Some(d);
        }
    }
    Ok(report)
}

fn compare_tensor(plan: &Plan, t: usize, op: Option<usize>, source: String, ys: &Stacked, expected: &Stacked, n: usize) -> TensorComparison {
    let tensor = &plan.model.tensors[t];
    let per = tensor.num_elements().max(1);
    let quant = tensor.per_tensor_quant();
    let exp_f = expected.to_f64_vec();
    let mut differing_per_sample = vec![0usize; n];
    let mut differing = 0;
    let mut max_abs = 0f64;
    let mut max_steps: Option<f64> = None;
    let mut first = None;
    let mut note = |e: usize, y: f64, x: f64, differing: &mut usize| {
        *differing += 1;
        differing_per_sample[e / per] += 1;
        if first.is_none() {
            first = Some(Mismatch { sample: e / per, element: e % per, yours: y, expected: x });
        }
    };
    let mode = match (ys.to_i64_vec(), expected.to_i64_vec(), quant) {
        (Some(a), Some(b), _) => {
            for (e, (&y, &x)) in a.iter().zip(&b).enumerate() {
                if y != x {
                    max_abs = max_abs.max((y as f64 - x as f64).abs());
                    note(e, y as f64, x as f64, &mut differing);
                }
            }
            if quant.is_some() {
                max_steps = Some(max_abs);
            }
            CompareMode::Exact
        }
        (None, Some(b), Some((s, z))) => {
            let a = ys.to_f64_vec();
            let s = s as f64;
            let mut steps = 0f64;
            for (e, (&r, &q)) in a.iter().zip(&b).enumerate() {
                let real = s * (q - z) as f64;
                let d = (r - real).abs();
                let st = (r / s + z as f64 - q as f64).abs();
                if d.is_nan() || d > 0.5 * s * (1.0 + 1e-6) {
                    max_abs = max_abs.max(if d.is_nan() { f64::INFINITY } else { d });
                    note(e, r, real, &mut differing);
                }
                steps = steps.max(if st.is_nan() { f64::INFINITY } else { st });
            }
            max_steps = Some(steps);
            CompareMode::HalfStep
        }
        _ => {
            let a = ys.to_f64_vec();
            for (e, (&y, &x)) in a.iter().zip(&exp_f).enumerate() {
                let d = (y - x).abs();
                if d.is_nan() || d > 1e-6 + 1e-5 * x.abs() {
                    max_abs = max_abs.max(if d.is_nan() { f64::INFINITY } else { d });
                    note(e, y, x, &mut differing);
                }
            }
            CompareMode::Tolerance
        }
    };
    TensorComparison {
        tensor: t,
        name: tensor.name.clone(),
        op,
        op_kind: op.map_or("(input)".into(), |o| plan.model.operators[o].kind.name()),
        source,
        yours_dtype: ys.dtype(),
        expected_dtype: tensor.dtype,
        mode,
        elements: exp_f.len(),
        differing,
        max_abs_diff: max_abs,
        max_diff_steps: max_steps,
        differing_per_sample,
        first_mismatch: first,
        diagnosis: None,
    }
}

/// The op input as integers: yours if you gave it, else the expected values.
fn input_integers(plan: &Plan, traces: &[Trace], yours: &Yours, input: usize) -> Option<Vec<i64>> {
    if let Some(s) = yours.arrays.get(&input) {
        return user_integers(plan, input, s);
    }
    stack_tensor(traces, input)?.to_i64_vec()
}

fn to_i32(v: &[i64]) -> Vec<i32> {
    v.iter().map(|&x| x.clamp(i32::MIN as i64, i32::MAX as i64) as i32).collect()
}

fn fc_ctx(plan: &Plan, p: &fully_connected::Params, x: Vec<i64>, user: Vec<i64>, user_wrap: Option<DType>, n: usize) -> Option<ReqCtx> {
    let fully_connected::Arith::Quantized(q) = &p.arith else { return None };
    let w = Value::from_constant(&plan.model.tensors[p.weights])?;
    let w_raw: Vec<i32> = w.to_i64_vec()?.iter().map(|&v| v as i32).collect();
    let batches = x.len() / n / p.in_features;
    if batches != 1 {
        return None;
    }
    let (q_min, q_max) = crate::ops::int_range(q.output_dtype);
    Some(ReqCtx {
        is_fc: true,
        out_per_sample: p.out_features,
        in_features: p.in_features,
        x: to_i32(&x),
        samples: n,
        z1: q.z1,
        w_raw,
        w_dtype: plan.model.tensors[p.weights].dtype,
        z2: q.z2.clone(),
        bias: p.bias.map(|_| q.bias.clone()),
        s1: q.s1,
        s2: q.s2.clone(),
        s3: q.s3,
        z3: q.z3,
        per_channel: q.per_channel,
        multipliers: q.multipliers.clone(),
        rule: Rule::Runtime(q.rounding),
        act_min: q.act_min,
        act_max: q.act_max,
        q_min,
        q_max,
        has_activation: p.activation != Activation::None,
        user,
        user_wrap,
        accs: HashMap::new(),
    })
}

fn quantize_ctx(plan: &Plan, p: &quantize::Params, x: Vec<i64>, user: Vec<i64>, user_wrap: Option<DType>, n: usize) -> Option<ReqCtx> {
    let quantize::Arith::Requantize { z_in, multiplier, rounding, .. } = &p.arith else { return None };
    let (s_in, _) = plan.model.tensors[p.input].per_tensor_quant()?;
    let (q_min, q_max) = crate::ops::int_range(p.output_dtype);
    Some(ReqCtx {
        is_fc: false,
        out_per_sample: x.len() / n.max(1),
        in_features: 1,
        x: to_i32(&x),
        samples: n,
        z1: *z_in,
        w_raw: vec![],
        w_dtype: DType::I8,
        z2: vec![0],
        bias: None,
        s1: s_in,
        s2: vec![1.0],
        s3: p.s_out,
        z3: p.z_out,
        per_channel: false,
        multipliers: vec![*multiplier],
        rule: Rule::Runtime(*rounding),
        act_min: q_min,
        act_max: q_max,
        q_min,
        q_max,
        has_activation: false,
        user,
        user_wrap,
        accs: HashMap::new(),
    })
}

fn facts_for(plan: &Plan, step: &crate::plan::Step, ctx: &ReqCtx) -> LayerFacts {
    let z2_summary = {
        let mut zs: Vec<i32> = ctx.z2.clone();
        zs.sort();
        zs.dedup();
        if zs.len() == 1 {
            zs[0].to_string()
        } else {
            format!("{} per-channel values in [{}, {}]", ctx.z2.len(), zs[0], zs[zs.len() - 1])
        }
    };
    let activation = match &step.kernel {
        Kernel::FullyConnected(p) => p.activation.name().to_string(),
        _ => "NONE".into(),
    };
    LayerFacts {
        is_fc: ctx.is_fc,
        output: step.kernel.output(),
        s1: ctx.s1,
        z1: ctx.z1,
        s3: ctx.s3,
        z3: ctx.z3,
        z2_summary,
        m_example: ctx.multipliers.first().map_or(0.0, |m| m.real),
        in_features: ctx.in_features,
        out_features: if ctx.is_fc { ctx.out_per_sample } else { 1 },
        act_min: ctx.act_min,
        act_max: ctx.act_max,
        activation,
        rule: ctx.rule,
        user_dtype: ctx.user_wrap.or(Some(plan.model.tensors[step.kernel.output()].dtype)),
        weight_dtype: if ctx.is_fc { Some(ctx.w_dtype) } else { None },
    }
}

/// Try every applicable mistake, then (if none explains everything) every
/// pair of mistakes from different families.
fn search(ctx: &mut ReqCtx, opts: &DiffOptions) -> (usize, Vec<Candidate>, usize) {
    let total = ctx.user.len();
    let baseline = ctx.score(&[]);
    let singles = ctx.applicable();
    let mut tried = singles.len();
    let mut cands: Vec<(usize, Candidate)> = Vec::new();
    for (i, m) in singles.iter().enumerate() {
        let matched = ctx.score(&[*m]);
        cands.push((i, Candidate { mistakes: vec![*m], matched, total, later_matched: 0, later_total: 0 }));
    }
    let best_single = cands.iter().map(|(_, c)| c.matched).max().unwrap_or(0);
    if opts.pairs && best_single < total && baseline < total {
        // Screen pairs on a few samples, then score the best on all.
        let screen = opts.pair_screen_samples.min(ctx.samples).max(1);
        let per = ctx.out_per_sample;
        let mut small = ReqCtx {
            is_fc: ctx.is_fc,
            out_per_sample: per,
            in_features: ctx.in_features,
            x: ctx.x[..screen * (ctx.x.len() / ctx.samples.max(1))].to_vec(),
            samples: screen,
            z1: ctx.z1,
            w_raw: ctx.w_raw.clone(),
            w_dtype: ctx.w_dtype,
            z2: ctx.z2.clone(),
            bias: ctx.bias.clone(),
            s1: ctx.s1,
            s2: ctx.s2.clone(),
            s3: ctx.s3,
            z3: ctx.z3,
            per_channel: ctx.per_channel,
            multipliers: ctx.multipliers.clone(),
            rule: ctx.rule,
            act_min: ctx.act_min,
            act_max: ctx.act_max,
            q_min: ctx.q_min,
            q_max: ctx.q_max,
            has_activation: ctx.has_activation,
            user: ctx.user[..screen * per].to_vec(),
            user_wrap: ctx.user_wrap,
            accs: HashMap::new(),
        };
        let small_total = small.user.len();
        let small_best_single = singles.iter().map(|m| small.score(&[*m])).max().unwrap_or(0).max(small.score(&[]));
        let mut screened: Vec<(usize, usize, usize)> = Vec::new();
        for i in 0..singles.len() {
            for j in i + 1..singles.len() {
                if singles[i].family() == singles[j].family() {
                    continue;
                }
                tried += 1;
                let s = small.score(&[singles[i], singles[j]]);
                if s > small_best_single || s == small_total {
                    screened.push((s, i, j));
                }
            }
        }
        screened.sort_by_key(|&(s, i, j)| (std::cmp::Reverse(s), i, j));
        for &(_, i, j) in screened.iter().take(12) {
            let mistakes = vec![singles[i], singles[j]];
            let matched = ctx.score(&mistakes);
            if matched > best_single {
                cands.push((singles.len() + i * singles.len() + j, Candidate { mistakes, matched, total, later_matched: 0, later_total: 0 }));
            }
        }
    }
    cands.retain(|(_, c)| c.matched > baseline);
    cands.sort_by_key(|(i, c)| (std::cmp::Reverse(c.matched), c.mistakes.len(), *i));
    let mut out: Vec<Candidate> = cands.into_iter().map(|(_, c)| c).collect();
    out.truncate(opts.keep);
    (baseline, out, tried)
}

fn diagnose_softmax(plan: &Plan, op: usize, p: &softmax::Params, x: &[i64], user: &[i64], n: usize, from_yours: bool) -> Diagnosis {
    let t_in = &plan.model.tensors[p.input];
    let t_out = &plan.model.tensors[p.output];
    let total = user.len();
    let per = total / n.max(1);
    let score = |y: &[i64]| y.iter().zip(user).filter(|(a, b)| a == b).count();
    let run_with = |prof: Profile| -> Option<Vec<i64>> {
        let pl = plan.with_profile(prof).ok()?;
        let Kernel::Softmax(sp) = &pl.step_for_tensor(p.output)?.kernel else { return None };
        let mut out = Vec::with_capacity(total);
        for s in 0..n {
            let row = &x[s * per..(s + 1) * per];
            let v = crate::ops::narrow(t_in.dtype, &t_in.shape, to_i32(row));
            out.extend(sp.eval(&v).ok()?.to_i64_vec()?);
        }
        Some(out)
    };
    let baseline = run_with(plan.profile).map_or(0, |y| score(&y));
    let mut cands = Vec::new();
    let mut tried = 0;
    let mut seen: Vec<SoftmaxMethod> = vec![plan.profile.softmax()];
    for prof in Profile::ALL {
        if seen.contains(&prof.softmax()) {
            continue;
        }
        seen.push(prof.softmax());
        tried += 1;
        if let Some(y) = run_with(prof) {
            cands.push(Candidate { mistakes: vec![Mistake::Softmax(SoftmaxVariant::Profile(prof))], matched: score(&y), total, later_matched: 0, later_total: 0 });
        }
    }
    if let (Some((s_in, _)), Some((s_out, z_out))) = (t_in.per_tensor_quant(), t_out.per_tensor_quant()) {
        tried += 1;
        let (q_min, q_max) = crate::ops::int_range(t_out.dtype);
        let mut y = Vec::with_capacity(total);
        for s in 0..n {
            let row = &x[s * per..(s + 1) * per];
            let max = row.iter().copied().max().unwrap_or(0);
            let e: Vec<f64> = row.iter().map(|&q| (p.beta as f64 * s_in as f64 * (q - max) as f64).exp()).collect();
            let sum: f64 = e.iter().sum();
            y.extend(e.iter().map(|v| (quant::round_half_away_from_zero(v / sum / s_out as f64) as i64 + z_out).clamp(q_min as i64, q_max as i64)));
        }
        cands.push(Candidate { mistakes: vec![Mistake::Softmax(SoftmaxVariant::Float)], matched: score(&y), total, later_matched: 0, later_total: 0 });
    }
    cands.retain(|c| c.matched > baseline);
    cands.sort_by_key(|c| std::cmp::Reverse(c.matched));
    Diagnosis { baseline_matched: baseline, candidates: cands, tried, ..Diagnosis::unsearched(plan, p.output, op, p.input, from_yours, total) }
}
