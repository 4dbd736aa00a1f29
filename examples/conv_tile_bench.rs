//! Times the fused CONV_2D gemm (`conv_fused::gemm_requant`) on the 1×1
//! shapes of MobileNetV2 (pixels, K, out_c), int8, the double rounding with
//! multipliers below 1/2 (8-channel layers on `Pairs`): `conv_tile_bench
//! [REPS] [SHAPE INDEX]`, median ns per call.
use quantlens::model::DType;
use quantlens::ops::conv_fused::{gemm_requant, FusedTable, Pairs};
use quantlens::ops::gemm::{KernelPath, PackedWeights};
use quantlens::ops::requant::RequantTable;
use quantlens::profile::{Multiplier, Rounding};
use std::time::Instant;

fn main() {
    let reps: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let shapes = [(256, 16, 8), (256, 8, 48), (64, 48, 8), (64, 8, 48), (16, 48, 16), (16, 16, 96), (16, 96, 16), (4, 96, 24), (4, 24, 144), (4, 144, 24), (4, 32, 192), (4, 192, 32), (1, 192, 56), (1, 56, 336), (1, 336, 56), (1, 336, 112), (1, 112, 1280)];
    let mut seed = 1u64;
    let mut rnd = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as u32
    };
    let mut total = 0.0;
    let only: Option<usize> = std::env::args().nth(2).and_then(|s| s.parse().ok());
    for (i, &(n, k, m)) in shapes.iter().enumerate() {
        if only.is_some_and(|o| o != i) {
            continue;
        }
        let w8: Vec<i8> = (0..m * k).map(|_| rnd() as i8 / 2).collect();
        let w = PackedWeights::pack(m, k, &w8);
        let mults: Vec<Multiplier> = (0..m).map(|c| Multiplier::from_ratio(0.002 + 0.0001 * (c % 7) as f32, 1.0)).collect();
        let off: Vec<i32> = (0..m).map(|_| (rnd() % 2000) as i32 - 1000).collect();
        let t = RequantTable::new(Rounding::FixedPointDoubleRounding, &mults, -3, -128, 127).with_offsets(&off);
        let ft = FusedTable::new(&t, DType::I8).unwrap();
        let pairs = Pairs::new(&w, &t, DType::I8);
        let x: Vec<u8> = (0..n * w.padded_cols()).map(|_| rnd() as u8).collect();
        let mut dst = vec![0u8; n * m];
        let mut ts = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t0 = Instant::now();
            for _ in 0..10 {
                match &pairs {
                    Some(p) => p.gemm_requant(KernelPath::Avx512Vnni, std::hint::black_box(&x), 0x80, n, None, &mut dst),
                    None => gemm_requant(KernelPath::Avx512Vnni, &w, &ft, std::hint::black_box(&x), 0x80, n, None, &mut dst),
                };
            }
            ts.push(t0.elapsed().as_nanos() as f64 / 10.0);
        }
        ts.sort_by(|a, b| a.total_cmp(b));
        let med = ts[reps / 2];
        total += med;
        println!("n {n:4} K {k:4} m {m:5}: {med:8.0} ns  check {}", dst.iter().map(|&v| v as u64).sum::<u64>());
    }
    println!("total {total:.0} ns");
}
