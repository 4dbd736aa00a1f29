//! LOGISTIC (sigmoid) on int8; the output always has scale 1/256 and zero
//! point −128. Two methods ([`ActivationLutMethod`]):
//!
//! * **gemmlowp fixed point** (LiteRT reference kernels, TFLite Micro):
//!   `x − Z_in` is rescaled into Q4.27 with `S_in·2^27` as `M0·2^(shift−31)`
//!   (double rounding); inputs beyond the radius where Q4.27 saturates give
//!   −128/127; otherwise `gemmlowp::logistic` and a rounding shift by 23.
//! * **f32 lookup table** (LiteRT optimized kernels, XNNPACK): for each of
//!   the 256 inputs, `round(f(S_in·(q − Z_in)) / S_out) + Z_out` in f32.

use super::softmax::input_radius;
use super::{ints, narrow, Int8Unary, OpContext};
use crate::error::EngineError;
use crate::model::DType;
use crate::profile::{ActivationLutMethod, Profile};
use crate::quant::{self, fixedpoint};
use crate::tensor::Value;

/// Integer bits of the rescaled input (Q4.27).
pub const INPUT_INTEGER_BITS: i32 = 4;

/// The computation shared by LOGISTIC and TANH.
#[derive(Clone, Debug)]
pub enum LutArith {
    FixedPoint { z_in: i32, multiplier: i32, left_shift: i32, radius: i32 },
    /// `table[q − q_min]` (`q_min` −128 for int8, 0 for uint8).
    Table(Vec<i32>),
}

/// Everything LOGISTIC (or TANH) needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub arith: LutArith,
    pub output_shape: Vec<usize>,
    pub output_dtype: DType,
}

/// Which function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    Logistic,
    Tanh,
}

impl Function {
    fn float(self, x: f32) -> f32 {
        match self {
            Function::Logistic => 1.0 / (1.0 + (-x).exp()),
            Function::Tanh => x.tanh(),
        }
    }

    /// Output (scale, zero point) every runtime requires: for int8 (−128
    /// and 0), and 128 more for uint8 (`q_min` is the dtype's lowest value).
    fn output_quant(self, q_min: i32) -> (f32, i32) {
        match self {
            Function::Logistic => (1.0 / 256.0, q_min),
            Function::Tanh => (1.0 / 128.0, q_min + 128),
        }
    }
}

pub(crate) fn prepare_function(ctx: &OpContext, profile: Profile, f: Function) -> Result<Params, EngineError> {
    let Int8Unary { input, output, s_in, z_in, s_out, z_out } = ctx.eight_bit_unary()?;
    let (q_min, q_max) = super::int_range(ctx.dtype(output));
    let method = match f {
        Function::Logistic => profile.logistic_method(),
        Function::Tanh => profile.tanh_method(),
    };
    let arith = match method {
        ActivationLutMethod::GemmlowpFixedPoint => {
            if (s_out, z_out) != f.output_quant(q_min) {
                return Err(ctx.unsupported(format!("output scale {s_out} / zero point {z_out} (expected {:?})", f.output_quant(q_min))));
            }
            let real = s_in as f64 * (1i64 << (31 - INPUT_INTEGER_BITS)) as f64;
            let (multiplier, left_shift) = quant::quantize_multiplier(real);
            LutArith::FixedPoint { z_in, multiplier, left_shift, radius: input_radius(INPUT_INTEGER_BITS, left_shift, 31) }
        }
        ActivationLutMethod::FloatTable => {
            let inverse = 1.0 / s_out;
            LutArith::Table(
                (q_min..=q_max)
                    .map(|q: i32| {
                        let x = s_in * (q - z_in) as f32;
                        let r = (f.float(x) * inverse).round();
                        (r as i32).saturating_add(z_out).clamp(q_min, q_max)
                    })
                    .collect(),
            )
        }
    };
    Ok(Params { input, output, arith, output_shape: ctx.shape(output), output_dtype: ctx.dtype(output) })
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    prepare_function(ctx, profile, Function::Logistic)
}

impl Params {
    /// Evaluate; `f` says which function the fixed-point path computes.
    pub(crate) fn eval_function(&self, input: &Value, f: Function) -> Result<Value, EngineError> {
        let x = ints(input, self.input)?;
        // The fixed outputs' zero points are the dtype's lowest value (LOGISTIC) or 128 above it (TANH).
        let (q_min, q_max) = super::int_range(self.output_dtype);
        let out = match &self.arith {
            LutArith::Table(t) => x.iter().map(|&q| t[(q - q_min).clamp(0, 255) as usize]).collect(),
            LutArith::FixedPoint { z_in, multiplier, left_shift, radius } => x
                .iter()
                .map(|&q| {
                    let d = q - z_in;
                    if d <= -radius {
                        q_min
                    } else if d >= *radius {
                        q_max
                    } else {
                        let in_q4 = quant::multiply_by_quantized_multiplier_double_rounding(d, *multiplier, *left_shift);
                        match f {
                            Function::Logistic => {
                                let y = fixedpoint::logistic(in_q4, INPUT_INTEGER_BITS);
                                (quant::rounding_divide_by_pot(y, 31 - 8) + q_min).clamp(q_min, q_max)
                            }
                            Function::Tanh => {
                                let y = fixedpoint::tanh(in_q4, INPUT_INTEGER_BITS);
                                (quant::rounding_divide_by_pot(y, 31 - 7) + q_min + 128).clamp(q_min, q_max)
                            }
                        }
                    }
                })
                .collect(),
        };
        Ok(narrow(self.output_dtype, &self.output_shape, out))
    }

    pub fn eval(&self, input: &Value) -> Result<Value, EngineError> {
        self.eval_function(input, Function::Logistic)
    }
}
