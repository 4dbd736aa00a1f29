//! The JSON export: `model.json` (every layer's parameters as data) and,
//! with golden vectors, `golden.json`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Export, Golden, LayerKind, TensorInfo};
use crate::error::Error;

/// A JSON string literal.
pub fn string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn ints<T: Copy + Into<i64>>(v: &[T]) -> String {
    let mut s = String::with_capacity(v.len() * 4 + 2);
    s.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{}", (*x).into());
    }
    s.push(']');
    s
}

fn floats(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| if x.is_finite() { format!("{x:e}") } else { "null".into() }).collect();
    format!("[{}]", parts.join(","))
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("null".into(), |x| x.to_string())
}

pub(crate) fn tensor(t: &TensorInfo) -> String {
    format!(
        "{{\"index\":{},\"name\":{},\"dtype\":{},\"shape\":{},\"scale\":{},\"zero_point\":{}}}",
        t.index,
        string(&t.name),
        string(t.dtype.name()),
        ints(&t.shape.iter().map(|&d| d as i64).collect::<Vec<_>>()),
        opt(t.scale.map(|s| format!("{:e}", s as f64))),
        opt(t.zero_point)
    )
}

/// The text of `model.json`.
pub fn model_json(e: &Export) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{{\n\"generator\":\"quantlens export\",\n\"model\":{},\n\"profile\":{},\n\"profile_description\":{},\n\"input\":{},\n\"output\":{},\n\"layers\":[",
        string(&e.model_name),
        string(e.profile.name()),
        string(e.profile.describe()),
        tensor(&e.input),
        tensor(&e.output)
    );
    for (i, l) in e.layers.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "\n{{\"index\":{},\"op\":{},\"kind\":{},\"input\":{},\"output\":{}",
            l.index,
            l.op,
            string(&l.op_kind),
            tensor(&l.input),
            tensor(&l.output)
        );
        match &l.kind {
            LayerKind::FullyConnected(f) => {
                let a = &f.acc;
                let _ = write!(
                    s,
                    ",\n \"in_features\":{},\"out_features\":{},\"weight_dtype\":{},\"weights_layout\":\"[out][in]\",\"per_channel\":{},\
                     \n \"z1\":{},\"z3\":{},\"act_min\":{},\"act_max\":{},\"activation\":{},\
                     \n \"rounding\":{},\"rounding_description\":{},\
                     \n \"accumulator\":{{\"input_min\":{},\"input_max\":{},\"worst_min\":{},\"worst_max\":{},\"worst_bits\":{},\"product_bits\":{},\"observed_min\":{},\"observed_max\":{},\"observed_bits\":{},\"observed_samples\":{},\"worst_bits_per_channel\":{}}},\
                     \n \"z2\":{},\n \"m0\":{},\n \"shift\":{},\n \"m_real\":{},\n \"bias\":{},\n \"weights\":{}}}",
                    f.in_features,
                    f.out_features,
                    string(f.weight_dtype.name()),
                    f.per_channel,
                    f.z1,
                    f.z3,
                    f.act_min,
                    f.act_max,
                    string(&f.activation),
                    string(f.rounding.key()),
                    string(f.rounding.name()),
                    a.input_min,
                    a.input_max,
                    a.worst_min,
                    a.worst_max,
                    a.worst_bits,
                    a.product_bits,
                    opt(a.observed_min),
                    opt(a.observed_max),
                    opt(a.observed_bits),
                    a.observed_samples,
                    ints(&a.worst_bits_per_channel),
                    ints(&f.z2),
                    ints(&f.m0),
                    ints(&f.shift),
                    floats(&f.m_real),
                    ints(&f.bias),
                    ints(&f.weights)
                );
            }
            LayerKind::Requantize(r) => {
                let _ = write!(
                    s,
                    ",\"z_in\":{},\"z_out\":{},\"m_real\":{:e},\"m0\":{},\"shift\":{},\"out_min\":{},\"out_max\":{},\"rounding\":{},\"rounding_description\":{}}}",
                    r.z_in,
                    r.z_out,
                    r.m_real,
                    r.m0,
                    r.shift,
                    r.out_min,
                    r.out_max,
                    string(r.rounding.key()),
                    string(r.rounding.name())
                );
            }
            LayerKind::Softmax(sm) => {
                let _ = write!(
                    s,
                    ",\"beta\":{:e},\"method\":{},\"input_multiplier\":{},\"input_left_shift\":{},\"diff_min\":{},\"z_out\":{},\"out_min\":{},\"out_max\":{},\"table\":{}}}",
                    sm.beta as f64,
                    string(&format!("{:?}", sm.method)),
                    sm.input_multiplier,
                    sm.input_left_shift,
                    sm.diff_min,
                    sm.z_out,
                    sm.out_min,
                    sm.out_max,
                    floats(&sm.table.iter().map(|&x| x as f64).collect::<Vec<_>>())
                );
            }
            LayerKind::Reshape { .. } => s.push('}'),
        }
    }
    s.push_str("\n]\n}\n");
    s
}

/// The text of `golden.json`: `input` and `layers[k]` as `[image][element]`.
pub fn golden_json(e: &Export, g: &Golden) -> String {
    let layers: Vec<(usize, usize)> = e.layers.iter().map(|l| (l.index, l.output.index)).collect();
    golden_text(&e.model_name, e.profile, &layers, g)
}

/// `golden.json` for any export: per layer `(k, output tensor)`, its outputs on the golden images.
pub fn golden_text(model_name: &str, profile: crate::profile::Profile, layers: &[(usize, usize)], g: &Golden) -> String {
    // float plumbing (issue 15, item 4): float32 tensors as numbers (shortest round-trip decimals, null if not finite).
    let rows = |st: &crate::io::Stacked| {
        let r: Vec<String> = match &st.data {
            crate::tensor::Data::F32(v) => v.chunks((v.len() / g.n.max(1)).max(1)).map(|c| floats(&c.iter().map(|&x| x as f64).collect::<Vec<_>>())).collect(),
            _ => {
                let v = st.to_i64_vec().unwrap_or_default();
                v.chunks((v.len() / g.n.max(1)).max(1)).map(ints).collect()
            }
        };
        format!("[\n{}\n]", r.join(",\n"))
    };
    let mut s = format!("{{\"generator\":\"quantlens export\",\"model\":{},\"profile\":{},\"n\":{},\n\"input\":{},\n\"layers\":[", string(model_name), string(profile.name()), g.n, rows(&g.input));
    for (i, (&(k, t), out)) in layers.iter().zip(&g.outputs).enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "\n{{\"index\":{k},\"tensor\":{t},\"dtype\":{},\"values\":{}}}", string(out.dtype().name()), rows(out));
    }
    s.push_str("\n]}\n");
    s
}

/// Write `model.json` (and `golden.json`).
pub fn write(e: &Export, dir: &Path, golden: Option<&Golden>) -> Result<Vec<PathBuf>, Error> {
    let io = |p: &Path, x: std::io::Error| Error::Io { path: p.display().to_string(), message: x.to_string() };
    let mut files = Vec::new();
    let p = dir.join("model.json");
    std::fs::write(&p, model_json(e)).map_err(|x| io(&p, x))?;
    files.push(p);
    if let Some(g) = golden {
        let p = dir.join("golden.json");
        std::fs::write(&p, golden_json(e, g)).map_err(|x| io(&p, x))?;
        files.push(p);
    }
    Ok(files)
}
