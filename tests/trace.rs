//! The step trace of an FC output element reproduces the value the eval loop
//! wrote, and its steps are related exactly as equation (3) says.

use std::path::PathBuf;

use quantlens::io::read_samples;
use quantlens::ops::fully_connected::Arith;
use quantlens::{Model, Plan, Profile};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn fc_steps_reproduce_every_output_element() {
    for stem in ["mlp_ptq_uint8io", "mlp_ptq_int8_per_tensor", "mlp_legacy_uint8"] {
        let model = Model::from_path(root().join(format!("data/models/{stem}.tflite"))).unwrap();
        let x = read_samples(root().join(format!("data/goldens/{stem}/input.npy"))).unwrap();
        for profile in Profile::ALL {
            let plan = Plan::new(model.clone(), profile).unwrap();
            for i in (0..1000).step_by(97) {
                let trace = plan.run(&x.sample(i)).unwrap();
                for (op, p) in plan.fully_connected() {
                    let q = match &p.arith {
                        Arith::Quantized(q) => q,
                        Arith::Float(_) => unreachable!("quantized model"),
                    };
                    let out = trace.value(p.output).unwrap().to_i64_vec().unwrap();
                    for (e, &y) in out.iter().enumerate() {
                        let s = trace.fc_steps(&plan, op, e).unwrap();
                        assert_eq!(s.output as i64, y, "{stem} {profile} op {op} element {e}");
                        assert_eq!(s.acc_with_bias, s.accumulator + s.bias);
                        assert_eq!(s.with_zero_point, s.scaled + q.z3);
                        assert_eq!(s.output, s.with_zero_point.clamp(q.act_min, q.act_max));
                        // The rounded product is within one step of the exact one.
                        assert!((s.scaled as f64 - s.scaled_real).abs() <= 1.0, "{s:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn fc_steps_are_none_for_other_ops_and_float_layers() {
    let plan = Plan::new(Model::from_path(root().join("data/models/mlp_ptq_uint8io.tflite")).unwrap(), Profile::TfliteRef).unwrap();
    let x = read_samples(root().join("data/goldens/mlp_ptq_uint8io/input.npy")).unwrap();
    let trace = plan.run(&x.sample(0)).unwrap();
    assert!(trace.fc_steps(&plan, 0, 0).is_none(), "op 0 is QUANTIZE");
    assert!(trace.fc_steps(&plan, 1, 512).is_none(), "element out of range");
    let fplan = Plan::new(Model::from_path(root().join("data/models/mlp_float32.tflite")).unwrap(), Profile::TfliteRef).unwrap();
    let fx = read_samples(root().join("data/goldens/mlp_float32/input.npy")).unwrap();
    let ft = fplan.run(&fx.sample(0)).unwrap();
    assert!(ft.fc_steps(&fplan, 0, 0).is_none());
}
