//! What the three hybrid operators share: float input, int8 weights, float
//! output, and S1 computed at run time ([`crate::quant::hybrid`]).
//!
//! `prepare` reads the int8 weights, their scales S2 (one per output channel,
//! or one for the tensor), the float bias and the fused activation; it picks
//! the input quantizer (symmetric or asymmetric) and the profile's order of
//! the float scaling ([`HybridScaling`]). The eval of each op quantizes every
//! batch row of its input, accumulates in int32 and scales back:
//!
//! ```text
//!     y[c] = act( bias[c] + float(acc[c])·S1·S2[c] )    (f32, in the profile's order)
//! ```

use super::OpContext;
use crate::error::EngineError;
use crate::model::{Activation, DType, Model};
use crate::profile::{HybridMethod, HybridScaling};
use crate::quant::hybrid::{asymmetric_quantize, symmetric_quantize, xnnpack_qd8_quantize, RowQuant};
use crate::tensor::Value;

/// How the float input is quantized at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputQuantizer {
    /// `SymmetricQuantizeFloats`: Z1 = 0, q ∈ [−127, 127].
    Symmetric,
    /// `AsymmetricQuantizeFloats`: Z1 from the row's range, q ∈ [−128, 127].
    Asymmetric,
    /// XNNPACK's `qd8`: asymmetric, parameters in f32, rounding half to even.
    XnnpackQd8,
}

impl InputQuantizer {
    /// Quantize one batch row into `q`; returns its run-time S1 and Z1.
    #[inline]
    pub fn quantize(self, x: &[f32], q: &mut [i8]) -> RowQuant {
        match self {
            InputQuantizer::Symmetric => symmetric_quantize(x, q),
            InputQuantizer::Asymmetric => asymmetric_quantize(x, q),
            InputQuantizer::XnnpackQd8 => xnnpack_qd8_quantize(x, q),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            InputQuantizer::Symmetric => "symmetric (Z1 = 0, S1 = max|x|/127)",
            InputQuantizer::Asymmetric => "asymmetric (S1 = (max − min)/255, Z1 nudged)",
            InputQuantizer::XnnpackQd8 => "XNNPACK qd8 (1/S1 = 255/(max − min) in f32, half to even)",
        }
    }
}

/// The constants every hybrid operator prepares.
#[derive(Clone, Debug)]
pub struct HybridCore {
    pub input: usize,
    pub weights_tensor: usize,
    pub bias_tensor: Option<usize>,
    pub output: usize,
    pub output_shape: Vec<usize>,
    /// The int8 weights as stored (their zero points are 0).
    pub weights: Vec<i8>,
    /// S2[c]: one per output channel (the single scale repeated when per-tensor).
    pub s2: Vec<f32>,
    /// True when the file has one weight scale per output channel.
    pub per_channel: bool,
    /// The float bias (zeros when the op has none).
    pub bias: Vec<f32>,
    pub activation: Activation,
    pub act_min: f32,
    pub act_max: f32,
    pub quantizer: InputQuantizer,
    pub scaling: HybridScaling,
}

/// The steps behind one output element of a hybrid operator.
#[derive(Clone, Debug, PartialEq)]
pub struct HybridSteps {
    /// The batch row whose S1/Z1 were used (the image of a convolution).
    pub row: usize,
    /// Output channel `c`.
    pub channel: usize,
    /// S1 and Z1, **computed at run time** from this row's values.
    pub input_quant: RowQuant,
    pub quantizer: InputQuantizer,
    /// `Σ (q1 − Z1) · W[c]` (int32).
    pub accumulator: i32,
    /// S2[c].
    pub s2: f32,
    pub scaling: HybridScaling,
    /// `float(acc)·S1·S2[c]` in the scaling's order (without the bias).
    pub scaled: f32,
    pub bias: f32,
    /// The output before the activation (`scaled + bias`; one rounding when fused).
    pub with_bias: f32,
    /// The output value after the fused activation.
    pub output: f32,
    /// Whether the activation changed the value.
    pub clamped: bool,
}

impl HybridCore {
    /// `act(scaling(acc, S1, S2[c], bias[c]))`.
    #[inline]
    pub fn finish(&self, acc: i32, s1: f32, c: usize) -> f32 {
        self.scaling.apply(acc, s1, self.s2[c], self.bias[c]).clamp(self.act_min, self.act_max)
    }

    /// The steps of [`finish`](Self::finish), for the trace.
    pub fn steps(&self, row: usize, channel: usize, input_quant: RowQuant, accumulator: i32) -> HybridSteps {
        let scaled = self.scaling.scale(accumulator, input_quant.scale, self.s2[channel]);
        let with_bias = self.scaling.apply(accumulator, input_quant.scale, self.s2[channel], self.bias[channel]);
        let output = with_bias.clamp(self.act_min, self.act_max);
        HybridSteps {
            row,
            channel,
            input_quant,
            quantizer: self.quantizer,
            accumulator,
            s2: self.s2[channel],
            scaling: self.scaling,
            scaled,
            bias: self.bias[channel],
            with_bias,
            output,
            clamped: output.to_bits() != with_bias.to_bits(),
        }
    }

    /// Quantize `input` in batch rows of `per` values: each row's run-time
    /// S1/Z1, and the quantized values.
    pub fn quantize_rows(&self, input: &Value, per: usize) -> Result<(Vec<RowQuant>, Vec<i8>), EngineError> {
        let x = self.float_input(input)?;
        if per == 0 || x.len() % per != 0 {
            return Err(EngineError::BadInput(format!("tensor {} has {} elements, not a multiple of {per}", self.input, x.len())));
        }
        let mut q = vec![0i8; x.len()];
        let rq = x.chunks(per).zip(q.chunks_mut(per)).map(|(xr, qr)| self.quantizer.quantize(xr, qr)).collect();
        Ok((rq, q))
    }

    /// A convolution's eval: quantize every image, then one `out(q, row quant, b, oy, ox, oc)`
    /// per output element in NHWC order.
    pub(crate) fn eval_conv(
        &self,
        g: &super::conv::Geometry,
        input: &Value,
        out: impl Fn(&[i8], RowQuant, usize, usize, usize, usize) -> f32,
    ) -> Result<Value, EngineError> {
        let (rq, q) = self.quantize_rows(input, g.in_h * g.in_w * g.in_c)?;
        let mut y = Vec::with_capacity(rq.len() * g.out_h * g.out_w * g.out_c);
        for (b, &r) in rq.iter().enumerate() {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for oc in 0..g.out_c {
                        y.push(out(&q, r, b, oy, ox, oc));
                    }
                }
            }
        }
        Ok(Value { shape: self.output_shape.clone(), data: crate::tensor::Data::F32(y) })
    }

    /// A convolution's steps: the quantized input, the image's S1/Z1 and the
    /// NHWC position of output element `element`; `None` when out of range.
    pub(crate) fn locate_conv(
        &self,
        g: &super::conv::Geometry,
        input: &Value,
        element: usize,
    ) -> Option<(Vec<i8>, RowQuant, super::conv::Position)> {
        let (rq, q) = self.quantize_rows(input, g.in_h * g.in_w * g.in_c).ok()?;
        if element >= rq.len() * g.out_h * g.out_w * g.out_c {
            return None;
        }
        let position = g.out_position(element);
        Some((q, rq[position.0], position))
    }

    /// The float input of a run, or an error naming the tensor.
    pub(crate) fn float_input<'v>(&self, v: &'v Value) -> Result<&'v [f32], EngineError> {
        v.as_f32().ok_or_else(|| EngineError::BadInput(format!("tensor {} is {} where float32 was expected", self.input, v.dtype())))
    }
}

/// True when the operator is hybrid: float32 input and output, int8 weights (input 1).
pub(crate) fn is_hybrid(model: &Model, op: &crate::model::Operator) -> bool {
    let dt = |t: Option<usize>| t.map(|t| model.tensors[t].dtype);
    dt(op.input(0)) == Some(DType::F32) && dt(op.input(1)) == Some(DType::I8) && dt(op.outputs.first().copied()) == Some(DType::F32)
}

/// Read the weights, scales, bias and activation of a hybrid operator whose
/// weights have `channels` output channels along `axis`.
pub(crate) fn prepare_core(
    ctx: &OpContext,
    activation: Activation,
    channels: usize,
    axis: usize,
    litert_quantizer: InputQuantizer,
    method: HybridMethod,
) -> Result<HybridCore, EngineError> {
    let (quantizer, scaling) = match method {
        HybridMethod::LiteRt(scaling) => (litert_quantizer, scaling),
        HybridMethod::XnnpackQd8 => (InputQuantizer::XnnpackQd8, HybridScaling::InputScaleThenFma),
    };
    super::conv::check_activation(ctx, activation)?;
    let input = ctx.input(0)?;
    let weights_tensor = ctx.input(1)?;
    let bias_tensor = ctx.op.input(2);
    let output = ctx.output(0)?;
    let m = ctx.model;
    let w = &m.tensors[weights_tensor];
    let wv = Value::from_constant(w).ok_or_else(|| ctx.unsupported(format!("non-constant weights (tensor {weights_tensor})")))?;
    let weights: Vec<i8> = match &wv.data {
        crate::tensor::Data::I8(v) => v.clone(),
        _ => return Err(ctx.unsupported(format!("weights tensor {weights_tensor} of dtype {}", w.dtype))),
    };
    let q = w.quant.as_ref().ok_or_else(|| ctx.bad(format!("int8 weights tensor {weights_tensor} ({}) has no scales", w.name)))?;
    if q.zero_point.iter().any(|&z| z != 0) {
        return Err(ctx.unsupported(format!("weights tensor {weights_tensor} has nonzero zero points (hybrid weights are symmetric)")));
    }
    let per_channel = q.scale.len() > 1;
    let s2 = match q.scale.len() {
        1 => vec![q.scale[0]; channels],
        n if n == channels => {
            if q.quantized_dimension != axis {
                return Err(ctx.bad(format!("weights tensor {weights_tensor} is quantized along dimension {}; expected {axis}", q.quantized_dimension)));
            }
            q.scale.clone()
        }
        n => return Err(ctx.bad(format!("weights tensor {weights_tensor} has {n} scales for {channels} output channels"))),
    };
    let bias = match bias_tensor {
        Some(b) => {
            let bt = &m.tensors[b];
            let v = Value::from_constant(bt).ok_or_else(|| ctx.unsupported(format!("non-constant bias (tensor {b})")))?;
            let f = v.as_f32().ok_or_else(|| ctx.unsupported(format!("bias tensor {b} of dtype {} (float32 expected)", bt.dtype)))?;
            if f.len() != channels {
                return Err(ctx.bad(format!("bias tensor {b} has {} elements; expected {channels}", f.len())));
            }
            f.to_vec()
        }
        None => vec![0.0; channels],
    };
    let (act_min, act_max) = crate::quant::activation_range_f32(activation);
    Ok(HybridCore {
        input,
        weights_tensor,
        bias_tensor,
        output,
        output_shape: ctx.shape(output),
        weights,
        s2,
        per_channel,
        bias,
        activation,
        act_min,
        act_max,
        quantizer,
        scaling,
    })
}

/// The `inspect` section of every hybrid operator of `plan`: where each
/// scale lives. S1 is not in the file; S2 is; there is no S3 (the output is float).
pub fn describe_plan(plan: &crate::plan::Plan) -> String {
    use crate::plan::Kernel;
    use std::fmt::Write;
    let mut s = String::new();
    for step in &plan.steps {
        let (core, rows, extra) = match &step.kernel {
            Kernel::HybridFullyConnected(p) => {
                let n = plan.model.tensors[p.core.input].num_elements() / p.in_features.max(1);
                (&p.core, format!("{n} batch row(s) of {} inputs: one S1 per row", p.in_features), String::new())
            }
            Kernel::HybridConv2d(p) => (&p.core, format!("{} image(s): one S1 per image", p.geometry.batches), geometry(&p.geometry)),
            Kernel::HybridDepthwiseConv2d(p) => (
                &p.core,
                format!("{} image(s): one S1 per image", p.geometry.batches),
                format!("{}, depth multiplier {}", geometry(&p.geometry), p.depth_multiplier),
            ),
            // dynamic_bmm
            Kernel::HybridBatchMatmul(p) => (
                &p.core,
                format!("{} LHS row(s) of {} values: one S1 per row", plan.model.tensors[p.core.input].num_elements() / p.depth.max(1), p.depth),
                format!("{} output matrices of {}×{}, adj_x {}, adj_y {}; no bias", p.blocks.len(), p.rows, p.cols, p.adj_x, p.adj_y),
            ),
            _ => continue,
        };
        let kind = plan.model.operators[step.op].kind.name();
        let _ = writeln!(
            s,
            "\n{kind} op {} (dynamic range / hybrid): float input t{} · int8 weights t{}{} → float output t{}{}",
            step.op,
            core.input,
            core.weights_tensor,
            core.bias_tensor.map_or(String::new(), |b| format!(" + float bias t{b}")),
            core.output,
            if extra.is_empty() { String::new() } else { format!("   [{extra}]") }
        );
        let _ = writeln!(s, "  S1, Z1 (input t{}): not in the file — computed at run time from the input values; {rows}", core.input);
        let _ = writeln!(s, "           quantizer: {}", core.quantizer.name());
        let (lo, hi) = core.s2.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        if core.per_channel {
            let _ = writeln!(s, "  S2 (weights t{}, in the file): {} per-channel scales {lo:.6e}..{hi:.6e}, Z2 = 0", core.weights_tensor, core.s2.len());
        } else {
            let _ = writeln!(s, "  S2 (weights t{}, in the file): one scale {lo:.9e}, Z2 = 0", core.weights_tensor);
        }
        let _ = writeln!(s, "  S3: none — the output is float32: y = act({}), act = {}", core.scaling.name(), core.activation.name());
        let _ = writeln!(s, "  choice: {}", step.profile_choice());
    }
    s
}

fn geometry(g: &super::conv::Geometry) -> String {
    format!("{}×{} kernel, stride {}/{}, dilation {}/{}, padding {}/{}", g.k_h, g.k_w, g.stride_h, g.stride_w, g.dil_h, g.dil_w, g.pad_h, g.pad_w)
}
