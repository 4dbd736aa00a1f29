//! A small reader for the value change dumps (VCD) the RTL testbench writes
//! (`tb_rtl.sv +vcd`): every signal's changes, as integers. Enough for
//! charts of a few signals; hand-rolled because it is ~60 lines and the
//! crates on offer parse far more of the format than a testbench dump uses.

use std::collections::HashMap;

/// One signal: its full name (`scope.sub.name`), width, and `(time, value)`
/// changes, values as the raw bits (x/z read as 0).
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    pub name: String,
    pub width: u32,
    pub changes: Vec<(u64, u64)>,
}

impl Signal {
    /// The value at `t` (the last change at or before it), two's complement if `signed`.
    pub fn at(&self, t: u64, signed: bool) -> Option<i64> {
        let i = self.changes.partition_point(|&(ct, _)| ct <= t);
        let raw = self.changes.get(i.checked_sub(1)?)?.1;
        Some(if signed && self.width < 64 && (raw >> (self.width - 1)) & 1 == 1 { raw as i64 - (1i64 << self.width) } else { raw as i64 })
    }
}

/// Parse a VCD document. Signals are keyed by full name.
pub fn parse(text: &str) -> HashMap<String, Signal> {
    let mut scope: Vec<String> = Vec::new();
    let mut by_id: HashMap<String, Vec<String>> = HashMap::new();
    let mut out: HashMap<String, Signal> = HashMap::new();
    let mut t = 0u64;
    let mut words = text.split_whitespace();
    let bits = |s: &str| s.chars().fold(0u64, |a, c| (a << 1) | (c == '1') as u64);
    fn record(by_id: &HashMap<String, Vec<String>>, out: &mut HashMap<String, Signal>, id: &str, v: u64, t: u64) {
        for name in by_id.get(id).into_iter().flatten() {
            if let Some(s) = out.get_mut(name) {
                s.changes.push((t, v));
            }
        }
    }
    while let Some(w) = words.next() {
        match w {
            "$scope" => {
                let _kind = words.next();
                scope.push(words.next().unwrap_or("").to_string());
            }
            "$upscope" => {
                scope.pop();
            }
            "$var" => {
                let _kind = words.next();
                let width: u32 = words.next().and_then(|x| x.parse().ok()).unwrap_or(1);
                let id = words.next().unwrap_or("").to_string();
                let name = format!("{}.{}", scope.join("."), words.next().unwrap_or(""));
                by_id.entry(id).or_default().push(name.clone());
                out.insert(name.clone(), Signal { name, width, changes: vec![] });
            }
            _ if w.starts_with('#') => t = w[1..].parse().unwrap_or(t),
            _ if w.starts_with('b') || w.starts_with('B') => {
                let v = bits(&w[1..]);
                if let Some(id) = words.next() {
                    record(&by_id, &mut out, id, v, t);
                }
            }
            _ if w.len() >= 2 && matches!(w.as_bytes()[0], b'0' | b'1' | b'x' | b'z' | b'X' | b'Z') => {
                record(&by_id, &mut out, &w[1..], (w.as_bytes()[0] == b'1') as u64, t);
            }
            _ => {}
        }
    }
    out
}
