//! PAD with a constant `[rank, 2]` paddings tensor: the input is copied into
//! the middle of the output and the border is filled with the output's zero
//! point (the quantized 0.0; PAD and its output share scale and zero point).
//! A float32 PAD fills with 0.0: it only moves values, so every runtime
//! agrees bit for bit.

use super::{ints, narrow, strides, OpContext};
use crate::error::EngineError;
use crate::model::DType;
use crate::profile::Profile;
use crate::tensor::{Data, Value};

/// Everything PAD needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    /// `(before, after)` per dimension.
    pub paddings: Vec<(usize, usize)>,
    pub input_shape: Vec<usize>,
    pub output_shape: Vec<usize>,
    pub pad_value: i32,
    pub output_dtype: DType,
}

pub(crate) fn prepare(ctx: &OpContext, _profile: Profile) -> Result<Params, EngineError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    if ctx.op.input(2).is_some() {
        return Err(ctx.unsupported("an explicit constant_values input"));
    }
    ctx.require_same(input, output, true)?;
    let z = match ctx.dtype(input) {
        DType::F32 => 0,
        // int16: 16x8 models (topic int16), zero point 0
        DType::I16 => ctx.per_tensor_quant(output, "output")?.1,
        _ => {
            ctx.require_int8_or_uint8(input, "input")?;
            ctx.per_tensor_quant(output, "output")?.1
        }
    };
    let is = ctx.shape(input);
    let p = ctx.const_i32(ctx.input(1)?, "paddings")?;
    if p.len() != 2 * is.len() || p.iter().any(|&v| v < 0) {
        return Err(ctx.bad(format!("paddings {p:?} for rank {}", is.len())));
    }
    let paddings: Vec<(usize, usize)> = p.chunks(2).map(|c| (c[0] as usize, c[1] as usize)).collect();
    let expected: Vec<usize> = is.iter().zip(&paddings).map(|(&n, &(a, b))| n + a + b).collect();
    if expected != ctx.shape(output) {
        return Err(ctx.bad(format!("output shape {:?}, expected {expected:?}", ctx.shape(output))));
    }
    Ok(Params { input, output, paddings, input_shape: is, output_shape: expected, pad_value: z, output_dtype: ctx.dtype(output) })
}

impl Params {
    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        if let Some(x) = input.as_f32() {
            return Ok(Value { shape: self.output_shape.clone(), data: Data::F32(self.place(x, 0.0)) });
        }
        let x = ints(input, self.input)?;
        Ok(narrow(self.output_dtype, &self.output_shape, self.place(&x, self.pad_value)))
    }

    /// The output: `fill` everywhere, `x` copied into the middle.
    fn place<T: Copy>(&self, x: &[T], fill: T) -> Vec<T> {
        let n: usize = self.output_shape.iter().product();
        let (os, is) = (strides(&self.output_shape), strides(&self.input_shape));
        let mut out = vec![fill; n];
        for (i, &v) in x.iter().enumerate() {
            let mut o = 0;
            for d in 0..is.len() {
                let k = (i / is[d]) % self.input_shape[d];
                o += (k + self.paddings[d].0) * os[d];
            }
            out[o] = v;
        }
        out
    }
}
