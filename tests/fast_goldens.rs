//! The outputs-only path (what the CLI's `run`, `verify --outputs-only` and
//! `diff` of outputs use) on every committed model with goldens, in every
//! profile whose runtime wrote goldens: the batched run on two threads and a
//! reused `Workspace` give the traced run's output bit for bit, on every
//! kernel path. The traced run is checked against the goldens, tensor by
//! tensor, by tests/goldens*.rs (for the dynamic-range models within the
//! tolerance those suites document); so the outputs-only path inherits it.

mod common;

use quantlens::io::read_samples;
use quantlens::ops::{with_kernel_path, KernelPath};
use quantlens::{Model, Plan, Profile};

/// Samples checked per model: enough to cover every branch of the kernels on
/// the big models while the suite stays well under a minute.
const MAX_SAMPLES: usize = 24;

#[test]
fn outputs_only_equals_the_traced_output_on_every_model() {
    let goldens = common::root().join("data/goldens");
    let mut stems: Vec<String> = std::fs::read_dir(&goldens).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    stems.sort();
    let mut failures = Vec::new();
    let mut checked = 0;
    for stem in &stems {
        let model_path = common::model(stem);
        let input = goldens.join(stem).join("input.npy");
        if !model_path.exists() || !input.exists() {
            continue;
        }
        let all = read_samples(&input).unwrap();
        let n = all.len().min(MAX_SAMPLES);
        let samples: Vec<_> = (0..n).map(|i| all.sample(i)).collect();
        let refs: Vec<_> = samples.iter().collect();
        let inputs = quantlens::io::Stacked::from_values(&refs).unwrap();
        for profile in Profile::ALL {
            let golden = goldens.join(stem).join(format!("{}.npz", profile.golden_key()));
            if !golden.exists() {
                continue;
            }
            let Ok(plan) = Plan::new(Model::from_path(&model_path).unwrap(), profile) else { continue };
            let traces = plan.run_batch(&samples).unwrap();
            let g = quantlens::verify::stack_tensor(&traces, plan.output()).unwrap();
            checked += 1;
            for path in KernelPath::available() {
                with_kernel_path(path, || {
                    let out = match plan.run_batch_outputs_threads(&inputs, 2) {
                        Ok(o) => o,
                        Err(e) => {
                            failures.push(format!("{stem} {profile} [{path}, batch]: {e}"));
                            return;
                        }
                    };
                    if out.data != g.data || out.len() != g.len() {
                        failures.push(format!("{stem} {profile} [{path}, batch]: output differs from the traced run"));
                    }
                    let mut ws = plan.workspace();
                    for (i, x) in samples.iter().enumerate() {
                        let y = match ws.run(&plan, x) {
                            Ok(y) => y,
                            Err(e) => {
                                failures.push(format!("{stem} {profile} [{path}, workspace]: {e}"));
                                break;
                            }
                        };
                        if y.data != g.sample(i).data {
                            failures.push(format!("{stem} {profile} [{path}, workspace]: sample {i} differs"));
                            break;
                        }
                    }
                })
                .unwrap();
            }
        }
    }
    assert!(checked >= 40, "only {checked} (model, profile) pairs had goldens");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
