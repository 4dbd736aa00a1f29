//! Charts of the hardware export: the datapath as a block diagram, and
//! signals from a simulator's value change dump as a waveform.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::draw::{render, ts, tsc, Area, Drawn, C_BLUE, C_DARK, C_GRAY, C_GREEN, C_ORANGE};
use super::Chart;
use crate::export::rtl::{rtl_layers, weight_bits, RtlOp, LANES, REQUANT_LATENCY};
use crate::export::Export;

fn block(canvas: &Area, (x, y, w, h): (i32, i32, i32, i32), color: &RGBColor, lines: &[String], dashed: bool) -> Drawn {
    canvas.draw(&Rectangle::new([(x, y), (x + w, y + h)], color.mix(0.12).filled()))?;
    if dashed {
        for k in (x..x + w).step_by(10) {
            canvas.draw(&PathElement::new(vec![(k, y), ((k + 5).min(x + w), y)], color.stroke_width(2)))?;
            canvas.draw(&PathElement::new(vec![(k, y + h), ((k + 5).min(x + w), y + h)], color.stroke_width(2)))?;
        }
    } else {
        canvas.draw(&Rectangle::new([(x, y), (x + w, y + h)], color.stroke_width(2)))?;
    }
    let n = lines.len() as i32;
    for (k, line) in lines.iter().enumerate() {
        let size = if k == 0 { 15.0 } else { 12.5 };
        let yy = y + h / 2 - (n - 1) * 8 + k as i32 * 16;
        canvas.draw(&Text::new(line.clone(), (x + w / 2, yy), ts(size, HPos::Center, VPos::Center)))?;
    }
    Ok(())
}

fn arrow(canvas: &Area, from: (i32, i32), to: (i32, i32), label: &str) -> Drawn {
    canvas.draw(&PathElement::new(vec![from, to], C_DARK.stroke_width(2)))?;
    let (dx, dy) = ((to.0 - from.0) as f64, (to.1 - from.1) as f64);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let p = |a: f64, b: f64| ((to.0 as f64 - 9.0 * ux + a * -uy * 5.0) as i32, (to.1 as f64 - 9.0 * uy + b * ux * 5.0) as i32);
    canvas.draw(&Polygon::new(vec![to, p(1.0, 1.0), p(-1.0, -1.0)], C_DARK.filled()))?;
    if !label.is_empty() {
        canvas.draw(&Text::new(label.to_string(), ((from.0 + to.0) / 2 + 4, (from.1 + to.1) / 2 - 4), tsc(11.5, HPos::Left, VPos::Bottom, &C_GRAY)))?;
    }
    Ok(())
}

/// The synthesizable datapath of `e` (what `export --format verilog` writes
/// under `rtl/`), drawn from the exported parameters: ROM sizes, lanes,
/// requantizer latency, buffers, and what stays in software.
pub fn datapath(title: &str, e: &Export) -> Chart {
    let layers = rtl_layers(e);
    render(title, (980, 560), |canvas, _| {
        let layers = layers.map_err(|x| x.to_string())?;
        let last = &layers[layers.len() - 1];
        let maxa = layers.iter().map(|l| l.in_size.max(l.out_size)).max().unwrap_or(0).max(e.input.size());
        block(canvas, (20, 230, 120, 70), &C_GRAY, &["pixels in".into(), format!("{} × {}", e.input.size(), e.input.dtype), "valid / ready".into()], false)?;
        block(canvas, (190, 210, 150, 110), &C_BLUE, &["activation".into(), "buffers A / B".into(), format!("{maxa} × 9 bit each"), "ping-pong per layer".into()], false)?;
        let mut rom_lines = vec!["weight ROM (W − Z2)".to_string()];
        for l in &layers {
            if let RtlOp::FullyConnected(f) = l.op {
                rom_lines.push(format!("layer {}: {} × {} bit", l.export_index, l.groups * f.in_features, LANES * weight_bits(&layers)));
            }
        }
        block(canvas, (390, 50, 220, 30 + 16 * rom_lines.len() as i32), &C_ORANGE, &rom_lines, false)?;
        block(canvas, (400, 220, 200, 90), &C_GREEN, &[format!("{LANES} MAC lanes"), "acc += x · (W − Z2)".into(), "int32, one input / cycle".into(), "drained through lane 0".into()], false)?;
        block(canvas, (660, 50, 200, 80), &C_ORANGE, &["per-channel ROM".into(), "folded bias, M0, shift".into(), "72 bit / channel".into()], false)?;
        block(canvas, (660, 210, 200, 110), &C_GREEN, &["1 requantizer".into(), "(acc + bias)·2^left, SRDHM".into(), "÷ 2^right (rounded)".into(), "+ Z3, clamp".into(), format!("latency {REQUANT_LATENCY}, 1 / cycle")], false)?;
        block(canvas, (660, 400, 200, 80), &C_BLUE, &["logits + argmax".into(), format!("{} × {}", last.out_size, last.out_dtype), "valid / ready out".into()], false)?;
        block(canvas, (390, 400, 220, 80), &C_GRAY, &["SOFTMAX, later ops".into(), "in software (model.c)".into(), "not in the hardware".into()], true)?;
        arrow(canvas, (140, 265), (190, 265), "")?;
        arrow(canvas, (340, 265), (400, 265), "x")?;
        arrow(canvas, (500, 80 + 16 * rom_lines.len() as i32), (500, 220), "w")?;
        arrow(canvas, (760, 130), (760, 210), "")?;
        arrow(canvas, (600, 265), (660, 265), "acc")?;
        // The write-back path, as single segments (a multi-point path would be filled).
        let back = [(860, 265), (900, 265), (900, 360), (265, 360), (265, 320)];
        for seg in back.windows(2) {
            canvas.draw(&PathElement::new(vec![seg[0], seg[1]], C_DARK.stroke_width(2)))?;
        }
        canvas.draw(&Text::new("int8 out → next layer's buffer".to_string(), (600, 372), tsc(11.5, HPos::Center, VPos::Top, &C_GRAY)))?;
        // Labelled beside the slanted arrow, where the text does not cross it.
        arrow(canvas, (900, 360), (860, 430), "")?;
        canvas.draw(&Text::new("last layer".to_string(), (898, 404), tsc(11.5, HPos::Left, VPos::Center, &C_GRAY)))?;
        arrow(canvas, (660, 440), (610, 440), "")?;
        let seq = layers
            .iter()
            .map(|l| match l.op {
                RtlOp::FullyConnected(f) => format!("FC {}→{}", f.in_features, f.out_features),
                RtlOp::Quantize(_) => format!("QUANTIZE {}", l.out_size),
            })
            .collect::<Vec<_>>()
            .join("  →  ");
        canvas.draw(&Text::new(format!("sequencer: {seq}"), (20, 520), ts(13.0, HPos::Left, VPos::Center)))?;
        Ok(())
    })
}

/// Digital waveforms: one row per signal, a bus with its value written at
/// each change (1-bit signals as a line), over `[t0, t1]`.
pub fn waveform(title: &str, signals: &[(String, Vec<(u64, i64)>, bool)], t0: u64, t1: u64, unit: &str) -> Chart {
    let rows = signals.len().max(1) as i32;
    let (left, right, top, row_h) = (190, 960, 50, 46);
    render(title, (980, (top + rows * row_h + 50) as u32), |canvas, _| {
        let span = (t1.saturating_sub(t0)).max(1) as f64;
        let xs = |t: u64| left + (((t.clamp(t0, t1) - t0) as f64 / span) * (right - left) as f64) as i32;
        for (r, (name, changes, one_bit)) in signals.iter().enumerate() {
            let y = top + r as i32 * row_h;
            canvas.draw(&Text::new(name.clone(), (left - 10, y + row_h / 2), ts(13.0, HPos::Right, VPos::Center)))?;
            // value at t0, then changes within the window
            let mut pts: Vec<(u64, i64)> = Vec::new();
            if let Some(&(_, v)) = changes.iter().rev().find(|&&(t, _)| t <= t0) {
                pts.push((t0, v));
            }
            pts.extend(changes.iter().copied().filter(|&(t, _)| t > t0 && t <= t1));
            for (k, &(t, v)) in pts.iter().enumerate() {
                let x0 = xs(t);
                let x1 = pts.get(k + 1).map_or(right, |&(tn, _)| xs(tn));
                if *one_bit {
                    let yy = if v != 0 { y + 8 } else { y + row_h - 12 };
                    canvas.draw(&PathElement::new(vec![(x0, yy), (x1, yy)], C_BLUE.stroke_width(2)))?;
                    if k + 1 < pts.len() {
                        canvas.draw(&PathElement::new(vec![(x1, y + 8), (x1, y + row_h - 12)], C_BLUE.stroke_width(2)))?;
                    }
                } else {
                    let (ya, yb) = (y + 6, y + row_h - 10);
                    canvas.draw(&PathElement::new(vec![(x0 + 3, ya), (x1 - 3, ya)], C_GREEN.stroke_width(2)))?;
                    canvas.draw(&PathElement::new(vec![(x0 + 3, yb), (x1 - 3, yb)], C_GREEN.stroke_width(2)))?;
                    canvas.draw(&PathElement::new(vec![(x0, (ya + yb) / 2), (x0 + 3, ya)], C_GREEN.stroke_width(2)))?;
                    canvas.draw(&PathElement::new(vec![(x0, (ya + yb) / 2), (x0 + 3, yb)], C_GREEN.stroke_width(2)))?;
                    if x1 - x0 > 30 {
                        canvas.draw(&Text::new(v.to_string(), ((x0 + x1) / 2, (ya + yb) / 2), ts(11.5, HPos::Center, VPos::Center)))?;
                    }
                }
            }
        }
        let yb = top + rows * row_h + 8;
        canvas.draw(&PathElement::new(vec![(left, yb), (right, yb)], C_GRAY.stroke_width(1)))?;
        canvas.draw(&Text::new(format!("{t0} {unit}"), (left, yb + 6), tsc(12.0, HPos::Left, VPos::Top, &C_GRAY)))?;
        canvas.draw(&Text::new(format!("{t1} {unit}"), (right, yb + 6), tsc(12.0, HPos::Right, VPos::Top, &C_GRAY)))?;
        Ok(())
    })
}
