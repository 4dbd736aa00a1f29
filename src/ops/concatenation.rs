//! CONCATENATION along one axis.
//!
//! * **int8**: every runtime requires all inputs to share the output's scale
//!   and zero point (LiteRT refuses the model otherwise:
//!   "t->params.scale != output->params.scale"; the converter always unifies
//!   them), so the values are copied unchanged. Int32 tensors (shape
//!   arithmetic) are concatenated the same way.
//! * **uint8** (legacy all-uint8 models): the inputs may have scales and zero
//!   points of their own. An input whose (S, Z) equal the output's is copied;
//!   any other is requantized element by element in **f32**, as TFLite's
//!   `ConcatenationWithScaling` does it (LiteRT's reference and optimized
//!   kernels; XNNPACK does not take the op):
//!
//!   ```text
//!       scale = S_in · (1 / S_out)            (f32, the reciprocal first)
//!       bias  = −Z_in · scale                  (f32)
//!       y     = clamp( round_half_away(q · scale + bias) + Z_out, 0, 255 )   (q·scale + bias in f32, not fused)
//!   ```

use super::{fused_range, OpContext};
use crate::error::EngineError;
use crate::model::{Activation, DType, Options};
use crate::profile::Profile;
use crate::tensor::Value;

/// Everything CONCATENATION needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub inputs: Vec<usize>,
    /// The value of each input that is a constant of the model (`None` for run-time inputs).
    pub constants: Vec<Option<Value>>,
    pub output: usize,
    /// The axis, resolved to 0..rank.
    pub axis: usize,
    /// Product of the dimensions before the axis.
    pub outer: usize,
    /// Per input, the elements of one outer slice (`dim[axis] · inner`).
    pub chunk: Vec<usize>,
    pub output_shape: Vec<usize>,
    pub output_dtype: DType,
    /// Per input, the uint8 requantization to the output's (S, Z) (`None`: copied unchanged).
    pub rescale: Vec<Option<Rescale>>,
}

/// The f32 requantization of one uint8 input to the output's scale and zero point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rescale {
    /// The input's scale and zero point.
    pub s_in: f32,
    pub z_in: i32,
    /// The output's.
    pub s_out: f32,
    pub z_out: i32,
    /// `S_in · (1/S_out)` in f32.
    pub scale: f32,
    /// `−Z_in · scale` in f32.
    pub bias: f32,
    // speed (issue 16): the outputs-only path maps each input byte through it.
    /// [`Rescale::apply`] of every uint8 value, computed once.
    pub table: [u8; 256],
}

impl Rescale {
    pub fn new(s_in: f32, z_in: i32, s_out: f32, z_out: i32) -> Rescale {
        let scale = s_in * (1.0f32 / s_out);
        let mut r = Rescale { s_in, z_in, s_out, z_out, scale, bias: -(z_in as f32) * scale, table: [0; 256] };
        for q in 0..256 {
            r.table[q] = r.apply(q as i32) as u8; // apply clamps to [0, 255]
        }
        r
    }

    /// One output element from one input element.
    #[inline]
    pub fn apply(&self, q: i32) -> i32 {
        let v = q as f32 * self.scale;
        let r = crate::quant::round_half_away_from_zero_f32(v + self.bias) as i32;
        r.saturating_add(self.z_out).clamp(0, 255)
    }
}

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    let (axis, activation) = match &ctx.op.options {
        Options::Concatenation { axis, activation } => (*axis, *activation),
        other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
    };
    let output = ctx.output(0)?;
    let os = ctx.shape(output);
    let rank = os.len() as i32;
    let a = if axis < 0 { axis + rank } else { axis };
    if a < 0 || a >= rank.max(1) {
        return Err(ctx.bad(format!("axis {axis} for rank {rank}")));
    }
    let axis = a as usize;
    let inputs: Vec<usize> = (0..ctx.op.inputs.len()).map(|i| ctx.input(i)).collect::<Result<_, _>>()?;
    let output_dtype = ctx.dtype(output);
    let mut rescale = vec![None; inputs.len()];
    match output_dtype {
        DType::U8 => {
            let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
            if fused_range(activation, output_dtype, s_out, z_out) != (0, 255) {
                return Err(ctx.unsupported(format!("fused activation {}", activation.name())));
            }
            for (k, &t) in inputs.iter().enumerate() {
                ctx.require_same(t, output, false)?;
                let (s_in, z_in) = ctx.per_tensor_quant(t, &format!("input {k}"))?;
                if (s_in, z_in) != (s_out, z_out) {
                    rescale[k] = Some(Rescale::new(s_in, z_in, s_out, z_out));
                }
            }
        }
        DType::I8 | DType::I16 => {
            for &t in &inputs {
                ctx.require_same(t, output, true)?;
            }
            let (s, z) = ctx.per_tensor_quant(output, "output")?;
            if fused_range(activation, output_dtype, s, z) != super::int_range(output_dtype) {
                return Err(ctx.unsupported(format!("fused activation {}", activation.name())));
            }
        }
        DType::I32 | DType::F32 => {
            if activation != Activation::None {
                return Err(ctx.unsupported(format!("fused activation {} on {output_dtype}", activation.name())));
            }
            for &t in &inputs {
                ctx.require_same(t, output, false)?;
            }
        }
        other => return Err(ctx.unsupported(format!("dtype {other}"))),
    }
    let inner: usize = os[axis + 1..].iter().product();
    let outer: usize = os[..axis].iter().product();
    let mut chunk = Vec::new();
    let mut total = 0;
    for &t in &inputs {
        let s = ctx.shape(t);
        if s.len() != os.len() || s.iter().enumerate().any(|(d, &n)| d != axis && n != os[d]) {
            return Err(ctx.bad(format!("input tensor {t} shape {s:?} does not concatenate into {os:?} along axis {axis}")));
        }
        total += s[axis];
        chunk.push(s[axis] * inner);
    }
    if total != os[axis] {
        return Err(ctx.bad(format!("inputs sum to {total} along axis {axis}, output has {}", os[axis])));
    }
    let constants = inputs.iter().map(|&t| Value::from_constant(&ctx.model.tensors[t])).collect();
    Ok(Params { inputs, constants, output, axis, outer, chunk, output_shape: os, output_dtype, rescale })
}

impl Params {
    /// The inputs read at run time (the non-constant ones), in order.
    pub fn runtime_inputs(&self) -> Vec<usize> {
        runtime_inputs(&self.inputs, &self.constants)
    }

    /// Evaluate on the run-time inputs (in [`Self::runtime_inputs`] order).
    pub fn eval(&self, runtime: &[&Value]) -> Result<Value, EngineError> {
        if self.output_dtype == DType::F32 {
            return interleave_f32(&self.inputs, &self.constants, runtime, self.outer, &self.chunk, &self.output_shape);
        }
        let mut vals = gather(&self.inputs, &self.constants, runtime)?;
        for (v, r) in vals.iter_mut().zip(&self.rescale) {
            if let Some(r) = r {
                v.iter_mut().for_each(|x| *x = r.apply(*x as i32) as i64);
            }
        }
        let out = interleave(&vals, self.outer, &self.chunk);
        Ok(super::from_i64(self.output_dtype, &self.output_shape, out))
    }
}

/// Of `inputs`, those read at run time (whose `constants` entry is `None`), in order.
/// Shared with PACK.
pub(crate) fn runtime_inputs(inputs: &[usize], constants: &[Option<Value>]) -> Vec<usize> {
    inputs.iter().zip(constants).filter(|(_, c)| c.is_none()).map(|(&t, _)| t).collect()
}

/// Every input as integers: the constants, with the `runtime` values (in
/// [`runtime_inputs`] order) in the other places. Shared with PACK.
pub(crate) fn gather(inputs: &[usize], constants: &[Option<Value>], runtime: &[&Value]) -> Result<Vec<Vec<i64>>, EngineError> {
    gather_with(inputs, constants, runtime, Value::to_i64_vec)
}

/// [`gather`] with the elements read by `read` (`None`: not of the expected dtype).
pub(crate) fn gather_with<T>(
    inputs: &[usize],
    constants: &[Option<Value>],
    runtime: &[&Value],
    read: impl Fn(&Value) -> Option<Vec<T>>,
) -> Result<Vec<Vec<T>>, EngineError> {
    let mut it = runtime.iter();
    let values: Vec<&Value> = constants
        .iter()
        .map(|c| c.as_ref().or_else(|| it.next().copied()))
        .collect::<Option<_>>()
        .ok_or_else(|| EngineError::BadInput("too few run-time inputs".into()))?;
    values
        .iter()
        .zip(inputs)
        .map(|(v, &t)| read(v).ok_or_else(|| EngineError::BadInput(format!("tensor {t} is {}, not the op's dtype", v.dtype()))))
        .collect()
}

/// [`gather`] and [`interleave`] for float32 inputs (values only move, so
/// every runtime agrees bit for bit). Shared with PACK.
pub(crate) fn interleave_f32(
    inputs: &[usize],
    constants: &[Option<Value>],
    runtime: &[&Value],
    outer: usize,
    chunk: &[usize],
    shape: &[usize],
) -> Result<Value, EngineError> {
    let vals = gather_with(inputs, constants, runtime, |v| v.as_f32().map(<[f32]>::to_vec))?;
    Ok(Value { shape: shape.to_vec(), data: crate::tensor::Data::F32(interleave(&vals, outer, chunk)) })
}

/// The output: for each of the `outer` slices, `chunk[k]` elements of each
/// input `k` in turn. Shared with PACK.
pub(crate) fn interleave<T: Copy>(vals: &[Vec<T>], outer: usize, chunk: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(outer * chunk.iter().sum::<usize>());
    for o in 0..outer {
        for (v, &c) in vals.iter().zip(chunk) {
            out.extend_from_slice(&v[o * c..(o + 1) * c]);
        }
    }
    out
}
