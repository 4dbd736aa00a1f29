//! A one-input element-wise op on 8-bit integers as its 256-entry table.
//!
//! An int8 or uint8 input has 256 values, so LOGISTIC, TANH, HARD_SWISH,
//! LEAKY_RELU, RELU… *are* tables. [`Lut::probe`] builds one by running the
//! op's own reference kernel once on the 256 values, so the bits are the
//! reference kernel's by construction; [`Lut::apply`] is then one lookup per
//! element.
//!
//! **The lookup in vector registers.** With AVX-512 VBMI the table fits in
//! four 64-byte registers. `vpermi2b` picks bytes from a 128-byte pair of
//! registers by the low 7 bits of each index byte; two of them (entries
//! 0–127 and 128–255) and a blend on the index's top bit look up 64
//! elements in four instructions. Elsewhere the loop is a plain indexed
//! load, which the compiler unrolls.

use super::{i8_buffer, sized, u8_buffer, Lanes};
use crate::error::EngineError;
use crate::model::DType;
use crate::ops::KernelPath;
use crate::tensor::{Data, Value};

/// A one-input element-wise op on 8-bit integers as its table.
#[derive(Clone, Debug)]
pub struct Lut {
    /// `table[x as u8 as usize]`: the output bits of input `x`.
    table: [u8; 256],
    dtype: DType,
}

impl Lut {
    /// Run `eval` (the op's reference kernel) on the 256 values of `dtype`
    /// (int8 or uint8) and keep its outputs as the table; `None` when the op
    /// does not map 8-bit values to 8-bit values of the same dtype one to one.
    pub fn probe(dtype: DType, eval: impl FnOnce(&Value) -> Result<Value, EngineError>) -> Option<Lut> {
        let probe = match dtype {
            DType::I8 => Data::I8((-128..=127).collect()),
            DType::U8 => Data::U8((0..=255).collect()),
            _ => return None,
        };
        let y = eval(&Value { shape: vec![256], data: probe }).ok()?;
        let mut table = [0u8; 256];
        match (&y.data, dtype) {
            (Data::I8(v), DType::I8) if v.len() == 256 => {
                for (k, &q) in v.iter().enumerate() {
                    table[(k as i32 - 128) as i8 as u8 as usize] = q as u8;
                }
            }
            (Data::U8(v), DType::U8) if v.len() == 256 => table.copy_from_slice(v),
            _ => return None,
        }
        Some(Lut { table, dtype })
    }

    /// `out ← table[x]` element by element (every sample in `x`), on `path`.
    pub fn apply(&self, path: KernelPath, x: &Value, out: &mut Value) -> Result<(), EngineError> {
        let lanes = Lanes::of(path);
        match (&x.data, self.dtype) {
            (Data::I8(v), DType::I8) => {
                let o = i8_buffer(out);
                sized(o, v.len()); // every element written by the lookup
                // An i8 and a u8 slice have the same layout; the table is indexed by the bits.
                let (src, dst) = (bytes(v), bytes_mut(o));
                self.lookup(lanes, src, dst);
            }
            (Data::U8(v), DType::U8) => {
                let o = u8_buffer(out);
                sized(o, v.len()); // every element written by the lookup
                self.lookup(lanes, v, o);
            }
            _ => return Err(EngineError::BadInput(format!("a {} table op got {} data", self.dtype, x.dtype()))),
        }
        Ok(())
    }

    /// `o[k] ← table[x[k]]` on raw bytes (either dtype's bits).
    pub fn lookup_bytes(&self, lanes: Lanes, x: &[u8], o: &mut [u8]) {
        self.lookup(lanes, x, o)
    }

    fn lookup(&self, lanes: Lanes, x: &[u8], o: &mut [u8]) {
        #[cfg(all(target_arch = "x86_64", quantlens_avx512))]
        if lanes == Lanes::Avx512 && std::arch::is_x86_feature_detected!("avx512vbmi") {
            // SAFETY: the CPU has AVX-512 F/BW (Lanes::Avx512) and VBMI (checked).
            unsafe { lookup_vbmi(&self.table, x, o) };
            return;
        }
        let _ = lanes;
        lookup_scalar(&self.table, x, o);
    }
}

fn lookup_scalar(t: &[u8; 256], x: &[u8], o: &mut [u8]) {
    for (r, &q) in o.iter_mut().zip(x) {
        *r = t[q as usize];
    }
}

#[cfg(all(target_arch = "x86_64", quantlens_avx512))]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
#[allow(clippy::incompatible_msrv)] // compiled only where the intrinsics are stable (build.rs)
unsafe fn lookup_vbmi(t: &[u8; 256], x: &[u8], o: &mut [u8]) {
    use std::arch::x86_64::*;
    let n = x.len().min(o.len());
    let quarter = |k: usize| _mm512_loadu_si512(t.as_ptr().add(64 * k) as *const _);
    let (t0, t1, t2, t3) = (quarter(0), quarter(1), quarter(2), quarter(3));
    let mut i = 0;
    while i + 64 <= n {
        let idx = _mm512_loadu_si512(x.as_ptr().add(i) as *const _);
        let low = _mm512_permutex2var_epi8(t0, idx, t1); // entries 0–127 by bits 0–6
        let high = _mm512_permutex2var_epi8(t2, idx, t3); // entries 128–255
        let top = _mm512_movepi8_mask(idx); // bit 7 of each index
        _mm512_storeu_si512(o.as_mut_ptr().add(i) as *mut _, _mm512_mask_blend_epi8(top, low, high));
        i += 64;
    }
    lookup_scalar(t, &x[i..n], &mut o[i..n]);
}

fn bytes(v: &[i8]) -> &[u8] {
    // SAFETY: i8 and u8 have the same size and alignment; every bit pattern is valid.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len()) }
}

fn bytes_mut(v: &mut [i8]) -> &mut [u8] {
    // SAFETY: as in `bytes`, and the borrow is exclusive.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, v.len()) }
}
