//! Take the model to hardware: every layer as integer-only parameters, and
//! golden vectors for a testbench.
//!
//! For every layer [`Export`] holds what an integer datapath needs: weights
//! as the stored integers in `[out][in]` order (the order a hardware loop
//! reads them: one output neuron after the other, inputs innermost), int32
//! biases, the per-channel multiplier as `M0` (Q31) and `shift`
//! (`M ≈ M0 · 2^(shift − 31)`), the input / weight / output zero points, the
//! clamp bounds, the rounding rule of the chosen profile, and the
//! **accumulator width** needed: a worst-case bound from the weights and the
//! input range, and the maximum observed on given inputs.
//!
//! Three formats ([`Format`]): a self-contained C header ([`c`]), one
//! `$readmemh` hex file per array plus a manifest ([`verilog`]), and JSON
//! ([`json`]). [`Golden`] adds N input images and every layer's expected
//! integer output in the same format.
//!
//! [`HARNESS_C`] is a small C program (integer arithmetic only) that runs
//! the exported model on the exported golden images and checks every layer.
//!
//! [`Export`] covers the MLPs (FULLY_CONNECTED, QUANTIZE, RESHAPE, SOFTMAX).
//! Every other 8-bit model is exported as a graph of layers by
//! [`c::graph::GraphExport`] (convolutions, pools, ADD/SUB/MUL,
//! CONCATENATION, MEAN, the element-wise and moving ops): C, JSON and
//! Verilog ROMs, one Rust file per op family under `src/export/c/`.

pub mod c;
pub mod json;
pub mod rtl;
pub mod vcd;
pub mod rtl_tb;
pub mod verilog;

use std::path::Path;

use crate::error::Error;
use crate::io::Stacked;
use crate::model::DType;
use crate::ops::{fully_connected, quantize, softmax};
use crate::plan::{Kernel, Plan};
use crate::profile::{Profile, Rounding, SoftmaxMethod};
use crate::tensor::Value;
use crate::trace::Trace;
use crate::verify::stack_tensor;

/// The C harness that runs an exported model (`model.h` + `golden.h`) with
/// integer arithmetic only and compares every layer with the golden outputs.
/// Usage: `harness [OUT.bin]`; prints one line per layer and exits 0 when
/// every layer of every image matches; writes every computed layer output
/// (int32, layer by layer, image by image) to `OUT.bin` if given.
pub const HARNESS_C: &str = include_str!("harness.c");

/// Output format of [`Export::write`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    C,
    Verilog,
    Json,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Format, Error> {
        match s {
            "c" => Ok(Format::C),
            "verilog" => Ok(Format::Verilog),
            "json" => Ok(Format::Json),
            other => Err(Error::Io { path: "--format".into(), message: format!("unknown format {other:?} (expected c, verilog or json)") }),
        }
    }
}

/// A tensor as the export describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub index: usize,
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub scale: Option<f32>,
    pub zero_point: Option<i32>,
}

impl TensorInfo {
    pub(crate) fn of(plan: &Plan, t: usize) -> TensorInfo {
        let tensor = &plan.model.tensors[t];
        let q = tensor.per_tensor_quant();
        TensorInfo {
            index: t,
            name: tensor.name.clone(),
            dtype: tensor.dtype,
            shape: tensor.shape.clone(),
            scale: q.map(|x| x.0),
            zero_point: q.map(|x| x.1 as i32),
        }
    }

    /// Elements.
    pub fn size(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The accumulator width a FULLY_CONNECTED layer needs.
#[derive(Clone, Debug, PartialEq)]
pub struct AccWidth {
    /// The input range assumed for the bound (the previous layer's clamp range, or the input dtype's range).
    pub input_min: i32,
    pub input_max: i32,
    /// Bound over all channels of every partial sum `bias + Σ (x − Z1)(W − Z2)`,
    /// whether the bias is added first or last.
    pub worst_min: i64,
    pub worst_max: i64,
    /// Signed bits that hold `[worst_min, worst_max]`.
    pub worst_bits: u32,
    /// Signed bits of one product `(x − Z1)(W − Z2)`.
    pub product_bits: u32,
    /// Per output channel: signed bits of its worst-case bound.
    pub worst_bits_per_channel: Vec<u32>,
    /// The smallest and largest partial sum (bias first) seen on the given inputs.
    pub observed_min: Option<i64>,
    pub observed_max: Option<i64>,
    pub observed_bits: Option<u32>,
    /// Samples behind the observed values.
    pub observed_samples: usize,
}

/// Signed two's-complement bits needed for every value in `[lo, hi]`.
pub fn signed_bits(lo: i64, hi: i64) -> u32 {
    let mut b = 1;
    while b < 64 && !((-(1i128 << (b - 1))) <= lo as i128 && (hi as i128) < (1i128 << (b - 1))) {
        b += 1;
    }
    b
}

/// A FULLY_CONNECTED layer in integers.
#[derive(Clone, Debug, PartialEq)]
pub struct Fc {
    pub in_features: usize,
    pub out_features: usize,
    pub weight_dtype: DType,
    /// Stored weights, `[out][in]`.
    pub weights: Vec<i32>,
    /// int32 bias (zeros when the op has none).
    pub bias: Vec<i32>,
    pub z1: i32,
    /// Weight zero point per output channel.
    pub z2: Vec<i32>,
    pub z3: i32,
    pub per_channel: bool,
    /// `M = S1·S2/S3` per channel (for reference; hardware uses `m0`, `shift`).
    pub m_real: Vec<f64>,
    /// Q31 mantissa per channel.
    pub m0: Vec<i32>,
    /// `M ≈ M0 · 2^(shift − 31)`; negative = right shift.
    pub shift: Vec<i32>,
    pub act_min: i32,
    pub act_max: i32,
    pub activation: String,
    pub rounding: Rounding,
    pub acc: AccWidth,
}

/// QUANTIZE between integer types: `y = clamp(Z_out + round(M·(x − Z_in)))`.
#[derive(Clone, Debug, PartialEq)]
pub struct Requant {
    pub size: usize,
    pub z_in: i32,
    pub z_out: i32,
    pub m_real: f64,
    pub m0: i32,
    pub shift: i32,
    pub out_min: i32,
    pub out_max: i32,
    pub rounding: Rounding,
}

/// SOFTMAX with its fixed-point constants (gemmlowp method).
#[derive(Clone, Debug, PartialEq)]
pub struct Softmax {
    pub size: usize,
    pub beta: f32,
    pub method: SoftmaxMethod,
    /// `β·S_in·2^26` as `M0 · 2^left_shift` (fixed-point method).
    pub input_multiplier: i32,
    pub input_left_shift: i32,
    pub diff_min: i32,
    pub z_out: i32,
    pub out_min: i32,
    pub out_max: i32,
    /// f32 table `exp(−S·β·d)` (table method only).
    pub table: Vec<f32>,
}

/// What a layer computes.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerKind {
    FullyConnected(Box<Fc>),
    Requantize(Requant),
    Softmax(Softmax),
    /// RESHAPE: same integers, nothing to compute.
    Reshape { size: usize },
}

impl LayerKind {
    /// The numeric code used in the C and Verilog exports.
    pub fn code(&self) -> i64 {
        match self {
            LayerKind::Requantize(_) => 1,
            LayerKind::FullyConnected(_) => 2,
            LayerKind::Softmax(_) => 3,
            LayerKind::Reshape { .. } => 4,
        }
    }
}

/// One layer (one op of the model).
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// Position in the export (0-based) = op index.
    pub index: usize,
    pub op: usize,
    pub op_kind: String,
    pub input: TensorInfo,
    pub output: TensorInfo,
    pub kind: LayerKind,
}

/// The code of a rounding rule in the C and Verilog exports.
pub fn rounding_code(r: Rounding) -> i64 {
    match r {
        Rounding::FixedPointDoubleRounding => 0,
        Rounding::FixedPointTiesUp => 1,
        Rounding::FixedPointSingleRounding => 2,
        Rounding::DoubleHalfAway => 3,
        Rounding::Float32HalfEven => 4,
    }
}

/// The code of a dtype in the C and Verilog exports.
pub fn dtype_code(d: DType) -> i64 {
    match d {
        DType::I8 => 1,
        DType::U8 => 2,
        DType::I16 => 3,
        DType::I32 => 4,
        // float plumbing (issue 15, item 4): float32 buffers and goldens, compared by bits
        DType::F32 => 5,
        // tops_ptq_int8: bool, stored as uint8 0 / 1
        DType::Bool => 2,
        _ => 0,
    }
}

/// One integer array of the export.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// e.g. `l1_weights`.
    pub name: String,
    pub dtype: DType,
    pub values: Vec<i64>,
    /// What the index means, e.g. `[out=512][in=784]`.
    pub layout: String,
}

/// One integer constant of the export.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    /// e.g. `L1_Z1`.
    pub name: String,
    pub value: i64,
    pub doc: String,
}

impl Layer {
    /// The layer's arrays, named `l<k>_…`.
    pub fn arrays(&self) -> Vec<Array> {
        let k = self.index;
        match &self.kind {
            LayerKind::FullyConnected(f) => {
                let lay = format!("[out={}][in={}]", f.out_features, f.in_features);
                let per = format!("[out={}]", f.out_features);
                let v32 = |v: &[i32]| v.iter().map(|&x| x as i64).collect::<Vec<i64>>();
                vec![
                    Array { name: format!("l{k}_weights"), dtype: f.weight_dtype, values: v32(&f.weights), layout: lay },
                    Array { name: format!("l{k}_bias"), dtype: DType::I32, values: v32(&f.bias), layout: per.clone() },
                    Array { name: format!("l{k}_z2"), dtype: DType::I32, values: v32(&f.z2), layout: per.clone() },
                    Array { name: format!("l{k}_m0"), dtype: DType::I32, values: v32(&f.m0), layout: per.clone() },
                    Array { name: format!("l{k}_shift"), dtype: DType::I32, values: v32(&f.shift), layout: per },
                ]
            }
            _ => vec![],
        }
    }

    /// The layer's constants, named `L<k>_…`.
    pub fn scalars(&self) -> Vec<Scalar> {
        let k = self.index;
        let s = |n: &str, v: i64, d: &str| Scalar { name: format!("L{k}_{n}"), value: v, doc: d.to_string() };
        let mut out = vec![
            s("KIND", self.kind.code(), "1 requantize, 2 fully connected, 3 softmax, 4 reshape"),
            s("IN_SIZE", self.input.size() as i64, "input elements"),
            s("OUT_SIZE", self.output.size() as i64, "output elements"),
            s("IN_DTYPE", dtype_code(self.input.dtype), "1 int8, 2 uint8, 3 int16, 4 int32"),
            s("OUT_DTYPE", dtype_code(self.output.dtype), "1 int8, 2 uint8, 3 int16, 4 int32"),
        ];
        match &self.kind {
            LayerKind::FullyConnected(f) => {
                out.extend([
                    s("IN", f.in_features as i64, "inputs per output"),
                    s("OUT", f.out_features as i64, "outputs"),
                    s("WEIGHT_DTYPE", dtype_code(f.weight_dtype), "1 int8, 2 uint8"),
                    s("Z1", f.z1 as i64, "input zero point"),
                    s("Z3", f.z3 as i64, "output zero point"),
                    s("ACT_MIN", f.act_min as i64, "clamp low"),
                    s("ACT_MAX", f.act_max as i64, "clamp high"),
                    s("PER_CHANNEL", f.per_channel as i64, "1 = one weight scale per output channel"),
                    s("ROUNDING", rounding_code(f.rounding), f.rounding.name()),
                    s("ACC_BITS_WORST", f.acc.worst_bits as i64, "accumulator bits, worst case from weights and input range"),
                    s("ACC_WORST_MIN", f.acc.worst_min, "worst-case smallest partial sum"),
                    s("ACC_WORST_MAX", f.acc.worst_max, "worst-case largest partial sum"),
                    s("PRODUCT_BITS", f.acc.product_bits as i64, "bits of one (x - Z1)(W - Z2)"),
                ]);
                if let (Some(b), Some(lo), Some(hi)) = (f.acc.observed_bits, f.acc.observed_min, f.acc.observed_max) {
                    out.extend([
                        s("ACC_BITS_OBSERVED", b as i64, "accumulator bits, largest seen on the given inputs"),
                        s("ACC_OBSERVED_MIN", lo, "smallest partial sum seen"),
                        s("ACC_OBSERVED_MAX", hi, "largest partial sum seen"),
                    ]);
                }
            }
            LayerKind::Requantize(r) => out.extend([
                s("Z_IN", r.z_in as i64, "input zero point"),
                s("Z_OUT", r.z_out as i64, "output zero point"),
                s("M0", r.m0 as i64, "Q31 multiplier"),
                s("SHIFT", r.shift as i64, "M = M0 * 2^(SHIFT - 31)"),
                s("OUT_MIN", r.out_min as i64, "clamp low"),
                s("OUT_MAX", r.out_max as i64, "clamp high"),
                s("ROUNDING", rounding_code(r.rounding), r.rounding.name()),
            ]),
            LayerKind::Softmax(sm) => out.extend([
                s("SOFTMAX_FIXED_POINT", (sm.method == SoftmaxMethod::GemmlowpFixedPoint) as i64, "1 = gemmlowp fixed point"),
                s("SM_MULTIPLIER", sm.input_multiplier as i64, "beta*S_in*2^26 as M0"),
                s("SM_LEFT_SHIFT", sm.input_left_shift as i64, "... times 2^SM_LEFT_SHIFT"),
                s("SM_DIFF_MIN", sm.diff_min as i64, "differences below this give 0"),
                s("Z_OUT", sm.z_out as i64, "output zero point"),
                s("OUT_MIN", sm.out_min as i64, "clamp low"),
                s("OUT_MAX", sm.out_max as i64, "clamp high"),
            ]),
            LayerKind::Reshape { .. } => {}
        }
        out
    }
}

/// The model as integer-only parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Export {
    pub model_name: String,
    pub profile: Profile,
    pub input: TensorInfo,
    pub output: TensorInfo,
    pub layers: Vec<Layer>,
}

/// N input images and every layer's expected output.
#[derive(Clone, Debug, PartialEq)]
pub struct Golden {
    pub n: usize,
    /// `(N, input size)` in the input dtype.
    pub input: Stacked,
    /// Per layer: `(N, output size)` in the layer's output dtype.
    pub outputs: Vec<Stacked>,
}

pub(crate) fn unsupported(what: String) -> Error {
    Error::Engine(crate::error::EngineError::BadInput(format!("export: {what}")))
}

impl Export {
    /// Build the export of `plan`. With `inputs`, the accumulator ranges
    /// actually reached on them are recorded too.
    pub fn new(plan: &Plan, model_name: &str, inputs: Option<&[Value]>) -> Result<Export, Error> {
        let traces: Vec<Trace> = match inputs {
            Some(x) => plan.run_batch(x)?,
            None => vec![],
        };
        let mut layers = Vec::new();
        // The clamp range of each tensor written by an earlier layer.
        let mut ranges: std::collections::HashMap<usize, (i32, i32)> = std::collections::HashMap::new();
        for (index, step) in plan.steps.iter().enumerate() {
            let input = TensorInfo::of(plan, step.kernel.data_input());
            let output = TensorInfo::of(plan, step.kernel.output());
            #[allow(unreachable_patterns)]
            let kind = match &step.kernel {
                Kernel::FullyConnected(p) => {
                    let r = ranges.get(&p.input).copied();
                    let fc = export_fc(plan, p, r, &traces)?;
                    ranges.insert(p.output, (fc.act_min, fc.act_max));
                    LayerKind::FullyConnected(Box::new(fc))
                }
                Kernel::Quantize(p) => {
                    let r = export_requant(p, input.size())?;
                    ranges.insert(p.output, (r.out_min, r.out_max));
                    LayerKind::Requantize(r)
                }
                Kernel::Softmax(p) => LayerKind::Softmax(export_softmax(plan, p)?),
                Kernel::Reshape(p) => {
                    if let Some(&r) = ranges.get(&p.input) {
                        ranges.insert(p.output, r);
                    }
                    LayerKind::Reshape { size: output.size() }
                }
                Kernel::Dequantize(_) => return Err(unsupported(format!("op {} DEQUANTIZE produces floats; integer export stops before it", step.op))),
                _ => return Err(unsupported(format!("op {} {}: export covers FULLY_CONNECTED, QUANTIZE, RESHAPE and SOFTMAX models (MLPs)", step.op, plan.model.operators[step.op].kind.name()))),
            };
            layers.push(Layer { index, op: step.op, op_kind: plan.model.operators[step.op].kind.name(), input, output, kind });
        }
        Ok(Export {
            model_name: model_name.to_string(),
            profile: plan.profile,
            input: TensorInfo::of(plan, plan.input()),
            output: TensorInfo::of(plan, plan.output()),
            layers,
        })
    }

    /// The FULLY_CONNECTED layers.
    pub fn fully_connected(&self) -> impl Iterator<Item = (&Layer, &Fc)> {
        self.layers.iter().filter_map(|l| match &l.kind {
            LayerKind::FullyConnected(f) => Some((l, f.as_ref())),
            _ => None,
        })
    }

    /// Write the export (and the golden vectors, if any) to `dir` in `format`.
    /// Returns the files written.
    pub fn write(&self, format: Format, dir: &Path, golden: Option<&Golden>) -> Result<Vec<std::path::PathBuf>, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io { path: dir.display().to_string(), message: e.to_string() })?;
        match format {
            Format::C => c::write(self, dir, golden),
            Format::Verilog => verilog::write(self, dir, golden),
            Format::Json => json::write(self, dir, golden),
        }
    }

    /// A text table of every layer's multipliers, zero points, clamp and
    /// accumulator width.
    pub fn table(&self) -> String {
        let mut s = format!("model {} — profile {} ({})\n", self.model_name, self.profile, self.profile.describe());
        for l in &self.layers {
            s += &format!("layer {} (op {} {}): t{} {} → t{} {}\n", l.index, l.op, l.op_kind, l.input.index, l.input.dtype, l.output.index, l.output.dtype);
            match &l.kind {
                LayerKind::FullyConnected(f) => {
                    s += &format!(
                        "  [{}][{}] {} weights, Z1 = {}, Z3 = {}, clamp [{}, {}] ({}), rounding: {}\n",
                        f.out_features,
                        f.in_features,
                        f.weight_dtype,
                        f.z1,
                        f.z3,
                        f.act_min,
                        f.act_max,
                        f.activation,
                        f.rounding.name()
                    );
                    s += &format!(
                        "  accumulator: worst case [{}, {}] = {} bits (inputs in [{}, {}], products {} bits); observed {}\n",
                        f.acc.worst_min,
                        f.acc.worst_max,
                        f.acc.worst_bits,
                        f.acc.input_min,
                        f.acc.input_max,
                        f.acc.product_bits,
                        match (f.acc.observed_min, f.acc.observed_max, f.acc.observed_bits) {
                            (Some(lo), Some(hi), Some(b)) => format!("[{lo}, {hi}] = {b} bits over {} images", f.acc.observed_samples),
                            _ => "-".into(),
                        }
                    );
                    s += &format!("  {:>5} {:>12} {:>6} {:>16} {:>4} {:>10}\n", "c", "M0", "shift", "M", "Z2", "bias");
                    let show: Vec<usize> = if f.out_features <= 10 { (0..f.out_features).collect() } else { vec![0, 1, 2, f.out_features - 1] };
                    for (i, &c) in show.iter().enumerate() {
                        if i == 3 && f.out_features > 10 {
                            s += &format!("  {:>5}\n", "…");
                        }
                        s += &format!("  {:>5} {:>12} {:>6} {:>16.10e} {:>4} {:>10}\n", c, f.m0[c], f.shift[c], f.m_real[c], f.z2[c], f.bias[c]);
                    }
                }
                LayerKind::Requantize(r) => {
                    s += &format!(
                        "  y = clamp({} + round(M·(x − {})), {}, {}), M = {} = M0 {} · 2^({} − 31), rounding: {}\n",
                        r.z_out,
                        r.z_in,
                        r.out_min,
                        r.out_max,
                        r.m_real,
                        r.m0,
                        r.shift,
                        r.rounding.name()
                    );
                }
                LayerKind::Softmax(sm) => {
                    s += &format!(
                        "  {:?}: input multiplier {} · 2^{}, diff_min {}, output Z {}\n",
                        sm.method, sm.input_multiplier, sm.input_left_shift, sm.diff_min, sm.z_out
                    );
                }
                LayerKind::Reshape { .. } => s += "  (no arithmetic)\n",
            }
        }
        s
    }

    /// Accumulator width per FULLY_CONNECTED layer: worst case vs observed, with 16/24/32-bit lines.
    #[cfg(feature = "charts")]
    pub fn accumulator_chart(&self) -> crate::charts::Chart {
        let mut cats = Vec::new();
        let (mut worst, mut seen, mut prod) = (Vec::new(), Vec::new(), Vec::new());
        for (l, f) in self.fully_connected() {
            cats.push(format!("layer {} [{}×{}]", l.index, f.out_features, f.in_features));
            worst.push(f.acc.worst_bits as f64);
            seen.push(f.acc.observed_bits.map_or(0.0, |b| b as f64));
            prod.push(f.acc.product_bits as f64);
        }
        let series = vec![
            ("one product (x−Z1)(W−Z2)".to_string(), prod),
            ("accumulator, worst case".to_string(), worst),
            ("accumulator, max observed".to_string(), seen),
        ];
        crate::charts::grouped_bars_with_lines(
            &format!("Accumulator width per layer — {}", self.model_name),
            "signed bits",
            &cats,
            &series,
            &[(16.0, "16 bits".into()), (24.0, "24 bits".into()), (32.0, "int32".into())],
        )
    }
}

pub(crate) fn export_fc(plan: &Plan, p: &fully_connected::Params, input_range: Option<(i32, i32)>, traces: &[Trace]) -> Result<Fc, Error> {
    let fully_connected::Arith::Quantized(q) = &p.arith else {
        return Err(unsupported(format!("tensor t{}: float FULLY_CONNECTED has no integer export", p.output)));
    };
    let wt = &plan.model.tensors[p.weights];
    let w = Value::from_constant(wt).and_then(|v| v.to_i64_vec()).ok_or_else(|| unsupported("weights".into()))?;
    let weights: Vec<i32> = w.iter().map(|&x| x as i32).collect();
    let (in_min, in_max) = input_range.unwrap_or_else(|| crate::ops::int_range(q.input_dtype));
    let (xl, xh) = ((in_min - q.z1) as i64, (in_max - q.z1) as i64);
    let (mut lo_all, mut hi_all) = (0i64, 0i64);
    let mut per_channel_bits = Vec::with_capacity(p.out_features);
    let mut max_prod = 0i64;
    for c in 0..p.out_features {
        let b = q.bias[c] as i64;
        let (mut lo, mut hi) = (b.min(0), b.max(0));
        for i in 0..p.in_features {
            let wc = q.w_centered[c * p.in_features + i] as i64;
            let (a, bb) = (xl * wc, xh * wc);
            lo += a.min(bb).min(0);
            hi += a.max(bb).max(0);
            max_prod = max_prod.max(a.abs()).max(bb.abs());
        }
        per_channel_bits.push(signed_bits(lo, hi));
        lo_all = lo_all.min(lo);
        hi_all = hi_all.max(hi);
    }
    let product_bits = signed_bits(-max_prod, max_prod);
    let (mut obs_lo, mut obs_hi) = (i64::MAX, i64::MIN);
    for tr in traces {
        let Some(xv) = tr.value(p.input).and_then(|v| v.to_i64_vec()) else { continue };
        for row in xv.chunks(p.in_features) {
            let xc: Vec<i64> = row.iter().map(|&x| x - q.z1 as i64).collect();
            for c in 0..p.out_features {
                let mut acc = q.bias[c] as i64;
                obs_lo = obs_lo.min(acc);
                obs_hi = obs_hi.max(acc);
                for (wv, xv) in q.w_centered[c * p.in_features..(c + 1) * p.in_features].iter().zip(&xc) {
                    acc += *wv as i64 * xv;
                    obs_lo = obs_lo.min(acc);
                    obs_hi = obs_hi.max(acc);
                }
            }
        }
    }
    let observed = !traces.is_empty() && obs_lo <= obs_hi;
    Ok(Fc {
        in_features: p.in_features,
        out_features: p.out_features,
        weight_dtype: wt.dtype,
        weights,
        bias: q.bias.clone(),
        z1: q.z1,
        z2: q.z2.clone(),
        z3: q.z3,
        per_channel: q.per_channel,
        m_real: q.multipliers.iter().map(|m| m.real).collect(),
        m0: q.multipliers.iter().map(|m| m.m0).collect(),
        shift: q.multipliers.iter().map(|m| m.shift).collect(),
        act_min: q.act_min,
        act_max: q.act_max,
        activation: p.activation.name().to_string(),
        rounding: q.rounding,
        acc: AccWidth {
            input_min: in_min,
            input_max: in_max,
            worst_min: lo_all,
            worst_max: hi_all,
            worst_bits: signed_bits(lo_all, hi_all),
            product_bits,
            worst_bits_per_channel: per_channel_bits,
            observed_min: observed.then_some(obs_lo),
            observed_max: observed.then_some(obs_hi),
            observed_bits: observed.then(|| signed_bits(obs_lo, obs_hi)),
            observed_samples: traces.len(),
        },
    })
}

pub(crate) fn export_requant(p: &quantize::Params, size: usize) -> Result<Requant, Error> {
    let (z_in, multiplier, rounding) = match &p.arith {
        quantize::Arith::Requantize { z_in, multiplier, rounding, .. } => (z_in, multiplier, rounding),
        quantize::Arith::XnnpackQ8 { .. } => {
            return Err(unsupported(format!("tensor t{}: QUANTIZE with XNNPACK's Q8 convert has no export (export with another profile)", p.output)))
        }
        quantize::Arith::FromFloat => {
            return Err(unsupported(format!("tensor t{}: QUANTIZE from float has no integer export (give the model integer inputs)", p.output)))
        }
    };
    let (out_min, out_max) = crate::ops::int_range(p.output_dtype);
    Ok(Requant {
        size,
        z_in: *z_in,
        z_out: p.z_out,
        m_real: multiplier.real,
        m0: multiplier.m0,
        shift: multiplier.shift,
        out_min,
        out_max,
        rounding: *rounding,
    })
}

pub(crate) fn export_softmax(plan: &Plan, p: &softmax::Params) -> Result<Softmax, Error> {
    let out = &plan.model.tensors[p.output];
    let (out_min, out_max) = crate::ops::int_range(out.dtype);
    let z_out = out.per_tensor_quant().map_or(0, |q| q.1 as i32);
    let size = out.num_elements();
    match &p.arith {
        softmax::Arith::FixedPoint(f) => Ok(Softmax {
            size,
            beta: p.beta,
            method: SoftmaxMethod::GemmlowpFixedPoint,
            input_multiplier: f.input_multiplier,
            input_left_shift: f.input_left_shift,
            diff_min: f.diff_min,
            z_out,
            out_min,
            out_max,
            table: vec![],
        }),
        softmax::Arith::Table(t) => Ok(Softmax {
            size,
            beta: p.beta,
            method: SoftmaxMethod::FloatExpTable,
            input_multiplier: 0,
            input_left_shift: 0,
            diff_min: 0,
            z_out,
            out_min,
            out_max,
            table: t.table.clone(),
        }),
        softmax::Arith::Float => Err(unsupported(format!("tensor t{}: float SOFTMAX has no integer export", p.output))),
    }
}

impl Golden {
    /// The first `n` of `inputs` and every layer's output on them under `plan`.
    pub fn new(plan: &Plan, export: &Export, inputs: &[Value], n: usize) -> Result<Golden, Error> {
        let tensors: Vec<usize> = export.layers.iter().map(|l| l.output.index).collect();
        Golden::of_tensors(plan, &tensors, inputs, n)
    }

    /// The first `n` of `inputs` and the values of `tensors` on them under `plan`.
    pub fn of_tensors(plan: &Plan, tensors: &[usize], inputs: &[Value], n: usize) -> Result<Golden, Error> {
        if n == 0 || n > inputs.len() {
            return Err(unsupported(format!("--golden {n}: the input file has {} samples", inputs.len())));
        }
        let xs = &inputs[..n];
        let traces = plan.run_batch(xs)?;
        let flat = |s: Stacked| {
            let per: usize = s.sample_shape().iter().product();
            Stacked { shape: vec![s.len(), per], data: s.data }
        };
        let refs: Vec<&Value> = xs.iter().collect();
        let input = flat(Stacked::from_values(&refs).ok_or_else(|| unsupported("inputs of different shapes".into()))?);
        let mut outputs = Vec::new();
        for &t in tensors {
            let s = stack_tensor(&traces, t).ok_or_else(|| unsupported(format!("t{t} not computed")))?;
            outputs.push(flat(s));
        }
        Ok(Golden { n, input, outputs })
    }
}

/// Hex digits for one element of `dtype` in `$readmemh` files (two's complement).
pub fn hex_digits(dtype: DType) -> usize {
    match dtype {
        DType::I8 | DType::U8 | DType::Bool => 2,
        DType::I16 => 4,
        DType::I32 | DType::F32 => 8,
        DType::I64 => 16,
        // reader: dtypes a plan never exports (it refuses them); their bytes in hex
        other => 2 * other.size(),
    }
}

/// The C type of a dtype.
pub fn c_type(dtype: DType) -> &'static str {
    match dtype {
        DType::I8 => "int8_t",
        DType::U8 | DType::Bool => "uint8_t",
        DType::I16 => "int16_t",
        DType::I32 => "int32_t",
        DType::I64 => "int64_t",
        DType::F32 => "float",
        // reader: dtypes a plan never exports (it refuses them), as raw storage
        DType::F64 => "double",
        DType::U16 | DType::F16 | DType::BF16 => "uint16_t",
        DType::U32 => "uint32_t",
        DType::U64 | DType::Complex64 => "uint64_t",
        _ => "uint8_t",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_bits_examples() {
        assert_eq!(signed_bits(0, 0), 1);
        assert_eq!(signed_bits(-1, 0), 1);
        assert_eq!(signed_bits(-128, 127), 8);
        assert_eq!(signed_bits(-128, 128), 9);
        assert_eq!(signed_bits(-129, 0), 9);
        assert_eq!(signed_bits(i32::MIN as i64, i32::MAX as i64), 32);
        assert_eq!(signed_bits(0, 255), 9);
    }

    #[test]
    fn hex_round_trip() {
        use verilog::{hex, parse_hex};
        for (v, d, s) in [(-128i64, 2, true), (127, 2, true), (-1, 2, true), (255, 2, false), (i32::MIN as i64, 8, true), (-4735, 8, true)] {
            assert_eq!(parse_hex(&hex(v, d), d, s), Some(v), "{v}");
        }
        assert_eq!(hex(-1, 2), "ff");
        assert_eq!(hex(-4735, 8), "ffffed81");
    }
}
