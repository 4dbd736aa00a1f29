//! DEPTHWISE_CONV_2D for the outputs-only fast path: the reference sum
//! (padded taps skipped), computed a whole output position at a time over
//! channels in i16 × i16 → i32, then DEPTHWISE_CONV_2D's own requantization
//! ([`super::conv::Requant::apply`]).
//!
//! `x − Z1` and `W − Z2` both lie in [−255, 255], so every product fits an
//! i32 exactly; the sum wraps like the runtimes' int32 accumulators (the
//! true sum mod 2³²), so the order of the additions cannot change a bit.
//! The traced path ([`super::depthwise_conv::Params::eval`]) keeps the
//! reference loop; the golden tests compare both against the runtimes.

use super::conv::Geometry;
use super::depthwise_conv::Params;
use super::gemm::KernelPath;
use crate::error::EngineError;
use crate::model::DType;
use crate::tensor::{Data, Value};

/// The filter as i16 `W − Z2`, `[k_h][k_w][out_c]`; `None` (the reference
/// loop) unless the input is int8/uint8 with `|Z1| ≤ 32 000` and every
/// centered weight fits i16 — always true for the int8/uint8 layers
/// `prepare` accepts. Then `x − Z1` fits i16 and `(x − Z1)·(W − Z2)` fits i32.
pub fn pack(input_dtype: DType, z1: i32, centered: &[i32]) -> Option<Vec<i16>> {
    if !matches!(input_dtype, DType::I8 | DType::U8) || !(-32_000..=32_000).contains(&z1) {
        return None;
    }
    centered.iter().map(|&w| i16::try_from(w).ok()).collect()
}

/// Buffers the fast DEPTHWISE_CONV_2D reuses between calls.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    /// `x − Z1` for the whole input.
    xc: Vec<i16>,
    /// One output position's accumulators.
    acc: Vec<i32>,
    /// The requantized outputs.
    out: Vec<i32>,
}

/// `Σ_taps (x − Z1)(W − Z2) + bias` for every output position, appended to
/// `out` (one `out_c` row per position). The same Rust is compiled twice:
/// portable and with AVX2 enabled (so the compiler vectorises the channel loop).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn accumulate_all(g: &Geometry, mult: usize, batches: usize, xc: &[i16], w: &[i16], bias: &[i32], acc: &mut Vec<i32>, out: &mut Vec<i32>) {
    let (ic, oc) = (g.in_c, g.out_c);
    for b in 0..batches {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                acc.clear();
                acc.extend_from_slice(bias);
                for ky in 0..g.k_h {
                    let iy = (oy * g.stride_h + ky * g.dil_h) as isize - g.pad_h as isize;
                    if iy < 0 || iy as usize >= g.in_h {
                        continue;
                    }
                    for kx in 0..g.k_w {
                        let ix = (ox * g.stride_w + kx * g.dil_w) as isize - g.pad_w as isize;
                        if ix < 0 || ix as usize >= g.in_w {
                            continue;
                        }
                        let s = g.in_index(b, iy as usize, ix as usize, 0);
                        let x = &xc[s..s + ic];
                        let wr = &w[(ky * g.k_w + kx) * oc..(ky * g.k_w + kx + 1) * oc];
                        if mult == 1 {
                            for ((a, &xv), &wv) in acc.iter_mut().zip(x).zip(wr) {
                                *a = a.wrapping_add(xv as i32 * wv as i32);
                            }
                        } else {
                            for (c, (a, &wv)) in acc.iter_mut().zip(wr).enumerate() {
                                *a = a.wrapping_add(x[c / mult] as i32 * wv as i32);
                            }
                        }
                    }
                }
                out.extend_from_slice(acc);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn accumulate_all_avx2(g: &Geometry, mult: usize, batches: usize, xc: &[i16], w: &[i16], bias: &[i32], acc: &mut Vec<i32>, out: &mut Vec<i32>) {
    accumulate_all(g, mult, batches, xc, w, bias, acc, out)
}

impl Params {
    /// Evaluate into `out`, reusing its buffer and `s`: the outputs-only
    /// fast path. `input` may hold several samples; `out` gets as many (its
    /// shape is left alone). Without packed weights this is [`Params::eval`].
    pub fn eval_into(&self, path: KernelPath, input: &Value, out: &mut Value, s: &mut Scratch) -> Result<(), EngineError> {
        let Some(w) = &self.packed else {
            *out = self.eval(input)?;
            return Ok(());
        };
        let g = &self.geometry;
        let batches = g.samples_in(input.len(), self.input)?;
        let r = &self.requant;
        let z1 = r.z1;
        s.xc.clear();
        match &input.data {
            Data::I8(x) => s.xc.extend(x.iter().map(|&v| (v as i32 - z1) as i16)),
            Data::U8(x) => s.xc.extend(x.iter().map(|&v| (v as i32 - z1) as i16)),
            _ => return Err(EngineError::BadInput(format!("tensor {} is {}, not the conv's input dtype", self.input, input.dtype()))),
        }
        s.out.clear();
        s.out.reserve(batches * g.out_h * g.out_w * g.out_c);
        let mult = self.depth_multiplier;
        match path {
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 | KernelPath::Avx512Vnni if KernelPath::Avx2.is_available() => unsafe {
                // SAFETY: the CPU has AVX2 (checked above).
                accumulate_all_avx2(g, mult, batches, &s.xc, w, &r.bias, &mut s.acc, &mut s.out)
            },
            _ => accumulate_all(g, mult, batches, &s.xc, w, &r.bias, &mut s.acc, &mut s.out),
        }
        r.apply_rows(&mut s.out, g.out_c);
        super::narrow_into(r.output_dtype, &s.out, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, Padding};
    use crate::ops::conv::Requant;
    use crate::ops::testkit::{geometry, lcg};
    use crate::profile::{Multiplier, Profile};

    #[allow(clippy::too_many_arguments)]
    fn params(
        seed: &mut u64,
        profile: Profile,
        uint8: bool,
        batches: usize,
        (in_h, in_w, in_c): (usize, usize, usize),
        mult: usize,
        k: (usize, usize),
        stride: (usize, usize),
        dil: (usize, usize),
        padding: Padding,
    ) -> Params {
        let out_c = in_c * mult;
        let g = geometry(batches, (in_h, in_w, in_c), out_c, k, stride, dil, padding);
        let (dtype, z1, z2, z3) = if uint8 {
            (DType::U8, 100 + (lcg(seed) % 56) as i32, 100 + (lcg(seed) % 56) as i32, (lcg(seed) % 156) as i32)
        } else {
            (DType::I8, (lcg(seed) % 256) as i32 - 128, 0, (lcg(seed) % 100) as i32 - 128)
        };
        let n = k.0 * k.1 * out_c;
        let raw: Vec<i32> = (0..n)
            .map(|i| match (uint8, i % 11) {
                (true, 0) => 0,
                (true, 1) => 255,
                (true, _) => (lcg(seed) % 256) as i32,
                (false, 0) => -128,
                (false, 1) => 127,
                (false, _) => (lcg(seed) % 256) as i32 - 128,
            })
            .collect();
        let weights: Vec<i32> = raw.iter().map(|&w| w - z2).collect();
        let s1 = 0.02f32;
        let s2: Vec<f32> = (0..out_c).map(|_| 0.005 + (lcg(seed) % 1000) as f32 * 1e-5).collect();
        let s3 = s1 * 0.005 * ((k.0 * k.1) as f32).sqrt() * 100.0;
        let multipliers =
            s2.iter().map(|&s| if uint8 { Multiplier::from_scales_legacy(s1, s, s3) } else { Multiplier::from_scales(s1, s, s3) }).collect();
        let bias: Vec<i32> = (0..out_c).map(|_| (lcg(seed) % 4001) as i32 - 2000).collect();
        let activation = if batches == 1 { Activation::None } else { Activation::Relu6 };
        let (act_min, act_max) = crate::ops::fused_range(activation, dtype, s3, z3);
        let requant = Requant {
            s1,
            z1,
            s2,
            z2,
            s3,
            z3,
            per_channel: !uint8,
            bias,
            multipliers,
            rounding: profile.depthwise_rounding(),
            act_min,
            act_max,
            output_dtype: dtype,
        };
        let packed = pack(dtype, z1, &weights);
        assert!(packed.is_some());
        Params {
            input: 0,
            filter: 1,
            bias: Some(2),
            output: 3,
            geometry: g,
            depth_multiplier: mult,
            activation,
            padding,
            output_shape: vec![batches, g.out_h, g.out_w, out_c],
            weights,
            requant,
            packed,
        }
    }

    #[test]
    fn fast_depthwise_equals_the_reference_loop_on_every_available_path() {
        let mut seed = 5u64;
        let mut checked = 0;
        for uint8 in [false, true] {
            for padding in [Padding::Same, Padding::Valid] {
                for &(shape, mult, k, stride, dil) in &[
                    ((5, 5, 1), 1, (3, 3), (1, 1), (1, 1)),
                    ((8, 7, 8), 1, (3, 3), (2, 2), (1, 1)),
                    ((9, 9, 3), 2, (3, 2), (1, 2), (2, 1)),
                    ((7, 10, 17), 1, (2, 3), (2, 1), (2, 3)),
                    ((6, 6, 4), 3, (5, 5), (1, 1), (1, 1)),
                    ((4, 4, 33), 1, (4, 4), (3, 3), (1, 1)),
                ] {
                    for batches in [1, 3] {
                        for profile in Profile::ALL {
                            let p = params(&mut seed, profile, uint8, batches, shape, mult, k, stride, dil, padding);
                            let len = batches * shape.0 * shape.1 * shape.2;
                            let data = if uint8 {
                                Data::U8((0..len).map(|_| lcg(&mut seed) as u8).collect())
                            } else {
                                Data::I8((0..len).map(|_| lcg(&mut seed) as i8).collect())
                            };
                            let input = Value { shape: vec![batches, shape.0, shape.1, shape.2], data };
                            let want = p.eval(&input).unwrap();
                            let mut distinct = crate::ops::widen(&want).unwrap();
                            let all = distinct.len();
                            distinct.sort_unstable();
                            distinct.dedup();
                            assert!(distinct.len() >= 4.min(all / 4), "too few distinct outputs: {distinct:?}");
                            for path in KernelPath::available() {
                                let mut got = Value { shape: want.shape.clone(), data: Data::I32(Vec::new()) };
                                let mut s = Scratch::default();
                                for _ in 0..2 {
                                    p.eval_into(path, &input, &mut got, &mut s).unwrap();
                                    assert_eq!(
                                        got.data, want.data,
                                        "{path} {profile} uint8 {uint8} {padding:?} {shape:?} mult {mult} k {k:?} stride {stride:?} dil {dil:?} batches {batches}"
                                    );
                                }
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked >= 2 * 2 * 6 * 2 * Profile::ALL.len());
    }
}
