//! `quantlens report`: a page for every committed quantized model, within
//! its size and time budgets, and a hostile model whose names try to inject
//! markup into the page.

mod common;

use std::time::Instant;

use common::*;
use quantlens::io::Stacked;
use quantlens::report::{build, Options};
use quantlens::tensor::Data;
use quantlens::model::DType;
use quantlens::profile::Profile;
use quantlens::Model;

/// Every committed quantized model: each `data/models/*.tflite`, read, with at least one tensor
/// that is quantized or float16 (an integer activation, quantized or float16 weights). Pure
/// float32 models are left out: they have no quantization to teach, and their lesson is the
/// float twin's. Each comes with its golden inputs `data/goldens/<stem>/input.npy` and its
/// reference golden `ref.npz` (or, when that runtime has none, the first golden there is, with
/// the profile that emulates it).
fn quantized_models() -> Vec<(String, std::path::PathBuf, std::path::PathBuf, Profile)> {
    let mut found = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(root().join("data/models")).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.extension().and_then(|e| e.to_str()) != Some("tflite") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let m = Model::from_path(&path).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let quantized = m.tensors.iter().any(|t| t.quant.is_some() || matches!(t.dtype, DType::U8 | DType::I8 | DType::I16 | DType::F16));
        if !quantized {
            continue; // pure float32 (its int32/int64/bool index tensors aside): nothing quantized to report on
        }
        let dir = root().join("data/goldens").join(&stem);
        let input = dir.join("input.npy");
        assert!(input.exists(), "{stem}: no committed input.npy");
        let (golden, profile) = Profile::ALL
            .iter()
            .map(|p| (dir.join(format!("{}.npz", p.golden_key())), *p))
            .find(|(g, _)| g.exists())
            .unwrap_or_else(|| panic!("{stem}: no golden"));
        found.push((stem, input, golden, profile));
    }
    found
}

/// Where the browser check (scripts/browser_check.py) finds the pages.
fn reports_dir() -> std::path::PathBuf {
    let d = root().join("target").join("reports");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_page_for_every_committed_quantized_model() {
    let models = quantized_models();
    assert!(models.len() >= 20, "only {} quantized models found", models.len());
    let mut sizes = Vec::new();
    for (stem, input, golden, profile) in &models {
        let out = reports_dir().join(format!("{stem}.html"));
        let start = Instant::now();
        let o = bin()
            .args(["report", model(stem).to_str().unwrap(), "--input", input.to_str().unwrap(), "--golden", golden.to_str().unwrap(), "--profile", profile.name(), "--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{stem}: {}", String::from_utf8_lossy(&o.stderr));
        let page = std::fs::read_to_string(&out).unwrap();
        sizes.push(format!("{stem}: {} bytes, {:.2} s", page.len(), start.elapsed().as_secs_f64()));
        assert!(page.len() < 10_000_000, "{stem}: {} bytes", page.len());
        for needle in ["Quantization mode", "id=\"tensors\"", "Content-Security-Policy"] {
            assert!(page.contains(needle), "{stem}: no {needle:?}");
        }
        // A model the profile refuses has a page that says which op and why; every other page
        // steps the sample through and compares it with the golden.
        if !page.contains(&format!("Profile {} refuses this model: operator", profile.name())) {
            assert!(page.contains("<svg"), "{stem}: no chart");
            // The prediction: a class and the accuracy for a class vector, otherwise why not.
            let m = Model::from_path(model(stem)).unwrap();
            let classes = quantlens::report::prediction::classes(&m, m.outputs[0], None);
            let prediction = &page[page.find("id=\"prediction\"").unwrap()..page.find("id=\"golden\"").unwrap()];
            match classes {
                Ok(_) => assert!(prediction.contains("predicted class") && prediction.contains("Accuracy on the first"), "{stem}: a classifier without its class"),
                Err(why) => {
                    assert!(prediction.contains("is not a classifier") && prediction.contains(&quantlens::report::html::esc(&why)), "{stem}: no reason");
                    assert!(!prediction.contains("predicted class") && !prediction.contains("Accuracy"), "{stem}: a class for a feature map");
                }
            }
            assert!(page.contains("every element of every tensor equal") || page.contains("elements differ"), "{stem}: no golden verdict");
        }
        assert!(!page.to_ascii_lowercase().contains("<script"), "{stem}: a script");
        for external in ["src=\"http", "href=\"http", "url(http", "@import"] {
            assert!(!page.contains(external), "{stem}: an external resource ({external})");
        }
        assert_eq!(page.matches("<svg").count(), page.matches("</svg>").count(), "{stem}");
    }
    println!("{}", sizes.join("\n"));
}

/// Which outputs are class vectors: the committed classifiers (a softmax or fully-connected head
/// over 10 classes) are; the schema-written feature maps, a vector of 784 dequantized pixels and one
/// of 1 792 BATCH_MATMUL values are not; and labels beyond the output's length rule a vector out.
#[test]
fn classifiers_and_feature_maps_are_told_apart() {
    use quantlens::report::prediction::classes;
    let out = |stem: &str| {
        let m = Model::from_path(model(stem)).unwrap();
        let t = m.outputs[0];
        (m, t)
    };
    for stem in ["mlp_ptq_uint8io", "cnn_ptq_int8", "mobilenetv2_ptq_int8", "efficientnet_b0_ptq_int8", "vit_ptq_int8", "kws1d_ptq_int8", "tops_ptq_int8", "cnn_16x8"] {
        let (m, t) = out(stem);
        assert_eq!(classes(&m, t, Some(&[0, 9, 3])), Ok(10), "{stem}");
        let e = classes(&m, t, Some(&[0, 10])).unwrap_err();
        assert!(e.contains("label 10 is not one of its 10 classes"), "{stem}: {e}");
    }
    for stem in ["uint8_tconv", "int16_ties", "uint8_graph", "add_ties_int8", "unet_ptq_int8", "logsoftmax_ptq_int8"] {
        let (m, t) = out(stem);
        let e = classes(&m, t, None).unwrap_err();
        assert!(e.contains("is not a vector of class scores"), "{stem}: {e}");
    }
    let (m, t) = out("requant_16x8");
    let e = classes(&m, t, None).unwrap_err();
    assert!(e.contains("784 values come from DEQUANTIZE ←"), "{e}");
    let (m, t) = out("bmm_dynamic");
    assert!(classes(&m, t, None).unwrap_err().contains("1792 values come from RESHAPE ← BATCH_MATMUL"));
}

/// The page of a feature-map model (uint8_tconv) names no class and shows the output's shape and
/// its dequantized values' range; a classifier's (the MLP) still names the class and the accuracy.
/// Every TRANSPOSE_CONV has its S1, S2, S3, M table, and the step trace of its largest output
/// element ends in the traced value.
#[test]
fn a_feature_map_page_and_a_classifier_page() {
    let inputs = |stem: &str| quantlens::io::read_samples(root().join("data/goldens").join(stem).join("input.npy")).unwrap();
    let labels: Vec<i64> = (0..32).map(|i| i % 10).collect();
    let opts = Options { max_samples: 4, labels: Some(labels.clone()), ..Default::default() };
    let m = Model::from_path(model("uint8_tconv")).unwrap();
    let x = inputs("uint8_tconv");
    let page = build(&model("uint8_tconv"), &m, &x, "input.npy", &opts).unwrap();
    let prediction = &page[page.find("id=\"prediction\"").unwrap()..page.find("id=\"golden\"").unwrap()];
    assert!(!prediction.contains("predicted class") && !prediction.contains("Accuracy"));
    assert!(prediction.contains("UINT8 [1, 28, 28, 3]") && prediction.contains("is not a vector of class scores"));
    // the summary is the dequantized output's
    let plan = quantlens::Plan::new(m.clone(), Profile::TfliteRef).unwrap();
    let trace = plan.run(&x.sample(0)).unwrap();
    let d = quantlens::lessons::dequantize_trace(&plan, &trace, plan.output()).unwrap();
    let (lo, hi) = d.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let number = |key: &str| -> f64 { prediction.split(key).nth(1).unwrap().split([',', ';']).next().unwrap().trim().parse().unwrap() };
    assert!((number("min ") - lo as f64).abs() < 1e-6 && (number("max ") - hi as f64).abs() < 1e-6, "{prediction}");
    assert!(prediction.contains("<svg"), "no picture of the output");
    // every TRANSPOSE_CONV: its constants, and its traced element
    let layers: Vec<_> = quantlens::report::quant_layers(&plan).into_iter().filter(|l| l.kind == "TRANSPOSE_CONV").collect();
    assert_eq!(layers.len(), 6);
    for l in &layers {
        assert!(page.contains(&format!("<h3>op {} TRANSPOSE_CONV</h3>", l.op)), "op {}: no S1, S2, S3, M table", l.op);
        let out = trace.value(l.output).unwrap().to_i64_vec().unwrap();
        let e = (0..out.len()).max_by_key(|&k| (out[k], std::cmp::Reverse(k))).unwrap();
        let head = format!("<p>op {} element {e} (channel {}):", l.op, e % l.multipliers.len());
        let at = page.find(&head).unwrap_or_else(|| panic!("op {}: no step trace {head:?}", l.op));
        let line = &page[at..at + page[at..].find("</p>").unwrap()];
        assert!(line.ends_with(&format!("→ <b>{}</b>.", out[e])), "op {}: {line} (trace: {})", l.op, out[e]);
        let t = quantlens::notebook::tconv::steps(l, &plan, &trace, e).unwrap();
        let next = &page[at + line.len() + "</p>".len()..];
        let sources = &next[..next.find("</p>").unwrap()];
        assert!(sources.contains(&format!("summing to the accumulator {}", t.steps.accumulator)) && sources.contains(&format!("{} products", t.sources.len() * t.in_channels)), "op {}: {sources}", l.op);
    }
    let m = Model::from_path(model("mlp_ptq_uint8io")).unwrap();
    let page = build(&model("mlp_ptq_uint8io"), &m, &inputs("mlp_ptq_uint8io"), "input.npy", &opts).unwrap();
    let prediction = &page[page.find("id=\"prediction\"").unwrap()..page.find("id=\"golden\"").unwrap()];
    assert!(prediction.contains("predicted class") && prediction.contains("Accuracy on the first 4 samples"));
    assert!(!prediction.contains("not a classifier"));
}

/// The original quantized models run bit-exactly and have quantized layers: their pages say so.
#[test]
fn the_original_pages_show_layers_and_an_exact_golden() {
    for stem in ["mlp_ptq_uint8io", "cnn_ptq_int8", "resnet_ptq_int8"] {
        let out = reports_dir().join(format!("{stem}.html"));
        let golden = root().join("data/goldens").join(stem).join("ref.npz");
        let o = bin().args(["report", model(stem).to_str().unwrap(), "--golden", golden.to_str().unwrap(), "--out", out.to_str().unwrap()]).output().unwrap();
        assert!(o.status.success(), "{stem}: {}", String::from_utf8_lossy(&o.stderr));
        let page = std::fs::read_to_string(&out).unwrap();
        for needle in ["M = S1·S2/S3", "every element of every tensor equal"] {
            assert!(page.contains(needle), "{stem}: no {needle:?}");
        }
    }
}

#[test]
fn the_mlp_page_takes_well_under_a_second() {
    let m = Model::from_path(model("mlp_ptq_uint8io")).unwrap();
    let inputs = quantlens::io::read_samples(root().join("data/goldens/mlp_ptq_uint8io/input.npy")).unwrap();
    let start = Instant::now();
    let page = build(&model("mlp_ptq_uint8io"), &m, &inputs, "input.npy", &Options::default()).unwrap();
    let took = start.elapsed().as_secs_f64();
    assert!(took < 0.9, "{took} s");
    assert!(page.contains("0 elements differ") || page.contains("differing elements"));
}

#[test]
fn a_wrong_sample_or_dtype_is_an_error() {
    let m = Model::from_path(model("mlp_ptq_uint8io")).unwrap();
    let inputs = quantlens::io::read_samples(root().join("data/goldens/mlp_ptq_uint8io/input.npy")).unwrap();
    let e = build(&model("mlp_ptq_uint8io"), &m, &inputs, "x.npy", &Options { sample: 5000, ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("5000"), "{e}");
    let wrong = Stacked { shape: vec![1, 784], data: Data::F32(vec![0.0; 784]) };
    let e = build(&model("mlp_ptq_uint8io"), &m, &wrong, "x.npy", &Options::default()).unwrap_err();
    assert!(e.to_string().contains("FLOAT32"), "{e}");
}

const HOSTILE: [&str; 4] = ["<script>alert(1)</script>", "\"><img src=x onerror=alert(2)>", "</svg><script>alert(3)</script>", "'><svg onload=alert(4)>"];

#[test]
fn names_from_the_model_are_escaped() {
    let mut spec = chain_uint8io();
    for (i, t) in spec.tensors.iter_mut().enumerate() {
        t.name = format!("{}{}", HOSTILE[i % HOSTILE.len()], i);
    }
    let dir = tempdir("report", "hostile");
    let path = dir.join("hostile.tflite");
    std::fs::write(&path, build_bytes(&spec)).unwrap();
    let x = Stacked { shape: vec![2, 4], data: Data::U8(vec![0, 100, 200, 255, 3, 7, 250, 128]) };
    let input = dir.join("x.npy");
    x.write_npy(&input).unwrap();
    let out = reports_dir().join("hostile.html");
    let o = bin().args(["report", path.to_str().unwrap(), "--input", input.to_str().unwrap(), "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(&out).unwrap();
    let lower = page.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "a <script> tag got through");
    assert!(!lower.contains("<img"), "an <img> tag got through");
    assert!(!lower.contains("<svg onload"), "an svg onload got through");
    // Every name is there, escaped.
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;0"));
    assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;1"));
    // The layout holds: every element the page opens is closed.
    assert_eq!(page.matches("<svg").count(), page.matches("</svg>").count());
    assert_eq!(page.matches("<table").count(), page.matches("</table>").count());
    assert_eq!(page.matches("<tr>").count(), page.matches("</tr>").count());
    assert!(page.trim_end().ends_with("</html>"));
}

fn build_bytes(spec: &Spec) -> Vec<u8> {
    common::build(spec)
}

/// A PNG becomes one sample of the model's input shape and dtype: a 56×56 white square on black,
/// averaged 2×2 down to 28×28 and quantized with the input's (S, Z) — for the primary model's
/// uint8 input with S = 1/255, Z = 0 the pixel values themselves.
#[cfg(feature = "images")]
#[test]
fn an_image_is_an_input() {
    let dir = tempdir("report", "image");
    let path = dir.join("square.png");
    let (w, h) = (56u32, 56u32);
    let pixels: Vec<u8> = (0..h).flat_map(|y| (0..w).map(move |x| if (20..36).contains(&x) && (20..36).contains(&y) { 255 } else { 0 })).collect();
    {
        let file = std::fs::File::create(&path).unwrap();
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header().unwrap().write_image_data(&pixels).unwrap();
    }
    let m = Model::from_path(model("mlp_ptq_uint8io")).unwrap();
    let x = quantlens::notebook::read_input(&m, &path).unwrap();
    assert_eq!(x.shape, vec![1, 784]);
    let v = x.to_i64_vec().unwrap();
    assert_eq!(v[10 * 28 + 10], 255);
    assert_eq!(v[0], 0);
    assert_eq!(v.iter().filter(|&&p| p == 255).count(), 64);
    let out = dir.join("square.html");
    let o = bin().args(["report", model("cnn_ptq_int8").to_str().unwrap(), "--input", path.to_str().unwrap(), "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.contains("square.png") && page.contains("No golden file given"));
}

/// The chart budget: once the pictures' bytes reach it, the rest are replaced by a note, so a
/// model with many large layers still gives a page of bounded size.
#[test]
fn the_chart_budget_bounds_the_page() {
    let m = Model::from_path(model("cnn_ptq_int8")).unwrap();
    let inputs = quantlens::io::read_samples(root().join("data/goldens/cnn_ptq_int8/input.npy")).unwrap();
    let full = build(&model("cnn_ptq_int8"), &m, &inputs, "input.npy", &Options { max_samples: 2, ..Default::default() }).unwrap();
    let small = build(&model("cnn_ptq_int8"), &m, &inputs, "input.npy", &Options { max_samples: 2, chart_budget: 200_000, ..Default::default() }).unwrap();
    assert!(!full.contains("chart budget is spent"));
    assert!(small.contains("chart budget is spent"));
    assert!(small.len() < full.len() / 2, "{} vs {}", small.len(), full.len());
    assert!(small.len() < 200_000 + 400_000, "{}", small.len());
}

/// A per-tensor layer has one multiplier for every output channel: its table says it once,
/// while a per-channel layer lists its first channels' M[c].
#[test]
fn per_tensor_layers_show_one_multiplier() {
    for (stem, per_channel) in [("mlp_ptq_int8_per_tensor", false), ("cnn_ptq_int8", true)] {
        let m = Model::from_path(model(stem)).unwrap();
        let inputs = quantlens::io::read_samples(root().join(format!("data/goldens/{stem}/input.npy"))).unwrap();
        let page = build(&model(stem), &m, &inputs, "input.npy", &Options::default()).unwrap();
        let layers = page.matches("M = S1·S2/S3").count();
        assert!(layers >= 2, "{stem}: {layers} layers");
        let single = page.matches("<td>M = M0·2^(shift−31)</td>").count();
        let indexed = page.matches("<td>M[1] = M0·2^(shift−31)</td>").count();
        if per_channel {
            assert!(single == 0 && indexed >= 1, "{stem}: {single} single, {indexed} indexed rows");
        } else {
            assert_eq!((single, indexed), (layers, 0), "{stem}");
        }
    }
}
