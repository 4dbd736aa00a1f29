//! ADD and SUB, 16x8: the int8 recipe of [`crate::ops::add`] with a left
//! shift of **15** instead of 20 (`65535 · 2^15 < 2^31`, so the sum of the
//! two rescaled inputs still fits in int32), zero points 0:
//!
//! ```text
//!     a' = round(M_a · a · 2^15),  b' = round(M_b · b · 2^15),   M_a = S_a/(2·max), M_b = S_b/(2·max)
//!     y  = clamp(round(M_out · (a' ± b'))),                      M_out = 2·max / (2^15 · S_out)
//! ```
//!
//! every `round(M · ·)` the gemmlowp double rounding
//! (`MultiplyByQuantizedMultiplierSmallerThanOneExp`). Two runtime choices
//! (topic `int16_ties`, `tests/goldens_int16_ties.rs`):
//!
//! * LiteRT's optimized non-broadcast ADD computes full blocks of 16 with
//!   the input's right shift folded into the left shift, one rounding
//!   instead of two ([`Profile::add16_blocks`], the 8-bit
//!   [`crate::ops::add::NeonBlocks`] in their int16 form). Its AVX2 branch
//!   (a flooring high-mul) is not in the `ai-edge-litert` wheel.
//! * **Power-of-two scales.** When the options say `pot_scale_int16` (the
//!   schema's default; the converter writes false) and all three scales are
//!   powers of two, LiteRT does not rescale at all: the input on the finer
//!   scale is shifted right by the log2 difference, the other must be on the
//!   output's scale, and the two are added (subtracted) with int16
//!   saturation:
//!
//!   ```text
//!     y = clamp(sat16(RoundingDivideByPOT(a, k_a) ± RoundingDivideByPOT(b, k_b))),
//!     k = log2(S_out) − log2(S_in) ≥ 0, k_a = 0 or k_b = 0
//!   ```
//!   TFLite Micro ignores the flag ([`Profile::addsub16_pot`]).

use crate::error::EngineError;
use crate::model::{OpKind, Options};
use crate::ops::add::{AddArith, Binary, Broadcast, NeonBlocks, Params as AddParams};
use crate::ops::OpContext;
use crate::profile::{AddBlocks, AddSub16Pot, Multiplier, Profile, Rounding};
use crate::quant::rounding_divide_by_pot;
use crate::tensor::Value;

/// The left shift of the 16-bit recipe.
pub const LEFT_SHIFT: i32 = 15;

/// Everything a 16x8 ADD or SUB needs: the int8 kernel's parameters with
/// the 16-bit constants.
#[derive(Clone, Debug)]
pub struct Params {
    pub inputs: [usize; 2],
    pub output: usize,
    pub add: AddParams,
    /// LiteRT's kernel for power-of-two scales, when it applies ([`Profile::addsub16_pot`]).
    pub pot: Option<Pot>,
}

/// The power-of-two ADD/SUB: right shifts of each input (one of them 0).
#[derive(Clone, Debug)]
pub struct Pot {
    pub shift_a: i32,
    pub shift_b: i32,
    /// −1 for SUB.
    pub sign_b: i32,
    pub broadcast: Broadcast,
    pub act_min: i32,
    pub act_max: i32,
}

/// LiteRT's `CheckedLog2`: the rounded log2 of `x` (computed in f32), and
/// whether `x` is within 1e-3 (in log2) of that power of two.
pub fn checked_log2(x: f32) -> (i32, bool) {
    let log2 = x.ln() * (1.0f32 / 2.0f32.ln());
    let rounded = log2.round();
    (rounded as i32, (log2 - rounded).abs() < 1e-3)
}

pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Result<Params, EngineError> {
    let sign_b = if ctx.op.kind == OpKind::Sub { -1 } else { 1 };
    let Binary { activation, a, b, output, s_a, s_b, s_out, broadcast, act_min, act_max, output_dtype, .. } =
        Binary::read(ctx, |t, role| super::require_int16(ctx, t, role).map(|_| ()))?;
    // an options table absent: LiteRT's value-initialized params (false)
    let pot_flag = matches!(ctx.op.options, Options::AddSub { pot_scale_int16: true, .. });
    let pot = match profile.addsub16_pot() {
        AddSub16Pot::ShiftAndSaturate if pot_flag => pot_shifts(ctx, s_a, s_b, s_out)?,
        _ => None,
    };
    let pot = match pot {
        Some(_) if sign_b == 1 && !broadcast.same_shape => {
            // LiteRT's ADD has no broadcast form for this kernel (it aborts in MatchingElementsSize)
            return Err(ctx.unsupported("int16 ADD with power-of-two scales (pot_scale_int16) and broadcasting inputs"));
        }
        Some((shift_a, shift_b)) => Some(Pot { shift_a, shift_b, sign_b, broadcast: broadcast.clone(), act_min, act_max }),
        None => None,
    };
    let twice_max = 2.0 * s_a.max(s_b) as f64;
    let arith = AddArith::LeftShift {
        left_shift: LEFT_SHIFT,
        z_a: 0,
        z_b: 0,
        m_a: Multiplier::from_real(s_a as f64 / twice_max),
        m_b: Multiplier::from_real(s_b as f64 / twice_max),
        m_out: Multiplier::from_real(twice_max / ((1i64 << LEFT_SHIFT) as f64 * s_out as f64)),
        rounding: Rounding::FixedPointDoubleRounding,
        sign_b,
    };
    let neon = match profile.add16_blocks() {
        AddBlocks::NeonBlocks if pot.is_none() => NeonBlocks::new(&ctx.shape(a), &ctx.shape(b), output_dtype, &arith),
        _ => None,
    };
    let add = AddParams { inputs: [a, b], output, broadcast, activation, z_out: 0, act_min, act_max, output_dtype, arith, neon };
    Ok(Params { inputs: [a, b], output, add, pot })
}

/// The right shifts of LiteRT's power-of-two kernel, or `None` when a scale
/// is not a power of two (then LiteRT takes the general formula). Refuses
/// what LiteRT's prepare refuses: an input on a coarser scale than the
/// output, or both inputs shifted.
fn pot_shifts(ctx: &OpContext, s_a: f32, s_b: f32, s_out: f32) -> Result<Option<(i32, i32)>, EngineError> {
    let [(la, pa), (lb, pb), (lo, po)] = [s_a, s_b, s_out].map(checked_log2);
    if !(pa && pb && po) {
        return Ok(None);
    }
    let (shift_a, shift_b) = (lo - la, lo - lb);
    if shift_a < 0 || shift_b < 0 || (shift_a != 0 && shift_b != 0) {
        return Err(ctx.unsupported(format!(
            "int16 power-of-two scales (pot_scale_int16) 2^{la}, 2^{lb} -> 2^{lo}: one input must be on the output's scale and the other on a finer one"
        )));
    }
    Ok(Some((shift_a, shift_b)))
}

impl Pot {
    /// One output element.
    #[inline]
    pub fn element(&self, a: i32, b: i32) -> i32 {
        let (x, y) = (rounding_divide_by_pot(a, self.shift_a.min(31)), rounding_divide_by_pot(b, self.shift_b.min(31)));
        (x + self.sign_b * y).clamp(i16::MIN as i32, i16::MAX as i32).clamp(self.act_min, self.act_max)
    }
}

impl Params {
    pub fn eval(&self, a: &Value, b: &Value) -> Result<Value, EngineError> {
        match &self.pot {
            Some(p) => {
                let (x, y) = (super::i16s(a, self.inputs[0])?, super::i16s(b, self.inputs[1])?);
                let out = p.broadcast.map(x, y, |u, v| p.element(u as i32, v as i32) as i16);
                Ok(super::value16(&p.broadcast.output_shape, out))
            }
            None => self.add.eval(a, b),
        }
    }

    /// The profile choices this kernel depends on (for `quantlens inspect`).
    pub fn choice(&self) -> String {
        match (&self.pot, &self.add.neon) {
            (Some(p), _) => format!(
                "addsub16_pot = ShiftAndSaturate: power-of-two scales, input shifts right by {} and {}, int16 saturation",
                p.shift_a, p.shift_b
            ),
            (None, Some(n)) => format!(
                "add16_blocks = NEON blocks of {} (the input shift folded) in a run of {}, the tail by the reference",
                n.block, n.run
            ),
            (None, None) => "add16_blocks = reference formula (left shift 15); addsub16_pot: general scales".into(),
        }
    }
}
