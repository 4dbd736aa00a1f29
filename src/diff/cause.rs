//! Known mistakes, and how to recompute an op under each of them.
//!
//! A hand-written forward pass that does not match usually makes one of a
//! handful of mistakes. [`Mistake`] names them; `Spec` is "the op as the
//! runtime computes it, except for these mistakes"; `ReqCtx` holds one
//! requantizing op (FULLY_CONNECTED, or QUANTIZE between integer types) with
//! its inputs and the user's outputs, and counts how many of the user's
//! values a spec reproduces. The mistake that reproduces the user's values
//! is the likely cause.

use std::collections::HashMap;
use std::fmt;

use crate::model::DType;
use crate::profile::{Multiplier, NaiveRounding, Profile, Rounding};
use crate::quant;

/// A rounding rule for `M · acc`: one a runtime uses, or a naive one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    Runtime(Rounding),
    Naive(NaiveRounding),
}

impl Rule {
    /// Every rule: the runtimes' first, then the naive ones.
    pub fn all() -> Vec<Rule> {
        Rounding::ALL.iter().map(|&r| Rule::Runtime(r)).chain(NaiveRounding::ALL.iter().map(|&r| Rule::Naive(r))).collect()
    }

    #[inline]
    pub fn apply(self, acc: i32, m: &Multiplier) -> i32 {
        match self {
            Rule::Runtime(r) => r.apply(acc, m),
            Rule::Naive(r) => r.apply(acc, m),
        }
    }

    /// Stable key: `floor`, `truncate`, `half-up`, `half-even`,
    /// `half-even-f32`, `double-rounding`, `half-away`, … (see
    /// [`Rounding::key`] and [`NaiveRounding::key`]).
    pub fn key(self) -> &'static str {
        match self {
            Rule::Runtime(r) => r.key(),
            Rule::Naive(r) => r.key(),
        }
    }

    /// The family name the issue uses (floor, truncation, half-up,
    /// half-even, double rounding, half away from zero).
    pub fn family(self) -> &'static str {
        match self {
            Rule::Runtime(Rounding::DoubleHalfAway) => "half away from zero",
            Rule::Runtime(Rounding::FixedPointDoubleRounding) => "double rounding",
            Rule::Runtime(Rounding::FixedPointSingleRounding) => "half-up (single rounding)",
            Rule::Runtime(Rounding::FixedPointTiesUp) => "half-up",
            Rule::Runtime(Rounding::Float32HalfEven) => "half-even",
            Rule::Naive(NaiveRounding::DoubleFloor | NaiveRounding::FixedPointFloor) => "floor",
            Rule::Naive(NaiveRounding::DoubleTruncate) => "truncation",
            Rule::Naive(NaiveRounding::DoubleHalfUp) => "half-up",
            Rule::Naive(NaiveRounding::DoubleHalfEven | NaiveRounding::FixedPointHalfEven) => "half-even",
        }
    }

    /// One line: family, exact rule, and which profile uses it.
    pub fn describe(self) -> String {
        match self {
            Rule::Runtime(r) => {
                let ps: Vec<&str> = r.profiles().iter().map(|p| p.name()).collect();
                let who = if ps.is_empty() {
                    "used by TFLite built with TFLITE_SINGLE_ROUNDING, not by the emulated profiles".to_string()
                } else {
                    format!("the rule of profile {}", ps.join(", "))
                };
                format!("{} — {} ({who})", self.family(), r.name())
            }
            Rule::Naive(r) => format!("{} — {} (no runtime rounds this way)", self.family(), r.name()),
        }
    }

    /// Round a real value the way this rule rounds its ties and fractions
    /// (for mistakes that leave the integer pipeline).
    pub fn round_real(self, x: f64) -> f64 {
        match self {
            Rule::Naive(NaiveRounding::DoubleFloor | NaiveRounding::FixedPointFloor) => x.floor(),
            Rule::Naive(NaiveRounding::DoubleTruncate) => x.trunc(),
            Rule::Naive(NaiveRounding::DoubleHalfUp) | Rule::Runtime(Rounding::FixedPointSingleRounding) => (x + 0.5).floor(),
            Rule::Naive(NaiveRounding::DoubleHalfEven | NaiveRounding::FixedPointHalfEven)
            | Rule::Runtime(Rounding::Float32HalfEven) => x.round_ties_even(),
            _ => quant::round_half_away_from_zero(x),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Which scale took the place of S3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScaleUsed {
    /// S3 := S1 (the input's scale used for the output): `M = S2`.
    InputScale,
    /// S3 left out: `M = S1·S2`.
    Omitted,
}

/// Which single weight scale replaced the per-channel ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PerTensorChoice {
    /// `S2[0]` for every channel.
    First,
    /// `max S2[c]`.
    Max,
    /// The mean of `S2[c]`.
    Mean,
}

/// How a SOFTMAX was computed instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SoftmaxVariant {
    /// The method of another profile (fixed point vs f32 table).
    Profile(Profile),
    /// Exact floating-point softmax of the dequantized input, then quantized.
    Float,
}

/// A known mistake in a hand-written quantized forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mistake {
    /// `Σ (x − Z1)·W` instead of `Σ (x − Z1)(W − Z2)`.
    WeightZeroPointNotSubtracted,
    /// `Σ x·(W − Z2)` instead of `Σ (x − Z1)(W − Z2)` (QUANTIZE: `x` for `x − Z_in`).
    InputZeroPointIgnored,
    /// `Z3` not added to the scaled result.
    OutputZeroPointMissing,
    /// `M` computed with the wrong S3.
    WrongOutputScale(ScaleUsed),
    /// `acc` not multiplied by `M` at all.
    MultiplierNotApplied,
    /// Weights read as `[in][out]` although TFLite stores `[out][in]`.
    WeightsTransposed,
    /// No bias.
    BiasMissing,
    /// The int32 bias treated as a real value: `y_real = S1·S2·acc + b`, i.e. `M·acc + b/S3`.
    BiasRealValued,
    /// The int32 bias added to the output after `× M` (not scaled).
    BiasAfterRequantization,
    /// No clamp / saturation: the value wraps in the output type.
    ClampMissing,
    /// ReLU as `max(q, 0)` on the integers instead of `max(q, Z3)`.
    ReluAtZero,
    /// The fused activation's clamp not applied (only the dtype range).
    ActivationMissing,
    /// A ReLU applied to a layer that has none.
    ActivationSpurious,
    /// Another rounding rule for `M · acc`.
    Rounding(Rule),
    /// Per-channel weight scales replaced by one scale.
    PerChannelAsPerTensor(PerTensorChoice),
    /// SOFTMAX computed another way.
    Softmax(SoftmaxVariant),
    /// The accumulator kept in a narrow integer type, so `Σ (x − Z1)(W − Z2)`
    /// wraps around: numpy's `np.dot` of two `uint8` arrays returns `uint8`
    /// (sums modulo 256), of `int8` arrays `int8`, of `int16` arrays `int16`.
    AccumulatorWrap(DType),
    /// The weights read with the wrong signedness: int8 weights read as
    /// uint8 (`w + 256` for negative `w`), or uint8 weights read as int8.
    WeightSignedness,
}

impl Mistake {
    /// A stable key for tests and scripts: `weight-zero-point`,
    /// `input-zero-point`, `output-zero-point`, `wrong-s3:input-scale`,
    /// `wrong-s3:omitted`, `m-not-applied`, `weights-transposed`,
    /// `bias-missing`, `bias-real-valued`, `bias-after-requant`,
    /// `clamp-missing`, `relu-at-zero`, `activation-missing`,
    /// `activation-spurious`, `rounding:<rule>`, `per-channel-as-per-tensor:<which>`,
    /// `softmax:<profile|float>`, `acc-wrap:<uint8|int8|int16>`, `weight-signedness`.
    pub fn key(&self) -> String {
        match self {
            Mistake::WeightZeroPointNotSubtracted => "weight-zero-point".into(),
            Mistake::InputZeroPointIgnored => "input-zero-point".into(),
            Mistake::OutputZeroPointMissing => "output-zero-point".into(),
            Mistake::WrongOutputScale(ScaleUsed::InputScale) => "wrong-s3:input-scale".into(),
            Mistake::WrongOutputScale(ScaleUsed::Omitted) => "wrong-s3:omitted".into(),
            Mistake::MultiplierNotApplied => "m-not-applied".into(),
            Mistake::WeightsTransposed => "weights-transposed".into(),
            Mistake::BiasMissing => "bias-missing".into(),
            Mistake::BiasRealValued => "bias-real-valued".into(),
            Mistake::BiasAfterRequantization => "bias-after-requant".into(),
            Mistake::ClampMissing => "clamp-missing".into(),
            Mistake::ReluAtZero => "relu-at-zero".into(),
            Mistake::ActivationMissing => "activation-missing".into(),
            Mistake::ActivationSpurious => "activation-spurious".into(),
            Mistake::Rounding(r) => format!("rounding:{}", r.key()),
            Mistake::PerChannelAsPerTensor(c) => format!(
                "per-channel-as-per-tensor:{}",
                match c {
                    PerTensorChoice::First => "first",
                    PerTensorChoice::Max => "max",
                    PerTensorChoice::Mean => "mean",
                }
            ),
            Mistake::Softmax(SoftmaxVariant::Profile(p)) => format!("softmax:{}", p.name()),
            Mistake::Softmax(SoftmaxVariant::Float) => "softmax:float".into(),
            Mistake::AccumulatorWrap(d) => format!("acc-wrap:{}", d.name().to_lowercase()),
            Mistake::WeightSignedness => "weight-signedness".into(),
        }
    }

    /// Mistakes of one family replace the same part of the computation, so
    /// a combination takes at most one per family.
    pub fn family(&self) -> u8 {
        match self {
            Mistake::InputZeroPointIgnored => 0,
            Mistake::WeightZeroPointNotSubtracted | Mistake::WeightsTransposed | Mistake::WeightSignedness => 1,
            Mistake::BiasMissing | Mistake::BiasRealValued | Mistake::BiasAfterRequantization => 2,
            Mistake::WrongOutputScale(_) | Mistake::MultiplierNotApplied | Mistake::PerChannelAsPerTensor(_) => 3,
            Mistake::Rounding(_) => 4,
            Mistake::OutputZeroPointMissing => 5,
            Mistake::ClampMissing | Mistake::ReluAtZero | Mistake::ActivationMissing | Mistake::ActivationSpurious => 6,
            Mistake::Softmax(_) => 7,
            Mistake::AccumulatorWrap(_) => 8,
        }
    }

    /// What the mistake is, with the layer's own numbers.
    pub fn describe(&self, f: &LayerFacts) -> String {
        match self {
            Mistake::WeightZeroPointNotSubtracted => format!(
                "weight zero point not subtracted: Σ (x − Z1)·W instead of Σ (x − Z1)(W − Z2), with Z2 = {}",
                f.z2_summary
            ),
            Mistake::InputZeroPointIgnored => {
                if f.is_fc {
                    format!("input zero point ignored: Σ x·(W − Z2) instead of Σ (x − Z1)(W − Z2), with Z1 = {}", f.z1)
                } else {
                    format!("input zero point ignored: x used instead of x − Z_in, Z_in = {}", f.z1)
                }
            }
            Mistake::OutputZeroPointMissing => format!("output zero point not added: Z3 = {} missing after M·acc", f.z3),
            Mistake::WrongOutputScale(ScaleUsed::InputScale) => format!(
                "wrong S3: the input's scale S1 = {:.6e} used where S3 (the OUTPUT tensor t{}'s scale, {:.6e}) belongs, so M = S2",
                f.s1, f.output, f.s3
            ),
            Mistake::WrongOutputScale(ScaleUsed::Omitted) => format!(
                "wrong S3: S3 left out, M = S1·S2 instead of S1·S2/S3 (S3 = {:.6e}, the scale of output tensor t{})",
                f.s3, f.output
            ),
            Mistake::MultiplierNotApplied => {
                format!("M not applied: the int32 accumulator used directly instead of M·acc (M = S1·S2/S3 ≈ {:.6e})", f.m_example)
            }
            Mistake::WeightsTransposed => format!(
                "weights transposed: W read as [in][out]; TFLite stores FULLY_CONNECTED weights as [out][in] = [{}][{}]",
                f.out_features, f.in_features
            ),
            Mistake::BiasMissing => "bias missing (or added as the tiny real value S1·S2·b to the integer accumulator)".into(),
            Mistake::BiasRealValued => {
                "bias treated as real-valued: the int32 bias (already in units of S1·S2) added to S1·S2·acc as if it were real, i.e. M·acc + b/S3"
                    .into()
            }
            Mistake::BiasAfterRequantization => "bias added after × M (unscaled) instead of to the accumulator".into(),
            Mistake::ClampMissing => format!(
                "missing saturation: no clamp to [{}, {}] (a ReLU's own bound kept), values wrap around in {}",
                f.act_min,
                f.act_max,
                f.user_dtype.map_or("the output type".to_string(), |d| d.name().to_string())
            ),
            Mistake::ReluAtZero => format!(
                "ReLU range wrong: clamped at the integer 0 instead of the zero point Z3 = {} (real 0.0 is q = Z3)",
                f.z3
            ),
            Mistake::ActivationMissing => format!(
                "fused activation {} not applied: clamp range should be [{}, {}]",
                f.activation, f.act_min, f.act_max
            ),
            Mistake::ActivationSpurious => format!("a ReLU applied although the layer's fused activation is {}", f.activation),
            Mistake::Rounding(r) => format!("rounding of M·acc: {} — expected {}", r.describe(), f.rule.describe()),
            Mistake::PerChannelAsPerTensor(c) => format!(
                "per-channel weight scales used as per-tensor: one S2 ({}) for all {} channels; this layer has one scale per output channel",
                match c {
                    PerTensorChoice::First => "channel 0's",
                    PerTensorChoice::Max => "the largest",
                    PerTensorChoice::Mean => "the mean",
                },
                f.out_features
            ),
            Mistake::Softmax(SoftmaxVariant::Profile(p)) => {
                format!("softmax computed as profile {} does it ({:?})", p.name(), p.softmax())
            }
            Mistake::Softmax(SoftmaxVariant::Float) => {
                "softmax computed in floating point (exact exp of the dequantized input), then quantized with round()".into()
            }
            Mistake::AccumulatorWrap(d) => format!(
                "accumulator wraps around: Σ (x − Z1)(W − Z2) kept in {} (modulo 2^{}) instead of int32 — numpy's np.dot of two {} arrays returns {}; cast to int32 first (x.astype(np.int32))",
                d.name().to_lowercase(),
                8 * d.size(),
                d.name().to_lowercase(),
                d.name().to_lowercase()
            ),
            Mistake::WeightSignedness => format!(
                "weights read with the wrong signedness: the file stores them as {}; read as the other type, every negative weight w becomes w + 256 (or every w > 127 becomes w − 256)",
                f.weight_dtype.map_or("int8".to_string(), |d| d.name().to_lowercase())
            ),
        }
    }
}

impl fmt::Display for Mistake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// The numbers a description needs.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerFacts {
    pub is_fc: bool,
    pub output: usize,
    pub s1: f32,
    pub z1: i32,
    pub s3: f32,
    pub z3: i32,
    pub z2_summary: String,
    pub m_example: f64,
    pub in_features: usize,
    pub out_features: usize,
    pub act_min: i32,
    pub act_max: i32,
    pub activation: String,
    pub rule: Rule,
    pub user_dtype: Option<DType>,
    /// The dtype the file stores the weights in (FC only).
    pub weight_dtype: Option<DType>,
}

/// Which weights the accumulator used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum WMode {
    Centered,
    Raw,
    Transposed,
    /// Centered, the stored bytes read with the other signedness.
    Resigned,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum BiasMode {
    Correct,
    Missing,
    Real,
    After,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum MultMode {
    Correct,
    InputScale,
    Omitted,
    NotApplied,
    PerTensor(PerTensorChoice),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ClampMode {
    Correct,
    Missing,
    ReluAtZero,
    ActivationMissing,
    ActivationSpurious,
}

/// The op as the runtime computes it, except for some mistakes.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Spec {
    no_z1: bool,
    w: WMode,
    bias: BiasMode,
    mult: MultMode,
    rule: Rule,
    no_z3: bool,
    clamp: ClampMode,
    acc_wrap: Option<DType>,
}

impl Spec {
    fn correct(rule: Rule) -> Spec {
        Spec {
            no_z1: false,
            w: WMode::Centered,
            bias: BiasMode::Correct,
            mult: MultMode::Correct,
            rule,
            no_z3: false,
            clamp: ClampMode::Correct,
            acc_wrap: None,
        }
    }

    fn with(mut self, m: &Mistake) -> Spec {
        match *m {
            Mistake::WeightZeroPointNotSubtracted => self.w = WMode::Raw,
            Mistake::InputZeroPointIgnored => self.no_z1 = true,
            Mistake::OutputZeroPointMissing => self.no_z3 = true,
            Mistake::WrongOutputScale(ScaleUsed::InputScale) => self.mult = MultMode::InputScale,
            Mistake::WrongOutputScale(ScaleUsed::Omitted) => self.mult = MultMode::Omitted,
            Mistake::MultiplierNotApplied => self.mult = MultMode::NotApplied,
            Mistake::WeightsTransposed => self.w = WMode::Transposed,
            Mistake::BiasMissing => self.bias = BiasMode::Missing,
            Mistake::BiasRealValued => self.bias = BiasMode::Real,
            Mistake::BiasAfterRequantization => self.bias = BiasMode::After,
            Mistake::ClampMissing => self.clamp = ClampMode::Missing,
            Mistake::ReluAtZero => self.clamp = ClampMode::ReluAtZero,
            Mistake::ActivationMissing => self.clamp = ClampMode::ActivationMissing,
            Mistake::ActivationSpurious => self.clamp = ClampMode::ActivationSpurious,
            Mistake::Rounding(r) => self.rule = r,
            Mistake::PerChannelAsPerTensor(c) => self.mult = MultMode::PerTensor(c),
            Mistake::Softmax(_) => {}
            Mistake::AccumulatorWrap(d) => self.acc_wrap = Some(d),
            Mistake::WeightSignedness => self.w = WMode::Resigned,
        }
        self
    }
}

/// A requantizing op (FULLY_CONNECTED or integer QUANTIZE) with its input
/// and the user's output, ready to be recomputed under mistakes.
pub(crate) struct ReqCtx {
    pub is_fc: bool,
    /// Output elements per sample (channels for FC, all elements for QUANTIZE).
    pub out_per_sample: usize,
    pub in_features: usize,
    /// Input per sample, as integers (FC: `[N][in]`; QUANTIZE: `[N][out]`).
    pub x: Vec<i32>,
    pub samples: usize,
    pub z1: i32,
    /// FC: stored weights `[out][in]` and their zero points.
    pub w_raw: Vec<i32>,
    /// The dtype the weights are stored in (INT8 or UINT8).
    pub w_dtype: DType,
    pub z2: Vec<i32>,
    pub bias: Option<Vec<i32>>,
    pub s1: f32,
    pub s2: Vec<f32>,
    pub s3: f32,
    pub z3: i32,
    pub per_channel: bool,
    pub multipliers: Vec<Multiplier>,
    pub rule: Rule,
    pub act_min: i32,
    pub act_max: i32,
    pub q_min: i32,
    pub q_max: i32,
    pub has_activation: bool,
    /// The user's values in the integer domain, `[N][out_per_sample]`.
    pub user: Vec<i64>,
    /// The dtype the user's values wrap in (None for float dumps).
    pub user_wrap: Option<DType>,
    pub accs: HashMap<(bool, WMode), Vec<i32>>,
}

fn wrap(v: i64, dtype: Option<DType>) -> i64 {
    match dtype {
        Some(DType::I8) => v as i8 as i64,
        Some(DType::U8) => v as u8 as i64,
        Some(DType::I16) => v as i16 as i64,
        Some(DType::I32) => v as i32 as i64,
        _ => v,
    }
}

impl ReqCtx {
    /// The mistakes that can change this op's result.
    pub fn applicable(&self) -> Vec<Mistake> {
        let mut v = Vec::new();
        if self.z1 != 0 {
            v.push(Mistake::InputZeroPointIgnored);
        }
        if self.is_fc {
            if self.z2.iter().any(|&z| z != 0) {
                v.push(Mistake::WeightZeroPointNotSubtracted);
            }
            v.push(Mistake::WeightsTransposed);
            if self.w_raw.iter().any(|&w| !(0..=127).contains(&w)) {
                v.push(Mistake::WeightSignedness);
            }
            // The accumulator in the narrow types numpy keeps for 8- and 16-bit operands.
            v.extend([Mistake::AccumulatorWrap(DType::U8), Mistake::AccumulatorWrap(DType::I8), Mistake::AccumulatorWrap(DType::I16)]);
            if self.bias.as_ref().is_some_and(|b| b.iter().any(|&x| x != 0)) {
                v.extend([Mistake::BiasMissing, Mistake::BiasRealValued, Mistake::BiasAfterRequantization]);
            }
            if self.s1 != self.s3 {
                v.push(Mistake::WrongOutputScale(ScaleUsed::InputScale));
            }
            v.push(Mistake::WrongOutputScale(ScaleUsed::Omitted));
            v.push(Mistake::MultiplierNotApplied);
            if self.per_channel {
                v.extend([
                    Mistake::PerChannelAsPerTensor(PerTensorChoice::First),
                    Mistake::PerChannelAsPerTensor(PerTensorChoice::Max),
                    Mistake::PerChannelAsPerTensor(PerTensorChoice::Mean),
                ]);
            }
        }
        if self.z3 != 0 {
            v.push(Mistake::OutputZeroPointMissing);
        }
        v.push(Mistake::ClampMissing);
        if self.has_activation {
            v.push(Mistake::ReluAtZero);
            if (self.act_min, self.act_max) != (self.q_min, self.q_max) {
                v.push(Mistake::ActivationMissing);
            }
        } else if self.is_fc {
            v.push(Mistake::ActivationSpurious);
        }
        for r in Rule::all() {
            if r != self.rule {
                v.push(Mistake::Rounding(r));
            }
        }
        v
    }

    fn weights(&self, mode: WMode) -> Vec<i32> {
        let (out, inf) = (self.out_per_sample, self.in_features);
        match mode {
            WMode::Raw => self.w_raw.clone(),
            WMode::Centered => self.w_raw.iter().enumerate().map(|(k, &w)| w - self.z2[k / inf]).collect(),
            WMode::Transposed => (0..out * inf).map(|k| self.w_raw[(k % inf) * out + k / inf] - self.z2[k / inf]).collect(),
            WMode::Resigned => self
                .w_raw
                .iter()
                .enumerate()
                .map(|(k, &w)| {
                    let read = if self.w_dtype == DType::U8 { w as u8 as i8 as i32 } else { w as i8 as u8 as i32 };
                    read - self.z2[k / inf]
                })
                .collect(),
        }
    }

    /// The accumulator (without bias) for every output element.
    fn acc(&mut self, no_z1: bool, w: WMode) -> &Vec<i32> {
        if !self.accs.contains_key(&(no_z1, w)) {
            let z1 = if no_z1 { 0 } else { self.z1 };
            let acc = if self.is_fc {
                let wv = self.weights(w);
                let (out, inf) = (self.out_per_sample, self.in_features);
                let mut acc = Vec::with_capacity(self.samples * out);
                let mut xc = vec![0i32; inf];
                for n in 0..self.samples {
                    for (d, &x) in xc.iter_mut().zip(&self.x[n * inf..(n + 1) * inf]) {
                        *d = x.wrapping_sub(z1);
                    }
                    for c in 0..out {
                        let row = &wv[c * inf..(c + 1) * inf];
                        acc.push(row.iter().zip(&xc).fold(0i32, |a, (&w, &x)| a.wrapping_add(w.wrapping_mul(x))));
                    }
                }
                acc
            } else {
                self.x.iter().map(|&x| x.wrapping_sub(z1)).collect()
            };
            self.accs.insert((no_z1, w), acc);
        }
        &self.accs[&(no_z1, w)]
    }

    fn multipliers(&self, mode: MultMode) -> Vec<Multiplier> {
        let n = self.multipliers.len();
        match mode {
            MultMode::Correct | MultMode::NotApplied => self.multipliers.clone(),
            MultMode::InputScale => self.s2.iter().map(|&s2| Multiplier::from_scales(self.s1, s2, self.s1)).collect(),
            MultMode::Omitted => self.s2.iter().map(|&s2| Multiplier::from_real(self.s1 as f64 * s2 as f64)).collect(),
            MultMode::PerTensor(c) => {
                let s = match c {
                    PerTensorChoice::First => self.s2[0],
                    PerTensorChoice::Max => self.s2.iter().cloned().fold(0.0f32, f32::max),
                    PerTensorChoice::Mean => (self.s2.iter().map(|&s| s as f64).sum::<f64>() / self.s2.len() as f64) as f32,
                };
                vec![Multiplier::from_scales(self.s1, s, self.s3); n]
            }
        }
    }

    /// The op's outputs under `mistakes` (same layout as `user`).
    pub fn compute(&mut self, mistakes: &[Mistake]) -> Vec<i64> {
        let spec = mistakes.iter().fold(Spec::correct(self.rule), |s, m| s.with(m));
        let mults = self.multipliers(spec.mult);
        let zeros = vec![0i32; self.multipliers.len()];
        let bias: Vec<i32> = self.bias.clone().unwrap_or(zeros);
        let out = self.out_per_sample;
        let (z3, q_min, q_max, act_min, act_max, s3) = (self.z3, self.q_min, self.q_max, self.act_min, self.act_max, self.s3);
        let wrap_dtype = self.user_wrap;
        let per_channel_m = self.is_fc;
        let has_act = self.has_activation;
        let mut acc = self.acc(spec.no_z1, spec.w).clone();
        if let Some(d) = spec.acc_wrap {
            for a in acc.iter_mut() {
                *a = wrap(*a as i64, Some(d)) as i32;
            }
        }
        let (lo, hi) = match spec.clamp {
            ClampMode::Correct => (act_min as i64, act_max as i64),
            // No saturation to the output type; a ReLU's own bound (real 0 = Z3) kept.
            ClampMode::Missing => (
                if has_act { z3 as i64 } else { i64::MIN },
                if act_max < q_max { act_max as i64 } else { i64::MAX },
            ),
            ClampMode::ReluAtZero => (q_min.max(0) as i64, act_max as i64),
            ClampMode::ActivationMissing => (q_min as i64, q_max as i64),
            ClampMode::ActivationSpurious => (z3.max(q_min) as i64, act_max as i64),
        };
        let z3 = if spec.no_z3 { 0 } else { z3 as i64 };
        acc.iter()
            .enumerate()
            .map(|(e, &a)| {
                let c = if per_channel_m { e % out } else { 0 };
                let m = &mults[c.min(mults.len() - 1)];
                let scale = |v: i32| -> i64 {
                    match spec.mult {
                        MultMode::NotApplied => v as i64,
                        _ => spec.rule.apply(v, m) as i64,
                    }
                };
                let b = bias.get(c).copied().unwrap_or(0);
                let scaled = match spec.bias {
                    BiasMode::Correct => scale(a.wrapping_add(b)),
                    BiasMode::Missing => scale(a),
                    BiasMode::After => scale(a) + b as i64,
                    BiasMode::Real => {
                        let mreal = if spec.mult == MultMode::NotApplied { 1.0 } else { m.real };
                        let v = spec.rule.round_real(mreal * a as f64 + b as f64 / s3 as f64);
                        v.clamp(i64::MIN as f64 / 2.0, i64::MAX as f64 / 2.0) as i64
                    }
                };
                let v = scaled.saturating_add(z3).clamp(lo, hi);
                if spec.clamp == ClampMode::Missing {
                    wrap(v, wrap_dtype)
                } else {
                    v
                }
            })
            .collect()
    }

    /// How many of the user's values `mistakes` reproduce.
    pub fn score(&mut self, mistakes: &[Mistake]) -> usize {
        let y = self.compute(mistakes);
        y.iter().zip(&self.user).filter(|(a, b)| a == b).count()
    }
}

/// One candidate explanation: a set of mistakes and how well it fits.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub mistakes: Vec<Mistake>,
    /// Elements of the divergent tensor this explanation reproduces.
    pub matched: usize,
    /// Elements compared.
    pub total: usize,
    /// Elements reproduced in later divergent tensors of the same op kind
    /// (computed from your own inputs to them), used to break ties.
    pub later_matched: usize,
    /// Elements compared in those later tensors.
    pub later_total: usize,
}

impl Candidate {
    /// True when every element is reproduced.
    pub fn is_exact(&self) -> bool {
        self.matched == self.total
    }

    /// The mistakes' keys joined with `+`.
    pub fn key(&self) -> String {
        self.mistakes.iter().map(|m| m.key()).collect::<Vec<_>>().join("+")
    }

    /// True when this candidate contains a mistake with this key.
    pub fn has(&self, key: &str) -> bool {
        self.mistakes.iter().any(|m| m.key() == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(real: f64) -> Multiplier {
        Multiplier::from_real(real)
    }

    #[test]
    fn naive_rules_round_as_named() {
        // 10 · 0.25 = 2.5, −10 · 0.25 = −2.5: a tie in every representation.
        let q = m(0.25);
        let at = |r: NaiveRounding, acc: i32| r.apply(acc, &q);
        assert_eq!((at(NaiveRounding::DoubleFloor, 10), at(NaiveRounding::DoubleFloor, -10)), (2, -3));
        assert_eq!((at(NaiveRounding::DoubleTruncate, 10), at(NaiveRounding::DoubleTruncate, -10)), (2, -2));
        assert_eq!((at(NaiveRounding::DoubleHalfUp, 10), at(NaiveRounding::DoubleHalfUp, -10)), (3, -2));
        assert_eq!((at(NaiveRounding::DoubleHalfEven, 10), at(NaiveRounding::DoubleHalfEven, -10)), (2, -2));
        assert_eq!((at(NaiveRounding::DoubleHalfEven, 14), at(NaiveRounding::DoubleHalfEven, -14)), (4, -4));
        assert_eq!((at(NaiveRounding::FixedPointFloor, 10), at(NaiveRounding::FixedPointFloor, -10)), (2, -3));
        assert_eq!((at(NaiveRounding::FixedPointHalfEven, 10), at(NaiveRounding::FixedPointHalfEven, -10)), (2, -2));
        assert_eq!((at(NaiveRounding::FixedPointHalfEven, 14), at(NaiveRounding::FixedPointHalfEven, -14)), (4, -4));
        // The runtimes' rules on the same ties: TFLM away from zero, builtin up.
        assert_eq!(Rule::Runtime(Rounding::FixedPointDoubleRounding).apply(-10, &q), -3);
        assert_eq!(Rule::Runtime(Rounding::FixedPointTiesUp).apply(-10, &q), -2);
        assert_eq!(Rule::Runtime(Rounding::DoubleHalfAway).apply(-10, &q), -3);
    }

    #[test]
    fn keys_are_unique() {
        let mut keys: Vec<&str> = Rule::all().iter().map(|r| r.key()).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
