//! Heatmaps of same-shaped matrices side by side (attention scores and
//! probabilities: integer path, real values, float path), one shared color scale.

use super::conv_charts::{cells, panel_grid};
use super::draw::{color_bar, gradient, min_max, render, VIRIDIS};
use super::Chart;

/// One heatmap per `(caption, rows × cols values)` panel, up to `per_row`
/// panels a row, on one color scale from the smallest to the largest value
/// (`desc` labels the color bar).
pub fn heatmaps(title: &str, panels: &[(String, Vec<f64>)], (rows, cols): (usize, usize), per_row: usize, desc: &str) -> Chart {
    let (lo, hi) = min_max(panels.iter().flat_map(|(_, v)| v.iter().copied()));
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let (prow, pcol) = panel_grid(panels.len(), per_row.max(1));
    let panel = 260u32;
    render(title, (pcol as u32 * panel + 110, prow as u32 * (panel + 14) + 60), |_canvas, body| {
        let (maps, bar) = body.split_horizontally(pcol as u32 * panel);
        let areas = maps.split_evenly((prow, pcol));
        let color = |v: f64| gradient(&VIRIDIS, (v - lo) / (hi - lo));
        for ((caption, vals), area) in panels.iter().zip(areas.iter()) {
            cells(area, caption, (rows, cols), (0.0, 0.0, rows as f64, cols as f64), vals, &color, false, &[], false, None)?;
        }
        color_bar(&bar, lo, hi, &VIRIDIS, desc)
    })
}
