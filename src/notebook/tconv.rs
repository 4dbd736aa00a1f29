//! TRANSPOSE_CONV as a [`QuantLayer`], and the steps of one of its output
//! elements recomputed from the model's tensors.
//!
//! A transposed convolution *scatters* every input pixel, times the filter,
//! into a window of the output (see [`crate::ops::transpose_conv`]). Seen from
//! one output element `(b, oy, ox, o)`, that scatter is a gather: input pixel
//! `(y, x)` reaches it through filter tap `(ky, kx)` exactly when
//!
//! ```text
//! y·sh − ph + ky = oy   and   x·sw − pw + kx = ox,
//! ```
//!
//! i.e. `ky ≡ oy + ph (mod sh)` with `y = (oy + ph − ky) / sh` inside the
//! input, and likewise for x. So
//!
//! ```text
//! acc = Σ over those (y, x, ky, kx) and every input channel i of (q1[b, y, x, i] − Z1)·(q2[o, ky, kx, i] − Z2)
//! q3  = clamp(Z3 + round(M[o]·(acc + bias[o])))
//! ```
//!
//! The sums are formed here in the gather order, not the engine's scatter
//! order; int32 addition wraps and is associative, so they are the same
//! numbers (tests/report_tconv.rs checks every element against the trace).

use super::layers::{QuantLayer, RoundingVaries};
use crate::ops::fully_connected::Steps;
use crate::ops::transpose_conv::{Arith, Params};
use crate::ops::vision::VisionOp;
use crate::plan::{Kernel, Plan};
use crate::tensor::Value;
use crate::trace::Trace;

/// The quantized TRANSPOSE_CONV of step `op` as a layer (`None` for the float form).
/// S1, S2, S3 and the zero points are read from the model's tensors; M, the
/// rounding and the clamp are the prepared op's.
pub(crate) fn layer(plan: &Plan, op: usize, p: &Params) -> Option<QuantLayer> {
    let tensors = &plan.model.tensors;
    let (s1, z1) = tensors[p.input].per_tensor_quant()?;
    let (s3, z3) = tensors[p.output].per_tensor_quant()?;
    let wq = tensors[p.filter].quant.as_ref()?;
    let out_c = p.output_shape[3];
    let per_channel = wq.scale.len() > 1;
    let at = |c: usize| if per_channel { c } else { 0 };
    let s2: Vec<f32> = (0..out_c).map(|c| wq.scale[at(c)]).collect();
    let z2: Vec<i32> = (0..out_c).map(|c| wq.zero_point[at(c)] as i32).collect();
    let (multipliers, rounding, varies, (act_min, act_max)) = match &p.arith {
        Arith::Quantized { multipliers, roundings, range, .. } => {
            let varies = roundings.iter().any(|r| *r != roundings[0]).then(|| RoundingVaries::PerChannel(roundings.clone()));
            (multipliers.clone(), roundings[0], varies, *range)
        }
        Arith::Uint8 { multiplier, requant, range, .. } => {
            let n: usize = p.output_shape[1..].iter().product();
            let (_, first, tail) = requant.split(n);
            let varies = (first != tail).then_some(RoundingVaries::Flat(*requant));
            (vec![*multiplier; out_c], first, varies, *range)
        }
        Arith::Float { .. } => return None,
    };
    Some(QuantLayer {
        op,
        kind: "TRANSPOSE_CONV",
        input: p.input,
        weights: p.filter,
        bias: p.bias,
        output: p.output,
        s1,
        z1: z1 as i32,
        s2,
        z2,
        s3,
        z3: z3 as i32,
        per_channel,
        multipliers,
        rounding,
        act_min,
        act_max,
        activation: p.activation,
        varies,
    })
}

/// The prepared TRANSPOSE_CONV of step `op`.
fn params(plan: &Plan, op: usize) -> Option<&Params> {
    match &plan.steps.iter().find(|s| s.op == op)?.kernel {
        Kernel::Vision(VisionOp::TransposeConv(p)) => Some(p),
        _ => None,
    }
}

/// One input pixel and filter tap that scatter into the output element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source {
    /// Input row and column.
    pub y: usize,
    pub x: usize,
    /// Filter tap.
    pub ky: usize,
    pub kx: usize,
}

/// The steps of one TRANSPOSE_CONV output element.
#[derive(Clone, Debug)]
pub struct TconvSteps {
    /// Output (batch, row, column, channel).
    pub position: (usize, usize, usize, usize),
    /// Every input pixel with the filter tap through which it reaches the element.
    pub sources: Vec<Source>,
    /// Input channels: each source adds this many products.
    pub in_channels: usize,
    /// Every product's factors `(q1 − Z1, q2 − Z2)`, in the order they are
    /// summed: sources in order, input channels innermost.
    pub products: Vec<(i32, i32)>,
    /// The accumulator and the requantization, as FULLY_CONNECTED's steps.
    pub steps: Steps,
}

/// The steps of flat output element `element` of the quantized TRANSPOSE_CONV
/// `layer`: the input from the trace, the filter, its zero point and the bias
/// from the model's constants. `None` if `element` is out of range or a tensor is missing.
pub fn steps(layer: &QuantLayer, plan: &Plan, trace: &Trace, element: usize) -> Option<TconvSteps> {
    let p = params(plan, layer.op)?;
    let tensors = &plan.model.tensors;
    let q1 = trace.value(p.input)?.to_i64_vec()?;
    let q2 = Value::from_constant(&tensors[p.filter])?.to_i64_vec()?;
    let bias = match p.bias {
        Some(b) => Value::from_constant(&tensors[b])?.to_i64_vec()?,
        None => vec![0; p.output_shape[3]],
    };
    let [n, h, w, ci] = p.input_shape;
    let [_, oh, ow, co] = p.output_shape;
    if element >= n * oh * ow * co || q1.len() != n * h * w * ci {
        return None;
    }
    let (o, ox, oy, b) = (element % co, element / co % ow, element / (co * ow) % oh, element / (co * ow * oh));
    let (kh, kw) = p.kernel;
    // input index along one axis that reaches output `out` through tap `k`, if any
    let source = |out: usize, pad: usize, k: usize, stride: usize, size: usize| -> Option<usize> {
        let num = (out + pad).checked_sub(k)?;
        (num % stride == 0 && num / stride < size).then_some(num / stride)
    };
    let mut sources = Vec::new();
    let mut products = Vec::new();
    for ky in 0..kh {
        let Some(y) = source(oy, p.pad.0, ky, p.stride.0, h) else { continue };
        for kx in 0..kw {
            let Some(x) = source(ox, p.pad.1, kx, p.stride.1, w) else { continue };
            sources.push(Source { y, x, ky, kx });
            for i in 0..ci {
                let x1 = q1[((b * h + y) * w + x) * ci + i] as i32 - layer.z1;
                let x2 = q2[((o * kh + ky) * kw + kx) * ci + i] as i32 - layer.z2[o];
                products.push((x1, x2));
            }
        }
    }
    let acc = products.iter().fold(0i32, |a, &(x1, x2)| a.wrapping_add(x1.wrapping_mul(x2)));
    let per_image = oh * ow * co;
    let rounding = layer.rounding_of(element % per_image, per_image);
    let m = layer.multipliers[o];
    let (z3, lo, hi) = (layer.z3, layer.act_min, layer.act_max);
    let steps = Steps::new(o, acc, bias[o] as i32, m, rounding, z3, |a| (rounding.apply(a, &m) as i64 + z3 as i64).clamp(lo as i64, hi as i64) as i32);
    Some(TconvSteps { position: (b, oy, ox, o), sources, in_channels: ci, products, steps })
}
