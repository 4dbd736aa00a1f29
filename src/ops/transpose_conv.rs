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
//! uint8 (LiteRT's legacy form; [`Arith::Uint8`]): uint8 input and output,
//! uint8 weights with one asymmetric (S2, Z2) for the whole filter, int32
//! bias. Every product is `(q1 − Z1)·(q2 − Z2)`, as the reference's
//! `(input_value + input_offset) * (filter_value + filter_offset)`; the one
//! multiplier is TFLite's legacy `GetQuantizedConvolutionMultipler`,
//! `M = double(float(S1·S2)) / S3`. The optimized kernel forms the same sums
//! another way — a gemm of the HWOI filter with the image (zero points
//! applied inside the gemm), then `Col2im` adding each column into the
//! output, the bias added afterwards — but integer addition is exact and
//! associative (wrapping), so the sums are equal; only the requantization
//! pass differs ([`Profile::transpose_conv_uint8_requant`]).
//!
//! Float: the same scatter in f32, in the reference's order — for each input
//! pixel (y, x), each input channel, each filter tap — into an output that
//! starts at 0.0, the bias added last, then the fused activation's clamp.

use super::layer_quant::LayerQuant;
use super::{fused_range, narrow, OpContext};
use crate::error::EngineError;
use crate::model::{Activation, DType, Options, Padding};
use crate::profile::{FlatRequant, Multiplier, Profile, Rounding};
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
    /// uint8 input, output and filter (per-tensor, zero point Z2), int32 bias.
    Uint8 {
        z1: i32,
        z3: i32,
        /// `q2 − Z2` for every filter value `[o, ky, kx, i]`.
        weights: Vec<i32>,
        bias: Vec<i32>,
        /// The one legacy multiplier `double(float(S1·S2)) / S3`.
        multiplier: Multiplier,
        /// Which outputs take which rounding ([`Profile::transpose_conv_uint8_requant`]).
        requant: FlatRequant,
        range: (i32, i32),
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
    // LiteRT's Prepare: the convolution from the output back must give the input's size
    // (`ComputePaddingHeightWidthChecked`, then `computed_input_height == input height`)
    let conv_out = |out: usize, k: usize, s: usize| match padding {
        Padding::Same => out.div_ceil(s) as isize,
        Padding::Valid => (out as isize + s as isize - k as isize).div_euclid(s as isize),
    };
    let (ch, cw) = (conv_out(os[1], fs[1], sh), conv_out(os[2], fs[2], sw));
    if ch != is[1] as isize || cw != is[2] as isize {
        return Err(ctx.bad(format!(
            "output {}×{} with a {}×{} filter, strides ({sh}, {sw}) and {padding:?} padding comes from a {ch}×{cw} input, not the input's {}×{}",
            os[1], os[2], fs[1], fs[2], is[1], is[2]
        )));
    }
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
        DType::U8 => {
            for (t, role) in [(filter, "filter"), (output, "output")] {
                if ctx.dtype(t) != DType::U8 {
                    return Err(ctx.unsupported(format!("uint8 input with a {} {role} (tensor {t}; uint8 expected)", ctx.dtype(t))));
                }
            }
            let lq = LayerQuant::read(ctx, input, filter, bias, output, "filter", out_c, 0)?;
            prepare_uint8(ctx, profile, filter, lq, activation)?
        }
        other => return Err(ctx.unsupported(format!("input dtype {other} (int8, uint8 and float32 are supported)"))),
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

/// The uint8 form's constants: LiteRT's `PopulateConvolutionQuantizationParams`
/// for a uint8 input (per-tensor filter only, the legacy multiplier);
/// `lq` read from the layer's tensors, the filter `filter`.
fn prepare_uint8(ctx: &OpContext, profile: Profile, filter: usize, lq: LayerQuant, activation: Activation) -> Result<Arith, EngineError> {
    if lq.per_channel {
        return Err(ctx.unsupported("uint8 filter with per-channel scales (LiteRT quantizes uint8 per tensor)"));
    }
    let z2 = lq.z2[0];
    let w = crate::tensor::Value::from_constant(&ctx.model.tensors[filter]).ok_or_else(|| ctx.unsupported(format!("non-constant filter (tensor {filter})")))?;
    let weights = super::ints(&w, filter)?.into_iter().map(|q| q - z2).collect();
    Ok(Arith::Uint8 {
        z1: lq.z1,
        z3: lq.z3,
        weights,
        multiplier: lq.multipliers(true)[0],
        bias: lq.bias,
        requant: profile.transpose_conv_uint8_requant(),
        range: fused_range(activation, DType::U8, lq.s3, lq.z3),
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
            Arith::Uint8 { .. } => {
                let mut out = Value { shape: self.output_shape.to_vec(), data: Data::U8(Vec::new()) };
                self.eval_uint8_into(x, &mut out, &mut Vec::new())?;
                Ok(out)
            }
        }
    }

    /// uint8: `x` (one or more images, `[N·H·W·C_in]`) into `out`, with the
    /// int32 sums in `acc` (kept between calls: no allocation once grown).
    /// Each image is one LiteRT invocation: its flattened output is one
    /// requantization pass.
    pub fn eval_uint8_into(&self, x: &Value, out: &mut Value, acc: &mut Vec<i32>) -> Result<(), EngineError> {
        let Arith::Uint8 { z1, z3, weights, bias, multiplier, requant, range } = &self.arith else {
            return Err(EngineError::BadInput(format!("TRANSPOSE_CONV (output tensor {}) is not the uint8 form", self.output)));
        };
        let crate::tensor::Data::U8(q) = &x.data else {
            return Err(EngineError::BadInput(format!("tensor {} is {} where uint8 was expected", self.input, x.dtype())));
        };
        let n_in: usize = self.input_shape.iter().product();
        let n_out: usize = self.output_shape.iter().product();
        if q.is_empty() || q.len() % n_in != 0 {
            return Err(EngineError::BadInput(format!("tensor {} has {} elements where a multiple of {n_in} was expected", self.input, q.len())));
        }
        let images = q.len() / n_in;
        let co = self.output_shape[3];
        let (split, vector, tail) = requant.split(n_out);
        if !matches!(out.data, Data::U8(_)) {
            out.data = Data::U8(Vec::new());
        }
        let Data::U8(o) = &mut out.data else { unreachable!("set just above") };
        o.clear();
        for image in q.chunks_exact(n_in) {
            acc.clear();
            acc.resize(n_out, 0);
            // the reference's scatter; wrapping, as the optimized kernel's `WrappingAdd`
            self.scatter(|s, d, k| acc[d] = acc[d].wrapping_add((image[s] as i32 - z1).wrapping_mul(weights[k])));
            o.extend(acc.iter().enumerate().map(|(j, &a)| {
                let r = if j < split { vector } else { tail };
                (r.apply(a.wrapping_add(bias[j % co]), multiplier) + z3).clamp(range.0, range.1) as u8
            }));
        }
        let mut shape = self.output_shape.to_vec();
        shape[0] *= images;
        out.shape = shape;
        Ok(())
    }
}

#[cfg(test)]
#[path = "transpose_conv_uint8_tests.rs"]
mod uint8_tests;
