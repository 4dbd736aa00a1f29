//! The conv step trace of one output position and channel reproduces the
//! value the run computed, from its receptive field.

use std::path::Path;

use quantlens::io::read_samples;
use quantlens::model::OpKind;
use quantlens::{Model, Plan, Profile};

fn data(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(p)
}

#[test]
fn conv_steps_reproduce_every_output_of_the_first_image() {
    let model = Model::from_path(data("models/ops_ptq_int8.tflite")).unwrap();
    let input = read_samples(data("goldens/ops_ptq_int8/input.npy")).unwrap().sample(0);
    for profile in Profile::ALL {
        let plan = Plan::new(model.clone(), profile).unwrap();
        let trace = plan.run(&input).unwrap();
        let mut checked = 0;
        for op in &plan.model.operators {
            if !matches!(op.kind, OpKind::Conv2d | OpKind::DepthwiseConv2d) {
                continue;
            }
            let out = trace.value(op.outputs[0]).unwrap().to_i64_vec().unwrap();
            for (e, &want) in out.iter().enumerate() {
                let s = trace.conv_steps(&plan, op.index, e).unwrap();
                assert_eq!(s.output as i64, want, "{profile} op {} element {e}", op.index);
                let acc: i32 = s.receptive_field.iter().map(|t| t.x_centered * t.w).sum();
                assert_eq!(acc, s.accumulator);
                assert_eq!(s.acc_with_bias, s.accumulator + s.bias);
                assert_eq!(s.clamped, s.output != s.with_zero_point);
                checked += 1;
            }
            assert!(trace.conv_steps(&plan, op.index, out.len()).is_none());
        }
        assert_eq!(checked, 12 * 12 * 4 + 6 * 6 * 4 + 6 * 6 * 8);
        // Not a convolution: no conv steps; FC steps still work.
        let fc = plan.fully_connected().next().unwrap().0;
        assert!(trace.conv_steps(&plan, fc, 0).is_none());
        assert!(trace.fc_steps(&plan, fc, 0).is_some());
    }
}

#[test]
fn padding_taps_are_marked() {
    // conv1 of the CNN: 3×3 SAME on 28×28, so output (0, 0) has 5 taps in the padding.
    let model = Model::from_path(data("models/cnn_ptq_int8.tflite")).unwrap();
    let input = read_samples(data("goldens/cnn_ptq_int8/input.npy")).unwrap().sample(0);
    let plan = Plan::new(model, Profile::Tflm).unwrap();
    let trace = plan.run(&input).unwrap();
    let s = trace.conv_steps(&plan, 0, 3).unwrap();
    assert_eq!(s.position, (0, 0, 0, 3));
    assert_eq!(s.receptive_field.len(), 9);
    assert_eq!(s.receptive_field.iter().filter(|t| t.at.is_none()).count(), 5);
    assert!(s.receptive_field.iter().filter(|t| t.at.is_none()).all(|t| t.x_centered == 0));
}
