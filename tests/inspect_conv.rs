//! `quantlens inspect` on convolutional models: every quantized CONV_2D and
//! DEPTHWISE_CONV_2D gets the same facts as a FULLY_CONNECTED (S1, S2, S3 =
//! the output tensor's scale, M/M0/shift, clamp, rounding) plus its geometry,
//! and every other quantized op one line with its scales and profile choice.

use std::path::PathBuf;
use std::process::Command;

use quantlens::plan::Kernel;
use quantlens::{Model, Plan, Profile};

fn model(stem: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/models").join(format!("{stem}.tflite"))
}

fn inspect(stem: &str, profile: Profile) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_quantlens"))
        .arg("inspect")
        .arg(model(stem))
        .args(["--profile", profile.name()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The block `inspect` prints for op `op` (from its header to the next blank line).
fn block<'a>(text: &'a str, header: &str) -> &'a str {
    let start = text.find(header).unwrap_or_else(|| panic!("no block {header:?} in\n{text}"));
    let rest = &text[start..];
    &rest[..rest.find("\n\n").unwrap_or(rest.len())]
}

#[test]
fn every_convolution_names_s1_s2_s3_multipliers_clamp_rounding_and_geometry() {
    for stem in ["cnn_ptq_int8", "resnet_ptq_int8", "ops_ptq_int8", "cnn_legacy_uint8"] {
        for profile in Profile::ALL {
            let text = inspect(stem, profile);
            let plan = Plan::new(Model::from_path(model(stem)).unwrap(), profile).unwrap();
            let mut convs = 0;
            for step in &plan.steps {
                let (name, p_in, p_filter, p_out, g, r, choice, mult) = match &step.kernel {
                    Kernel::Conv2d(p) => ("CONV_2D", p.input, p.filter, p.output, p.geometry, &p.requant, profile.conv_rounding(), None),
                    Kernel::DepthwiseConv2d(p) => {
                        ("DEPTHWISE_CONV_2D", p.input, p.filter, p.output, p.geometry, &p.requant, profile.depthwise_rounding(), Some(p.depth_multiplier))
                    }
                    _ => continue,
                };
                convs += 1;
                let b = block(&text, &format!("\n{name} op {}: input t{p_in} ⊛ filter t{p_filter}", step.op));
                let m = &plan.model;
                // S3 is the output tensor's scale, read from the file.
                let s3 = m.tensors[p_out].quant.as_ref().unwrap().scale[0];
                assert!(b.contains(&format!("S3 = the OUTPUT tensor's scale (t{p_out}) = {s3:.9e}")), "{b}");
                let s1 = m.tensors[p_in].quant.as_ref().unwrap().scale[0];
                assert!(b.contains(&format!("S1 (input t{p_in} scale)  = {s1:.9e}")), "{b}");
                // S2: the per-channel range (or the one scale) of the filter tensor.
                let fq = m.tensors[p_filter].quant.as_ref().unwrap();
                if fq.scale.len() > 1 {
                    let lo = fq.scale.iter().copied().fold(f32::MAX, f32::min);
                    let hi = fq.scale.iter().copied().fold(f32::MIN, f32::max);
                    assert!(b.contains(&format!("{} per-channel scales, {lo:.9e} .. {hi:.9e}", fq.scale.len())), "{b}");
                    assert!(b.contains("channel 0: S2 = ") && b.contains("channel 1: S2 = "), "{b}");
                } else {
                    assert!(b.contains(&format!("per-tensor {:.9e}   Z2 = {}", fq.scale[0], fq.zero_point[0])), "{b}");
                }
                // M, M0 and shift of the first channel, as the kernel uses them.
                let mu = r.multipliers[0];
                assert!(b.contains(&format!("M = S1·S2/S3 = {:.12e} = M0·2^(shift−31): M0 = {}, shift = {}", mu.real, mu.m0, mu.shift)), "{b}");
                // Clamp range and the profile's rounding.
                assert!(b.contains(&format!("clamp [{}, {}]", r.act_min, r.act_max)), "{b}");
                assert!(b.contains(&format!("rounding: {}_rounding = {}", if mult.is_some() { "depthwise" } else { "conv" }, choice.name())), "{b}");
                // Geometry.
                assert!(b.contains(&format!("stride {}×{}   dilation {}×{}", g.stride_h, g.stride_w, g.dil_h, g.dil_w)), "{b}");
                assert!(b.contains(&format!("kernel {}×{}", g.k_h, g.k_w)), "{b}");
                if let Some(k) = mult {
                    assert!(b.contains(&format!("depth multiplier {k}")), "{b}");
                }
                assert!(!b.contains("MISMATCH"), "{b}");
            }
            assert!(convs >= 3, "{stem}: {convs} convolutions");
        }
    }
}

#[test]
fn geometry_lines_show_padding_stride_and_dilation() {
    let text = inspect("ops_ptq_int8", Profile::TfliteRef);
    // The dilated VALID conv and the stride-2 SAME depthwise with depth multiplier 2.
    assert!(text.contains("padding VALID (0 row(s) above, 0 column(s) left)   stride 1×1   dilation 2×2"), "{text}");
    assert!(text.contains("depth multiplier 2"), "{text}");
    assert!(text.contains("padding SAME (") && text.contains("stride 2×2   dilation 1×1"), "{text}");
    let text = inspect("cnn_ptq_int8", Profile::TfliteRef);
    assert!(text.contains("(fused RELU6)"), "{text}");
}

#[test]
fn legacy_uint8_convolutions_show_their_weight_zero_point_and_legacy_multiplier() {
    let text = inspect("cnn_legacy_uint8", Profile::TfliteRef);
    let b = block(&text, "\nCONV_2D op 0:");
    assert!(b.contains("Z2 = 123") && b.contains("legacy uint8: M = double(float(S1·S2)) / S3"), "{b}");
}

#[test]
fn every_other_quantized_op_gets_one_line_with_scales_and_its_profile_choice() {
    let expect = |profile: Profile, add: &str, softmax: &str| {
        let text = inspect("cnn_legacy_uint8", profile);
        let section = &text[text.find("OTHER QUANTIZED OPERATORS").unwrap_or_else(|| panic!("{text}"))..];
        let lines: Vec<&str> = section.lines().skip(1).collect();
        let kinds: Vec<&str> = lines.iter().map(|l| l.split_whitespace().nth(1).unwrap()).collect();
        assert_eq!(kinds, ["AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "CONCATENATION", "RESHAPE", "SOFTMAX"], "{section}");
        // ADD: its two inputs' scales and zero points, the output's, and the profile's add method.
        let add_line = lines[2];
        assert!(add_line.contains("t12 UINT8 (S 7.177649e-3, Z 0), t9 UINT8 (S 5.981290e-3, Z 0) → t13 UINT8 (S 1.249424e-2, Z 0)"), "{add_line}");
        assert!(add_line.ends_with(&format!("choice: {add}")), "{add_line}");
        // CONCATENATION of inputs with different scales into a third.
        let cat = lines[3];
        assert!(cat.contains("t13 UINT8 (S 1.249424e-2, Z 0), t15 UINT8 (S 2.002965e-2, Z 180) → t16 UINT8 (S 2.664892e-2, Z 135)"), "{cat}");
        assert!(cat.contains("requantized in f32"), "{cat}");
        assert!(lines[5].ends_with(&format!("choice: {softmax}")), "{}", lines[5]);
        assert!(lines[0].ends_with("choice: none: every runtime computes it the same way"), "{}", lines[0]);
    };
    expect(Profile::TfliteRef, "add_method = left shift 20, M0/shift, gemmlowp double rounding", "softmax = gemmlowp fixed point");
    expect(Profile::TfliteBuiltin, "add_method = left shift 20, M0/shift, gemmlowp double rounding; add_blocks = NEON blocks of 8 (TruncatingShift) in each run of 1568, tails by the reference", "softmax = f32 exp table");
    expect(Profile::TfliteXnnpack, "add_method = XNNPACK 20-bit multipliers, one accumulator, shift ties up", "softmax = f32 exp table");

    // An int8 model with the activation ops: each one's named choice.
    let text = inspect("ops_ptq_int8", Profile::Tflm);
    for want in ["logistic_method = gemmlowp fixed point", "tanh_method = gemmlowp fixed point", "mul_rounding = ", "leaky_relu_method = two multipliers", "relu_method = clamp in the input's scale", "mean_method = folded multiplier"] {
        assert!(text.contains(want), "{want} missing in\n{text}");
    }
    let text = inspect("ops_ptq_int8", Profile::TfliteXnnpack);
    for want in ["logistic_method = 256-entry table computed in f32", "leaky_relu_method = 8-bit multipliers", "mean_method = f32 sum·scale + folded zero point, half to even"] {
        assert!(text.contains(want), "{want} missing in\n{text}");
    }
    // A uint8-I/O model: its QUANTIZE ops (uint8 ↔ int8) name requantize_rounding.
    let text = inspect("cnn_ptq_uint8io", Profile::TfliteBuiltin);
    assert!(text.contains("QUANTIZE") && text.contains("choice: requantize_rounding = M0/shift, high-mul then shift ties up"), "{text}");
}
