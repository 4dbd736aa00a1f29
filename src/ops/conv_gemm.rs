//! CONV_2D on the packed integer gemm of [`super::gemm`] (the outputs-only
//! fast path): im2col (none for a 1×1 filter at stride 1: the input is the
//! patch matrix), one matrix product, then the layer's requantization,
//! vectorised ([`super::requant::RequantTable`], the same rule as
//! [`super::conv::Requant::apply`]). On AVX-512 VNNI the requantization is
//! fused into the gemm's stores instead ([`super::conv_fused`]): no i32
//! accumulators leave the registers.
//!
//! Each output position `(b, oy, ox)` is one row of a patch matrix holding
//! its receptive field in the filter's order `(ky, kx, ic)`, read by the
//! gemm as u8 `xu = x + x_off` (`x_off` = 128 for int8, 0 for uint8; the
//! patch matrix holds the input's own bytes and the gemm flips the top bit
//! of int8 ones, see [`gemm::matmul_xor`]). A tap in the
//! padding is filled with `zu = Z1 + x_off`: the reference kernels skip
//! those taps, which is the same as reading the value `Z1`, since then
//! `x − Z1 = 0`. With the filter packed as `w8 = W − w_off`,
//! `z2' = Z2 − w_off` and `K = k_h·k_w·in_c`, exactly as FULLY_CONNECTED
//! (see [`super::fully_connected`]):
//!
//! ```text
//!     acc[c] + bias[c] = Σ_k (xu − zu)(w8 − z2')  + bias[c]
//!                      = Σ_k xu·w8  +  (bias[c] − zu·Σ_k w8[c][k] + K·zu·z2')  −  z2'·Σ_k xu
//!                        ─────────     ──────────────── fold[c] ─────────────     (0 when z2' = 0)
//! ```
//!
//! in wrapping i32 arithmetic, i.e. the true sum mod 2³² like the runtimes'
//! int32 accumulators, so the order of the additions cannot change a bit.
//! The traced path ([`super::conv::Params::eval`]) keeps the reference loop;
//! the golden tests compare both against the runtimes.

use super::conv::{Geometry, Params, Requant};
use super::conv_fused::{self, FusedTable};
use super::gemm::{self, KernelPath, PackedWeights};
use super::requant::RequantTable;
use crate::error::EngineError;
use crate::model::DType;
use crate::tensor::{Data, Value};

/// The packed form of a quantized CONV_2D (see the module docs).
#[derive(Clone, Debug)]
pub struct ConvPacked {
    /// `w8 = W − w_off`, rows = output channels, columns = `(ky, kx, ic)`.
    pub weights: PackedWeights,
    /// 128 when the input is int8 (`xu = x + 128`), 0 for uint8.
    pub x_off: i32,
    /// The weight offset, chosen so that `w8` avoids −128 when it can.
    pub w_off: i32,
    /// `zu = Z1 + x_off`: the value of a padded tap.
    pub zu: u8,
    /// `z2' = Z2 − w_off`.
    pub z2: i32,
    /// `bias[c] − zu·Σ_k w8[c][k] + K·zu·z2'` (wrapping).
    pub fold: Vec<i32>,
    /// The layer's requantization with `fold` as the offset (vectorised).
    pub requant: RequantTable,
    /// The same, for the gemm with fused requantization ([`conv_fused`]);
    /// `None` where that kernel cannot hold it exactly.
    pub fused: Option<FusedTable>,
    /// conv (issue 16): for 8 output channels, the fused kernel on two patch rows per vector.
    pub pairs: Option<conv_fused::Pairs>,
    /// The direct form for few input channels, taken instead of the gemm ([`super::conv_direct`]).
    pub direct: Option<super::conv_direct::DirectConv>,
}

impl ConvPacked {
    /// Pack a filter given centered (`W − Z2`, `[out_c][k_h][k_w][in_c]`).
    /// `None` when the gemm cannot hold the layer exactly (an input dtype
    /// other than int8/uint8, a zero point outside its dtype, weights that
    /// do not fit i8 after the offset); the caller then keeps the reference loop.
    pub fn new(g: &Geometry, input_dtype: DType, r: &Requant, centered: &[i32]) -> Option<ConvPacked> {
        let (z1, z2, bias) = (r.z1, r.z2, &r.bias);
        let (rows, cols) = (g.out_c, g.k_h * g.k_w * g.in_c);
        if rows == 0 || cols == 0 || centered.len() != rows * cols || bias.len() != rows {
            return None;
        }
        let (x_off, base) = match input_dtype {
            DType::I8 => (128, 0),
            DType::U8 => (0, 128),
            _ => return None,
        };
        let zu = u8::try_from(z1.checked_add(x_off)?).ok()?;
        let raw: Vec<i32> = centered.iter().map(|&w| w.wrapping_add(z2)).collect();
        let (weights, w_off) = PackedWeights::pack_offset(rows, cols, &raw, base)?;
        let z2p = z2.checked_sub(w_off)?;
        let fold = weights.fold_zero_points(bias, zu as i32, |_| z2p);
        let requant = RequantTable::from_conv(r).with_offsets(&fold);
        let fused = FusedTable::new(&requant, r.output_dtype);
        let pairs = fused.as_ref().and_then(|_| conv_fused::Pairs::new(&weights, &requant, r.output_dtype));
        let direct = super::conv_direct::DirectConv::new(g, input_dtype, r, centered);
        Some(ConvPacked { weights, x_off, w_off, zu, z2: z2p, fold, requant, fused, pairs, direct })
    }
}

/// Buffers the fast CONV_2D reuses between calls (one per [`crate::Workspace`]).
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    /// The patch matrix, one padded row per output position.
    patches: Vec<u8>,
    /// Accumulators, then the requantized outputs.
    dots: Vec<i32>,
    gemm: gemm::Scratch,
    direct: super::conv_direct::Scratch,
}

/// The bytes of an 8-bit tensor: `x` itself for uint8, `x`'s two's-complement
/// bit patterns for int8 (which the gemm reads as `xu ^ 0x80`, see
/// [`gemm::matmul_xor`]).
fn raw_bytes(data: &Data) -> Option<&[u8]> {
    match data {
        Data::U8(x) => Some(x),
        // SAFETY: i8 and u8 have the same size and alignment, and every bit pattern is valid for both.
        Data::I8(x) => Some(unsafe { std::slice::from_raw_parts(x.as_ptr() as *const u8, x.len()) }),
        _ => None,
    }
}

/// Fill `dst` (rows of `stride` bytes) with the receptive fields of every
/// output position of `batches` samples, as the input's raw bytes (copies
/// of whole kernel rows where they lie inside the input); padded taps get
/// `pad` (Z1's byte), the row tail `tail`.
#[allow(clippy::too_many_arguments)]
fn im2col(g: &Geometry, x: &[u8], batches: usize, pad: u8, tail: u8, stride: usize, dst: &mut [u8]) {
    let ic = g.in_c;
    let run = g.k_w * ic;
    let contiguous = g.dil_w == 1;
    let mut rows = dst.chunks_exact_mut(stride);
    for b in 0..batches {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let d = rows.next().expect("patch buffer sized for every position");
                let mut k = 0;
                for ky in 0..g.k_h {
                    let iy = (oy * g.stride_h + ky * g.dil_h) as isize - g.pad_h as isize;
                    if iy < 0 || iy as usize >= g.in_h {
                        d[k..k + run].fill(pad);
                        k += run;
                        continue;
                    }
                    let ix0 = (ox * g.stride_w) as isize - g.pad_w as isize;
                    if contiguous && ix0 >= 0 && ix0 as usize + g.k_w <= g.in_w {
                        // The whole kernel row is inside: one contiguous run of the input.
                        let s = g.in_index(b, iy as usize, ix0 as usize, 0);
                        copy_run(&mut d[k..k + run], &x[s..s + run]);
                        k += run;
                        continue;
                    }
                    for kx in 0..g.k_w {
                        let ix = ix0 + (kx * g.dil_w) as isize;
                        if ix < 0 || ix as usize >= g.in_w {
                            d[k..k + ic].fill(pad);
                        } else {
                            let s = g.in_index(b, iy as usize, ix as usize, 0);
                            copy_run(&mut d[k..k + ic], &x[s..s + ic]);
                        }
                        k += ic;
                    }
                }
                d[k..].fill(tail);
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for the short runs of im2col (a few channels
/// × a few taps): up to 16 bytes as two overlapping fixed-size moves instead
/// of a call to `memcpy`, which costs more than such a copy.
#[inline]
fn copy_run(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    debug_assert_eq!(dst.len(), n);
    match n {
        8..=16 => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..].copy_from_slice(&src[n - 8..]);
        }
        4..=7 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..].copy_from_slice(&src[n - 4..]);
        }
        0..=3 => dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s),
        _ => dst.copy_from_slice(src),
    }
}

/// Make `v` at least `n` long (never shorter: its contents are overwritten by the caller).
fn grow<T: Copy + Default>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::default());
    }
}

impl ConvPacked {
    /// True when the input itself is the patch matrix: a 1×1 filter at
    /// stride 1 without padding, whose rows (`in_c` bytes, a whole number of
    /// quads) are already the gemm's rows.
    pub fn input_is_patches(&self, g: &Geometry) -> bool {
        g.k_h == 1
            && g.k_w == 1
            && g.stride_h == 1
            && g.stride_w == 1
            && g.pad_h == 0
            && g.pad_w == 0
            && (g.out_h, g.out_w) == (g.in_h, g.in_w)
            && self.weights.padded_cols() == g.in_c
    }
}

impl Params {
    /// Evaluate into `out` on the packed gemm, reusing `out`'s buffer and
    /// `s`: the outputs-only fast path. `input` may hold several samples;
    /// `out` gets as many (its shape is left alone). Without a packed form
    /// this is [`Params::eval`].
    pub fn eval_into(&self, path: KernelPath, input: &Value, out: &mut Value, s: &mut Scratch) -> Result<(), EngineError> {
        let Some(pk) = &self.packed else {
            *out = self.eval(input)?;
            return Ok(());
        };
        let g = &self.geometry;
        if let Some(d) = &pk.direct {
            return d.eval_into(path, g, input, self.input, out, &mut s.direct);
        }
        let batches = g.samples_in(input.len(), self.input)?;
        let stride = pk.weights.padded_cols();
        let n = batches * g.out_h * g.out_w;
        let x = match (&input.data, pk.x_off) {
            (Data::I8(_), 128) | (Data::U8(_), 0) => raw_bytes(&input.data).expect("an 8-bit tensor"),
            _ => return Err(EngineError::BadInput(format!("tensor {} is {}, not the conv's input dtype", self.input, input.dtype()))),
        };
        // The gemm reads xu = byte ^ x_xor: int8 bytes with the top bit flipped are x + 128.
        let x_xor = pk.x_off as u8;
        // The buffers only grow (every byte used is written below): no memset
        // per call as the layers' sizes alternate.
        let patches: &[u8] = if pk.input_is_patches(g) {
            &x[..n * stride]
        } else {
            grow(&mut s.patches, n * stride);
            im2col(g, x, batches, pk.zu ^ x_xor, x_xor, stride, &mut s.patches[..n * stride]);
            &s.patches[..n * stride]
        };
        let m = g.out_c;
        if let (Some(ft), true) = (&pk.fused, conv_fused::runs_on(path)) {
            // The gemm with the requantization in its stores: no i32 outputs.
            let zsum = (pk.z2 != 0).then(|| {
                grow(&mut s.dots, n);
                for (z, p) in s.dots.iter_mut().zip(patches.chunks_exact(stride)) {
                    *z = pk.z2.wrapping_mul(p.iter().map(|&v| (v ^ x_xor) as i32).sum::<i32>());
                }
                &s.dots[..n]
            });
            let dst = conv_fused::out_bytes(out, self.requant.output_dtype, n * m).expect("a fused table has an 8-bit output");
            let done = match &pk.pairs {
                Some(p) => p.gemm_requant(path, patches, x_xor, n, zsum, dst),
                None => conv_fused::gemm_requant(path, &pk.weights, ft, patches, x_xor, n, zsum, dst),
            };
            debug_assert!(done, "runs_on checked the path");
            return Ok(());
        }
        grow(&mut s.dots, n * m);
        let dots = &mut s.dots[..n * m];
        gemm::matmul_xor(path, &pk.weights, patches, x_xor, n, dots, &mut s.gemm);
        // acc + bias = dot + fold − z2'·Σxu: the table adds `fold`, then the profile's rounding.
        if pk.z2 != 0 {
            for (row, p) in dots.chunks_exact_mut(m).zip(patches.chunks_exact(stride)) {
                let sum = p.iter().map(|&v| (v ^ x_xor) as i32).sum::<i32>();
                let zs = pk.z2.wrapping_mul(sum);
                row.iter_mut().for_each(|d| *d = d.wrapping_sub(zs));
            }
        }
        pk.requant.apply_into(path, dots, self.requant.output_dtype, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, Padding};
    use crate::ops::conv::Requant;
    use crate::ops::testkit::{geometry, lcg, quant_layer, QuantSpec};
    use crate::profile::{Multiplier, Profile, Rounding};

    struct Case {
        batches: usize,
        in_hwc: (usize, usize, usize),
        out_c: usize,
        k: (usize, usize),
        stride: (usize, usize),
        dil: (usize, usize),
        padding: Padding,
        uint8: bool,
        /// uint8 only: weights use both 0 and 255 (the AVX2 i16 kernel).
        full_range: bool,
        activation: Activation,
    }

    fn params(c: &Case, rounding: Rounding, seed: &mut u64) -> Params {
        let in_c = c.in_hwc.2;
        let g = geometry(c.batches, c.in_hwc, c.out_c, c.k, c.stride, c.dil, c.padding);
        let kk = c.k.0 * c.k.1 * in_c;
        let spec = QuantSpec { uint8: c.uint8, out_c: c.out_c, n_weights: c.out_c * kk, fan_in: kk, full_range: c.full_range, activation: c.activation, rounding };
        let (dtype, weights, requant) = quant_layer(seed, &spec);
        let packed = ConvPacked::new(&g, dtype, &requant, &weights);
        assert!(packed.is_some());
        Params {
            input: 0,
            filter: 1,
            bias: Some(2),
            output: 3,
            geometry: g,
            activation: c.activation,
            padding: c.padding,
            output_shape: vec![c.batches, g.out_h, g.out_w, c.out_c],
            weights,
            requant,
            packed,
        }
    }

    #[test]
    fn packed_conv_equals_the_reference_loop_on_every_available_path() {
        let mut seed = 11u64;
        let mut cases = Vec::new();
        for uint8 in [false, true] {
            for padding in [Padding::Same, Padding::Valid] {
                for &(in_hwc, out_c, k, stride, dil) in &[
                    ((5, 5, 1), 3, (3, 3), (1, 1), (1, 1)),
                    ((8, 7, 3), 17, (3, 3), (2, 2), (1, 1)),
                    ((9, 9, 4), 16, (3, 2), (1, 2), (2, 1)),
                    ((7, 10, 5), 8, (2, 3), (2, 1), (2, 3)),
                    ((6, 6, 16), 32, (1, 1), (1, 1), (1, 1)),
                    // 8 output channels (two rows per vector), an odd number of positions.
                    ((5, 3, 16), 8, (1, 1), (1, 1), (1, 1)),
                    // 1×1: the input as the patch matrix (in_c a multiple of 4), a tail
                    // quad (im2col), strided (a gather), a lone quad, a partial panel.
                    ((5, 4, 8), 24, (1, 1), (1, 1), (1, 1)),
                    ((5, 4, 6), 9, (1, 1), (1, 1), (1, 1)),
                    ((7, 7, 12), 16, (1, 1), (2, 2), (1, 1)),
                    ((3, 3, 4), 40, (1, 1), (1, 1), (1, 1)),
                    ((10, 10, 8), 20, (5, 5), (2, 2), (1, 1)),
                    ((4, 4, 2), 5, (4, 4), (3, 3), (1, 1)),
                ] {
                    for batches in [1, 3] {
                        cases.push(Case {
                            batches,
                            in_hwc,
                            out_c,
                            k,
                            stride,
                            dil,
                            padding,
                            uint8,
                            full_range: uint8 && out_c % 2 == 0,
                            activation: if batches == 1 { Activation::None } else { Activation::Relu },
                        });
                    }
                }
            }
        }
        let mut checked = 0;
        let mut direct = 0;
        for c in &cases {
            // Every rule: the four profiles' `conv_rounding` and the single rounding.
            for rounding in Rounding::ALL {
                let p = params(c, rounding, &mut seed);
                direct += p.packed.as_ref().unwrap().input_is_patches(&p.geometry) as usize;
                let (in_h, in_w, in_c) = c.in_hwc;
                let len = c.batches * in_h * in_w * in_c;
                let input = if c.uint8 {
                    Value { shape: vec![c.batches, in_h, in_w, in_c], data: Data::U8((0..len).map(|_| lcg(&mut seed) as u8).collect()) }
                } else {
                    Value { shape: vec![c.batches, in_h, in_w, in_c], data: Data::I8((0..len).map(|_| lcg(&mut seed) as i8).collect()) }
                };
                let want = p.eval(&input).unwrap();
                let outs: Vec<i32> = crate::ops::widen(&want).unwrap();
                let lo = outs.iter().filter(|&&v| v == p.requant.act_min).count();
                assert!(lo < outs.len(), "all outputs saturated: the case tests nothing");
                let mut distinct = outs.clone();
                distinct.sort_unstable();
                distinct.dedup();
                assert!(distinct.len() >= 8.min(outs.len() / 4), "too few distinct outputs: {distinct:?}");
                for path in KernelPath::available() {
                    let mut got = Value { shape: want.shape.clone(), data: Data::I32(Vec::new()) };
                    let mut s = Scratch::default();
                    // Twice: the second call reuses the buffers.
                    for _ in 0..2 {
                        p.eval_into(path, &input, &mut got, &mut s).unwrap();
                        assert_eq!(
                            got.data, want.data,
                            "{path} {rounding:?} uint8 {} {:?} {:?} out_c {} k {:?} stride {:?} dil {:?} batches {}",
                            c.uint8, c.padding, c.in_hwc, c.out_c, c.k, c.stride, c.dil, c.batches
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked >= cases.len() * Rounding::ALL.len());
        assert!(direct >= 3 * 4 * Rounding::ALL.len(), "the 1×1 cases without im2col ran {direct} times");
    }

    /// A one-channel requantization with input zero point `z1` and filter zero point `z2`.
    fn rq(z1: i32, z2: i32) -> Requant {
        let (s1, s2, s3) = (0.02, 0.01, 0.05);
        Requant {
            s1,
            z1,
            s2: vec![s2],
            z2,
            s3,
            z3: 0,
            per_channel: false,
            bias: vec![0],
            multipliers: vec![Multiplier::from_scales(s1, s2, s3)],
            rounding: Profile::TfliteRef.conv_rounding(),
            act_min: 0,
            act_max: 255,
            output_dtype: DType::U8,
        }
    }

    #[test]
    fn packing_takes_the_offset_that_avoids_minus_128() {
        let g = Geometry {
            batches: 1,
            in_h: 1,
            in_w: 1,
            in_c: 2,
            out_h: 1,
            out_w: 1,
            out_c: 1,
            k_h: 1,
            k_w: 1,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_h: 0,
            pad_w: 0,
        };
        // uint8 weights 1 and 255 around Z2 = 100: offset 128 keeps w8 in [−127, 127].
        let p = ConvPacked::new(&g, DType::U8, &rq(7, 100), &[1 - 100, 255 - 100]).unwrap();
        assert!(p.weights.no_min);
        // Using 0 and 255: the i16 kernel's range, offset 128.
        let p = ConvPacked::new(&g, DType::U8, &rq(7, 100), &[-100, 155]).unwrap();
        assert!(!p.weights.no_min);
        assert_eq!(p.w_off, 128);
        // A zero point outside the input dtype: no packed form.
        assert!(ConvPacked::new(&g, DType::I8, &rq(200, 0), &[1, 2]).is_none());
    }
}
