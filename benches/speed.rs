//! quantlens side of the speed benchmark (`bash scripts/bench.sh` runs it
//! interleaved with LiteRT and TFLite Micro and prints the table).
//!
//! `cargo bench --bench speed -- [--reps N] [--models a,b] [--quick]` prints one JSON object per line:
//! `{"model", "profile", "path", "mode", "threads", "us_per_image": [..one per rep..]}`.
//!
//! Modes: `single` (a reused `Workspace`, one image at a time, all 1000),
//! `batch` (`run_batch_outputs_threads` over all 1000), `traced` (`Plan::run`,
//! every tensor kept; first 200 images).

use std::path::Path;
use std::time::Instant;

use quantlens::io::read_samples;
use quantlens::ops::{with_kernel_path, KernelPath};
use quantlens::{Model, Plan, Profile};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize = arg(&args, "--reps").and_then(|s| s.parse().ok()).unwrap_or(5);
    let models = arg(&args, "--models").unwrap_or_else(|| "mlp_ptq_int8_per_tensor,mlp_ptq_uint8io".into());
    let all_paths = args.iter().any(|a| a == "--all-paths");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    if args.iter().any(|a| a == "--kernels") {
        kernels(&data);
        return;
    }
    if args.iter().any(|a| a == "--serve") {
        serve(&data);
        return;
    }
    let default_path = quantlens::ops::kernel_path();
    for stem in models.split(',').filter(|s| !s.is_empty()) {
        let model = Model::from_path(data.join("models").join(format!("{stem}.tflite"))).expect("model");
        let inputs = read_samples(data.join("goldens").join(stem).join("input.npy")).expect("inputs");
        let samples = inputs.samples();
        let n = inputs.len();
        for profile in Profile::ALL {
            let plan = Plan::new(model.clone(), profile).expect("plan");
            let paths: Vec<KernelPath> =
                if all_paths && profile == Profile::TfliteRef { KernelPath::available() } else { vec![default_path] };
            for path in paths {
                with_kernel_path(path, || {
                    let emit = |mode: &str, threads: usize, v: &[f64]| {
                        let list: Vec<String> = v.iter().map(|x| format!("{x:.4}")).collect();
                        println!(
                            "{{\"model\":\"{stem}\",\"profile\":\"{profile}\",\"path\":\"{path}\",\"mode\":\"{mode}\",\"threads\":{threads},\"us_per_image\":[{}]}}",
                            list.join(",")
                        );
                    };
                    // Warm up (pages the weights in, sizes the buffers).
                    let mut ws = plan.workspace();
                    for x in samples.iter().take(50) {
                        std::hint::black_box(ws.run(&plan, x).unwrap());
                    }
                    let mut single = Vec::new();
                    for _ in 0..reps {
                        let t = Instant::now();
                        for x in &samples {
                            std::hint::black_box(ws.run(&plan, x).unwrap());
                        }
                        single.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
                    }
                    emit("single", 1, &single);
                    for threads in [1, 2] {
                        std::hint::black_box(plan.run_batch_outputs_threads(&inputs, threads).unwrap());
                        let mut batch = Vec::new();
                        for _ in 0..reps {
                            let t = Instant::now();
                            std::hint::black_box(plan.run_batch_outputs_threads(&inputs, threads).unwrap());
                            batch.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
                        }
                        emit("batch", threads, &batch);
                    }
                    if profile == Profile::TfliteRef {
                        let m = 200.min(n);
                        let mut traced = Vec::new();
                        for _ in 0..reps.min(3) {
                            let t = Instant::now();
                            for x in &samples[..m] {
                                std::hint::black_box(plan.run(x).unwrap());
                            }
                            traced.push(t.elapsed().as_secs_f64() * 1e6 / m as f64);
                        }
                        emit("traced", 1, &traced);
                    }
                })
                .expect("kernel path");
            }
        }
    }
}

/// `--serve`: read `model profile mode threads reps [path]` lines on stdin, answer
/// each with one JSON line (the same fields as above). scripts/bench.py keeps
/// this process open and alternates its requests with LiteRT's, so both are
/// timed under the same machine load.
fn serve(data: &Path) {
    use std::collections::HashMap;
    use std::io::BufRead;
    let mut plans: HashMap<(String, Profile), Plan> = HashMap::new();
    let mut inputs: HashMap<String, quantlens::io::Stacked> = HashMap::new();
    let mut samples: HashMap<String, Vec<quantlens::Value>> = HashMap::new();
    let mut workspaces: HashMap<(String, Profile), quantlens::Workspace> = HashMap::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin");
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        let (stem, profile, mode) = (f[0].to_string(), f[1].parse::<Profile>().expect("profile"), f[2]);
        let threads: usize = f.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
        let reps: usize = f.get(4).and_then(|s| s.parse().ok()).unwrap_or(3);
        let path = f.get(5).and_then(|s| KernelPath::from_name(s)).unwrap_or_else(quantlens::ops::kernel_path);
        let inp = inputs.entry(stem.clone()).or_insert_with(|| read_samples(data.join("goldens").join(&stem).join("input.npy")).expect("inputs"));
        let smp = samples.entry(stem.clone()).or_insert_with(|| inp.samples());
        let plan = plans.entry((stem.clone(), profile)).or_insert_with(|| {
            Plan::new(Model::from_path(data.join("models").join(format!("{stem}.tflite"))).expect("model"), profile).expect("plan")
        });
        let ws = workspaces.entry((stem.clone(), profile)).or_insert_with(|| plan.workspace());
        let n = smp.len();
        let times: Vec<f64> = with_kernel_path(path, || {
            let mut v = Vec::new();
            match mode {
                "single" => {
                    for x in smp.iter().take(20) {
                        std::hint::black_box(ws.run(plan, x).unwrap());
                    }
                    for _ in 0..reps {
                        let t = Instant::now();
                        for x in smp.iter() {
                            std::hint::black_box(ws.run(plan, x).unwrap());
                        }
                        v.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
                    }
                }
                "batch" => {
                    for _ in 0..reps {
                        let t = Instant::now();
                        std::hint::black_box(plan.run_batch_outputs_threads(inp, threads).unwrap());
                        v.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
                    }
                }
                "profile" => {
                    // Per op kind: the sum of its steps' median µs per image (Workspace::run,
                    // steps timed) and MACs per image; us_total is the mean whole run.
                    let mut tws = plan.workspace();
                    for x in smp.iter().take(5) {
                        std::hint::black_box(tws.run(plan, x).unwrap());
                    }
                    tws.time_steps(plan);
                    let t = Instant::now();
                    for _ in 0..reps {
                        for x in smp.iter() {
                            std::hint::black_box(tws.run(plan, x).unwrap());
                        }
                    }
                    let total = t.elapsed().as_secs_f64() * 1e6 / (reps * n) as f64;
                    let mut kinds: Vec<(String, f64, u64, usize)> = Vec::new();
                    for (step, ns) in plan.steps.iter().zip(tws.step_median_ns()) {
                        let kind = plan.model.operators[step.op].kind.name();
                        let us = ns as f64 / 1e3;
                        let macs = macs(plan, step.op);
                        match kinds.iter_mut().find(|k| k.0 == kind) {
                            Some(k) => {
                                k.1 += us;
                                k.2 += macs;
                                k.3 += 1;
                            }
                            None => kinds.push((kind, us, macs, 1)),
                        }
                    }
                    let list: Vec<String> =
                        kinds.iter().map(|(k, us, m, c)| format!("{{\"kind\":\"{k}\",\"us\":{us:.4},\"macs\":{m},\"ops\":{c}}}")).collect();
                    println!("{{\"model\":\"{stem}\",\"profile\":\"{profile}\",\"mode\":\"profile\",\"us_total\":{total:.4},\"kinds\":[{}]}}", list.join(","));
                    use std::io::Write;
                    std::io::stdout().flush().unwrap();
                }
                "traced" => {
                    let m = 200.min(n);
                    for _ in 0..reps {
                        let t = Instant::now();
                        for x in &smp[..m] {
                            std::hint::black_box(plan.run(x).unwrap());
                        }
                        v.push(t.elapsed().as_secs_f64() * 1e6 / m as f64);
                    }
                }
                other => panic!("unknown mode {other}"),
            }
            v
        })
        .expect("kernel path");
        if mode == "profile" {
            continue; // answered above, with its own fields
        }
        let list: Vec<String> = times.iter().map(|x| format!("{x:.4}")).collect();
        println!(
            "{{\"model\":\"{stem}\",\"profile\":\"{profile}\",\"path\":\"{path}\",\"mode\":\"{mode}\",\"threads\":{threads},\"us_per_image\":[{}]}}",
            list.join(",")
        );
        use std::io::Write;
        std::io::stdout().flush().unwrap();
    }
}

/// Multiply-accumulates per image of operator `op`: CONV_2D and
/// FULLY_CONNECTED `outputs × (weights / output channels)`, DEPTHWISE_CONV_2D
/// `outputs × kh·kw`; 0 for the other ops.
fn macs(plan: &Plan, op: usize) -> u64 {
    use quantlens::model::OpKind;
    let o = &plan.model.operators[op];
    let tensors = &plan.model.tensors;
    let (Some(w), Some(&y)) = (o.inputs.get(1).copied().flatten(), o.outputs.first()) else { return 0 };
    let (ws, outs) = (&tensors[w].shape, tensors[y].num_elements() as u64);
    let wn: u64 = ws.iter().map(|&d| d as u64).product();
    match o.kind {
        OpKind::Conv2d | OpKind::FullyConnected if !ws.is_empty() && ws[0] > 0 => outs * (wn / ws[0] as u64),
        OpKind::DepthwiseConv2d if ws.len() == 4 && ws[3] > 0 => outs * (wn / ws[3] as u64),
        _ => 0,
    }
}

/// `--kernels`: min / median ns per image of the bare matrix kernels FULLY_CONNECTED runs on each layer (for tuning).
fn kernels(data: &Path) {
    use quantlens::ops::fc_fast::matmul;
    use quantlens::ops::fully_connected::Arith;
    use quantlens::ops::gemm::Scratch;
    let model = Model::from_path(data.join("models/mlp_ptq_int8_per_tensor.tflite")).unwrap();
    let plan = Plan::new(model, Profile::TfliteRef).unwrap();
    let inputs = read_samples(data.join("goldens/mlp_ptq_int8_per_tensor/input.npy")).unwrap();
    let samples = inputs.samples();
    use quantlens::ops::gemm::PackedWeights;
    for path in KernelPath::available() {
        for rows in [16usize, 64, 256, 512, 1024] {
            let cols = 784;
            let w8: Vec<i8> = (0..rows * cols).map(|i| ((i * 31 % 255) as i32 - 127) as i8).collect();
            let w = PackedWeights::pack(rows, cols, &w8);
            let xu: Vec<u8> = (0..w.padded_cols()).map(|i| (i * 7 % 251) as u8).collect();
            let mut out = vec![0i32; rows];
            let mut s = Scratch::default();
            let mut times = Vec::new();
            for _ in 0..2000 {
                let t = Instant::now();
                matmul(path, &w, &xu, 1, &mut out, &mut s);
                times.push(t.elapsed().as_secs_f64() * 1e9);
            }
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let blocks = (w.panels * w.quads) as f64;
            println!("{path} synthetic {rows}x{cols} batch 1: min {:.0} ns = {:.3} ns/64B block, median {:.3}", times[0], times[0] / blocks, times[1000] / blocks);
        }
        for batch in [1usize, 4, 16] {
            let mut total_min = 0.0;
            for (op, p) in plan.fully_connected() {
                let Arith::Quantized(q) = &p.arith else { continue };
                let w = &q.packed.weights;
                let xu: Vec<u8> = (0..batch * w.padded_cols()).map(|i| (i * 7 % 251) as u8).collect();
                let mut out = vec![0i32; batch * w.rows];
                let mut s = Scratch::default();
                let iters = (200_000 / (w.rows * w.cols / 100 + 1)).max(20);
                let mut times = Vec::new();
                for _ in 0..iters {
                    let t = Instant::now();
                    matmul(path, w, &xu, batch, &mut out, &mut s);
                    times.push(t.elapsed().as_secs_f64() * 1e9 / batch as f64);
                    std::hint::black_box(&out);
                }
                times.sort_by(|a, b| a.partial_cmp(b).unwrap());
                total_min += times[0];
                println!("{path} batch {batch} op {op} ({}x{}): min {:.0} ns/img, median {:.0}", w.rows, w.cols, times[0], times[times.len() / 2]);
            }
            println!("{path} batch {batch}: sum of mins {total_min:.0} ns/img");
        }
        with_kernel_path(path, || {
            let mut ws = plan.workspace();
            let mut times = Vec::new();
            for _ in 0..5 {
                for x in &samples {
                    let t = Instant::now();
                    std::hint::black_box(ws.run(&plan, x).unwrap());
                    times.push(t.elapsed().as_secs_f64() * 1e9);
                }
            }
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!("{path} Workspace::run: min {:.0} ns, p10 {:.0}, median {:.0}", times[0], times[times.len() / 10], times[times.len() / 2]);
        })
        .unwrap();
    }
}
