//! `quantlens` — a thin command-line tool over the library.
//!
//! Exit codes: 0 success; 1 a comparison found differences (`verify`, `diff`);
//! 2 bad input or any other error (one line on stderr naming the problem).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use quantlens::io::{read_samples, Npz, Stacked};
use quantlens::plan::{Kernel, Plan};
use quantlens::verify::{accuracy, argmax_per_sample, holds_only_output, stack_tensor, verify, verify_outputs};
use quantlens::{Model, Profile};

#[derive(Parser)]
#[command(name = "quantlens", version, about = "Run a quantized TFLite model in integer arithmetic exactly as the real runtimes do, and show every step.")]
#[command(after_help = "Exit codes: 0 ok; 1 differences found (verify, diff); 2 bad input or error.\nProfiles: tflite-ref (default), tflite-builtin, tflite-xnnpack, tflm.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print tensors (index, name, dtype, shape, scales, zero points), ops; for every quantized
    /// FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D: S1, S2, S3 (the output tensor's scale), M, M0,
    /// shift, clamp range, rounding and the bias-scale check (convolutions also padding, stride,
    /// dilation); and one line per other quantized op: its input/output scales and the profile choice.
    Inspect {
        model: PathBuf,
        /// Profile whose rounding to report.
        #[arg(long, default_value = "tflite-ref")]
        profile: String,
    },
    /// Run the model on every sample of an .npy file.
    Run {
        model: PathBuf,
        /// Samples in the model's input dtype, shape (N, …input shape without its leading 1).
        #[arg(long)]
        input: PathBuf,
        #[arg(long, default_value = "tflite-ref")]
        profile: String,
        /// Write DIR/t<k>.npy for every op-produced tensor k, shape (N, …tensor shape).
        #[arg(long)]
        dump: Option<PathBuf>,
        /// Write the model's output, shape (N, …output shape).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Labels (N,) to print accuracy.
        #[arg(long)]
        labels: Option<PathBuf>,
    },
    /// Compare every op-produced tensor with a golden .npz (keys t<k>); exit 1 if any element differs.
    /// An archive that holds only the model's output is checked on the outputs-only path.
    Verify {
        model: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        golden: PathBuf,
        #[arg(long, default_value = "tflite-ref")]
        profile: String,
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Compare only the model's output (outputs-only path, batched on every core).
        #[arg(long)]
        outputs_only: bool,
    },
    /// Compare YOUR per-layer outputs (DIR/t<k>.npy or DIR/<tensor name>.npy, a name's `/` as
    /// sub-folders; shape (N, …tensor shape) or (N, elements)) with this profile's, in execution
    /// order; name the first divergent tensor, the op that produced it and the likely cause.
    /// FULL MATCH only when every op-produced tensor is given. Exit 0 match, 1 divergence,
    /// 2 bad input (including a .npy that names no tensor).
    Diff {
        model: PathBuf,
        /// The inputs you ran, shape (N, …input shape without its leading 1), model input dtype.
        #[arg(long)]
        input: PathBuf,
        /// Directory with your dumps: integers are compared exactly, floats against S·(q − Z) within half a step.
        #[arg(long)]
        yours: PathBuf,
        #[arg(long, default_value = "tflite-ref")]
        profile: String,
        /// Only try single mistakes, not pairs.
        #[arg(long)]
        no_pairs: bool,
    },
    /// Write every layer as integer-only parameters (weights [out][in], int32 bias, per-channel M0/shift,
    /// zero points, clamp bounds, rounding rule, accumulator width) for hardware.
    Export {
        model: PathBuf,
        /// c (one header), verilog ($readmemh hex files + params.vh + manifest.json) or json.
        #[arg(long)]
        format: String,
        #[arg(long)]
        out: PathBuf,
        /// Also write the first N images of --input and every layer's expected integer output.
        #[arg(long)]
        golden: Option<usize>,
        /// Inputs for --golden and for the observed accumulator widths.
        #[arg(long)]
        input: Option<PathBuf>,
        /// The profile whose requantization the export describes (tflm: integer only).
        #[arg(long, default_value = "tflm")]
        profile: String,
    },
    /// Write one self-contained HTML page with the notebooks' lesson for this model: quantization mode,
    /// tensors, S1/S2/S3/M/M0/shift/clamp of every layer, the sample through every op with charts, one
    /// step trace per layer, error against the float path, the runtimes' differences, prediction, golden.
    Report {
        model: PathBuf,
        /// An .npy of samples in the model's input dtype, or a PNG/JPEG image (default: the project's
        /// data/goldens/<model>/input.npy when the model is one of data/models/).
        #[arg(long)]
        input: Option<PathBuf>,
        /// The sample to step through.
        #[arg(long, default_value_t = 0)]
        sample: usize,
        #[arg(long, default_value = "tflite-ref")]
        profile: String,
        /// The float model, for the per-layer error (default for the project's MLPs: mlp_float32.tflite).
        #[arg(long = "float")]
        float_model: Option<PathBuf>,
        /// Golden .npz (keys t<k>) of the runtime --profile emulates, on the same inputs.
        #[arg(long)]
        golden: Option<PathBuf>,
        /// Labels (N,) for the accuracy line.
        #[arg(long)]
        labels: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
}

/// `println!` that never panics: when stdout is closed early (`quantlens
/// inspect m | head`), stop quietly with exit code 0 like other Unix tools,
/// instead of std's panic on a broken pipe; any other write error is exit 2.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("quantlens: error: writing to stdout: {e}");
            std::process::exit(2);
        }
    }};
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            // One line, whatever the underlying messages look like.
            let msg = format!("{e:#}");
            let msg: Vec<&str> = msg.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            // Control characters from names in the file (a lone \r, escapes) are escaped.
            eprintln!("quantlens: error: {}", quantlens::model::escape_name(&msg.join(" ")));
            ExitCode::from(2)
        }
    }
}

fn dispatch(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Inspect { model, profile } => inspect(&model, &profile),
        Command::Run { model, input, profile, dump, output, labels } => {
            run(&model, &input, &profile, dump.as_deref(), output.as_deref(), labels.as_deref())
        }
        Command::Verify { model, input, golden, profile, labels, outputs_only } => {
            verify_cmd(&model, &input, &golden, &profile, labels.as_deref(), outputs_only)
        }
        Command::Diff { model, input, yours, profile, no_pairs } => diff_cmd(&model, &input, &yours, &profile, no_pairs),
        Command::Export { model, format, out, golden, input, profile } => {
            export_cmd(&model, &format, &out, golden, input.as_deref(), &profile)
        }
        Command::Report { model, input, sample, profile, float_model, golden, labels, out } => {
            report_cmd(&model, input, sample, &profile, float_model, golden, labels, &out)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn report_cmd(
    model: &Path,
    input: Option<PathBuf>,
    sample: usize,
    profile: &str,
    float_model: Option<PathBuf>,
    golden: Option<PathBuf>,
    labels: Option<PathBuf>,
    out: &Path,
) -> Result<ExitCode> {
    let profile: Profile = profile.parse()?;
    // data/models/<stem>.tflite → data/ (where the project's inputs, labels and float model are).
    let data_dir = model.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    let setup = quantlens::notebook::Setup::from_parts(&data_dir, "", Some(model.to_path_buf()), input, labels, float_model, Some(sample), 0)
        .with_context(|| format!("reading {}", model.display()))?;
    let opts = quantlens::report::Options {
        sample: setup.sample,
        profile,
        float_model: setup.float_model.clone(),
        golden,
        labels: setup.labels.clone(),
        ..Default::default()
    };
    // The page runs every profile over up to 200 samples: a bar counting the sample runs (a
    // terminal only; report::Progress says what is counted).
    let bar = counting_bar(1, "report", "sample runs");
    let page = quantlens::report::build_with_progress(&setup.model_path, &setup.model, &setup.inputs, &setup.input_source, &opts, &|p| match p {
        quantlens::report::Progress::Total(n) => bar.set_length(n as u64),
        quantlens::report::Progress::Done(n) => bar.inc(n as u64),
    });
    bar.finish_and_clear();
    let page = page?;
    std::fs::write(out, &page).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {} ({} bytes)", out.display(), page.len());
    Ok(ExitCode::SUCCESS)
}

fn diff_cmd(model: &Path, input: &Path, yours: &Path, profile: &str, no_pairs: bool) -> Result<ExitCode> {
    let plan = load_plan(model, profile)?;
    let samples = load_inputs(&plan, input)?.samples();
    let dumps = quantlens::diff::Yours::read_dir(&plan.model, yours)?;
    let opts = quantlens::diff::DiffOptions { pairs: !no_pairs, ..Default::default() };
    let bar = progress_bar(samples.len(), "diff");
    let report = quantlens::diff::diff_with_progress(&plan, &samples, &dumps, &opts, &|k| bar.inc(k as u64));
    bar.finish_and_clear();
    let report = report?;
    print!("{}", report.render());
    Ok(if report.is_match() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn export_cmd(model: &Path, format: &str, out: &Path, golden: Option<usize>, input: Option<&Path>, profile: &str) -> Result<ExitCode> {
    let format: quantlens::export::Format = format.parse()?;
    let plan = load_plan(model, profile)?;
    if golden.is_some() && input.is_none() {
        bail!("--golden N needs --input X.npy (the images to write)");
    }
    let samples = input.map(|i| load_inputs(&plan, i).map(|x| x.samples())).transpose()?;
    let name = model.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    // Models with ops beyond the MLP's (convolutions, pools, ADD, …): the graph export.
    if !quantlens::export::c::graph::is_mlp(&plan) {
        let export = quantlens::export::c::graph::GraphExport::new(&plan, name)?;
        let gold = match (golden, &samples) {
            (Some(n), Some(x)) => Some(export.golden(&plan, x, n)?),
            _ => None,
        };
        let files = export.write(format, out, gold.as_ref())?;
        print!("{}", export.table());
        println!("wrote {} file(s) to {}{}", files.len(), out.display(), gold.map_or(String::new(), |g| format!(" (with {} golden images)", g.n)));
        return Ok(ExitCode::SUCCESS);
    }
    let export = quantlens::export::Export::new(&plan, name, samples.as_deref())?;
    let gold = match (golden, &samples) {
        (Some(n), Some(x)) => Some(quantlens::export::Golden::new(&plan, &export, x, n)?),
        _ => None,
    };
    let files = export.write(format, out, gold.as_ref())?;
    print!("{}", export.table());
    println!("wrote {} file(s) to {}{}", files.len(), out.display(), gold.map_or(String::new(), |g| format!(" (with {} golden images)", g.n)));
    Ok(ExitCode::SUCCESS)
}

fn load_plan(model: &Path, profile: &str) -> Result<Plan> {
    let profile: Profile = profile.parse()?;
    let m = Model::from_path(model).with_context(|| format!("reading {}", model.display()))?;
    Plan::new(m, profile).with_context(|| format!("preparing {}", model.display()))
}

/// Threads for the outputs-only batch runs: every core.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A progress bar over `n` samples on stderr, drawn only when stderr is a
/// terminal and there is more than one sample (hidden otherwise: scripts and
/// tests see no stderr noise).
fn progress_bar(n: usize, what: &'static str) -> indicatif::ProgressBar {
    if n < 2 {
        return indicatif::ProgressBar::hidden();
    }
    counting_bar(n, what, "samples")
}

/// A bar counting `n` `unit`s on stderr (its length may be set again as the work becomes
/// known), drawn only when stderr is a terminal.
fn counting_bar(n: usize, what: &'static str, unit: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let style = indicatif::ProgressStyle::with_template(&format!("{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit} {{elapsed}} (eta {{eta}})"))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = indicatif::ProgressBar::with_draw_target(Some(n as u64), indicatif::ProgressDrawTarget::stderr()).with_style(style);
    bar.set_message(what);
    bar
}

/// The samples of an .npy file as `(N, …input shape without its leading 1)`.
fn load_inputs(plan: &Plan, path: &Path) -> Result<Stacked> {
    let x = read_samples(path)?;
    let t = &plan.model.tensors[plan.input()];
    if x.shape.first() == Some(&0) {
        bail!("{}: no samples (N = 0; shape {:?})", path.display(), x.shape);
    }
    if x.dtype() != t.dtype {
        bail!("{}: dtype {} but the model's input tensor {} ({}) is {}", path.display(), x.dtype(), t.index, t.name, t.dtype);
    }
    let n_in = t.num_elements();
    let per_sample: usize = x.sample_shape().iter().product();
    // (N, …shape without the leading 1) or, for N = 1, exactly the input shape.
    let stacked = if x.shape == t.shape && t.shape.first() == Some(&1) {
        Stacked { shape: std::iter::once(1).chain(t.shape[1..].iter().copied()).collect(), data: x.data }
    } else {
        let expected: Vec<usize> = t.shape.iter().skip_while(|&&d| d == 1).copied().collect();
        let got: Vec<usize> = x.sample_shape().iter().skip_while(|&&d| d == 1).copied().collect();
        if per_sample != n_in || got != expected {
            bail!(
                "{}: shape {:?} does not fit the model's input tensor {} ({}) of shape {:?}; expected (N, {})",
                path.display(),
                x.shape,
                t.index,
                t.name,
                t.shape,
                t.shape.get(1..).unwrap_or(&[]).iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        x
    };
    if stacked.is_empty() {
        bail!("{}: no samples (N = 0)", path.display());
    }
    Ok(stacked)
}

fn load_labels(path: &Path, n: usize) -> Result<Vec<i64>> {
    let l = read_samples(path)?;
    let v = l.to_i64_vec().with_context(|| format!("{}: labels must be integers", path.display()))?;
    if v.len() != n {
        bail!("{}: {} labels for {} samples", path.display(), v.len(), n);
    }
    Ok(v)
}

/// `inspect`: the whole file, whether or not `run` can execute it. The
/// model is read without a plan; operators `run` cannot execute are marked
/// `CANNOT RUN: <reason>`; the plan's details (S1, S2, S3, M, …) follow when
/// the whole model can be prepared.
fn inspect(model_path: &Path, profile: &str) -> Result<ExitCode> {
    let profile: Profile = profile.parse()?;
    let m = Model::from_path(model_path).with_context(|| format!("reading {}", model_path.display()))?;
    let diagnosis = Plan::diagnose(&m, profile);
    println!(
        "model {}  (schema v{}, {} tensors, {} operators, {} subgraph(s))",
        model_path.display(),
        m.version,
        m.tensors.len(),
        m.operators.len(),
        1 + m.subgraphs.len()
    );
    if let Some(d) = &m.description {
        println!("description {:?}", d);
    }
    println!("inputs {:?}  outputs {:?}  profile {} — {}", m.inputs, m.outputs, profile, profile.describe());
    println!("quantization mode: {}", quantlens::model::mode::detect(&m).describe());
    let cannot: std::collections::BTreeMap<usize, String> = diagnosis.ops.iter().map(|(k, e)| (*k, e.to_string())).collect();
    let runnable = match (&diagnosis.graph, cannot.len()) {
        (None, 0) => "yes".to_string(),
        (None, n) => format!("no: {n} operator(s) marked CANNOT RUN below"),
        (Some(e), n) => format!("no: {e}{}", if n > 0 { format!("; and {n} operator(s) marked CANNOT RUN below") } else { String::new() }),
    };
    println!("run can execute it: {runnable}");
    print_graph(&m.tensors, &m.operators, &cannot);
    for g in &m.subgraphs {
        println!("\nSUBGRAPH {} {:?}  (inputs {:?}  outputs {:?}; quantlens runs subgraph 0 only)", g.index, quantlens::model::escape_name(&g.name), g.inputs, g.outputs);
        print_graph(&g.tensors, &g.operators, &std::collections::BTreeMap::new());
    }
    if !m.signatures.is_empty() {
        println!("\nSIGNATURES");
        for sig in &m.signatures {
            let list = |v: &[(String, usize)]| v.iter().map(|(n, t)| format!("{}=t{t}", quantlens::model::escape_name(n))).collect::<Vec<_>>().join(", ");
            println!("  {:?} → subgraph {}: inputs [{}] outputs [{}]", sig.key, sig.subgraph, list(&sig.inputs), list(&sig.outputs));
        }
    }
    if !m.metadata.is_empty() {
        println!("\nMETADATA");
        for md in &m.metadata {
            println!("  {:?}: buffer {} ({} bytes)", md.name, md.buffer, md.bytes);
        }
    }
    let Ok(plan) = Plan::new(m, profile) else {
        return Ok(ExitCode::SUCCESS);
    };
    let m = &plan.model;
    for step in &plan.steps {
        if let Kernel::FullyConnected(p) = &step.kernel {
            if let quantlens::ops::fully_connected::Arith::Quantized(q) = &p.arith {
                println!("\nFULLY_CONNECTED op {}: input t{} · weights t{} (+ bias {}) → output t{}", step.op, p.input, p.weights, p.bias.map_or("none".into(), |b| format!("t{b}")), p.output);
                println!("  S1 (input t{} scale)  = {:.9e}   Z1 = {}", p.input, q.s1, q.z1);
                println!("  S3 = the OUTPUT tensor's scale (t{}) = {:.9e}   Z3 = {}", p.output, q.s3, q.z3);
                println!("  clamp [{}, {}] (fused {})   rounding: {}", q.act_min, q.act_max, p.activation.name(), q.rounding.name());
                let bias_scale = p.bias.and_then(|b| m.tensors[b].quant.as_ref().map(|bq| bq.scale.clone()));
                let show = if q.per_channel { q.s2.len().min(4) } else { 1 };
                for c in 0..show {
                    let mu = q.multipliers[c];
                    let bias_check = match &bias_scale {
                        Some(bs) => {
                            let sb = bs[if bs.len() > 1 { c } else { 0 }];
                            let want = q.s1 as f64 * q.s2[c] as f64;
                            format!("S_bias {:.6e} vs S1·S2 {:.6e} ({})", sb, want, if ((sb as f64 - want) / want).abs() < 1e-5 { "ok" } else { "MISMATCH" })
                        }
                        None => "no bias".into(),
                    };
                    let label = if q.per_channel { format!("channel {c}") } else { "per-tensor".into() };
                    println!(
                        "  {label}: S2 = {:.9e}  Z2 = {}  M = S1·S2/S3 = {:.12e} = M0·2^(shift−31): M0 = {}, shift = {}   {}",
                        q.s2[c], q.z2[c], mu.real, mu.m0, mu.shift, bias_check
                    );
                }
                if q.per_channel && q.s2.len() > show {
                    println!("  … {} more channels", q.s2.len() - show);
                }
            }
        }
        let conv = match &step.kernel {
            Kernel::Conv2d(p) => Some(("CONV_2D", p.input, p.filter, p.bias, p.output, &p.geometry, p.padding, p.activation, &p.requant, None)),
            Kernel::DepthwiseConv2d(p) => Some((
                "DEPTHWISE_CONV_2D",
                p.input,
                p.filter,
                p.bias,
                p.output,
                &p.geometry,
                p.padding,
                p.activation,
                &p.requant,
                Some(p.depth_multiplier),
            )),
            _ => None,
        };
        if let Some((name, input, filter, bias, output, g, padding, activation, r, mult)) = conv {
            println!("\n{name} op {}: input t{input} ⊛ filter t{filter} (+ bias {}) → output t{output}", step.op, bias.map_or("none".into(), |b| format!("t{b}")));
            println!(
                "  input {}×{}×{} → output {}×{}×{}, kernel {}×{}{}",
                g.in_h,
                g.in_w,
                g.in_c,
                g.out_h,
                g.out_w,
                g.out_c,
                g.k_h,
                g.k_w,
                mult.map_or(String::new(), |m| format!(", depth multiplier {m}"))
            );
            println!(
                "  padding {} ({} row(s) above, {} column(s) left)   stride {}×{}   dilation {}×{}",
                match padding {
                    quantlens::model::Padding::Same => "SAME",
                    quantlens::model::Padding::Valid => "VALID",
                },
                g.pad_h,
                g.pad_w,
                g.stride_h,
                g.stride_w,
                g.dil_h,
                g.dil_w
            );
            println!("  S1 (input t{input} scale)  = {:.9e}   Z1 = {}", r.s1, r.z1);
            let (lo, hi) = r.s2.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            if r.per_channel {
                println!("  S2 (filter t{filter}): {} per-channel scales, {:.9e} .. {:.9e}   Z2 = {}", r.s2.len(), lo, hi, r.z2);
            } else {
                println!("  S2 (filter t{filter}): per-tensor {:.9e}   Z2 = {}", r.s2[0], r.z2);
            }
            println!("  S3 = the OUTPUT tensor's scale (t{output}) = {:.9e}   Z3 = {}", r.s3, r.z3);
            println!("  clamp [{}, {}] (fused {})   rounding: {}", r.act_min, r.act_max, activation.name(), step.profile_choice());
            if r.output_dtype == quantlens::DType::U8 {
                println!("  legacy uint8: M = double(float(S1·S2)) / S3, as TFLite's GetQuantizedConvolutionMultipler; acc uses W − Z2");
            }
            let bias_scale = bias.and_then(|b| m.tensors[b].quant.as_ref().map(|bq| bq.scale.clone()));
            let show = if r.per_channel { r.s2.len().min(4) } else { 1 };
            for c in 0..show {
                let mu = r.multipliers[c];
                let bias_check = match &bias_scale {
                    Some(bs) if !bs.is_empty() => {
                        let sb = bs[if bs.len() > 1 { c } else { 0 }];
                        let want = r.s1 as f64 * r.s2[c] as f64;
                        format!("S_bias {:.6e} vs S1·S2 {:.6e} ({})", sb, want, if ((sb as f64 - want) / want).abs() < 1e-5 { "ok" } else { "MISMATCH" })
                    }
                    _ => "no bias scale".into(),
                };
                let label = if r.per_channel { format!("channel {c}") } else { "per-tensor".into() };
                println!(
                    "  {label}: S2 = {:.9e}  M = S1·S2/S3 = {:.12e} = M0·2^(shift−31): M0 = {}, shift = {}   bias {}   {}",
                    r.s2[c], mu.real, mu.m0, mu.shift, r.bias[c], bias_check
                );
            }
            if r.per_channel && r.s2.len() > show {
                println!("  … {} more channels", r.s2.len() - show);
            }
        }
    }
    // dynamic range (issue 11): where S1 comes from when it is not in the file
    print!("{}", quantlens::ops::hybrid::describe_plan(&plan));
    let quantized = |t: usize| {
        let tensor = &m.tensors[t];
        matches!(tensor.dtype, quantlens::DType::I8 | quantlens::DType::U8 | quantlens::DType::I16) && tensor.quant.as_ref().is_some_and(|q| !q.scale.is_empty())
    };
    let qdesc = |t: usize| match m.tensors[t].quant.as_ref() {
        Some(q) if q.scale.len() == 1 => format!("t{t} {} (S {:.6e}, Z {})", m.tensors[t].dtype.name(), q.scale[0], q.zero_point[0]),
        _ => format!("t{t} {}", m.tensors[t].dtype.name()),
    };
    let others: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| !matches!(s.kernel, Kernel::FullyConnected(_) | Kernel::Conv2d(_) | Kernel::DepthwiseConv2d(_)))
        .filter(|s| quantized(s.kernel.output()) || s.kernel.inputs().into_iter().any(|t| quantized(t) && matches!(s.kernel, Kernel::Dequantize(_))))
        .collect();
    if !others.is_empty() {
        println!("\nOTHER QUANTIZED OPERATORS (inputs → output, profile choice)");
        for s in others {
            let ins: Vec<String> = s.kernel.inputs().into_iter().map(qdesc).collect();
            println!(
                "{:>4}  {:<18} {} → {}   choice: {}",
                s.op,
                m.operators[s.op].kind.name(),
                ins.join(", "),
                qdesc(s.kernel.output()),
                s.profile_choice()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The tensor and operator tables of one subgraph; operators in `cannot`
/// are marked with the reason `run` cannot execute them.
fn print_graph(tensors: &[quantlens::model::Tensor], operators: &[quantlens::model::Operator], cannot: &std::collections::BTreeMap<usize, String>) {
    use quantlens::model::{escape_name, DimMetadata, QuantDetails};
    println!("\nTENSORS");
    println!("{:>4}  {:<8} {:<14} {:<26} zero point (Z) / name", "k", "dtype", "shape", "scale (S)");
    for t in tensors {
        let (s, z) = match (&t.quant, &t.quant_details) {
            (_, Some(QuantDetails::Blockwise { scales, zero_points, block_size })) => {
                (format!("blockwise: scales t{scales}, block {block_size}"), format!("t{zero_points}"))
            }
            (_, Some(QuantDetails::Custom)) => ("custom quantization".to_string(), "-".to_string()),
            (_, Some(QuantDetails::Other { kind })) => (format!("quantization details #{kind}"), "-".to_string()),
            (None, None) => ("-".to_string(), "-".to_string()),
            (Some(q), None) if q.scale.len() == 1 => (format!("{:.9e}", q.scale[0]), q.zero_point[0].to_string()),
            (Some(q), None) => {
                let (lo, hi) = q.scale.iter().fold((f32::MAX, f32::MIN), |(a, b), &s| (a.min(s), b.max(s)));
                let zs: std::collections::BTreeSet<i64> = q.zero_point.iter().copied().collect();
                (format!("{} per-channel {:.3e}..{:.3e}", q.scale.len(), lo, hi), format!("{zs:?} (axis {})", q.quantized_dimension))
            }
        };
        let kind = match (&t.sparsity, t.external_buffer) {
            (Some(sp), _) => {
                let levels: Vec<&str> = sp.dim_metadata.iter().map(|d| if matches!(d, DimMetadata::Dense { .. }) { "DENSE" } else { "SPARSE_CSR" }).collect();
                format!(
                    "sparse ({} values; traversal {:?}, block map {:?}, {})",
                    sp.value_count,
                    sp.traversal_order,
                    sp.block_map,
                    levels.join("+")
                )
            }
            (None, Some(b)) => format!("external buffer {b}"),
            _ if t.is_constant() => "const".to_string(),
            _ => String::new(),
        };
        println!("{:>4}  {:<8} {:<14} {:<26} {:<6} {} {}", t.index, t.dtype.name(), format!("{:?}", t.shape), s, z, kind, escape_name(&t.name));
    }
    println!("\nOPERATORS");
    for op in operators {
        let ins: Vec<String> = op.inputs.iter().map(|i| i.map_or("-".into(), |i| i.to_string())).collect();
        let mark = cannot.get(&op.index).map_or(String::new(), |why| format!("   CANNOT RUN: {why}"));
        println!("{:>4}  {:<18} inputs [{}] → outputs {:?}{mark}", op.index, op.kind.name(), ins.join(", "), op.outputs);
    }
}

fn run(model: &Path, input: &Path, profile: &str, dump: Option<&Path>, output: Option<&Path>, labels: Option<&Path>) -> Result<ExitCode> {
    let plan = load_plan(model, profile)?;
    let x = load_inputs(&plan, input)?;
    let labels = labels.map(|l| load_labels(l, x.len())).transpose()?;
    let bar = progress_bar(x.len(), "run");
    let inc = |k: usize| bar.inc(k as u64);
    // Every tensor only for --dump; otherwise the outputs-only path on every core.
    let (out, traces) = if dump.is_some() {
        let traces = plan.run_batch_progress(&x.samples(), &inc)?;
        (stack_tensor(&traces, plan.output()).context("the model's output was not computed")?, traces)
    } else {
        (plan.run_batch_outputs_progress(&x, threads(), &inc)?, Vec::new())
    };
    bar.finish_and_clear();
    if let Some(dir) = dump {
        write_dump(&plan, &traces, dir)?;
        println!("wrote {} tensors for {} samples to {}", plan.steps.len(), x.len(), dir.display());
    }
    if let Some(path) = output {
        out.write_npy(path)?;
    }
    let preds = argmax_per_sample(&out);
    if let Some(l) = &labels {
        println!("accuracy {:.4} ({} of {}) [{}]", accuracy(&preds, l), preds.iter().zip(l).filter(|(p, l)| **p as i64 == **l).count(), l.len(), plan.profile);
    } else if dump.is_none() && output.is_none() {
        println!("predictions: {:?}{}", &preds[..preds.len().min(20)], if preds.len() > 20 { " …" } else { "" });
    }
    Ok(ExitCode::SUCCESS)
}

/// Write every op-produced tensor into a fresh temporary directory, then
/// rename it into place: DIR is either complete or not created.
fn write_dump(plan: &Plan, traces: &[quantlens::Trace], dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("{}: dump path exists and is not a directory", dir.display());
    }
    if dir.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{}: dump directory exists and is not empty", dir.display());
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = parent.join(format!(".{}.partial-{}", dir.file_name().and_then(|n| n.to_str()).unwrap_or("dump"), std::process::id()));
    // Parents that do not exist yet are created, and removed again on failure.
    let mut created: Vec<PathBuf> = parent.ancestors().take_while(|a| !a.as_os_str().is_empty() && !a.exists()).map(Path::to_path_buf).collect();
    if let Err(e) = std::fs::create_dir_all(&tmp) {
        remove_created(&mut created);
        return Err(e).with_context(|| format!("creating {}", tmp.display()));
    }
    let result = (|| -> Result<()> {
        for step in &plan.steps {
            let t = step.kernel.output();
            let s = stack_tensor(traces, t).with_context(|| format!("tensor {t} was not computed"))?;
            s.write_npy(&tmp.join(format!("t{t}.npy")))?;
        }
        if dir.exists() {
            std::fs::remove_dir(dir)?;
        }
        std::fs::rename(&tmp, dir).with_context(|| format!("moving dump into {}", dir.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        remove_created(&mut created);
    }
    result
}

/// Remove the (empty) directories `write_dump` created, deepest first.
fn remove_created(created: &mut Vec<PathBuf>) {
    for d in created.drain(..) {
        let _ = std::fs::remove_dir(d);
    }
}

fn verify_cmd(model: &Path, input: &Path, golden: &Path, profile: &str, labels: Option<&Path>, outputs_only: bool) -> Result<ExitCode> {
    let plan = load_plan(model, profile)?;
    let x = load_inputs(&plan, input)?;
    let labels = labels.map(|l| load_labels(l, x.len())).transpose()?;
    let mut npz = Npz::open(golden)?;
    let outputs_only = outputs_only || holds_only_output(&plan, &npz.names()?);
    let bar = progress_bar(x.len(), "verify");
    let inc = |k: usize| bar.inc(k as u64);
    let result = (|| -> Result<_> {
        Ok(if outputs_only {
            let out = plan.run_batch_outputs_progress(&x, threads(), &inc)?;
            (verify_outputs(&plan, &out, &mut npz)?, out)
        } else {
            let traces = plan.run_batch_progress(&x.samples(), &inc)?;
            let out = stack_tensor(&traces, plan.output()).context("no output")?;
            (verify(&plan, &traces, &mut npz)?, out)
        })
    })();
    bar.finish_and_clear();
    let (report, ours) = result?;
    println!("profile {} vs {} — {} samples", plan.profile, golden.display(), report.samples);
    println!("{:>5}  {:<18} {:>4}  {:>10} {:>10}  {:>8}  name", "tensor", "op", "#", "differ", "elements", "max|d|");
    for t in &report.tensors {
        println!("{:>5}  {:<18} {:>4}  {:>10} {:>10}  {:>8}  {}", format!("t{}", t.tensor), t.op_kind, t.op, t.differing, t.elements, t.max_abs_diff, t.name);
    }
    if let Some(l) = &labels {
        let ours = argmax_per_sample(&ours);
        let g = npz.get(&format!("t{}", plan.output()))?;
        let theirs = argmax_per_sample(&quantlens::verify::truncate(&g, x.len()));
        println!("accuracy: quantlens {:.4}, golden runtime {:.4} ({} labels)", accuracy(&ours, l), accuracy(&theirs, l), l.len());
    }
    if report.is_exact() {
        println!("bit-exact: 0 differing elements");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("NOT bit-exact: {} differing elements", report.total_differing());
        Ok(ExitCode::from(1))
    }
}
