//! An operator quantlens cannot run fails `Plan::new` with
//! `EngineError::UnsupportedOp` naming the operator's index and kind, in
//! every profile; a supported op with an unsupported detail names both.

use std::path::Path;

use quantlens::model::{OpKind, Options};
use quantlens::{EngineError, Model, Plan, Profile};

fn ops_model() -> Model {
    Model::from_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/models/ops_ptq_int8.tflite")).unwrap()
}

#[test]
fn unknown_builtin_is_named_with_its_index() {
    let mut m = ops_model();
    let idx = m.operators.iter().position(|op| op.kind == OpKind::Tanh).unwrap();
    m.operators[idx].kind = OpKind::Other(39); // TRANSPOSE
    for profile in Profile::ALL {
        let err = Plan::new(m.clone(), profile).unwrap_err();
        assert_eq!(err, EngineError::UnsupportedOp { op: idx, kind: "TRANSPOSE".into() });
        assert_eq!(err.to_string(), format!("operator {idx} (TRANSPOSE): quantlens has no kernel for this operator"));
    }
}

#[test]
fn custom_op_is_named_with_its_index() {
    let mut m = ops_model();
    m.operators[0].kind = OpKind::Custom("MyFancyOp".into());
    let err = Plan::new(m, Profile::Tflm).unwrap_err();
    assert_eq!(err, EngineError::UnsupportedOp { op: 0, kind: "CUSTOM(MyFancyOp)".into() });
}

#[test]
fn the_first_unsupported_op_is_reported() {
    let mut m = ops_model();
    let n = m.operators.len();
    m.operators[n - 1].kind = OpKind::Other(77_000);
    m.operators[3].kind = OpKind::Other(88);
    let err = Plan::new(m, Profile::TfliteRef).unwrap_err();
    assert_eq!(err, EngineError::UnsupportedOp { op: 3, kind: "UNPACK".into() });
}

#[test]
fn unsupported_detail_names_op_and_detail() {
    // A CONV_2D with a fused TANH: the op is known, the detail is not.
    let mut m = ops_model();
    let idx = m.operators.iter().position(|op| op.kind == OpKind::Conv2d).unwrap();
    if let Options::Conv2d { activation, .. } = &mut m.operators[idx].options {
        *activation = quantlens::model::Activation::Tanh;
    }
    match Plan::new(m, Profile::TfliteBuiltin).unwrap_err() {
        EngineError::Unsupported { op, kind, what } => {
            assert_eq!((op, kind.as_str()), (idx, "CONV_2D"));
            assert!(what.contains("TANH"), "{what}");
        }
        other => panic!("unexpected {other:?}"),
    }
}
