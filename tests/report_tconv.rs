//! The report's TRANSPOSE_CONV layers (`notebook::layers::quant_layers`,
//! `notebook::tconv`): S1, S2, S3 read from the model, and the steps of every
//! output element — the accumulator gathered from the input pixels that
//! scatter into it, + bias, × M, the element's rounding, + Z3, clamp — equal
//! to what the engine wrote into the trace. uint8 per-tensor (`uint8_tconv`:
//! six layers; under builtin the rounding depends on the flat position) and
//! int8 per-channel (`unet_ptq_int8`; under builtin it depends on the channel).

mod common;

use common::{golden_inputs, open_plan};
use quantlens::notebook::layers::{quant_layers, RoundingVaries};
use quantlens::notebook::tconv;
use quantlens::{Plan, Profile};

/// Every TRANSPOSE_CONV output element of `images` samples: the recomputed
/// steps end in the traced value. Returns (layers, elements checked, elements
/// whose rounding is not the layer's first rule).
fn check(stem: &str, images: usize, total: usize, profile: Profile) -> (usize, usize, usize) {
    let plan: Plan = open_plan(stem, profile);
    let inputs = golden_inputs(stem, total);
    let layers: Vec<_> = quant_layers(&plan).into_iter().filter(|l| l.kind == "TRANSPOSE_CONV").collect();
    let (mut checked, mut other_rounding) = (0, 0);
    for i in 0..images {
        let trace = plan.run(&inputs.sample(i)).unwrap();
        for l in &layers {
            let out = trace.value(l.output).unwrap().to_i64_vec().unwrap();
            let m = &plan.model.tensors;
            assert_eq!((l.s1, l.z1 as i64), m[l.input].per_tensor_quant().unwrap(), "{stem} op {}: S1, Z1", l.op);
            assert_eq!((l.s3, l.z3 as i64), m[l.output].per_tensor_quant().unwrap(), "{stem} op {}: S3, Z3", l.op);
            for (e, &q) in out.iter().enumerate() {
                let t = tconv::steps(l, &plan, &trace, e).unwrap_or_else(|| panic!("{stem} op {} element {e}: no steps", l.op));
                assert_eq!(t.steps.output as i64, q, "{stem} {} op {} element {e}: {:?}", profile.name(), l.op, t);
                assert_eq!(t.steps.acc_with_bias, t.steps.accumulator.wrapping_add(t.steps.bias));
                assert_eq!(l.steps(&plan, &trace, e).unwrap().output as i64, q);
                other_rounding += (l.rounding_of(e, out.len()) != l.rounding) as usize;
                checked += 1;
            }
            assert!(tconv::steps(l, &plan, &trace, out.len()).is_none(), "out of range");
        }
    }
    (layers.len(), checked, other_rounding)
}

#[test]
fn uint8_tconv_steps_equal_the_trace_in_every_profile() {
    for profile in [Profile::TfliteRef, Profile::TfliteXnnpack, Profile::TfliteBuiltin] {
        let (layers, checked, other) = check("uint8_tconv", 2, 32, profile);
        println!("uint8_tconv {}: {layers} layers, {checked} elements, {other} with the tail's rounding", profile.name());
        assert_eq!(layers, 6, "uint8_tconv has six TRANSPOSE_CONVs");
        assert!(checked > 10_000);
        // builtin: the flattened tail of each layer (n mod 16 elements) takes the scalar rounding
        assert_eq!(other > 0, profile == Profile::TfliteBuiltin, "{}", profile.name());
    }
    let plan = open_plan("uint8_tconv", Profile::TfliteBuiltin);
    for l in quant_layers(&plan).iter().filter(|l| l.kind == "TRANSPOSE_CONV") {
        assert!(!l.per_channel && l.z2.iter().all(|&z| z == l.z2[0]), "uint8: one (S2, Z2)");
        match &l.varies {
            Some(RoundingVaries::Flat(_)) | None => {}
            other => panic!("op {}: {other:?}", l.op),
        }
    }
}

#[test]
fn int8_per_channel_tconv_steps_equal_the_trace() {
    for profile in [Profile::TfliteXnnpack, Profile::TfliteBuiltin, Profile::TfliteRef] {
        let (layers, checked, _) = check("unet_ptq_int8", 2, 16, profile);
        println!("unet_ptq_int8 {}: {layers} layers, {checked} elements", profile.name());
        assert!(layers >= 1 && checked > 1000);
    }
    let plan = open_plan("unet_ptq_int8", Profile::TfliteRef);
    assert!(quant_layers(&plan).iter().filter(|l| l.kind == "TRANSPOSE_CONV").all(|l| l.per_channel && l.z2.iter().all(|&z| z == 0)));
}
