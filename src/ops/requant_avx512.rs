//! [`RequantTable::apply_into`]'s fused 8-bit loop on AVX-512: 16 channels
//! per step (the AVX2 loop takes 8), each vector requantized by the shared
//! 16-lane form of [`crate::ops::requant_lanes`] (the table's
//! [`LaneTable`]), then `+ Z3`, the clamp and the bytes narrowed with
//! `vpmovdb` (the results lie in the clamp range, inside the 8-bit type, so
//! truncation is exact). A submodule of [`super`] so it reads the table's
//! private columns.
//!
//! Taken on [`KernelPath::Avx512Vnni`] (the CPU then has AVX-512F/BW); the
//! parent's tests compare it with the definition on every rule.

use super::RequantTable;
use crate::model::DType;
use crate::ops::gemm::KernelPath;
use crate::ops::requant_lanes::{with_rule16, x86::Rule, LaneTable};
use crate::tensor::{Data, Value};
use std::arch::x86_64::*;

/// Requantize `acc` (rows of `table.channels`, offsets not yet added) into
/// `out` as int8 or uint8 bytes. `false` (nothing done) when this loop does
/// not apply: another dtype, a table the vector loops do not implement, or
/// a CPU without AVX-512.
pub(super) fn bytes_into(t: &RequantTable, acc: &[i32], dtype: DType, out: &mut Value) -> bool {
    let signed = match dtype {
        DType::I8 => true,
        DType::U8 => false,
        _ => return false,
    };
    if !(t.vectorisable && t.channels > 0 && KernelPath::Avx512Vnni.is_available()) {
        return false;
    }
    assert_eq!(acc.len() % t.channels, 0);
    let n = acc.len();
    if !matches!((&out.data, signed), (Data::I8(_), true) | (Data::U8(_), false)) {
        out.data = if signed { Data::I8(Vec::new()) } else { Data::U8(Vec::new()) };
    }
    let dst: &mut [u8] = match &mut out.data {
        Data::U8(o) => {
            o.resize(n, 0);
            o
        }
        Data::I8(o) => {
            o.resize(n, 0);
            // SAFETY: i8 and u8 have the same layout; every bit pattern is valid for both.
            unsafe { std::slice::from_raw_parts_mut(o.as_mut_ptr() as *mut u8, n) }
        }
        _ => unreachable!("set to an 8-bit buffer above"),
    };
    // SAFETY: AVX-512F/BW are available (checked above); `dst` holds `acc.len()` bytes.
    unsafe { rows_bytes(t, acc, dst) };
    true
}

/// Every row, 16 channels at a time (the tail masked), the rule chosen once.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn rows_bytes(t: &RequantTable, acc: &[i32], dst: &mut [u8]) {
    with_rule16!(&t.lanes, R => rows::<R>(&t.lanes, acc, dst))
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn rows<F: Rule>(l: &LaneTable, acc: &[i32], dst: &mut [u8]) {
    let m = l.channels;
    // v + Z3 may wrap for |v| near 2^31: clamp v to [lo − Z3, hi − Z3] first (exact, no wrap).
    let lo = _mm512_set1_epi32((l.act_min as i64 - l.z3 as i64).max(i32::MIN as i64) as i32);
    let hi = _mm512_set1_epi32((l.act_max as i64 - l.z3 as i64).min(i32::MAX as i64) as i32);
    let z3 = _mm512_set1_epi32(l.z3);
    for (r, row) in acc.chunks_exact(m).enumerate() {
        let mut c = 0;
        while c < m {
            let k: __mmask16 = if m - c >= 16 { !0 } else { (1u16 << (m - c)) - 1 };
            // The table's columns are padded to whole blocks of 16: full loads.
            let a = _mm512_add_epi32(_mm512_maskz_loadu_epi32(k, row.as_ptr().add(c)), _mm512_loadu_si512(l.offset.as_ptr().add(c) as *const _));
            let q = F::apply(l, &F::load(l, c), a, lo, hi);
            let y = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(q, lo), hi), z3);
            // vpmovdb to memory, masked.
            _mm512_mask_cvtepi32_storeu_epi8(dst.as_mut_ptr().add(r * m + c) as *mut i8, k, y);
            c += 16;
        }
    }
}
