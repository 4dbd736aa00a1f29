//! Which post-training quantization mode a file is in, and which tensors say so.
//!
//! TensorFlow's converter offers four modes beside plain float, and each
//! leaves its own trace in the tensors:
//!
//! | mode | what the file holds |
//! |---|---|
//! | full-integer int8 | int8 activations with (S, Z) (QUANTIZE/DEQUANTIZE only at the ends) |
//! | legacy uint8 | uint8 constant weights with (S, Z) (TF1 fake-quant graphs) |
//! | dynamic range | int8 constant weights read by an op whose output is float32: S1 is computed at run time |
//! | float16 | FLOAT16 constants, DEQUANTIZE to float32 |
//! | 16x8 | int16 activations with (S, 0), int8 weights |
//! | float | none of the above |
//!
//! A file with more than one of these traces is `mixed`.

use std::fmt;

use super::{DType, Model, Tensor};

/// The quantization mode of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    FullInteger,
    LegacyUint8,
    DynamicRange,
    Float16,
    Int16x8,
    Float,
    Mixed,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::FullInteger => "full-integer int8",
            Mode::LegacyUint8 => "legacy uint8",
            Mode::DynamicRange => "dynamic range",
            Mode::Float16 => "float16",
            Mode::Int16x8 => "16x8",
            Mode::Float => "float",
            Mode::Mixed => "mixed",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The mode and, for each trace found, the tensors (of subgraph 0) that show it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModeReport {
    pub mode: Mode,
    /// (trace, tensor indices), in [`Mode`] order; empty for a float file.
    pub evidence: Vec<(Mode, Vec<usize>)>,
}

impl ModeReport {
    /// One line: `dynamic range (int8 weights read by float ops: t1, t3)`.
    pub fn describe(&self) -> String {
        let why = |m: Mode, ts: &[usize]| {
            let what = match m {
                Mode::FullInteger => "int8 activations",
                Mode::LegacyUint8 => "uint8 constant weights",
                Mode::DynamicRange => "int8 weights read by float ops",
                Mode::Float16 => "FLOAT16 constants",
                Mode::Int16x8 => "int16 activations",
                Mode::Float | Mode::Mixed => "",
            };
            let shown: Vec<String> = ts.iter().take(6).map(|t| format!("t{t}")).collect();
            let more = if ts.len() > 6 { format!(", … {} more", ts.len() - 6) } else { String::new() };
            format!("{what}: {}{more}", shown.join(", "))
        };
        if self.evidence.is_empty() {
            return format!("{} (no quantized tensor)", self.mode);
        }
        let parts: Vec<String> = self.evidence.iter().map(|(m, ts)| format!("{m} — {}", why(*m, ts))).collect();
        match self.mode {
            Mode::Mixed => format!("mixed ({})", parts.join("; ")),
            m => format!("{m} ({})", why(m, &self.evidence[0].1)),
        }
    }
}

fn quantized(t: &Tensor) -> bool {
    t.quant.is_some() || t.quant_details.is_some()
}

/// Find the file's mode from the tensors and operators of subgraph 0.
pub fn detect(model: &Model) -> ModeReport {
    let mut found: Vec<(Mode, Vec<usize>)> = Vec::new();
    let mut add = |m: Mode, t: usize| match found.iter_mut().find(|(k, _)| *k == m) {
        Some((_, ts)) => {
            if !ts.contains(&t) {
                ts.push(t)
            }
        }
        None => found.push((m, vec![t])),
    };
    let constant = |t: &Tensor| t.is_constant() || t.sparsity.is_some() || t.external_buffer.is_some();
    for t in &model.tensors {
        match t.dtype {
            DType::I8 if quantized(t) && !constant(t) => add(Mode::FullInteger, t.index),
            DType::I16 if quantized(t) && !constant(t) => add(Mode::Int16x8, t.index),
            DType::U8 if quantized(t) && constant(t) => add(Mode::LegacyUint8, t.index),
            DType::F16 if constant(t) => add(Mode::Float16, t.index),
            _ => {}
        }
    }
    for op in &model.operators {
        let float_out = op.outputs.iter().any(|&o| model.tensors[o].dtype == DType::F32);
        if !float_out || op.kind == super::OpKind::Dequantize {
            continue;
        }
        for &i in op.inputs.iter().flatten() {
            let t = &model.tensors[i];
            if matches!(t.dtype, DType::I8 | DType::I4) && quantized(t) && constant(t) {
                add(Mode::DynamicRange, i);
            }
        }
    }
    found.sort_by_key(|(m, _)| *m);
    let mode = match found.len() {
        0 => Mode::Float,
        1 => found[0].0,
        _ => Mode::Mixed,
    };
    ModeReport { mode, evidence: found }
}
