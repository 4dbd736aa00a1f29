//! The fast FULLY_CONNECTED kernels against the definition, on every kernel path.

use super::*;
use crate::model::DType;
use crate::ops::requant::RequantTable;
use crate::ops::testkit::lcg;
use crate::profile::{Multiplier, Rounding};

/// The fused stores exist only on AVX-512 VNNI: say so when the CPU lacks it.
fn no_vnni() -> bool {
    let no = !crate::ops::conv_fused::runs_on(KernelPath::Avx512Vnni);
    if no {
        eprintln!("AVX-512 VNNI not available: nothing to compare");
    }
    no
}

/// [`matmul`] of `batch` rows `xu` on every available path (and, for one
/// row, [`gemv_xor`] on it as int8 bytes and as u8 bytes with no flip)
/// equals the definition `Σ_k xu·w8` in wrapping i32; returns it.
fn every_path_equals_the_definition(pw: &PackedWeights, w8: &[i8], xu: &[u8], batch: usize) -> Vec<i32> {
    let (rows, cols, stride) = (pw.rows, pw.cols, pw.padded_cols());
    let want: Vec<i32> = (0..batch * rows)
        .map(|e| {
            let (b, c) = (e / rows, e % rows);
            (0..cols).fold(0i32, |a, k| a.wrapping_add(xu[b * stride + k] as i32 * w8[c * cols + k] as i32))
        })
        .collect();
    for path in KernelPath::available() {
        let mut got = vec![0; batch * rows];
        matmul(path, pw, xu, batch, &mut got, &mut gemm::Scratch::default());
        assert_eq!(got, want, "{path} rows {rows} cols {cols} batch {batch}");
        if batch == 1 {
            let xs: Vec<u8> = xu.iter().map(|&v| v ^ 0x80).collect();
            for (x, xor) in [(&xs, 0x80), (&xu.to_vec(), 0)] {
                let mut got = vec![0; rows];
                gemv_xor(path, pw, x, xor, &mut got, &mut gemm::Scratch::default());
                assert_eq!(got, want, "{path} gemv xor {xor} rows {rows} cols {cols}");
            }
        }
    }
    want
}

/// Every available path, every batch 1..=19 (each tile shape and the
/// row tails), shapes with partial panels and odd inputs, weights using
/// −128 and 127, inputs using 0 and 255: equal to the definition.
#[test]
fn fast_matmul_matches_the_definition_on_every_path() {
    let mut seed = 11u64;
    for &(rows, cols) in &[(1, 1), (10, 100), (17, 33), (33, 7), (48, 5), (100, 512), (70, 129), (512, 61)] {
        let w8: Vec<i8> = (0..rows * cols)
            .map(|i| match i % 13 {
                0 => -128,
                1 => 127,
                _ => lcg(&mut seed) as u8 as i8,
            })
            .collect();
        let pw = PackedWeights::pack(rows, cols, &w8);
        let stride = pw.padded_cols();
        for batch in 1..=19 {
            let mut xu = vec![0u8; batch * stride];
            for b in 0..batch {
                for k in 0..cols {
                    xu[b * stride + k] = match (b + k) % 9 {
                        0 => 0,
                        1 => 255,
                        _ => lcg(&mut seed) as u8,
                    };
                }
            }
            every_path_equals_the_definition(&pw, &w8, &xu, batch);
        }
    }
}

/// The fused stores of `batch` rows `xu` (and, for one row, the same row
/// given as int8 bytes) equal `dots` requantized by `table`'s scalar definition.
fn fused_equals_scalar(
    table: &RequantTable,
    fused: &crate::ops::conv_fused::FusedTable,
    pw: &PackedWeights,
    xu: &[u8],
    dots: &[i32],
    batch: usize,
    what: &str,
) {
    let mut want = dots.to_vec();
    table.apply_scalar(&mut want);
    let want: Vec<u8> = want.iter().map(|&v| v as u8).collect();
    let mut got = vec![0xAA; dots.len()];
    assert!(matmul_requant(KernelPath::Avx512Vnni, pw, fused, xu, None, batch, &mut got));
    assert_eq!(got, want, "{what}");
    if batch == 1 {
        let xs: Vec<u8> = xu.iter().map(|&v| v ^ 0x80).collect();
        let mut got = vec![0xAA; dots.len()];
        assert!(matmul_requant(KernelPath::Avx512Vnni, pw, fused, &xs, Some(0x80), 1, &mut got));
        assert_eq!(got, want, "{what} gemv");
    }
}

/// fc (issue 16): the sums requantized in the kernels' stores equal the
/// definition (the scalar product, then [`RequantTable::apply_scalar`])
/// for every rounding (each one-floor and two-step form), both 8-bit
/// outputs, every batch tile and row tail, and the one-sample flipped input.
#[test]
fn fused_requantization_equals_the_definition() {
    if no_vnni() {
        return;
    }
    let mut seed = 7u64;
    let reals = [0.5, 0.25, 2f64.powi(-10), 1.0, 3.0, 1e-9, 0.0039215686, 1.0 / 3.0, 7.5, 2f64.powi(-31), 1e-12, 3e4, 0.75, 2.0, 1e-4];
    let low = [0.25, 2f64.powi(-10), 0.0039215686, 1.0 / 3.0, 2f64.powi(-14), 1e-4, 0.49999, 2f64.powi(-8) * 1.5];
    let (mut checked, mut one_floor) = (0, 0);
    for &(rows, cols) in &[(10, 100), (17, 33), (33, 7), (48, 5), (100, 64), (70, 129)] {
        let w8: Vec<i8> = (0..rows * cols).map(|i| if i % 13 == 0 { -128 } else { (lcg(&mut seed) as i8) >> 3 }).collect();
        let pw = PackedWeights::pack(rows, cols, &w8);
        let stride = pw.padded_cols();
        for batch in [1, 2, 3, 4, 5, 7, 8, 9, 17] {
            let mut xu = vec![0u8; batch * stride];
            for b in 0..batch {
                for k in 0..cols {
                    xu[b * stride + k] = (lcg(&mut seed) as u8) >> 2;
                }
            }
            let mut dots = vec![0; batch * rows];
            matmul(KernelPath::Scalar, &pw, &xu, batch, &mut dots, &mut gemm::Scratch::default());
            for rounding in Rounding::ALL {
                for (dtype, z3, lo, hi) in [(DType::I8, -3, -128, 127), (DType::U8, 120, 0, 255)] {
                    let set: &[f64] = if checked % 2 == 0 { &low } else { &reals };
                    let mults: Vec<Multiplier> = (0..rows).map(|c| Multiplier::from_ratio((set[(c + checked) % set.len()] / 64.0) as f32, 1.0)).collect();
                    let offsets: Vec<i32> = (0..rows).map(|c| if c % 5 == 0 { i32::MAX - c as i32 } else { (lcg(&mut seed) as i32) >> 18 }).collect();
                    let table = RequantTable::new(rounding, &mults, z3, lo, hi).with_offsets(&offsets);
                    let fused = crate::ops::conv_fused::FusedTable::new(&table, dtype).expect("a byte range");
                    one_floor += fused.lanes().one_floor as usize;
                    fused_equals_scalar(&table, &fused, &pw, &xu, &dots, batch, &format!("{rounding:?} {dtype} rows {rows} cols {cols} batch {batch}"));
                    assert!(!matmul_requant(KernelPath::Avx2, &pw, &fused, &xu, None, batch, &mut vec![0; batch * rows]));
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 6 * 9 * 5 * 2);
    assert!(one_floor > 20, "{one_floor}");
}

/// fc (issue 16): tflite-ref's rule in the stores ([`vnni::HalfAway`] when
/// every `|M| ≤ 1/2`, the shared rule otherwise) on exact ties: `M` a
/// power of two, so `v·M` lands on `k + 1/2` for many `v`; `M = 1/2` with
/// sums at the ends of i32 (offsets `i32::MAX`, `i32::MIN`); `M` just
/// above 1/2; odd channel counts, every row tail.
#[test]
fn half_away_stores_equal_the_definition_on_ties() {
    if no_vnni() {
        return;
    }
    let mut seed = 3u64;
    for &(rows, cols) in &[(19, 3), (33, 8), (5, 17)] {
        let w8: Vec<i8> = (0..rows * cols).map(|i| if i % 7 == 0 { -128 } else { (lcg(&mut seed) as i8) >> 4 }).collect();
        let pw = PackedWeights::pack(rows, cols, &w8);
        let stride = pw.padded_cols();
        for batch in 1..=10 {
            let xu: Vec<u8> = (0..batch * stride).map(|i| if i % stride < cols { (lcg(&mut seed) as u8) >> 3 } else { 0 }).collect();
            let mut dots = vec![0; batch * rows];
            matmul(KernelPath::Scalar, &pw, &xu, batch, &mut dots, &mut gemm::Scratch::default());
            for (set, reals) in [(0, &[0.5, 0.25, 0.125, 2f64.powi(-9), 2f64.powi(-20)][..]), (1, &[0.5, 0.5000001, 2.0, 0.25][..])] {
                let mults: Vec<Multiplier> = (0..rows).map(|c| Multiplier::from_ratio(reals[c % reals.len()] as f32, 1.0)).collect();
                let offsets: Vec<i32> = (0..rows)
                    .map(|c| match c % 4 {
                        0 => i32::MAX - (c as i32 & 1),
                        1 => i32::MIN + (c as i32 & 3),
                        _ => 1 - 2 * (lcg(&mut seed) as i32 & 0x3ff),
                    })
                    .collect();
                for (dtype, z3, lo, hi) in [(DType::I8, -128, -128, 127), (DType::I8, 5, -100, 127), (DType::U8, 128, 0, 255)] {
                    let table = RequantTable::new(Rounding::DoubleHalfAway, &mults, z3, lo, hi).with_offsets(&offsets);
                    let fused = crate::ops::conv_fused::FusedTable::new(&table, dtype).expect("a byte range");
                    assert_eq!(fused.lanes().real.iter().all(|m| m.abs() <= 0.5), set == 0, "the set picks the store");
                    fused_equals_scalar(&table, &fused, &pw, &xu, &dots, batch, &format!("set {set} {dtype} rows {rows} cols {cols} batch {batch}"));
                }
            }
        }
    }
}

/// fc (issue 16): inputs with zero quads (the quads a tile skips): most
/// quads zero, a quad non-zero in one row of a tile only, whole rows
/// zero, every row dense, a row dense but for one quad. Every path,
/// every batch 1..=19, the one-sample flipped input and the fused stores:
/// equal to the definition.
#[test]
fn zero_quads_are_skipped_exactly() {
    let mut seed = 29u64;
    for &(rows, cols, density) in &[(40, 784, 1u32), (17, 203, 1), (100, 512, 9), (33, 64, 0), (16, 36, 5), (10, 8200, 2)] {
        let w8: Vec<i8> = (0..rows * cols).map(|i| if i % 11 == 0 { -128 } else { lcg(&mut seed) as u8 as i8 }).collect();
        let pw = PackedWeights::pack(rows, cols, &w8);
        let stride = pw.padded_cols();
        for batch in 1..=19 {
            let mut xu = vec![0u8; batch * stride];
            for b in 0..batch {
                // (40 × 784: no dense row, so 8-row blocks are sparse too and run as pairs.)
                let kind = match (b + rows) % 5 {
                    3 if cols == 784 => 1,
                    k => k,
                };
                for k in 0..cols {
                    let q = k / 4;
                    let live = match kind {
                        0 => lcg(&mut seed) % 10 < density,
                        1 => (q + b) % 7 == 0,
                        2 => false,
                        3 => q != 3,
                        _ => q % 16 == 15 || q + 1 == cols.div_ceil(4),
                    };
                    if live && lcg(&mut seed) % 4 != 0 {
                        xu[b * stride + k] = lcg(&mut seed) as u8 | (k % 3 == 0) as u8;
                    }
                }
            }
            let want = every_path_equals_the_definition(&pw, &w8, &xu, batch);
            if no_vnni() {
                continue;
            }
            for (rounding, real) in [(Rounding::DoubleHalfAway, 2f64.powi(-12)), (Rounding::ALL[0], 3e-4), (Rounding::ALL[Rounding::ALL.len() - 1], 2f64.powi(-11))] {
                let mults: Vec<Multiplier> = (0..rows).map(|c| Multiplier::from_ratio((real * (1.0 + (c % 3) as f64 / 4.0)) as f32, 1.0)).collect();
                let offsets: Vec<i32> = (0..rows).map(|c| (c as i32 - 7) * 1001).collect();
                let table = RequantTable::new(rounding, &mults, -128, -128, 127).with_offsets(&offsets);
                let fused = crate::ops::conv_fused::FusedTable::new(&table, DType::I8).expect("a byte range");
                fused_equals_scalar(&table, &fused, &pw, &xu, &want, batch, &format!("{rounding:?} rows {rows} cols {cols} batch {batch}"));
            }
        }
    }
}

/// The accumulators wrap like the runtimes' int32 sums: 255 · 127 per
/// product over 70 000 inputs exceeds 2³¹.
#[test]
fn fast_matmul_wraps_like_int32() {
    let (rows, cols) = (20, 70_000);
    let w8 = vec![127i8; rows * cols];
    let pw = PackedWeights::pack(rows, cols, &w8);
    let xu = vec![255u8; pw.padded_cols()];
    let want = (0..cols).fold(0i32, |a, _| a.wrapping_add(255 * 127));
    for path in KernelPath::available() {
        let mut got = vec![0; rows];
        matmul(path, &pw, &xu, 1, &mut got, &mut gemm::Scratch::default());
        assert!(got.iter().all(|&g| g == want), "{path}");
    }
}
