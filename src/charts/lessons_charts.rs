//! Charts that compare: paths, variants, runtimes.

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::draw::*;
use super::Chart;
use crate::lessons::LayerComparison;

/// Float path (x) against the dequantized integer path (y) for each layer,
/// with the line y = x, the error, and how many outputs the clamp changed
/// (below: ReLU zeros or the bottom of the grid; above: saturation).
pub fn activations(title: &str, layers: &[LayerComparison]) -> Chart {
    let n = layers.len().max(1);
    let width = (330 * n as u32).clamp(720, 1200);
    render(title, (width, 440), |canvas, body| {
        let panels = body.split_evenly((1, n));
        for (l, area) in layers.iter().zip(&panels) {
            let (lo, hi) = min_max(l.float.iter().chain(&l.dequantized).map(|&x| x as f64));
            let (lo, hi) = span(lo, hi, 0.05);
            let mut c = ChartBuilder::on(area)
                .caption(format!("{} · S3 = {}", l.label(), num(l.scale as f64)), (FONT, 14.0))
                .margin(10)
                .x_label_area_size(36)
                .y_label_area_size(48)
                .build_cartesian_2d(lo..hi, lo..hi)?;
            c.configure_mesh()
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
                .x_desc("float model")
                .y_desc("integer path, S3(q3 − Z3)")
                .x_labels(5)
                .y_labels(6)
                .x_label_formatter(&|v| minus(num(*v)))
                .y_label_formatter(&|v| minus(num(*v)))
                .label_style((FONT, 11.0))
                .axis_desc_style((FONT, 12.0))
                .draw()?;
            c.draw_series(std::iter::once(DashedPathElement::new(vec![(lo, lo), (hi, hi)], 5, 4, C_GRAY.stroke_width(1))))?;
            let step = (l.float.len() / 4000).max(1);
            c.draw_series(
                l.float
                    .iter()
                    .zip(&l.dequantized)
                    .step_by(step)
                    .map(|(&f, &d)| Circle::new((f as f64, d as f64), 2, C_BLUE.mix(0.55).filled())),
            )?;
            let lines = vec![
                format!("{} values{}", int(l.float.len() as i64), if step > 1 { format!(" (every {step}th shown)") } else { String::new() }),
                format!("max |error| = {}", num(l.max_abs_error as f64)),
                format!("mean |error| = {}", num(l.mean_abs_error as f64)),
                format!("clamped below: {}", int(l.clamped_low as i64)),
                format!("clamped above: {}", int(l.clamped_high as i64)),
            ];
            let (px, py) = c.backend_coord(&(lo, hi));
            text_box(canvas, &lines, (px + 10, py + 8), 12.0, HPos::Left)?;
        }
        Ok(())
    })
}

/// Vertical bars: one group per category (`x_labels`), one bar per series.
pub fn grouped_bars(title: &str, y_desc: &str, x_labels: &[String], series: &[(String, Vec<f64>)]) -> Chart {
    render(title, (760, 440), |canvas, body| bars_panel(canvas, body, y_desc, x_labels, series, &SERIES, &Marks::legend()))
}

/// [`grouped_bars`] with horizontal reference lines `(value, label)` (e.g.
/// 16, 24 and 32 bits), the canvas widened for many categories.
pub fn grouped_bars_with_lines(title: &str, y_desc: &str, x_labels: &[String], series: &[(String, Vec<f64>)], lines: &[(f64, String)]) -> Chart {
    let marks = Marks { lines, ..Marks::legend() };
    render(title, (bars_width(x_labels.len()), 440), |canvas, body| bars_panel(canvas, body, y_desc, x_labels, series, &SERIES, &marks))
}

/// One bar of [`bars`].
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Drawn in red instead of blue.
    pub highlight: bool,
    /// Printed above the bar.
    pub note: String,
}

/// One bar per category, some highlighted (red), each with an optional
/// note above it, and an optional horizontal reference line `(value, label)`.
pub fn bars(title: &str, y_desc: &str, bars: &[Bar], reference: Option<(f64, &str)>) -> Chart {
    bars_of_width(bars_width(bars.len()), title, y_desc, bars, reference)
}

/// [`bars`] on a canvas `width` pixels wide: a long series of thin bars (one per image, say)
/// then fits a notebook cell with its text at full size instead of being scaled down.
pub fn bars_of_width(width: u32, title: &str, y_desc: &str, bars: &[Bar], reference: Option<(f64, &str)>) -> Chart {
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let series = [(y_desc.to_string(), bars.iter().map(|b| b.value).collect::<Vec<f64>>())];
    let highlight: Vec<bool> = bars.iter().map(|b| b.highlight).collect();
    let notes: Vec<String> = bars.iter().map(|b| b.note.clone()).collect();
    let lines: Vec<(f64, String)> = reference.map(|(v, l)| (v, l.to_string())).into_iter().collect();
    let marks = Marks { legend: false, highlight: &highlight, notes: &notes, lines: &lines };
    render(title, (width, 440), |canvas, body| bars_panel(canvas, body, y_desc, &labels, &series, &SERIES, &marks))
}

/// Canvas width for `n` categories of bars.
fn bars_width(n: usize) -> u32 {
    (160 + 130 * n.max(1) as u32).clamp(760, 1400)
}

/// What [`bars_panel`] draws besides the bars.
#[derive(Clone, Copy)]
struct Marks<'a> {
    /// The legend row (series names) on top.
    legend: bool,
    /// Per category: that bar of the first series in red.
    highlight: &'a [bool],
    /// Per category: text above the bar of the first series.
    notes: &'a [String],
    /// Horizontal reference lines `(value, label)`.
    lines: &'a [(f64, String)],
}

impl Marks<'static> {
    fn legend() -> Self {
        Marks { legend: true, highlight: &[], notes: &[], lines: &[] }
    }
}

/// Grouped bars on `area`, series `j` in `colors[j]`, with the `marks`.
fn bars_panel(canvas: &Area, area: &Area, y_desc: &str, x_labels: &[String], series: &[(String, Vec<f64>)], colors: &[RGBColor], marks: &Marks) -> Drawn {
    let n = x_labels.len().max(1);
    let k = series.len().max(1);
    let (lo, hi) = min_max(series.iter().flat_map(|(_, v)| v.iter().copied()).chain([0.0]).chain(marks.lines.iter().map(|l| l.0)));
    let (lo, hi) = span(lo, hi, 0.08);
    let lo = if lo > 0.0 { 0.0 } else { lo };
    let mut c = ChartBuilder::on(area)
        .margin(12)
        .margin_top(30)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..hi)?;
    c.configure_mesh()
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_desc)
        .y_label_formatter(&|v| minus(num(*v)))
        .label_style((FONT, 12.0))
        .axis_desc_style((FONT, 13.0))
        .draw()?;
    let w = 0.8 / k as f64;
    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    for (j, (_, vals)) in series.iter().enumerate() {
        let color = colors[j % colors.len()];
        c.draw_series(vals.iter().take(n).enumerate().map(|(i, &v)| {
            let x0 = i as f64 - 0.4 + j as f64 * w;
            let color = if j == 0 && marks.highlight.get(i).copied().unwrap_or(false) { C_RED } else { color };
            Rectangle::new([(x0 + 0.01, 0.0), (x0 + w - 0.01, finite(v))], color.filled())
        }))?;
    }
    c.draw_series(std::iter::once(PathElement::new(vec![(-0.5, 0.0), (n as f64 - 0.5, 0.0)], C_DARK.stroke_width(1))))?;
    if let Some((_, vals)) = series.first() {
        for (i, (note, &v)) in marks.notes.iter().zip(vals).enumerate().take(n) {
            if !note.is_empty() {
                let x = i as f64 - 0.4 + 0.5 * w;
                c.draw_series(std::iter::once(Text::new(note.clone(), (x, finite(v).max(0.0)), ts(12.0, HPos::Center, VPos::Bottom))))?;
            }
        }
    }
    for (v, label) in marks.lines {
        c.draw_series(std::iter::once(DashedPathElement::new(vec![(-0.5, *v), (n as f64 - 0.5, *v)], 5, 4, C_GRAY.stroke_width(1))))?;
        c.draw_series(std::iter::once(Text::new(label.clone(), (-0.47, *v), ts(12.0, HPos::Left, VPos::Bottom))))?;
    }
    x_categories(canvas, &c, x_labels, 13.0)?;
    if marks.legend {
        let items: Vec<(String, RGBColor)> = series.iter().enumerate().map(|(j, (name, _))| (name.clone(), colors[j % colors.len()])).collect();
        let (x0, y0) = area.get_base_pixel();
        legend_row(canvas, &items, (x0 + area.dim_in_pixel().0 as i32 / 2, y0 + 12), 13.0)?;
    }
    Ok(())
}

/// Softmax outputs per class: the integer path (dequantized), the float
/// model and the runtime's golden (dequantized); below, each one's
/// difference from the float model.
pub fn softmax(title: &str, integer: &[f32], float: &[f32], golden: &[f32]) -> Chart {
    let labels: Vec<String> = (0..integer.len().max(float.len()).max(golden.len())).map(|i| format!("class {i}")).collect();
    let f = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let d = |v: &[f32]| v.iter().zip(float).map(|(&a, &b)| a as f64 - b as f64).collect::<Vec<f64>>();
    render(title, (860, 640), |canvas, body| {
        let (top, bottom) = body.split_vertically(360);
        bars_panel(
            canvas,
            &top,
            "probability",
            &labels,
            &[
                ("integer path, S(q − Z)".to_string(), f(integer)),
                ("float model".to_string(), f(float)),
                ("TFLite golden, S(q − Z)".to_string(), f(golden)),
            ],
            &SERIES,
            &Marks::legend(),
        )?;
        bars_panel(
            canvas,
            &bottom,
            "minus the float model",
            &labels,
            &[("integer path − float model".to_string(), d(integer)), ("TFLite golden − float model".to_string(), d(golden))],
            &[C_BLUE, C_GREEN],
            &Marks::legend(),
        )
    })
}

/// Accuracy (0…1) of a sequence of variants, one horizontal bar per variant
/// and series (e.g. per model), labelled with the percentage.
pub fn accuracy(title: &str, variants: &[String], series: &[(String, Vec<f64>)]) -> Chart {
    let n = variants.len().max(1);
    let k = series.len().max(1);
    let height = (110 + 62 * n as u32).max(360);
    render(title, (860, height), |canvas, body| {
        let mut c = ChartBuilder::on(body)
            .margin(12)
            .margin_top(34)
            .margin_right(30)
            .x_label_area_size(40)
            .y_label_area_size(190)
            .build_cartesian_2d(0f64..108f64, (n as f64 - 0.5)..-0.5f64)?;
        c.configure_mesh()
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .disable_y_mesh()
            .y_labels(0)
            .x_labels(11)
            .x_desc("accuracy on the held-out images (%)")
            .x_label_formatter(&|v| format!("{}", *v as i64))
            .label_style((FONT, 12.0))
            .axis_desc_style((FONT, 13.0))
            .draw()?;
        let h = 0.8 / k as f64;
        for (j, (_, vals)) in series.iter().enumerate() {
            let color = SERIES[j % SERIES.len()];
            c.draw_series(vals.iter().take(n).enumerate().map(|(i, &v)| {
                let y0 = i as f64 - 0.4 + j as f64 * h;
                Rectangle::new([(0.0, y0 + 0.02), (v * 100.0, y0 + h - 0.02)], color.filled())
            }))?;
            c.draw_series(vals.iter().take(n).enumerate().map(|(i, &v)| {
                let y = i as f64 - 0.4 + (j as f64 + 0.5) * h;
                Text::new(format!("{:.1} %", v * 100.0), (v * 100.0 + 0.8, y), ts(12.0, HPos::Left, VPos::Center))
            }))?;
        }
        let items: Vec<(String, RGBColor)> = series.iter().enumerate().map(|(j, (name, _))| (name.clone(), SERIES[j % SERIES.len()])).collect();
        let (x0, y0) = body.get_base_pixel();
        legend_row(canvas, &items, (x0 + body.dim_in_pixel().0 as i32 / 2, y0 + 14), 13.0)?;
        // Category labels (y increases downwards here).
        let x0 = c.x_range().start;
        for (i, l) in variants.iter().enumerate() {
            let (px, py) = c.backend_coord(&(x0, i as f64));
            canvas.draw(&Text::new(l.clone(), (px - 8, py), ts(13.0, HPos::Right, VPos::Center)))?;
        }
        Ok(())
    })
}

/// A table-like heat map: one row per profile pair (`rows`), one column per
/// layer (`layers`), each cell the count of differing elements.
pub fn disagreements(title: &str, layers: &[String], rows: &[(String, Vec<usize>)]) -> Chart {
    let nc = layers.len().max(1);
    let nr = rows.len().max(1);
    let (width, size) = (860u32, 13.0);
    // More than 24 columns (a transformer's hundred tensors) are too narrow even for a number: the
    // cells are colour only, and every k-th column is named by its tensor alone. Fewer: every label
    // whole, on as many rows as neighbouring labels need not to overlap (see `XLabels`).
    let dense = nc > 24;
    let y_area = rows.iter().map(|(l, _)| text_width(l, size)).fold(60.0, f64::max).ceil() as u32 + 16;
    let plot_w = |right: u32| (width - 12 - y_area - right) as f64;
    let last = layers.last().map_or(0.0, |l| label_width(l, size));
    let right = if dense { 20 } else { (last / 2.0 - plot_w(20) / nc as f64 / 2.0 + 6.0).max(20.0).ceil() as u32 };
    let x = if dense { XLabels { levels: 1, labels: Vec::new() } } else { XLabels::fit(layers, plot_w(right) / nc as f64, size) };
    let lines = x.labels.iter().map(|l| l.lines().count()).max().unwrap_or(1) as u32;
    let extra = (x.levels as u32 - 1) * lines * (size as u32 + 3);
    let height = (130 + 44 * nr as u32 + extra).max(300);
    let max = rows.iter().flat_map(|(_, v)| v.iter().copied()).max().unwrap_or(0).max(1) as f64;
    render(title, (width, height), |canvas, body| {
        let mut c = ChartBuilder::on(body)
            .margin(12)
            .margin_right(right)
            .x_label_area_size(44 + extra)
            .y_label_area_size(y_area)
            .build_cartesian_2d(-0.5f64..(nc as f64 - 0.5), (nr as f64 - 0.5)..-0.5f64)?;
        c.configure_mesh().disable_mesh().x_labels(0).y_labels(0).draw()?;
        for (r, (_, vals)) in rows.iter().enumerate() {
            for (col, &v) in vals.iter().take(nc).enumerate() {
                let t = if v == 0 { 0.0 } else { 0.15 + 0.85 * (v as f64).ln_1p() / max.ln_1p() };
                let (x, y) = (col as f64, r as f64);
                c.draw_series(std::iter::once(Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], gradient(&HEAT, t).filled())))?;
                c.draw_series(std::iter::once(Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], RGBColor(210, 210, 210).stroke_width(1))))?;
                if !dense {
                    let color = if t > 0.7 { &WHITE } else { &BLACK };
                    c.draw_series(std::iter::once(Text::new(int(v as i64), (x, y), TextStyle::from((FONT, 14.0).into_font()).color(color).pos(plotters::style::text_anchor::Pos::new(HPos::Center, VPos::Center)))))?;
                }
            }
        }
        if dense {
            let every = nc.div_ceil(12);
            let named: Vec<String> = layers.iter().enumerate().map(|(i, l)| if i % every == 0 { l.split('\n').next().unwrap_or("").to_string() } else { String::new() }).collect();
            x_categories_top_down(canvas, &c, &named, size, 1)?;
            let (px, py) = c.backend_coord(&(c.x_range().end, c.y_range().start));
            let note = format!("{nc} tensors: colour only (darker: more differing elements); one column in {every} named");
            canvas.draw(&Text::new(note, (px, py + 26), ts(12.0, HPos::Right, VPos::Top)))?;
        } else {
            x_categories_top_down(canvas, &c, &x.labels, size, x.levels)?;
        }
        let x0 = c.x_range().start;
        for (i, (l, _)) in rows.iter().enumerate() {
            let (px, py) = c.backend_coord(&(x0, i as f64));
            canvas.draw(&Text::new(l.clone(), (px - 8, py), ts(size, HPos::Right, VPos::Center)))?;
        }
        Ok(())
    })
}

/// The widest line of a multi-line label, in pixels.
fn label_width(label: &str, size: f64) -> f64 {
    label.lines().map(|l| text_width(l, size)).fold(0.0, f64::max)
}

/// An upper bound of a sans-serif line's width in pixels. plotters' SVG backend does not measure
/// text, so: capitals, digits and `_` at 0.68 em (the widest of them in DejaVu and Liberation Sans
/// are ≈ 0.67 em), everything else at 0.56 em.
fn text_width(line: &str, size: f64) -> f64 {
    line.chars().map(|c| if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' { 0.68 } else { 0.56 }).sum::<f64>() * size
}

/// Column labels under a heatmap, laid out so that none overlaps another.
struct XLabels {
    /// Label rows: column i's label is on row `i mod levels`, each row a label's height below the last.
    levels: usize,
    /// The labels, each line shortened with `…` only when even `MAX_LEVELS` rows do not give it room.
    labels: Vec<String>,
}

impl XLabels {
    /// At most this many rows of labels; longer labels are shortened.
    const MAX_LEVELS: usize = 4;
    /// Pixels between two labels on one row.
    const GAP: f64 = 8.0;

    /// The fewest rows on which every two labels of one row, `levels` columns of `col` px apart, keep `GAP` between them.
    fn fit(labels: &[String], col: f64, size: f64) -> XLabels {
        let w: Vec<f64> = labels.iter().map(|l| label_width(l, size)).collect();
        let fits = |k: usize| (0..w.len().saturating_sub(k)).all(|i| (w[i] + w[i + k]) / 2.0 + Self::GAP <= k as f64 * col);
        if let Some(levels) = (1..=Self::MAX_LEVELS).find(|&k| fits(k)) {
            return XLabels { levels, labels: labels.to_vec() };
        }
        let room = Self::MAX_LEVELS as f64 * col - Self::GAP;
        let shorten = |line: &str| -> String {
            if text_width(line, size) <= room {
                return line.to_string();
            }
            let mut s = String::new();
            for ch in line.chars() {
                if text_width(&format!("{s}{ch}…"), size) > room {
                    break;
                }
                s.push(ch);
            }
            format!("{s}…")
        };
        XLabels { levels: Self::MAX_LEVELS, labels: labels.iter().map(|l| l.lines().map(shorten).collect::<Vec<_>>().join("\n")).collect() }
    }
}

/// Category labels under the plot when the y axis runs downwards, column i's on row
/// `i mod levels`: each row starts one label's height (its lines) below the last.
fn x_categories_top_down(canvas: &Area, plot: &Plot, labels: &[String], size: f64, levels: usize) -> Drawn {
    let y_bottom = plot.y_range().start; // the larger value is at the bottom
    let line = size as i32 + 3;
    let height = labels.iter().map(|l| l.lines().count()).max().unwrap_or(1) as i32 * line;
    for (i, l) in labels.iter().enumerate() {
        let (px, py) = plot.backend_coord(&(i as f64, y_bottom));
        let down = (i % levels.max(1)) as i32 * height;
        for (k, text) in l.split('\n').enumerate() {
            canvas.draw(&Text::new(text.to_string(), (px, py + 7 + down + k as i32 * line), ts(size, HPos::Center, VPos::Top)))?;
        }
    }
    Ok(())
}

/// A product near a rounding tie, zoomed: the real axis from `⌊x⌋ − ½` to
/// `⌊x⌋ + 1½` with the integers and the tie `⌊x⌋ + ½` marked; each
/// `(label, value)` of `products` (e.g. double M·acc, f32 M·acc, the exact
/// fixed-point product) as a point with its digits, and each `(rule, result)`
/// of `results` as a row ending on the integer the rule rounds to.
pub fn tie_zoom(title: &str, products: &[(String, f64)], results: &[(String, i32)]) -> Chart {
    let base = products.first().map_or(0.0, |p| p.1).floor();
    let (lo, hi) = (base - 0.5, base + 1.5);
    let rows = (products.len() + results.len()).max(1) as f64;
    let height = (160 + 34 * (products.len() + results.len()) as u32).max(320);
    render(title, (960, height), |_canvas, body| {
        let mut c = ChartBuilder::on(body)
            .margin(12)
            .margin_right(30)
            .x_label_area_size(40)
            .y_label_area_size(300)
            .build_cartesian_2d(lo..hi, -0.5f64..(rows - 0.5))?;
        let names: Vec<String> = products.iter().map(|p| p.0.clone()).chain(results.iter().map(|r| format!("rounds to: {}", r.0))).collect();
        c.configure_mesh()
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .disable_y_mesh()
            .x_labels(9)
            .y_labels(names.len())
            .x_label_formatter(&|v| minus(num(*v)))
            .y_label_formatter(&|v| {
                let k = v.round();
                if (v - k).abs() > 1e-6 || k < 0.0 {
                    return String::new();
                }
                names.get(names.len().saturating_sub(1 + k as usize)).cloned().unwrap_or_default()
            })
            .x_desc("M·acc on the real line (zoomed on the tie)")
            .label_style((FONT, 12.0))
            .axis_desc_style((FONT, 13.0))
            .draw()?;
        let tie = base + 0.5;
        for x in [base, base + 1.0] {
            c.draw_series(std::iter::once(PathElement::new(vec![(x, -0.5), (x, rows - 0.5)], C_GRAY.stroke_width(1))))?;
        }
        c.draw_series(std::iter::once(DashedPathElement::new(vec![(tie, -0.5), (tie, rows - 0.5)], 6, 4, C_RED.stroke_width(2))))?;
        c.draw_series(std::iter::once(Text::new(format!(" tie {}", minus(num(tie))), (tie, -0.5), tsc(13.0, HPos::Left, VPos::Bottom, &C_RED))))?;
        let y_of = |k: usize| rows - 1.0 - k as f64;
        for (k, (_, v)) in products.iter().enumerate() {
            let y = y_of(k);
            c.draw_series(std::iter::once(Circle::new((*v, y), 6, C_BLUE.filled())))?;
            let (dx, h) = if *v < tie { (-0.04, HPos::Right) } else { (0.04, HPos::Left) };
            c.draw_series(std::iter::once(Text::new(format!("{v:.9}"), (*v + dx, y), ts(12.0, h, VPos::Center))))?;
        }
        let x0 = products.first().map_or(tie, |p| p.1);
        for (k, (_, r)) in results.iter().enumerate() {
            let y = y_of(products.len() + k);
            let color = if (*r as f64) > tie { C_ORANGE } else { C_GREEN };
            c.draw_series(std::iter::once(PathElement::new(vec![(x0, y), (*r as f64, y)], color.stroke_width(3))))?;
            c.draw_series(std::iter::once(Circle::new((*r as f64, y), 7, color.filled())))?;
            c.draw_series(std::iter::once(Text::new(r.to_string(), (*r as f64 + 0.03, y), ts(13.0, HPos::Left, VPos::Center))))?;
        }
        Ok(())
    })
}
