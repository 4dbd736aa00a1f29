//! Charts of one convolution: its kernels, the receptive field of one
//! output, its feature maps.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::draw::*;
use super::Chart;
use crate::ops::conv::{ConvSteps, Geometry, Params};
use crate::tensor::Value;

/// Blue → white → red, for signed integers centred on 0.
const DIVERGING: [(u8, u8, u8); 3] = [(33, 102, 172), (247, 247, 247), (178, 24, 43)];

/// Dark text on light cells, white text on dark ones.
fn ink(c: RGBColor) -> &'static RGBColor {
    let lum = 0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64;
    if lum < 120.0 {
        &WHITE
    } else {
        &C_DARK
    }
}

/// `n` panels in rows of at most `per_row`.
pub(super) fn panel_grid(n: usize, per_row: usize) -> (usize, usize) {
    let cols = n.clamp(1, per_row);
    (n.div_ceil(cols).max(1), cols)
}

/// One heatmap cell grid on `area`: `rows × cols` values (row-major), colour
/// `color(v)`, optional integer labels, optional red outlines `(row, col)`.
/// The plot covers `x0..x0+cols`, `y0..y0+rows` so cells outside the data
/// (e.g. padding) can be outlined too.
#[allow(clippy::too_many_arguments)]
pub(super) fn cells(
    area: &Area,
    caption: &str,
    (rows, cols): (usize, usize),
    (y0, x0, y1, x1): (f64, f64, f64, f64),
    values: &[f64],
    color: &dyn Fn(f64) -> RGBColor,
    labels: bool,
    outlines: &[(i64, i64, bool)],
    axes: bool,
    block_cols: Option<usize>,
) -> Drawn {
    let mut b = ChartBuilder::on(area);
    b.caption(caption, (FONT, 13.0)).margin(6);
    if axes {
        b.x_label_area_size(26).y_label_area_size(30);
    }
    let mut c = b.build_cartesian_2d(x0..x1, y1..y0)?;
    if axes {
        c.configure_mesh()
            .disable_mesh()
            .x_labels(8)
            .y_labels(8)
            .x_label_formatter(&|v| format!("{}", v.round() as i64))
            .y_label_formatter(&|v| format!("{}", v.round() as i64))
            .label_style((FONT, 11.0))
            .draw()?;
    }
    c.draw_series(values.iter().enumerate().map(|(i, &v)| {
        let (r, k) = ((i / cols) as f64, (i % cols) as f64);
        Rectangle::new([(k, r), (k + 1.0, r + 1.0)], color(v).filled())
    }))?;
    if labels {
        let (w, _) = c.plotting_area().dim_in_pixel();
        let size = ((w as f64 / (x1 - x0)) * 0.34).clamp(9.0, 15.0);
        for (i, &v) in values.iter().enumerate() {
            let (r, k) = ((i / cols) as f64, (i % cols) as f64);
            c.draw_series(std::iter::once(Text::new(minus(format!("{}", v as i64)), (k + 0.5, r + 0.5), tsc(size, HPos::Center, VPos::Center, ink(color(v))))))?;
        }
    }
    for &(r, k, inside) in outlines {
        let (r, k) = (r as f64, k as f64);
        let style = if inside { C_RED.stroke_width(2) } else { C_ORANGE.stroke_width(2) };
        c.draw_series(std::iter::once(Rectangle::new([(k, r), (k + 1.0, r + 1.0)], style)))?;
    }
    if let Some(every) = block_cols.filter(|&b| b > 0 && b < cols) {
        for k in (every..cols).step_by(every) {
            let k = k as f64;
            c.draw_series(std::iter::once(PathElement::new(vec![(k, 0.0), (k, rows as f64)], WHITE.stroke_width(2))))?;
        }
    }
    Ok(())
}

/// Every output channel's kernel of a quantized CONV_2D as a small heatmap
/// on the integer grid (`W − Z2`; int8 weights are symmetric, so that is
/// `W`), with the value written in each cell and the channel's scale `S2[c]`
/// in its caption. Input channels are laid side by side (`k_w · in_c`
/// columns per kernel row).
pub fn conv_kernels(title: &str, p: &Params) -> Chart {
    let g = p.geometry;
    let per = g.k_h * g.k_w * g.in_c;
    let lim = p.weights.iter().map(|w| w.abs()).max().unwrap_or(1).max(1) as f64;
    let lim = if p.requant.output_dtype == crate::model::DType::I8 { lim.max(127.0) } else { lim };
    let (prow, pcol) = panel_grid(g.out_c, 4);
    let cols = g.k_w * g.in_c;
    let labels = per <= 64;
    let panel = 190u32;
    let width = pcol as u32 * panel + 110;
    let height = prow as u32 * (panel + 10) + 70;
    let color = move |v: f64| gradient(&DIVERGING, 0.5 + v / (2.0 * lim));
    render(title, (width, height), |_canvas, body| {
        let (maps, bar) = body.split_horizontally(pcol as u32 * panel);
        let areas = maps.split_evenly((prow, pcol));
        for (c, area) in areas.iter().enumerate().take(g.out_c) {
            // Stored [ky][kx][ic]; drawn row ky, column ic·k_w + kx (input channels side by side).
            let w: Vec<f64> = (0..per)
                .map(|i| {
                    let (ky, col) = (i / cols, i % cols);
                    let (ic, kx) = (col / g.k_w, col % g.k_w);
                    p.weights[c * per + (ky * g.k_w + kx) * g.in_c + ic] as f64
                })
                .collect();
            let caption = format!("c = {c} · S2 = {}", num(p.requant.s2[c] as f64));
            cells(area, &caption, (g.k_h, cols), (0.0, 0.0, g.k_h as f64, cols as f64), &w, &color, labels, &[], false, Some(g.k_w))?;
        }
        color_bar(&bar, -lim, lim, &DIVERGING, if p.requant.z2 == 0 { "weight w" } else { "w − Z2" })
    })
}

/// The receptive field of one output of a CONV_2D / DEPTHWISE_CONV_2D
/// (`steps` from [`crate::Trace::conv_steps`]): left, input channel
/// `steps.receptive_field[0].ic` with the taps outlined (red inside the
/// image, orange in the padding); right, one cell per kernel tap with
/// `x − Z1`, `w` and their product (summed over input channels), coloured by
/// the product; below, the accumulator and its requantization.
pub fn receptive_field(title: &str, input: &Value, steps: &ConvSteps, g: &Geometry) -> Chart {
    let x: Vec<i64> = input.to_i64_vec().unwrap_or_default();
    let ic = steps.receptive_field.first().map_or(0, |t| t.ic);
    let (q_lo, q_hi) = input.dtype().int_range().map(|(a, b)| (a as f64, b as f64)).unwrap_or((-128.0, 127.0));
    let (b, oy, ox, oc) = steps.position;
    render(title, (980, 520), |canvas, body| {
        let (left, right) = body.split_horizontally(470);
        // Left: the input channel, padded by the kernel's reach.
        // The plot reaches into the padding, where padding taps are outlined.
        let (y0, x0) = (-(g.pad_h as f64), -(g.pad_w as f64));
        let img: Vec<f64> = (0..g.in_h * g.in_w).map(|i| x.get(g.in_index(b, i / g.in_w, i % g.in_w, ic)).copied().unwrap_or(0) as f64).collect();
        let mut outlines: Vec<(i64, i64, bool)> = Vec::new();
        for t in steps.receptive_field.iter().filter(|t| t.ic == ic) {
            let iy = (oy * g.stride_h + t.ky * g.dil_h) as i64 - g.pad_h as i64;
            let ix = (ox * g.stride_w + t.kx * g.dil_w) as i64 - g.pad_w as i64;
            outlines.push((iy, ix, t.at.is_some()));
        }
        let (map, bar) = left.split_horizontally(376);
        let color = |v: f64| gradient(&VIRIDIS, (v - q_lo) / (q_hi - q_lo));
        let caption = format!("input channel {ic} ({}×{}): taps of output (row {oy}, column {ox}, channel {oc})", g.in_h, g.in_w);
        cells(
            &map,
            &caption,
            (g.in_h, g.in_w),
            (y0, x0, g.in_h as f64 + g.pad_h as f64, g.in_w as f64 + g.pad_w as f64),
            &img,
            &color,
            false,
            &outlines,
            true,
            None,
        )?;
        color_bar(&bar, q_lo, q_hi, &VIRIDIS, &format!("q ({})", input.dtype().name()))?;

        // Right: one cell per tap.
        let (grid, text) = right.split_vertically(330);
        let mut prod = vec![0i64; g.k_h * g.k_w];
        let mut xs = vec![Vec::new(); g.k_h * g.k_w];
        let mut ws = vec![Vec::new(); g.k_h * g.k_w];
        for t in &steps.receptive_field {
            let i = t.ky * g.k_w + t.kx;
            prod[i] += t.x_centered as i64 * t.w as i64;
            xs[i].push((t.x_centered, t.at.is_some()));
            ws[i].push(t.w);
        }
        let lim = prod.iter().map(|p| p.abs()).max().unwrap_or(1).max(1) as f64;
        let pcolor = |v: f64| gradient(&DIVERGING, 0.5 + v / (2.0 * lim));
        let pv: Vec<f64> = prod.iter().map(|&p| p as f64).collect();
        let single = g.in_c == 1 || steps.receptive_field.len() == g.k_h * g.k_w;
        let cap = if single { "per tap: x − Z1, w, (x − Z1)·w".to_string() } else { format!("per tap: Σ over {} input channels of (x − Z1)·w", g.in_c) };
        let mut c = ChartBuilder::on(&grid).caption(cap, (FONT, 13.0)).margin(10).build_cartesian_2d(0f64..g.k_w as f64, g.k_h as f64..0f64)?;
        c.draw_series(pv.iter().enumerate().map(|(i, &v)| {
            let (r, k) = ((i / g.k_w) as f64, (i % g.k_w) as f64);
            Rectangle::new([(k, r), (k + 1.0, r + 1.0)], pcolor(v).filled())
        }))?;
        c.draw_series(pv.iter().enumerate().map(|(i, _)| {
            let (r, k) = ((i / g.k_w) as f64, (i % g.k_w) as f64);
            Rectangle::new([(k, r), (k + 1.0, r + 1.0)], WHITE.stroke_width(2))
        }))?;
        for (i, &v) in pv.iter().enumerate() {
            let (r, k) = ((i / g.k_w) as f64, (i % g.k_w) as f64);
            let lines: Vec<String> = if single {
                let (xc, inside) = xs[i][0];
                vec![
                    if inside { format!("x − Z1 = {}", minus(xc.to_string())) } else { "padding".to_string() },
                    format!("w = {}", minus(ws[i][0].to_string())),
                    format!("= {}", minus(int(v as i64))),
                ]
            } else {
                vec![format!("Σ = {}", minus(int(v as i64)))]
            };
            let ink = ink(pcolor(v));
            let n = lines.len() as f64;
            for (j, l) in lines.into_iter().enumerate() {
                let y = r + 0.5 + (j as f64 - (n - 1.0) / 2.0) * 0.22;
                c.draw_series(std::iter::once(Text::new(l, (k + 0.5, y), tsc(12.0, HPos::Center, VPos::Center, ink))))?;
            }
        }
        let m = steps.multiplier;
        let z3 = steps.with_zero_point as i64 - steps.scaled as i64;
        let lines = vec![
            format!("Σ (x − Z1)·w = {};  + bias[{oc}] ({}) → acc = {}", int(steps.accumulator as i64), int(steps.bias as i64), int(steps.acc_with_bias as i64)),
            format!("M = S1·S2[{oc}]/S3 = {} = M0·2^(shift−31):  M0 = {}, shift = {}", num(m.real), int(m.m0 as i64), minus(m.shift.to_string())),
            format!("M·acc = {} → rounded {}", minus(num(steps.scaled_real)), minus(steps.scaled.to_string())),
            format!("+ Z3 ({}) = {} → clamp → {}{}", minus(z3.to_string()), minus(steps.with_zero_point.to_string()), minus(steps.output.to_string()), if steps.clamped { " (clamped)" } else { "" }),
        ];
        let (tx, ty) = text.get_base_pixel();
        text_block(canvas, &lines, (tx + 14, ty + 6), 13.0, HPos::Left)
    })
}

/// The feature maps of a quantized NHWC tensor: one heatmap per channel on
/// the dtype's integer grid, with how many values lie above the zero point
/// `z` (real 0) in each caption.
pub fn feature_maps(title: &str, value: &Value, z: i64) -> Chart {
    let q: Vec<i64> = value.to_i64_vec().unwrap_or_default();
    let s = &value.shape;
    let (h, w, ch) = match s.len() {
        4 => (s[1], s[2], s[3]),
        3 => (s[0], s[1], s[2]),
        _ => (1, q.len(), 1),
    };
    let (lo, hi) = value.dtype().int_range().map(|(a, b)| (a as f64, b as f64)).unwrap_or_else(|| min_max(q.iter().map(|&v| v as f64)));
    let (prow, pcol) = panel_grid(ch, 4);
    let panel = 220u32;
    render(title, (pcol as u32 * panel + 110, prow as u32 * (panel + 14) + 60), |_canvas, body| {
        let (maps, bar) = body.split_horizontally(pcol as u32 * panel);
        let areas = maps.split_evenly((prow, pcol));
        let color = |v: f64| gradient(&VIRIDIS, (v - lo) / (hi - lo));
        for (c, area) in areas.iter().enumerate().take(ch) {
            let vals: Vec<f64> = (0..h * w).map(|i| q[i * ch + c] as f64).collect();
            let above = vals.iter().filter(|&&v| v > z as f64).count();
            let max = vals.iter().copied().fold(f64::MIN, f64::max);
            let caption = format!("c = {c}: max {}, {} of {} > Z", minus(num(max)), above, h * w);
            cells(area, &caption, (h, w), (0.0, 0.0, h as f64, w as f64), &vals, &color, false, &[], false, None)?;
        }
        color_bar(&bar, lo, hi, &VIRIDIS, &format!("q ({})", value.dtype().name()))
    })
}
