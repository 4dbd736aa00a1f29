//! DEPTHWISE_CONV_2D for the outputs-only fast path: one pass per output
//! pixel — accumulate a vector of channels over the taps inside the input,
//! requantize it in registers, narrow and store its bytes — reading the
//! input in place (no padded copy) and writing the output once.
//!
//! # The derivation
//!
//! The reference ([`super::depthwise_conv`]) sums, for output `(oy, ox, c)`,
//! `(x − Z1)·(W[t][c] − Z2)` over the taps `t` that fall inside the input,
//! plus the bias, in a wrapping int32 accumulator (the true sum mod 2³²;
//! every product is exact, so the order of the additions cannot change a
//! bit). Three rewrites make that a SIMD loop with no test per element:
//!
//! 1. **The taps inside are a rectangle.** Along each axis the taps whose
//!    input position lands inside the input are one run `k0..k1`
//!    ([`taps_inside`]); a pixel's taps are the product of its row's run and
//!    its column's run. Computed once per output row and per output column
//!    in `prepare`, they replace the padding: the loop visits exactly the
//!    taps the reference visits, reading the input where it lies. (On a
//!    1×1 map under a 5×5 kernel that is 1 tap of 25.)
//! 2. **Z1 folded into the bias.** `Σ (x − Z1)·w + b = Σ x·w + (b − Z1·Σ w)`
//!    mod 2³², where both sums run over the pixel's rectangle. The
//!    rectangle is one of a few *classes* (the distinct row runs times the
//!    distinct column runs: 9 for a 3×3 SAME layer, whatever its size), so
//!    `offset[class][c] = b[c] − Z1·Σ_rect w[t][c]` is a table made in
//!    `prepare`, and the loop multiplies raw input bytes.
//! 3. **Channels as lanes.** With channels last, the `C` channels of one
//!    input pixel are contiguous, and so are the `C` weights of one tap (the
//!    filter is `[1, k_h, k_w, C]`). One block of 8 or 16 channels: the
//!    accumulators start at the class's offsets; per tap one widening load
//!    of the input bytes and one multiply-add by the tap's weights; then
//!    the profile's rounding in registers
//!    ([`requantize8`](super::requant::requantize8)), the clamp, two packs,
//!    one store of the output bytes. A channel count that is not a multiple
//!    of 16 ends with a block of 8 and at most one partial block.
//! 4. **Narrow layers: pixels as lanes too.** When `C` is not a multiple of
//!    16 and the column stride is 1, the pixels `a..b` of the longest run of
//!    columns of one class are, for every tap, one contiguous run of
//!    `(b − a)·C` input bytes, and their outputs one run of output bytes:
//!    lane `j` is channel `j mod C` of pixel `a + j div C`. With weights,
//!    offsets and multipliers tiled to that period (a [`Run`], in
//!    `prepare`), the run is one wide pixel: 8 channels (CNN's first
//!    depthwise layer) become 16-lane blocks with no partial block.
//!
//! A depth multiplier `m > 1` (output channel `ic·m + k` reads input channel
//! `ic`) first repeats each input channel `m` times into a scratch image,
//! which makes it the `m = 1` case with `C = out_c`.
//!
//! The portable path is the same loop in plain Rust, requantizing by
//! [`RequantTable::apply_scalar`]. The traced path
//! ([`super::depthwise_conv::Params::eval`]) keeps the reference loop; the
//! tests compare every path against it, and the golden tests compare both
//! against the runtimes.

use super::conv::{taps_inside, Geometry, Requant};
use super::depthwise_conv::Params;
use super::gemm::KernelPath;
use super::requant::RequantTable;
use crate::error::EngineError;
use crate::model::DType;
use crate::tensor::{Data, Value};

#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
mod vnni;

/// Lanes per block: the widest vector (16 i32 in a `zmm`); tables are padded to it.
const BLOCK: usize = 16;

/// One output row's (or column's) taps inside the input.
#[derive(Clone, Copy, Debug)]
struct Span {
    /// The taps `k0..k1` inside (empty when the window misses the input).
    k0: usize,
    k1: usize,
    /// The input row (column) of tap `k0` (0 when there is none).
    start: usize,
    /// Which distinct run `k0..k1` this is, among the rows' (columns') runs.
    class: usize,
}

/// The runs of taps inside of every output position along one axis, and how many distinct runs there are.
fn spans(out: usize, stride: usize, k: usize, d: usize, pad: usize, n: usize) -> (Vec<Span>, usize) {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let spans = (0..out)
        .map(|o| {
            let (k0, k1) = taps_inside(o * stride, k, d, pad, n);
            let class = runs.iter().position(|&r| r == (k0, k1)).unwrap_or_else(|| {
                runs.push((k0, k1));
                runs.len() - 1
            });
            let start = if k0 < k1 { o * stride + k0 * d - pad } else { 0 };
            Span { k0, k1, start, class }
        })
        .collect();
    (spans, runs.len())
}

/// The longest run `a..b` of consecutive columns of one class (`0..0` for none).
fn longest_run(cols: &[Span]) -> (usize, usize) {
    let (mut a, mut b, mut start) = (0, 0, 0);
    for ox in 1..=cols.len() {
        if ox == cols.len() || cols[ox].class != cols[start].class {
            if ox - start > b - a {
                (a, b) = (start, ox);
            }
            start = ox;
        }
    }
    (a, b)
}

/// Output columns `a..b` (one class, column stride 1) as one pixel of
/// `(b − a)·C` lanes, lane `j` being channel `j mod C`: the tables tiled.
#[derive(Clone, Debug)]
struct Run {
    a: usize,
    b: usize,
    /// `(b − a)·C`, and rounded up to [`BLOCK`].
    lanes: usize,
    lpad: usize,
    /// As [`Packed::weights`], `lpad` lanes per tap.
    weights: Vec<u8>,
    /// Per row class, `lpad` lanes: the offsets of the run's class.
    offsets: Vec<i32>,
    /// The requantization, one "channel" per lane.
    table: RequantTable,
}

impl Run {
    /// The longest run of at least two columns of one class, when `C` is
    /// not a multiple of [`BLOCK`] and the column stride is 1.
    fn new(pk: &Packed, g: &Geometry, multipliers: &[crate::profile::Multiplier]) -> Option<Run> {
        let c = pk.channels;
        if c % BLOCK == 0 || g.stride_w != 1 {
            return None;
        }
        let (a, b) = longest_run(&pk.cols);
        if b - a < 2 {
            return None;
        }
        let lanes = (b - a) * c;
        let lpad = lanes.div_ceil(BLOCK) * BLOCK;
        let (wb, taps, cc) = (pk.wbytes, g.k_h * g.k_w, pk.cols[a].class);
        let mut weights = vec![0u8; taps * lpad * wb];
        for t in 0..taps {
            for j in 0..lanes {
                let from = (t * pk.cpad + j % c) * wb;
                weights[(t * lpad + j) * wb..][..wb].copy_from_slice(&pk.weights[from..from + wb]);
            }
        }
        let row_classes = pk.offsets.len() / (pk.col_classes * pk.cpad);
        let mut offsets = vec![0i32; row_classes * lpad];
        for rc in 0..row_classes {
            for j in 0..lanes {
                offsets[rc * lpad + j] = pk.offsets[(rc * pk.col_classes + cc) * pk.cpad + j % c];
            }
        }
        let tiled: Vec<_> = (0..lanes).map(|j| multipliers[j % c]).collect();
        let t = &pk.table;
        let table = RequantTable::new(t.rounding, &tiled, t.z3, t.act_min, t.act_max);
        Some(Run { a, b, lanes, lpad, weights, offsets, table })
    }
}

/// The layer's fast form, computed once in `prepare`.
#[derive(Clone, Debug)]
pub struct Packed {
    /// The input (and output) byte type.
    dtype: DType,
    /// Output channels `C` (= `in_c · mult`) and `C` rounded up to [`BLOCK`].
    channels: usize,
    cpad: usize,
    mult: usize,
    /// Per tap `t = ky·k_w + kx`, `cpad` lanes: `W − Z2` of channel `c`, as
    /// one byte (i8) for an int8 layer (`Z2 = 0`), as two (i16, little-endian)
    /// for a uint8 one (`W − Z2 ∈ [−255, 255]`): the layer's weights are read
    /// once per image, so their size is what the loop streams from the caches.
    weights: Vec<u8>,
    /// Bytes per weight: 1 (int8) or 2 (uint8).
    wbytes: usize,
    /// Per output row and per output column: its taps inside.
    rows: Vec<Span>,
    cols: Vec<Span>,
    /// Distinct column runs (the class of pixel `(oy, ox)` is `rows[oy].class · col_classes + cols[ox].class`).
    col_classes: usize,
    /// Per class, `cpad` lanes: `bias − Z1·Σ_rect (W − Z2)` (wrapping).
    offsets: Vec<i32>,
    /// The requantization (no offset: the accumulators start at `offsets`).
    table: RequantTable,
    /// The columns taken as one wide pixel by the SIMD loops, if any.
    run: Option<Run>,
    /// The AVX-512 VNNI form (int8 layers, when the CPU has it).
    #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
    vnni: Option<Box<vnni::Vnni>>,
}

/// The fast form of a DEPTHWISE_CONV_2D layer; `None` (the reference loop)
/// unless input and output are the same 8-bit type and every `W − Z2` fits
/// i16 (always, for the layers `prepare` accepts).
pub fn pack(input_dtype: DType, g: &Geometry, mult: usize, r: &Requant, centered: &[i32]) -> Option<Packed> {
    if !matches!(input_dtype, DType::I8 | DType::U8) || r.output_dtype != input_dtype {
        return None;
    }
    let c = g.out_c;
    let taps = g.k_h * g.k_w;
    if c == 0 || mult == 0 || c != g.in_c * mult || centered.len() != taps * c || r.multipliers.len() != c || r.bias.len() != c {
        return None;
    }
    // int8: one byte per weight; uint8: two.
    let wbytes = if input_dtype == DType::I8 { 1 } else { 2 };
    let fits = |w: i32| if wbytes == 1 { i8::try_from(w).is_ok() } else { i16::try_from(w).is_ok() };
    if g.out_h == 0 || g.out_w == 0 || taps == 0 || g.stride_h == 0 || g.stride_w == 0 || !centered.iter().all(|&w| fits(w)) {
        return None;
    }
    let cpad = c.div_ceil(BLOCK) * BLOCK;
    let mut weights = vec![0u8; taps * cpad * wbytes];
    for t in 0..taps {
        for (lane, &w) in weights[t * cpad * wbytes..(t * cpad + c) * wbytes].chunks_exact_mut(wbytes).zip(&centered[t * c..(t + 1) * c]) {
            lane.copy_from_slice(&(w as i16).to_le_bytes()[..wbytes]);
        }
    }
    let (rows, row_classes) = spans(g.out_h, g.stride_h, g.k_h, g.dil_h, g.pad_h, g.in_h);
    let (cols, col_classes) = spans(g.out_w, g.stride_w, g.k_w, g.dil_w, g.pad_w, g.in_w);
    let mut offsets = vec![0i32; row_classes * col_classes * cpad];
    let first = |spans: &[Span], class: usize| spans.iter().find(|s| s.class == class).map_or((0, 0), |s| (s.k0, s.k1));
    for rc in 0..row_classes {
        let (ky0, ky1) = first(&rows, rc);
        for cc in 0..col_classes {
            let (kx0, kx1) = first(&cols, cc);
            let o = &mut offsets[(rc * col_classes + cc) * cpad..][..c];
            for (ch, o) in o.iter_mut().enumerate() {
                let mut sum = 0i32;
                for ky in ky0..ky1 {
                    for kx in kx0..kx1 {
                        sum = sum.wrapping_add(centered[(ky * g.k_w + kx) * c + ch]);
                    }
                }
                *o = r.bias[ch].wrapping_sub(r.z1.wrapping_mul(sum));
            }
        }
    }
    let mut pk = Packed {
        dtype: input_dtype,
        channels: c,
        cpad,
        mult,
        weights,
        wbytes,
        rows,
        cols,
        col_classes,
        offsets,
        table: RequantTable::new(r.rounding, &r.multipliers, r.z3, r.act_min, r.act_max),
        run: None,
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        vnni: None,
    };
    pk.run = Run::new(&pk, g, &r.multipliers);
    #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
    if input_dtype == DType::I8 && pk.table.vectorised() && vnni::available() {
        pk.vnni = Some(Box::new(vnni::Vnni::new(&pk, g, centered, &r.bias, r.z1, &r.multipliers)));
    }
    Some(pk)
}

/// Buffers the fast DEPTHWISE_CONV_2D reuses between calls.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    /// One image with each channel repeated `mult` times (depth multiplier > 1 only).
    expanded: Vec<u8>,
    /// One pixel's accumulators (the portable path).
    acc: Vec<i32>,
    /// One image with every byte XOR 0x80 (the VNNI kernel's unsigned input).
    flipped: Vec<u8>,
}

fn bytes(v: &[i8]) -> &[u8] {
    // SAFETY: i8 and u8 have the same size and alignment; every bit pattern is valid.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len()) }
}

/// `out` as `n` bytes of `dtype` (I8 or U8), reusing its buffer.
fn bytes_out(out: &mut Value, dtype: DType, n: usize) -> &mut [u8] {
    let ok = matches!((&out.data, dtype), (Data::U8(_), DType::U8) | (Data::I8(_), DType::I8));
    if !ok {
        out.data = if dtype == DType::I8 { Data::I8(Vec::new()) } else { Data::U8(Vec::new()) };
    }
    match &mut out.data {
        Data::I8(o) => {
            o.resize(n, 0);
            // SAFETY: as in `bytes`, and the borrow is exclusive.
            unsafe { std::slice::from_raw_parts_mut(o.as_mut_ptr() as *mut u8, n) }
        }
        Data::U8(o) => {
            o.resize(n, 0);
            o
        }
        // Made I8 or U8 above.
        _ => &mut [],
    }
}

/// `x` (pixels of `ic` channels) with each channel repeated `m` times, into `buf`.
fn expand(x: &[u8], ic: usize, m: usize, buf: &mut Vec<u8>) {
    buf.clear();
    for px in x.chunks_exact(ic) {
        for &v in px {
            buf.extend(std::iter::repeat(v).take(m));
        }
    }
}

impl Packed {
    /// Requantized outputs of one image (`x`: `in_h × in_w × C` bytes) into
    /// `out` (`out_h × out_w × C` bytes): portable Rust.
    fn image_portable(&self, g: &Geometry, x: &[u8], out: &mut [u8], acc: &mut Vec<i32>) {
        let (c, cp) = (self.channels, self.cpad);
        let signed = self.dtype == DType::I8;
        acc.resize(c, 0);
        for (oy, r) in self.rows.iter().enumerate() {
            for (ox, s) in self.cols.iter().enumerate() {
                let class = r.class * self.col_classes + s.class;
                acc.copy_from_slice(&self.offsets[class * cp..class * cp + c]);
                for (i, ky) in (r.k0..r.k1).enumerate() {
                    for (j, kx) in (s.k0..s.k1).enumerate() {
                        let at = ((r.start + i * g.dil_h) * g.in_w + s.start + j * g.dil_w) * c;
                        let w = &self.weights[(ky * g.k_w + kx) * cp * self.wbytes..][..c * self.wbytes];
                        for ((a, &xv), wv) in acc.iter_mut().zip(&x[at..at + c]).zip(w.chunks_exact(self.wbytes)) {
                            let (xv, wv) = if signed { (xv as i8 as i32, wv[0] as i8 as i32) } else { (xv as i32, i16::from_le_bytes([wv[0], wv[1]]) as i32) };
                            *a = a.wrapping_add(xv * wv);
                        }
                    }
                }
                self.table.apply_scalar(acc);
                for (o, &a) in out[(oy * g.out_w + ox) * c..][..c].iter_mut().zip(acc.iter()) {
                    *o = a as u8;
                }
            }
        }
    }

    /// One image on `path`.
    ///
    /// The choice of kernel, by measurement. int8 layers on
    /// [`KernelPath::Avx512Vnni`]: the `vpdpbusd` kernel ([`vnni`], four
    /// taps per instruction; ≈ 0.7× the AVX2 kernel's time on MobileNetV2's
    /// and EfficientNet-B0's depthwise layers, `scripts/bench_ab.py`).
    /// Otherwise the AVX2 kernel on both x86 paths: a plain AVX-512 variant
    /// (16 lanes per `zmm`, the multiply-add and accumulation of uint8
    /// layers in one `vpdpwssd`) measured 2–5 % slower per model on the Zen
    /// 4 this was tuned on (Zen 4 runs 512-bit integer ops as two 256-bit
    /// halves; the requantization, about half of the work, is 256-bit either
    /// way; in the VNNI kernel, two accumulators joined into one `zmm` and
    /// requantized by the shared 16-lane one-floor rule of
    /// [`requant_lanes`](super::requant_lanes) measured 3–16 % slower per
    /// MobileNetV2 / EfficientNet layer than two [`requantize8`](super::requant::requantize8)
    /// calls, so it keeps `requantize8`; a kernel that builds each input
    /// row's tap windows once and runs an output row as one vector measured
    /// 0.94–0.96× on 8×8 and 16×16 maps but 1.3–1.8× on 1×1, 2×2 and 5×5
    /// layers, and was not kept; nor was its form restricted to maps of at
    /// least 8×8 with each window built once per output row and input column
    /// (all taps as zero-padded kernel-row quadruples, no shuffle per
    /// pixel): 1.0–1.06× on MobileNetV2's 8×8 and 16×16 layers with 48
    /// channels, 1.45× on its 16-channel one. Without building the windows
    /// the 8×8 layer took the same time as the pixel kernel: these layers
    /// are bound by the requantization and the loads, not the interleaves;
    /// nor was XOR-ing the input as it is loaded on strided layers instead
    /// of the per-image flipped copy: 0.93–0.95× on the stride-2 layers,
    /// but with both forms in the kernel (a `const` flag) the stride-1
    /// layers measured 1.03–1.09×, `examples/fast_profile.rs layers`).
    /// The tests force every path.
    fn image(&self, path: KernelPath, g: &Geometry, x: &[u8], out: &mut [u8], acc: &mut Vec<i32>, flipped: &mut Vec<u8>) {
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        if let (KernelPath::Avx512Vnni, Some(v)) = (path, &self.vnni) {
            // SAFETY: `vnni` exists only when the CPU has the features (`pack`); `vnni` checks the lengths.
            return unsafe { vnni::image(self, v, g, x, out, flipped) };
        }
        let _ = flipped;
        #[cfg(target_arch = "x86_64")]
        if self.table.vectorised() && path != KernelPath::Scalar && KernelPath::Avx2.is_available() {
            // SAFETY: the CPU has AVX2 (checked above); `x86` checks the lengths.
            return unsafe { x86::image_avx2(self, g, x, out) };
        }
        let _ = path;
        self.image_portable(g, x, out, acc)
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
        let x: &[u8] = match (&input.data, pk.dtype) {
            (Data::I8(x), DType::I8) => bytes(x),
            (Data::U8(x), DType::U8) => x,
            _ => return Err(EngineError::BadInput(format!("tensor {} is {}, not the conv's input dtype", self.input, input.dtype()))),
        };
        let per_in = g.in_h * g.in_w * g.in_c;
        let per_out = g.out_h * g.out_w * pk.channels;
        let dst = bytes_out(out, pk.dtype, batches * per_out);
        let Scratch { expanded, acc, flipped } = s;
        for b in 0..batches {
            let img = &x[b * per_in..(b + 1) * per_in];
            let img: &[u8] = if pk.mult == 1 {
                img
            } else {
                expand(img, g.in_c, pk.mult, expanded);
                expanded
            };
            pk.image(path, g, img, &mut dst[b * per_out..(b + 1) * per_out], acc, flipped);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
