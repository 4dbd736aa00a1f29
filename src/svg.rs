//! Small SVG charts for `diff` and `export` (plotters → SVG), displayed
//! inline by evcxr (`image/svg+xml`) and writable to a file.

use plotters::prelude::*;

/// An SVG document.
#[derive(Clone, Debug, PartialEq)]
pub struct Svg {
    pub svg: String,
}

impl Svg {
    /// Display inline in an evcxr notebook.
    pub fn evcxr_display(&self) {
        println!("EVCXR_BEGIN_CONTENT image/svg+xml\n{}\nEVCXR_END_CONTENT", self.svg);
    }

    /// Write to a file.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        std::fs::write(path, &self.svg)
    }
}

/// One bar of [`bar_chart`].
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Drawn in red instead of blue.
    pub highlight: bool,
    /// Printed above the bar.
    pub note: String,
}

/// A series of [`grouped_bar_chart`].
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// Bars with labels, one highlighted, and an optional horizontal reference line.
pub fn bar_chart(title: &str, y_label: &str, bars: &[Bar], reference: Option<(f64, &str)>) -> Svg {
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let series = vec![Series { name: y_label.to_string(), values: bars.iter().map(|b| b.value).collect() }];
    let notes: Vec<String> = bars.iter().map(|b| b.note.clone()).collect();
    let hl: Vec<bool> = bars.iter().map(|b| b.highlight).collect();
    draw(title, y_label, &labels, &series, &notes, &hl, reference.map(|(v, l)| vec![(v, l.to_string())]).unwrap_or_default())
}

/// Several series per category (e.g. worst-case vs observed bits per
/// layer), with horizontal reference lines (e.g. 16, 24, 32 bits).
pub fn grouped_bar_chart(title: &str, y_label: &str, categories: &[String], series: &[Series], lines: &[(f64, String)]) -> Svg {
    let notes = vec![String::new(); categories.len()];
    let hl = vec![false; categories.len()];
    draw(title, y_label, categories, series, &notes, &hl, lines.to_vec())
}

const COLORS: [RGBColor; 4] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

fn draw(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[Series],
    notes: &[String],
    highlight: &[bool],
    lines: Vec<(f64, String)>,
) -> Svg {
    let n = categories.len().max(1);
    let width = (160 + 130 * n as u32).clamp(640, 1400);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 440)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let y_max = series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .chain(lines.iter().map(|l| l.0))
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let y_max = if y_max <= 0.0 { 1.0 } else { y_max * 1.15 };
        let built = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(60)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..y_max);
        let Ok(mut chart) = built else { return Svg { svg: String::new() } };
        let cats = categories.to_vec();
        let fmt = move |v: &f64| {
            let r = v.round();
            if (v - r).abs() < 1e-6 && r >= 0.0 && (r as usize) < cats.len() {
                cats[r as usize].clone()
            } else {
                String::new()
            }
        };
        let _ = chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&fmt)
            .x_label_style(("sans-serif", 12))
            .y_desc(y_label)
            .draw();
        let k = series.len().max(1) as f64;
        let w = 0.8 / k;
        for (j, s) in series.iter().enumerate() {
            let color = COLORS[j % COLORS.len()];
            let rects: Vec<_> = s
                .values
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let x0 = i as f64 - 0.4 + j as f64 * w;
                    let c = if series.len() == 1 && highlight.get(i).copied().unwrap_or(false) { RED } else { color };
                    Rectangle::new([(x0, 0.0), (x0 + w * 0.95, if v.is_finite() { v } else { 0.0 })], c.filled())
                })
                .collect();
            let drawn = chart.draw_series(rects);
            if series.len() > 1 {
                if let Ok(d) = drawn {
                    d.label(s.name.clone()).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
                }
            }
        }
        for (i, note) in notes.iter().enumerate() {
            if note.is_empty() {
                continue;
            }
            let v = series.first().and_then(|s| s.values.get(i)).copied().unwrap_or(0.0);
            let _ = chart.draw_series(std::iter::once(Text::new(note.clone(), (i as f64 - 0.35, v + y_max * 0.03), ("sans-serif", 12))));
        }
        for (v, label) in lines.iter() {
            let color = BLACK.mix(0.5);
            let _ = chart.draw_series(std::iter::once(PathElement::new(vec![(-0.5, *v), (n as f64 - 0.5, *v)], color.stroke_width(1))));
            let _ = chart.draw_series(std::iter::once(Text::new(label.clone(), (-0.47, *v + y_max * 0.035), ("sans-serif", 12))));
        }
        if series.len() > 1 {
            let _ = chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).position(SeriesLabelPosition::UpperRight).draw();
        }
        let _ = root.present();
    }
    Svg { svg }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_have_title_bars_and_text() {
        let c = grouped_bar_chart(
            "Accumulator width per layer",
            "signed bits",
            &["layer 1".into(), "layer 2".into()],
            &[Series { name: "worst case".into(), values: vec![24.0, 21.0] }, Series { name: "observed".into(), values: vec![22.0, 20.0] }],
            &[(16.0, "16 bits".into()), (32.0, "int32".into())],
        );
        assert!(c.svg.contains("<svg") && c.svg.contains("Accumulator width per layer") && c.svg.contains("int32"));
        let b = bar_chart("Divergence", "%", &[Bar { label: "t8".into(), value: 12.5, highlight: true, note: "3 (max 1)".into() }], None);
        assert!(b.svg.contains("3 (max 1)") && b.svg.contains("<rect"));
        if let Ok(dir) = std::env::var("QUANTLENS_SVG_OUT") {
            c.save(format!("{dir}/grouped.svg")).unwrap();
            b.save(format!("{dir}/bars.svg")).unwrap();
        }
    }
}
