//! The batch runs' grouping and threading (`Plan::run_batch_outputs_grouped`,
//! `Plan::batch_group`, the workspaces a plan keeps between batch runs): on
//! **every** committed model that `Plan::new` accepts (profile `tflite-ref`),
//! a batch gives, bit for bit, what `Workspace::run` gives one sample at a
//! time — for batches of 1, 15, 16 and 17 samples (one short of a group of
//! 16, exactly one, one over; 1 and 3 on the big models), on one and two
//! threads (odd N: the threads' shares differ by one), in the plan's own
//! group size and in groups of 1, 5 and 16, the plan's kept workspaces
//! reused from run to run in every order of those sizes.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use quantlens::io::{read_samples, Stacked};
use common::bits;
use quantlens::tensor::Data;
use quantlens::{Model, Plan, Profile, Value};

/// `n` samples: the golden inputs cycled, each later pass with every element
/// of an 8-bit, 16-bit or float input moved by the pass number (wrapping in
/// its dtype) so repeated images do not hide a sample written to the wrong
/// row (integer index inputs are left as they are).
fn samples(golden: &Stacked, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut v = golden.sample(i % golden.len());
            let pass = (i / golden.len()) as i32;
            match &mut v.data {
                Data::I8(x) => x.iter_mut().for_each(|e| *e = e.wrapping_add(pass as i8)),
                Data::U8(x) => x.iter_mut().for_each(|e| *e = e.wrapping_add(pass as u8)),
                Data::I16(x) => x.iter_mut().for_each(|e| *e = e.wrapping_add(pass as i16)),
                Data::F32(x) => x.iter_mut().for_each(|e| *e += pass as f32 * 0.01),
                _ => {}
            }
            v
        })
        .collect()
}

/// Batch sizes for a model whose input has `per_sample` elements: every
/// group boundary for the small models, fewer samples for the big ones so
/// the suite stays fast.
fn sizes(per_sample: usize) -> &'static [usize] {
    if per_sample <= 4096 {
        &[1, 15, 16, 17]
    } else {
        &[1, 3]
    }
}

#[test]
fn batches_equal_one_sample_at_a_time_for_every_group_and_thread_split() {
    let (mut ran, mut failures) = (0, Vec::new());
    for stem in &common::model_stems() {
        let Ok(plan) = Plan::new(Model::from_path(common::model(stem)).unwrap(), Profile::TfliteRef) else { continue };
        let golden = read_samples(common::golden_dir(stem).join("input.npy")).unwrap();
        let per = golden.sample_shape().iter().product::<usize>();
        let all = samples(&golden, *sizes(per).iter().max().unwrap());
        let mut ws = plan.workspace();
        let mut one: Vec<Vec<u64>> = Vec::new();
        for x in &all {
            one.push(bits(&ws.run(&plan, x).unwrap().data));
        }
        let own = plan.batch_group();
        assert!((1..=quantlens::fast::GROUP).contains(&own), "{stem}: group {own}");
        for &n in sizes(per) {
            let batch = Stacked::from_values(&all[..n].iter().collect::<Vec<_>>()).unwrap();
            let want: Vec<u64> = one[..n].concat();
            for group in [own, 16, 1, 5] {
                for threads in [1, 2] {
                    let done = AtomicUsize::new(0);
                    match plan.run_batch_outputs_grouped(&batch, threads, group, &|k| {
                        done.fetch_add(k, Ordering::Relaxed);
                    }) {
                        Ok(y) => {
                            let mut shape = vec![n];
                            shape.extend_from_slice(&plan.model.tensors[plan.output()].shape);
                            if y.shape != shape {
                                failures.push(format!("{stem}: N {n} group {group} threads {threads}: shape {:?}, not {shape:?}", y.shape));
                            }
                            if bits(&y.data) != want {
                                failures.push(format!("{stem}: N {n} group {group} threads {threads}: differs from one sample at a time"));
                            }
                            if done.load(Ordering::Relaxed) != n {
                                failures.push(format!("{stem}: N {n} group {group} threads {threads}: progress counted {}", done.load(Ordering::Relaxed)));
                            }
                        }
                        Err(e) => failures.push(format!("{stem}: N {n} group {group} threads {threads}: {e}")),
                    }
                }
            }
            // The default entry points run the plan's own group.
            match plan.run_batch_outputs_threads(&batch, 2) {
                Ok(y) if bits(&y.data) == want => {}
                Ok(_) => failures.push(format!("{stem}: N {n}: run_batch_outputs_threads differs")),
                Err(e) => failures.push(format!("{stem}: N {n}: run_batch_outputs_threads: {e}")),
            }
        }
        // A clone of the plan starts without kept workspaces and gives the same.
        let batch = Stacked::from_values(&all[..3.min(all.len())].iter().collect::<Vec<_>>()).unwrap();
        let again = plan.clone().run_batch_outputs(&batch).unwrap();
        if bits(&again.data) != one[..3.min(all.len())].concat() {
            failures.push(format!("{stem}: a cloned plan's batch differs"));
        }
        ran += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(ran >= 30, "only {ran} models ran");
}

#[test]
fn the_group_fits_the_cache() {
    // The MLPs' widest step is a few KB: a full group. MobileNetV2's and
    // EfficientNet's are 64–128 KB per sample: smaller groups, never below 1.
    // The project CNN's weights (3 KB) are smaller than one sample's widest
    // step: one sample at a time.
    let group = |stem: &str| Plan::new(Model::from_path(common::model(stem)).unwrap(), Profile::TfliteRef).unwrap().batch_group();
    assert_eq!(group("mlp_ptq_int8_per_tensor"), quantlens::fast::GROUP);
    let (mnv2, effb0) = (group("mobilenetv2_ptq_int8"), group("efficientnet_b0_ptq_int8"));
    assert!((2..quantlens::fast::GROUP).contains(&mnv2), "MobileNetV2 group {mnv2}");
    assert!((1..=mnv2).contains(&effb0), "EfficientNet-B0 group {effb0} (MobileNetV2 {mnv2})");
    assert_eq!(group("cnn_ptq_int8"), 1);
}

#[test]
fn images_read_in_place_equal_the_parsed_file() {
    // `read_samples` keeps a C-order 8-bit file's bytes in place (no second
    // copy); every other file goes through `parse_samples`. Both must agree,
    // and a file with anything after its data is still refused or read as before.
    let mut checked = 0;
    for stem in ["mlp_ptq_int8_per_tensor", "mlp_ptq_uint8io", "cnn_ptq_int8", "mobilenetv2_ptq_int8", "mlp_float32"] {
        let path = common::golden_dir(stem).join("input.npy");
        let bytes = std::fs::read(&path).unwrap();
        let parsed = quantlens::io::parse_samples(&bytes, "parsed").unwrap();
        assert_eq!(read_samples(&path).unwrap(), parsed, "{stem}");
        // One byte more after the data: whatever parse_samples says, read_samples says too.
        let dir = common::tempdir("batch_groups", stem);
        let longer = dir.join("longer.npy");
        let mut b = bytes.clone();
        b.push(0);
        std::fs::write(&longer, &b).unwrap();
        let (a, p) = (read_samples(&longer), quantlens::io::parse_samples(&b, "parsed"));
        assert_eq!(a.is_ok(), p.is_ok(), "{stem}: {a:?} vs {p:?}");
        if let (Ok(a), Ok(p)) = (a, p) {
            assert_eq!(a, p, "{stem}");
        }
        checked += 1;
    }
    assert_eq!(checked, 5);
}
