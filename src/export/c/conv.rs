//! CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D and AVERAGE_POOL_2D in the graph
//! export: the window geometry (strides, dilations, padding before the first
//! row and column), the stored filter (int8, or a legacy model's uint8
//! with its zero point `Z2`), the int32 bias, per-channel `M0`/`shift`, the
//! zero points and the clamp. The C runtime is [`CONV_C`].

use super::graph::{wide, Ctx, Node};
use crate::error::Error;
use crate::model::{DType, Padding};
use crate::ops::conv::{Geometry, Requant};
use crate::ops::pool::Pooling;

/// The C kernels (`ql_conv`, `ql_pool`, the `ql_window_t` geometry).
pub const CONV_C: &str = include_str!("conv.c");

fn geometry_scalars(cx: &Ctx, g: &Geometry, padding: Padding, depth_multiplier: usize) -> Vec<crate::export::Scalar> {
    let pad = match padding {
        Padding::Same => "SAME",
        Padding::Valid => "VALID",
    };
    vec![
        cx.scalar("BATCHES", g.batches as i64, "batches"),
        cx.scalar("IN_H", g.in_h as i64, "input height"),
        cx.scalar("IN_W", g.in_w as i64, "input width"),
        cx.scalar("IN_C", g.in_c as i64, "input channels"),
        cx.scalar("OUT_H", g.out_h as i64, "output height"),
        cx.scalar("OUT_W", g.out_w as i64, "output width"),
        cx.scalar("OUT_C", g.out_c as i64, "output channels"),
        cx.scalar("K_H", g.k_h as i64, "kernel (window) height"),
        cx.scalar("K_W", g.k_w as i64, "kernel (window) width"),
        cx.scalar("STRIDE_H", g.stride_h as i64, "stride along height"),
        cx.scalar("STRIDE_W", g.stride_w as i64, "stride along width"),
        cx.scalar("DIL_H", g.dil_h as i64, "dilation along height"),
        cx.scalar("DIL_W", g.dil_w as i64, "dilation along width"),
        cx.scalar("PAD_H", g.pad_h as i64, "padding rows before the first (TFLite ComputePaddingHeightWidth)"),
        cx.scalar("PAD_W", g.pad_w as i64, "padding columns before the first"),
        cx.scalar("PADDING_SAME", (padding == Padding::Same) as i64, pad),
        cx.scalar("DEPTH_MULTIPLIER", depth_multiplier as i64, "output channels per input channel (depthwise)"),
    ]
}

/// `static const ql_window_t ql_l<k>_g = {…};` (`z2`, `w_u8`: the filter's zero point and dtype).
#[allow(clippy::too_many_arguments)]
fn window_decl(cx: &Ctx, g: &Geometry, depth_multiplier: usize, z1: i32, z3: i32, act: (i32, i32), rounding: i64, z2: i32, w_u8: bool) -> String {
    let v = [
        g.batches, g.in_h, g.in_w, g.in_c, g.out_h, g.out_w, g.out_c, g.k_h, g.k_w, g.stride_h, g.stride_w, g.dil_h, g.dil_w, g.pad_h, g.pad_w,
        depth_multiplier,
    ];
    let mut list: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    list.extend([z1, z3, act.0, act.1].iter().map(|x| x.to_string()));
    list.push(rounding.to_string());
    list.push(z2.to_string());
    list.push((w_u8 as i32).to_string());
    format!("static const ql_window_t {} = {{{}}};\n", cx.arr("g"), list.join(", "))
}

/// The filter as stored: int8 (`Z2 = 0`), or a legacy model's uint8 (the engine's centred `W − Z2` plus `Z2`).
fn stored_filter(cx: &Ctx, q: &Requant, weights: &[i32]) -> Result<(DType, Vec<i64>), Error> {
    match q.output_dtype {
        DType::I8 if q.z2 == 0 && weights.iter().all(|w| (-128..=127).contains(w)) => Ok((DType::I8, wide(weights))),
        // legacy uint8 (issue 15, item 4)
        DType::U8 if weights.iter().all(|&w| (0..=255).contains(&(w + q.z2))) => Ok((DType::U8, weights.iter().map(|&w| (w + q.z2) as i64).collect())),
        other => Err(cx.refuse(format!("output {other} with filter zero point {}: the C kernels carry int8 filters, or uint8 filters with uint8 tensors", q.z2))),
    }
}

fn requant_part(cx: &Ctx, q: &Requant, weights: &[i32], layout: String) -> Result<(Vec<crate::export::Scalar>, Vec<crate::export::Array>), Error> {
    let (w_dtype, stored) = stored_filter(cx, q, weights)?;
    let rounding = cx.rounding(q.rounding)?;
    let c = q.bias.len();
    let scalars = vec![
        cx.scalar("Z1", q.z1 as i64, "input zero point"),
        cx.scalar("Z2", q.z2 as i64, "filter zero point"),
        cx.scalar("Z3", q.z3 as i64, "output zero point"),
        cx.scalar("ACT_MIN", q.act_min as i64, "clamp low"),
        cx.scalar("ACT_MAX", q.act_max as i64, "clamp high"),
        cx.scalar("PER_CHANNEL", q.per_channel as i64, "1 = one filter scale per output channel"),
        cx.scalar("ROUNDING", rounding, q.rounding.name()),
    ];
    let per = format!("[out_c={c}]");
    let arrays = vec![
        cx.array("weights", w_dtype, stored, layout),
        cx.array("bias", DType::I32, wide(&q.bias), per.clone()),
        cx.array("m0", DType::I32, q.multipliers.iter().map(|m| m.m0 as i64).collect(), per.clone()),
        cx.array("shift", DType::I32, q.multipliers.iter().map(|m| m.shift as i64).collect(), per),
    ];
    Ok((scalars, arrays))
}

fn conv_node(cx: &Ctx, g: &Geometry, padding: Padding, q: &Requant, weights: &[i32], depth_multiplier: Option<usize>, input: usize, output: usize) -> Result<Node, Error> {
    let layout = match depth_multiplier {
        None => format!("[out_c={}][k_h={}][k_w={}][in_c={}]", g.out_c, g.k_h, g.k_w, g.in_c),
        Some(_) => format!("[1][k_h={}][k_w={}][out_c={}]", g.k_h, g.k_w, g.out_c),
    };
    let (mut scalars, arrays) = requant_part(cx, q, weights, layout)?;
    let dm = depth_multiplier.unwrap_or(1);
    scalars.splice(0..0, geometry_scalars(cx, g, padding, dm));
    let decl = window_decl(cx, g, dm, q.z1, q.z3, (q.act_min, q.act_max), cx.rounding(q.rounding)?, q.z2, q.output_dtype == DType::U8);
    let call = format!(
        "ql_conv(&{}, {}, {}, {}, {}, {}, {}, {});",
        cx.arr("g"),
        depth_multiplier.is_some() as i32,
        cx.arr("weights"),
        cx.arr("bias"),
        cx.arr("m0"),
        cx.arr("shift"),
        cx.buf(input),
        cx.buf(output)
    );
    Ok(cx.node(scalars, arrays, decl, call, &[CONV_C]))
}

/// CONV_2D.
pub fn conv(cx: &Ctx, p: &crate::ops::conv::Params) -> Result<Node, Error> {
    if p.geometry.in_c * p.geometry.k_h * p.geometry.k_w * p.geometry.out_c != p.weights.len() {
        return Err(cx.refuse("grouped convolution (filter channels ≠ input channels)"));
    }
    conv_node(cx, &p.geometry, p.padding, &p.requant, &p.weights, None, p.input, p.output)
}

/// DEPTHWISE_CONV_2D.
pub fn depthwise(cx: &Ctx, p: &crate::ops::depthwise_conv::Params) -> Result<Node, Error> {
    conv_node(cx, &p.geometry, p.padding, &p.requant, &p.weights, Some(p.depth_multiplier), p.input, p.output)
}

/// MAX_POOL_2D and AVERAGE_POOL_2D.
pub fn pool(cx: &Ctx, p: &crate::ops::pool::Params) -> Result<Node, Error> {
    if !matches!(p.output_dtype, DType::I8 | DType::U8) {
        return Err(cx.refuse(format!("output {}: the C pools carry 8-bit tensors", p.output_dtype)));
    }
    let g = &p.geometry;
    let average = matches!(p.pooling, Pooling::Average);
    let mut scalars = geometry_scalars(cx, g, p.padding, 1);
    scalars.extend([
        cx.scalar("AVERAGE", average as i64, "1 average (rounded half away from zero), 0 max"),
        cx.scalar("ACT_MIN", p.act_min as i64, "clamp low"),
        cx.scalar("ACT_MAX", p.act_max as i64, "clamp high"),
    ]);
    let decl = window_decl(cx, g, 1, 0, 0, (p.act_min, p.act_max), 0, 0, false);
    let call = format!("ql_pool(&{}, {}, {}, {});", cx.arr("g"), average as i32, cx.buf(p.input), cx.buf(p.output));
    Ok(cx.node(scalars, vec![], decl, call, &[CONV_C]))
}
