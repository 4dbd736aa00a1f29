//! ADD (and, with the second input negated, SUB) of two int8 tensors with
//! different scales, with NumPy broadcasting. ADD also runs on uint8 (legacy
//! all-uint8 models) with the same arithmetic: only the clamp range differs.
//!
//! Two integer recipes exist ([`AddMethod`]):
//!
//! * **left shift 20** (TFLite reference kernels, optimized builtins, TFLite
//!   Micro): both inputs are centered, shifted left by 20 bits for headroom,
//!   scaled to a common scale `2·max(S_a, S_b)` with multipliers
//!   `M_a = S_a / (2·max)`, `M_b = S_b / (2·max)` (< 1), added, and the sum
//!   is scaled to the output with `M_out = 2·max / (2^20 · S_out)`:
//!
//!   ```text
//!     a' = round(M_a · ((a − Z_a) · 2^20)),   b' = round(M_b · ((b − Z_b) · 2^20))
//!     y  = clamp(Z_out + round(M_out · (a' ± b')))
//!   ```
//!   each `round(M · ·)` being the profile's [`Rounding`].
//! * **XNNPACK**: 20-bit integer multipliers `m_a = lrint(S_a/S_out · 2^s)`,
//!   `m_b = lrint(±S_b/S_out · 2^s)` (f32 ratios; `s` chosen so the larger
//!   multiplier lies in [2^19, 2^20)), one accumulator
//!   `bias + a·m_a + b·m_b` with `bias = 2^(s−1) − m_a·Z_a − m_b·Z_b`, and an
//!   arithmetic right shift by `s` (ties toward +∞), then `+ Z_out`, clamp.

use super::{fused_range, ints, narrow, strides, OpContext};
use crate::error::EngineError;
use crate::model::{Activation, DType, Options};
use crate::profile::{AddMethod, Multiplier, Profile, Rounding};
use crate::tensor::Value;

/// How two input shapes broadcast to the output shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broadcast {
    pub output_shape: Vec<usize>,
    /// Per output dimension, the stride into each input (0 where it broadcasts).
    pub a_strides: Vec<usize>,
    pub b_strides: Vec<usize>,
    /// True when no broadcasting happens.
    pub same_shape: bool,
}

impl Broadcast {
    pub(crate) fn new(ctx: &OpContext, a: usize, b: usize, out: usize) -> Result<Broadcast, EngineError> {
        let (sa, sb, so) = (ctx.shape(a), ctx.shape(b), ctx.shape(out));
        let rank = so.len();
        if sa.len() > rank || sb.len() > rank {
            return Err(ctx.bad(format!("input shapes {sa:?}, {sb:?} do not broadcast to {so:?}")));
        }
        let pad = |s: &[usize]| -> Vec<usize> {
            let mut v = vec![1; rank - s.len()];
            v.extend_from_slice(s);
            v
        };
        let (pa, pb) = (pad(&sa), pad(&sb));
        let (ta, tb) = (strides(&pa), strides(&pb));
        let mut a_strides = vec![0; rank];
        let mut b_strides = vec![0; rank];
        for d in 0..rank {
            for (p, t, st) in [(&pa, &ta, &mut a_strides), (&pb, &tb, &mut b_strides)] {
                if p[d] == so[d] {
                    st[d] = if p[d] == 1 { 0 } else { t[d] };
                } else if p[d] != 1 {
                    return Err(ctx.bad(format!("input shapes {sa:?}, {sb:?} do not broadcast to {so:?}")));
                }
            }
        }
        Ok(Broadcast { same_shape: sa == so && sb == so, output_shape: so, a_strides, b_strides })
    }

    /// Apply `f` to every pair of broadcast elements, in output order.
    pub fn map<T: Copy, U>(&self, a: &[T], b: &[T], mut f: impl FnMut(T, T) -> U) -> Vec<U> {
        if self.same_shape {
            return a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect();
        }
        let n: usize = self.output_shape.iter().product();
        let os = strides(&self.output_shape);
        (0..n)
            .map(|i| {
                let (mut ia, mut ib, mut rest) = (0, 0, i);
                for ((&o, &sa), &sb) in os.iter().zip(&self.a_strides).zip(&self.b_strides) {
                    let k = rest / o;
                    rest %= o;
                    ia += k * sa;
                    ib += k * sb;
                }
                f(a[ia], b[ib])
            })
            .collect()
    }
}

/// What ADD, SUB and MUL read alike: the fused activation (NONE, RELU, RELU6
/// or RELU_N1_TO_1), the two inputs and the output with their (S, Z), the
/// broadcast and the output's clamp range.
#[derive(Clone, Debug)]
pub(crate) struct Binary {
    pub activation: Activation,
    pub a: usize,
    pub b: usize,
    pub output: usize,
    pub s_a: f32,
    pub z_a: i32,
    pub s_b: f32,
    pub z_b: i32,
    pub s_out: f32,
    pub z_out: i32,
    pub broadcast: Broadcast,
    pub act_min: i32,
    pub act_max: i32,
    pub output_dtype: DType,
}

impl Binary {
    /// Read the op; `require(tensor, role)` checks the dtype of each of
    /// "input 0", "input 1" and "output".
    pub(crate) fn read(ctx: &OpContext, require: impl Fn(usize, &str) -> Result<(), EngineError>) -> Result<Binary, EngineError> {
        let activation = Binary::fused_activation(ctx)?;
        let (a, b, output) = (ctx.input(0)?, ctx.input(1)?, ctx.output(0)?);
        for (t, role) in [(a, "input 0"), (b, "input 1"), (output, "output")] {
            require(t, role)?;
        }
        let (s_a, z_a) = ctx.per_tensor_quant(a, "input 0")?;
        let (s_b, z_b) = ctx.per_tensor_quant(b, "input 1")?;
        let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
        let broadcast = Broadcast::new(ctx, a, b, output)?;
        let output_dtype = ctx.dtype(output);
        let (act_min, act_max) = fused_range(activation, output_dtype, s_out, z_out);
        Ok(Binary { activation, a, b, output, s_a, z_a, s_b, z_b, s_out, z_out, broadcast, act_min, act_max, output_dtype })
    }
}

impl Binary {
    /// The fused activation of ADD, SUB or MUL: NONE, RELU, RELU6 or RELU_N1_TO_1
    /// (shared with the float32 kernel, [`super::float::binary`]).
    pub(crate) fn fused_activation(ctx: &OpContext) -> Result<Activation, EngineError> {
        let activation = match &ctx.op.options {
            Options::Elementwise { activation } => *activation,
            Options::None => Activation::None,
            other => return Err(ctx.bad(format!("unexpected options {other:?}"))),
        };
        super::conv::check_activation(ctx, activation)?;
        Ok(activation)
    }
}

/// The constants of a quantized ADD or SUB.
#[derive(Clone, Debug)]
pub enum AddArith {
    /// The left-shift-20 recipe.
    LeftShift {
        left_shift: i32,
        z_a: i32,
        z_b: i32,
        m_a: Multiplier,
        m_b: Multiplier,
        m_out: Multiplier,
        rounding: Rounding,
        /// −1 for SUB.
        sign_b: i32,
    },
    /// XNNPACK's one-accumulator recipe.
    Xnnpack { m_a: i32, m_b: i32, bias: i32, shift: u32 },
}

/// Everything ADD needs, computed once (SUB uses the same struct).
#[derive(Clone, Debug)]
pub struct Params {
    pub inputs: [usize; 2],
    pub output: usize,
    pub broadcast: Broadcast,
    pub activation: Activation,
    pub z_out: i32,
    pub act_min: i32,
    pub act_max: i32,
    pub output_dtype: DType,
    pub arith: AddArith,
}

/// XNNPACK's multipliers for `a·s_a + b·s_b` (s_b negative for SUB).
pub fn xnnpack_add_multipliers(a_out: f32, b_out: f32, z_a: i32, z_b: i32) -> (i32, i32, i32, u32) {
    let max_abs = a_out.abs().max(b_out.abs());
    let exponent = ((max_abs.to_bits() >> 23) & 0xff) as i32 - 127;
    let shift = (20 - exponent) as u32;
    let scale = |v: f32| -> i32 {
        let m = (v.abs() * 2f32.powi(shift as i32)).round_ties_even() as i32;
        if v.is_sign_negative() {
            -m
        } else {
            m
        }
    };
    let (m_a, m_b) = (scale(a_out), scale(b_out));
    let bias = (1i32 << (shift - 1)).wrapping_sub(m_a.wrapping_mul(z_a)).wrapping_sub(m_b.wrapping_mul(z_b));
    (m_a, m_b, bias, shift)
}

pub(crate) fn prepare_add_sub(ctx: &OpContext, profile: Profile, sign_b: i32) -> Result<Params, EngineError> {
    let Binary { activation, a, b, output, s_a, z_a, s_b, z_b, s_out, z_out, broadcast, act_min, act_max, output_dtype } =
        Binary::read(ctx, |t, role| ctx.require_int8_or_uint8(t, role))?;
    if ctx.dtype(a) != output_dtype || ctx.dtype(b) != output_dtype {
        return Err(ctx.unsupported(format!("mixed dtypes {} {} → {output_dtype}", ctx.dtype(a), ctx.dtype(b))));
    }
    let arith = match profile.add_method() {
        AddMethod::LeftShift20(rounding) => {
            let left_shift = 20;
            let twice_max = 2.0 * s_a.max(s_b) as f64;
            AddArith::LeftShift {
                left_shift,
                z_a,
                z_b,
                m_a: Multiplier::from_real(s_a as f64 / twice_max),
                m_b: Multiplier::from_real(s_b as f64 / twice_max),
                m_out: Multiplier::from_real(twice_max / ((1i64 << left_shift) as f64 * s_out as f64)),
                rounding,
                sign_b,
            }
        }
        AddMethod::XnnpackFixedPoint => {
            let (m_a, m_b, bias, shift) = xnnpack_add_multipliers(s_a / s_out, sign_b as f32 * (s_b / s_out), z_a, z_b);
            AddArith::Xnnpack { m_a, m_b, bias, shift }
        }
    };
    Ok(Params { inputs: [a, b], output, broadcast, activation, z_out, act_min, act_max, output_dtype, arith })
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    prepare_add_sub(ctx, profile, 1)
}

impl Params {
    /// One output element from one element of each input.
    #[inline]
    pub fn element(&self, a: i32, b: i32) -> i32 {
        let raw = match &self.arith {
            AddArith::LeftShift { left_shift, z_a, z_b, m_a, m_b, m_out, rounding, sign_b } => {
                let sa = rounding.apply((a - z_a).wrapping_mul(1 << left_shift), m_a);
                let sb = rounding.apply((b - z_b).wrapping_mul(1 << left_shift), m_b);
                let sum = sa.wrapping_add(sign_b.wrapping_mul(sb));
                rounding.apply(sum, m_out) as i64 + self.z_out as i64
            }
            AddArith::Xnnpack { m_a, m_b, bias, shift } => {
                let acc = bias.wrapping_add(a.wrapping_mul(*m_a)).wrapping_add(b.wrapping_mul(*m_b));
                (acc >> shift) as i64 + self.z_out as i64
            }
        };
        raw.clamp(self.act_min as i64, self.act_max as i64) as i32
    }

    pub fn eval(&self, a: &Value, b: &Value) -> Result<Value, EngineError> {
        let (x, y) = (ints(a, self.inputs[0])?, ints(b, self.inputs[1])?);
        let out = self.broadcast.map(&x, &y, |p, q| self.element(p, q));
        Ok(narrow(self.output_dtype, &self.broadcast.output_shape, out))
    }
}
