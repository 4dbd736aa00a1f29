//! Charts as SVG values (plotters, SVG backend only), for the notebooks.
//!
//! Every chart is a [`Chart`]: an SVG string and its title. In evcxr a
//! `Chart` left as the last expression of a cell displays inline (it has an
//! `evcxr_display` method); [`Chart::save`] writes the `.svg`.
//!
//! | function | shows |
//! |---|---|
//! | [`digit`] | a 28×28 input image: the pixels and the quantized input values |
//! | [`weights`] | a layer's integer weights on their grid, and the scale per output channel |
//! | [`int_histogram`] | any integer tensor's values on their grid (e.g. activations) |
//! | [`scale_derivation`] | a real range mapped onto the integer grid: S, Z and its nudge |
//! | [`step_trace`] | one output neuron: accumulator → + bias → × M → round → + Z3 → clamp |
//! | [`activations`] | float path vs dequantized integer path per layer, error and clamping |
//! | [`softmax`], [`grouped_bars`] | bars per class (or any category) for several series |
//! | [`grouped_bars_with_lines`] | the same with horizontal reference lines (e.g. accumulator bits) |
//! | [`bars`] | one bar per category, some highlighted, with notes (e.g. divergence per tensor) |
//! | [`bars_of_width`] | the same on a canvas of a given width (a long series of thin bars that must fit a cell) |
//! | [`accuracy`] | accuracy of a sequence of variants |
//! | [`disagreements`] | differing elements per layer for pairs of runtimes |
//! | [`tie_zoom`] | a product near a rounding tie, zoomed, and what each rule rounds it to |
//! | [`conv_kernels`] | a CONV_2D's kernels, one heatmap per output channel on the integer grid |
//! | [`receptive_field`] | one convolution output: its taps on the input, the products, the requantization |
//! | [`feature_maps`] | an NHWC tensor as one heatmap per channel (a conv layer's feature maps) |
//! | [`heatmaps`] | same-shaped matrices side by side on one color scale (attention scores, softmax) |
//!
//! Text is emitted as SVG `<text>` elements (no font files needed); the
//! browser picks the sans-serif font.

mod conv_charts;
mod draw;
mod hw_charts;
mod lessons_charts;
mod quant_charts;
// --- vit ---
mod attention_charts;

use std::path::Path;

pub use conv_charts::{conv_kernels, feature_maps, receptive_field};
pub use lessons_charts::{accuracy, activations, bars, bars_of_width, disagreements, grouped_bars, grouped_bars_with_lines, softmax, tie_zoom, Bar};
pub use hw_charts::{datapath, waveform};
pub use quant_charts::{digit, int_histogram, scale_derivation, step_trace, weights};
pub use attention_charts::heatmaps;

/// A rendered chart: an SVG document and its title.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    svg: String,
    title: String,
}

impl Chart {
    /// Wrap an SVG document. The root element gets `max-width: 100%;
    /// height: auto` so the chart scales down to the page (its `viewBox`
    /// keeps the proportions) in Jupyter, the exported HTML and the report.
    pub fn new(title: impl Into<String>, svg: impl Into<String>) -> Chart {
        let mut svg: String = svg.into();
        if let Some(at) = svg.find("<svg ") {
            if !svg[at..].split('>').next().unwrap_or("").contains("style=") {
                svg.insert_str(at + 5, "style=\"max-width:100%;height:auto\" ");
            }
        }
        Chart { svg, title: title.into() }
    }

    /// The SVG document.
    pub fn svg(&self) -> &str {
        &self.svg
    }

    /// The title drawn at the top.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// Display inline in evcxr (Jupyter): prints the SVG between evcxr's
    /// content markers with MIME type `image/svg+xml`.
    pub fn evcxr_display(&self) {
        println!("EVCXR_BEGIN_CONTENT image/svg+xml\n{}\nEVCXR_END_CONTENT", self.svg);
    }

    /// Write the SVG to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, &self.svg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lessons::{GridMap, LayerComparison};
    use crate::model::{Activation, DType, Model};
    use crate::ops::fully_connected::Steps;
    use crate::profile::Multiplier;
    use crate::tensor::{Data, Value};

    fn check(c: &Chart, title: &str) {
        assert_eq!(c.title(), title);
        assert!(c.svg().contains("<svg"), "{title}: no <svg");
        assert!(c.svg().contains(title), "{title}: title not in the SVG");
        assert!(c.svg().contains("<text"), "{title}: no text");
        assert!(!c.svg().contains("chart error"), "{title}: {}", c.svg());
    }

    fn data() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
    }

    #[test]
    fn digit_renders() {
        let pixels: Vec<u8> = (0..784).map(|i| ((i * 7) % 256) as u8).collect();
        let q = Value { shape: vec![1, 784], data: Data::I8(pixels.iter().map(|&p| (p as i32 - 128) as i8).collect()) };
        check(&digit("Digit heatmap", &pixels, &q), "Digit heatmap");
    }

    #[test]
    fn weights_render_for_every_kind() {
        for (stem, w) in [("mlp_ptq_uint8io", 6), ("mlp_legacy_uint8", 4), ("mlp_ptq_int8_per_tensor", 6)] {
            let model = Model::from_path(data().join("models").join(format!("{stem}.tflite"))).unwrap();
            let title = format!("Weights of {stem}");
            check(&weights(&title, &model, w), &title);
        }
    }

    #[test]
    fn histogram_renders() {
        let v: Vec<i64> = (0..2000).map(|i| if i % 3 == 0 { -128 } else { (i % 200) - 100 }).collect();
        check(&int_histogram("Activation histogram", "q", &v, (-128, 127), &[("Z3".into(), -128.0)]), "Activation histogram");
        // int16 values far above Z = 0: the mark's label inside the plot, pointing left, and no line
        let far: Vec<i64> = (17_000..17_060).collect();
        let c = int_histogram("Far", "q (INT16)", &far, (17_000, 17_059), &[("Z = 0 (real 0)".into(), 0.0)]);
        assert!(c.svg().contains("← Z = 0 (real 0)"));
        assert!(text_x(c.svg(), "← Z = 0 (real 0)") > 60, "the label left of the plot");
    }

    #[test]
    fn scale_derivation_renders() {
        check(&scale_derivation("Scale derivation", &GridMap::from_range(-0.245, 0.267, DType::U8)), "Scale derivation");
        check(&scale_derivation("From the file", &GridMap::from_scale(0.0187, -128, DType::I8)), "From the file");
    }

    #[test]
    fn step_trace_renders() {
        let m = Multiplier::from_scales(0.0039, 0.001, 0.0187);
        let s = Steps {
            channel: 3,
            accumulator: 52_000,
            bias: -1_200,
            acc_with_bias: 50_800,
            multiplier: m,
            scaled_real: 50_800.0 * m.real,
            scaled: (50_800.0 * m.real).round() as i32,
            with_zero_point: (50_800.0 * m.real).round() as i32 - 128,
            output: (50_800.0 * m.real).round() as i32 - 128,
            clamped: false,
        };
        check(&step_trace("Step trace", &s, -128, 127), "Step trace");
    }

    #[test]
    fn activations_render() {
        let f: Vec<f32> = (0..300).map(|i| (i as f32 / 30.0 - 2.0).max(0.0)).collect();
        let d: Vec<f32> = f.iter().map(|x| (x / 0.05).round() * 0.05).collect();
        let l = LayerComparison {
            kind: "FULLY_CONNECTED",
            layer: 0,
            op: 1,
            tensor: 8,
            float_tensor: 7,
            activation: Activation::Relu,
            scale: 0.05,
            zero_point: -128,
            act_min: -128,
            act_max: 127,
            float: f,
            dequantized: d,
            clamped_low: 60,
            clamped_high: 0,
            max_abs_error: 0.025,
            mean_abs_error: 0.01,
        };
        check(&activations("Float vs integer", &[l.clone(), l]), "Float vs integer");
    }

    #[test]
    fn bars_render() {
        let p: Vec<f32> = vec![0.01, 0.02, 0.9, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01];
        check(&softmax("Softmax outputs", &p, &p, &p), "Softmax outputs");
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        check(&grouped_bars("Grouped", "value", &names, &[("x".into(), vec![1.0, -2.0, 3.0])]), "Grouped");
        check(
            &accuracy("Accuracy of variants", &names, &[("m1".into(), vec![0.1, 0.5, 0.959]), ("m2".into(), vec![0.098, 0.7, 0.95])]),
            "Accuracy of variants",
        );
        check(
            &disagreements("Disagreements", &names, &[("ref vs builtin".into(), vec![44, 104, 0]), ("ref vs tflm".into(), vec![0, 0, 0])]),
            "Disagreements",
        );
    }

    /// The `y` attribute of the `<text>` element whose content is `label`.
    fn text_y(svg: &str, label: &str) -> i32 {
        let at = svg.find(&format!(">\n{label}\n</text>")).unwrap_or_else(|| panic!("no text {label:?}"));
        let open = svg[..at].rfind("<text").unwrap();
        let y = svg[open..at].split("y=\"").nth(1).unwrap().split('"').next().unwrap();
        y.parse().unwrap()
    }

    /// The `x` attribute of the `<text>` element whose content is `label`.
    fn text_x(svg: &str, label: &str) -> i32 {
        let at = svg.find(&format!(">\n{label}\n</text>")).unwrap_or_else(|| panic!("no text {label:?}"));
        let open = svg[..at].rfind("<text").unwrap();
        let x = svg[open..at].split(" x=\"").nth(1).unwrap().split('"').next().unwrap();
        x.parse().unwrap()
    }

    /// Every two op-name labels drawn on one line are at least their estimated half widths apart
    /// (0.68 em a capital: an upper bound for the fonts Chromium uses), and every label ends inside the chart.
    fn assert_no_overlap(svg: &str, names: &[String]) {
        let ops: Vec<(String, i32, i32)> = names.iter().map(|n| n.lines().nth(1).unwrap().to_string()).map(|l| (l.clone(), text_x(svg, &l), text_y(svg, &l))).collect();
        let width = |l: &str| 0.68 * 13.0 * l.chars().count() as f64;
        for (i, a) in ops.iter().enumerate() {
            assert!(a.1 as f64 + width(&a.0) / 2.0 <= 860.0, "{} runs off the chart", a.0);
            for b in &ops[i + 1..] {
                if a.2 == b.2 {
                    assert!(((a.1 - b.1).abs() as f64) >= (width(&a.0) + width(&b.0)) / 2.0, "{} and {} overlap", a.0, b.0);
                }
            }
        }
    }

    #[test]
    fn disagreements_labels_never_overlap() {
        let names = |n: usize, op: &str| (0..n).map(|i| format!("t{i}\n{op}{i}")).collect::<Vec<String>>();
        let row = |n: usize| vec![("ref_vs_builtin".to_string(), vec![1usize; n])];
        // Short names side by side on one line.
        let short = names(6, "ADD");
        let few = disagreements("Few", &short, &row(6));
        assert_eq!(text_y(few.svg(), "t0"), text_y(few.svg(), "t1"));
        assert_no_overlap(few.svg(), &short);
        // uint8_tconv: a CONV_2D and six TRANSPOSE_CONVs need two lines; 11 DEPTHWISE_CONV_2Ds three.
        let mut tconv = vec!["t3\nCONV_2D0".to_string()];
        tconv.extend((1..7).map(|i| format!("t{i}1\nTRANSPOSE_CONV{i}")));
        let c = disagreements("Tconv", &tconv, &row(7));
        assert_no_overlap(c.svg(), &tconv);
        assert_ne!(text_y(c.svg(), "TRANSPOSE_CONV1"), text_y(c.svg(), "TRANSPOSE_CONV2"));
        let dw = names(11, "DEPTHWISE_CONV_2D");
        let many = disagreements("Many", &dw, &row(11));
        assert_no_overlap(many.svg(), &dw);
        assert_eq!(text_y(many.svg(), "t3"), text_y(many.svg(), "t0"));
        assert!(text_y(many.svg(), "t2") > text_y(many.svg(), "t1") && text_y(many.svg(), "t1") > text_y(many.svg(), "t0"));
        // 24 long names: four lines of labels, each name shortened to fit, the tensor kept whole.
        let long = names(24, "RESIZE_NEAREST_NEIGHBOR");
        let dense24 = disagreements("Long", &long, &row(24));
        assert!(dense24.svg().contains(">\nt23\n</text>") && dense24.svg().contains("…"));
        assert_eq!(text_y(dense24.svg(), "t4"), text_y(dense24.svg(), "t0"));
        // More than 24: no counts in the cells, every 3rd column named (30 columns → t0, t3, …).
        let dense = disagreements("Dense", &names(30, "DEPTHWISE_CONV_2D"), &[("a vs b".to_string(), vec![7usize; 30])]);
        assert!(!dense.svg().contains(">\n7\n</text>"), "counts drawn in 30 narrow columns");
        assert_eq!(text_y(dense.svg(), "t3"), text_y(dense.svg(), "t0"));
        assert!(!dense.svg().contains(">\nt1\n</text>") && !dense.svg().contains("DEPTHWISE_CONV_2D"));
        assert!(dense.svg().contains("30 tensors: colour only"));
    }

    #[test]
    fn bars_with_lines_highlight_and_notes() {
        let c = grouped_bars_with_lines(
            "Accumulator width per layer",
            "signed bits",
            &["layer 1".into(), "layer 2".into()],
            &[("worst case".into(), vec![24.0, 21.0]), ("observed".into(), vec![22.0, 20.0])],
            &[(16.0, "16 bits".into()), (32.0, "int32".into())],
        );
        check(&c, "Accumulator width per layer");
        assert!(c.svg().contains("<svg") && c.svg().contains("Accumulator width per layer") && c.svg().contains("int32"));
        let b = bars("Divergence", "%", &[Bar { label: "t8".into(), value: 12.5, highlight: true, note: "3 (max 1)".into() }], None);
        check(&b, "Divergence");
        assert!(b.svg().contains("3 (max 1)") && b.svg().contains("<rect"));
        if let Ok(dir) = std::env::var("QUANTLENS_SVG_OUT") {
            c.save(format!("{dir}/grouped.svg")).unwrap();
            b.save(format!("{dir}/bars.svg")).unwrap();
        }
    }

    #[test]
    fn conv_charts_render() {
        use crate::plan::{Kernel, Plan};
        use crate::profile::Profile;
        for stem in ["cnn_ptq_int8", "ops_ptq_int8", "cnn_legacy_uint8"] {
            let plan = Plan::new(Model::from_path(data().join("models").join(format!("{stem}.tflite"))).unwrap(), Profile::TfliteRef).unwrap();
            let x = crate::io::read_samples(data().join("goldens").join(stem).join("input.npy")).unwrap().sample(0);
            let trace = plan.run(&x).unwrap();
            for s in &plan.steps {
                let (g, input, output, z3) = match &s.kernel {
                    Kernel::Conv2d(p) => {
                        let title = format!("Kernels of {stem} op {}", s.op);
                        check(&conv_kernels(&title, p), &title);
                        (p.geometry, p.input, p.output, p.requant.z3)
                    }
                    Kernel::DepthwiseConv2d(p) => (p.geometry, p.input, p.output, p.requant.z3),
                    _ => continue,
                };
                // An output inside the image and one in the corner (taps in the padding).
                for e in [g.out_len() / 2, 0] {
                    let steps = trace.conv_steps(&plan, s.op, e).unwrap();
                    let title = format!("Receptive field of {stem} op {} element {e}", s.op);
                    let c = receptive_field(&title, trace.value(input).unwrap(), &steps, &g);
                    check(&c, &title);
                    assert!(c.svg().contains(&format!("clamp → {}", steps.output).replace('-', "−")), "{}", c.svg());
                }
                let title = format!("Feature maps of {stem} op {}", s.op);
                check(&feature_maps(&title, trace.value(output).unwrap(), z3 as i64), &title);
            }
        }
    }

    #[test]
    fn display_and_save() {
        let c = Chart::new("t", "<svg></svg>");
        let path = std::env::temp_dir().join(format!("quantlens-chart-{}.svg", std::process::id()));
        c.save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "<svg></svg>");
        std::fs::remove_file(path).ok();
    }
}

/// Real-data gallery: `cargo test --release --lib gallery -- --ignored`
/// writes every chart on the committed models to `target/chart-gallery/`.
#[cfg(test)]
mod gallery {
    use super::*;
    use crate::io::{read_samples, Npz};
    use crate::lessons::{self, GridMap, Variant};
    use crate::model::DType;
    use crate::profile::Profile;
    use std::path::PathBuf;

    #[test]
    #[ignore]
    fn gallery() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let data = root.join("data");
        let out = root.join("target").join("chart-gallery");
        std::fs::create_dir_all(&out).unwrap();
        let stem = "mlp_ptq_uint8io";
        let plan = lessons::open_plan(&data, stem, Profile::TfliteRef).unwrap();
        let inputs = read_samples(lessons::input_path(&data, stem)).unwrap();
        let labels = lessons::labels(&data).unwrap();
        let img = 0;
        let trace = plan.run(&inputs.sample(img)).unwrap();
        let pixels = lessons::pixels(&data, img).unwrap();
        let first = lessons::first_fc_input(&plan, &inputs.sample(img)).unwrap();
        digit("Held-out image 0", &pixels, &first).save(out.join("digit.svg")).unwrap();
        let fcs: Vec<_> = plan.fully_connected().map(|(op, p)| (op, p.clone())).collect();
        weights("Weights FC1 primary", &plan.model, fcs[0].1.weights).save(out.join("weights_primary.svg")).unwrap();
        let legacy = lessons::open_plan(&data, "mlp_legacy_uint8", Profile::TfliteRef).unwrap();
        let lw = legacy.fully_connected().next().unwrap().1.weights;
        weights("Weights FC1 legacy", &legacy.model, lw).save(out.join("weights_legacy.svg")).unwrap();
        let pt = lessons::open_plan(&data, "mlp_ptq_int8_per_tensor", Profile::TfliteRef).unwrap();
        let pw = pt.fully_connected().next().unwrap().1.weights;
        weights("Weights FC1 per-tensor", &pt.model, pw).save(out.join("weights_per_tensor.svg")).unwrap();
        let t8 = fcs[0].1.output;
        let acts = lessons::ints(&trace, t8).unwrap();
        int_histogram("FC1 output integers", "q3", &acts, (-128, 127), &[("Z3 = −128 (r = 0)".into(), -128.0)]).save(out.join("hist.svg")).unwrap();
        let m = lessons::Json::read(data.join("manifest.json")).unwrap();
        let r = m.path(&["models", "mlp_legacy_uint8", "legacy_conversion", "weight_ranges"]).at(0).f64s();
        scale_derivation("Legacy FC1 weights: range to grid", &GridMap::from_range(r[0] as f32, r[1] as f32, DType::U8)).save(out.join("scale_legacy.svg")).unwrap();
        scale_derivation("Primary t8 from its file scale", &GridMap::of_tensor(&plan.model, t8).unwrap()).save(out.join("scale_primary.svg")).unwrap();
        let (op, p) = &fcs[0];
        let q = match &p.arith { crate::ops::fully_connected::Arith::Quantized(q) => q.clone(), _ => unreachable!() };
        let steps = trace.fc_steps(&plan, *op, 3).unwrap();
        step_trace("Neuron 3 of FC1", &steps, q.act_min, q.act_max).save(out.join("steps.svg")).unwrap();
        let fplan = lessons::float_plan(&data).unwrap();
        let ft = lessons::float_trace(&data, img).unwrap();
        let layers = lessons::compare_layers(&plan, std::slice::from_ref(&trace), &fplan, std::slice::from_ref(&ft));
        activations("Float vs integer, image 0", &layers).save(out.join("activations.svg")).unwrap();
        let deq = lessons::dequantize_trace(&plan, &trace, plan.output()).unwrap();
        let fo = ft.value(fplan.output()).unwrap().as_f32().unwrap().to_vec();
        let g = Npz::open(lessons::golden_path(&data, stem, Profile::TfliteRef)).unwrap().get(&format!("t{}", plan.output())).unwrap();
        let gq = g.sample(img);
        let gd = lessons::dequantize_value(&plan.model, plan.output(), &gq).unwrap();
        softmax("Softmax image 0", &deq, &fo, &gd).save(out.join("softmax.svg")).unwrap();
        let subset = crate::verify::truncate(&inputs, 200);
        let res = lessons::why_ten_percent(&plan, &subset, &labels[..200], None).unwrap();
        let names: Vec<String> = Variant::ALL.iter().map(|v| v.name().to_string()).collect();
        let subset_l = crate::verify::truncate(&read_samples(lessons::input_path(&data, "mlp_legacy_uint8")).unwrap(), 200);
        let resl = lessons::why_ten_percent(&legacy, &subset_l, &labels[..200], None).unwrap();
        accuracy("Why 10 %", &names, &[("primary".into(), res.iter().map(|r| r.accuracy).collect()), ("legacy".into(), resl.iter().map(|r| r.accuracy).collect())])
            .save(out.join("accuracy.svg"))
            .unwrap();
        for r in res.iter().chain(&resl) {
            println!("{:?} {}", r.variant, r.accuracy);
        }
        let runs = lessons::run_profiles(&plan.model, &subset, &Profile::ALL).unwrap();
        let d = lessons::disagreements(&runs);
        let (ts, cols): (Vec<usize>, Vec<String>) = lessons::step_labels(&plan).into_iter().unzip();
        let rows: Vec<(String, Vec<usize>)> = d.iter().map(|p| (format!("{} vs {}", p.a, p.b), ts.iter().map(|&t| p.differing(t)).collect())).collect();
        disagreements("Where runtimes disagree (200 images)", &cols, &rows).save(out.join("disagreements.svg")).unwrap();
    }
}
