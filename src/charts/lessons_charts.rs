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
    render(title, (760, 440), |canvas, body| bars_panel(canvas, body, y_desc, x_labels, series, &SERIES))
}

/// Grouped bars on `area`, series `j` in `colors[j]`, with a legend row on top.
fn bars_panel(canvas: &Area, area: &Area, y_desc: &str, x_labels: &[String], series: &[(String, Vec<f64>)], colors: &[RGBColor]) -> Drawn {
    let n = x_labels.len().max(1);
    let k = series.len().max(1);
    let (lo, hi) = min_max(series.iter().flat_map(|(_, v)| v.iter().copied()).chain([0.0]));
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
    for (j, (_, vals)) in series.iter().enumerate() {
        let color = colors[j % colors.len()];
        c.draw_series(vals.iter().take(n).enumerate().map(|(i, &v)| {
            let x0 = i as f64 - 0.4 + j as f64 * w;
            Rectangle::new([(x0 + 0.01, 0.0), (x0 + w - 0.01, v)], color.filled())
        }))?;
    }
    c.draw_series(std::iter::once(PathElement::new(vec![(-0.5, 0.0), (n as f64 - 0.5, 0.0)], C_DARK.stroke_width(1))))?;
    x_categories(canvas, &c, x_labels, 13.0)?;
    let items: Vec<(String, RGBColor)> = series.iter().enumerate().map(|(j, (name, _))| (name.clone(), colors[j % colors.len()])).collect();
    let (x0, y0) = area.get_base_pixel();
    legend_row(canvas, &items, (x0 + area.dim_in_pixel().0 as i32 / 2, y0 + 12), 13.0)?;
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
        )?;
        bars_panel(
            canvas,
            &bottom,
            "minus the float model",
            &labels,
            &[("integer path − float model".to_string(), d(integer)), ("TFLite golden − float model".to_string(), d(golden))],
            &[C_BLUE, C_GREEN],
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
    let height = (130 + 44 * nr as u32).max(300);
    let max = rows.iter().flat_map(|(_, v)| v.iter().copied()).max().unwrap_or(0).max(1) as f64;
    render(title, (860, height), |canvas, body| {
        let mut c = ChartBuilder::on(body)
            .margin(12)
            .margin_right(20)
            .x_label_area_size(44)
            .y_label_area_size(230)
            .build_cartesian_2d(-0.5f64..(nc as f64 - 0.5), (nr as f64 - 0.5)..-0.5f64)?;
        c.configure_mesh().disable_mesh().x_labels(0).y_labels(0).draw()?;
        for (r, (_, vals)) in rows.iter().enumerate() {
            for (col, &v) in vals.iter().take(nc).enumerate() {
                let t = if v == 0 { 0.0 } else { 0.15 + 0.85 * (v as f64).ln_1p() / max.ln_1p() };
                let (x, y) = (col as f64, r as f64);
                c.draw_series(std::iter::once(Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], gradient(&HEAT, t).filled())))?;
                c.draw_series(std::iter::once(Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], RGBColor(210, 210, 210).stroke_width(1))))?;
                let color = if t > 0.7 { &WHITE } else { &BLACK };
                c.draw_series(std::iter::once(Text::new(int(v as i64), (x, y), TextStyle::from((FONT, 14.0).into_font()).color(color).pos(plotters::style::text_anchor::Pos::new(HPos::Center, VPos::Center)))))?;
            }
        }
        x_categories_top_down(canvas, &c, layers, 13.0)?;
        let x0 = c.x_range().start;
        for (i, (l, _)) in rows.iter().enumerate() {
            let (px, py) = c.backend_coord(&(x0, i as f64));
            canvas.draw(&Text::new(l.clone(), (px - 8, py), ts(13.0, HPos::Right, VPos::Center)))?;
        }
        Ok(())
    })
}

/// Category labels under the plot when the y axis runs downwards.
fn x_categories_top_down(canvas: &Area, plot: &Plot, labels: &[String], size: f64) -> Drawn {
    let y_bottom = plot.y_range().start; // the larger value is at the bottom
    for (i, l) in labels.iter().enumerate() {
        let (px, py) = plot.backend_coord(&(i as f64, y_bottom));
        for (k, line) in l.split('\n').enumerate() {
            canvas.draw(&Text::new(line.to_string(), (px, py + 7 + k as i32 * (size as i32 + 3)), ts(size, HPos::Center, VPos::Top)))?;
        }
    }
    Ok(())
}
