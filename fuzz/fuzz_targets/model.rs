//! Arbitrary bytes → `Model::from_bytes` (every dtype, sparse tensors,
//! several subgraphs, signatures, metadata) → the quantization mode →
//! `Plan::diagnose` (what `inspect` marks CANNOT RUN, every profile) and
//! `Plan` (every profile; folds DEQUANTIZE float16 and DENSIFY) → `run` on a
//! zero input and on a ramp input of the model's input shape.
//! Any panic, abort, hang or allocation over libFuzzer's limit is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quantlens::plan::Limits;
use quantlens::{Model, Plan, Profile, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::from_bytes(data) else { return };
    let _ = quantlens::model::mode::detect(&model).describe();
    for t in model.tensors.iter().chain(model.subgraphs.iter().flat_map(|g| g.tensors.iter())) {
        // Names as `inspect` prints them; sparse tensors expanded as DENSIFY would.
        let _ = quantlens::model::escape_name(&t.name);
        if let Some(sp) = &t.sparsity {
            if t.num_elements() <= 1 << 20 {
                let _ = sp.densify(&t.shape, t.dtype.size());
            }
        }
    }
    let _ = Plan::diagnose_with_limits(&model, Profile::TfliteRef, Limits { max_bytes: 64 << 20 });
    for profile in Profile::ALL {
        // A small memory limit keeps executions fast; the default limit is
        // exercised by tests/malformed_corpus.rs.
        let limits = Limits { max_bytes: 64 << 20 };
        let Ok(plan) = Plan::with_limits(model.clone(), profile, limits) else { continue };
        let t = &plan.model.tensors[plan.input()];
        let _ = plan.run(&Value::zeros(t.dtype, &t.shape));
        let _ = plan.run(&ramp(&Value::zeros(t.dtype, &t.shape)));
    }
});

/// The same shape and dtype, elements 0, 37, 74, … (wrapping in the dtype).
fn ramp(zero: &Value) -> Value {
    use quantlens::tensor::Data;
    let n = zero.len();
    let k = |i: usize| (i as i64).wrapping_mul(37);
    let data = match &zero.data {
        Data::F32(_) => Data::F32((0..n).map(|i| (k(i) % 512) as f32 / 64.0 - 4.0).collect()),
        Data::I32(_) => Data::I32((0..n).map(|i| k(i) as i32).collect()),
        Data::U8(_) => Data::U8((0..n).map(|i| k(i) as u8).collect()),
        Data::I8(_) => Data::I8((0..n).map(|i| k(i) as i8).collect()),
        Data::I16(_) => Data::I16((0..n).map(|i| k(i) as i16).collect()),
        Data::I64(_) => Data::I64((0..n).map(k).collect()),
        Data::Bool(_) => Data::Bool((0..n).map(|i| i % 2 == 1).collect()),
    };
    Value { shape: zero.shape.clone(), data }
}
