//! Shared drawing helpers: the canvas, fonts, colours, categorical labels.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::Chart;

pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
pub type Plot<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
pub type Drawn = Result<(), Box<dyn std::error::Error>>;

pub const FONT: &str = "sans-serif";

pub const C_BLUE: RGBColor = RGBColor(31, 119, 180);
pub const C_ORANGE: RGBColor = RGBColor(255, 127, 14);
pub const C_GREEN: RGBColor = RGBColor(44, 160, 44);
pub const C_RED: RGBColor = RGBColor(214, 39, 40);
pub const C_PURPLE: RGBColor = RGBColor(148, 103, 189);
pub const C_GRAY: RGBColor = RGBColor(127, 127, 127);
pub const C_DARK: RGBColor = RGBColor(40, 40, 40);
pub const SERIES: [RGBColor; 6] = [C_BLUE, C_ORANGE, C_GREEN, C_RED, C_PURPLE, C_GRAY];

/// Draw a chart: white canvas of `size`, the title on top, then `body` on
/// (the whole canvas for absolute drawing, the area under the title).
/// A drawing error becomes a chart that says so (and is reported on stderr).
pub fn render(title: &str, size: (u32, u32), body: impl FnOnce(&Area, &Area) -> Drawn) -> Chart {
    let mut svg = String::new();
    let result = {
        let canvas = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let r = (|| -> Drawn {
            canvas.fill(&WHITE)?;
            let inner = canvas.titled(title, (FONT, 20.0).into_font().style(FontStyle::Bold).color(&C_DARK))?;
            body(&canvas, &inner)?;
            canvas.present()?;
            Ok(())
        })();
        r.map_err(|e| e.to_string())
    };
    match result {
        Ok(()) => Chart::new(title, svg),
        Err(e) => {
            eprintln!("chart {title:?}: {e}");
            let text = format!("chart error in {title}: {e}").replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            Chart::new(
                title,
                format!(
                    "<svg width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" xmlns=\"http://www.w3.org/2000/svg\"><text x=\"10\" y=\"30\">{}</text></svg>",
                    size.0, size.1, size.0, size.1, text
                ),
            )
        }
    }
}

/// A text style of `size` px anchored at (h, v).
pub fn ts(size: f64, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).pos(Pos::new(h, v))
}

/// A coloured text style.
pub fn tsc(size: f64, h: HPos, v: VPos, color: &'static RGBColor) -> TextStyle<'static> {
    ts(size, h, v).color(color)
}

/// A finite, non-empty interval around [lo, hi], padded by `pad` of its width.
pub fn span(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (lo, hi);
    if !lo.is_finite() || !hi.is_finite() {
        lo = 0.0;
        hi = 1.0;
    }
    if hi <= lo {
        let c = lo;
        let d = if c == 0.0 { 1.0 } else { c.abs() * 0.1 };
        lo = c - d;
        hi = c + d;
    }
    let w = hi - lo;
    (lo - pad * w, hi + pad * w)
}

/// Min and max of some numbers (`(0, 0)` when empty).
pub fn min_max(v: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let mut it = v.into_iter().filter(|x| x.is_finite()).peekable();
    if it.peek().is_none() {
        return (0.0, 0.0);
    }
    it.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)))
}

/// A number with 4 significant digits: plain for 0.01 ≤ |x| < 10⁵,
/// scientific (`2.01e-3`) otherwise; exact zeros (and rounding noise such
/// as 1e-17 on an axis) print as `0`.
pub fn num(x: f64) -> String {
    let a = x.abs();
    if a < 1e-12 || !x.is_finite() {
        return if x.is_nan() { "NaN".into() } else if a < 1e-12 { "0".into() } else { format!("{x}") };
    }
    if !(1e-2..1e5).contains(&a) {
        let s = format!("{x:.3e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        return format!("{}e{}", trim(m.to_string()), e);
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    trim(format!("{x:.decimals$}"))
}

/// A number in parentheses when negative (for formulas: `a − (−b)`).
pub fn paren(x: f64) -> String {
    if x < 0.0 {
        format!("({})", minus(num(x)))
    } else {
        num(x)
    }
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

pub const GRID_BOLD: RGBColor = RGBColor(218, 218, 218);
pub const GRID_LIGHT: RGBColor = RGBColor(243, 243, 243);

/// A row of legend entries (colour square + name), centred at `(x, y)`.
pub fn legend_row(canvas: &Area, items: &[(String, RGBColor)], (x, y): (i32, i32), size: f64) -> Drawn {
    let widths: Vec<i32> = items.iter().map(|(n, _)| (n.chars().count() as f64 * size * 0.56) as i32 + 34).collect();
    let total: i32 = widths.iter().sum();
    let mut cx = x - total / 2;
    for ((name, color), w) in items.iter().zip(widths) {
        canvas.draw(&Rectangle::new([(cx, y - 6), (cx + 14, y + 6)], color.filled()))?;
        canvas.draw(&Text::new(name.clone(), (cx + 20, y), ts(size, HPos::Left, VPos::Center)))?;
        cx += w;
    }
    Ok(())
}

/// An integer with thin-space thousands separators.
pub fn int(x: i64) -> String {
    let s = x.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    if x < 0 {
        format!("−{out}")
    } else {
        out
    }
}

/// Replace ASCII '-' in a number with a real minus sign.
pub fn minus(s: String) -> String {
    s.replace('-', "−")
}

/// Category labels under an x axis whose categories sit at x = 0, 1, 2, …
/// (multi-line with '\n').
pub fn x_categories(canvas: &Area, plot: &Plot, labels: &[String], size: f64) -> Drawn {
    let y0 = plot.y_range().start;
    for (i, l) in labels.iter().enumerate() {
        let (px, py) = plot.backend_coord(&(i as f64, y0));
        for (k, line) in l.split('\n').enumerate() {
            canvas.draw(&Text::new(line.to_string(), (px, py + 7 + k as i32 * (size as i32 + 3)), ts(size, HPos::Center, VPos::Top)))?;
        }
    }
    Ok(())
}

/// Several lines of text at a pixel position of the canvas.
pub fn text_block(canvas: &Area, lines: &[String], (x, y): (i32, i32), size: f64, h: HPos) -> Drawn {
    for (k, line) in lines.iter().enumerate() {
        canvas.draw(&Text::new(line.clone(), (x, y + k as i32 * (size as i32 + 4)), ts(size, h, VPos::Top)))?;
    }
    Ok(())
}

/// A light box behind a text block (drawn before the text).
pub fn text_box(canvas: &Area, lines: &[String], (x, y): (i32, i32), size: f64, h: HPos) -> Drawn {
    let w = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64 * size * 0.55;
    let ht = lines.len() as f64 * (size + 4.0);
    let x0 = match h {
        HPos::Left => x,
        HPos::Right => x - w as i32,
        HPos::Center => x - (w / 2.0) as i32,
    };
    canvas.draw(&Rectangle::new([(x0 - 6, y - 4), (x0 + w as i32 + 6, y + ht as i32 + 2)], WHITE.mix(0.85).filled()))?;
    canvas.draw(&Rectangle::new([(x0 - 6, y - 4), (x0 + w as i32 + 6, y + ht as i32 + 2)], RGBColor(200, 200, 200).stroke_width(1)))?;
    text_block(canvas, lines, (x, y), size, h)
}

/// Linear interpolation through colour stops at t ∈ [0, 1].
pub fn gradient(stops: &[(u8, u8, u8)], t: f64) -> RGBColor {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let n = stops.len() - 1;
    let x = t * n as f64;
    let i = (x.floor() as usize).min(n.saturating_sub(1));
    let f = x - i as f64;
    let (a, b) = (stops[i], stops[(i + 1).min(n)]);
    let l = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * f).round() as u8;
    RGBColor(l(a.0, b.0), l(a.1, b.1), l(a.2, b.2))
}

/// White → black (ink on paper).
pub const GRAYS: [(u8, u8, u8); 2] = [(255, 255, 255), (0, 0, 0)];
/// A viridis-like ramp.
pub const VIRIDIS: [(u8, u8, u8); 5] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)];
/// White → orange → dark red (counts).
pub const HEAT: [(u8, u8, u8); 3] = [(255, 255, 255), (253, 174, 97), (165, 0, 38)];

/// A vertical colour bar for values lo…hi, labels and `desc` on its right,
/// with a free margin after them so that they keep clear of a neighbouring
/// panel. `area` should be at least 90 px wide.
pub fn color_bar(area: &Area, lo: f64, hi: f64, stops: &[(u8, u8, u8)], desc: &str) -> Drawn {
    let (lo, hi) = span(lo, hi, 0.0);
    let mut bar = ChartBuilder::on(area)
        .margin_top(18)
        .margin_bottom(48)
        .margin_left(4)
        .margin_right(18)
        .right_y_label_area_size(50)
        .build_cartesian_2d(0f64..1f64, lo..hi)?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&|v| minus(num(*v)))
        .y_desc(desc)
        .label_style((FONT, 12.0))
        .axis_desc_style((FONT, 12.0))
        .draw()?;
    let n = 64;
    bar.draw_series((0..n).map(|k| {
        let a = lo + (hi - lo) * k as f64 / n as f64;
        let b = lo + (hi - lo) * (k + 1) as f64 / n as f64;
        Rectangle::new([(0.0, a), (1.0, b)], gradient(stops, (k as f64 + 0.5) / n as f64).filled())
    }))?;
    Ok(())
}
