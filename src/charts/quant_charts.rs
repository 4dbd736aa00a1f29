//! Charts about one model's integers: inputs, weights, grids, one neuron.

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::draw::*;
use super::Chart;
use crate::lessons::GridMap;
use crate::model::Model;
use crate::ops::fully_connected::Steps;
use crate::tensor::Value;

/// A 28×28 input image: the raw pixels (uint8 0…255, white = 0) beside the
/// model's quantized input `quantized` (its own dtype and range).
pub fn digit(title: &str, pixels: &[u8], quantized: &Value) -> Chart {
    let q: Vec<i64> = quantized.to_i64_vec().unwrap_or_else(|| quantized.to_f64_vec().iter().map(|&x| x as i64).collect());
    let dtype = quantized.dtype();
    let (g_lo, g_hi) = dtype.int_range().map(|(a, b)| (a as f64, b as f64)).unwrap_or_else(|| {
        let (a, b) = min_max(q.iter().map(|&x| x as f64));
        (a, b)
    });
    let (q_lo, q_hi) = min_max(q.iter().map(|&x| x as f64));
    render(title, (900, 440), |_canvas, body| {
        let panels = body.split_evenly((1, 2));
        let heat = |area: &Area, caption: String, values: &[f64], lo: f64, hi: f64, stops: &[(u8, u8, u8)], bar_desc: &str| -> Drawn {
            let (map, bar) = area.split_horizontally(area.dim_in_pixel().0 - 104);
            let mut c = ChartBuilder::on(&map)
                .caption(caption, (FONT, 14.0))
                .margin(8)
                .x_label_area_size(34)
                .y_label_area_size(38)
                .build_cartesian_2d(0f64..28f64, 28f64..0f64)?;
            c.configure_mesh()
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
                .disable_mesh()
                .x_labels(8)
                .y_labels(8)
                .x_label_formatter(&|v| format!("{}", *v as i64))
                .y_label_formatter(&|v| format!("{}", *v as i64))
                .x_desc("column")
                .y_desc("row")
                .label_style((FONT, 12.0))
                .axis_desc_style((FONT, 13.0))
                .draw()?;
            c.draw_series(values.iter().take(784).enumerate().map(|(i, &v)| {
                let (r, col) = ((i / 28) as f64, (i % 28) as f64);
                let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
                Rectangle::new([(col, r), (col + 1.0, r + 1.0)], gradient(stops, t).filled())
            }))?;
            color_bar(&bar, lo, hi, stops, bar_desc)
        };
        let px: Vec<f64> = pixels.iter().map(|&p| p as f64).collect();
        heat(&panels[0], "MNIST pixels (uint8 file values)".into(), &px, 0.0, 255.0, &GRAYS, "pixel")?;
        let qv: Vec<f64> = q.iter().map(|&x| x as f64).collect();
        heat(
            &panels[1],
            format!("model input q ({}), used {}…{}", dtype.name(), minus(num(q_lo)), minus(num(q_hi))),
            &qv,
            g_lo,
            g_hi,
            &VIRIDIS,
            &format!("q ({})", dtype.name()),
        )
    })
}

/// Histogram of a weight tensor's integers on their grid (−128…127 or
/// 0…255), with the zero point and the representable real range marked;
/// beside it the scale of every output channel (per-channel) or the single
/// scale (per-tensor).
pub fn weights(title: &str, model: &Model, tensor: usize) -> Chart {
    let Some(t) = model.tensors.get(tensor) else {
        return render(title, (900, 440), |_, _| Err(format!("no tensor {tensor}").into()));
    };
    let values: Vec<i64> = Value::from_constant(t).and_then(|v| v.to_i64_vec()).unwrap_or_default();
    let (q_min, q_max) = t.dtype.int_range().unwrap_or((0, 255));
    let quant = t.quant.clone();
    let scales: Vec<f32> = quant.as_ref().map(|q| q.scale.clone()).unwrap_or_default();
    let zps: Vec<i64> = quant.as_ref().map(|q| q.zero_point.clone()).unwrap_or_default();
    let per_channel = scales.len() > 1;
    // The channels are along the quantized dimension (the last one for DEPTHWISE_CONV_2D's
    // [1, H, W, C] weights): per-channel, one scale each.
    let channels = if per_channel { scales.len() } else { t.shape.first().copied().unwrap_or(1) };
    let name = t.name.clone();
    let dtype = t.dtype;
    render(title, (960, 460), |canvas, body| {
        let (left, right) = body.split_horizontally(590);
        // Histogram.
        let (counts, _) = grid_counts(&values, (q_min, q_max));
        let ymax = *counts.iter().max().unwrap_or(&1) as f64 * 1.25;
        let (used_lo, used_hi) = min_max(values.iter().map(|&v| v as f64));
        let mut b = ChartBuilder::on(&left);
        b.caption(format!("t{tensor} {} {:?}: integer values ({} weights)", dtype.name(), t.shape, int(values.len() as i64)), (FONT, 14.0))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56);
        let per_tensor_sz = (!per_channel && !scales.is_empty()).then(|| (scales[0] as f64, zps[0]));
        let xr = (q_min as f64 - 1.0)..(q_max as f64 + 1.0);
        let mut c = b.build_cartesian_2d(xr.clone(), 0f64..ymax.max(1.0))?;
        grid_mesh(&mut c, None)?;
        c.draw_series(counts.iter().enumerate().filter(|(_, &n)| n > 0).map(|(i, &n)| {
            let q = (q_min + i as i64) as f64;
            Rectangle::new([(q - 0.5, 0.0), (q + 0.5, n as f64)], C_BLUE.filled())
        }))?;
        // Grid ends.
        for e in [q_min as f64, q_max as f64] {
            c.draw_series(std::iter::once(DashedPathElement::new(vec![(e, 0.0), (e, ymax)], 4, 3, C_GRAY.stroke_width(1))))?;
        }
        let x_desc = format!("integer weight q ({} grid {}…{})", dtype.name(), minus(q_min.to_string()), q_max);
        let (bx, by) = c.backend_coord(&((q_min + q_max) as f64 / 2.0, 0.0));
        canvas.draw(&Text::new(x_desc, (bx, by + 22), ts(13.0, HPos::Center, VPos::Top)))?;
        let mut notes = vec![format!("values used: {} … {}", minus(num(used_lo)), minus(num(used_hi)))];
        let mut notes_right: Vec<String> = Vec::new();
        let (px, py) = c.backend_coord(&(q_min as f64 + 2.0, ymax * 0.97));
        let (rx, ry) = c.backend_coord(&(q_max as f64 - 2.0, ymax * 0.97));
        if let Some((s, z)) = per_tensor_sz {
            let zf = z as f64;
            c.draw_series(std::iter::once(PathElement::new(vec![(zf, 0.0), (zf, ymax)], C_RED.stroke_width(2))))?;
            let zl = vec![format!("Z = {} ↔ r = 0", minus(z.to_string()))];
            let (zx, zy) = c.backend_coord(&(zf, ymax));
            text_box(canvas, &zl, (zx, zy + 6), 13.0, HPos::Center)?;
            let r_lo = s * (q_min - z) as f64;
            let r_hi = s * (q_max - z) as f64;
            notes.push("per-tensor:".into());
            notes.push(format!("S = {}, Z = {}", num(s), minus(z.to_string())));
            notes_right.push("representable r = S(q − Z):".into());
            notes_right.push(format!("{} … {}", minus(num(r_lo)), minus(num(r_hi))));
            if z != 0 {
                notes_right.push(format!("asymmetric: {} steps below Z,", z - q_min));
                notes_right.push(format!("{} above", q_max - z));
            } else {
                notes_right.push("symmetric: Z = 0".into());
            }

        } else if per_channel {
            let zs: std::collections::BTreeSet<i64> = zps.iter().copied().collect();
            notes.push(format!("per-channel: {} scales", scales.len()));
            notes.push(format!("Z2 ∈ {:?} (symmetric)", zs));
            notes_right.push("each output row is scaled".into());
            notes_right.push("so its largest |w| ↦ 127".into());
        }
        text_box(canvas, &notes, (px, py), 12.0, HPos::Left)?;
        if !notes_right.is_empty() {
            text_box(canvas, &notes_right, (rx, ry), 12.0, HPos::Right)?;
        }

        // Scales per output channel.
        let mut s = ChartBuilder::on(&right);
        s.caption(format!("weight scale S2 per output channel ({})", if per_channel { "per-channel" } else { "per-tensor" }), (FONT, 14.0))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(70);
        let sc: Vec<f64> = if per_channel {
            scales.iter().map(|&x| x as f64).collect()
        } else {
            vec![scales.first().copied().unwrap_or(0.0) as f64; channels]
        };
        let (lo, hi) = min_max(sc.iter().copied());
        let (lo, hi) = span(if per_channel { lo } else { 0.0 }, hi, 0.08);
        let mut sc_chart = s.build_cartesian_2d(-0.5..(channels as f64 - 0.5), lo.max(0.0)..hi)?;
        sc_chart
            .configure_mesh()
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .x_desc("output channel c")
            .y_desc("S2[c]")
            .y_label_formatter(&|v| num(*v))
            .x_label_formatter(&|v| format!("{}", *v as i64))
            .label_style((FONT, 12.0))
            .axis_desc_style((FONT, 13.0))
            .draw()?;
        if per_channel {
            sc_chart.draw_series(sc.iter().enumerate().map(|(c, &v)| Circle::new((c as f64, v), 2, C_BLUE.filled())))?;
        } else {
            sc_chart.draw_series(std::iter::once(PathElement::new(vec![(-0.5, sc[0]), (channels as f64 - 0.5, sc[0])], C_BLUE.stroke_width(2))))?;
            sc_chart.draw_series(std::iter::once(Text::new(
                format!("one S2 = {} for all {} channels", num(sc[0]), channels),
                (channels as f64 * 0.05, sc[0] + (hi - sc[0]) * 0.3),
                ts(13.0, HPos::Left, VPos::Bottom),
            )))?;
        }
        let _ = &name;
        Ok(())
    })
}

/// How many of `values` fall on each point of the integer grid `(q_min, q_max)`,
/// and how many fall outside it.
fn grid_counts(values: &[i64], (q_min, q_max): (i64, i64)) -> (Vec<usize>, usize) {
    let mut counts = vec![0usize; (q_max - q_min + 1).max(1) as usize];
    let mut outside = 0usize;
    for &v in values {
        if (q_min..=q_max).contains(&v) {
            counts[(v - q_min) as usize] += 1;
        } else {
            outside += 1;
        }
    }
    (counts, outside)
}

/// The mesh of a histogram on an integer grid: horizontal lines only, the
/// counts up the side, integer labels along the bottom, and `x_desc` there.
fn grid_mesh(c: &mut Plot, x_desc: Option<&str>) -> Drawn {
    // Counts are integers: no label at a fractional tick (small counts would repeat 0, 0, 1, 1).
    let y_label = |v: &f64| if (v - v.round()).abs() > 1e-9 { String::new() } else { int(v.round() as i64) };
    let x_label = |v: &f64| minus(format!("{}", *v as i64));
    let mut mesh = c.configure_mesh();
    mesh.bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .disable_x_mesh()
        .y_desc("count")
        .y_label_formatter(&y_label)
        .x_label_formatter(&x_label)
        .label_style((FONT, 12.0))
        .axis_desc_style((FONT, 13.0));
    if let Some(d) = x_desc {
        mesh.x_desc(d);
    }
    mesh.draw()?;
    Ok(())
}

/// Histogram of integer values on the grid `grid = (q_min, q_max)`, with
/// vertical marks `(label, q)`. When a bar is much taller than all others (e.g.
/// the ReLU zeros piled on Z3) the axis is broken: an upper panel shows that
/// bar's real height, the lower one the rest at its own scale.
pub fn int_histogram(title: &str, x_desc: &str, values: &[i64], grid: (i64, i64), marks: &[(String, f64)]) -> Chart {
    let (q_min, q_max) = grid;
    let (counts, outside) = grid_counts(values, grid);
    let mut sorted = counts.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let (first, second) = (sorted.first().copied().unwrap_or(0), sorted.get(1).copied().unwrap_or(0));
    let cut = first > 4 * second.max(1);
    let ymax = if cut { second.max(1) as f64 * 1.5 } else { first.max(1) as f64 * 1.15 };
    // The bars much taller than the rest (the ReLU zeros piled on Z3): drawn wider
    // than one grid step so that a single column at the edge of the grid stays visible.
    let tall = |n: usize| cut && n as f64 > ymax;
    let width = |n: usize| if tall(n) { 1.6 } else { 0.5 };
    let size = if cut { (760, 500) } else { (760, 420) };
    render(title, size, |canvas, body| {
        let x_range = (q_min as f64 - 2.0)..(q_max as f64 + 2.0);
        // Broken axis: when one bar dwarfs the others, an upper panel shows its
        // real height and the lower one the rest of the histogram at its own scale.
        let (upper, lower) = if cut {
            let (u, l) = body.split_vertically(118);
            (Some(u), l)
        } else {
            (None, body.clone())
        };
        if let Some(u) = upper {
            let top_lo = (second.max(1) as f64 * 1.5).max(first as f64 * 0.5);
            let mut t = ChartBuilder::on(&u)
                .margin(12)
                .margin_bottom(4)
                .x_label_area_size(0)
                .y_label_area_size(60)
                .build_cartesian_2d(x_range.clone(), top_lo..(first as f64 * 1.12))?;
            t.configure_mesh()
                .bold_line_style(GRID_BOLD)
                .light_line_style(GRID_LIGHT)
                .disable_x_mesh()
                .y_labels(3)
                .y_label_formatter(&|v: &f64| int(*v as i64))
                .label_style((FONT, 12.0))
                .draw()?;
            t.draw_series(counts.iter().enumerate().filter(|(_, &n)| tall(n)).map(|(i, &n)| {
                let q = (q_min + i as i64) as f64;
                Rectangle::new([(q - width(n), top_lo), (q + width(n), n as f64)], C_ORANGE.filled())
            }))?;
            for (i, &n) in counts.iter().enumerate().filter(|(_, &n)| tall(n)) {
                let q = (q_min + i as i64) as f64;
                let left = q < (q_min + q_max) as f64 / 2.0;
                t.draw_series(std::iter::once(Text::new(
                    format!("q = {}: {} values (axis broken below)", minus(format!("{}", q as i64)), int(n as i64)),
                    (if left { q + 4.0 } else { q - 4.0 }, n as f64),
                    tsc(13.0, if left { HPos::Left } else { HPos::Right }, VPos::Center, &C_ORANGE),
                )))?;
            }
        }
        let mut c = ChartBuilder::on(&lower)
            .margin(12)
            .x_label_area_size(38)
            .y_label_area_size(60)
            .build_cartesian_2d(x_range, 0f64..ymax)?;
        grid_mesh(&mut c, Some(x_desc))?;
        // A mark off the axis (Z = 0 of an int16 tensor whose values all lie far above it) has no
        // line; its label sits inside the plot at the nearer edge, with an arrow pointing out.
        let (x_lo, x_hi) = (q_min as f64 - 2.0, q_max as f64 + 2.0);
        for (_, q) in marks.iter().filter(|(_, q)| (x_lo..=x_hi).contains(q)) {
            c.draw_series(std::iter::once(DashedPathElement::new(vec![(*q, 0.0), (*q, ymax)], 5, 3, C_RED.stroke_width(2))))?;
        }
        c.draw_series(counts.iter().enumerate().filter(|(_, &n)| n > 0).map(|(i, &n)| {
            let q = (q_min + i as i64) as f64;
            let top = (n as f64).min(ymax);
            let color = if tall(n) { C_ORANGE } else { C_BLUE };
            Rectangle::new([(q - width(n), 0.0), (q + width(n), top)], color.filled())
        }))?;
        // The marks' labels last, each on a light box, so that a mark in the middle
        // of the histogram (Z = 128 of a uint8 tensor, Z ≈ 0 of a tanh output)
        // keeps its label readable over the bars.
        for (k, (label, q)) in marks.iter().enumerate() {
            let left = *q < (q_min + q_max) as f64 / 2.0;
            let (label, q, offset) = if *q < x_lo {
                (format!("← {label}"), x_lo, 0.0)
            } else if *q > x_hi {
                (format!("{label} →"), x_hi, 0.0)
            } else {
                (label.clone(), *q, 3.0)
            };
            let (px, py) = c.backend_coord(&(if left { q + offset } else { q - offset }, ymax * (0.86 - 0.08 * k as f64)));
            let h = if left { HPos::Left } else { HPos::Right };
            let w = label.chars().count() as i32 * 5;
            let x0 = if left { px } else { px - w };
            canvas.draw(&Rectangle::new([(x0 - 4, py - 3), (x0 + w + 4, py + 17)], WHITE.mix(0.85).filled()))?;
            canvas.draw(&Text::new(label, (px, py), tsc(13.0, h, VPos::Top, &C_RED)))?;
        }
        let mut notes = vec![format!("{} values", int(values.len() as i64))];
        if outside > 0 {
            notes.push(format!("{} outside the grid", int(outside as i64)));
        }
        let (px, py) = c.backend_coord(&(q_max as f64, ymax));
        text_block(canvas, &notes, (px - 4, py + 4), 12.0, HPos::Right)?;
        Ok(())
    })
}

/// A real range mapped onto the integer grid: `S = (r_max − r_min)/(q_max − q_min)`,
/// `Z_real = q_min − r_min/S`, rounded (nudged) to the integer `Z`, and the
/// representable range that results. The upper panel shows the whole range,
/// the lower one zooms on the zero point (in grid steps).
pub fn scale_derivation(title: &str, m: &GridMap) -> Chart {
    let m = *m;
    render(title, (900, 520), |canvas, body| {
        let (top, bottom) = body.split_vertically(290);
        // Overview in real units.
        let (lo, hi) = min_max([m.r_min, m.r_max, m.nudged_min, m.nudged_max, 0.0]);
        let (lo, hi) = span(lo, hi, 0.08);
        let mut c = ChartBuilder::on(&top)
            .caption("real line (top) and integer grid (bottom), drawn at the same real positions", (FONT, 14.0))
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(10)
            .build_cartesian_2d(lo..hi, 0f64..1f64)?;
        c.configure_mesh()
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .disable_mesh()
            .disable_y_axis()
            .x_desc("real value r")
            .x_labels(9)
            .x_label_formatter(&|v| minus(num(*v)))
            .label_style((FONT, 12.0))
            .axis_desc_style((FONT, 13.0))
            .draw()?;
        let (yr, yq) = (0.72, 0.28);
        c.draw_series(std::iter::once(PathElement::new(vec![(lo, yr), (hi, yr)], C_GRAY.stroke_width(1))))?;
        c.draw_series(std::iter::once(PathElement::new(vec![(m.r_min, yr), (m.r_max, yr)], C_BLUE.stroke_width(6))))?;
        c.draw_series(std::iter::once(PathElement::new(vec![(m.nudged_min, yq), (m.nudged_max, yq)], C_GRAY.stroke_width(1))))?;
        // Grid ticks: every integer if there are few, else every k-th.
        let n = m.q_max - m.q_min;
        let every = if n <= 64 { 1 } else { 16 };
        let ticks: Vec<i64> = (m.q_min..=m.q_max).filter(|q| (q - m.q_min) % every == 0 || *q == m.q_max || *q == m.zero_point).collect();
        c.draw_series(ticks.iter().map(|&q| {
            let x = m.dequantize(q);
            let h = if q == m.q_min || q == m.q_max || q == m.zero_point { 0.07 } else { 0.035 };
            PathElement::new(vec![(x, yq - h), (x, yq + h)], C_DARK.stroke_width(1))
        }))?;
        // Correspondences.
        let pairs = [(m.r_min, m.nudged_min, m.q_min), (0.0, 0.0, m.zero_point), (m.r_max, m.nudged_max, m.q_max)];
        let width = m.q_max - m.q_min;
        let z_at_min = m.zero_point == m.q_min;
        let z_at_max = m.zero_point == m.q_max;
        let z_near_end = (m.zero_point - m.q_min).min(m.q_max - m.zero_point) * 100 < width * 15;
        for (k, &(r, x, q)) in pairs.iter().enumerate() {
            if k == 1 && (z_at_min || z_at_max) {
                continue; // merged into the end's label below
            }
            let color = if k == 1 { C_RED } else { C_BLUE };
            c.draw_series(std::iter::once(DashedPathElement::new(vec![(r, yr - 0.03), (x, yq + 0.08)], 5, 3, color.stroke_width(1))))?;
            let rl = match k {
                0 => format!("r_min = {}", minus(num(r))),
                1 => "r = 0".to_string(),
                _ => format!("r_max = {}", minus(num(r))),
            };
            // Labels of a zero point close to an end go one line further out.
            let shift = if k == 1 && z_near_end { 0.1 } else { 0.0 };
            let hp = match k {
                0 => HPos::Left,
                1 => HPos::Center,
                _ => HPos::Right,
            };
            c.draw_series(std::iter::once(Text::new(rl, (r, yr + 0.06 + shift), tsc(13.0, hp, VPos::Bottom, if k == 1 { &C_RED } else { &C_BLUE }))))?;
            let ql = match k {
                0 if z_at_min => format!("q_min = Z = {}  (r = 0)", minus(q.to_string())),
                0 => format!("q_min = {}", minus(q.to_string())),
                1 => format!("Z = {}", minus(q.to_string())),
                _ if z_at_max => format!("(r = 0)  q_max = Z = {}", minus(q.to_string())),
                _ => format!("q_max = {}", minus(q.to_string())),
            };
            let highlight = k == 1 || (k == 0 && z_at_min) || (k == 2 && z_at_max);
            c.draw_series(std::iter::once(Text::new(ql, (x, yq - 0.1 - shift), tsc(13.0, hp, VPos::Top, if highlight { &C_RED } else { &C_DARK }))))?;
        }
        let (px, py) = c.backend_coord(&(lo, 1.0));
        canvas.draw(&Text::new("real r", (px + 4, py + 30), ts(13.0, HPos::Left, VPos::Top)))?;
        let (px, py) = c.backend_coord(&(lo, yq));
        canvas.draw(&Text::new("integer q", (px + 4, py - 26), ts(13.0, HPos::Left, VPos::Top)))?;

        // Zoom on the zero point, in grid steps.
        let (bl, br) = bottom.split_horizontally(470);
        let zr = m.zero_point_real;
        let z = m.zero_point as f64;
        let (a, b) = (zr.min(z).floor() - 3.0, zr.max(z).ceil() + 3.0);
        let mut zc = ChartBuilder::on(&bl)
            .caption("zoom on real 0, in grid steps", (FONT, 14.0))
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(10)
            .build_cartesian_2d(a..b, 0f64..1f64)?;
        zc.configure_mesh()
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .disable_mesh()
            .disable_y_axis()
            .x_desc("position on the grid (q)")
            .x_labels(((b - a) as usize + 1).min(12))
            .x_label_formatter(&|v| minus(format!("{}", v.round() as i64)))
            .label_style((FONT, 12.0))
            .axis_desc_style((FONT, 13.0))
            .draw()?;
        zc.draw_series(std::iter::once(PathElement::new(vec![(a, 0.45), (b, 0.45)], C_GRAY.stroke_width(1))))?;
        zc.draw_series((a as i64..=b as i64).map(|q| PathElement::new(vec![(q as f64, 0.38), (q as f64, 0.52)], C_DARK.stroke_width(1))))?;
        zc.draw_series(std::iter::once(Circle::new((zr, 0.45), 6, C_BLUE.filled())))?;
        zc.draw_series(std::iter::once(Circle::new((z, 0.45), 6, C_RED.stroke_width(2))))?;
        zc.draw_series(std::iter::once(Text::new(
            format!("Z_real = {}", minus(format!("{zr:.3}"))),
            (zr, 0.62),
            tsc(13.0, HPos::Center, VPos::Bottom, &C_BLUE),
        )))?;
        zc.draw_series(std::iter::once(Text::new(format!("Z = {}", minus(m.zero_point.to_string())), (z, 0.3), tsc(13.0, HPos::Center, VPos::Top, &C_RED))))?;

        let lines = vec![
            format!("S = (r_max − r_min) / (q_max − q_min)"),
            format!("   = ({} − {}) / ({} − {}) = {}", minus(num(m.r_max)), paren(m.r_min), m.q_max, paren(m.q_min as f64), num(m.scale)),
            format!("Z_real = q_min − r_min / S = {}", minus(format!("{zr:.4}"))),
            format!("Z = round(Z_real) = {}   (nudge {})", minus(m.zero_point.to_string()), minus(format!("{:+.4}", z - zr))),
            format!("representable: S(q_min − Z) … S(q_max − Z)"),
            format!("   = {} … {}", minus(num(m.nudged_min)), minus(num(m.nudged_max))),
            format!("real 0 ↦ q = Z exactly (ReLU zeros, padding)"),
        ];
        let (x0, y0) = (br.get_base_pixel().0 + 8, br.get_base_pixel().1 + 16);
        text_block(canvas, &lines, (x0, y0), 13.0, HPos::Left)?;
        Ok(())
    })
}

/// One output neuron of a quantized FULLY_CONNECTED, step by step (from
/// [`Steps`]): the int32 accumulator, + bias, × M (the exact real product),
/// the profile's rounding, + Z3, and the clamp to `[act_min, act_max]`.
pub fn step_trace(title: &str, s: &Steps, act_min: i32, act_max: i32) -> Chart {
    let s = *s;
    let z3 = s.with_zero_point - s.scaled;
    render(title, (960, 460), |canvas, body| {
        let (left, right) = body.split_horizontally(400);
        // int32 accumulator domain.
        let acc = s.accumulator as f64;
        let acb = s.acc_with_bias as f64;
        let (lo, hi) = min_max([0.0, acc, acb]);
        let (lo, hi) = span(lo, hi, 0.15);
        let mut c = ChartBuilder::on(&left)
            .caption("int32 accumulator", (FONT, 14.0))
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..2.5f64, lo..hi)?;
        c.configure_mesh()
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("integer (accumulator units, S1·S2)")
            .y_label_formatter(&|v| int(*v as i64))
            .label_style((FONT, 12.0))
            .axis_desc_style((FONT, 13.0))
            .draw()?;
        let bars = [(0.0, acc, C_BLUE), (acc, acb, if s.bias >= 0 { C_GREEN } else { C_RED }), (0.0, acb, C_BLUE)];
        for (i, &(a, b, col)) in bars.iter().enumerate() {
            let x = i as f64;
            c.draw_series(std::iter::once(Rectangle::new([(x - 0.32, a), (x + 0.32, b)], col.filled())))?;
        }
        let labels = [int(s.accumulator as i64), format!("{:+}", s.bias).replace('-', "−"), int(s.acc_with_bias as i64)];
        for (i, l) in labels.iter().enumerate() {
            let top = bars[i].0.max(bars[i].1);
            c.draw_series(std::iter::once(Text::new(l.clone(), (i as f64, top + (hi - lo) * 0.02), ts(13.0, HPos::Center, VPos::Bottom))))?;
        }
        c.draw_series(std::iter::once(PathElement::new(vec![(-0.5, 0.0), (2.5, 0.0)], C_DARK.stroke_width(1))))?;
        x_categories(canvas, &c, &["Σ(q1−Z1)(q2−Z2)".into(), "+ bias".into(), "acc + bias".into()], 12.0)?;

        // Output-grid domain.
        let vals = [s.scaled_real, s.scaled as f64, s.with_zero_point as f64, s.output as f64];
        let (lo, hi) = min_max(vals.iter().copied().chain([0.0, act_min as f64, act_max as f64]));
        let (lo, hi) = span(lo, hi, 0.12);
        let m = s.multiplier;
        let mut r = ChartBuilder::on(&right)
            .caption(
                format!("× M = {} = M0·2^(shift−31), M0 = {}, shift = {}", num(m.real), m.m0, minus(m.shift.to_string())),
                (FONT, 14.0),
            )
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..3.5f64, lo..hi)?;
        r.configure_mesh()
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("output grid (units of S3)")
            .y_label_formatter(&|v| minus(num(*v)))
            .label_style((FONT, 12.0))
            .axis_desc_style((FONT, 13.0))
            .draw()?;
        let wz = s.with_zero_point as f64;
        let bars = [
            (0.0, s.scaled_real, C_PURPLE),
            (0.0, s.scaled as f64, C_BLUE),
            (s.scaled as f64, wz, C_ORANGE),
            (0.0, s.output as f64, if s.clamped { C_RED } else { C_GREEN }),
        ];
        for (i, &(a, b, col)) in bars.iter().enumerate() {
            let x = i as f64;
            r.draw_series(std::iter::once(Rectangle::new([(x - 0.3, a), (x + 0.3, b)], col.filled())))?;
        }
        for y in [act_min as f64, act_max as f64] {
            r.draw_series(std::iter::once(DashedPathElement::new(vec![(-0.5, y), (3.5, y)], 6, 4, C_RED.stroke_width(1))))?;
        }
        r.draw_series(std::iter::once(PathElement::new(vec![(-0.5, 0.0), (3.5, 0.0)], C_DARK.stroke_width(1))))?;
        let labels = [
            minus(format!("{:.4}", s.scaled_real)),
            minus(s.scaled.to_string()),
            minus(format!("{:+} → {}", z3, s.with_zero_point)),
            format!("{}{}", minus(s.output.to_string()), if s.clamped { " (clamped)" } else { "" }),
        ];
        for (i, l) in labels.iter().enumerate() {
            let (a, b) = (bars[i].0, bars[i].1);
            let top = a.max(b);
            r.draw_series(std::iter::once(Text::new(l.clone(), (i as f64, top + (hi - lo) * 0.015), ts(13.0, HPos::Center, VPos::Bottom))))?;
        }
        x_categories(
            canvas,
            &r,
            &[
                "M·acc (exact real)".into(),
                "rounded".into(),
                format!("+ Z3 ({})", minus(z3.to_string())),
                format!("clamp to [{}, {}]\n(dashed) → q3", minus(act_min.to_string()), minus(act_max.to_string())),
            ],
            12.0,
        )?;
        Ok(())
    })
}
