//! Prepare: everything derivable from the model alone, computed once.
//!
//! This is TFLite Micro's "prepare" phase. For each operator it checks the
//! dtypes and shapes and computes the constants the eval loop needs — for a
//! quantized FULLY_CONNECTED that is S1, S2, **S3 (the output tensor's
//! scale)**, M = S1·S2/S3, its fixed-point form M0·2^(shift−31) and the clamp
//! range. `quantlens inspect` prints the plan.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::EngineError;
use crate::model::{Model, OpKind};
use crate::ops::{self, OpContext};
use crate::profile::Profile;
use crate::tensor::Value;

/// A prepared operator.
#[derive(Clone, Debug)]
pub enum Kernel {
    FullyConnected(ops::fully_connected::Params),
    Softmax(ops::softmax::Params),
    Quantize(ops::quantize::Params),
    Dequantize(ops::dequantize::Params),
    Reshape(ops::reshape::Params),
    Conv2d(ops::conv::Params),
    DepthwiseConv2d(ops::depthwise_conv::Params),
    MaxPool2d(ops::max_pool::Params),
    AveragePool2d(ops::average_pool::Params),
    /// ADD and SUB (the kind is in the model's operator).
    AddSub(ops::add::Params),
    Mul(ops::mul::Params),
    Concatenation(ops::concatenation::Params),
    Shape(ops::shape::Params),
    StridedSlice(ops::strided_slice::Params),
    Pack(ops::pack::Params),
    Pad(ops::pad::Params),
    Mean(ops::mean::Params),
    Logistic(ops::logistic::Params),
    Tanh(ops::tanh::TanhParams),
    /// RELU, RELU6, RELU_N1_TO_1.
    Relu(ops::relu::Params),
    LeakyRelu(ops::leaky_relu::Params),
    HardSwish(ops::hard_swish::Params),
    // reader: a constant computed at prepare time (DEQUANTIZE float16, DENSIFY)
    Folded(ops::fold::Params),
    // float: float32 kernels (issue 11)
    Float(ops::float::FloatKernel),
    // dynamic range (issue 11): float input, int8 weights, S1 computed at run time
    HybridFullyConnected(ops::hybrid_fc::Params),
    HybridConv2d(ops::hybrid_conv::Params),
    HybridDepthwiseConv2d(ops::hybrid_depthwise::Params),
    // topic int16: 16x8 kernels (int16 activations, int8 weights, int64 bias).
    Int16(ops::int16::Kernel16),
    // --- vit ---
    /// The transformer ops (BATCH_MATMUL, TRANSPOSE, GELU, …; see [`ops::transformer`]).
    Transformer(ops::transformer::Op),
    // vision (issue 14)
    /// PRELU, TRANSPOSE_CONV, RESIZE_*, the space/depth/batch moves, TILE, MIRROR_PAD, PADV2.
    Vision(ops::vision::VisionOp),
    // dynamic_bmm (issue 11): hybrid BATCH_MATMUL (float LHS, int8 constant RHS)
    HybridBatchMatmul(ops::hybrid_batch_matmul::Params),
}

impl Kernel {
    /// Evaluate the kernel: read all its run-time inputs from `values`
    /// (indexed by tensor index) and return the value of its output tensor.
    pub fn eval(&self, values: &[Option<Value>]) -> Result<Value, EngineError> {
        // reader: a folded constant reads nothing at run time
        if let Kernel::Folded(p) = self {
            return p.eval();
        }
        let inputs = self.inputs();
        let vals: Vec<&Value> = inputs
            .iter()
            .map(|&t| {
                values
                    .get(t)
                    .and_then(Option::as_ref)
                    .ok_or_else(|| EngineError::BadInput(format!("tensor {t} has no value yet")))
            })
            .collect::<Result<_, _>>()?;
        // An operator whose every input is a constant folded into its parameters
        // has nothing to read: refuse it by name rather than index an empty list.
        let Some(&x) = vals.first() else {
            return Err(EngineError::BadInput("the operator has no run-time input (every input is a constant)".into()));
        };
        match self {
            Kernel::FullyConnected(p) => p.eval(x),
            Kernel::Softmax(p) => p.eval(x),
            Kernel::Quantize(p) => p.eval(x),
            Kernel::Dequantize(p) => p.eval(x),
            Kernel::Reshape(p) => match vals.get(1) {
                Some(shape) => p.eval_with_shape(x, shape),
                None => p.eval(x),
            },
            Kernel::Conv2d(p) => p.eval(x),
            Kernel::DepthwiseConv2d(p) => p.eval(x),
            Kernel::MaxPool2d(p) => p.eval(x),
            Kernel::AveragePool2d(p) => p.eval(x),
            Kernel::AddSub(p) => p.eval(x, vals[1]),
            Kernel::Mul(p) => p.eval(x, vals[1]),
            Kernel::Concatenation(p) => p.eval(&vals),
            Kernel::Shape(p) => p.eval(x),
            Kernel::StridedSlice(p) => p.eval(x),
            Kernel::Pack(p) => p.eval(&vals),
            Kernel::Pad(p) => p.eval(x),
            Kernel::Mean(p) => p.eval(x),
            Kernel::Logistic(p) => p.eval(x),
            Kernel::Tanh(p) => p.eval(x),
            Kernel::Relu(p) => p.eval(x),
            Kernel::LeakyRelu(p) => p.eval(x),
            Kernel::HardSwish(p) => p.eval(x),
            Kernel::Folded(p) => p.eval(),
            // float
            Kernel::Float(k) => k.eval(&vals),
            // dynamic range
            Kernel::HybridFullyConnected(p) => p.eval(x),
            Kernel::HybridConv2d(p) => p.eval(x),
            Kernel::HybridDepthwiseConv2d(p) => p.eval(x),
            Kernel::Int16(p) => p.eval(&vals),
            // --- vit ---
            Kernel::Transformer(op) => op.eval(&vals),
            // vision (issue 14)
            Kernel::Vision(p) => p.eval(x),
            // dynamic_bmm
            Kernel::HybridBatchMatmul(p) => p.eval(x),
        }
    }

    /// The tensors this kernel reads at run time, in the order `eval` uses
    /// them (constants such as weights, axes and paddings are folded into
    /// the prepared parameters and are not listed).
    pub fn inputs(&self) -> Vec<usize> {
        match self {
            Kernel::FullyConnected(p) => vec![p.input],
            Kernel::Softmax(p) => vec![p.input],
            Kernel::Quantize(p) => vec![p.input],
            Kernel::Dequantize(p) => vec![p.input],
            Kernel::Reshape(p) => std::iter::once(p.input).chain(p.shape_input).collect(),
            Kernel::Conv2d(p) => vec![p.input],
            Kernel::DepthwiseConv2d(p) => vec![p.input],
            Kernel::MaxPool2d(p) => vec![p.input],
            Kernel::AveragePool2d(p) => vec![p.input],
            Kernel::AddSub(p) => p.inputs.to_vec(),
            Kernel::Mul(p) => p.inputs.to_vec(),
            Kernel::Concatenation(p) => p.runtime_inputs(),
            Kernel::Shape(p) => vec![p.input],
            Kernel::StridedSlice(p) => vec![p.input],
            Kernel::Pack(p) => p.runtime_inputs(),
            Kernel::Pad(p) => vec![p.input],
            Kernel::Mean(p) => vec![p.input],
            Kernel::Logistic(p) => vec![p.input],
            Kernel::Tanh(p) => vec![p.0.input],
            Kernel::Relu(p) => vec![p.input],
            Kernel::LeakyRelu(p) => vec![p.input],
            Kernel::HardSwish(p) => vec![p.input],
            Kernel::Folded(_) => Vec::new(),
            // float
            Kernel::Float(k) => k.inputs(),
            // dynamic range
            Kernel::HybridFullyConnected(p) => vec![p.core.input],
            Kernel::HybridConv2d(p) => vec![p.core.input],
            Kernel::HybridDepthwiseConv2d(p) => vec![p.core.input],
            Kernel::Int16(p) => p.inputs(),
            // --- vit ---
            Kernel::Transformer(op) => op.inputs(),
            // vision (issue 14)
            Kernel::Vision(p) => vec![p.input()],
            // dynamic_bmm
            Kernel::HybridBatchMatmul(p) => vec![p.core.input],
        }
    }

    /// The tensor this kernel reads its (first) data input from.
    pub fn data_input(&self) -> usize {
        // Matched directly (not via `inputs()`) so the hot path allocates nothing.
        match self {
            Kernel::FullyConnected(p) => p.input,
            Kernel::Softmax(p) => p.input,
            Kernel::Quantize(p) => p.input,
            Kernel::Dequantize(p) => p.input,
            Kernel::Reshape(p) => p.input,
            Kernel::Conv2d(p) => p.input,
            Kernel::DepthwiseConv2d(p) => p.input,
            Kernel::MaxPool2d(p) => p.input,
            Kernel::AveragePool2d(p) => p.input,
            Kernel::AddSub(p) => p.inputs[0],
            Kernel::Mul(p) => p.inputs[0],
            Kernel::Shape(p) => p.input,
            Kernel::StridedSlice(p) => p.input,
            Kernel::Pad(p) => p.input,
            Kernel::Mean(p) => p.input,
            Kernel::Logistic(p) => p.input,
            Kernel::Tanh(p) => p.0.input,
            Kernel::Relu(p) => p.input,
            Kernel::LeakyRelu(p) => p.input,
            Kernel::HardSwish(p) => p.input,
            Kernel::Int16(p) => p.data_input(),
            // vision (issue 14)
            Kernel::Vision(p) => p.input(),
            Kernel::Concatenation(_) | Kernel::Pack(_) => self.inputs()[0],
            Kernel::Folded(p) => p.input,
            // float
            Kernel::Float(k) => k.data_input(),
            // dynamic range
            Kernel::HybridFullyConnected(p) => p.core.input,
            Kernel::HybridConv2d(p) => p.core.input,
            Kernel::HybridDepthwiseConv2d(p) => p.core.input,
            // --- vit ---
            Kernel::Transformer(op) => op.inputs()[0],
            // dynamic_bmm
            Kernel::HybridBatchMatmul(p) => p.core.input,
        }
    }

    /// The tensor this kernel writes.
    pub fn output(&self) -> usize {
        match self {
            Kernel::FullyConnected(p) => p.output,
            Kernel::Softmax(p) => p.output,
            Kernel::Quantize(p) => p.output,
            Kernel::Dequantize(p) => p.output,
            Kernel::Reshape(p) => p.output,
            Kernel::Conv2d(p) => p.output,
            Kernel::DepthwiseConv2d(p) => p.output,
            Kernel::MaxPool2d(p) => p.output,
            Kernel::AveragePool2d(p) => p.output,
            Kernel::AddSub(p) => p.output,
            Kernel::Mul(p) => p.output,
            Kernel::Concatenation(p) => p.output,
            Kernel::Shape(p) => p.output,
            Kernel::StridedSlice(p) => p.output,
            Kernel::Pack(p) => p.output,
            Kernel::Pad(p) => p.output,
            Kernel::Mean(p) => p.output,
            Kernel::Logistic(p) => p.output,
            Kernel::Tanh(p) => p.0.output,
            Kernel::Relu(p) => p.output,
            Kernel::LeakyRelu(p) => p.output,
            Kernel::HardSwish(p) => p.output,
            Kernel::Folded(p) => p.output,
            // float
            Kernel::Float(k) => k.output(),
            // dynamic range
            Kernel::HybridFullyConnected(p) => p.core.output,
            Kernel::HybridConv2d(p) => p.core.output,
            Kernel::HybridDepthwiseConv2d(p) => p.core.output,
            Kernel::Int16(p) => p.output(),
            // --- vit ---
            Kernel::Transformer(op) => op.output(),
            // vision (issue 14)
            Kernel::Vision(p) => p.output(),
            // dynamic_bmm
            Kernel::HybridBatchMatmul(p) => p.core.output,
        }
    }
}

/// One operator of the plan.
#[derive(Clone, Debug)]
pub struct Step {
    /// Operator index in the model.
    pub op: usize,
    pub kernel: Kernel,
}

impl Step {
    /// The runtime difference this step depends on: the [`Profile`] method
    /// it asked (`fc_rounding`, `conv_rounding`, `add_method`, …) and the
    /// answer it got, or `none: …` when every runtime computes the op the
    /// same way. Used by `quantlens inspect`.
    pub fn profile_choice(&self) -> String {
        use ops::add::AddArith;
        use ops::logistic::LutArith;
        let lut = |what: &str, a: &LutArith| match a {
            LutArith::FixedPoint { .. } => format!("{what} = gemmlowp fixed point"),
            LutArith::Table(_) => format!("{what} = 256-entry table computed in f32"),
        };
        let same = "none: every runtime computes it the same way";
        match &self.kernel {
            Kernel::FullyConnected(p) => match &p.arith {
                ops::fully_connected::Arith::Quantized(q) => format!("fc_rounding = {}", q.rounding.name()),
                ops::fully_connected::Arith::Float(_) => "none: float32 (f32 sums in order)".into(),
            },
            Kernel::Conv2d(p) => format!("conv_rounding = {}", p.requant.rounding.name()),
            Kernel::DepthwiseConv2d(p) => format!("depthwise_rounding = {}", p.requant.rounding.name()),
            Kernel::Softmax(p) => match &p.arith {
                ops::softmax::Arith::FixedPoint(_) => "softmax = gemmlowp fixed point".into(),
                ops::softmax::Arith::Table(_) => "softmax = f32 exp table".into(),
                _ => "none: float32".into(),
            },
            Kernel::Quantize(p) => match &p.arith {
                ops::quantize::Arith::FromFloat => "none: float → integer rounds half away from zero in every runtime".into(),
                ops::quantize::Arith::Requantize { rounding, .. } => format!("requantize_rounding = {}", rounding.name()),
                // arch (issue 14)
                ops::quantize::Arith::XnnpackQ8 { multiplier, .. } => format!("requantize_8bit_method = XNNPACK Q8 convert, m = {multiplier}/256, ties up"),
            },
            Kernel::AddSub(p) => match &p.arith {
                AddArith::LeftShift { rounding, .. } => match &p.neon {
                    None => format!("add_method = left shift 20, {}", rounding.name()),
                    // add_ties (issue 14)
                    Some(n) => format!(
                        "add_method = left shift 20, {}; add_blocks = NEON blocks of {} ({:?}) in each run of {}, tails by the reference",
                        rounding.name(),
                        n.block,
                        n.form,
                        n.run
                    ),
                },
                AddArith::Xnnpack { .. } => "add_method = XNNPACK 20-bit multipliers, one accumulator, shift ties up".into(),
            },
            Kernel::Mul(p) => format!("mul_rounding = {}", p.rounding.name()),
            Kernel::Mean(p) => match &p.arith {
                ops::mean::MeanArith::Integer { rounding, .. } => format!("mean_method = folded multiplier, {}", rounding.name()),
                ops::mean::MeanArith::Float { .. } => "mean_method = f32 sum·scale + folded zero point, half to even".into(),
                // vision (issue 14)
                ops::mean::MeanArith::BiasedSum { .. } => "mean_keep_dims_hw_optimized = raw sum · f32 multiplier + truncated f32 bias".into(),
            },
            Kernel::Relu(p) => match &p.arith {
                ops::relu::ReluArith::Requantize { rounding, .. } => format!("relu_method = requantize, {}", rounding.name()),
                ops::relu::ReluArith::ClampInInputScale { .. } => "relu_method = clamp in the input's scale (output scale ignored)".into(),
            },
            Kernel::LeakyRelu(p) => match &p.arith {
                ops::leaky_relu::LeakyArith::TwoMultipliers { rounding, .. } => format!("leaky_relu_method = two multipliers, {}", rounding.name()),
                ops::leaky_relu::LeakyArith::EightBit { .. } => "leaky_relu_method = 8-bit multipliers".into(),
            },
            Kernel::Logistic(p) => lut("logistic_method", &p.arith),
            Kernel::Tanh(p) => lut("tanh_method", &p.0.arith),
            Kernel::Concatenation(p) if p.rescale.iter().any(Option::is_some) => {
                "none: inputs of other scales requantized in f32 (ConcatenationWithScaling) in every runtime".into()
            }
            // vit: DEQUANTIZE's f32 formula is a runtime choice.
            Kernel::Dequantize(p) => format!("dequantize_method = {:?}", p.method),
            Kernel::Reshape(_)
            | Kernel::MaxPool2d(_)
            | Kernel::AveragePool2d(_)
            | Kernel::Concatenation(_)
            | Kernel::Shape(_)
            | Kernel::StridedSlice(_)
            | Kernel::Pack(_)
            | Kernel::Pad(_)
            | Kernel::HardSwish(_) => same.into(),
            Kernel::Folded(_) => "none: a constant computed exactly at prepare time, as every runtime does".into(),
            // float
            Kernel::Float(_) => "none: float32 in the reference kernels' order (the optimized runtimes sum in others, not emulated)".into(),
            // dynamic range
            Kernel::HybridFullyConnected(p) => format!("hybrid_fc_method = {}: {}", p.core.quantizer.name(), p.core.scaling.name()),
            Kernel::HybridConv2d(p) => format!("hybrid_conv_method = {}: {}", p.core.quantizer.name(), p.core.scaling.name()),
            Kernel::HybridDepthwiseConv2d(p) => format!("hybrid_depthwise_method = {}: {}", p.core.quantizer.name(), p.core.scaling.name()),
            Kernel::Int16(p) => p.profile_choice(),
            // --- vit ---
            Kernel::Transformer(op) => op.describe(),
            // vision (issue 14)
            Kernel::Vision(p) => p.profile_choice(),
            // dynamic_bmm
            Kernel::HybridBatchMatmul(p) => format!("hybrid_bmm_method = {}: {}", p.core.quantizer.name(), p.core.scaling.name()),
        }
    }
}

/// A model prepared for one profile.
#[derive(Clone, Debug)]
pub struct Plan {
    pub model: Model,
    pub profile: Profile,
    pub steps: Vec<Step>,
    // batch (issue 16): the outputs-only batch runs' workspaces, kept between runs
    pub(crate) pool: crate::fast::WorkspacePool,
}

impl Plan {
    /// Prepare every operator of `model` for `profile`, within the default
    /// [`Limits`].
    ///
    /// Fails with [`EngineError::UnsupportedOp`] naming the first operator
    /// quantlens cannot run, or with an error naming the operator whose
    /// tensors are inconsistent.
    pub fn new(model: Model, profile: Profile) -> Result<Plan, EngineError> {
        Plan::with_limits(model, profile, Limits::default())
    }

    /// [`Plan::new`] with explicit resource limits: a model whose tensors
    /// would need more memory than `limits` allows is refused with
    /// [`EngineError::TooLarge`] before anything is allocated for it.
    pub fn with_limits(model: Model, profile: Profile, limits: Limits) -> Result<Plan, EngineError> {
        Plan::build(model, profile, limits, &BTreeSet::new())
    }

    /// reader: every operator of `model` that `run` cannot execute in
    /// `profile`, with the reason (what `quantlens inspect` marks `CANNOT
    /// RUN`), and the error about the graph as a whole if there is one.
    ///
    /// Each failing operator is set aside (its outputs treated as given) and
    /// the plan prepared again, so that one unsupported operator does not hide
    /// the next.
    pub fn diagnose(model: &Model, profile: Profile) -> Diagnosis {
        Plan::diagnose_with_limits(model, profile, Limits::default())
    }

    /// reader: [`Plan::diagnose`] within explicit resource [`Limits`].
    pub fn diagnose_with_limits(model: &Model, profile: Profile, limits: Limits) -> Diagnosis {
        let mut skip = BTreeSet::new();
        let mut ops = Vec::new();
        for _ in 0..=model.operators.len() {
            let err = match Plan::build(model.clone(), profile, limits, &skip) {
                Ok(_) => return Diagnosis { ops, graph: None },
                Err(e) => e,
            };
            match operator_of(&err) {
                Some(op) if skip.insert(op) => ops.push((op, err)),
                _ => return Diagnosis { ops, graph: Some(err) },
            }
        }
        Diagnosis { ops, graph: None }
    }

    /// [`Plan::with_limits`], setting aside the operators in `skip` (for [`Plan::diagnose`]).
    fn build(model: Model, profile: Profile, limits: Limits, skip: &BTreeSet<usize>) -> Result<Plan, EngineError> {
        model.validate()?;
        if model.inputs.len() != 1 {
            return Err(EngineError::BadInput(format!("model has {} inputs; quantlens runs single-input models", model.inputs.len())));
        }
        if model.outputs.is_empty() {
            return Err(EngineError::BadGraph("the model has no graph output".into()));
        }
        check_memory(&model, limits)?;
        // reader: operators on constants are computed now (DEQUANTIZE float16, DENSIFY)
        let (model, mut folded) = fold_constants(model, skip)?;
        let mut available: Vec<bool> = model.tensors.iter().map(|t| t.is_constant()).collect();
        for &i in &model.inputs {
            available[i] = true;
        }
        let mut steps = Vec::with_capacity(model.operators.len());
        for op in &model.operators {
            // reader: folded and set-aside operators; dtypes and encodings no kernel reads
            if let Some(p) = folded.remove(&op.index) {
                steps.push(Step { op: op.index, kernel: Kernel::Folded(p) });
                continue;
            }
            if skip.contains(&op.index) {
                op.outputs.iter().for_each(|&t| available[t] = true);
                continue;
            }
            ops::fold::check_operands(&OpContext { model: &model, op })?;
            for &t in op.inputs.iter().flatten() {
                if !available[t] {
                    return Err(EngineError::NotYetProduced { op: op.index, kind: op.kind.name(), tensor: t });
                }
            }
            // Every tensor is written once: by the caller (the graph input),
            // by the file (a constant) or by exactly one operator.
            for &t in &op.outputs {
                if available[t] {
                    let tensor = &model.tensors[t];
                    let what = if tensor.is_constant() {
                        "a constant from the file"
                    } else if model.inputs.contains(&t) {
                        "the graph input"
                    } else {
                        "already written by an earlier operator (or twice by this one)"
                    };
                    return Err(EngineError::BadOperator {
                        op: op.index,
                        kind: op.kind.name(),
                        reason: format!("writes tensor {t} ({}), which is {what}", tensor.name),
                    });
                }
                available[t] = true;
            }
            let ctx = OpContext { model: &model, op };
            // topic int16: operators with int16 activations take the 16x8 kernels.
            if let Some(kernel) = ops::int16::prepare(&ctx, profile)? {
                steps.push(Step { op: op.index, kernel });
                continue;
            }
            // dynamic_bmm (issue 11): a hybrid BATCH_MATMUL, before the transformer ops take BATCH_MATMUL.
            if op.kind == OpKind::BatchMatmul && ops::hybrid::is_hybrid(&model, op) {
                steps.push(Step { op: op.index, kernel: Kernel::HybridBatchMatmul(ops::hybrid_batch_matmul::prepare(&ctx, profile)?) });
                continue;
            }
            // --- vit: the transformer ops (SPLIT/SPLIT_V give one step per output) ---
            if let Some(prepared) = ops::transformer::prepare(&ctx, profile)? {
                steps.extend(prepared.into_iter().map(|k| Step { op: op.index, kernel: Kernel::Transformer(k) }));
                continue;
            }
            let kernel = match &op.kind {
                // float: float32 kernels (issue 11); hybrid ops fall through to the arms below.
                _ if ops::float::runs(&ctx) => Kernel::Float(ops::float::prepare(&ctx)?),
                // dynamic range (issue 11): float input with int8 weights; these arms
                // must precede the generic FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D ones.
                OpKind::FullyConnected if ops::hybrid::is_hybrid(&model, op) => Kernel::HybridFullyConnected(ops::hybrid_fc::prepare(&ctx, profile)?),
                OpKind::Conv2d if ops::hybrid::is_hybrid(&model, op) => Kernel::HybridConv2d(ops::hybrid_conv::prepare(&ctx, profile)?),
                OpKind::DepthwiseConv2d if ops::hybrid::is_hybrid(&model, op) => {
                    Kernel::HybridDepthwiseConv2d(ops::hybrid_depthwise::prepare(&ctx, profile)?)
                }
                OpKind::FullyConnected => Kernel::FullyConnected(ops::fully_connected::prepare(&ctx, profile)?),
                OpKind::Softmax => Kernel::Softmax(ops::softmax::prepare(&ctx, profile)?),
                OpKind::Quantize => Kernel::Quantize(ops::quantize::prepare(&ctx, profile)?),
                OpKind::Dequantize => Kernel::Dequantize(ops::dequantize::prepare(&ctx, profile)?),
                OpKind::Reshape => Kernel::Reshape(ops::reshape::prepare(&ctx, profile)?),
                OpKind::Conv2d => Kernel::Conv2d(ops::conv::prepare(&ctx, profile)?),
                OpKind::DepthwiseConv2d => Kernel::DepthwiseConv2d(ops::depthwise_conv::prepare(&ctx, profile)?),
                OpKind::MaxPool2d => Kernel::MaxPool2d(ops::max_pool::prepare(&ctx, profile)?),
                OpKind::AveragePool2d => Kernel::AveragePool2d(ops::average_pool::prepare(&ctx, profile)?),
                OpKind::Add => Kernel::AddSub(ops::add::prepare(&ctx, profile)?),
                OpKind::Sub => Kernel::AddSub(ops::sub::prepare(&ctx, profile)?),
                OpKind::Mul => Kernel::Mul(ops::mul::prepare(&ctx, profile)?),
                OpKind::Concatenation => Kernel::Concatenation(ops::concatenation::prepare(&ctx, profile)?),
                OpKind::Shape => Kernel::Shape(ops::shape::prepare(&ctx, profile)?),
                OpKind::StridedSlice => Kernel::StridedSlice(ops::strided_slice::prepare(&ctx, profile)?),
                OpKind::Pack => Kernel::Pack(ops::pack::prepare(&ctx, profile)?),
                OpKind::Pad => Kernel::Pad(ops::pad::prepare(&ctx, profile)?),
                OpKind::Mean => Kernel::Mean(ops::mean::prepare(&ctx, profile)?),
                OpKind::Logistic => Kernel::Logistic(ops::logistic::prepare(&ctx, profile)?),
                OpKind::Tanh => Kernel::Tanh(ops::tanh::prepare(&ctx, profile)?),
                OpKind::Relu | OpKind::Relu6 | OpKind::ReluN1To1 => Kernel::Relu(ops::relu::prepare(&ctx, profile)?),
                OpKind::LeakyRelu => Kernel::LeakyRelu(ops::leaky_relu::prepare(&ctx, profile)?),
                OpKind::HardSwish => Kernel::HardSwish(ops::hard_swish::prepare(&ctx, profile)?),
                // vision (issue 14)
                other => match ops::vision::prepare(&ctx, profile) {
                    Some(prepared) => Kernel::Vision(prepared?),
                    None => return Err(EngineError::UnsupportedOp { op: op.index, kind: other.name() }),
                },
            };
            steps.push(Step { op: op.index, kernel });
        }
        // A run's trace holds the input and the op-produced tensors; an
        // output must be one of them.
        let mut computed = vec![false; model.tensors.len()];
        for &t in model.inputs.iter().chain(model.operators.iter().flat_map(|op| op.outputs.iter())) {
            computed[t] = true;
        }
        for (i, &t) in model.outputs.iter().enumerate() {
            if !computed[t] {
                let tensor = &model.tensors[t];
                let what = if tensor.is_constant() { "a constant from the file" } else { "never written: no operator produces it" };
                return Err(EngineError::BadGraph(format!("graph output {i} is tensor {t} ({}), which is {what}", tensor.name)));
            }
        }
        Ok(Plan { model, profile, steps, pool: Default::default() })
    }

    /// The same model prepared for another profile.
    pub fn with_profile(&self, profile: Profile) -> Result<Plan, EngineError> {
        Plan::new(self.model.clone(), profile)
    }

    /// The input tensor index.
    pub fn input(&self) -> usize {
        self.model.inputs[0]
    }

    /// The (first) output tensor index.
    pub fn output(&self) -> usize {
        self.model.outputs[0]
    }

    /// The step that writes tensor `t`.
    pub fn step_for_tensor(&self, t: usize) -> Option<&Step> {
        self.steps.iter().find(|s| s.kernel.output() == t)
    }

    /// The prepared FULLY_CONNECTED steps, in execution order.
    pub fn fully_connected(&self) -> impl Iterator<Item = (usize, &ops::fully_connected::Params)> {
        self.steps.iter().filter_map(|s| match &s.kernel {
            Kernel::FullyConnected(p) => Some((s.op, p)),
            _ => None,
        })
    }
}

/// reader: what [`Plan::diagnose`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnosis {
    /// (operator index, why `run` cannot execute it), in execution order.
    pub ops: Vec<(usize, EngineError)>,
    /// An error about the graph as a whole (inputs, outputs, limits), if any.
    pub graph: Option<EngineError>,
}

/// reader: the operator an error names, if it names one.
fn operator_of(err: &EngineError) -> Option<usize> {
    match err {
        EngineError::UnsupportedOp { op, .. }
        | EngineError::Unsupported { op, .. }
        | EngineError::BadOperator { op, .. }
        | EngineError::NotYetProduced { op, .. } => Some(*op),
        _ => None,
    }
}

/// reader: fold every operator on constants ([`ops::fold`]) into the model:
/// its output becomes a constant, and its prepared step is returned by
/// operator index. Operators in `skip` are left alone.
fn fold_constants(mut model: Model, skip: &BTreeSet<usize>) -> Result<(Model, BTreeMap<usize, ops::fold::Params>), EngineError> {
    if let Some(&t) = model.inputs.iter().find(|&&t| !model.tensors[t].dtype.is_held()) {
        let tensor = &model.tensors[t];
        return Err(EngineError::BadInput(format!("graph input tensor {t} ({}) is {}, which quantlens does not run", tensor.name, tensor.dtype)));
    }
    let mut folded = BTreeMap::new();
    for k in 0..model.operators.len() {
        if skip.contains(&k) {
            continue;
        }
        let op = &model.operators[k];
        if let Some(p) = ops::fold::prepare(&OpContext { model: &model, op })? {
            let out = &model.tensors[p.output];
            if out.is_constant() || model.inputs.contains(&p.output) {
                return Err(EngineError::BadOperator {
                    op: k,
                    kind: op.kind.name(),
                    reason: format!("writes tensor {} ({}), which is a constant or the graph input", p.output, crate::model::escape_name(&out.name)),
                });
            }
            let bytes = p.bytes();
            model.tensors[p.output].data = Some(bytes);
            folded.insert(k, p);
        }
    }
    Ok((model, folded))
}

/// Resource limits of a [`Plan`] (see [`Plan::with_limits`]).
///
/// A `.tflite` file of a few kilobytes can declare tensors of two billion
/// elements, or point a thousand operators at one large weight tensor. Such
/// a file is refused up front instead of making quantlens allocate gigabytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Upper bound, in bytes, on the memory a plan may need: the weights its
    /// operators prepare, plus the values one run keeps (the input and every
    /// op-produced tensor) and the largest temporary buffers of one operator.
    /// It is an estimate computed from the shapes alone, on the high side.
    pub max_bytes: u64,
}

impl Limits {
    /// 1 GiB: far above what the committed models need (about 20 MiB),
    /// enough for large image models.
    pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_bytes: Limits::DEFAULT_MAX_BYTES }
    }
}

/// Refuse a model whose tensors would need more than `limits` allows.
///
/// The estimate, from shapes alone: every value a run keeps (the graph input
/// and each op-produced tensor, in its dtype); the largest per-operator
/// scratch (its non-constant inputs and outputs widened to 32 bits); and for
/// every operator its constant inputs as prepared (copied, widened to 32 bits
/// and centered, plus per-channel constants).
fn check_memory(model: &Model, limits: Limits) -> Result<(), EngineError> {
    let elements = |t: usize| model.tensors[t].num_elements() as u64;
    let bytes = |t: usize| elements(t).saturating_mul(model.tensors[t].dtype.size() as u64);
    let mut kept_flags = vec![false; model.tensors.len()];
    for &t in model.inputs.iter().chain(model.operators.iter().flat_map(|op| op.outputs.iter())) {
        kept_flags[t] = true;
    }
    let kept: u64 = (0..model.tensors.len()).filter(|&t| kept_flags[t]).map(bytes).fold(0, u64::saturating_add);
    let mut scratch = 0u64;
    let mut prepared = 0u64;
    let mut largest: Option<(u64, usize)> = None;
    for op in &model.operators {
        let mut op_scratch = 0u64;
        for t in op.inputs.iter().flatten().copied().chain(op.outputs.iter().copied()) {
            let tensor = &model.tensors[t];
            if tensor.is_constant() {
                let rows = tensor.shape.first().copied().unwrap_or(1) as u64;
                let cost = bytes(t).saturating_add(elements(t).saturating_mul(8)).saturating_add(rows.saturating_mul(64));
                prepared = prepared.saturating_add(cost);
            } else {
                op_scratch = op_scratch.saturating_add(elements(t).saturating_mul(4));
            }
        }
        scratch = scratch.max(op_scratch);
    }
    for (t, &is_kept) in kept_flags.iter().enumerate() {
        let b = if is_kept { bytes(t) } else { 0 };
        if largest.map_or(true, |(lb, _)| b > lb) {
            largest = Some((b, t));
        }
    }
    let needed = kept.saturating_add(scratch).saturating_add(prepared);
    if needed <= limits.max_bytes {
        return Ok(());
    }
    let mut detail = format!("{kept} for the values of one run, {scratch} of scratch, {prepared} for prepared weights");
    if let Some((b, t)) = largest.filter(|&(b, _)| b > 0) {
        let tensor = &model.tensors[t];
        detail.push_str(&format!(
            "; largest tensor {t} ({}) of shape {:?} {} holds {b}",
            tensor.name, tensor.shape, tensor.dtype
        ));
    }
    Err(EngineError::TooLarge { needed, limit: limits.max_bytes, detail })
}
