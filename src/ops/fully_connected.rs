//! FULLY_CONNECTED: `y = act(W·x + b)`.
//!
//! Quantized, with input (S1, Z1), weights (S2[c], Z2[c]) per output channel
//! `c` (or one pair for the whole tensor), int32 bias with scale S1·S2[c] and
//! zero point 0, and output (S3, Z3):
//!
//! ```text
//!     acc[c] = Σ_i (x[i] − Z1) · (W[c][i] − Z2[c]) + bias[c]
//!     y[c]   = clamp( Z3 + round(M[c] · acc[c]),  act_min, act_max ),   M[c] = S1·S2[c] / S3
//! ```
//!
//! `round(M · acc)` is the profile's [`Rounding`]; `act_min`/`act_max` come
//! from the fused activation ([`crate::quant::activation_range`]).
//! Weights are stored `[out][in]` (TFLite's layout).
//!
//! # The fast path
//!
//! `prepare` packs the weights once as i8 `w8 = W − w_off` (see the
//! [`super::gemm`] module) and the eval loop feeds the kernels u8 inputs
//! `xu = x + x_off` (`x_off` = 128 for int8 inputs, 0 for uint8). With
//! `zu = Z1 + x_off` and `z2'[c] = Z2[c] − w_off`, expanding the product gives
//!
//! ```text
//!     acc[c] = Σ_i (xu − zu)(w8 − z2'[c])
//!            = Σ_i xu·w8  +  (bias[c] − zu·Σ_i w8[c][i] + n·zu·z2'[c])  −  z2'[c]·Σ_i xu
//!              ─────────     ──────────────── fold[c] ───────────────     (0 for symmetric weights)
//!              gemm kernel
//! ```
//!
//! in wrapping i32 arithmetic, which equals the runtimes' int32 sum exactly
//! (both are the true sum mod 2³²). The gemm kernel is
//! [`super::fc_fast`] (register tiles for one sample or a batch on AVX-512
//! VNNI); `fold` is the [`RequantTable`]'s per-channel offset, so the
//! requantization adds it, rounds and narrows to bytes in one pass. One
//! sample needing no padding is read as its own bytes (`x ^ 0x80` is `x + 128`
//! for int8), without a conversion pass. [`QuantParams::accumulate`] (used by
//! [`Params::steps`]) computes the left-hand side directly, as the reference
//! kernels do; the bit-exact tests compare both against the goldens.

use super::gemm::{self, PackedWeights};
use super::layer_quant::LayerQuant;
use super::requant::RequantTable;
use super::{int_range, widen, OpContext};
use crate::error::EngineError;
use crate::model::{Activation, DType, Options};
use crate::profile::{LayerKind, Multiplier, Profile, Rounding};
use crate::quant;
use crate::tensor::{Data, Value};

pub use super::gemm::{kernel_path, set_kernel_path, with_kernel_path, KernelPath};

/// Everything FULLY_CONNECTED needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub weights: usize,
    pub bias: Option<usize>,
    pub output: usize,
    /// Inputs per output (`W`'s second dimension).
    pub in_features: usize,
    /// Outputs (`W`'s first dimension).
    pub out_features: usize,
    pub activation: Activation,
    pub output_shape: Vec<usize>,
    pub arith: Arith,
}

/// Integer or float arithmetic.
#[derive(Clone, Debug)]
pub enum Arith {
    Quantized(Box<QuantParams>),
    Float(FloatParams),
}

/// The quantized layer's constants: the symbols of equation (3).
#[derive(Clone, Debug)]
pub struct QuantParams {
    /// S1, Z1: the input tensor's scale and zero point.
    pub s1: f32,
    pub z1: i32,
    /// S2[c], Z2[c]: one per output channel (repeated when per-tensor).
    pub s2: Vec<f32>,
    pub z2: Vec<i32>,
    /// S3, Z3: the **output tensor's** scale and zero point.
    pub s3: f32,
    pub z3: i32,
    /// True when the file has one weight scale per output channel.
    pub per_channel: bool,
    /// `W[c][i] − Z2[c]`, row-major `[out][in]`.
    pub w_centered: Vec<i32>,
    /// int32 bias (zeros when the op has none).
    pub bias: Vec<i32>,
    /// M[c] = S1·S2[c]/S3 in every form.
    pub multipliers: Vec<Multiplier>,
    /// How this profile rounds M·acc.
    pub rounding: Rounding,
    /// Clamp range from the fused activation and the output dtype.
    pub act_min: i32,
    pub act_max: i32,
    pub input_dtype: DType,
    pub output_dtype: DType,
    pub kind: LayerKind,
    /// The fast path's constants (packed weights and folded zero points).
    pub packed: Packed,
}

/// The fast path's form of the layer: see the module docs.
#[derive(Clone, Debug)]
pub struct Packed {
    /// `w8 = W − w_off`, packed for the kernels.
    pub weights: PackedWeights,
    /// 128 when the input is int8 (`xu = x + 128`), 0 for uint8.
    pub x_off: i32,
    /// The weight offset chosen so that `w8` avoids −128 when it can.
    pub w_off: i32,
    /// `zu = Z1 + x_off`.
    pub zu: i32,
    /// `z2'[c] = Z2[c] − w_off`.
    pub z2: Vec<i32>,
    /// True when some `z2'[c] ≠ 0` (then `Σ xu` is needed per sample).
    pub has_z2: bool,
    /// `bias[c] − zu·Σ w8[c] + n·zu·z2'[c]` (wrapping).
    pub fold: Vec<i32>,
    /// The requantization constants in the kernels' layout, with `fold` as
    /// the per-channel offset.
    pub requant: RequantTable,
    /// fc (issue 16): the same for the VNNI kernels' fused stores
    /// ([`super::fc_fast::matmul_requant`]); `None` where they cannot hold it exactly.
    pub fused: Option<super::conv_fused::FusedTable>,
}

/// Buffers the fast path reuses between calls.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    xu: Vec<u8>,
    sums: Vec<i32>,
    dots: Vec<i32>,
    gemm: gemm::Scratch,
}

/// The float layer's constants.
#[derive(Clone, Debug)]
pub struct FloatParams {
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    pub act_min: f32,
    pub act_max: f32,
}

/// The steps of one output element of a quantized FULLY_CONNECTED.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Steps {
    /// Output channel `c`.
    pub channel: usize,
    /// `Σ (x − Z1)(W − Z2)`.
    pub accumulator: i32,
    /// `bias[c]`.
    pub bias: i32,
    /// `accumulator + bias`.
    pub acc_with_bias: i32,
    /// `M[c]` in all its forms.
    pub multiplier: Multiplier,
    /// The exact real product `M · acc` (for comparison with the rounded one).
    pub scaled_real: f64,
    /// `round(M · acc)` under the profile's rounding.
    pub scaled: i32,
    /// `scaled + Z3`.
    pub with_zero_point: i32,
    /// `clamp(with_zero_point, act_min, act_max)`: the output value.
    pub output: i32,
    /// Whether the clamp changed the value.
    pub clamped: bool,
}

impl Steps {
    /// The requantization of `accumulator` for output channel `channel`, step
    /// by step; `requantize` is the op's own `clamp(Z3 + round(M·acc))`, so the
    /// last step is the value its eval writes. Shared with CONV_2D's steps.
    pub(crate) fn new(
        channel: usize,
        accumulator: i32,
        bias: i32,
        multiplier: Multiplier,
        rounding: Rounding,
        z3: i32,
        requantize: impl Fn(i32) -> i32,
    ) -> Steps {
        let acc_with_bias = accumulator.wrapping_add(bias);
        let scaled = rounding.apply(acc_with_bias, &multiplier);
        let with_zero_point = scaled.saturating_add(z3);
        let output = requantize(acc_with_bias);
        Steps {
            channel,
            accumulator,
            bias,
            acc_with_bias,
            multiplier,
            scaled_real: acc_with_bias as f64 * multiplier.real,
            scaled,
            with_zero_point,
            output,
            clamped: output != with_zero_point,
        }
    }
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let (activation, weights_format, _keep_num_dims) = match &ctx.op.options {
        Options::FullyConnected { activation, weights_format, keep_num_dims, .. } => (*activation, *weights_format, *keep_num_dims),
        Options::None => (Activation::None, 0, false),
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    if weights_format != 0 {
        return Err(ctx.unsupported(format!("weights_format {weights_format} (only DEFAULT is supported)")));
    }
    if !matches!(activation, Activation::None | Activation::Relu | Activation::Relu6 | Activation::ReluN1To1) {
        return Err(ctx.unsupported(format!("fused activation {}", activation.name())));
    }
    let input = ctx.input(0)?;
    let weights = ctx.input(1)?;
    let bias = ctx.op.input(2);
    let output = ctx.output(0)?;
    let m = ctx.model;
    let w = &m.tensors[weights];
    if w.shape.len() != 2 {
        return Err(ctx.bad(format!("weights tensor {weights} has shape {:?}; expected [out, in]", w.shape)));
    }
    let (out_features, in_features) = (w.shape[0], w.shape[1]);
    let wv = Value::from_constant(w).ok_or_else(|| ctx.unsupported(format!("non-constant weights (tensor {weights})")))?;
    let in_len = m.tensors[input].num_elements();
    if in_features == 0 || in_len % in_features != 0 {
        return Err(ctx.bad(format!("input tensor {input} has {in_len} elements, not a multiple of {in_features} features")));
    }
    let out_t = &m.tensors[output];
    let batches = in_len / in_features;
    if out_t.num_elements() != batches * out_features {
        return Err(ctx.bad(format!("output tensor {output} has shape {:?}; expected {batches}×{out_features} elements", out_t.shape)));
    }
    if let Some(b) = bias {
        if m.tensors[b].num_elements() != out_features {
            return Err(ctx.bad(format!("bias tensor {b} has {} elements; expected {out_features}", m.tensors[b].num_elements())));
        }
    }
    let input_dtype = ctx.dtype(input);
    let output_dtype = ctx.dtype(output);
    let arith = match (input_dtype, w.dtype, output_dtype) {
        (DType::F32, DType::F32, DType::F32) => {
            let bias = super::float::bias_or_zeros(ctx, bias, out_features)?;
            let (act_min, act_max) = quant::activation_range_f32(activation);
            Arith::Float(FloatParams { weights: wv.as_f32().unwrap_or_default().to_vec(), bias, act_min, act_max })
        }
        (DType::I8, DType::I8, DType::I8) | (DType::U8, DType::U8, DType::U8) => {
            Arith::Quantized(Box::new(prepare_quantized(ctx, profile, input, weights, bias, output, activation, &wv)?))
        }
        (i, w, o) => {
            return Err(ctx.unsupported(format!("dtype combination input {i}, weights {w}, output {o}")));
        }
    };
    Ok(Params {
        input,
        weights,
        bias,
        output,
        in_features,
        out_features,
        activation,
        output_shape: out_t.shape.clone(),
        arith,
    })
}

#[allow(clippy::too_many_arguments)]
fn prepare_quantized(
    ctx: &OpContext,
    profile: Profile,
    input: usize,
    weights: usize,
    bias: Option<usize>,
    output: usize,
    activation: Activation,
    wv: &Value,
) -> Result<QuantParams, EngineError> {
    let w = &ctx.model.tensors[weights];
    let (out_features, in_features) = (w.shape[0], w.shape[1]);
    let q = LayerQuant::read(ctx, input, weights, bias, output, "weights", out_features, 0)?;
    let multipliers = q.multipliers(false);
    let LayerQuant { s1, z1, s2, z2, s3, z3, per_channel, bias: bias_v } = q;
    let raw: Vec<i32> = widen(wv).ok_or_else(|| ctx.unsupported(format!("weights dtype {}", w.dtype)))?;
    let w_centered: Vec<i32> = raw.iter().enumerate().map(|(k, &q)| q - z2[k / in_features]).collect();
    let output_dtype = ctx.dtype(output);
    let (q_min, q_max) = int_range(output_dtype);
    let (act_min, act_max) = quant::activation_range(activation, s3, z3, q_min, q_max);
    let kind = match (output_dtype, per_channel) {
        (DType::U8, _) => LayerKind::Uint8,
        (_, true) => LayerKind::Int8PerChannel,
        (_, false) => LayerKind::Int8PerTensor,
    };
    let rounding = profile.fc_rounding(kind);
    let requant = RequantTable::new(rounding, &multipliers, z3, act_min, act_max);
    let packed = pack(ctx.dtype(input), z1, w.dtype, &raw, &z2, &bias_v, out_features, in_features, requant, output_dtype);
    Ok(QuantParams {
        s1,
        z1,
        s2,
        z2,
        s3,
        z3,
        per_channel,
        w_centered,
        bias: bias_v,
        multipliers,
        rounding,
        act_min,
        act_max,
        input_dtype: ctx.dtype(input),
        output_dtype,
        kind,
        packed,
    })
}

/// Pack the weights and fold the zero points (see the module docs).
#[allow(clippy::too_many_arguments)]
fn pack(
    input_dtype: DType,
    z1: i32,
    weight_dtype: DType,
    raw: &[i32],
    z2: &[i32],
    bias: &[i32],
    rows: usize,
    cols: usize,
    requant: RequantTable,
    output_dtype: DType,
) -> Packed {
    let x_off = if input_dtype == DType::I8 { 128 } else { 0 };
    let base = if weight_dtype == DType::U8 { 128 } else { 0 };
    // Always Some for int8/uint8 weights; `base` (no offset search) otherwise.
    let (weights, w_off) = PackedWeights::pack_offset(rows, cols, raw, base)
        .unwrap_or_else(|| (PackedWeights::pack(rows, cols, &raw.iter().map(|&w| (w - base) as i8).collect::<Vec<_>>()), base));
    let zu = z1 + x_off;
    let z2p: Vec<i32> = z2.iter().map(|&z| z - w_off).collect();
    let fold = weights.fold_zero_points(bias, zu, |c| z2p[c]);
    let requant = requant.with_offsets(&fold);
    let fused = super::conv_fused::FusedTable::new(&requant, output_dtype);
    Packed { weights, x_off, w_off, zu, has_z2: z2p.iter().any(|&z| z != 0), z2: z2p, fold, requant, fused }
}

impl QuantParams {
    /// `Σ (x[i] − Z1)(W[c][i] − Z2[c])` for one row of centered inputs.
    #[inline]
    pub fn accumulate(&self, x_centered: &[i32], c: usize, in_features: usize) -> i32 {
        let row = &self.w_centered[c * in_features..(c + 1) * in_features];
        row.iter().zip(x_centered).fold(0i32, |acc, (&w, &x)| acc.wrapping_add(w.wrapping_mul(x)))
    }

    /// From `acc + bias` to the output integer: `clamp(Z3 + round(M·acc))`.
    #[inline]
    pub fn requantize(&self, acc_with_bias: i32, c: usize) -> i32 {
        let scaled = self.rounding.apply(acc_with_bias, &self.multipliers[c]);
        (scaled as i64 + self.z3 as i64).clamp(self.act_min as i64, self.act_max as i64) as i32
    }

    /// Input row minus its zero point.
    pub fn center_input(&self, x: &[i32]) -> Vec<i32> {
        x.iter().map(|&q| q - self.z1).collect()
    }
}

impl Params {
    /// Evaluate on the input value.
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        match &self.arith {
            Arith::Quantized(q) => {
                let mut out = Value::zeros(q.output_dtype, &self.output_shape);
                self.eval_quantized_into(q, kernel_path(), input, &mut out, &mut Scratch::default())?;
                Ok(out)
            }
            Arith::Float(f) => {
                let x = input.as_f32().ok_or_else(|| EngineError::BadInput(format!("tensor {} is not float", self.input)))?;
                let batches = x.len() / self.in_features;
                let mut out = Vec::with_capacity(batches * self.out_features);
                for b in 0..batches {
                    let row = &x[b * self.in_features..(b + 1) * self.in_features];
                    for c in 0..self.out_features {
                        let wrow = &f.weights[c * self.in_features..(c + 1) * self.in_features];
                        let mut total = 0.0f32;
                        for (xv, wv) in row.iter().zip(wrow) {
                            total += xv * wv;
                        }
                        out.push((total + f.bias[c]).clamp(f.act_min, f.act_max));
                    }
                }
                Ok(Value { shape: self.output_shape.clone(), data: Data::F32(out) })
            }
        }
    }

    /// Evaluate into `out`, reusing its buffer and `scratch`: the fast path.
    /// `input` may hold several samples (rows of `in_features`); `out`
    /// gets as many rows (its shape is left alone).
    pub fn eval_into(&self, path: KernelPath, input: &Value, out: &mut Value, scratch: &mut Scratch) -> Result<(), EngineError> {
        match &self.arith {
            Arith::Quantized(q) => self.eval_quantized_into(q, path, input, out, scratch),
            Arith::Float(_) => {
                *out = self.eval(input)?;
                Ok(())
            }
        }
    }

    fn eval_quantized_into(
        &self,
        q: &QuantParams,
        path: KernelPath,
        input: &Value,
        out: &mut Value,
        s: &mut Scratch,
    ) -> Result<(), EngineError> {
        let pk = &q.packed;
        let n = self.in_features;
        let stride = pk.weights.padded_cols();
        let rows = input.len() / n;
        if rows * n != input.len() {
            return Err(EngineError::BadInput(format!("tensor {} has {} elements, not a multiple of {n}", self.input, input.len())));
        }
        // The input's own bytes (`xu ^ x_xor`) when one row needs no padding:
        // the kernel flips them as it loads them.
        let (raw, x_xor): (&[u8], u8) = match (&input.data, pk.x_off) {
            // SAFETY: i8 and u8 have the same size and alignment.
            (Data::I8(x), 128) => (unsafe { std::slice::from_raw_parts(x.as_ptr() as *const u8, x.len()) }, 0x80),
            (Data::U8(x), 0) => (&x[..], 0),
            _ => return Err(EngineError::BadInput(format!("tensor {} is {}, expected {}", self.input, input.dtype(), q.input_dtype))),
        };
        // fc (issue 16): on AVX-512 VNNI the requantization in the kernel's stores.
        let fused = pk.fused.as_ref().filter(|_| !pk.has_z2 && super::conv_fused::runs_on(path));
        if rows == 1 && n == stride && !pk.has_z2 {
            if let Some(ft) = fused {
                let dst = super::conv_fused::out_bytes(out, q.output_dtype, self.out_features).expect("a fused table has an 8-bit output");
                let done = super::fc_fast::matmul_requant(path, &pk.weights, ft, raw, Some(x_xor), 1, dst);
                debug_assert!(done, "runs_on checked the path");
                return Ok(());
            }
            s.dots.clear();
            s.dots.resize(self.out_features, 0);
            super::fc_fast::gemv_xor(path, &pk.weights, raw, x_xor, &mut s.dots, &mut s.gemm);
            pk.requant.apply_into(path, &mut s.dots, q.output_dtype, out);
            return Ok(());
        }
        // xu = x + x_off, zero-padded to the kernel's stride (no padding: one pass).
        s.xu.clear();
        if n == stride {
            s.xu.extend(raw.iter().map(|&v| v ^ x_xor));
        } else {
            s.xu.resize(rows * stride, 0);
            for (dst, src) in s.xu.chunks_exact_mut(stride).zip(raw.chunks_exact(n)) {
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = v ^ x_xor;
                }
            }
        }
        if let Some(ft) = fused {
            let dst = super::conv_fused::out_bytes(out, q.output_dtype, rows * self.out_features).expect("a fused table has an 8-bit output");
            let done = super::fc_fast::matmul_requant(path, &pk.weights, ft, &s.xu, None, rows, dst);
            debug_assert!(done, "runs_on checked the path");
            return Ok(());
        }
        s.dots.clear();
        s.dots.resize(rows * self.out_features, 0);
        s.sums.clear();
        if pk.has_z2 {
            s.sums.extend(s.xu.chunks_exact(stride).map(|r| r.iter().map(|&v| v as i32).sum::<i32>()));
        }
        super::fc_fast::matmul(path, &pk.weights, &s.xu, rows, &mut s.dots, &mut s.gemm);
        // acc = dot + fold − z2'·Σxu: the requantization table adds `fold`
        // (its per-channel offset); the last term only for asymmetric weights.
        if pk.has_z2 {
            let m = self.out_features;
            for (dots, &sx) in s.dots.chunks_exact_mut(m).zip(&s.sums) {
                for (d, &z) in dots.iter_mut().zip(&pk.z2) {
                    *d = d.wrapping_sub(z.wrapping_mul(sx));
                }
            }
        }
        pk.requant.apply_into(path, &mut s.dots, q.output_dtype, out);
        Ok(())
    }

    /// The step-by-step computation of output element `element` (flat index
    /// into the output) from the op's input value, with the same functions
    /// the eval loop uses. `None` for float layers or an index out of range.
    pub fn steps(&self, input: &Value, element: usize) -> Option<Steps> {
        let q = match &self.arith {
            Arith::Quantized(q) => q,
            Arith::Float(_) => return None,
        };
        let x = widen(input)?;
        let (b, c) = (element / self.out_features, element % self.out_features);
        let row = x.get(b * self.in_features..(b + 1) * self.in_features)?;
        let accumulator = q.accumulate(&q.center_input(row), c, self.in_features);
        Some(Steps::new(c, accumulator, q.bias[c], q.multipliers[c], q.rounding, q.z3, |acc| q.requantize(acc, c)))
    }
}
