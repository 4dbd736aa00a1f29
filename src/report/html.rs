//! The page's HTML: escaping, tables, MathML and the frame.
//!
//! Everything that comes from the model file (tensor names, op names, the
//! description) is untrusted and goes through [`esc`]. The page carries a
//! Content-Security-Policy that allows no script, no connection and no
//! external resource at all: styles are inline, images are inline SVG.

use std::fmt::Write as _;

/// Escape text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters would make the page invalid; show them as U+FFFD.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A table: `head` and `rows` are already HTML (escape model strings first).
/// Columns listed in `numeric` are right-aligned and never wrap.
pub fn table(head: &[&str], rows: &[Vec<String>], numeric: &[usize]) -> String {
    let mut s = String::from("<div class=\"scroll\"><table><thead><tr>");
    for (i, h) in head.iter().enumerate() {
        let _ = write!(s, "<th{}>{h}</th>", if numeric.contains(&i) { " class=\"n\"" } else { "" });
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let _ = write!(s, "<td{}>{c}</td>", if numeric.contains(&i) { " class=\"n\"" } else { "" });
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div>\n");
    s
}

/// The three equations of the lesson, in MathML (rendered by the browser itself, no script).
pub fn equations() -> &'static str {
    r#"<div class="eq"><math display="block"><mi>r</mi><mo>=</mo><mi>S</mi><mo>(</mo><mi>q</mi><mo>&#x2212;</mo><mi>Z</mi><mo>)</mo></math>
<math display="block"><msub><mi>q</mi><mn>3</mn></msub><mo>=</mo><msub><mi>Z</mi><mn>3</mn></msub><mo>+</mo><mi>M</mi><mo>&#x22C5;</mo><mrow><mo>(</mo><munder><mo>&#x2211;</mo><mi>i</mi></munder><mo>(</mo><msub><mi>q</mi><mn>1</mn></msub><mo>&#x2212;</mo><msub><mi>Z</mi><mn>1</mn></msub><mo>)</mo><mo>(</mo><msub><mi>q</mi><mn>2</mn></msub><mo>&#x2212;</mo><msub><mi>Z</mi><mn>2</mn></msub><mo>)</mo><mo>+</mo><mi>bias</mi><mo>)</mo></mrow></math>
<math display="block"><mi>M</mi><mo>=</mo><mfrac><mrow><msub><mi>S</mi><mn>1</mn></msub><msub><mi>S</mi><mn>2</mn></msub></mrow><msub><mi>S</mi><mn>3</mn></msub></mfrac><mo>&#x2248;</mo><msub><mi>M</mi><mn>0</mn></msub><mo>&#x22C5;</mo><msup><mn>2</mn><mrow><mi>shift</mi><mo>&#x2212;</mo><mn>31</mn></mrow></msup></math></div>
"#
}

/// The content security policy: nothing may load or run.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:0 auto;padding:1em 1.5em;color:#222;line-height:1.45;overflow-wrap:break-word}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #ddd} h3{margin-top:1.4em}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top;white-space:nowrap}
td .name,td code{white-space:normal;overflow-wrap:anywhere}
td:last-child{white-space:normal}
th{background:#f4f4f4} td.n,th.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
summary{cursor:pointer;color:#0645ad;margin:.4em 0}
svg{max-width:100%;height:auto;display:block;margin:.5em 0}
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;font-size:.85em;white-space:pre-wrap}
.note{color:#555;font-size:.9em} .eq{margin:.6em 0;font-size:1.15em} .eq math{margin:.5em 0}
.ok{color:#1a7f37;font-weight:bold} .bad{color:#c62828;font-weight:bold}
nav ol{columns:2;font-size:.9em}
"#;

/// The whole page.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n",
        esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("<script>\"'&</svg>"), "&lt;script&gt;&quot;&#39;&amp;&lt;/svg&gt;");
        assert_eq!(esc("a\u{0}b"), "a\u{FFFD}b");
    }
}
