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
//! * **MAX_POOL_2D, AVERAGE_POOL_2D**: per output pixel, the window's input
//!   pixels are visited in the reference order and each of their channels
//!   added to (or maxed into) its accumulator. Integer sums of 8-bit values
//!   cannot overflow here, so the result is the reference's.

use super::binary::{finite, map_lanes, per_rounding, requantize, Q8};
use super::{i8_buffer, samples, u8_buffer, Lanes};
use crate::model::DType;
use crate::ops::mean::{self, MeanArith};
use crate::ops::pool::{self, Pooling};
use crate::ops::{average_pool, KernelPath};
use crate::profile::Rounding;
use crate::tensor::{Data, Value};

/// `acc[c] += pixel[c]` for every pixel of `image` (`acc.len()` channels).
#[inline(always)]
fn sum_pixels(image: &[i8], acc: &mut [i32]) {
    for pixel in image.chunks_exact(acc.len()) {
        for (s, &v) in acc.iter_mut().zip(pixel) {
            *s = s.wrapping_add(v as i32);
        }
    }
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
    o.clear();
    o.resize(sums.len(), 0);
    let (n, z_in, z_out) = (p.count as i32, p.z_in, p.z_out);
    match p.arith {
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

fn pool_lanes<T: Q8>(lanes: Lanes, p: &pool::Params, xs: &[T], o: &mut Vec<T>, acc: &mut [i32]) -> bool {
    let g = &p.geometry;
    let Some(images) = samples(xs.len(), g.in_h * g.in_w * g.in_c) else { return false };
    o.clear();
    o.resize(images * g.out_h * g.out_w * g.out_c, T::default());
    match lanes {
        // SAFETY: `Lanes::of` checked the CPU's features.
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        Lanes::Avx512 => unsafe { pool_avx512(p, images, xs, o, acc) },
        #[cfg(target_arch = "x86_64")]
        Lanes::Avx2 => unsafe { pool_avx2(p, images, xs, o, acc) },
        _ => pool(p, images, xs, o, acc),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn pool_avx2<T: Q8>(p: &pool::Params, images: usize, xs: &[T], o: &mut [T], acc: &mut [i32]) -> bool {
    pool(p, images, xs, o, acc)
}

#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn pool_avx512<T: Q8>(p: &pool::Params, images: usize, xs: &[T], o: &mut [T], acc: &mut [i32]) -> bool {
    pool(p, images, xs, o, acc)
}

/// Per output pixel, the window's input pixels in the reference order, each
/// of their channels added to (or maxed into) its accumulator; then the
/// rounded mean or the maximum, clamped.
#[inline(always)]
fn pool<T: Q8>(p: &pool::Params, images: usize, xs: &[T], o: &mut [T], acc: &mut [i32]) -> bool {
    let g = &p.geometry;
    let c = g.in_c;
    let max = p.pooling == Pooling::Max;
    let mut rows = o.chunks_exact_mut(c);
    for b in 0..images {
        for oy in 0..g.out_h {
            // The window's taps inside the input form one run of rows and one of
            // columns ([`taps_inside`](crate::ops::conv::taps_inside)): plain loops instead of filtering every tap.
            let (ky0, ky1) = crate::ops::conv::taps_inside(oy * g.stride_h, g.k_h, g.dil_h, g.pad_h, g.in_h);
            for ox in 0..g.out_w {
                let (kx0, kx1) = crate::ops::conv::taps_inside(ox * g.stride_w, g.k_w, g.dil_w, g.pad_w, g.in_w);
                acc.fill(if max { i32::MIN } else { 0 });
                let count = ((ky1 - ky0) * (kx1 - kx0)) as i32;
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
                    if count == 0 {
                        return false;
                    }
                    row.iter_mut().zip(&*acc).for_each(|(r, &s)| *r = T::narrow(average_pool::rounded_mean(s, count).clamp(p.act_min, p.act_max)));
                }
            }
        }
    }
    true
}
