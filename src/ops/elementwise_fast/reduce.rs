//! MEAN over (H, W) and the two pools, for every sample in the buffers.
//!
//! * **MEAN**: the int32 sums into a reused buffer, a pixel's channels at a
//!   time (a vector add the compiler widens to 8/16 lanes), then the
//!   kernel's own finish. Wrapping int32 addition is associative, so
//!   summing over (H, W) channel by channel in memory order gives the
//!   reference's sums. The finish is [`mean::Params::finish`]'s arithmetic
//!   with the recipe and rounding fixed per call (as in [`super::binary`]),
//!   except XNNPACK's biased sum, whose rounding depends on the channel and
//!   which calls `finish` itself.
//! * **AVERAGE_POOL_2D**: per output pixel, the window's input pixels are
//!   visited in the reference order and each of their channels added to its
//!   accumulator. Integer sums of 8-bit values cannot overflow here, so the
//!   result is the reference's.
//! * **MAX_POOL_2D**: the maximum of the window's pixels in their own 8-bit
//!   type (exact, and the same in any order), see `max_pool`.

use super::binary::{finite, in_range, map_lanes, per_rounding, requantize, Q8};
use super::fixed;
use super::lut::Lut;
use super::{i8_buffer, samples, sized, u8_buffer, Lanes};
use crate::model::DType;
use crate::ops::mean::{self, MeanArith};
use crate::ops::pool::{self, Pooling};
use crate::ops::{average_pool, KernelPath};
use crate::profile::Rounding;
use crate::tensor::{Data, Value};

/// `acc[c] += pixel[c]` for every pixel of `image` (`acc.len()` channels),
/// in blocks of 64 and then 16 channels summed over every pixel while the
/// block's sums stay in registers (a fixed-size block is what lets the
/// compiler keep them there), the rest channel by channel.
#[inline(always)]
fn sum_pixels(image: &[i8], acc: &mut [i32]) {
    let c = acc.len();
    let mut start = 0;
    while start + 64 <= c {
        sum_block::<64>(image, c, start, &mut acc[start..start + 64]);
        start += 64;
    }
    while start + 16 <= c {
        sum_block::<16>(image, c, start, &mut acc[start..start + 16]);
        start += 16;
    }
    for pixel in image.chunks_exact(c) {
        for (s, &v) in acc[start..].iter_mut().zip(&pixel[start..]) {
            *s = s.wrapping_add(v as i32);
        }
    }
}

/// Channels `start..start + B` of every pixel summed into `acc` (B sums).
#[inline(always)]
fn sum_block<const B: usize>(image: &[i8], c: usize, start: usize, acc: &mut [i32]) {
    let mut sums = [0i32; B];
    sums.copy_from_slice(&acc[..B]);
    for pixel in image.chunks_exact(c) {
        let block: &[i8; B] = pixel[start..start + B].try_into().expect("B channels");
        for (s, &v) in sums.iter_mut().zip(block) {
            *s = s.wrapping_add(v as i32);
        }
    }
    acc[..B].copy_from_slice(&sums);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_pixels_avx2(image: &[i8], acc: &mut [i32]) {
    sum_pixels(image, acc)
}

#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn sum_pixels_avx512(image: &[i8], acc: &mut [i32]) {
    sum_pixels(image, acc)
}

fn sum_lanes(lanes: Lanes, image: &[i8], acc: &mut [i32]) {
    match lanes {
        // SAFETY: `Lanes::of` checked the CPU's features.
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        Lanes::Avx512 => unsafe { sum_pixels_avx512(image, acc) },
        #[cfg(target_arch = "x86_64")]
        Lanes::Avx2 => unsafe { sum_pixels_avx2(image, acc) },
        _ => sum_pixels(image, acc),
    }
}

/// MEAN over the middle two axes of an NHWC int8 tensor (the global average
/// pool of MobileNet and EfficientNet) into `out`, with `sums` as scratch,
/// for every sample in `x`; `false` for any other reduction (then the
/// reference `eval` runs).
pub fn mean_into(path: KernelPath, p: &mean::Params, x: &Value, out: &mut Value, sums: &mut Vec<i32>) -> bool {
    let (Data::I8(xs), DType::I8) = (&x.data, p.output_dtype) else { return false };
    if p.input_shape.len() != 4 || p.reduced != [false, true, true, false] {
        return false;
    }
    let (hw, c) = (p.input_shape[1] * p.input_shape[2], p.input_shape[3]);
    let Some(images) = samples(xs.len(), hw * c) else { return false };
    let lanes = Lanes::of(path);
    sums.clear();
    sums.resize(images * c, 0);
    for (image, acc) in xs.chunks_exact(hw * c).zip(sums.chunks_exact_mut(c)) {
        sum_lanes(lanes, image, acc);
    }
    let o = i8_buffer(out);
    sized(o, sums.len()); // every element written by the finish below
    let (n, z_in, z_out) = (p.count as i32, p.z_in, p.z_out);
    match p.arith {
        // |Σ − n·Z_in|·2^left ≤ 255²: the double rounding in i32 lanes ([`fixed::small`]).
        MeanArith::Integer { multiplier, rounding: Rounding::FixedPointDoubleRounding }
            if multiplier.m0 >= 0 && in_range(DType::I8, z_in) && (0..=7).contains(&multiplier.shift.max(0)) && (n as i64) << multiplier.shift.max(0) <= 255 =>
        {
            let (parts, right, left) = (fixed::parts(multiplier.m0), (-multiplier.shift).clamp(0, 31) as u32, multiplier.shift.max(0) as u32);
            map_lanes(lanes, sums, o, #[inline(always)] move |s| fixed::small((s - z_in * n) << left, parts, right, z_out, -128, 127))
        }
        MeanArith::Integer { multiplier, rounding } if finite(&multiplier) => {
            macro_rules! integer {
                ($r:expr) => {
                    map_lanes(lanes, sums, o, move |s| {
                        let centered = s.wrapping_sub(z_in.wrapping_mul(n));
                        requantize($r, centered, &multiplier, z_out, -128, 127)
                    })
                };
            }
            per_rounding!(rounding, integer)
        }
        MeanArith::Float { scale, zero_point } => map_lanes(lanes, sums, o, move |s| (s as f32 * scale + zero_point).round_ties_even().clamp(-128.0, 127.0) as i32),
        _ => {
            for (per, row) in sums.chunks_exact(c).zip(o.chunks_exact_mut(c)) {
                for (j, (r, &s)) in row.iter_mut().zip(per).enumerate() {
                    *r = p.finish(j, s) as i8;
                }
            }
        }
    }
    true
}

/// MEAN whose every output is the mean of **one** input (`n = 1`: the
/// reduced axes all have length 1, as MobileNetV2's global average pool of a
/// 1×1 map) as the 256-entry table of an element-wise op: with one term the
/// sum is the input itself, so the output is a function of an 8-bit value,
/// and the outputs are the inputs' in the same order (dropping axes of
/// length 1 moves no element). The table is probed from the reference
/// `eval` itself (on a `(256)` input with no axis reduced and the same
/// arithmetic), so its bits are the reference's by construction. `None` when
/// `n ≠ 1`, the dtypes differ or are not 8-bit, or the finish depends on
/// the channel (the biased-sum form's vector/tail split).
pub fn mean_table(p: &mean::Params) -> Option<Lut> {
    let dtype = p.output_dtype;
    if p.count != 1 || matches!(p.arith, MeanArith::BiasedSum { .. }) || !matches!(dtype, DType::I8 | DType::U8) {
        return None;
    }
    let probe = mean::Params { input_shape: vec![256], reduced: vec![false], output_shape: vec![256], ..p.clone() };
    Lut::probe(dtype, |v| probe.eval(v))
}

/// MAX_POOL_2D or AVERAGE_POOL_2D on int8/uint8 into `out` (every sample in
/// `x`), channel rows at a time (`acc` is scratch), in the vector width of
/// `path`. `false` when the form does not apply or a window is empty (the
/// reference then runs, and names the error).
pub fn pool_into(path: KernelPath, p: &pool::Params, x: &Value, out: &mut Value, acc: &mut Vec<i32>) -> bool {
    let g = &p.geometry;
    let c = g.in_c;
    if g.out_c != c || c == 0 {
        return false;
    }
    acc.resize(c, 0);
    let lanes = Lanes::of(path);
    match (&x.data, p.output_dtype) {
        (Data::I8(xs), DType::I8) => pool_lanes(lanes, p, xs, i8_buffer(out), acc),
        (Data::U8(xs), DType::U8) => pool_lanes(lanes, p, xs, u8_buffer(out), acc),
        _ => false,
    }
}

fn pool_lanes<T: Q8 + Ord>(lanes: Lanes, p: &pool::Params, xs: &[T], o: &mut Vec<T>, acc: &mut Vec<i32>) -> bool {
    let g = &p.geometry;
    let Some(images) = samples(xs.len(), g.in_h * g.in_w * g.in_c) else { return false };
    o.clear();
    o.resize(images * g.out_h * g.out_w * g.out_c, T::default());
    if p.pooling == Pooling::Max {
        return max_pool_lanes(lanes, p, images, xs, o, acc);
    }
    // The common depths sum in a local array (registers), not through `acc`
    // in memory (a store-to-load chain per tap).
    macro_rules! depth {
        ($($c:literal)*) => {
            match g.in_c {
                $($c => avg_pool_at::<T, $c>(lanes, p, images, xs, o, acc),)*
                _ => avg_pool_at::<T, 0>(lanes, p, images, xs, o, acc),
            }
        };
    }
    depth!(1 2 3 4 8 16 24 32 64)
}

fn avg_pool_at<T: Q8, const C: usize>(lanes: Lanes, p: &pool::Params, images: usize, xs: &[T], o: &mut [T], acc: &mut [i32]) -> bool {
    match lanes {
        // SAFETY: `Lanes::of` checked the CPU's features.
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        Lanes::Avx512 => unsafe { pool_avx512::<T, C>(p, images, xs, o, acc) },
        #[cfg(target_arch = "x86_64")]
        Lanes::Avx2 => unsafe { pool_avx2::<T, C>(p, images, xs, o, acc) },
        _ => pool::<T, C>(p, images, xs, o, acc),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn pool_avx2<T: Q8, const C: usize>(p: &pool::Params, images: usize, xs: &[T], o: &mut [T], acc: &mut [i32]) -> bool {
    pool::<T, C>(p, images, xs, o, acc)
}

#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn pool_avx512<T: Q8, const C: usize>(p: &pool::Params, images: usize, xs: &[T], o: &mut [T], acc: &mut [i32]) -> bool {
    pool::<T, C>(p, images, xs, o, acc)
}

/// Per output pixel, the window's input pixels in the reference order, each
/// of their channels added to (or maxed into) its accumulator (`[i32; C]`
/// when `C > 0` is the depth, else `acc`); then the rounded mean or the
/// maximum, clamped.
#[inline(always)]
fn pool<T: Q8, const C: usize>(p: &pool::Params, images: usize, xs: &[T], o: &mut [T], acc: &mut [i32]) -> bool {
    let g = &p.geometry;
    let c = g.in_c;
    let max = p.pooling == Pooling::Max;
    let mut rows = o.chunks_exact_mut(c);
    let mut divisor = (0, average_pool::MeanDivisor::new(1).expect("1 is a count"));
    for b in 0..images {
        for oy in 0..g.out_h {
            // The window's taps inside the input form one run of rows and one of
            // columns ([`taps_inside`](crate::ops::conv::taps_inside)): plain loops instead of filtering every tap.
            let (ky0, ky1) = crate::ops::conv::taps_inside(oy * g.stride_h, g.k_h, g.dil_h, g.pad_h, g.in_h);
            for ox in 0..g.out_w {
                let (kx0, kx1) = crate::ops::conv::taps_inside(ox * g.stride_w, g.k_w, g.dil_w, g.pad_w, g.in_w);
                let count = ((ky1 - ky0) * (kx1 - kx0)) as i32;
                if C > 0 && !max {
                    debug_assert_eq!(C, c);
                    let mut a = [0i32; C];
                    for ky in ky0..ky1 {
                        let iy = oy * g.stride_h + ky * g.dil_h - g.pad_h;
                        for kx in kx0..kx1 {
                            let start = g.in_index(b, iy, ox * g.stride_w + kx * g.dil_w - g.pad_w, 0);
                            let pixel = &xs[start..start + C];
                            for k in 0..C {
                                a[k] += pixel[k].widen();
                            }
                        }
                    }
                    if divisor.0 != count {
                        let Some(d) = average_pool::MeanDivisor::new(count) else { return false };
                        divisor = (count, d);
                    }
                    let Some(row) = rows.next() else { return false };
                    for k in 0..C {
                        row[k] = T::narrow(divisor.1.mean(a[k]).clamp(p.act_min, p.act_max));
                    }
                    continue;
                }
                acc.fill(if max { i32::MIN } else { 0 });
                for ky in ky0..ky1 {
                    let iy = oy * g.stride_h + ky * g.dil_h - g.pad_h;
                    for kx in kx0..kx1 {
                        let ix = ox * g.stride_w + kx * g.dil_w - g.pad_w;
                        let start = g.in_index(b, iy, ix, 0);
                        let pixel = &xs[start..start + c];
                        if max {
                            acc.iter_mut().zip(pixel).for_each(|(a, &v)| *a = (*a).max(v.widen()));
                        } else {
                            acc.iter_mut().zip(pixel).for_each(|(a, &v)| *a += v.widen());
                        }
                    }
                }
                let Some(row) = rows.next() else { return false };
                if max {
                    row.iter_mut().zip(&*acc).for_each(|(r, &m)| *r = T::narrow(m.clamp(p.act_min, p.act_max)));
                } else {
                    // One divisor per window size (they differ only at the edges).
                    if divisor.0 != count {
                        let Some(d) = average_pool::MeanDivisor::new(count) else { return false };
                        divisor = (count, d);
                    }
                    let d = divisor.1;
                    row.iter_mut().zip(&*acc).for_each(|(r, &s)| *r = T::narrow(d.mean(s).clamp(p.act_min, p.act_max)));
                }
            }
        }
    }
    true
}

/// MAX_POOL_2D in the inputs' own 8-bit type: the maximum is exact and does
/// not depend on the order of the taps, so each output pixel is its
/// window's first inside pixel maxed, channel by channel, with the others
/// (whole `c`-channel pixels as fixed-size arrays for the common depths,
/// one vector instruction each), then clamped to the fused range, which
/// lies inside the type. No widening; the window's inside columns are found
/// once per call for every output column (`cols`, in the pools' scratch
/// `acc`: its first inside tap's offset in an input row and its tap count),
/// the inside rows once per output row, and each output row reads one
/// bounds-checked slice of the input.
fn max_pool_lanes<T: Q8 + Ord>(lanes: Lanes, p: &pool::Params, images: usize, xs: &[T], o: &mut [T], cols: &mut Vec<i32>) -> bool {
    let (lo, hi) = (T::narrow(p.act_min), T::narrow(p.act_max));
    if (lo.widen(), hi.widen()) != (p.act_min, p.act_max) || p.act_min > p.act_max {
        return false;
    }
    let g = &p.geometry;
    if g.in_w * g.in_c > i32::MAX as usize {
        return false;
    }
    cols.clear();
    for ox in 0..g.out_w {
        let (kx0, kx1) = crate::ops::conv::taps_inside(ox * g.stride_w, g.k_w, g.dil_w, g.pad_w, g.in_w);
        let start = if kx0 < kx1 { (ox * g.stride_w + kx0 * g.dil_w - g.pad_w) * g.in_c } else { 0 };
        cols.extend([start as i32, (kx1 - kx0) as i32]);
    }
    macro_rules! depth {
        ($($c:literal)*) => {
            match p.geometry.in_c {
                $($c => max_pool_at::<T, $c>(lanes, p, images, xs, o, lo, hi, cols),)*
                _ => max_pool_at::<T, 0>(lanes, p, images, xs, o, lo, hi, cols),
            }
        };
    }
    depth!(1 2 3 4 8 16 24 32 64)
}

#[allow(clippy::too_many_arguments)]
fn max_pool_at<T: Q8 + Ord, const C: usize>(lanes: Lanes, p: &pool::Params, images: usize, xs: &[T], o: &mut [T], lo: T, hi: T, cols: &[i32]) -> bool {
    match lanes {
        // SAFETY: `Lanes::of` checked the CPU's features.
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        Lanes::Avx512 => unsafe { max_pool_avx512::<T, C>(p, images, xs, o, lo, hi, cols) },
        #[cfg(target_arch = "x86_64")]
        Lanes::Avx2 => unsafe { max_pool_avx2::<T, C>(p, images, xs, o, lo, hi, cols) },
        _ => max_pool::<T, C>(p, images, xs, o, lo, hi, cols),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn max_pool_avx2<T: Q8 + Ord, const C: usize>(p: &pool::Params, images: usize, xs: &[T], o: &mut [T], lo: T, hi: T, cols: &[i32]) -> bool {
    max_pool::<T, C>(p, images, xs, o, lo, hi, cols)
}

#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn max_pool_avx512<T: Q8 + Ord, const C: usize>(p: &pool::Params, images: usize, xs: &[T], o: &mut [T], lo: T, hi: T, cols: &[i32]) -> bool {
    max_pool::<T, C>(p, images, xs, o, lo, hi, cols)
}

/// `C` is the depth when it is one of the fixed sizes (`[T; C]` pixels), 0 otherwise (slices).
#[inline(always)]
fn max_pool<T: Q8 + Ord, const C: usize>(p: &pool::Params, images: usize, xs: &[T], o: &mut [T], lo: T, hi: T, cols: &[i32]) -> bool {
    let g = &p.geometry;
    let c = g.in_c;
    debug_assert!(C == 0 || C == c);
    let (row_len, out_row) = (g.in_w * c, g.out_w * c);
    let (row_step, col_step) = (g.dil_h * row_len, g.dil_w * c);
    if o.len() != images * g.out_h * out_row || cols.len() != 2 * g.out_w || xs.len() < images * g.in_h * row_len {
        return false;
    }
    // The 2×2 windows of stride 2 wholly inside the input (no padding): each
    // output row from two input rows, as pairs of pixels, without indices.
    let pairs = C > 0 && (g.k_h, g.k_w, g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w) == (2, 2, 2, 2, 0, 0, 1, 1);
    if pairs && 2 * g.out_h <= g.in_h && 2 * g.out_w <= g.in_w {
        for (r, dst) in o.chunks_exact_mut(out_row.max(1)).enumerate() {
            let (b, oy) = (r / g.out_h, r % g.out_h);
            let row0 = g.in_index(b, 2 * oy, 0, 0);
            let (top, bottom) = (&xs[row0..row0 + row_len], &xs[row0 + row_len..row0 + 2 * row_len]);
            for (out, (t, u)) in dst.chunks_exact_mut(C).zip(top.chunks_exact(2 * C).zip(bottom.chunks_exact(2 * C))) {
                for k in 0..C {
                    out[k] = t[k].max(t[C + k]).max(u[k].max(u[C + k])).max(lo).min(hi);
                }
            }
        }
        return true;
    }
    for (r, dst) in o.chunks_exact_mut(out_row.max(1)).enumerate() {
        let (b, oy) = (r / g.out_h, r % g.out_h);
        let (ky0, ky1) = crate::ops::conv::taps_inside(oy * g.stride_h, g.k_h, g.dil_h, g.pad_h, g.in_h);
        if ky0 == ky1 {
            // Empty windows: the maximum of nothing, clamped (the reference's lowest value, raised to act_min).
            dst.fill(lo);
            continue;
        }
        // The window's inside rows, `dil_h` rows apart, as one slice.
        let row0 = g.in_index(b, oy * g.stride_h + ky0 * g.dil_h - g.pad_h, 0, 0);
        let rows = ky1 - ky0;
        let src = &xs[row0..row0 + (rows - 1) * row_step + row_len];
        for (out, col) in dst.chunks_exact_mut(c.max(1)).zip(cols.chunks_exact(2)) {
            let (s0, taps_x) = (col[0] as usize, col[1] as usize);
            if C > 0 {
                // max(lo, every tap), then min(hi): the clamp folded into the maximum.
                let mut m = [lo; C];
                for i in 0..rows {
                    for j in 0..taps_x {
                        let s = s0 + i * row_step + j * col_step;
                        let v = &src[s..s + C];
                        for k in 0..C {
                            m[k] = m[k].max(v[k]);
                        }
                    }
                }
                for k in 0..C {
                    m[k] = m[k].min(hi);
                }
                out.copy_from_slice(&m);
            } else {
                out.fill(lo);
                for i in 0..rows {
                    for j in 0..taps_x {
                        let s = s0 + i * row_step + j * col_step;
                        out.iter_mut().zip(&src[s..s + c]).for_each(|(a, &v)| *a = (*a).max(v));
                    }
                }
                out.iter_mut().for_each(|a| *a = (*a).min(hi));
            }
        }
    }
    true
}
