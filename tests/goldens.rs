//! Every op-produced tensor of every committed quantized model, for every
//! held-out image that has goldens (all 1 000 for the MLPs, the first 200
//! for the convolutional models, whose feature maps are large), against the
//! goldens the real runtimes wrote (`scripts/make_data.py`): 0 differing
//! elements, in every profile whose runtime ran the model.
//!
//! Each check runs on every kernel path this CPU has (scalar, AVX2,
//! AVX-512 VNNI; forced with `with_kernel_path`), through both the traced
//! run (every tensor) and the outputs-only fast path (one thread, two
//! threads, and a reused `Workspace` sample by sample).

use std::path::PathBuf;

use quantlens::io::{read_samples, Npz};
use quantlens::verify::verify;
use quantlens::ops::{with_kernel_path, KernelPath};
use quantlens::{Model, Plan, Profile};

/// (model, held-out images with goldens).
const QUANTIZED: [(&str, usize); 9] = [
    ("mlp_ptq_uint8io", 1000),
    ("mlp_ptq_int8_per_tensor", 1000),
    ("mlp_legacy_uint8", 1000),
    ("cnn_ptq_int8", 200),
    ("cnn_ptq_uint8io", 200),
    ("resnet_ptq_int8", 200),
    ("resnet_ptq_uint8io", 200),
    ("ops_ptq_int8", 200),
    // Legacy all-uint8 CNN: uint8 CONV_2D/DEPTHWISE/pools/ADD, CONCATENATION of
    // inputs with different scales (requantized).
    ("cnn_legacy_uint8", 200),
];

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn check(model_stem: &str, images: usize, profile: Profile) -> Option<String> {
    let dir = data().join("goldens").join(model_stem);
    let golden = dir.join(format!("{}.npz", profile.golden_key()));
    if !golden.exists() {
        return None;
    }
    let model = Model::from_path(data().join("models").join(format!("{model_stem}.tflite"))).unwrap();
    let plan = Plan::new(model, profile).unwrap();
    let inputs = read_samples(dir.join("input.npy")).unwrap();
    assert_eq!(inputs.len(), images, "{model_stem}: expected {images} held-out images");
    let mut npz = Npz::open(&golden).unwrap();
    let golden_out = npz.get(&format!("t{}", plan.output())).unwrap();
    let mut lines = String::new();
    let mut exact = true;
    let paths = KernelPath::available();
    assert!(paths.contains(&KernelPath::Scalar));
    for path in paths {
        with_kernel_path(path, || {
            // Traced run: every op-produced tensor.
            let traces = plan.run_batch(&inputs.samples()).unwrap();
            let report = verify(&plan, &traces, &mut npz).unwrap();
            for t in &report.tensors {
                lines += &format!(
                    "{model_stem} {profile} [{path}, traced]: t{} ({}, op {}): {} of {} differ, max |diff| {}\n",
                    t.tensor, t.op_kind, t.op, t.differing, t.elements, t.max_abs_diff
                );
            }
            exact &= report.is_exact();
            // Outputs-only fast path: batched on 1 and 2 threads, and sample by sample.
            for threads in [1, 2] {
                let out = plan.run_batch_outputs_threads(&inputs, threads).unwrap();
                let same = out.shape == golden_out.shape && out.data == golden_out.data;
                lines += &format!("{model_stem} {profile} [{path}, outputs, {threads} thread(s)]: output t{} equal: {same}\n", plan.output());
                exact &= same;
            }
            let mut ws = plan.workspace();
            let per = golden_out.len();
            let mut differ = 0;
            for i in 0..inputs.len() {
                let y = ws.run(&plan, &inputs.sample(i)).unwrap();
                differ += usize::from(y.data != golden_out.sample(i).data || y.shape != golden_out.sample_shape());
            }
            let _ = per;
            lines += &format!("{model_stem} {profile} [{path}, workspace]: {differ} of {images} samples differ\n");
            exact &= differ == 0;
        })
        .unwrap();
    }
    print!("{lines}");
    (!exact).then_some(lines)
}

fn check_all(profile: Profile, expected_models: usize) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (stem, images) in QUANTIZED {
        let golden = data().join("goldens").join(stem).join(format!("{}.npz", profile.golden_key()));
        if golden.exists() {
            checked += 1;
        }
        if let Some(f) = check(stem, images, profile) {
            failures.push(f);
        }
    }
    assert_eq!(checked, expected_models, "{profile}: golden files missing");
    assert!(failures.is_empty(), "{profile} is not bit-exact:\n{}", failures.join(""));
}

#[test]
fn tflite_ref_is_bit_exact() {
    check_all(Profile::TfliteRef, 9);
}

#[test]
fn tflite_builtin_is_bit_exact() {
    check_all(Profile::TfliteBuiltin, 9);
}

#[test]
fn tflite_xnnpack_is_bit_exact() {
    check_all(Profile::TfliteXnnpack, 9);
}

#[test]
fn tflm_is_bit_exact() {
    // TFLite Micro refuses both legacy uint8 models (uint8 SOFTMAX; uint8 CONV_2D as
    // "Hybrid models are not supported"), recorded in data/manifest.json.
    check_all(Profile::Tflm, 7);
}

/// The float model: LiteRT's reference kernels and TFLite Micro sum each dot
/// product sequentially in f32, as quantlens does, so even the float path is
/// bit-exact against them. (The optimized kernels and XNNPACK sum in SIMD
/// order and differ in the last bits; that is not emulated.)
#[test]
fn float_model_is_bit_exact_against_reference_and_tflm() {
    for profile in [Profile::TfliteRef, Profile::Tflm] {
        assert!(check("mlp_float32", 1000, profile).is_none(), "float model differs from {profile}");
    }
}

/// The legacy uint8 CNN really exercises what it is there to prove: its
/// CONCATENATION requantizes both inputs (each has its own scale and zero
/// point, neither equal to the output's), its ADD combines two scales, and
/// its convolutions have asymmetric uint8 weights.
#[test]
fn legacy_cnn_concatenation_requantizes_inputs_of_different_scales() {
    use quantlens::plan::Kernel;
    let model = Model::from_path(data().join("models").join("cnn_legacy_uint8.tflite")).unwrap();
    let plan = Plan::new(model, Profile::TfliteRef).unwrap();
    let concat = plan
        .steps
        .iter()
        .find_map(|s| match &s.kernel {
            Kernel::Concatenation(p) => Some(p),
            _ => None,
        })
        .expect("a CONCATENATION");
    assert_eq!(concat.rescale.len(), 2);
    let r: Vec<_> = concat.rescale.iter().map(|r| r.expect("every input is requantized")).collect();
    assert_ne!(r[0].s_in, r[1].s_in);
    assert_ne!(r[0].z_in, r[1].z_in);
    for r in &r {
        assert_ne!((r.s_in, r.z_in), (r.s_out, r.z_out));
    }
    let mut convs = 0;
    for s in &plan.steps {
        match &s.kernel {
            Kernel::Conv2d(p) => {
                convs += 1;
                assert_ne!(p.requant.z2, 0, "op {}: asymmetric uint8 weights", s.op);
            }
            Kernel::DepthwiseConv2d(p) => {
                convs += 1;
                assert_ne!(p.requant.z2, 0, "op {}: asymmetric uint8 weights", s.op);
            }
            Kernel::AddSub(p) => {
                let t = |i: usize| plan.model.tensors[i].quant.as_ref().unwrap().scale[0];
                assert_ne!(t(p.inputs[0]), t(p.inputs[1]));
            }
            _ => {}
        }
    }
    assert_eq!(convs, 4);
}

/// Every CONV_2D (packed gemm) and DEPTHWISE_CONV_2D (one-pass channel-vector loop) of
/// the committed models runs its fast form in the outputs-only path (so the
/// checks above cover it on every kernel path).
#[test]
fn every_committed_conv_is_packed() {
    use quantlens::plan::Kernel;
    let mut convs = 0;
    for (stem, _) in QUANTIZED {
        let plan = Plan::new(Model::from_path(data().join("models").join(format!("{stem}.tflite"))).unwrap(), Profile::TfliteRef).unwrap();
        for s in &plan.steps {
            if let Kernel::Conv2d(p) = &s.kernel {
                assert!(p.packed.is_some(), "{stem} op {}: CONV_2D not packed", s.op);
                convs += 1;
            }
            if let Kernel::DepthwiseConv2d(p) = &s.kernel {
                assert!(p.packed.is_some(), "{stem} op {}: DEPTHWISE_CONV_2D not packed", s.op);
                convs += 1;
            }
        }
    }
    assert!(convs >= 6, "{convs} convolutions");
}
