//! Every quantized CONV_2D layer of every committed model, on its fast path
//! (`conv_gemm`: im2col or the input itself for 1×1 stride-1 layers, the
//! packed gemm, the vectorised `RequantTable`), in every profile's rounding
//! and on every kernel path this CPU has, gives the reference loop's output
//! (the traced run's tensor) bit for bit, fed the traced run's input.
//! Whole-model comparisons (tests/fast_goldens.rs) catch a wrong layer only
//! if the error survives to the output; this looks at each layer.

mod common;

use quantlens::io::read_samples;
use quantlens::ops::conv_gemm::Scratch;
use quantlens::ops::KernelPath;
use quantlens::plan::Kernel;
use quantlens::tensor::{Data, Value};
use quantlens::{Model, Plan, Profile};

/// Golden inputs per model, stacked as one batch (so the multi-sample path runs too).
const SAMPLES: usize = 2;

#[test]
fn every_conv_layer_equals_the_reference_loop_on_every_path() {
    let mut stems: Vec<String> = std::fs::read_dir(common::root().join("data/models"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str().and_then(|n| n.strip_suffix(".tflite")).map(str::to_owned))
        .collect();
    stems.sort();
    let (mut layers, mut direct, mut failures) = (0, 0, Vec::new());
    // Layers with few input channels, on the direct convolution (`conv_direct`) instead of the gemm.
    let mut small_c = 0;
    for stem in &stems {
        let Ok(inputs) = read_samples(common::golden_dir(stem).join("input.npy")) else { continue };
        let model = Model::from_path(common::model(stem)).unwrap();
        let first: Vec<Value> = (0..inputs.len().min(SAMPLES)).map(|i| inputs.sample(i)).collect();
        for profile in Profile::ALL {
            let Ok(plan) = Plan::new(model.clone(), profile) else { continue };
            let convs: Vec<_> = plan
                .steps
                .iter()
                .filter_map(|s| match &s.kernel {
                    Kernel::Conv2d(p) if p.packed.is_some() => Some(p),
                    _ => None,
                })
                .collect();
            if convs.is_empty() {
                continue;
            }
            let traces = plan.run_batch(&first).unwrap();
            for p in convs {
                // The samples' input and output tensors, stacked along the batch.
                let stack = |t: usize| -> Value {
                    let vals: Vec<&Value> = traces.iter().map(|tr| tr.value(t).unwrap()).collect();
                    let st = quantlens::io::Stacked::from_values(&vals).unwrap();
                    Value { shape: st.shape, data: st.data }
                };
                let (x, want) = (stack(p.input), stack(p.output));
                layers += 1;
                direct += p.packed.as_ref().unwrap().input_is_patches(&p.geometry) as usize;
                small_c += p.packed.as_ref().unwrap().direct.is_some() as usize;
                for path in KernelPath::available() {
                    let mut got = Value { shape: want.shape.clone(), data: Data::I32(Vec::new()) };
                    let mut s = Scratch::default();
                    match p.eval_into(path, &x, &mut got, &mut s) {
                        Ok(()) if got.data == want.data => {}
                        Ok(()) => failures.push(format!("{stem} {profile} [{path}] conv output {} differs", p.output)),
                        Err(e) => failures.push(format!("{stem} {profile} [{path}] conv output {}: {e}", p.output)),
                    }
                }
            }
        }
    }
    eprintln!("{layers} CONV_2D layers × profiles checked, {direct} of them 1×1 without im2col, {small_c} direct (few input channels)");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // MobileNetV2 and EfficientNet alone have 100 conv layers, most 1×1 stride 1.
    assert!(layers >= 4 * 100, "only {layers} layers");
    assert!(direct >= 4 * 60, "only {direct} 1×1 layers ran without im2col");
    // The first layer of every committed CNN (one channel) and of the RGB models.
    assert!(small_c >= 4 * 10, "only {small_c} layers ran the direct form");
}
