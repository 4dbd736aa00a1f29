//! Speed probe of the outputs-only path on one model (tflite-ref unless a
//! profile is given), for comparing two builds side by side:
//!
//! * `fast_profile MODEL profile [REPS] [PROFILE]`: the median µs of a whole
//!   single-image run and the sum of each op kind's step medians
//!   (`Workspace::time_steps`), over REPS passes of the golden inputs;
//! * `fast_profile MODEL single|batch1|batch2 REPS`: REPS × 32 images one at a
//!   time, or REPS `run_batch_outputs` calls of 32 images on one or two
//!   threads — to time under `perf stat -e task-clock` (CPU time, which
//!   preemption on a shared machine does not inflate): the difference of
//!   REPS = 21 and REPS = 1, / (20·32), is the CPU µs per image.
use quantlens::{io, Model, Plan, Profile};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (stem, mode) = (&args[1], args[2].as_str());
    let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    let profile: Profile = args.get(4).map_or("tflite-ref", |s| s.as_str()).parse().expect("a profile name");
    let plan = Plan::new(Model::from_path(format!("data/models/{stem}.tflite")).expect("model"), profile).expect("plan");
    let inputs = io::read_samples(format!("data/goldens/{stem}/input.npy")).expect("inputs");
    let n = inputs.len();
    let smp: Vec<_> = (0..n).map(|i| inputs.sample(i)).collect();
    let big: Vec<_> = (0..32).map(|i| smp[i % n].clone()).collect();
    let big = io::Stacked::from_values(&big.iter().collect::<Vec<_>>()).expect("stack");
    let mut ws = plan.workspace();
    match mode {
        "profile" => {
            for x in smp.iter().take(3) {
                std::hint::black_box(ws.run(&plan, x).unwrap());
            }
            ws.time_steps(&plan);
            let mut singles = Vec::new();
            for _ in 0..reps {
                for x in &smp {
                    let t = Instant::now();
                    std::hint::black_box(ws.run(&plan, x).unwrap());
                    singles.push(t.elapsed().as_secs_f64() * 1e6);
                }
            }
            singles.sort_by(|a, b| a.total_cmp(b));
            let mut kinds: Vec<(String, f64)> = Vec::new();
            for (step, ns) in plan.steps.iter().zip(ws.step_median_ns()) {
                let kind = plan.model.operators[step.op].kind.name().to_string();
                match kinds.iter_mut().find(|k| k.0 == kind) {
                    Some(k) => k.1 += ns as f64 / 1e3,
                    None => kinds.push((kind, ns as f64 / 1e3)),
                }
            }
            let ks: Vec<String> = kinds.iter().map(|(k, u)| format!("{k}={u:.1}")).collect();
            println!("{stem} {profile}: single median {:.1} µs | per-op medians (µs): {}", singles[singles.len() / 2], ks.join(" "));
        }
        "layers" => {
            // One line per step of the kinds named in PROFILE_KINDS (default CONV_2D):
            // input, filter and output shapes, median µs, GMAC/s.
            let want = std::env::var("PROFILE_KINDS").unwrap_or_else(|_| "CONV_2D".into());
            for x in smp.iter().take(3) {
                std::hint::black_box(ws.run(&plan, x).unwrap());
            }
            ws.time_steps(&plan);
            for _ in 0..reps {
                for x in &smp {
                    std::hint::black_box(ws.run(&plan, x).unwrap());
                }
            }
            let t = &plan.model.tensors;
            let mut total = 0.0;
            for (step, ns) in plan.steps.iter().zip(ws.step_median_ns()) {
                let o = &plan.model.operators[step.op];
                let kind = o.kind.name();
                if !want.split(',').any(|k| k == kind) {
                    continue;
                }
                let shape = |i: usize| o.input(i).map_or(String::from("-"), |j| format!("{:?}", t[j].shape));
                let w = o.input(1).map_or(1.0, |j| t[j].num_elements() as f64);
                let outs = t[o.outputs[0]].num_elements() as f64;
                let cout = o.input(1).map_or(1, |j| t[j].shape[0]) as f64;
                let us = ns as f64 / 1e3;
                total += us;
                println!("{:3} {kind:12} in {:18} w {:18} out {:18} {us:7.2} µs {:6.1} GMAC/s", step.op, shape(0), shape(1), format!("{:?}", t[o.outputs[0]].shape), outs * w / cout / us / 1e3);
            }
            println!("total {total:.1} µs");
        }
        "batch1" => (0..reps).for_each(|_| drop(std::hint::black_box(plan.run_batch_outputs(&big).unwrap()))),
        "batch2" => (0..reps).for_each(|_| drop(std::hint::black_box(plan.run_batch_outputs_threads(&big, 2).unwrap()))),
        _ => (0..reps).for_each(|_| (0..32).for_each(|i| { std::hint::black_box(ws.run(&plan, &smp[i % n]).unwrap()); })),
    }
}
