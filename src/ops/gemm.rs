//! The integer matrix product behind FULLY_CONNECTED, packed once and run
//! with SIMD where the CPU has it.
//!
//! Every path computes exactly (mod 2³², like the runtimes' int32
//! accumulators)
//!
//! ```text
//!     dot[b][c] = Σ_k xu[b][k] · w8[c][k]      xu: u8 (input + offset),  w8: i8 (weights − offset)
//! ```
//!
//! and the caller folds the zero points in (see
//! [`crate::ops::fully_connected`]). Because the sum is exact in wrapping
//! i32 arithmetic, the fold and the order of additions cannot change a bit.
//!
//! # Paths ([`KernelPath`])
//!
//! * `Scalar`: portable Rust, any CPU.
//! * `Avx2`: `vpmaddubsw` + `vpmaddwd`. `vpmaddubsw` saturates its i16 pair
//!   sums, so it is fed a saturation-free pair: `|x8|` (u8, ≤ 128) and
//!   `sign(x8)·w8` (i8, needs `w8 ≠ −128`), where `x8 = xu − 128`; each pair
//!   sum is then at most 2·128·127 = 32 512 < 32 767. The packer picks the
//!   weight offset so that `w8 ∈ [−127, 127]` whenever the weights span at
//!   most 255 values; otherwise (a uint8 layer using both 0 and 255) the
//!   layer runs a `vpmovsxbw` + `vpmaddwd` (i16) kernel instead.
//! * `Avx512Vnni`: `vpdpbusd` multiplies u8 × i8 and sums four products into
//!   an i32 lane with no intermediate saturation, so it takes `xu` and `w8`
//!   as they are.
//!
//! # Layout
//!
//! Output channels are grouped into panels of 16; the inputs into quads of
//! 4 (zero-padded). Panel `p`, quad `q` is one 64-byte block holding
//! `w8[16p + j][4q + t]` at byte `4j + t`: a `zmm` for VNNI (16 lanes × 4
//! bytes), two `ymm` for AVX2, and the same bytes for the scalar loop.

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use crate::error::EngineError;

/// Output channels per panel.
pub const PANEL: usize = 16;
/// Inputs per quad.
pub const QUAD: usize = 4;

/// Which inner loop runs the integer matrix products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelPath {
    /// Portable Rust.
    Scalar,
    /// x86-64 AVX2 (`vpmaddubsw`/`vpmaddwd`).
    Avx2,
    /// x86-64 AVX-512 VNNI (`vpdpbusd`).
    Avx512Vnni,
}

impl KernelPath {
    /// Every path, slowest first.
    pub const ALL: [KernelPath; 3] = [KernelPath::Scalar, KernelPath::Avx2, KernelPath::Avx512Vnni];

    /// The name used by `QUANTLENS_KERNEL` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Scalar => "scalar",
            KernelPath::Avx2 => "avx2",
            KernelPath::Avx512Vnni => "avx512vnni",
        }
    }

    /// Parse a name (`scalar`, `avx2`, `avx512vnni`).
    pub fn from_name(s: &str) -> Option<KernelPath> {
        KernelPath::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(s.trim()))
    }

    /// True when this CPU can run the path.
    pub fn is_available(self) -> bool {
        match self {
            KernelPath::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
            KernelPath::Avx512Vnni => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The paths this CPU can run, slowest first.
    pub fn available() -> Vec<KernelPath> {
        KernelPath::ALL.into_iter().filter(|p| p.is_available()).collect()
    }

    /// The fastest path this CPU can run.
    pub fn detect() -> KernelPath {
        *KernelPath::available().last().unwrap_or(&KernelPath::Scalar)
    }

    fn code(self) -> u8 {
        match self {
            KernelPath::Scalar => 1,
            KernelPath::Avx2 => 2,
            KernelPath::Avx512Vnni => 3,
        }
    }

    fn from_code(c: u8) -> Option<KernelPath> {
        KernelPath::ALL.into_iter().find(|p| p.code() == c)
    }
}

impl std::fmt::Display for KernelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Process-wide choice (0 = not chosen yet).
static GLOBAL_PATH: AtomicU8 = AtomicU8::new(0);

thread_local! {
    /// Per-thread override set by [`with_kernel_path`] (0 = none).
    static THREAD_PATH: Cell<u8> = const { Cell::new(0) };
}

fn default_path() -> KernelPath {
    static DEFAULT: OnceLock<KernelPath> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        // `QUANTLENS_KERNEL=scalar|avx2|avx512vnni`, read once; ignored if the CPU can't run it.
        match std::env::var("QUANTLENS_KERNEL").ok().as_deref().and_then(KernelPath::from_name) {
            Some(p) if p.is_available() => p,
            Some(p) => {
                eprintln!("quantlens: QUANTLENS_KERNEL={p} is not available on this CPU; using {}", KernelPath::detect());
                KernelPath::detect()
            }
            None => KernelPath::detect(),
        }
    })
}

/// The path the integer kernels use on this thread now: the
/// [`with_kernel_path`] override, else the [`set_kernel_path`] choice, else
/// `QUANTLENS_KERNEL` (read once), else the fastest available.
pub fn kernel_path() -> KernelPath {
    if let Some(p) = KernelPath::from_code(THREAD_PATH.with(Cell::get)) {
        return p;
    }
    KernelPath::from_code(GLOBAL_PATH.load(Ordering::Relaxed)).unwrap_or_else(default_path)
}

fn check_available(path: KernelPath) -> Result<(), EngineError> {
    if path.is_available() {
        Ok(())
    } else {
        Err(EngineError::BadInput(format!("kernel path {path} is not available on this CPU (available: {:?})", KernelPath::available())))
    }
}

/// Force a path for the whole process (fails if this CPU can't run it).
pub fn set_kernel_path(path: KernelPath) -> Result<(), EngineError> {
    check_available(path)?;
    GLOBAL_PATH.store(path.code(), Ordering::Relaxed);
    Ok(())
}

/// Run `f` with `path` forced on this thread only (batch runs pass the path
/// on to their worker threads). Fails if this CPU can't run the path.
pub fn with_kernel_path<R>(path: KernelPath, f: impl FnOnce() -> R) -> Result<R, EngineError> {
    check_available(path)?;
    let old = THREAD_PATH.with(|c| c.replace(path.code()));
    struct Restore(u8);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD_PATH.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(old);
    Ok(f())
}

/// One 64-byte block: 16 channels × 4 inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Block(pub [i8; 64]);

/// `w8` packed into panels (see the module docs), with the facts the
/// kernels and the zero-point fold need.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedWeights {
    /// Output channels.
    pub rows: usize,
    /// Inputs per output.
    pub cols: usize,
    /// Input quads (`cols` rounded up to a multiple of 4, over 4).
    pub quads: usize,
    /// Panels (`rows` rounded up to a multiple of 16, over 16).
    pub panels: usize,
    /// `panels × quads` blocks, panel-major.
    pub blocks: Vec<Block>,
    /// `Σ_k w8[c][k]` per output channel.
    pub row_sums: Vec<i32>,
    /// True when every `w8 ≠ −128`, so the AVX2 `vpmaddubsw` kernel is exact.
    pub no_min: bool,
    /// `128·Σ_k w8[c][k]` (wrapping), zero-padded to whole panels.
    row_sums_128: Vec<i32>,
}

impl PackedWeights {
    /// Pack `rows × cols` weights given row-major as i8.
    pub fn pack(rows: usize, cols: usize, w8: &[i8]) -> PackedWeights {
        assert_eq!(w8.len(), rows * cols);
        let quads = cols.div_ceil(QUAD);
        let panels = rows.div_ceil(PANEL);
        let mut blocks = vec![Block([0; 64]); panels * quads];
        for c in 0..rows {
            let (p, j) = (c / PANEL, c % PANEL);
            for k in 0..cols {
                let (q, t) = (k / QUAD, k % QUAD);
                blocks[p * quads + q].0[j * QUAD + t] = w8[c * cols + k];
            }
        }
        let row_sums: Vec<i32> = (0..rows).map(|c| w8[c * cols..(c + 1) * cols].iter().map(|&w| w as i32).sum()).collect();
        let no_min = w8.iter().all(|&w| w != i8::MIN);
        let mut row_sums_128: Vec<i32> = row_sums.iter().map(|s| s.wrapping_mul(128)).collect();
        row_sums_128.resize(panels * PANEL, 0);
        PackedWeights { rows, cols, quads, panels, blocks, row_sums, no_min, row_sums_128 }
    }

    /// Pack weights given as stored (int8 or uint8 values, row-major) as
    /// i8 `w8 = w − w_off`, with `w_off` near `base` (0 for int8 weights, 128
    /// for uint8) and chosen, when one exists, so that no `w8` is −128 (what
    /// the AVX2 sign kernel needs). Returns the packing and `w_off`; `None`
    /// only when no offset fits the values into i8 (not int8/uint8 data).
    pub fn pack_offset(rows: usize, cols: usize, w: &[i32], base: i32) -> Option<(PackedWeights, i32)> {
        let (lo, hi) = w.iter().fold((i64::MAX, i64::MIN), |(a, b), &v| (a.min(v as i64), b.max(v as i64)));
        let base = base as i64;
        let w_off = [base, base - 1, base + 1]
            .into_iter()
            .find(|&o| lo - o >= -127 && hi - o <= 127)
            .or_else(|| Some(base).filter(|&o| lo - o >= -128 && hi - o <= 127))?;
        let w8: Vec<i8> = w.iter().map(|&v| (v as i64 - w_off) as i8).collect();
        Some((PackedWeights::pack(rows, cols, &w8), w_off as i32))
    }

    /// The zero-point terms of every output, folded into one constant per
    /// channel (wrapping i32, like the runtimes' accumulators):
    /// `fold[c] = bias[c] − zu·Σ_k w8[c][k] + K·zu·z2'(c)`, with `K = cols`,
    /// `zu` the input zero point on the kernels' u8 grid and `z2'(c)` the
    /// weight zero point minus `w_off`.
    pub fn fold_zero_points(&self, bias: &[i32], zu: i32, z2p: impl Fn(usize) -> i32) -> Vec<i32> {
        let k = self.cols as i32;
        (0..self.rows)
            .map(|c| bias[c].wrapping_sub(zu.wrapping_mul(self.row_sums[c])).wrapping_add(k.wrapping_mul(zu).wrapping_mul(z2p(c))))
            .collect()
    }

    /// Length of one padded input row (`4 · quads`).
    pub fn padded_cols(&self) -> usize {
        self.quads * QUAD
    }

    /// `w8[c][k]` back from the packed blocks.
    pub fn get(&self, c: usize, k: usize) -> i8 {
        self.blocks[(c / PANEL) * self.quads + k / QUAD].0[(c % PANEL) * QUAD + k % QUAD]
    }
}

/// Scratch the kernels fill per call (AVX2: `x8` and `|x8|`; scalar: the repeated input); reuse it.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    signed: Vec<i8>,
    abs: Vec<u8>,
    repeated: Vec<u8>,
}

/// `out[b·rows + c] = Σ_k xu[b·stride + k] · w8[c][k]` for `b < batch`,
/// where `stride = w.padded_cols()` and each input row is zero-padded
/// past `w.cols`. Exact (wrapping) on every path.
pub fn matmul(path: KernelPath, w: &PackedWeights, xu: &[u8], batch: usize, out: &mut [i32], scratch: &mut Scratch) {
    matmul_xor(path, w, xu, 0, batch, out, scratch)
}

/// [`matmul`] on input bytes stored as `xu ^ x_xor`: with `x_xor = 0x80`
/// an int8 tensor's own bytes are the operand (`xu = x + 128` is `x`'s bit
/// pattern with the top bit flipped), so a caller need not convert it. The
/// kernels flip the bytes as they load them. The padding past `w.cols` may
/// hold anything (its weights are 0).
pub fn matmul_xor(path: KernelPath, w: &PackedWeights, x: &[u8], x_xor: u8, batch: usize, out: &mut [i32], scratch: &mut Scratch) {
    let stride = w.padded_cols();
    assert!(x.len() >= batch * stride, "input rows too short");
    assert!(out.len() >= batch * w.rows, "output too short");
    match path {
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        KernelPath::Avx512Vnni if KernelPath::Avx512Vnni.is_available() => unsafe {
            // SAFETY: the CPU has AVX-512F/BW/VNNI (checked above); sizes checked above.
            x86::matmul_vnni(w, x, x_xor, batch, out)
        },
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 | KernelPath::Avx512Vnni if KernelPath::Avx2.is_available() => unsafe {
            // SAFETY: the CPU has AVX2 (checked above); sizes checked above.
            if w.no_min {
                x86::matmul_avx2_sign(w, x, x_xor, batch, out, scratch)
            } else {
                x86::matmul_avx2_i16(w, x, x_xor, batch, out)
            }
        },
        _ => matmul_scalar(w, x, x_xor, batch, out, scratch),
    }
}

/// The portable path, over the same packed layout. Each input quad is
/// repeated 16 times (`xr`) so that the inner loop is a plain 64-lane
/// multiply-add the compiler vectorises for any target. Input bytes are `xu ^ x_xor`.
pub fn matmul_scalar(w: &PackedWeights, xu: &[u8], x_xor: u8, batch: usize, out: &mut [i32], s: &mut Scratch) {
    let stride = w.padded_cols();
    let xr = &mut s.repeated;
    for b in 0..batch {
        let x = &xu[b * stride..(b + 1) * stride];
        xr.clear();
        for q in x.chunks_exact(QUAD) {
            let q = [q[0] ^ x_xor, q[1] ^ x_xor, q[2] ^ x_xor, q[3] ^ x_xor];
            for _ in 0..PANEL {
                xr.extend_from_slice(&q);
            }
        }
        let o = &mut out[b * w.rows..(b + 1) * w.rows];
        for p in 0..w.panels {
            let blocks = &w.blocks[p * w.quads..(p + 1) * w.quads];
            // Two halves of 8 channels: 32 i32 lanes stay in registers.
            for h in 0..2 {
                let mut acc = [0i32; 32];
                for (blk, xq) in blocks.iter().zip(xr.chunks_exact(64)) {
                    let (wb, xb) = (&blk.0[32 * h..32 * h + 32], &xq[32 * h..32 * h + 32]);
                    for i in 0..32 {
                        // |u8 · i8| ≤ 32 640: the product fits i16 (cheap SIMD multiply on any target).
                        acc[i] = acc[i].wrapping_add((wb[i] as i16 * xb[i] as i16) as i32);
                    }
                }
                let c0 = p * PANEL + 8 * h;
                for j in 0..8.min(w.rows.saturating_sub(c0)) {
                    let a = &acc[j * QUAD..j * QUAD + QUAD];
                    o[c0 + j] = a[0].wrapping_add(a[1]).wrapping_add(a[2]).wrapping_add(a[3]);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{PackedWeights, Scratch, PANEL, QUAD};
    use std::arch::x86_64::*;

    /// Lane `j` of the two accumulators is channel `c0 + j`: store the valid ones.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn store_panel_ymm(o: &mut [i32], c0: usize, rows: usize, lo: __m256i, hi: __m256i) {
        let n = PANEL.min(rows - c0);
        if n == PANEL {
            _mm256_storeu_si256(o.as_mut_ptr().add(c0) as *mut __m256i, lo);
            _mm256_storeu_si256(o.as_mut_ptr().add(c0 + 8) as *mut __m256i, hi);
        } else {
            let mut tmp = [0i32; PANEL];
            _mm256_storeu_si256(tmp.as_mut_ptr() as *mut __m256i, lo);
            _mm256_storeu_si256(tmp.as_mut_ptr().add(8) as *mut __m256i, hi);
            o[c0..c0 + n].copy_from_slice(&tmp[..n]);
        }
    }

    /// Software prefetch distance (bytes ahead in the weight stream): ~10% faster here.
    const PREFETCH: usize = 1024;

    /// AVX2, `vpmaddubsw(|x8|, sign(w8, x8))` then `vpmaddwd(·, 1)`.
    /// Requires every `w8 ≠ −128`. Computes `Σ x8·w8` and adds `128·Σw8`
    /// to get `Σ xu·w8`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn matmul_avx2_sign(w: &PackedWeights, xu: &[u8], x_xor: u8, batch: usize, out: &mut [i32], s: &mut Scratch) {
        let stride = w.padded_cols();
        let n = batch * stride;
        // Grow only (the first n bytes are all written below): no memset per call.
        if s.signed.len() < n {
            s.signed.resize(n, 0);
            s.abs.resize(n, 0);
        }
        // x8 = xu ^ 0x80 = byte ^ x_xor ^ 0x80.
        let flip_byte = 0x80 ^ x_xor;
        let flip = _mm256_set1_epi8(flip_byte as i8);
        let mut i = 0;
        while i + 32 <= n {
            let x8 = _mm256_xor_si256(_mm256_loadu_si256(xu.as_ptr().add(i) as *const __m256i), flip);
            _mm256_storeu_si256(s.signed.as_mut_ptr().add(i) as *mut __m256i, x8);
            // |−128| = 128 as u8: what vpabsb gives.
            _mm256_storeu_si256(s.abs.as_mut_ptr().add(i) as *mut __m256i, _mm256_abs_epi8(x8));
            i += 32;
        }
        for k in i..n {
            let x8 = (xu[k] ^ flip_byte) as i8;
            s.signed[k] = x8;
            s.abs[k] = x8.unsigned_abs();
        }
        // Padding: xu = 0 → x8 = −128; the padded weights are 0, so the products vanish.
        let ones = _mm256_set1_epi16(1);
        let quads = w.quads;
        let mut b = 0;
        while b < batch {
            let nb = (batch - b).min(4);
            for p in 0..w.panels {
                let wp = w.blocks.as_ptr().add(p * quads) as *const u8;
                let mut acc = [[_mm256_setzero_si256(); 2]; 4];
                macro_rules! step {
                    ($nb:literal) => {
                        for q in 0..quads {
                            if PREFETCH > 0 {
                                _mm_prefetch::<_MM_HINT_T0>(wp.wrapping_add(q * 64 + PREFETCH) as *const i8);
                            }
                            let w0 = _mm256_load_si256(wp.add(q * 64) as *const __m256i);
                            let w1 = _mm256_load_si256(wp.add(q * 64 + 32) as *const __m256i);
                            for i in 0..$nb {
                                let off = (b + i) * stride + q * QUAD;
                                let xs = _mm256_set1_epi32((s.signed.as_ptr().add(off) as *const i32).read_unaligned());
                                let xa = _mm256_set1_epi32((s.abs.as_ptr().add(off) as *const i32).read_unaligned());
                                let p0 = _mm256_maddubs_epi16(xa, _mm256_sign_epi8(w0, xs));
                                let p1 = _mm256_maddubs_epi16(xa, _mm256_sign_epi8(w1, xs));
                                acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(p0, ones));
                                acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(p1, ones));
                            }
                        }
                    };
                }
                match nb {
                    4 => step!(4),
                    3 => step!(3),
                    2 => step!(2),
                    _ => step!(1),
                }
                let c0 = p * PANEL;
                // + 128·Σw8 turns Σ x8·w8 into Σ xu·w8.
                let c_lo = _mm256_loadu_si256(w.row_sums_128.as_ptr().add(c0) as *const __m256i);
                let c_hi = _mm256_loadu_si256(w.row_sums_128.as_ptr().add(c0 + 8) as *const __m256i);
                for (i, a) in acc.iter().enumerate().take(nb) {
                    let o = &mut out[(b + i) * w.rows..(b + i + 1) * w.rows];
                    store_panel_ymm(o, c0, w.rows, _mm256_add_epi32(a[0], c_lo), _mm256_add_epi32(a[1], c_hi));
                }
            }
            b += nb;
        }
    }

    /// AVX2 for weights that use −128: `vpmovsxbw` the weights to i16 and
    /// `vpmaddwd` with `xu` as i16 (no saturation possible).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn matmul_avx2_i16(w: &PackedWeights, xu: &[u8], x_xor: u8, batch: usize, out: &mut [i32]) {
        let stride = w.padded_cols();
        let xor4 = i32::from_ne_bytes([x_xor; 4]);
        let quads = w.quads;
        for b in 0..batch {
            let x = xu.as_ptr().add(b * stride);
            let o = &mut out[b * w.rows..(b + 1) * w.rows];
            for p in 0..w.panels {
                let wp = w.blocks.as_ptr().add(p * quads) as *const u8;
                // acc[h]: lanes = (channel, pair of inputs); h = which 4 channels.
                let mut acc = [_mm256_setzero_si256(); 4];
                for q in 0..quads {
                    _mm_prefetch::<_MM_HINT_T0>(wp.wrapping_add(q * 64 + PREFETCH) as *const i8);
                    // x quad as i16, repeated: [x0 x1 x2 x3] × 4.
                    let xq = _mm256_cvtepu8_epi16(_mm_set1_epi32((x.add(q * QUAD) as *const i32).read_unaligned() ^ xor4));
                    for (h, a) in acc.iter_mut().enumerate() {
                        let wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(wp.add(q * 64 + h * 16) as *const __m128i));
                        *a = _mm256_add_epi32(*a, _mm256_madd_epi16(wv, xq));
                    }
                }
                // acc[h] lane l = channel 4h + l/2, half l%2; pairwise add then reorder.
                let mut res = [0i32; PANEL];
                for h in 0..2 {
                    let s = _mm256_hadd_epi32(acc[2 * h], acc[2 * h + 1]);
                    // s = [c0 c1 c4 c5 | c2 c3 c6 c7] (relative to 8h) → [c0..c7].
                    let s = _mm256_permute4x64_epi64(s, 0b11_01_10_00);
                    _mm256_storeu_si256(res.as_mut_ptr().add(8 * h) as *mut __m256i, s);
                }
                let c0 = p * PANEL;
                let n = PANEL.min(w.rows - c0);
                o[c0..c0 + n].copy_from_slice(&res[..n]);
            }
        }
    }

    /// AVX-512 VNNI: `vpdpbusd(acc, broadcast(xu quad), w block)`.
    /// (Compiled only when build.rs found rustc ≥ 1.89, where these intrinsics
    /// are stable: the crate's MSRV does not apply to it.)
    #[cfg(quantlens_avx512)]
    #[allow(clippy::incompatible_msrv)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn matmul_vnni(w: &PackedWeights, xu: &[u8], x_xor: u8, batch: usize, out: &mut [i32]) {
        let stride = w.padded_cols();
        let xor4 = i32::from_ne_bytes([x_xor; 4]);
        let quads = w.quads;
        let mut b = 0;
        while b < batch {
            let nb = (batch - b).min(8);
            for p in 0..w.panels {
                let wp = w.blocks.as_ptr().add(p * quads) as *const u8;
                let mut acc = [_mm512_setzero_si512(); 8];
                macro_rules! step {
                    ($nb:literal) => {
                        for q in 0..quads {
                            let wv = _mm512_load_si512(wp.add(q * 64) as *const _);
                            for i in 0..$nb {
                                let xq = _mm512_set1_epi32((xu.as_ptr().add((b + i) * stride + q * QUAD) as *const i32).read_unaligned() ^ xor4);
                                acc[i] = _mm512_dpbusd_epi32(acc[i], xq, wv);
                            }
                        }
                    };
                }
                match nb {
                    8 => step!(8),
                    7 => step!(7),
                    6 => step!(6),
                    5 => step!(5),
                    4 => step!(4),
                    3 => step!(3),
                    2 => step!(2),
                    _ => step!(1),
                }
                let c0 = p * PANEL;
                let n = PANEL.min(w.rows - c0);
                // The valid lanes: all 16 but in a last partial panel.
                let mask: __mmask16 = if n == PANEL { !0 } else { (1u16 << n) - 1 };
                for (i, a) in acc.iter().enumerate().take(nb) {
                    _mm512_mask_storeu_epi32(out.as_mut_ptr().add((b + i) * w.rows + c0), mask, *a);
                }
            }
            b += nb;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testkit::lcg;

    fn reference(rows: usize, cols: usize, w8: &[i8], xu: &[u8], stride: usize, batch: usize) -> Vec<i32> {
        let mut out = vec![0; batch * rows];
        for b in 0..batch {
            for c in 0..rows {
                out[b * rows + c] = (0..cols).fold(0i32, |a, k| a.wrapping_add(xu[b * stride + k] as i32 * w8[c * cols + k] as i32));
            }
        }
        out
    }

    #[test]
    fn every_available_path_matches_the_definition() {
        let mut seed = 7u64;
        for &(rows, cols) in &[(1, 1), (3, 5), (16, 4), (17, 33), (100, 512), (10, 100), (40, 784)] {
            for full_range in [false, true] {
                for batch in [1, 2, 3, 4, 5, 9] {
                    let w8: Vec<i8> = (0..rows * cols)
                        .map(|i| match i % 11 {
                            0 if full_range => -128,
                            1 => 127,
                            2 => -127,
                            _ => ((lcg(&mut seed) % 255) as i32 - 127) as i8,
                        })
                        .collect();
                    let pw = PackedWeights::pack(rows, cols, &w8);
                    assert_eq!(pw.no_min, !w8.contains(&-128));
                    let stride = pw.padded_cols();
                    let mut xu = vec![0u8; batch * stride];
                    for b in 0..batch {
                        for k in 0..cols {
                            xu[b * stride + k] = match k % 7 {
                                0 => 0,
                                1 => 255,
                                2 => 128,
                                _ => lcg(&mut seed) as u8,
                            };
                        }
                    }
                    let want = reference(rows, cols, &w8, &xu, stride, batch);
                    // The same input as int8 bytes (xu ^ 0x80), flipped back by the kernels.
                    let xs: Vec<u8> = xu.iter().map(|&v| v ^ 0x80).collect();
                    for path in KernelPath::available() {
                        let mut got = vec![0; batch * rows];
                        matmul(path, &pw, &xu, batch, &mut got, &mut Scratch::default());
                        assert_eq!(got, want, "{path} rows {rows} cols {cols} batch {batch} full_range {full_range}");
                        let mut got = vec![0; batch * rows];
                        matmul_xor(path, &pw, &xs, 0x80, batch, &mut got, &mut Scratch::default());
                        assert_eq!(got, want, "{path} xor rows {rows} cols {cols} batch {batch} full_range {full_range}");
                    }
                }
            }
        }
    }

    #[test]
    fn path_override_is_per_thread_and_checked() {
        let outer = kernel_path();
        with_kernel_path(KernelPath::Scalar, || {
            assert_eq!(kernel_path(), KernelPath::Scalar);
            std::thread::spawn(move || assert_eq!(kernel_path(), outer)).join().unwrap();
        })
        .unwrap();
        assert_eq!(kernel_path(), outer);
        for p in KernelPath::ALL {
            assert_eq!(with_kernel_path(p, || ()).is_ok(), p.is_available());
        }
    }
}
