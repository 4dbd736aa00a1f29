//! The vision ops of issue 14 behind one [`crate::plan::Kernel`] variant:
//! the data-movement ops ([`super::index_map`]), PRELU, TRANSPOSE_CONV and
//! RESIZE_BILINEAR. Each op keeps its own file; this module only routes.

use super::{batch_to_space_nd, depth_to_space, index_map, mirror_pad, padv2, prelu, resize_bilinear, resize_nearest_neighbor};
use super::{space_to_batch_nd, space_to_depth, tile, transpose_conv, OpContext};
use crate::error::EngineError;
use crate::model::OpKind;
use crate::profile::Profile;
use crate::tensor::Value;

/// A prepared vision op.
#[derive(Clone, Debug)]
pub enum VisionOp {
    /// DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND,
    /// TILE, MIRROR_PAD, PADV2, RESIZE_NEAREST_NEIGHBOR: a precomputed gather.
    Move(index_map::IndexMap),
    Prelu(prelu::Params),
    TransposeConv(Box<transpose_conv::Params>),
    ResizeBilinear(resize_bilinear::Params),
}

/// Prepare `ctx`'s operator if it is a vision op; `None` for any other kind.
pub(crate) fn prepare(ctx: &OpContext, profile: Profile) -> Option<Result<VisionOp, EngineError>> {
    let mv = |r: Result<index_map::IndexMap, EngineError>| Some(r.map(VisionOp::Move));
    match ctx.op.kind {
        OpKind::DepthToSpace => mv(depth_to_space::prepare(ctx, profile)),
        OpKind::SpaceToDepth => mv(space_to_depth::prepare(ctx, profile)),
        OpKind::SpaceToBatchNd => mv(space_to_batch_nd::prepare(ctx, profile)),
        OpKind::BatchToSpaceNd => mv(batch_to_space_nd::prepare(ctx, profile)),
        OpKind::Tile => mv(tile::prepare(ctx, profile)),
        OpKind::MirrorPad => mv(mirror_pad::prepare(ctx, profile)),
        OpKind::PadV2 => mv(padv2::prepare(ctx, profile)),
        OpKind::ResizeNearestNeighbor => mv(resize_nearest_neighbor::prepare(ctx, profile)),
        OpKind::Prelu => Some(prelu::prepare(ctx, profile).map(VisionOp::Prelu)),
        OpKind::TransposeConv => Some(transpose_conv::prepare(ctx, profile).map(|p| VisionOp::TransposeConv(Box::new(p)))),
        OpKind::ResizeBilinear => Some(resize_bilinear::prepare(ctx, profile).map(VisionOp::ResizeBilinear)),
        _ => None,
    }
}

impl VisionOp {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        match self {
            VisionOp::Move(p) => p.eval(x),
            VisionOp::Prelu(p) => p.eval(x),
            VisionOp::TransposeConv(p) => p.eval(x),
            VisionOp::ResizeBilinear(p) => p.eval(x),
        }
    }

    /// The run-time data input (every other input is a constant folded in prepare).
    pub fn input(&self) -> usize {
        match self {
            VisionOp::Move(p) => p.input,
            VisionOp::Prelu(p) => p.input,
            VisionOp::TransposeConv(p) => p.input,
            VisionOp::ResizeBilinear(p) => p.input,
        }
    }

    pub fn output(&self) -> usize {
        match self {
            VisionOp::Move(p) => p.output,
            VisionOp::Prelu(p) => p.output,
            VisionOp::TransposeConv(p) => p.output,
            VisionOp::ResizeBilinear(p) => p.output,
        }
    }

    /// The profile choice this op depends on (for `inspect`).
    pub fn profile_choice(&self) -> String {
        match self {
            VisionOp::Move(_) => "none: a copy (every runtime moves the same bytes)".into(),
            VisionOp::Prelu(p) => match &p.arith {
                prelu::Arith::Quantized { rounding, m1, m2, .. } => {
                    format!("prelu_rounding = {}; prelu_multipliers: M1 = {:e}, M2 = {:e}", rounding.name(), m1.real, m2.real)
                }
                prelu::Arith::Float { .. } => "none: float32".into(),
            },
            VisionOp::TransposeConv(p) => match &p.arith {
                transpose_conv::Arith::Quantized { roundings, .. } => {
                    let mut names: Vec<&str> = roundings.iter().map(|r| r.name()).collect();
                    names.dedup();
                    format!("transpose_conv_requant = {}", names.join(" (vector blocks), then "))
                }
                transpose_conv::Arith::Float { .. } => "none: float32 (reference scatter order)".into(),
                transpose_conv::Arith::Uint8 { requant, .. } => format!("transpose_conv_uint8_requant = {}", requant.name()),
            },
            VisionOp::ResizeBilinear(p) => match &p.arith {
                resize_bilinear::Arith::Integer { .. } => "bilinear_method = reference Q10 positions, Q20 sums rounded half away".into(),
                resize_bilinear::Arith::Float { .. } => "bilinear_method = reference f32 formula".into(),
                resize_bilinear::Arith::XnnpackQ11 { .. } => "bilinear_method = XNNPACK Q11 weights, two-step lerp, >> 22".into(),
                resize_bilinear::Arith::XnnpackFloat { .. } => "bilinear_method = XNNPACK two-step f32 lerp".into(),
                resize_bilinear::Arith::Uint8Float { optimized, .. } => format!("bilinear_uint8_method = {}: the f32 formula + 0.5, truncated", if *optimized { "optimized weight products" } else { "reference" }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::resize_bilinear::{taps_q10, xnnpack_taps};
    use super::resize_nearest_neighbor::nearest;
    use super::transpose_conv::conv_padding;
    use crate::model::Padding;
    use crate::profile::{ChannelRequant, Rounding};

    #[test]
    fn transpose_conv_padding_is_the_forward_convs() {
        // 7 → 14, k 3, s 2, SAME: the conv 14 → 7 needs (7−1)·2 + 3 − 14 = 1 → 0 before.
        assert_eq!(conv_padding(14, 3, 2, Padding::Same), 0);
        // 14 → 28, k 2, s 2, VALID: no padding.
        assert_eq!(conv_padding(28, 2, 2, Padding::Valid), 0);
        // 4 → 4, k 3, s 1, SAME: total 2 → 1 before.
        assert_eq!(conv_padding(4, 3, 1, Padding::Same), 1);
    }

    #[test]
    fn nearest_follows_each_flag() {
        // 2 → 4 without flags: floor(y · 0.5).
        assert_eq!((0..4).map(|y| nearest(y, 2, 4, false, false)).collect::<Vec<_>>(), [0, 0, 1, 1]);
        // align_corners 3 → 5: round(y · 0.5), halves away from zero.
        assert_eq!((0..5).map(|y| nearest(y, 3, 5, true, false)).collect::<Vec<_>>(), [0, 1, 1, 2, 2]);
        // half_pixel_centers 4 → 2: floor((y + ½) · 2).
        assert_eq!((0..2).map(|y| nearest(y, 4, 2, false, true)).collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn bilinear_taps_in_q10_and_q11() {
        // 2 → 4: scale₁₀ = (2048 + 2) / 4 = 512; y = 3 sits at 1.5 → rows 1, 1 (clamped).
        let t = taps_q10(2, 4, false, false);
        assert_eq!((t[3].lo, t[3].hi, t[3].pos), (1, 1, 1536));
        // XNNPACK, half pixel 2 → 4: pos = 1·0.5 + (0.25 − 0.5) = 0.25.
        let x = xnnpack_taps(2, 4, false, true);
        assert_eq!((x[1].lo, x[1].hi, x[1].pos), (0, 1, 0.25));
        assert_eq!(x[0].pos, 0.0, "clamped at 0");
    }

    #[test]
    fn vector_blocks_cover_whole_blocks_only() {
        let r = ChannelRequant::VectorBlocks { block: 8 }.per_channel(12);
        assert!(r[..8].iter().all(|&x| x == Rounding::FixedPointTiesUp));
        assert!(r[8..].iter().all(|&x| x == Rounding::FixedPointDoubleRounding));
    }
}
