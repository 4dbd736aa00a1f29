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
use crate::profile::{AddBlocks, AddMethod, Multiplier, Profile, Rounding};
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
            // The output is the inputs' broadcast shape, as LiteRT computes it
            // (`CalculateShapeForBroadcast`): a file declaring a wider output
            // (a dimension of 1 in both inputs stretched) is refused here
            // instead of filling a tensor no runtime would allocate.
            if so[d] != pa[d].max(pb[d]) && !(pa[d] == 0 || pb[d] == 0) {
                return Err(ctx.bad(format!("input shapes {sa:?}, {sb:?} do not broadcast to {so:?}")));
            }
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
            Options::AddSub { activation, .. } => *activation,
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
    /// LiteRT's optimized ADD ([`AddBlocks::NeonBlocks`]): which output
    /// elements its vector blocks compute, and how. `None`: every element by
    /// [`Params::element`].
    pub neon: Option<NeonBlocks>,
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
    let neon = match profile.add_blocks() {
        AddBlocks::NeonBlocks => NeonBlocks::new(&ctx.shape(a), &ctx.shape(b), output_dtype, &arith),
        _ => None,
    };
    Ok(Params { inputs: [a, b], output, broadcast, activation, z_out, act_min, act_max, output_dtype, arith, neon })
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    prepare_add_sub(ctx, profile, 1)
}

/// The two arithmetic forms of LiteRT's NEON ADD blocks (on x86 the same
/// intrinsics through NEON_2_SSE). Both rescale each centered input `x` with
/// `vqrdmulh` (the high-mul [`crate::quant::saturating_rounding_doubling_high_mul`])
/// and then finish like the reference: `RoundingDivideByPOT(vqrdmulh(a' + b', M0_out), −shift_out)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockForm {
    /// `vqrdmulh(x·2^20, M0) >> −shift` with `vshlq_s32` by a negative
    /// count: the shift truncates (floor) where the reference rounds. uint8
    /// `AddElementwise` and `AddScalarBroadcast`, int8 `AddScalarBroadcast`;
    /// blocks of 8.
    TruncatingShift,
    /// `vqrdmulh(x·2^(20+shift), M0)`: the input's right shift folded into
    /// the left shift, one rounding instead of two. int8 `AddElementwiseInt8`;
    /// blocks of 16.
    FoldedShift,
}

/// Where LiteRT's optimized 8-bit ADD runs its vector blocks, computed once
/// from the two input shapes the way `ProcessBroadcastShapes` and
/// `BinaryBroadcastFiveFold` split the output into kernel calls.
///
/// The output is written in order, as consecutive calls of `run` elements
/// each (one call for a non-broadcast ADD; one per innermost run `y4` when
/// `y4 > 1`, the elementwise kernel; one per `y3` run of the scalar-broadcast
/// kernel when `y4 = 1`). Each call computes its first `⌊run/block⌋·block`
/// elements in blocks, the rest (the tail) by the reference formula. A
/// broadcast that does not fit the five-fold pattern runs the reference
/// `BroadcastAdd6DSlow`: then there is no `NeonBlocks`.
#[derive(Clone, Debug, PartialEq)]
pub struct NeonBlocks {
    /// Output elements per kernel call.
    pub run: usize,
    /// Elements of each call computed in blocks: `⌊run/block⌋·block`.
    pub vector_len: usize,
    pub block: usize,
    pub form: BlockForm,
    pub left_shift: i32,
    pub z_a: i32,
    pub z_b: i32,
    pub m_a: Multiplier,
    pub m_b: Multiplier,
    pub m_out: Multiplier,
    /// The dtype's range (`vqmovun_s16` / `vqmovn_s16` saturate to it).
    pub dtype_min: i32,
    pub dtype_max: i32,
    /// int16 (`AddElementwiseInt16`): the output offset added and the result
    /// clamped in 32 bits, then `vqmovn_s32`. 8-bit: `vmovn_s32` first, the
    /// offset added in 16 bits.
    pub offset_in_32_bits: bool,
}

/// `ProcessBroadcastShapes` of two input shapes: `None` for the generic
/// category, else `(y3, y4, n)` (`n` the output size; `y3 = y4 = 0` when
/// the shapes are equal).
pub fn five_fold(sa: &[usize], sb: &[usize]) -> Option<(usize, usize, usize)> {
    let rank = sa.len().max(sb.len());
    let ext = |s: &[usize]| -> Vec<usize> {
        let mut v = vec![1; rank - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (e0, e1) = (ext(sa), ext(sb));
    let n: usize = e0.iter().zip(&e1).map(|(&p, &q)| p.max(q)).product();
    if e0 == e1 {
        return Some((0, 0, n));
    }
    // the innermost differing dimension says which input broadcasts fast (is "input 1")
    let d = (0..rank).rev().find(|&d| e0[d] != e1[d])?;
    let (a, b) = match (e0[d], e1[d]) {
        (1, _) => (&e0, &e1),
        (_, 1) => (&e1, &e0),
        _ => return None,
    };
    let mut y = [1usize; 5];
    let mut i = rank as isize - 1;
    // y4: equal dims; y3: a broadcasts; y2: equal; y1: b broadcasts; y0: equal
    // (dim k of y multiplies b's size, except y1's a's)
    for (k, which) in [(4, 0), (3, 1), (2, 0), (1, 2), (0, 0)] {
        while i >= 0 {
            let (p, q) = (a[i as usize], b[i as usize]);
            let take = match which {
                0 => p == q,
                1 => p == 1,
                _ => q == 1,
            };
            if !take {
                break;
            }
            y[k] *= if which == 2 { p } else { q };
            i -= 1;
        }
    }
    (i < 0).then_some((y[3], y[4], n))
}

impl NeonBlocks {
    /// The blocks of an ADD of inputs shaped `sa` and `sb` with constants
    /// `arith`. `None` where LiteRT's optimized kernel has no vector blocks:
    /// SUB (`sign_b = −1`: its 8-bit kernels are the reference ones in every
    /// LiteRT kernel set), XNNPACK's recipe, a broadcast outside the
    /// five-fold pattern, an int16 broadcast, other dtypes.
    pub fn new(sa: &[usize], sb: &[usize], dtype: DType, arith: &AddArith) -> Option<NeonBlocks> {
        let AddArith::LeftShift { left_shift, z_a, z_b, m_a, m_b, m_out, sign_b: 1, .. } = *arith else { return None };
        let (y3, y4, n) = five_fold(sa, sb)?;
        let (elementwise, dtype_min, dtype_max) = match dtype {
            DType::I8 => ((16, BlockForm::FoldedShift), -128, 127),
            DType::U8 => ((8, BlockForm::TruncatingShift), 0, 255),
            // int16_ties: int16 has blocks only without broadcasting
            // (`AddElementwiseInt16`; broadcasts take the reference kernel)
            DType::I16 if (y3, y4) == (0, 0) => ((16, BlockForm::FoldedShift), -32768, 32767),
            _ => return None,
        };
        let ((block, form), run) = match (y3, y4) {
            (0, 0) => (elementwise, n),
            (_, 1) => ((8, BlockForm::TruncatingShift), y3),
            (_, y4) => (elementwise, y4),
        };
        let vector_len = run / block * block;
        let offset_in_32_bits = dtype == DType::I16;
        Some(NeonBlocks { run, vector_len, block, form, left_shift, z_a, z_b, m_a, m_b, m_out, dtype_min, dtype_max, offset_in_32_bits })
    }

    /// Whether output element `i` is computed in a vector block.
    #[inline]
    pub fn in_block(&self, i: usize) -> bool {
        self.run > 0 && i % self.run < self.vector_len
    }

    /// One input rescaled to the common scale, as the block does it.
    #[inline]
    pub fn rescale(&self, q: i32, z: i32, m: &Multiplier) -> i32 {
        use crate::quant::saturating_rounding_doubling_high_mul as qrdmulh;
        let x = q - z;
        match self.form {
            BlockForm::TruncatingShift => vshl(qrdmulh(vshl(x, self.left_shift), m.m0), m.shift),
            BlockForm::FoldedShift => qrdmulh(vshl(x, self.left_shift + m.shift), m.m0),
        }
    }

    /// The output of a block element from the two rescaled inputs' sum
    /// (before the fused activation's clamp).
    #[inline]
    pub fn output(&self, sum: i32, z_out: i32) -> i32 {
        use crate::quant::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul as qrdmulh};
        let s = rounding_divide_by_pot(qrdmulh(sum, self.m_out.m0), (-self.m_out.shift).clamp(0, 31));
        if self.offset_in_32_bits {
            return s.wrapping_add(z_out).clamp(self.dtype_min, self.dtype_max);
        }
        // vmovn_s32, then the offset added in 16 bits, then a saturating narrowing
        let s16 = (s as i16).wrapping_add(z_out as i16) as i32;
        s16.clamp(self.dtype_min, self.dtype_max)
    }

    /// One output element of a block (before the activation clamp).
    #[inline]
    pub fn element(&self, a: i32, b: i32, z_out: i32) -> i32 {
        let sum = self.rescale(a, self.z_a, &self.m_a).wrapping_add(self.rescale(b, self.z_b, &self.m_b));
        self.output(sum, z_out)
    }
}

/// `vshlq_s32` by a signed count: left for `n ≥ 0`, else an arithmetic right
/// shift that truncates (floor).
#[inline]
fn vshl(x: i32, n: i32) -> i32 {
    if n >= 0 {
        x.wrapping_shl(n as u32)
    } else {
        x >> (-n).min(31)
    }
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

    /// Output element `i` (in output order) from one element of each input:
    /// [`Params::element`], or a vector block's arithmetic where LiteRT's
    /// optimized kernel computes `i` in a block.
    #[inline]
    pub fn element_at(&self, i: usize, a: i32, b: i32) -> i32 {
        match &self.neon {
            Some(n) if n.in_block(i) => n.element(a, b, self.z_out).clamp(self.act_min, self.act_max),
            _ => self.element(a, b),
        }
    }

    pub fn eval(&self, a: &Value, b: &Value) -> Result<Value, EngineError> {
        let (x, y) = (ints(a, self.inputs[0])?, ints(b, self.inputs[1])?);
        let mut i = 0;
        let out = self.broadcast.map(&x, &y, |p, q| {
            i += 1;
            self.element_at(i - 1, p, q)
        });
        Ok(narrow(self.output_dtype, &self.broadcast.output_shape, out))
    }
}

#[cfg(test)]
#[path = "add_neon_tests.rs"]
mod neon_tests;
