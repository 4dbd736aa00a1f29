//! DEPTHWISE_CONV_2D for the outputs-only fast path: the reference sum,
//! computed a whole output row at a time in channel vectors, then the shared
//! vectorised per-channel requantization ([`RequantTable`], the bias as its
//! offset).
//!
//! # The derivation
//!
//! The reference ([`super::depthwise_conv`]) sums, for output `(oy, ox, c)`,
//! `(x − Z1)·(W[t][c] − Z2)` over the taps `t` that fall inside the input,
//! plus the bias, in a wrapping int32 accumulator (the true sum mod 2³²;
//! every product is exact, so the order of the additions cannot change a
//! bit). Three rewrites make that a SIMD loop with no test per element:
//!
//! 1. **A zero frame.** The input is copied once per image, centered
//!    (`x − Z1`, as i16), into a buffer framed by the padding, the frame 0.
//!    A tap on the frame adds `0·w = 0`: the same sum as skipping it, so the
//!    SAME borders and the interior run the same loop. Taps whose whole row
//!    (or, per pixel, whole column) lies in the frame are skipped outright —
//!    on 1×1 and 2×2 maps under a 5×5 kernel most taps are frame.
//! 2. **Rows as vectors.** With channels last, output row `oy` is one run
//!    `j = ox·C + c` of `L = out_w·C` accumulators. For stride 1, tap
//!    `(ky, kx)` reads padded row `oy + ky·dh` at `j + kx·dw·C`: a contiguous
//!    run. For a column stride `s > 1` the buffer stores each row's columns by
//!    phase (`pc mod s`, then `pc div s`): column `s·ox + kx·dw` is slot
//!    `ox + ⌊kx·dw/s⌋` of phase `kx·dw mod s`, so every tap again reads a
//!    contiguous run at a constant offset.
//! 3. **Weights by lane.** The weight of lane `j` is `w_t[j mod C]`. When `C`
//!    is a multiple of the block (16 lanes), every pixel's channels start a
//!    block and one run of `C` weights per tap serves every pixel; otherwise
//!    the weights are stored tiled along the whole row (in `prepare`).
//!
//! A depth multiplier `m > 1` repeats each input channel `m` times in the
//! copy (output channel `ic·m + k` reads input channel `ic`), which makes it
//! the `m = 1` case with `C = out_c`.
//!
//! So `acc[j] = Σ_t xc[off_t + j]·w_t[j]`: per block of 16 lanes one
//! accumulator register and per tap one widening load and one multiply-add
//! ([`x86`]: AVX2 and AVX-512). The portable path is the same loop in
//! plain Rust. The traced path ([`super::depthwise_conv::Params::eval`])
//! keeps the reference loop; the tests below compare every path against it,
//! and the golden tests compare both against the runtimes.

use super::conv::{taps_inside, Geometry, Requant};
use super::depthwise_conv::Params;
use super::gemm::KernelPath;
use super::requant::RequantTable;
use crate::error::EngineError;
use crate::model::DType;
use crate::tensor::{Data, Value};

#[cfg(target_arch = "x86_64")]
mod x86;

/// Lanes per block: the widest vector (16 i32 in a `zmm`); rows are padded to it.
const BLOCK: usize = 16;
/// Elements of readable slack after the padded input (a block's overrun).
const SLACK: usize = BLOCK;

/// The layer's fast form, computed once in `prepare` from the geometry.
#[derive(Clone, Debug)]
pub struct Packed {
    /// `Z1`, subtracted in the copy.
    z1: i32,
    /// Output channels `C` (= `in_c · mult`).
    channels: usize,
    mult: usize,
    /// Padded rows (`(out_h − 1)·sh + (k_h − 1)·dh + 1`).
    rows: usize,
    /// Padded columns (`(out_w − 1)·sw + (k_w − 1)·dw + 1`).
    cols: usize,
    /// Column slots per phase (`⌈cols / sw⌉`).
    slots: usize,
    /// Elements per padded row: `sw · slots · C`.
    row_len: usize,
    /// `L = out_w · C` and `L` rounded up to [`BLOCK`].
    len: usize,
    len_pad: usize,
    k_w: usize,
    /// Per tap `t = ky·k_w + kx`: where its run starts, relative to the row `oy·sh`.
    tap_offsets: Vec<usize>,
    /// Per output row: the taps rows `ky0..ky1` that are not all frame.
    ky_range: Vec<(usize, usize)>,
    /// Per weight segment (a pixel when `period = C`, else the whole row):
    /// the tap columns `kx0..kx1` that are not all frame.
    kx_range: Vec<(usize, usize)>,
    /// Lanes per weight run: `C` when `C` is a multiple of [`BLOCK`], else
    /// `len_pad` (tiled along the row).
    period: usize,
    /// Per tap, `period` lanes: `W − Z2` for channel `j mod C`, as an i32
    /// whose high 16 bits are zero (the low 16 the i16 `W − Z2`): the form
    /// `vpmaddwd` multiplies by a sign-extended input exactly.
    weights: Vec<i32>,
    /// The requantization: the profile's rounding, vectorised, the bias as offset.
    table: RequantTable,
}

/// The fast form of a DEPTHWISE_CONV_2D layer; `None` (the reference loop)
/// unless the input is int8/uint8 and every `W − Z2` fits i16 (always, for
/// the layers `prepare` accepts).
pub fn pack(input_dtype: DType, g: &Geometry, mult: usize, r: &Requant, centered: &[i32]) -> Option<Packed> {
    if !matches!(input_dtype, DType::I8 | DType::U8) || !(-32_000..=32_000).contains(&r.z1) {
        return None;
    }
    let c = g.out_c;
    let taps = g.k_h * g.k_w;
    if c == 0 || mult == 0 || c != g.in_c * mult || centered.len() != taps * c || r.multipliers.len() != c || r.bias.len() != c {
        return None;
    }
    if g.out_h == 0 || g.out_w == 0 || taps == 0 || g.stride_h == 0 || g.stride_w == 0 || centered.iter().any(|&w| i16::try_from(w).is_err()) {
        return None;
    }
    let rows = (g.out_h - 1) * g.stride_h + (g.k_h - 1) * g.dil_h + 1;
    let cols = (g.out_w - 1) * g.stride_w + (g.k_w - 1) * g.dil_w + 1;
    let s = g.stride_w;
    let slots = cols.div_ceil(s);
    let row_len = s * slots * c;
    let len = g.out_w * c;
    let len_pad = len.div_ceil(BLOCK) * BLOCK;
    let mut tap_offsets = Vec::with_capacity(taps);
    for ky in 0..g.k_h {
        for kx in 0..g.k_w {
            let col = kx * g.dil_w;
            tap_offsets.push(ky * g.dil_h * row_len + ((col % s) * slots + col / s) * c);
        }
    }
    let period = if c % BLOCK == 0 { c } else { len_pad };
    let mut weights = Vec::with_capacity(taps * period);
    for t in 0..taps {
        weights.extend((0..period).map(|j| centered[t * c + j % c] as i16 as u16 as i32));
    }
    let ky_range = (0..g.out_h).map(|oy| taps_inside(oy * g.stride_h, g.k_h, g.dil_h, g.pad_h, g.in_h)).collect();
    let kx_range = if period == c {
        (0..g.out_w).map(|ox| taps_inside(ox * g.stride_w, g.k_w, g.dil_w, g.pad_w, g.in_w)).collect()
    } else {
        vec![(0, g.k_w)]
    };
    Some(Packed {
        z1: r.z1,
        channels: c,
        mult,
        rows,
        cols,
        slots,
        row_len,
        len,
        len_pad,
        k_w: g.k_w,
        tap_offsets,
        ky_range,
        kx_range,
        period,
        weights,
        table: RequantTable::from_conv(r),
    })
}

/// Buffers the fast DEPTHWISE_CONV_2D reuses between calls.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    /// One image's padded (and phase-ordered) input, `x − Z1`.
    padded: Vec<i16>,
    /// The accumulators, then the requantized outputs, of every image.
    acc: Vec<i32>,
}

/// 8-bit input elements, widened and centered by the copy.
trait Byte: Copy {
    fn centered(self, z1: i32) -> i16;
}
impl Byte for i8 {
    #[inline]
    fn centered(self, z1: i32) -> i16 {
        (self as i32 - z1) as i16
    }
}
impl Byte for u8 {
    #[inline]
    fn centered(self, z1: i32) -> i16 {
        (self as i32 - z1) as i16
    }
}

impl Packed {
    /// Copy image `x` (`in_h × in_w × in_c`) into `padded` as `x − Z1`: the
    /// frame 0, columns by phase, channels repeated `mult` times.
    fn pad_image<T: Byte>(&self, g: &Geometry, x: &[T], padded: &mut Vec<i16>) {
        // Only the frame is zeroed: every interior element is written below.
        // (The buffer is shared by every depthwise layer of the plan, so the
        // frame is not left over from this layer's last call.)
        padded.resize(self.rows * self.row_len + SLACK, 0);
        padded[self.rows * self.row_len..].fill(0);
        let (c, ic, s, z1) = (self.channels, g.in_c, g.stride_w, self.z1);
        // Input columns that land inside the padded width.
        let first = g.pad_w.min(self.cols);
        let last = (g.pad_w + g.in_w).min(self.cols).max(first);
        for r in 0..self.rows {
            let dst = &mut padded[r * self.row_len..(r + 1) * self.row_len];
            let Some(iy) = r.checked_sub(g.pad_h).filter(|&iy| iy < g.in_h && first < last) else {
                dst.fill(0);
                continue;
            };
            for pc in (0..first).chain(last..s * self.slots) {
                let at = ((pc % s) * self.slots + pc / s) * c;
                dst[at..at + c].fill(0);
            }
            let src = &x[iy * g.in_w * ic..(iy + 1) * g.in_w * ic];
            if s == 1 && self.mult == 1 {
                let d = &mut dst[first * c..last * c];
                for (d, &v) in d.iter_mut().zip(&src[(first - g.pad_w) * ic..(last - g.pad_w) * ic]) {
                    *d = v.centered(z1);
                }
                continue;
            }
            for pc in first..last {
                let at = ((pc % s) * self.slots + pc / s) * c;
                let px = &src[(pc - g.pad_w) * ic..(pc - g.pad_w + 1) * ic];
                let d = &mut dst[at..at + c];
                if self.mult == 1 {
                    for (d, &v) in d.iter_mut().zip(px) {
                        *d = v.centered(z1);
                    }
                } else {
                    for (d, &v) in d.chunks_exact_mut(self.mult).zip(px) {
                        d.fill(v.centered(z1));
                    }
                }
            }
        }
    }

    /// The portable accumulation of one image: `acc[oy·L + j]` (bias not included).
    fn rows_portable(&self, g: &Geometry, padded: &[i16], acc: &mut [i32]) {
        let l = self.len;
        for oy in 0..g.out_h {
            let xrow = &padded[oy * g.stride_h * self.row_len..];
            let (ky0, ky1) = self.ky_range[oy];
            for (si, seg) in (0..l).step_by(self.period).enumerate() {
                let (kx0, kx1) = self.kx_range[si.min(self.kx_range.len() - 1)];
                let n = self.period.min(l - seg);
                let a = &mut acc[oy * l + seg..oy * l + seg + n];
                a.fill(0);
                for ky in ky0..ky1 {
                    for kx in kx0..kx1 {
                        let t = ky * self.k_w + kx;
                        let off = self.tap_offsets[t] + seg;
                        let w = &self.weights[t * self.period..t * self.period + n];
                        for ((a, &xv), &wv) in a.iter_mut().zip(&xrow[off..off + n]).zip(w) {
                            *a = a.wrapping_add(xv as i32 * wv as i16 as i32);
                        }
                    }
                }
            }
        }
    }
}

impl Params {
    /// Evaluate into `out`, reusing its buffer and `s`: the outputs-only
    /// fast path. `input` may hold several samples; `out` gets as many (its
    /// shape is left alone). Without packed weights this is [`Params::eval`].
    pub fn eval_into(&self, path: KernelPath, input: &Value, out: &mut Value, s: &mut Scratch) -> Result<(), EngineError> {
        let Some(pk) = &self.packed else {
            *out = self.eval(input)?;
            return Ok(());
        };
        let g = &self.geometry;
        let batches = g.samples_in(input.len(), self.input)?;
        let per_in = g.in_h * g.in_w * g.in_c;
        let per_out = g.out_h * pk.len;
        // Every lane is written by the row loops: grow only, no zeroing per call.
        if s.acc.len() < batches * per_out + BLOCK {
            s.acc.resize(batches * per_out + BLOCK, 0);
        }
        for b in 0..batches {
            match &input.data {
                Data::I8(x) => pk.pad_image(g, &x[b * per_in..(b + 1) * per_in], &mut s.padded),
                Data::U8(x) => pk.pad_image(g, &x[b * per_in..(b + 1) * per_in], &mut s.padded),
                _ => return Err(EngineError::BadInput(format!("tensor {} is {}, not the conv's input dtype", self.input, input.dtype()))),
            }
            let acc = &mut s.acc[b * per_out..];
            match path {
                #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
                KernelPath::Avx512Vnni if KernelPath::Avx512Vnni.is_available() => unsafe {
                    // SAFETY: the CPU has AVX-512F/BW/VNNI (checked above); `padded` has SLACK
                    // elements after its rows and `acc` BLOCK lanes after this image's rows.
                    x86::rows_avx512(pk, g, &s.padded, acc)
                },
                #[cfg(target_arch = "x86_64")]
                KernelPath::Avx2 | KernelPath::Avx512Vnni if KernelPath::Avx2.is_available() => unsafe {
                    // SAFETY: the CPU has AVX2 (checked above); slack as above.
                    x86::rows_avx2(pk, g, &s.padded, acc)
                },
                _ => pk.rows_portable(g, &s.padded, acc),
            }
        }
        let all = &mut s.acc[..batches * per_out];
        pk.table.apply(path, all);
        super::narrow_into(self.requant.output_dtype, all, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
