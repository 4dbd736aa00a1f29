//! Test-only helpers shared by the test suites: paths, the command, a
//! deterministic random generator, a tiny `.tflite` writer (small models built in code) and a locator that finds the byte
//! offset of a field inside a real `.tflite` file so a test can corrupt
//! exactly that field.

#![allow(dead_code)]

use std::path::PathBuf;

use flatbuffers::{FlatBufferBuilder, TableFinishedWIPOffset, WIPOffset};

// ---------------------------------------------------------------------------
// Paths, the command line, random numbers
// ---------------------------------------------------------------------------

/// The crate's root directory.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A committed model: `data/models/{stem}.tflite`.
pub fn model(stem: &str) -> PathBuf {
    root().join("data/models").join(format!("{stem}.tflite"))
}

/// A fresh, empty directory `quantlens-{suite}-{pid}-{name}` in the system's temp dir.
pub fn tempdir(suite: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quantlens-{suite}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The `quantlens` command.
#[cfg(feature = "cli")]
pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_quantlens"))
}

/// Run the `quantlens` command: (exit code, stdout followed by stderr).
#[cfg(feature = "cli")]
pub fn cli(args: &[&str]) -> (i32, String) {
    let out = bin().args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
}

/// `quantlens export MODEL --format FORMAT --out DIR --golden N --input INPUT`: an export
/// with golden vectors for its harness or testbench.
#[cfg(feature = "cli")]
pub fn export_with_goldens(model: &std::path::Path, format: &str, dir: &std::path::Path, n: usize, input: &std::path::Path) -> (i32, String) {
    let n = n.to_string();
    cli(&["export", model.to_str().unwrap(), "--format", format, "--out", dir.to_str().unwrap(), "--golden", &n, "--input", input.to_str().unwrap()])
}

/// Marsaglia's xorshift64: deterministic, no dependency.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

/// Schema field id → vtable slot.
const fn vt(id: u16) -> u16 {
    4 + 2 * id
}

pub const FLOAT32: i8 = 0;
pub const INT32: i8 = 2;
pub const UINT8: i8 = 3;
pub const INT16: i8 = 7;
pub const INT8: i8 = 9;

pub const DEQUANTIZE: i32 = 6;
pub const FULLY_CONNECTED: i32 = 9;
pub const RESHAPE: i32 = 22;
pub const SOFTMAX: i32 = 25;
pub const QUANTIZE: i32 = 114;

#[derive(Clone, Debug)]
pub struct QSpec {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub qdim: i32,
}

pub fn q(scale: &[f32], zero_point: &[i64]) -> Option<QSpec> {
    Some(QSpec { scale: scale.to_vec(), zero_point: zero_point.to_vec(), qdim: 0 })
}

#[derive(Clone, Debug)]
pub struct TSpec {
    pub name: String,
    pub shape: Vec<i32>,
    pub dtype: i8,
    pub buffer: u32,
    pub quant: Option<QSpec>,
}

pub fn t(name: &str, shape: &[i32], dtype: i8, buffer: u32, quant: Option<QSpec>) -> TSpec {
    TSpec { name: name.into(), shape: shape.to_vec(), dtype, buffer, quant }
}

#[derive(Clone, Debug)]
pub enum OptSpec {
    None,
    Fc { activation: i8 },
    Softmax { beta: f32 },
    Reshape { new_shape: Vec<i32> },
}

#[derive(Clone, Debug)]
pub struct OpSpec {
    pub opcode_index: u32,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub options: OptSpec,
}

pub fn op(opcode_index: u32, inputs: &[i32], outputs: &[i32], options: OptSpec) -> OpSpec {
    OpSpec { opcode_index, inputs: inputs.to_vec(), outputs: outputs.to_vec(), options }
}

#[derive(Clone, Debug)]
pub struct Spec {
    /// Builtin operator codes (index = opcode_index).
    pub codes: Vec<i32>,
    pub tensors: Vec<TSpec>,
    pub ops: Vec<OpSpec>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    /// Buffer contents; buffer 0 should be the empty sentinel.
    pub buffers: Vec<Vec<u8>>,
    pub subgraphs: usize,
}

pub fn le_i8(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&x| x as u8).collect()
}

pub fn le_i32(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn le_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

type Fbb<'a> = FlatBufferBuilder<'a>;
type TableOff = WIPOffset<TableFinishedWIPOffset>;

fn build_quant(fbb: &mut Fbb, q: &QSpec) -> TableOff {
    let scale = fbb.create_vector(&q.scale);
    let zp = fbb.create_vector(&q.zero_point);
    let s = fbb.start_table();
    fbb.push_slot_always(vt(2), scale);
    fbb.push_slot_always(vt(3), zp);
    fbb.push_slot(vt(6), q.qdim, 0);
    fbb.end_table(s)
}

fn build_tensor(fbb: &mut Fbb, t: &TSpec) -> TableOff {
    let shape = fbb.create_vector(&t.shape);
    let name = fbb.create_string(&t.name);
    let quant = t.quant.as_ref().map(|q| build_quant(fbb, q));
    let s = fbb.start_table();
    fbb.push_slot_always(vt(0), shape);
    // Written always, as the converter does, so tests can patch them in place.
    fbb.push_slot_always(vt(1), t.dtype);
    fbb.push_slot_always(vt(2), t.buffer);
    fbb.push_slot_always(vt(3), name);
    if let Some(q) = quant {
        fbb.push_slot_always(vt(4), q);
    }
    fbb.end_table(s)
}

fn build_options(fbb: &mut Fbb, o: &OptSpec) -> Option<(u8, TableOff)> {
    Some(match o {
        OptSpec::None => return None,
        OptSpec::Fc { activation } => {
            let s = fbb.start_table();
            fbb.push_slot_always(vt(0), *activation);
            (8, fbb.end_table(s))
        }
        OptSpec::Softmax { beta } => {
            let s = fbb.start_table();
            fbb.push_slot_always(vt(0), *beta);
            (9, fbb.end_table(s))
        }
        OptSpec::Reshape { new_shape } => {
            let v = fbb.create_vector(new_shape);
            let s = fbb.start_table();
            fbb.push_slot_always(vt(0), v);
            (17, fbb.end_table(s))
        }
    })
}

fn build_op(fbb: &mut Fbb, op: &OpSpec) -> TableOff {
    let inputs = fbb.create_vector(&op.inputs);
    let outputs = fbb.create_vector(&op.outputs);
    let options = build_options(fbb, &op.options);
    let s = fbb.start_table();
    fbb.push_slot_always(vt(0), op.opcode_index);
    fbb.push_slot_always(vt(1), inputs);
    fbb.push_slot_always(vt(2), outputs);
    if let Some((kind, table)) = options {
        fbb.push_slot_always(vt(3), kind);
        fbb.push_slot_always(vt(4), table);
    }
    fbb.end_table(s)
}

fn build_code(fbb: &mut Fbb, builtin: i32) -> TableOff {
    let s = fbb.start_table();
    fbb.push_slot_always(vt(0), builtin.min(127) as i8);
    fbb.push_slot_always(vt(2), 1i32);
    fbb.push_slot_always(vt(3), builtin);
    fbb.end_table(s)
}

fn build_buffer(fbb: &mut Fbb, data: &[u8]) -> TableOff {
    let data = (!data.is_empty()).then(|| fbb.create_vector(data));
    let s = fbb.start_table();
    if let Some(data) = data {
        fbb.push_slot_always(vt(0), data);
    }
    fbb.end_table(s)
}

fn build_subgraph(fbb: &mut Fbb, spec: &Spec) -> TableOff {
    let tensors: Vec<_> = spec.tensors.iter().map(|t| build_tensor(fbb, t)).collect();
    let tensors = fbb.create_vector(&tensors);
    let ops: Vec<_> = spec.ops.iter().map(|o| build_op(fbb, o)).collect();
    let ops = fbb.create_vector(&ops);
    let inputs = fbb.create_vector(&spec.inputs);
    let outputs = fbb.create_vector(&spec.outputs);
    let s = fbb.start_table();
    fbb.push_slot_always(vt(0), tensors);
    fbb.push_slot_always(vt(1), inputs);
    fbb.push_slot_always(vt(2), outputs);
    fbb.push_slot_always(vt(3), ops);
    fbb.end_table(s)
}

/// Serialize a spec into `.tflite` bytes.
pub fn build(spec: &Spec) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::new();
    let buffers: Vec<_> = spec.buffers.iter().map(|b| build_buffer(&mut fbb, b)).collect();
    let buffers = fbb.create_vector(&buffers);
    let subgraphs: Vec<_> = (0..spec.subgraphs).map(|_| build_subgraph(&mut fbb, spec)).collect();
    let subgraphs = fbb.create_vector(&subgraphs);
    let codes: Vec<_> = spec.codes.iter().map(|&c| build_code(&mut fbb, c)).collect();
    let codes = fbb.create_vector(&codes);
    let s = fbb.start_table();
    fbb.push_slot_always(vt(0), 3u32);
    fbb.push_slot_always(vt(1), codes);
    fbb.push_slot_always(vt(2), subgraphs);
    fbb.push_slot_always(vt(4), buffers);
    let root = fbb.end_table(s);
    fbb.finish(root, Some("TFL3"));
    fbb.finished_data().to_vec()
}

const W: [i8; 12] = [1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -127];

/// uint8 [1,4] → QUANTIZE → int8 → FULLY_CONNECTED (per-channel int8
/// weights, RELU) → int8 [1,3] → SOFTMAX → int8 → QUANTIZE → uint8 [1,3]:
/// the primary model's structure in miniature.
pub fn chain_uint8io() -> Spec {
    Spec {
        codes: vec![QUANTIZE, FULLY_CONNECTED, SOFTMAX],
        tensors: vec![
            t("pixels", &[1, 4], UINT8, 0, q(&[0.5], &[128])),
            t("weights", &[3, 4], INT8, 1, q(&[0.01, 0.02, 0.03], &[0, 0, 0])),
            t("bias", &[3], INT32, 2, q(&[0.005, 0.01, 0.015], &[0, 0, 0])),
            t("x_int8", &[1, 4], INT8, 0, q(&[0.5], &[0])),
            t("fc", &[1, 3], INT8, 0, q(&[0.25], &[5])),
            t("probs_int8", &[1, 3], INT8, 0, q(&[1.0 / 256.0], &[-128])),
            t("probs", &[1, 3], UINT8, 0, q(&[1.0 / 256.0], &[0])),
        ],
        ops: vec![
            op(0, &[0], &[3], OptSpec::None),
            op(1, &[3, 1, 2], &[4], OptSpec::Fc { activation: 1 }),
            op(2, &[4], &[5], OptSpec::Softmax { beta: 1.0 }),
            op(0, &[5], &[6], OptSpec::None),
        ],
        inputs: vec![0],
        outputs: vec![6],
        buffers: vec![vec![], le_i8(&W), le_i32(&[100, -200, 300])],
        subgraphs: 1,
    }
}

/// Legacy all-uint8: FULLY_CONNECTED with asymmetric uint8 weights, then a
/// uint8 SOFTMAX.
pub fn legacy_uint8() -> Spec {
    Spec {
        codes: vec![FULLY_CONNECTED, SOFTMAX],
        tensors: vec![
            t("in", &[1, 4], UINT8, 0, q(&[0.02], &[0])),
            t("w", &[2, 4], UINT8, 1, q(&[0.003], &[122])),
            t("b", &[2], INT32, 2, q(&[0.00006], &[0])),
            t("fc", &[1, 2], UINT8, 0, q(&[0.2], &[101])),
            t("probs", &[1, 2], UINT8, 0, q(&[1.0 / 256.0], &[0])),
        ],
        ops: vec![op(0, &[0, 1, 2], &[3], OptSpec::Fc { activation: 0 }), op(1, &[3], &[4], OptSpec::Softmax { beta: 1.0 })],
        inputs: vec![0],
        outputs: vec![4],
        buffers: vec![vec![], vec![0, 255, 122, 7, 200, 13, 90, 122], le_i32(&[1000, -1000])],
        subgraphs: 1,
    }
}

/// float32: RESHAPE [1,2,2] → [1,4], FULLY_CONNECTED, SOFTMAX.
pub fn float_chain() -> Spec {
    Spec {
        codes: vec![RESHAPE, FULLY_CONNECTED, SOFTMAX],
        tensors: vec![
            t("img", &[1, 2, 2], FLOAT32, 0, None),
            t("flat", &[1, 4], FLOAT32, 0, None),
            t("w", &[3, 4], FLOAT32, 1, None),
            t("b", &[3], FLOAT32, 2, None),
            t("fc", &[1, 3], FLOAT32, 0, None),
            t("probs", &[1, 3], FLOAT32, 0, None),
        ],
        ops: vec![
            op(0, &[0], &[1], OptSpec::Reshape { new_shape: vec![1, 4] }),
            op(1, &[1, 2, 3], &[4], OptSpec::Fc { activation: 3 }),
            op(2, &[4], &[5], OptSpec::Softmax { beta: 1.0 }),
        ],
        inputs: vec![0],
        outputs: vec![5],
        buffers: vec![vec![], le_f32(&[0.5, -1.0, 2.0, 0.25, 1.0, 1.0, -1.0, 0.0, 3.0, -0.5, 0.1, 0.2]), le_f32(&[0.1, -0.2, 0.3])],
        subgraphs: 1,
    }
}

/// int8 [1,4] → DEQUANTIZE → float32 [1,4] → QUANTIZE → int16 [1,4].
pub fn dequant_requant() -> Spec {
    Spec {
        codes: vec![DEQUANTIZE, QUANTIZE],
        tensors: vec![
            t("q", &[1, 4], INT8, 0, q(&[0.1], &[-3])),
            t("r", &[1, 4], FLOAT32, 0, None),
            t("q16", &[1, 4], INT16, 0, q(&[0.001], &[0])),
        ],
        ops: vec![op(0, &[0], &[1], OptSpec::None), op(1, &[1], &[2], OptSpec::None)],
        inputs: vec![0],
        outputs: vec![2],
        buffers: vec![vec![]],
        subgraphs: 1,
    }
}

/// Every small model, by name.
pub fn small_models() -> Vec<(&'static str, Spec)> {
    vec![
        ("chain_uint8io", chain_uint8io()),
        ("legacy_uint8", legacy_uint8()),
        ("float_chain", float_chain()),
        ("dequant_requant", dequant_requant()),
    ]
}

// ---------------------------------------------------------------------------
// Locator: byte offsets of fields in a finished FlatBuffer
// ---------------------------------------------------------------------------

/// A read-only walker over an (unverified, but here: valid) FlatBuffer that
/// answers "at which byte offset does this field live?".
pub struct Locator<'a>(pub &'a [u8]);

/// Schema field ids used by the tests.
pub mod field {
    pub mod model {
        pub const OPERATOR_CODES: u16 = 1;
        pub const SUBGRAPHS: u16 = 2;
        pub const BUFFERS: u16 = 4;
    }
    pub mod subgraph {
        pub const TENSORS: u16 = 0;
        pub const INPUTS: u16 = 1;
        pub const OUTPUTS: u16 = 2;
        pub const OPERATORS: u16 = 3;
    }
    pub mod tensor {
        pub const SHAPE: u16 = 0;
        pub const TYPE: u16 = 1;
        pub const BUFFER: u16 = 2;
        pub const QUANTIZATION: u16 = 4;
    }
    pub mod quant {
        pub const SCALE: u16 = 2;
        pub const ZERO_POINT: u16 = 3;
        pub const QUANTIZED_DIMENSION: u16 = 6;
    }
    pub mod operator {
        pub const OPCODE_INDEX: u16 = 0;
        pub const INPUTS: u16 = 1;
        pub const OUTPUTS: u16 = 2;
        pub const BUILTIN_OPTIONS: u16 = 4;
    }
    pub mod buffer {
        pub const DATA: u16 = 0;
    }
}

impl<'a> Locator<'a> {
    pub fn u16_at(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.0[at..at + 2].try_into().unwrap())
    }
    pub fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.0[at..at + 4].try_into().unwrap())
    }
    pub fn i32_at(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.0[at..at + 4].try_into().unwrap())
    }

    /// The root table's position.
    pub fn root(&self) -> usize {
        self.u32_at(0) as usize
    }

    /// Position of field `id` of the table at `table`, if present.
    pub fn field(&self, table: usize, id: u16) -> Option<usize> {
        let vtable = (table as i64 - self.i32_at(table) as i64) as usize;
        let vt_len = self.u16_at(vtable);
        let slot = vt(id);
        if slot + 2 > vt_len {
            return None;
        }
        match self.u16_at(vtable + slot as usize) {
            0 => None,
            off => Some(table + off as usize),
        }
    }

    /// Follow the offset stored in field `id` (a table, vector or string).
    pub fn follow(&self, table: usize, id: u16) -> Option<usize> {
        let at = self.field(table, id)?;
        Some(at + self.u32_at(at) as usize)
    }

    /// Length of the vector at `vector`.
    pub fn len(&self, vector: usize) -> usize {
        self.u32_at(vector) as usize
    }

    /// Position of element `i` of a vector of `size`-byte scalars.
    pub fn elem(&self, vector: usize, i: usize, size: usize) -> usize {
        assert!(i < self.len(vector), "element {i} of a {}-vector", self.len(vector));
        vector + 4 + i * size
    }

    /// The table that element `i` of a vector of tables points at.
    pub fn table_elem(&self, vector: usize, i: usize) -> usize {
        let at = self.elem(vector, i, 4);
        at + self.u32_at(at) as usize
    }

    pub fn subgraph(&self, i: usize) -> usize {
        let v = self.follow(self.root(), field::model::SUBGRAPHS).unwrap();
        self.table_elem(v, i)
    }

    pub fn tensor(&self, k: usize) -> usize {
        let v = self.follow(self.subgraph(0), field::subgraph::TENSORS).unwrap();
        self.table_elem(v, k)
    }

    pub fn operator(&self, k: usize) -> usize {
        let v = self.follow(self.subgraph(0), field::subgraph::OPERATORS).unwrap();
        self.table_elem(v, k)
    }

    pub fn buffer(&self, k: usize) -> usize {
        let v = self.follow(self.root(), field::model::BUFFERS).unwrap();
        self.table_elem(v, k)
    }

    /// The quantization table of tensor `k`.
    pub fn quantization(&self, k: usize) -> usize {
        self.follow(self.tensor(k), field::tensor::QUANTIZATION).expect("tensor has quantization")
    }

    /// Byte ranges of every buffer's data (the bulk of a real model).
    pub fn data_ranges(&self) -> Vec<std::ops::Range<usize>> {
        let v = self.follow(self.root(), field::model::BUFFERS).unwrap();
        (0..self.len(v))
            .filter_map(|k| {
                let data = self.follow(self.table_elem(v, k), field::buffer::DATA)?;
                Some(data + 4..data + 4 + self.len(data))
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// float: golden archives and ULP distances (tests/goldens_float.rs)
// ---------------------------------------------------------------------------

/// `data/goldens/{stem}`: a model's held-out inputs (`input.npy`) and one
/// archive per runtime that ran it (`{runtime}.npz`).
pub fn golden_dir(stem: &str) -> PathBuf {
    root().join("data/goldens").join(stem)
}

/// Distance between two f32 in units in the last place: how many
/// representable floats lie between them (0 for equal bits, and for +0 vs −0).
pub fn ulp_distance(a: f32, b: f32) -> u64 {
    // Map the sign-magnitude bit patterns onto one ordered integer line.
    let ordered = |x: f32| {
        let bits = x.to_bits() as i64;
        if bits & 0x8000_0000 != 0 {
            -(bits & 0x7fff_ffff)
        } else {
            bits
        }
    };
    ordered(a).abs_diff(ordered(b))
}

// ---------------------------------------------------------------------------
// float16: distances in ULPs from an optimized runtime's float goldens
// (tests/goldens_float.rs, tests/goldens_float16.rs)
// ---------------------------------------------------------------------------

/// Largest ULP distance between two equally shaped float stacks, and the
/// largest absolute difference relative to the largest |golden| value.
pub fn max_ulps(ours: &quantlens::io::Stacked, golden: &quantlens::io::Stacked) -> (u64, f64) {
    let (a, b) = (ours.to_f64_vec(), golden.to_f64_vec());
    let ulps = a.iter().zip(&b).map(|(&x, &y)| ulp_distance(x as f32, y as f32)).max().unwrap_or(0);
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    (ulps, if scale > 0.0 { diff / scale } else { diff })
}

/// One float32 op-produced tensor measured against an optimized runtime.
#[derive(Clone, Debug)]
pub struct UlpRow {
    pub tensor: usize,
    pub op: usize,
    pub kind: String,
    /// The op alone, fed that runtime's own inputs (its goldens): only its own arithmetic counts.
    pub alone: u64,
    /// The whole model run by quantlens: earlier ops' differences are inherited.
    pub end_to_end: u64,
    /// The op alone's largest |difference| over the tensor's largest |value|.
    pub relative: f64,
}

/// Every float32 op-produced tensor of `plan` in the archive `npz`, measured
/// in ULPs ([`UlpRow`]); the inputs are the first samples of `inputs`, as many
/// as the archive holds. Integer tensors must be equal: each one that is not
/// is returned as a message. Constants folded at prepare time that the
/// archive leaves out (DEQUANTIZE of float16 weights) are skipped, and an op
/// reading one is fed the prepared constant.
pub fn ulp_rows(plan: &quantlens::Plan, inputs: &quantlens::io::Stacked, npz: &mut quantlens::io::Npz) -> (Vec<UlpRow>, Vec<String>) {
    use quantlens::io::Stacked;
    use quantlens::tensor::Value;
    let names = npz.names().unwrap();
    let has = |t: usize| names.iter().any(|n| n == &format!("t{t}") || n == &format!("t{t}.npy"));
    let traces = plan.run_batch(&inputs.samples()).unwrap();
    let n = inputs.len();
    let (mut rows, mut integer_failures) = (Vec::new(), Vec::new());
    for step in &plan.steps {
        let t = step.kernel.output();
        if matches!(step.kernel, quantlens::plan::Kernel::Folded(_)) && !has(t) {
            continue;
        }
        let golden = npz.get(&format!("t{t}")).unwrap();
        let kind = plan.model.operators[step.op].kind.name();
        let ours: Vec<Value> = traces.iter().map(|tr| tr.value(t).unwrap().clone()).collect();
        let ours = Stacked::from_values(&ours.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(ours.shape, golden.shape, "t{t}");
        if let (Some(a), Some(b)) = (ours.to_i64_vec(), golden.to_i64_vec()) {
            if a != b {
                integer_failures.push(format!("integer tensor t{t} ({kind}) differs"));
            }
            continue;
        }
        let (end_to_end, _) = max_ulps(&ours, &golden);
        let feeds: Vec<(usize, Option<Stacked>)> = step
            .kernel
            .inputs()
            .into_iter()
            .map(|i| (i, if i == plan.input() { Some(inputs.clone()) } else if has(i) { Some(npz.get(&format!("t{i}")).unwrap()) } else { None }))
            .collect();
        let alone: Vec<Value> = (0..n)
            .map(|k| {
                let mut values = vec![None; plan.model.tensors.len()];
                for (i, s) in &feeds {
                    values[*i] = match s {
                        Some(s) => Some(s.sample(k)),
                        None => Value::from_constant(&plan.model.tensors[*i]),
                    };
                }
                step.kernel.eval(&values).unwrap()
            })
            .collect();
        let (alone, relative) = max_ulps(&Stacked::from_values(&alone.iter().collect::<Vec<_>>()).unwrap(), &golden);
        rows.push(UlpRow { tensor: t, op: step.op, kind, alone, end_to_end, relative });
    }
    (rows, integer_failures)
}

/// Bit-exact against one runtime's goldens `npz` on the samples `inputs`:
/// every op-produced tensor of the traced run ([`quantlens::verify::verify`];
/// floats by their bits), then the model's output through the outputs-only
/// paths (batched on 1 and 2 threads, and a reused workspace). One message per
/// difference, each starting with `label`.
pub fn exact_against_goldens(label: &str, plan: &quantlens::Plan, inputs: &quantlens::io::Stacked, npz: &mut quantlens::io::Npz) -> Vec<String> {
    let traces = plan.run_batch(&inputs.samples()).unwrap();
    let report = quantlens::verify::verify(plan, &traces, npz).unwrap();
    let mut failures = Vec::new();
    for t in &report.tensors {
        println!("{label}: t{} ({}, op {}): {} of {} differ", t.tensor, t.op_kind, t.op, t.differing, t.elements);
        if t.differing != 0 {
            failures.push(format!("{label}: t{} ({}) {} of {} differ, max |diff| {}", t.tensor, t.op_kind, t.differing, t.elements, t.max_abs_diff));
        }
    }
    let golden_out = npz.get(&format!("t{}", plan.output())).unwrap();
    for threads in [1, 2] {
        let out = plan.run_batch_outputs_threads(inputs, threads).unwrap();
        if out.shape != golden_out.shape || out.data != golden_out.data {
            failures.push(format!("{label}: outputs-only path on {threads} thread(s) differs"));
        }
    }
    let mut ws = plan.workspace();
    for i in 0..inputs.len() {
        let y = ws.run(plan, &inputs.sample(i)).unwrap();
        if y.data != golden_out.sample(i).data {
            failures.push(format!("{label}: workspace run of sample {i} differs"));
        }
    }
    failures
}

/// The committed model `stem` prepared for `profile`.
pub fn open_plan(stem: &str, profile: quantlens::Profile) -> quantlens::Plan {
    quantlens::Plan::new(quantlens::Model::from_path(model(stem)).unwrap(), profile).unwrap()
}

/// The golden inputs of `stem` (`input.npy`), asserted to be `images` samples.
pub fn golden_inputs(stem: &str, images: usize) -> quantlens::io::Stacked {
    let inputs = quantlens::io::read_samples(golden_dir(stem).join("input.npy")).unwrap();
    assert_eq!(inputs.len(), images, "{stem}: expected {images} golden images");
    inputs
}

// batch (issue 16): helpers shared by the outputs-only suites

/// The elements' bits (f32 by bits, so NaN and −0.0 count), for an exact comparison.
pub fn bits(d: &quantlens::tensor::Data) -> Vec<u64> {
    use quantlens::tensor::Data;
    match d {
        Data::F32(v) => v.iter().map(|x| x.to_bits() as u64).collect(),
        Data::I32(v) => v.iter().map(|&x| x as u32 as u64).collect(),
        Data::I64(v) => v.iter().map(|&x| x as u64).collect(),
        Data::I16(v) => v.iter().map(|&x| x as u16 as u64).collect(),
        Data::I8(v) => v.iter().map(|&x| x as u8 as u64).collect(),
        Data::U8(v) => v.iter().map(|&x| x as u64).collect(),
        Data::Bool(v) => v.iter().map(|&x| x as u64).collect(),
    }
}

/// The stems of every committed model (`data/models/*.tflite`), sorted.
pub fn model_stems() -> Vec<String> {
    let mut stems: Vec<String> = std::fs::read_dir(root().join("data/models"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str().and_then(|n| n.strip_suffix(".tflite")).map(str::to_owned))
        .collect();
    stems.sort();
    stems
}
