//! The outputs-only forms of the int8/uint8 element-wise ops, MEAN, the
//! pools and the pure moves: the same arithmetic as their reference `eval`,
//! written into the output's buffer (no allocation once the workspace is
//! warm), and for **several samples at once** (the batch runs of
//! [`crate::fast`] push a group of images through each layer).
//!
//! How many samples a buffer holds is read from its length, as the
//! convolutions do (`Geometry::samples_in`): a run-time operand holds
//! `rows` samples, a constant operand one, shared by all of them.
//!
//! * **One-input element-wise ops** (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU,
//!   RELU…, [`lut`]): an 8-bit input has 256 values, so the op *is* a
//!   256-entry table, probed from the op's own reference kernel; applied
//!   with `vpermb` lookups where the CPU has AVX-512 VBMI.
//! * **ADD, SUB, MUL** ([`binary`]): the reference kernel's arithmetic with
//!   the profile's rounding fixed per call, over contiguous rows of the
//!   broadcast ([`rows`]), in 8/16 lanes (AVX2 / AVX-512).
//! * **MUL by a gate** ([`gate`]): EfficientNet's squeeze-excitation
//!   `(1, H, W, C) × (1, 1, 1, C)` (or a same-shape MUL), the gate centred
//!   once per sample (through its LOGISTIC's table when fused), then one
//!   loop over the rows.
//! * **The double rounding in i32 lanes** ([`fixed`]): MUL, ADD and MEAN's
//!   `SRDHM` + `RoundingDivideByPOT` assembled from 32-bit products, exact
//!   for the operands 8-bit inputs give (16 lanes instead of 8 of i64).
//! * **MEAN, MAX_POOL_2D, AVERAGE_POOL_2D** ([`reduce`]): int32 sums or
//!   maxima a channel row at a time, then the kernel's own finish.
//! * **CONCATENATION, PAD** ([`moves`]): copies (and a fill), no per-element
//!   index arithmetic.

pub mod binary;
pub mod fixed;
pub mod gate;
pub mod lut;
pub mod moves;
pub mod reduce;
pub mod rows;
// add_ties (issue 14): LiteRT builtin's NEON-block ADD
mod add_neon;
#[cfg(test)]
mod tests;

pub use binary::{add_into, mul_into, AddTables};
pub use gate::{gate_into, gate_len, GateScratch};
pub use lut::Lut;
pub use moves::{concat_into, pad_into};
pub use reduce::{mean_into, mean_table, pool_into};
pub use rows::for_each_row;

use crate::tensor::{Data, Value};

/// `out`'s data as a buffer of one 8-bit type (replacing another dtype's):
/// `i8_buffer`, `u8_buffer`.
macro_rules! buffer {
    ($name:ident, $variant:ident, $t:ty) => {
        pub(crate) fn $name(out: &mut Value) -> &mut Vec<$t> {
            if !matches!(out.data, Data::$variant(_)) {
                out.data = Data::$variant(Vec::new());
            }
            match &mut out.data {
                Data::$variant(v) => v,
                _ => unreachable!("set above"),
            }
        }
    };
}
buffer!(i8_buffer, I8, i8);
buffer!(u8_buffer, U8, u8);

/// `o` holding `n` elements for a kernel that then writes every one of
/// them: resized (zero-filled) only when its length differs, so a warm
/// workspace's output buffer is not cleared before each overwrite.
pub(crate) fn sized<T: Copy + Default>(o: &mut Vec<T>, n: usize) {
    if o.len() != n {
        o.clear();
        o.resize(n, T::default());
    }
}

/// How many samples a buffer of `len` elements holds when one sample has
/// `per` elements: `Some(len / per)` when it divides exactly (and `per > 0`).
pub(crate) fn samples(len: usize, per: usize) -> Option<usize> {
    (per > 0 && len % per == 0).then_some(len / per)
}

/// The vector width a fast form runs at, from the requested kernel path and
/// what the CPU has (checked once per call, not per row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lanes {
    /// Portable Rust (the compiler's baseline SSE2).
    Scalar,
    /// The same loops compiled for AVX2 (8 × i32).
    Avx2,
    /// The same loops compiled for AVX-512 F/BW/DQ/VL (16 × i32).
    Avx512,
}

impl Lanes {
    /// The widest form `path` allows on this CPU:
    /// [`crate::ops::KernelPath::Avx512Vnni`] runs the AVX-512 loops,
    /// [`crate::ops::KernelPath::Avx2`] the AVX2 ones.
    pub fn of(path: crate::ops::KernelPath) -> Lanes {
        use crate::ops::KernelPath;
        match path {
            #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
            KernelPath::Avx512Vnni if avx512_available() => Lanes::Avx512,
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 | KernelPath::Avx512Vnni if KernelPath::Avx2.is_available() => Lanes::Avx2,
            _ => Lanes::Scalar,
        }
    }
}

/// True when the CPU has the AVX-512 subsets the element-wise loops are compiled for.
#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
pub(crate) fn avx512_available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl")
}
