//! The outputs-only path (`Plan::run_batch_outputs`, `Workspace::run`) on
//! **every** committed model that `Plan::new` accepts, in every profile: its
//! output equals, bit for bit, the output tensor of the traced run
//! (`Plan::run`). Folded constants (DEQUANTIZE float16, DENSIFY) are the case
//! this guards: the outputs-only path once refused `mlp_float16` ("tensor 6
//! has no value yet"). The first few golden inputs of each model are used.

mod common;

use quantlens::io::read_samples;
use common::bits;
use quantlens::{Model, Plan, Profile};

/// Golden inputs per model (the traced run of the big models is the cost).
const SAMPLES: usize = 3;

#[test]
fn outputs_only_equals_the_traced_run_on_every_committed_model() {
    let stems = common::model_stems();
    let (mut ran, mut refused, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for stem in &stems {
        let model = Model::from_path(common::model(stem)).unwrap();
        let inputs = read_samples(common::golden_dir(stem).join("input.npy")).unwrap();
        let n = inputs.len().min(SAMPLES);
        let first: Vec<_> = (0..n).map(|i| inputs.sample(i)).collect();
        let batch = quantlens::io::Stacked::from_values(&first.iter().collect::<Vec<_>>()).unwrap();
        for profile in Profile::ALL {
            let plan = match Plan::new(model.clone(), profile) {
                Ok(p) => p,
                Err(e) => {
                    refused.push(format!("{stem} {profile}: {e}"));
                    continue;
                }
            };
            let traced: Vec<u64> = plan.run_batch(&first).unwrap().iter().flat_map(|t| bits(&t.value(plan.output()).unwrap().data)).collect();
            for threads in [1, 2] {
                match plan.run_batch_outputs_threads(&batch, threads) {
                    Ok(y) if bits(&y.data) == traced => {}
                    Ok(_) => failures.push(format!("{stem} {profile}: outputs-only on {threads} thread(s) differs from the traced run")),
                    Err(e) => failures.push(format!("{stem} {profile}: outputs-only on {threads} thread(s): {e}")),
                }
            }
            let mut ws = plan.workspace();
            let mut one = Vec::new();
            for x in &first {
                match ws.run(&plan, x) {
                    Ok(y) => one.extend(bits(&y.data)),
                    Err(e) => failures.push(format!("{stem} {profile}: workspace run: {e}")),
                }
            }
            if one != traced {
                failures.push(format!("{stem} {profile}: workspace runs differ from the traced run"));
            }
            ran.push(format!("{stem} {profile}"));
        }
    }
    eprintln!("outputs-only = traced on {} model × profile pairs; Plan::new refused {}:\n  {}", ran.len(), refused.len(), refused.join("\n  "));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every float16 model (folded DEQUANTIZE) is among them, in every profile.
    for stem in stems.iter().filter(|s| s.contains("float16")) {
        assert_eq!(ran.iter().filter(|r| r.starts_with(&format!("{stem} "))).count(), Profile::ALL.len(), "{stem}");
    }
    assert!(ran.len() >= 4 * 30, "only {} pairs ran", ran.len());
}
