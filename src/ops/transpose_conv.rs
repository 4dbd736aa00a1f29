//! TRANSPOSE_CONV: the gradient of a convolution, used to upsample.
//!
//! Where a convolution *gathers* a window of inputs into one output, the
//! transposed convolution *scatters* each input pixel, times the filter, into
//! a window of the output. With filter `W[o, ky, kx, i]`, strides `(sh, sw)`
//! and the padding `(ph, pw)` of the convolution that would map the output
//! back to the input (`total = (in − 1)·s + k − out`, `p = total / 2`):
//!
//! ```text
//! acc[b, y·sh − ph + ky, x·sw − pw + kx, o]  +=  (q1[b, y, x, i] − Z1) · q2[o, ky, kx, i]
//! q3[…, o] = clamp(Z3 + M[o]·(acc + bias[o])),       M[o] = S1·S2[o] / S3
//! ```
//!
//! (LiteRT `reference_integer_ops::TransposeConv`, per-channel int8 weights
//! with zero point 0.) The runtimes round `M[o]·acc` differently
//! ([`Profile::transpose_conv_requant`]); the integer sums are the same.
//!
//! Float: the same scatter in f32, in the reference's order — for each input
//! pixel (y, x), each input channel, each filter tap — into an output that
//! starts at 0.0, the bias added last, then the fused activation's clamp.

use super::layer_quant::LayerQuant;
use super::{fused_range, narrow, OpContext};
use crate::error::EngineError;
use crate::model::{Activation, DType, Options, Padding};
use crate::profile::{Multiplier, Profile, Rounding};
use crate::tensor::{Data, Value};

/// Everything TRANSPOSE_CONV needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub filter: usize,
    pub bias: Option<usize>,
    pub output: usize,
    /// `[N, H, W, C_in]` of the input, `[N, H_out, W_out, C_out]` of the output.
    pub input_shape: [usize; 4],
    pub output_shape: [usize; 4],
    /// `(kh, kw)`.
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    /// `(ph, pw)`: how far the window of input pixel 0 starts before output pixel 0.
    pub pad: (usize, usize),
    pub padding: Padding,
    pub activation: Activation,
    pub arith: Arith,
}

/// The arithmetic, by dtype.
#[derive(Clone, Debug)]
pub enum Arith {
    Quantized {
        z1: i32,
        z3: i32,
        /// Filter values `[o, ky, kx, i]` (zero point 0).
        weights: Vec<i32>,
        bias: Vec<i32>,
        multipliers: Vec<Multiplier>,
        /// The rounding of each output channel ([`Profile::transpose_conv_requant`]).
        roundings: Vec<Rounding>,
        range: (i32, i32),
        dtype: DType,
    },
    Float {
        weights: Vec<f32>,
        bias: Option<Vec<f32>>,
        range: (f32, f32),
    },
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let filter = ctx.input(1)?;
    let input = ctx.input(2)?;
    let bias = ctx.op.input(3);
    let output = ctx.output(0)?;
    let (padding, stride_w, stride_h, activation) = match ctx.op.options {
        Options::TransposeConv { padding, stride_w, stride_h, activation } => (padding, stride_w, stride_h, activation),
        ref other => return Err(ctx.bad(format!("transpose-conv options expected, found {other:?}"))),
    };
    if stride_w < 1 || stride_h < 1 {
        return Err(ctx.bad(format!("strides ({stride_h}, {stride_w}) must be positive")));
    }
    let shape4 = |t: usize, role: &str| -> Result<[usize; 4], EngineError> {
        let s = ctx.shape(t);
        <[usize; 4]>::try_from(s.as_slice()).map_err(|_| ctx.unsupported(format!("{role} tensor {t} of shape {s:?} (4-D is supported)")))
    };
    let is = shape4(input, "input")?;
    let os = shape4(output, "output")?;
    let fs = shape4(filter, "filter")?;
    let requested = ctx.const_i32(ctx.input(0)?, "output_shape")?;
    if requested.iter().map(|&d| d as usize).ne(os.iter().copied()) || fs[0] != os[3] || fs[3] != is[3] || is[0] != os[0] {
        return Err(ctx.bad(format!("input {is:?}, filter {fs:?}, output_shape {requested:?} and output {os:?} do not fit")));
    }
    let (sh, sw) = (stride_h as usize, stride_w as usize);
    let pad = (conv_padding(os[1], fs[1], sh, padding), conv_padding(os[2], fs[2], sw, padding));
    let out_c = os[3];
    let arith = match ctx.dtype(input) {
        DType::F32 => {
            let w = crate::tensor::Value::from_constant(&ctx.model.tensors[filter]).ok_or_else(|| ctx.unsupported("non-constant filter"))?;
            let weights = w.as_f32().ok_or_else(|| ctx.unsupported(format!("float input with a {} filter", w.dtype())))?.to_vec();
            let bias = match bias {
                Some(b) => Some(
                    crate::tensor::Value::from_constant(&ctx.model.tensors[b])
                        .and_then(|v| v.as_f32().map(<[f32]>::to_vec))
                        .filter(|v| v.len() == out_c)
                        .ok_or_else(|| ctx.unsupported(format!("bias tensor {b} (constant float32 × {out_c} expected)")))?,
                ),
                None => None,
            };
            Arith::Float { weights, bias, range: crate::quant::activation_range_f32(activation) }
        }
        DType::I8 => {
            ctx.require_int8(output, "output")?;
            ctx.require_int8(filter, "filter")?;
            let lq = LayerQuant::read(ctx, input, filter, bias, output, "filter", out_c, 0)?;
            if lq.z2.iter().any(|&z| z != 0) {
                return Err(ctx.unsupported("int8 filter with a nonzero zero point"));
            }
            let w = crate::tensor::Value::from_constant(&ctx.model.tensors[filter]).ok_or_else(|| ctx.unsupported("non-constant filter"))?;
            Arith::Quantized {
                z1: lq.z1,
                z3: lq.z3,
                weights: super::ints(&w, filter)?,
                multipliers: lq.multipliers(false),
                bias: lq.bias,
                roundings: profile.transpose_conv_requant().per_channel(out_c),
                range: fused_range(activation, DType::I8, lq.s3, lq.z3),
                dtype: DType::I8,
            }
        }
        other => return Err(ctx.unsupported(format!("input dtype {other} (int8 and float32 are supported)"))),
    };
    Ok(Params {
        input,
        filter,
        bias,
        output,
        input_shape: is,
        output_shape: os,
        kernel: (fs[1], fs[2]),
        stride: (sh, sw),
        pad,
        padding,
        activation,
        arith,
    })
}

/// The padding of the convolution from `out` (the transposed conv's output
/// size) back to its input: TFLite's `ComputePaddingHeightWidth` with
/// dilation 1, `total = max((conv_out − 1)·s + k − out, 0)`, `pad = total / 2`.
pub fn conv_padding(out: usize, k: usize, s: usize, padding: Padding) -> usize {
    let conv_out = match padding {
        Padding::Same => out.div_ceil(s),
        Padding::Valid => (out + s).saturating_sub(k) / s,
    };
    let total = ((conv_out as isize - 1) * s as isize + k as isize - out as isize).max(0);
    (total / 2) as usize
}

impl Params {
    /// Visit every (input element, output element, filter element) triple in
    /// the reference order: batch, input y, input x, input channel, ky, kx, output channel.
    #[inline]
    fn scatter(&self, mut f: impl FnMut(usize, usize, usize)) {
        let [n, h, w, ci] = self.input_shape;
        let [_, oh, ow, co] = self.output_shape;
        let (kh, kw) = self.kernel;
        for b in 0..n {
            for y in 0..h {
                for x in 0..w {
                    for i in 0..ci {
                        let src = ((b * h + y) * w + x) * ci + i;
                        for ky in 0..kh {
                            let oy = (y * self.stride.0 + ky) as isize - self.pad.0 as isize;
                            if oy < 0 || oy >= oh as isize {
                                continue;
                            }
                            for kx in 0..kw {
                                let ox = (x * self.stride.1 + kx) as isize - self.pad.1 as isize;
                                if ox < 0 || ox >= ow as isize {
                                    continue;
                                }
                                let dst = ((b * oh + oy as usize) * ow + ox as usize) * co;
                                for o in 0..co {
                                    f(src, dst + o, ((o * kh + ky) * kw + kx) * ci + i);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        let n_in: usize = self.input_shape.iter().product();
        if x.len() != n_in {
            return Err(EngineError::BadInput(format!("tensor {} has {} elements where {n_in} were expected", self.input, x.len())));
        }
        let n_out: usize = self.output_shape.iter().product();
        let co = self.output_shape[3];
        match &self.arith {
            Arith::Float { weights, bias, range } => {
                let v = x.as_f32().ok_or_else(|| EngineError::BadInput(format!("tensor {} is {} where float32 was expected", self.input, x.dtype())))?;
                let mut out = vec![0.0f32; n_out];
                self.scatter(|s, d, k| out[d] += v[s] * weights[k]);
                if let Some(bias) = bias {
                    for (j, o) in out.iter_mut().enumerate() {
                        *o += bias[j % co];
                    }
                }
                for o in out.iter_mut() {
                    *o = o.max(range.0).min(range.1);
                }
                Ok(Value { shape: self.output_shape.to_vec(), data: Data::F32(out) })
            }
            Arith::Quantized { z1, z3, weights, bias, multipliers, roundings, range, dtype } => {
                let q: Vec<i32> = super::ints(x, self.input)?.into_iter().map(|q| q - z1).collect();
                let mut acc = vec![0i32; n_out];
                self.scatter(|s, d, k| acc[d] += q[s] * weights[k]);
                let out = acc
                    .iter()
                    .enumerate()
                    .map(|(j, &a)| {
                        let o = j % co;
                        (roundings[o].apply(a + bias[o], &multipliers[o]) + z3).clamp(range.0, range.1)
                    })
                    .collect();
                Ok(narrow(*dtype, &self.output_shape, out))
            }
        }
    }
}
