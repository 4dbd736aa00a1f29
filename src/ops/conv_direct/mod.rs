//! CONV_2D with few input channels (the first layer of an image model:
//! `in_c` ≤ 4, a small `K = k_h·k_w·in_c`) as a direct convolution on the
//! outputs-only fast path: no patch matrix, output channels in the vector
//! lanes, each input tap broadcast to all of them.
//!
//! The gemm of [`super::conv_gemm`] needs a patch matrix whose rows are the
//! receptive fields; with one input channel a row is `k_h` runs of `k_w`
//! bytes, so building it costs more than the product itself. Here instead
//!
//! ```text
//!     acc[p][c] = Σ_t (x[p + off_t] − Z1) · (W[c][t] − Z2)          (t over the K taps)
//! ```
//!
//! is summed straight from a copy of the input **centered and padded**:
//! `xc = x − Z1` as i16, with zero rows and columns around it wherever a
//! tap falls outside the input (the reference kernels skip those taps: the
//! same as adding `0 · W`). Every tap of output position `p` is then at a
//! fixed distance `off_t` from `p`'s corner, whatever `p`.
//!
//! The taps come in *runs* that lie next to each other in memory (one run
//! per kernel row `ky` when the dilation along x is 1, `k_w·in_c` values;
//! else one per `(ky, kx)`, `in_c` values). Each run is cut into **pairs**
//! of neighbouring values, an odd run ending with a pair whose second
//! weight is 0 (its value, the next one in the buffer, is then read and
//! multiplied by nothing). A pair is one 32-bit load, broadcast to every
//! lane; its two weights per channel are one i32 lane of `(w_lo, w_hi)`
//! i16s, so one `vpmaddwd` (AVX2) or `vpdpwssd` (AVX-512 VNNI) adds both
//! products for 8 or 16 channels:
//!
//! ```text
//!     acc[c] += xc[p + off] · w[c][2j] + xc[p + off + 1] · w[c][2j+1]
//! ```
//!
//! `|xc| ≤ 255` and `|W − Z2| ≤ 255`, so each product fits i32 exactly and
//! the i32 sum is the runtimes' (wrapping, like their int32 accumulators: the
//! order of the additions cannot change a bit). The accumulators are then
//! requantized by the layer's [`RequantTable`] (offset = the bias), the same
//! rule as [`super::conv::Requant::apply`]: on the x86 paths in registers,
//! each vector of 8 sums (started from the bias) requantized and stored as
//! 8 output bytes (on AVX-512 VNNI two such vectors as one 16-lane
//! requantization, and the taps in quads of bytes when the weights fit i8:
//! see [`Quads`]); on the scalar path (or a table the vector rule does not
//! implement) through an i32 buffer.

use super::conv::Geometry;
use super::gemm::KernelPath;
use super::requant::RequantTable;
use super::requant_lanes::LaneTable;
use crate::error::EngineError;
use crate::model::DType;
use crate::tensor::{Data, Value};

#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(test)]
mod tests;

/// The largest input depth taken by the direct form.
pub const MAX_IN_C: usize = 4;
/// The most tap pairs per output position (`K` up to about 128).
const MAX_PAIRS: usize = 64;

/// A CONV_2D prepared for the direct form (see the module docs).
#[derive(Clone, Debug)]
pub struct DirectConv {
    /// Z1: subtracted from every input value.
    z1: i32,
    /// The padded, centered input's height and width (per sample).
    hp: usize,
    wp: usize,
    /// Zero rows above / columns left of the input in the padded copy.
    pad_h: usize,
    pad_w: usize,
    /// Per pair: its first value's offset (in i16s) from the position's corner.
    pair_off: Vec<usize>,
    /// Per pair, per channel: `w_lo | w_hi << 16` (the centered weights as i16s),
    /// `[pair][channel]` with channels padded to a multiple of 16.
    weights: Vec<i32>,
    /// `weights` padded channel count.
    lanes: usize,
    /// The layer's requantization, the bias as the offset.
    requant: RequantTable,
    /// The bias per channel, padded with zeros to `lanes` (the x86 byte
    /// kernels start their sums from it).
    bias: Vec<i32>,
    /// The requantization's 16-lane constants for the AVX-512 byte kernel:
    /// per block of 8 output channels, their 8 constants twice (two output
    /// positions a vector), no offset. Present when `requant` is vectorised.
    lanes2: Option<LaneTable>,
    /// conv (issue 16): the requantization's 16-lane constants in channel
    /// order, no offset, for the 16-channel quad kernel; present when
    /// `requant` is vectorised and `out_c` is a multiple of 16.
    lanes16: Option<LaneTable>,
    /// The quad form for `vpdpbusd` (AVX-512 VNNI), when every centered
    /// weight fits i8 (see [`Quads`]).
    quads: Option<Quads>,
    output_dtype: DType,
}

/// The taps cut into **quads** for `vpdpbusd` (u8 × i8, four products and
/// their sum into an i32 lane): 27 taps of a 3 × 3 × 3 kernel are 9 quads
/// where they are 15 pairs. The input copy is then u8, `u = x + 128` for int8
/// (`x` for uint8) with padding `u = Z1 + 128` (`Z1`), and
///
/// ```text
///     Σ_t (x_t − Z1)·W_t = Σ_t u_t·W_t − zpad·Σ_t W_t,    zpad = Z1 + 128 (int8) or Z1 (uint8)
/// ```
///
/// exactly (in i32, wrapping like the runtimes' sums): the padding
/// contributes 0 as the reference's skipped taps do, and a quad's slots past
/// its run (weight 0) add nothing. The sums start from `bias − zpad·ΣW`.
#[derive(Clone, Debug)]
struct Quads {
    /// Per quad: its first byte's offset from the position's corner.
    off: Vec<usize>,
    /// Per quad, per channel: the four centered weights as i8 bytes, `[quad][lanes]`.
    weights: Vec<i32>,
    /// `bias − zpad·ΣW` per channel, padded with zeros to `lanes`.
    start: Vec<i32>,
    /// The padding byte.
    zpad: u8,
}

/// The buffers of the direct form, reused between calls.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    /// The centered, padded input (`+ 2` i16s: a pair read past the last run).
    xc: Vec<i16>,
    /// Accumulators, `out_c` per position (`+ 16`: a full-vector store past the end).
    acc: Vec<i32>,
    /// The u8 padded copy of the quad form (`+ 4` bytes: a quad read past the last run).
    xu: Vec<u8>,
}

impl DirectConv {
    /// The direct form of a layer with geometry `g`, centered weights
    /// `W − Z2` (`[out_c][k_h][k_w][in_c]`) and requantization `r`, or `None`
    /// when it does not apply: an input other than int8/uint8, more than
    /// [`MAX_IN_C`] input channels, too many taps, or values outside the i16
    /// products' range.
    pub fn new(g: &Geometry, input_dtype: DType, r: &super::conv::Requant, centered: &[i32]) -> Option<DirectConv> {
        let (range, out_ok) = match input_dtype {
            DType::I8 => (-128..=127, matches!(r.output_dtype, DType::I8)),
            DType::U8 => (0..=255, matches!(r.output_dtype, DType::U8)),
            _ => return None,
        };
        let k = g.k_h * g.k_w * g.in_c;
        if !out_ok || g.in_c == 0 || g.in_c > MAX_IN_C || g.out_c == 0 || !range.contains(&r.z1) || centered.len() != g.out_c * k {
            return None;
        }
        if centered.iter().any(|w| !(-255..=255).contains(w)) || r.bias.len() != g.out_c {
            return None;
        }
        // The runs of taps: (offset of the run in the padded copy, first tap index, length).
        let wp = (g.in_w + g.pad_w).max((g.out_w - 1) * g.stride_w + (g.k_w - 1) * g.dil_w + 1);
        let hp = (g.in_h + g.pad_h).max((g.out_h - 1) * g.stride_h + (g.k_h - 1) * g.dil_h + 1);
        let ic = g.in_c;
        let mut runs = Vec::new();
        for ky in 0..g.k_h {
            let row = ky * g.dil_h * wp * ic;
            if g.dil_w == 1 {
                runs.push((row, ky * g.k_w * ic, g.k_w * ic));
            } else {
                for kx in 0..g.k_w {
                    runs.push((row + kx * g.dil_w * ic, (ky * g.k_w + kx) * ic, ic));
                }
            }
        }
        let pairs: usize = runs.iter().map(|r| r.2.div_ceil(2)).sum();
        if pairs > MAX_PAIRS {
            return None;
        }
        let lanes = g.out_c.div_ceil(16) * 16;
        let mut pair_off = Vec::with_capacity(pairs);
        let mut weights = vec![0i32; pairs * lanes];
        for &(off, t0, len) in &runs {
            for j in (0..len).step_by(2) {
                let p = pair_off.len();
                pair_off.push(off + j);
                for c in 0..g.out_c {
                    let w = |t: usize| if t < len { centered[c * k + t0 + t] as i16 as u16 as u32 } else { 0 };
                    weights[p * lanes + c] = (w(j) | w(j + 1) << 16) as i32;
                }
            }
        }
        let quads = centered.iter().all(|w| (-128..=127).contains(w)).then(|| {
            let zpad = if input_dtype == DType::I8 { r.z1 + 128 } else { r.z1 };
            let mut off = Vec::new();
            let mut quad_w = Vec::new();
            for &(o, t0, len) in &runs {
                for j in (0..len).step_by(4) {
                    off.push(o + j);
                    quad_w.extend((0..lanes).map(|c| {
                        let w = |t: usize| if c < g.out_c && t < len { centered[c * k + t0 + t] as i8 as u8 as u32 } else { 0 };
                        (w(j) | w(j + 1) << 8 | w(j + 2) << 16 | w(j + 3) << 24) as i32
                    }));
                }
            }
            let start = (0..lanes)
                .map(|c| if c < g.out_c { r.bias[c].wrapping_sub(zpad.wrapping_mul(centered[c * k..(c + 1) * k].iter().fold(0i32, |a, &w| a.wrapping_add(w)))) } else { 0 })
                .collect();
            Quads { off, weights: quad_w, start, zpad: zpad as u8 }
        });
        let requant = RequantTable::from_conv(r);
        let lanes2 = requant.vectorised().then(|| {
            let ms: Vec<_> = (0..g.out_c.div_ceil(8) * 16).map(|i| r.multipliers[(i / 16 * 8 + i % 8).min(g.out_c - 1)]).collect();
            LaneTable::new(r.rounding, &ms, &vec![0; ms.len()], r.z3, r.act_min, r.act_max)
        });
        let lanes16 = (requant.vectorised() && g.out_c % 16 == 0).then(|| LaneTable::new(r.rounding, &r.multipliers[..g.out_c], &vec![0; g.out_c], r.z3, r.act_min, r.act_max));
        Some(DirectConv {
            z1: r.z1,
            hp,
            wp,
            pad_h: g.pad_h,
            pad_w: g.pad_w,
            pair_off,
            weights,
            lanes,
            requant,
            lanes2,
            lanes16,
            quads,
            bias: (0..lanes).map(|c| r.bias.get(c).copied().unwrap_or(0)).collect(),
            output_dtype: r.output_dtype,
        })
    }

    /// The tap pairs summed per output position and channel.
    pub fn pairs(&self) -> usize {
        self.pair_off.len()
    }

    /// Fill `buf` with the padded copy of `batches` samples of `x`: `f(v)`
    /// for every input value, `pad` in the rows and columns around them, and
    /// `slack` zeros past the end (a tap group read past the last run).
    #[allow(clippy::too_many_arguments)]
    fn pad_copy<S: Copy, D: Copy + Default>(&self, g: &Geometry, x: &[S], batches: usize, buf: &mut Vec<D>, slack: usize, pad: D, f: impl Fn(S) -> D) {
        let (ic, wp) = (g.in_c, self.wp);
        let len = batches * self.hp * wp * ic + slack;
        if buf.len() < len {
            buf.resize(len, D::default());
        }
        let row_len = wp * ic;
        let (left, inner) = (self.pad_w * ic, g.in_w * ic);
        for b in 0..batches {
            for r in 0..self.hp {
                let d = &mut buf[(b * self.hp + r) * row_len..][..row_len];
                let iy = r.wrapping_sub(self.pad_h);
                if iy >= g.in_h {
                    d.fill(pad);
                    continue;
                }
                d[..left].fill(pad);
                let s = &x[g.in_index(b, iy, 0, 0)..][..inner];
                for (o, &v) in d[left..left + inner].iter_mut().zip(s) {
                    *o = f(v);
                }
                d[left + inner..].fill(pad);
            }
        }
        buf[len - slack..len].fill(D::default());
    }

    /// Fill `xc` with the centered, zero-padded i16 copy of `batches` samples of `x`.
    fn center<T: Copy + Into<i32>>(&self, g: &Geometry, x: &[T], batches: usize, xc: &mut Vec<i16>) {
        let z1 = self.z1;
        self.pad_copy(g, x, batches, xc, 2, 0, |v: T| (v.into() - z1) as i16)
    }

    /// Evaluate `input` (`batches` samples, tensor `tensor`) into `out` on `path`.
    pub fn eval_into(&self, path: KernelPath, g: &Geometry, input: &Value, tensor: usize, out: &mut Value, s: &mut Scratch) -> Result<(), EngineError> {
        let batches = g.samples_in(input.len(), tensor)?;
        // speed (issue 16): the quad form on AVX-512 VNNI.
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        if let (Some(q), Some(_), KernelPath::Avx512Vnni) = (&self.quads, &self.lanes2, path) {
            if path.is_available() {
                let n = batches * g.out_h * g.out_w * g.out_c;
                let bytes: Option<(&[u8], u8)> = match &input.data {
                    // SAFETY: i8 and u8 have the same layout.
                    Data::I8(x) if self.output_dtype == DType::I8 => Some((unsafe { std::slice::from_raw_parts(x.as_ptr() as *const u8, x.len()) }, 0x80)),
                    Data::U8(x) if self.output_dtype == DType::U8 => Some((x, 0)),
                    _ => None,
                };
                if let Some((x, flip)) = bytes {
                    // The u8 copy of the quad form: `x ^ 0x80` (int8) or `x` (uint8), `zpad` around it.
                    self.pad_copy(g, x, batches, &mut s.xu, 4, q.zpad, |v: u8| v ^ flip);
                    let dst = super::conv_fused::out_bytes(out, self.output_dtype, n).expect("an 8-bit output (checked in `new`)");
                    // SAFETY: the CPU has AVX-512 F/BW/VL/VNNI (checked); the kernels check the lengths.
                    match self.lanes16 {
                        Some(_) => unsafe { x86::quads_avx512_16(self, q, g, batches, &s.xu, dst) },
                        None => unsafe { x86::quads_avx512(self, q, g, batches, &s.xu, dst) },
                    }
                    return Ok(());
                }
            }
        }
        match &input.data {
            Data::I8(x) if self.output_dtype == DType::I8 => self.center(g, x, batches, &mut s.xc),
            Data::U8(x) if self.output_dtype == DType::U8 => self.center(g, x, batches, &mut s.xc),
            _ => return Err(EngineError::BadInput(format!("tensor {tensor} is {}, not the conv's input dtype", input.dtype()))),
        }
        let m = g.out_c;
        let n = batches * g.out_h * g.out_w * m;
        // speed (issue 16): requantized in registers, bytes stored.
        #[cfg(target_arch = "x86_64")]
        if path != KernelPath::Scalar && self.requant.vectorised() && KernelPath::Avx2.is_available() {
            let signed = self.output_dtype == DType::I8;
            let dst = super::conv_fused::out_bytes(out, self.output_dtype, n).expect("an 8-bit output (checked in `new`)");
            #[cfg(quantlens_avx512)]
            if path == KernelPath::Avx512Vnni && path.is_available() {
                // SAFETY: the CPU has AVX-512 F/BW/VL/VNNI (checked); the kernel checks the lengths.
                unsafe { x86::bytes_avx512(self, g, batches, &s.xc, dst) };
                return Ok(());
            }
            // SAFETY: the CPU has AVX2 (checked); the kernel checks the lengths.
            unsafe { x86::bytes_avx2(self, g, batches, &s.xc, dst, signed) };
            return Ok(());
        }
        if s.acc.len() < n + 16 {
            s.acc.resize(n + 16, 0);
        }
        self.accumulate(path, g, batches, &s.xc, &mut s.acc);
        self.requant.apply_into(path, &mut s.acc[..n], self.output_dtype, out);
        Ok(())
    }

    /// `acc[p·out_c + c]` for every output position `p` of `batches` samples.
    fn accumulate(&self, path: KernelPath, g: &Geometry, batches: usize, xc: &[i16], acc: &mut [i32]) {
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        if path == KernelPath::Avx512Vnni && path.is_available() {
            // SAFETY: the CPU has AVX-512 F/BW/VNNI (checked); the buffers are sized by `eval_into`.
            return unsafe { x86::accumulate_avx512(self, g, batches, xc, acc) };
        }
        #[cfg(target_arch = "x86_64")]
        if path != KernelPath::Scalar && KernelPath::Avx2.is_available() {
            // SAFETY: the CPU has AVX2 (checked); the buffers are sized by `eval_into`.
            return unsafe { x86::accumulate_avx2(self, g, batches, xc, acc) };
        }
        let _ = path;
        self.accumulate_scalar(g, batches, xc, acc);
    }

    /// The corner of every output position of `batches` samples, in output order.
    fn corners<'a>(&'a self, g: &'a Geometry, batches: usize) -> impl Iterator<Item = usize> + 'a {
        let ic = g.in_c;
        (0..batches).flat_map(move |b| {
            (0..g.out_h).flat_map(move |oy| (0..g.out_w).map(move |ox| ((b * self.hp + oy * g.stride_h) * self.wp + ox * g.stride_w) * ic))
        })
    }

    /// The definition, one position and channel at a time.
    fn accumulate_scalar(&self, g: &Geometry, batches: usize, xc: &[i16], acc: &mut [i32]) {
        let m = g.out_c;
        for (p, base) in self.corners(g, batches).enumerate() {
            for c in 0..m {
                let mut a = 0i32;
                for (j, &off) in self.pair_off.iter().enumerate() {
                    let w = self.weights[j * self.lanes + c];
                    let (lo, hi) = (w as i16 as i32, (w >> 16) as i16 as i32);
                    a = a.wrapping_add(xc[base + off] as i32 * lo).wrapping_add(xc[base + off + 1] as i32 * hi);
                }
                acc[p * m + c] = a;
            }
        }
    }
}
