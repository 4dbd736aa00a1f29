//! `quantlens report`: the notebooks' lesson for any supported model, as one
//! self-contained HTML page (for people without Jupyter).
//!
//! The page holds the file's quantization mode, the tensor table, where S1,
//! S2 and S3 of every quantized layer come from with M, M0, shift and the
//! clamp, the sample stepped through every op with pictures, the step trace
//! of one output element per layer (TRANSPOSE_CONV's with the input pixels
//! that scatter into it), each layer's error against a float path, how many
//! elements each runtime profile computes differently, the prediction (or,
//! when the output is not a class vector, what it holds: [`prediction`]),
//! and the golden comparison when one is given.
//!
//! The charts are the notebooks' ([`crate::charts`]), inline SVG. The page
//! loads nothing and runs no script (a Content-Security-Policy forbids both);
//! the math is MathML, which browsers render themselves. Every string from
//! the model file is escaped ([`html::esc`]): a model is untrusted input.
//! A chart budget keeps the page small for large models: once the SVG bytes
//! reach it, further pictures are replaced by a one-line note.

pub mod html;
pub mod prediction;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::charts::{self, Chart};
use crate::error::Error;
use crate::io::{Npz, Stacked};
use crate::lessons;
use crate::model::{DType, Model};
use crate::plan::Plan;
use crate::profile::Profile;
use crate::tensor::{Data, Value};
use crate::trace::Trace;
use crate::verify;

use html::{esc, table};
use crate::notebook::layers;
pub use crate::notebook::layers::{quant_layers, quant_mode, QuantLayer};

/// What to put in the report besides the model and its inputs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The sample stepped through.
    pub sample: usize,
    /// The profile of the step-through (every profile is compared anyway).
    pub profile: Profile,
    /// The float model, for the per-layer error.
    pub float_model: Option<PathBuf>,
    /// A golden `.npz` (keys `t<k>`) of the runtime `profile` emulates, on the same inputs.
    pub golden: Option<PathBuf>,
    /// One label per sample.
    pub labels: Option<Vec<i64>>,
    /// Bytes of SVG after which pictures are replaced by a note.
    pub chart_budget: usize,
    /// Samples the profile comparison runs at most (fewer for large models).
    pub max_samples: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options { sample: 0, profile: Profile::TfliteRef, float_model: None, golden: None, labels: None, chart_budget: 6_000_000, max_samples: 200 }
    }
}

/// Inline charts within a byte budget.
struct Charts {
    used: usize,
    budget: usize,
    skipped: usize,
}

impl Charts {
    fn add(&mut self, chart: impl FnOnce() -> Chart) -> String {
        self.add_within(self.budget, chart)
    }

    /// Add a chart only while the bytes used stay under `limit` (≤ the budget): the weight charts
    /// of a model with many layers take at most a third of the budget, so the sample's pictures
    /// (input, activations, feature maps) that follow still get drawn.
    fn add_within(&mut self, limit: usize, chart: impl FnOnce() -> Chart) -> String {
        if self.used >= limit.min(self.budget) {
            self.skipped += 1;
            return "<p class=\"note\">(picture left out: the page's chart budget is spent)</p>\n".into();
        }
        let c = chart();
        self.used += c.svg().len();
        format!("<figure>{}</figure>\n", c.svg())
    }
}

/// Samples `0..n` of `inputs`.
fn first(inputs: &Stacked, n: usize) -> Vec<Value> {
    (0..n.min(inputs.len())).map(|i| inputs.sample(i)).collect()
}

fn f(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&x.abs()) {
        format!("{x:.6}").trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{x:.4e}")
    }
}

/// Tables longer than this are folded into a `<details>` element.
const FOLD_ROWS: usize = 40;

/// A tensor name for the table, escaped. The converter joins fused ops' names with `;` into names
/// of hundreds of characters, which would fill a screen per row: a long name shows its start and
/// end, and the whole name is its tooltip (an escaped attribute, no script).
/// `tag` is `span` (in the tensor table) or `code` (in the text).
fn short_name(tag: &str, name: &str) -> String {
    let class = if tag == "span" { " class=\"name\"" } else { "" };
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= 72 {
        return format!("<{tag}{class}>{}</{tag}>", esc(name));
    }
    let head: String = chars[..34].iter().collect();
    let tail: String = chars[chars.len() - 34..].iter().collect();
    format!("<{tag}{class} title=\"{}\">{}…{}</{tag}>", esc(name), esc(&head), esc(&tail))
}

/// The first `k` channels of an NHWC (or `[1, N]` square) integer value, as NHWC.
fn as_image(v: &Value, k: usize) -> Option<Value> {
    let q = v.to_i64_vec()?;
    let (h, w, c) = match v.shape.as_slice() {
        [1, h, w, c] | [h, w, c] => (*h, *w, *c),
        [1, n] | [n] => {
            let s = (*n as f64).sqrt().round() as usize;
            if s * s != *n || s < 2 {
                return None;
            }
            (s, s, 1)
        }
        _ => return None,
    };
    let kk = c.min(k);
    let data: Vec<i64> = (0..h * w).flat_map(|p| (0..kk).map(move |ch| (p, ch))).map(|(p, ch)| q[p * c + ch]).collect();
    let data = match v.dtype() {
        DType::U8 => Data::U8(data.iter().map(|&x| x as u8).collect()),
        DType::I8 => Data::I8(data.iter().map(|&x| x as i8).collect()),
        DType::I16 => Data::I16(data.iter().map(|&x| x as i16).collect()),
        _ => Data::I32(data.iter().map(|&x| x as i32).collect()),
    };
    Some(Value { shape: vec![1, h, w, kk], data })
}

fn tensor_ref(model: &Model, t: usize) -> String {
    format!("t{t} {}", short_name("code", &model.tensors[t].name))
}

/// How far [`build_with_progress`] is, counted in sample runs: the sample
/// stepped through (1), then every profile that runs the model over the `k`
/// samples of the comparison (`k` each). Most of a page's time is these runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The page takes this many sample runs in all. Sent first as 1 (only
    /// the step-through is known), then again once `k` and the profiles that
    /// run the model are known.
    Total(usize),
    /// `n` more sample runs are done.
    Done(usize),
}

/// Build the page. `model_path` and `input_source` are only printed.
pub fn build(model_path: &Path, model: &Model, inputs: &Stacked, input_source: &str, opts: &Options) -> Result<String, Error> {
    build_with_progress(model_path, model, inputs, input_source, opts, &|_| {})
}

/// [`build`] that calls `progress` as the sample runs finish (see [`Progress`]).
pub fn build_with_progress(model_path: &Path, model: &Model, inputs: &Stacked, input_source: &str, opts: &Options, progress: &dyn Fn(Progress)) -> Result<String, Error> {
    if opts.sample >= inputs.len() {
        return Err(crate::error::EngineError::BadInput(format!("sample {} asked for, but {input_source} holds {} samples", opts.sample, inputs.len())).into());
    }
    let in_t = *model.inputs.first().ok_or_else(|| crate::error::EngineError::BadInput("the model has no input tensor".into()))?;
    let want = model.tensors[in_t].dtype;
    if inputs.dtype() != want {
        return Err(crate::error::EngineError::BadInput(format!("{input_source} holds {} but the model's input tensor {in_t} is {}", inputs.dtype().name(), want.name())).into());
    }
    let sample = inputs.sample(opts.sample);
    // A model the profile refuses (an op or dtype it does not run) still gets its page: the mode,
    // the tensors and the operators, and which op was refused and why.
    progress(Progress::Total(1));
    let ran = Plan::new(model.clone(), opts.profile).map_err(Error::from).and_then(|plan| {
        let trace = plan.run(&sample)?;
        Ok((plan, trace))
    });
    progress(Progress::Done(1));
    let mut charts = Charts { used: 0, budget: opts.chart_budget, skipped: 0 };
    let file = model_path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut b = String::new();

    // Title and summary.
    let _ = writeln!(b, "<h1>{}: the integer lesson</h1>", esc(&file));
    let _ = writeln!(
        b,
        "<p>Model <code>{}</code>{}; sample {} of <code>{}</code>{}; step-through with profile <b>{}</b>.</p>",
        esc(&model_path.display().to_string()),
        model.description.as_deref().map(|d| format!(" (description: “{}”)", esc(d))).unwrap_or_default(),
        opts.sample,
        esc(input_source),
        opts.labels.as_ref().and_then(|l| l.get(opts.sample)).map(|l| format!(", label {l}")).unwrap_or_default(),
        opts.profile.name()
    );
    let _ = writeln!(b, "<p><b>Quantization mode:</b> {}.</p>", esc(&quant_mode(model)));
    b.push_str("<nav><ol><li><a href=\"#equations\">The equations</a></li><li><a href=\"#tensors\">Tensors</a></li><li><a href=\"#layers\">S1, S2, S3, M of every layer</a></li><li><a href=\"#steps\">The sample through every op</a></li><li><a href=\"#traces\">One output element per layer</a></li><li><a href=\"#error\">Error against the float path</a></li><li><a href=\"#profiles\">The runtimes' differences</a></li><li><a href=\"#prediction\">Prediction</a></li><li><a href=\"#golden\">Golden comparison</a></li></ol></nav>\n");

    // Equations.
    b.push_str("<h2 id=\"equations\">The equations</h2>\n<p>Every tensor carries its own scale S and zero point Z. A quantized layer with weights computes, in integers, from its input (S1, Z1), its weights (S2, Z2) and its <b>output</b> tensor (S3, Z3):</p>\n");
    b.push_str(html::equations());

    // Tensors.
    b.push_str("<h2 id=\"tensors\">Tensors</h2>\n");
    let rows: Vec<Vec<String>> = model
        .tensors
        .iter()
        .map(|t| {
            let (s, z) = match &t.quant {
                Some(q) if q.scale.len() == 1 => (f(q.scale[0] as f64), q.zero_point[0].to_string()),
                Some(q) => {
                    let lo = q.scale.iter().cloned().fold(f32::INFINITY, f32::min);
                    let hi = q.scale.iter().cloned().fold(0.0f32, f32::max);
                    let zs: std::collections::BTreeSet<i64> = q.zero_point.iter().copied().collect();
                    (format!("{} per-channel: {} … {}", q.scale.len(), f(lo as f64), f(hi as f64)), esc(&format!("{zs:?}")))
                }
                None => ("–".into(), "–".into()),
            };
            let role = if model.inputs.contains(&t.index) {
                "input"
            } else if model.outputs.contains(&t.index) {
                "output"
            } else if t.is_constant() {
                "constant"
            } else {
                ""
            };
            vec![t.index.to_string(), t.dtype.name().to_string(), esc(&format!("{:?}", t.shape)), s, z, role.into(), short_name("span", &t.name)]
        })
        .collect();
    let tensors = table(&["t", "dtype", "shape", "scale S", "Z", "role", "name"], &rows, &[0, 3, 4]);
    if rows.len() > FOLD_ROWS {
        // A large model's table (hundreds of rows) would push the lesson screens down: it is folded,
        // and opens with a click (a <details> element, no script).
        let _ = writeln!(b, "<details><summary>{} tensors: show the table</summary>\n{tensors}</details>", rows.len());
    } else {
        b.push_str(&tensors);
    }
    let op_rows: Vec<Vec<String>> = model
        .operators
        .iter()
        .map(|o| {
            let ins: Vec<String> = o.inputs.iter().flatten().map(|t| format!("t{t}")).collect();
            let outs: Vec<String> = o.outputs.iter().map(|t| format!("t{t}")).collect();
            let choice = ran.as_ref().ok().and_then(|(plan, _)| plan.steps.iter().find(|s| s.op == o.index)).map(|s| s.profile_choice()).unwrap_or_default();
            vec![o.index.to_string(), esc(&o.kind.name()), ins.join(", "), outs.join(", "), esc(&choice)]
        })
        .collect();
    b.push_str("<h3>Operators</h3>\n");
    let ops = table(&["op", "kind", "inputs", "outputs", "what the runtimes choose"], &op_rows, &[0]);
    if op_rows.len() > FOLD_ROWS {
        let _ = writeln!(b, "<details><summary>{} operators: show the table</summary>\n{ops}</details>", op_rows.len());
    } else {
        b.push_str(&ops);
    }
    let (plan, trace) = match ran {
        Ok(r) => r,
        Err(e) => {
            b.push_str("<h2 id=\"layers\">The sample does not run</h2>\n");
            let _ = writeln!(b, "<p class=\"bad\">Profile {} refuses this model: {}.</p>", opts.profile.name(), esc(&e.to_string()));
            b.push_str("<p>quantlens runs an op only where it computes exactly what the runtime does, and refuses the rest by name. So this page stops at the tables above: the step-through, the per-layer error, the runtimes' differences, the prediction and the golden comparison need every op to run.</p>\n");
            for p in Profile::ALL.into_iter().filter(|&p| p != opts.profile) {
                let verdict = match Plan::new(model.clone(), p) {
                    Ok(_) => "would run (ask for it with <code>--profile</code>)".to_string(),
                    Err(e) => format!("refuses it too: {}", esc(&e.to_string())),
                };
                let _ = writeln!(b, "<p>Profile {}: {verdict}.</p>", p.name());
            }
            return Ok(html::page(&format!("quantlens report: {file}"), &b));
        }
    };
    let layers = quant_layers(&plan);

    // Layers.
    b.push_str("<h2 id=\"layers\">S1, S2, S3, M of every quantized layer</h2>\n");
    if layers.is_empty() {
        b.push_str("<p>This model has no quantized FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D or TRANSPOSE_CONV.</p>\n");
    }
    for l in &layers {
        let _ = writeln!(b, "<h3>op {} {}</h3>", l.op, l.kind);
        let (m_lo, m_hi) = l.multipliers.iter().fold((f64::INFINITY, 0f64), |(a, c), m| (a.min(m.real), c.max(m.real)));
        let s2 = if l.per_channel {
            let lo = l.s2.iter().cloned().fold(f32::INFINITY, f32::min);
            let hi = l.s2.iter().cloned().fold(0.0f32, f32::max);
            format!("{} … {} ({} channels, per-channel)", f(lo as f64), f(hi as f64), l.s2.len())
        } else {
            format!("{} (per-tensor)", f(l.s2[0] as f64))
        };
        let z2: std::collections::BTreeSet<i32> = l.z2.iter().copied().collect();
        let mut rows = vec![
            vec!["S1, Z1".into(), format!("{}, {}", f(l.s1 as f64), l.z1), format!("the input tensor {}", tensor_ref(model, l.input))],
            vec!["S2, Z2".into(), format!("{s2}, {}", esc(&format!("{z2:?}"))), format!("the weight tensor {}", tensor_ref(model, l.weights))],
            vec!["S3, Z3".into(), format!("{}, {}", f(l.s3 as f64), l.z3), format!("the <b>output</b> tensor {}", tensor_ref(model, l.output))],
        ];
        if let Some(bias) = l.bias {
            rows.push(vec!["bias".into(), "int32, scale S1·S2".into(), format!("{}", tensor_ref(model, bias))]);
        }
        rows.push(vec!["M = S1·S2/S3".into(), if l.per_channel { format!("{} … {}", f(m_lo), f(m_hi)) } else { f(m_lo) }, "double precision".into()]);
        if l.per_channel {
            let n = l.multipliers.len();
            for (c, m) in l.multipliers.iter().enumerate().take(3) {
                let from = if c == 0 && n > 3 { format!("M = {} (channels 0–2 of {n})", f(m.real)) } else { format!("M = {}", f(m.real)) };
                rows.push(vec![format!("M[{c}] = M0·2^(shift−31)"), format!("{}·2^({}−31)", m.m0, m.shift), from]);
            }
        } else if let Some(m) = l.multipliers.first() {
            // per-tensor: every output channel shares this one multiplier, so one row says it
            rows.push(vec!["M = M0·2^(shift−31)".into(), format!("{}·2^({}−31)", m.m0, m.shift), format!("M = {}, every channel", f(m.real))]);
        }
        rows.push(vec!["clamp".into(), format!("[{}, {}]", l.act_min, l.act_max), "fused activation and the output dtype".into()]);
        let rounding = l.varies.as_ref().map_or_else(|| l.rounding.name().to_string(), |v| v.describe());
        rows.push(vec!["rounding".into(), esc(&rounding), format!("profile {}", opts.profile.name())]);
        b.push_str(&table(&["symbol", "value", "from"], &rows, &[]));
        let title = format!("op {} weights (t{}) on the integer grid", l.op, l.weights);
        match computed_weights(model, &trace, l.weights) {
            // weights an op computes (a DENSIFY of sparse weights): drawn as the run computed them
            Some(m) => b.push_str(&charts.add_within(opts.chart_budget / 3, || charts::weights(&title, &m, l.weights))),
            None => b.push_str(&charts.add_within(opts.chart_budget / 3, || charts::weights(&title, model, l.weights))),
        }
    }

    // Steps.
    b.push_str("<h2 id=\"steps\">The sample through every op</h2>\n");
    let (in_s, in_z) = model.tensors[in_t].per_tensor_quant().unwrap_or((1.0, 0));
    let _ = writeln!(b, "<p>The input {} ({}, shape {}, S = {}, Z = {}).</p>", tensor_ref(model, in_t), sample.dtype().name(), esc(&format!("{:?}", sample.shape)), f(in_s as f64), in_z);
    match as_image(&sample, 3) {
        Some(img) => {
            let title = format!("Sample {}: the input t{in_t} as an image", opts.sample);
            b.push_str(&charts.add(|| charts::feature_maps(&title, &img, in_z)));
        }
        None => b.push_str("<p class=\"note\">The input is not an integer image, so it is not drawn.</p>\n"),
    }
    for step in &plan.steps {
        let t = step.kernel.output();
        let tensor = &model.tensors[t];
        let Some(v) = trace.value(t) else { continue };
        let _ = writeln!(b, "<h3>op {} {} → {}</h3>", step.op, esc(&model.operators[step.op].kind.name()), tensor_ref(model, t));
        let ints = v.to_i64_vec();
        let q = tensor.per_tensor_quant();
        let first: Vec<String> = v.to_f64_vec().iter().take(12).map(|&x| f(x)).collect();
        let _ = writeln!(
            b,
            "<p>{} {}{}: first values [{}{}].</p>",
            v.dtype().name(),
            esc(&format!("{:?}", v.shape)),
            q.map(|(s, z)| format!(", S = {}, Z = {z}", f(s as f64))).unwrap_or_default(),
            first.join(", "),
            if v.len() > 12 { ", …" } else { "" }
        );
        if let (Some(ints), Some((_, z)), Some(grid)) = (&ints, q, v.dtype().int_range()) {
            if matches!(v.dtype(), DType::U8 | DType::I8 | DType::I16) {
                let at_z = ints.iter().filter(|&&x| x == z).count();
                let _ = writeln!(b, "<p>{at_z} of {} values equal Z = {z} (real 0).</p>", ints.len());
                let grid = if v.dtype() == DType::I16 { (ints.iter().copied().min().unwrap_or(0), ints.iter().copied().max().unwrap_or(0)) } else { grid };
                let title = format!("op {}: the {} output integers of t{t}", step.op, ints.len());
                b.push_str(&charts.add(|| charts::int_histogram(&title, &format!("q ({})", v.dtype().name()), ints, grid, &[(format!("Z = {z} (real 0)"), z as f64)])));
                let is_conv = layers.iter().any(|l| l.op == step.op && l.kind != "FULLY_CONNECTED");
                if is_conv {
                    if let Some(img) = as_image(v, 8) {
                        let title = format!("op {}: feature maps of t{t} (first {} channels)", step.op, img.shape[3]);
                        b.push_str(&charts.add(|| charts::feature_maps(&title, &img, z)));
                    }
                }
            }
        }
    }

    // Step traces.
    b.push_str("<h2 id=\"traces\">One output element per layer, step by step</h2>\n<p>For each quantized layer, the output element with the largest integer: the int32 accumulator, + bias, × M, rounded by the profile's rule, + Z3, clamped.</p>\n");
    for l in &layers {
        let Some(out) = trace.value(l.output).and_then(Value::to_i64_vec) else { continue };
        let e = (0..out.len()).max_by_key(|&k| (out[k], std::cmp::Reverse(k))).unwrap_or(0);
        let Some(s) = l.steps(&plan, &trace, e) else { continue };
        let _ = writeln!(
            b,
            "<p>op {} element {e} (channel {}): accumulator {} + bias {} = {}; × M = {} → {}; rounded {}; + Z3 = {}; clamp [{}, {}] → <b>{}</b>.</p>",
            l.op,
            s.channel,
            s.accumulator,
            s.bias,
            s.acc_with_bias,
            f(s.multiplier.real),
            f(s.scaled_real),
            s.scaled,
            s.with_zero_point,
            l.act_min,
            l.act_max,
            s.output
        );
        if let Some(t) = (l.kind == "TRANSPOSE_CONV").then(|| crate::notebook::tconv::steps(l, &plan, &trace, e)).flatten() {
            b.push_str(&tconv_sources(l, &t, e, l.rounding_of(e, out.len())));
        }
        let title = format!("op {} {}, element {e}: from accumulator to q3", l.op, l.kind);
        b.push_str(&charts.add(|| charts::step_trace(&title, &s, l.act_min, l.act_max)));
    }

    // Float error.
    b.push_str("<h2 id=\"error\">Each layer's error against the float path</h2>\n");
    let float = float_path(opts, &sample, model, in_t);
    let errors = match &float {
        Ok((fplan, ftrace)) => {
            let _ = writeln!(b, "<p>The float model <code>{}</code> on the same sample (its input is the quantized input dequantized, S·(q − Z)); the k-th quantized layer against the float model's k-th layer of the same kind, whole tensors. Errors add up through the layers.</p>", esc(&opts.float_model.as_ref().map(|p| p.display().to_string()).unwrap_or_default()));
            layers::float_errors(&plan, &layers, &trace, fplan, ftrace)
        }
        Err(why) => {
            let _ = writeln!(b, "<p>{}, so the float path is each layer recomputed in real numbers from its own dequantized input, weights and bias, S1·S2·(acc + bias), with the activation's clamp: the error this layer adds by itself (up to 4 096 elements per layer).</p>", esc(why));
            layers::local_errors(&plan, &layers, &trace, 4096)
        }
    };
    let rows: Vec<Vec<String>> = errors
        .iter()
        .map(|e| {
            let l = &layers[e.layer];
            vec![format!("op {} {}", l.op, l.kind), e.elements.to_string(), f(e.max_abs), format!("{:.2}", e.max_abs / e.step), f(e.mean_abs), f(e.step)]
        })
        .collect();
    b.push_str(&table(&["layer", "elements", "max |int − float|", "in steps S3", "mean", "S3"], &rows, &[1, 2, 3, 4, 5]));

    // Profiles.
    b.push_str("<h2 id=\"profiles\">What each runtime would compute differently</h2>\n");
    let per_sample: usize = trace.values.iter().flatten().map(Value::len).sum::<usize>().max(1);
    let golden_n = match &opts.golden {
        Some(g) => Some(Npz::open(g)?.get(&format!("t{}", plan.output()))?.len()),
        None => None,
    };
    let k = opts.max_samples.min(inputs.len()).min((20_000_000 / per_sample).max(1)).min(golden_n.unwrap_or(usize::MAX)).max(1);
    let samples = first(inputs, k);
    let mut runs = Vec::new();
    let mut refused = Vec::new();
    let mut plans = Vec::new();
    for p in Profile::ALL {
        match Plan::new(model.clone(), p) {
            Ok(pl) => plans.push((p, pl)),
            Err(e) => refused.push(format!("{}: {}", p.name(), e)),
        }
    }
    progress(Progress::Total(1 + plans.len() * k));
    for (p, pl) in plans {
        match pl.run_batch_progress(&samples, &|n| progress(Progress::Done(n))) {
            Ok(traces) => runs.push(lessons::ProfileRun { profile: p, plan: pl, traces }),
            Err(e) => refused.push(format!("{}: {}", p.name(), e)),
        }
    }
    let _ = writeln!(b, "<p>Every profile on the first {k} of the {} samples, every op-produced tensor compared element by element.</p>", inputs.len());
    for r in &refused {
        let _ = writeln!(b, "<p class=\"note\">Not run: {}</p>", esc(r));
    }
    let pairs = lessons::disagreements(&runs);
    let rows: Vec<Vec<String>> = pairs
        .iter()
        .map(|p| {
            let elements: usize = p.tensors.iter().map(|t| t.elements).sum();
            let which: Vec<String> = p.tensors.iter().filter(|t| t.differing > 0).map(|t| format!("t{} ({}, max {})", t.tensor, t.differing, f(t.max_abs_diff))).collect();
            vec![format!("{} vs {}", p.a.name(), p.b.name()), p.total().to_string(), elements.to_string(), if which.is_empty() { "none".into() } else { which.join(", ") }]
        })
        .collect();
    b.push_str(&table(&["profiles", "differing elements", "elements", "where"], &rows, &[1, 2]));
    if pairs.iter().any(|p| p.total() > 0) {
        let labels: Vec<String> = lessons::step_labels(&plan).into_iter().map(|(_, s)| s).collect();
        let rows: Vec<(String, Vec<usize>)> = pairs.iter().map(|p| (p.key(), p.tensors.iter().map(|t| t.differing).collect())).collect();
        let title = format!("Differing elements per tensor, {k} samples");
        b.push_str(&charts.add(|| charts::disagreements(&title, &labels, &rows)));
    } else {
        b.push_str("<p>0 elements differ between any two profiles on these samples.</p>\n");
    }

    // Prediction.
    b.push_str("<h2 id=\"prediction\">Prediction</h2>\n");
    let run = runs.iter().find(|r| r.profile == opts.profile);
    b.push_str(&prediction::section(&prediction::Inputs { model, plan: &plan, trace: &trace, sample: opts.sample, labels: opts.labels.as_deref(), run }, &mut charts));

    // Golden.
    b.push_str("<h2 id=\"golden\">Golden comparison</h2>\n");
    match (&opts.golden, runs.iter().find(|r| r.profile == opts.profile)) {
        (Some(g), Some(run)) => {
            let mut npz = Npz::open(g)?;
            let rep = verify::verify(&run.plan, &run.traces, &mut npz)?;
            let _ = writeln!(
                b,
                "<p><code>{}</code> against profile {} on the first {} samples: {}</p>",
                esc(&g.display().to_string()),
                opts.profile.name(),
                rep.samples,
                if rep.is_exact() { "<span class=\"ok\">every element of every tensor equal</span>".to_string() } else { format!("<span class=\"bad\">{} elements differ</span>", rep.total_differing()) }
            );
            let rows: Vec<Vec<String>> = rep.tensors.iter().map(|t| vec![format!("t{}", t.tensor), esc(&t.op_kind), t.differing.to_string(), t.elements.to_string(), f(t.max_abs_diff)]).collect();
            b.push_str(&table(&["tensor", "op", "differing", "elements", "max |diff|"], &rows, &[2, 3, 4]));
        }
        (Some(_), None) => b.push_str("<p>The profile did not run, so there is nothing to compare with the golden file.</p>\n"),
        (None, _) => b.push_str("<p>No golden file given (<code>--golden</code>), so the runtimes are compared with each other above instead.</p>\n"),
    }
    if charts.skipped > 0 {
        let _ = writeln!(b, "<p class=\"note\">{} pictures left out to keep the page under its chart budget of {} bytes.</p>", charts.skipped, opts.chart_budget);
    }
    Ok(html::page(&format!("quantlens report: {file}"), &b))
}

/// The model with the 8-bit weight tensor `t` filled in from the trace, when the file holds no
/// data for it because an op computes it (DENSIFY); `None` for weights stored in the file.
fn computed_weights(model: &Model, trace: &Trace, t: usize) -> Option<Model> {
    if model.tensors[t].data.is_some() {
        return None;
    }
    let bytes: Vec<u8> = match &trace.value(t)?.data {
        Data::I8(v) => v.iter().map(|&q| q as u8).collect(),
        Data::U8(v) => v.clone(),
        _ => return None,
    };
    let mut m = model.clone();
    m.tensors[t].data = Some(bytes);
    Some(m)
}

/// Where a TRANSPOSE_CONV output element's accumulator comes from: the input
/// pixels that scatter into it, each through one filter tap, and its rounding rule.
fn tconv_sources(l: &QuantLayer, t: &crate::notebook::tconv::TconvSteps, e: usize, rounding: crate::profile::Rounding) -> String {
    let (_, oy, ox, o) = t.position;
    let list: Vec<String> = t.sources.iter().take(12).map(|s| format!("({}, {}) via tap ({}, {})", s.y, s.x, s.ky, s.kx)).collect();
    let more = if t.sources.len() > 12 { format!(" and {} more", t.sources.len() - 12) } else { String::new() };
    format!(
        "<p>TRANSPOSE_CONV scatters each input pixel, times the filter, into a window of the output. Output ({oy}, {ox}), channel {o} (element {e}) is reached by {} input pixel{}: {}{more}. Over {} input channels that is {} products (q1 − Z1)·(q2 − Z2) with Z1 = {}, Z2 = {}, summing to the accumulator {}; rounding {}.</p>\n",
        t.sources.len(),
        if t.sources.len() == 1 { "" } else { "s" },
        if list.is_empty() { "none".to_string() } else { list.join(", ") },
        t.in_channels,
        t.sources.len() * t.in_channels,
        l.z1,
        l.z2[o.min(l.z2.len() - 1)],
        t.steps.accumulator,
        esc(rounding.name())
    )
}

/// The float model's plan and trace on the sample, or why there is none.
fn float_path(opts: &Options, sample: &Value, model: &Model, in_t: usize) -> Result<(Plan, Trace), String> {
    let Some(p) = &opts.float_model else { return Err("No float model given (--float)".into()) };
    let fmodel = Model::from_path(p).map_err(|e| format!("The float model could not be read ({e})"))?;
    let fplan = Plan::new(fmodel, Profile::TfliteRef).map_err(|e| format!("The float model does not run here ({e})"))?;
    let real = lessons::dequantize_value(model, in_t, sample).ok_or("The input cannot be dequantized")?;
    let fin = fplan.model.tensors[fplan.input()].shape.clone();
    let shape: Vec<usize> = fin.iter().skip(1).copied().collect();
    let shape = if shape.iter().product::<usize>() == real.len() { shape } else { sample.shape.clone() };
    let ftrace = fplan.run(&lessons::f32_value(&shape, real)).map_err(|e| format!("The float model did not run on the sample ({e})"))?;
    Ok((fplan, ftrace))
}
