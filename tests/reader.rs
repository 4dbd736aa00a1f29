//! Tests of the `.tflite` reader: small models built here with
//! `flatbuffers::FlatBufferBuilder`, read back into `Model`, then broken in
//! every way the reader must notice.

mod common;

use common::XorShift;
use flatbuffers::{FlatBufferBuilder, TableFinishedWIPOffset, WIPOffset};
use quantlens::model::{Activation, OpKind, Operator, Options, Quantization, Tensor};
use quantlens::{DType, Model, ModelError};

// ---------------------------------------------------------------------------
// A tiny test-only TFLite writer
// ---------------------------------------------------------------------------

/// Schema field id → vtable slot.
const fn vt(id: u16) -> u16 {
    4 + 2 * id
}

#[derive(Clone, Debug)]
struct QSpec {
    scale: Vec<f32>,
    zero_point: Option<Vec<i64>>,
    qdim: i32,
    min: Vec<f32>,
    max: Vec<f32>,
    /// `QuantizationDetails` discriminant (an empty table is written).
    details: u8,
}

fn q(scale: &[f32], zero_point: &[i64]) -> QSpec {
    QSpec {
        scale: scale.to_vec(),
        zero_point: Some(zero_point.to_vec()),
        qdim: 0,
        min: vec![],
        max: vec![],
        details: 0,
    }
}

#[derive(Clone, Debug)]
struct TSpec {
    name: String,
    shape: Vec<i32>,
    shape_signature: Option<Vec<i32>>,
    dtype: i8,
    buffer: u32,
    quant: Option<QSpec>,
    /// Write an (empty) `sparsity` table.
    sparse: bool,
    external_buffer: u32,
}

fn t(name: &str, shape: &[i32], dtype: i8, buffer: u32, quant: Option<QSpec>) -> TSpec {
    TSpec {
        name: name.into(),
        shape: shape.to_vec(),
        shape_signature: None,
        dtype,
        buffer,
        quant,
        sparse: false,
        external_buffer: 0,
    }
}

#[derive(Clone, Debug)]
enum OptSpec {
    None,
    Fc {
        activation: i8,
        keep_num_dims: bool,
    },
    Softmax {
        beta: f32,
    },
    Add {
        activation: i8,
    },
    Reshape {
        new_shape: Vec<i32>,
    },
    Conv2d {
        padding: i8,
        stride: i32,
        activation: i8,
    },
    /// An empty table under some union discriminant.
    Empty(u8),
}

#[derive(Clone, Debug)]
struct OpSpec {
    opcode_index: u32,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    options: OptSpec,
}

#[derive(Clone, Debug)]
struct CodeSpec {
    deprecated: i8,
    builtin: i32,
    custom: Option<String>,
    version: i32,
}

fn code(builtin: i32, version: i32) -> CodeSpec {
    let deprecated = builtin.min(127) as i8;
    CodeSpec {
        deprecated,
        builtin,
        custom: None,
        version,
    }
}

#[derive(Clone, Debug, Default)]
struct BufSpec {
    data: Vec<u8>,
    /// `Some((offset, size))` writes the large-model fields (always, even 0).
    external: Option<(u64, u64)>,
}

fn buf(data: Vec<u8>) -> BufSpec {
    BufSpec {
        data,
        external: None,
    }
}

#[derive(Clone, Debug)]
struct Spec {
    codes: Vec<CodeSpec>,
    tensors: Vec<TSpec>,
    ops: Vec<OpSpec>,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    buffers: Vec<BufSpec>,
    subgraphs: usize,
    description: Option<String>,
}

const FLOAT32: i8 = 0;
const FLOAT16: i8 = 1;
const INT32: i8 = 2;
const UINT8: i8 = 3;
const INT8: i8 = 9;

const FULLY_CONNECTED: i32 = 9;

const W: [i8; 12] = [1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -127];
const B: [i32; 3] = [100, -200, 300];

fn le_i8(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&x| x as u8).collect()
}

fn le_i32(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// One FULLY_CONNECTED op: int8 input [1,4] → int8 output [1,3], with int8
/// weights [3,4] quantized per channel and an int32 bias [3].
fn fc_spec() -> Spec {
    Spec {
        codes: vec![code(FULLY_CONNECTED, 9)],
        tensors: vec![
            t("input", &[1, 4], INT8, 0, Some(q(&[0.5], &[-3]))),
            t(
                "weights",
                &[3, 4],
                INT8,
                1,
                Some(q(&[0.01, 0.02, 0.03], &[0, 0, 0])),
            ),
            t(
                "bias",
                &[3],
                INT32,
                2,
                Some(q(&[0.005, 0.01, 0.015], &[0, 0, 0])),
            ),
            t("output", &[1, 3], INT8, 0, Some(q(&[0.25], &[5]))),
        ],
        ops: vec![OpSpec {
            opcode_index: 0,
            inputs: vec![0, 1, 2],
            outputs: vec![3],
            options: OptSpec::Fc {
                activation: 1,
                keep_num_dims: false,
            },
        }],
        inputs: vec![0],
        outputs: vec![3],
        buffers: vec![BufSpec::default(), buf(le_i8(&W)), buf(le_i32(&B))],
        subgraphs: 1,
        description: Some("quantlens test".into()),
    }
}

type Fbb<'a> = FlatBufferBuilder<'a>;
type TableOff = WIPOffset<TableFinishedWIPOffset>;

fn build_quant(fbb: &mut Fbb, q: &QSpec) -> TableOff {
    let min = fbb.create_vector(&q.min);
    let max = fbb.create_vector(&q.max);
    let scale = fbb.create_vector(&q.scale);
    let zp = q.zero_point.as_ref().map(|z| fbb.create_vector(z));
    let details = (q.details != 0).then(|| {
        let s = fbb.start_table();
        fbb.end_table(s)
    });
    let s = fbb.start_table();
    fbb.push_slot_always(vt(0), min);
    fbb.push_slot_always(vt(1), max);
    fbb.push_slot_always(vt(2), scale);
    if let Some(zp) = zp {
        fbb.push_slot_always(vt(3), zp);
    }
    if let Some(details) = details {
        fbb.push_slot_always(vt(4), q.details);
        fbb.push_slot_always(vt(5), details);
    }
    fbb.push_slot(vt(6), q.qdim, 0);
    fbb.end_table(s)
}

fn build_tensor(fbb: &mut Fbb, t: &TSpec) -> TableOff {
    let shape = fbb.create_vector(&t.shape);
    let name = fbb.create_string(&t.name);
    let quant = t.quant.as_ref().map(|q| build_quant(fbb, q));
    let sig = t.shape_signature.as_ref().map(|s| fbb.create_vector(s));
    let sparsity = t.sparse.then(|| {
        let s = fbb.start_table();
        fbb.end_table(s)
    });
    let s = fbb.start_table();
    fbb.push_slot_always(vt(0), shape);
    fbb.push_slot(vt(1), t.dtype, 0);
    fbb.push_slot(vt(2), t.buffer, 0);
    fbb.push_slot_always(vt(3), name);
    if let Some(q) = quant {
        fbb.push_slot_always(vt(4), q);
    }
    if let Some(sparsity) = sparsity {
        fbb.push_slot_always(vt(6), sparsity);
    }
    if let Some(sig) = sig {
        fbb.push_slot_always(vt(7), sig);
    }
    fbb.push_slot(vt(10), t.external_buffer, 0);
    fbb.end_table(s)
}

/// The options table and its union discriminant.
fn build_options(fbb: &mut Fbb, o: &OptSpec) -> Option<(u8, TableOff)> {
    let (kind, table) = match o {
        OptSpec::None => return None,
        OptSpec::Fc {
            activation,
            keep_num_dims,
        } => {
            let s = fbb.start_table();
            fbb.push_slot(vt(0), *activation, 0);
            fbb.push_slot(vt(2), *keep_num_dims, false);
            (8, fbb.end_table(s))
        }
        OptSpec::Softmax { beta } => {
            let s = fbb.start_table();
            fbb.push_slot_always(vt(0), *beta);
            (9, fbb.end_table(s))
        }
        OptSpec::Add { activation } => {
            let s = fbb.start_table();
            fbb.push_slot(vt(0), *activation, 0);
            (11, fbb.end_table(s))
        }
        OptSpec::Reshape { new_shape } => {
            let v = fbb.create_vector(new_shape);
            let s = fbb.start_table();
            fbb.push_slot_always(vt(0), v);
            (17, fbb.end_table(s))
        }
        OptSpec::Conv2d {
            padding,
            stride,
            activation,
        } => {
            let s = fbb.start_table();
            fbb.push_slot(vt(0), *padding, 0);
            fbb.push_slot(vt(1), *stride, 0);
            fbb.push_slot(vt(2), *stride, 0);
            fbb.push_slot(vt(3), *activation, 0);
            (1, fbb.end_table(s))
        }
        OptSpec::Empty(kind) => {
            let s = fbb.start_table();
            (*kind, fbb.end_table(s))
        }
    };
    Some((kind, table))
}

fn build_op(fbb: &mut Fbb, op: &OpSpec) -> TableOff {
    let inputs = fbb.create_vector(&op.inputs);
    let outputs = fbb.create_vector(&op.outputs);
    let options = build_options(fbb, &op.options);
    let s = fbb.start_table();
    fbb.push_slot(vt(0), op.opcode_index, 0);
    fbb.push_slot_always(vt(1), inputs);
    fbb.push_slot_always(vt(2), outputs);
    if let Some((kind, table)) = options {
        fbb.push_slot(vt(3), kind, 0);
        fbb.push_slot_always(vt(4), table);
    }
    fbb.end_table(s)
}

fn build_code(fbb: &mut Fbb, c: &CodeSpec) -> TableOff {
    let custom = c.custom.as_ref().map(|n| fbb.create_string(n));
    let s = fbb.start_table();
    fbb.push_slot(vt(0), c.deprecated, 0);
    if let Some(custom) = custom {
        fbb.push_slot_always(vt(1), custom);
    }
    fbb.push_slot(vt(2), c.version, 1);
    fbb.push_slot(vt(3), c.builtin, 0);
    fbb.end_table(s)
}

fn build_buffer(fbb: &mut Fbb, b: &BufSpec) -> TableOff {
    let data = (!b.data.is_empty()).then(|| fbb.create_vector(&b.data));
    let s = fbb.start_table();
    if let Some(data) = data {
        fbb.push_slot_always(vt(0), data);
    }
    if let Some((offset, size)) = b.external {
        fbb.push_slot_always(vt(1), offset);
        fbb.push_slot_always(vt(2), size);
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
    let name = fbb.create_string("main");
    let s = fbb.start_table();
    fbb.push_slot_always(vt(0), tensors);
    fbb.push_slot_always(vt(1), inputs);
    fbb.push_slot_always(vt(2), outputs);
    fbb.push_slot_always(vt(3), ops);
    fbb.push_slot_always(vt(4), name);
    fbb.end_table(s)
}

/// Serialize a spec into `.tflite` bytes.
fn build(spec: &Spec) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::new();
    let buffers: Vec<_> = spec
        .buffers
        .iter()
        .map(|b| build_buffer(&mut fbb, b))
        .collect();
    let buffers = fbb.create_vector(&buffers);
    let subgraphs: Vec<_> = (0..spec.subgraphs)
        .map(|_| build_subgraph(&mut fbb, spec))
        .collect();
    let subgraphs = fbb.create_vector(&subgraphs);
    let codes: Vec<_> = spec.codes.iter().map(|c| build_code(&mut fbb, c)).collect();
    let codes = fbb.create_vector(&codes);
    let description = spec.description.as_ref().map(|d| fbb.create_string(d));
    let s = fbb.start_table();
    fbb.push_slot(vt(0), 3u32, 0);
    fbb.push_slot_always(vt(1), codes);
    fbb.push_slot_always(vt(2), subgraphs);
    if let Some(d) = description {
        fbb.push_slot_always(vt(3), d);
    }
    fbb.push_slot_always(vt(4), buffers);
    let root = fbb.end_table(s);
    fbb.finish(root, Some("TFL3"));
    fbb.finished_data().to_vec()
}

fn read(spec: &Spec) -> Result<Model, ModelError> {
    Model::from_bytes(&build(spec))
}

/// Read a spec that must fail; return the error and its message.
fn read_err(spec: &Spec) -> (ModelError, String) {
    let err = read(spec).expect_err("the reader accepted a broken model");
    let msg = err.to_string();
    (err, msg)
}

// ---------------------------------------------------------------------------
// Round trip
// ---------------------------------------------------------------------------

fn quant(scale: &[f32], zero_point: &[i64]) -> Option<Quantization> {
    Some(Quantization {
        scale: scale.to_vec(),
        zero_point: zero_point.to_vec(),
        quantized_dimension: 0,
        min: vec![],
        max: vec![],
    })
}

#[test]
fn fc_model_round_trip() {
    let model = read(&fc_spec()).unwrap();
    let expected = Model {
        version: 3,
        description: Some("quantlens test".into()),
        tensors: vec![
            Tensor {
                index: 0,
                name: "input".into(),
                dtype: DType::I8,
                shape: vec![1, 4],
                quant: quant(&[0.5], &[-3]),
                data: None,
                sparsity: None,
                external_buffer: None,
                quant_details: None,
            },
            Tensor {
                index: 1,
                name: "weights".into(),
                dtype: DType::I8,
                shape: vec![3, 4],
                quant: quant(&[0.01, 0.02, 0.03], &[0, 0, 0]),
                data: Some(le_i8(&W)),
                sparsity: None,
                external_buffer: None,
                quant_details: None,
            },
            Tensor {
                index: 2,
                name: "bias".into(),
                dtype: DType::I32,
                shape: vec![3],
                quant: quant(&[0.005, 0.01, 0.015], &[0, 0, 0]),
                data: Some(le_i32(&B)),
                sparsity: None,
                external_buffer: None,
                quant_details: None,
            },
            Tensor {
                index: 3,
                name: "output".into(),
                dtype: DType::I8,
                shape: vec![1, 3],
                quant: quant(&[0.25], &[5]),
                data: None,
                sparsity: None,
                external_buffer: None,
                quant_details: None,
            },
        ],
        operators: vec![Operator {
            index: 0,
            kind: OpKind::FullyConnected,
            version: 9,
            inputs: vec![Some(0), Some(1), Some(2)],
            outputs: vec![3],
            options: Options::FullyConnected {
                activation: Activation::Relu,
                weights_format: 0,
                keep_num_dims: false,
                asymmetric_quantize_inputs: false,
            },
        }],
        inputs: vec![0],
        outputs: vec![3],
        subgraphs: vec![],
        signatures: vec![],
        metadata: vec![],
    };
    assert_eq!(model, expected);
    assert!(model.tensor(1).quant.as_ref().unwrap().is_per_channel());
    assert_eq!(model.tensor(3).per_tensor_quant(), Some((0.25, 5)));
    assert_eq!(model.producer(3).map(|op| op.index), Some(0));
}

#[test]
fn optional_input_minus_one_is_none() {
    let mut spec = fc_spec();
    spec.ops[0].inputs = vec![0, 1, -1];
    let model = read(&spec).unwrap();
    assert_eq!(model.operators[0].inputs, vec![Some(0), Some(1), None]);
    assert_eq!(model.operators[0].input(2), None);
}

#[test]
fn opcode_uses_max_of_deprecated_and_extended_code() {
    let mut spec = fc_spec();
    // An old file: only the one-byte code is set.
    spec.codes[0] = CodeSpec {
        deprecated: 9,
        builtin: 0,
        custom: None,
        version: 1,
    };
    assert_eq!(
        read(&spec).unwrap().operators[0].kind,
        OpKind::FullyConnected
    );
    // A code beyond the byte: the byte holds PLACEHOLDER_FOR_GREATER_OP_CODES.
    spec.codes[0] = CodeSpec {
        deprecated: 127,
        builtin: 150,
        custom: None,
        version: 2,
    };
    let model = read(&spec).unwrap();
    assert_eq!(model.operators[0].kind, OpKind::Gelu); // 150 = GELU (vit)
    assert_eq!(model.operators[0].version, 2);
}

#[test]
fn custom_opcode_keeps_its_name() {
    let mut spec = fc_spec();
    spec.codes[0] = CodeSpec {
        deprecated: 32,
        builtin: 32,
        custom: Some("MyOp".into()),
        version: 1,
    };
    spec.ops[0].options = OptSpec::None;
    let model = read(&spec).unwrap();
    assert_eq!(model.operators[0].kind, OpKind::Custom("MyOp".into()));
    assert_eq!(model.operators[0].options, Options::None);
}

#[test]
fn options_are_mapped_by_union_type() {
    let mut spec = fc_spec();
    let cases = [
        (
            OptSpec::Softmax { beta: 1.5 },
            Options::Softmax { beta: 1.5 },
        ),
        (
            OptSpec::Add { activation: 3 },
            // pot_scale_int16 is not written: the schema's default, true
            Options::AddSub {
                activation: Activation::Relu6,
                pot_scale_int16: true,
            },
        ),
        (
            OptSpec::Reshape {
                new_shape: vec![1, -1],
            },
            Options::Reshape {
                new_shape: Some(vec![1, -1]),
            },
        ),
        (
            OptSpec::Conv2d {
                padding: 1,
                stride: 2,
                activation: 0,
            },
            Options::Conv2d {
                padding: quantlens::model::Padding::Valid,
                stride_w: 2,
                stride_h: 2,
                dilation_w: 1,
                dilation_h: 1,
                activation: Activation::None,
            },
        ),
        // SoftmaxOptions written empty: the schema default beta 0.0.
        (OptSpec::Empty(9), Options::Softmax { beta: 0.0 }),
        // A union member quantlens does not read (GatherOptions = 23).
        // vit: 23 is GatherOptions, read now (an empty table gives the defaults).
        (OptSpec::Empty(23), Options::Gather { axis: 0, batch_dims: 0 }),
        // A discriminant beyond the schema's union: still just a table.
        (OptSpec::Empty(250), Options::None),
        (OptSpec::None, Options::None),
    ];
    for (written, expected) in cases {
        spec.ops[0].options = written.clone();
        let model = read(&spec).unwrap_or_else(|e| panic!("{written:?}: {e}"));
        assert_eq!(model.operators[0].options, expected, "{written:?}");
    }
}

#[test]
fn min_max_without_scale_is_not_quantized() {
    let mut spec = fc_spec();
    spec.tensors[0].quant = Some(QSpec {
        scale: vec![],
        zero_point: None,
        qdim: 0,
        min: vec![-1.0],
        max: vec![1.0],
        details: 0,
    });
    assert_eq!(read(&spec).unwrap().tensor(0).quant, None);
}

#[test]
fn min_max_are_kept_next_to_scale() {
    let mut spec = fc_spec();
    let qs = spec.tensors[0].quant.as_mut().unwrap();
    qs.min = vec![-64.0];
    qs.max = vec![63.5];
    let q = read(&spec).unwrap().tensor(0).quant.clone().unwrap();
    assert_eq!((q.min, q.max), (vec![-64.0], vec![63.5]));
}

#[test]
fn scalar_with_one_scale_is_fine() {
    let mut spec = fc_spec();
    spec.tensors
        .push(t("scalar", &[], UINT8, 0, Some(q(&[0.1], &[128]))));
    let model = read(&spec).unwrap();
    assert_eq!(model.tensor(4).shape, Vec::<usize>::new());
    assert_eq!(model.tensor(4).per_tensor_quant(), Some((0.1, 128)));
}

#[test]
fn per_channel_along_last_axis() {
    let mut spec = fc_spec();
    let qs = spec.tensors[1].quant.as_mut().unwrap();
    qs.scale = vec![0.1, 0.2, 0.3, 0.4];
    qs.zero_point = Some(vec![0; 4]);
    qs.qdim = 1;
    let q = read(&spec).unwrap().tensor(1).quant.clone().unwrap();
    assert_eq!(q.quantized_dimension, 1);
    assert_eq!(q.scale.len(), 4);
}

#[test]
fn shape_signature_minus_one_is_ignored() {
    let mut spec = fc_spec();
    spec.tensors[0].shape_signature = Some(vec![-1, 4]);
    assert_eq!(read(&spec).unwrap().tensor(0).shape, vec![1, 4]);
}

#[test]
fn empty_non_sentinel_buffer_means_no_data() {
    let mut spec = fc_spec();
    spec.buffers.push(BufSpec::default());
    spec.tensors[3].buffer = 3;
    assert_eq!(read(&spec).unwrap().tensor(3).data, None);
}

#[test]
fn float_tensor_without_quantization() {
    let mut spec = fc_spec();
    spec.tensors.push(t("f", &[2, 2], FLOAT32, 3, None));
    let floats: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    spec.buffers.push(buf(floats.clone()));
    let model = read(&spec).unwrap();
    assert_eq!(model.tensor(4).dtype, DType::F32);
    assert_eq!(model.tensor(4).data.as_deref(), Some(&floats[..]));
}

/// Large-model layout: `Buffer.offset > 1` points at bytes after the
/// FlatBuffer, counted from the start of the file.
#[test]
fn data_at_file_offset() {
    let mut spec = fc_spec();
    spec.buffers[1] = BufSpec {
        data: vec![],
        external: Some((u64::MAX, 12)),
    };
    // The u64 slot is always written, so the FlatBuffer's length does not
    // depend on the value: build once to learn it, then again for real.
    let len = build(&spec).len() as u64;
    spec.buffers[1].external = Some((len, 12));
    let mut bytes = build(&spec);
    assert_eq!(bytes.len() as u64, len);
    bytes.extend_from_slice(&le_i8(&W));
    let model = Model::from_bytes(&bytes).unwrap();
    assert_eq!(model.tensor(1).data, Some(le_i8(&W)));

    // The same file without the trailing data: the offset points outside.
    let err = Model::from_bytes(&bytes[..len as usize]).unwrap_err();
    assert!(matches!(err, ModelError::Malformed(_)), "{err:?}");
    assert!(err.to_string().contains("weights"), "{err}");
}

// ---------------------------------------------------------------------------
// Not a model at all
// ---------------------------------------------------------------------------

#[test]
fn empty_file() {
    assert_eq!(Model::from_bytes(&[]).unwrap_err(), ModelError::Empty);
}

#[test]
fn seven_bytes() {
    let err = Model::from_bytes(&build(&fc_spec())[..7]).unwrap_err();
    assert_eq!(err, ModelError::TooShort { len: 7 });
    assert!(err.to_string().contains("7 bytes"));
}

#[test]
fn png_header_is_wrong_identifier() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    let err = Model::from_bytes(png).unwrap_err();
    assert!(matches!(err, ModelError::WrongIdentifier { .. }), "{err:?}");
    // Bytes 4..8 of a PNG, escaped.
    assert!(err.to_string().contains(r#""\r\n\u{1a}\n""#), "{err}");
}

#[test]
fn random_bytes_are_wrong_identifier() {
    let mut rng = XorShift(0x1234_5678);
    let bytes: Vec<u8> = (0..64).map(|_| rng.next() as u8).collect();
    let err = Model::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, ModelError::WrongIdentifier { .. }), "{err:?}");
}

#[test]
fn right_identifier_garbage_body_is_malformed() {
    let mut bytes = vec![0xffu8; 64];
    bytes[4..8].copy_from_slice(b"TFL3");
    let err = Model::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, ModelError::Malformed(_)), "{err:?}");
    assert!(!err.to_string().contains('\n'), "{err}");
}

// ---------------------------------------------------------------------------
// Damaged files: never a panic
// ---------------------------------------------------------------------------

#[test]
fn truncation_is_an_error_never_a_panic() {
    let bytes = build(&fc_spec());
    let mut cuts: Vec<usize> = (0..bytes.len()).step_by(7).collect();
    cuts.push(bytes.len() - 1);
    for cut in cuts {
        assert!(
            Model::from_bytes(&bytes[..cut]).is_err(),
            "truncated at {cut} of {}",
            bytes.len()
        );
    }
}

#[test]
fn bit_flips_never_panic() {
    let clean = build(&fc_spec());
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..4000 {
        let mut bytes = clean.clone();
        let flips = 1 + rng.next() % 3;
        for _ in 0..flips {
            let bit = (rng.next() % (bytes.len() as u64 * 8)) as usize;
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
        match Model::from_bytes(&bytes) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    // Both outcomes must occur, or the flips are not exercising anything.
    assert!(ok > 0 && err > 0, "ok {ok}, err {err}");
}

/// Many tensors sharing one table (a DAG, legal for FlatBuffers) would make
/// the verifier walk it again and again; its limits must stop that.
#[test]
fn shared_table_blowup_is_stopped_by_the_verifier() {
    let mut fbb = FlatBufferBuilder::new();
    let shape = fbb.create_vector(&vec![1i32; 10_000]);
    let s = fbb.start_table();
    fbb.push_slot_always(vt(0), shape);
    let tensor = fbb.end_table(s);
    let tensors = fbb.create_vector(&vec![tensor; 20_000]);
    let s = fbb.start_table();
    fbb.push_slot_always(vt(0), tensors);
    let subgraph = fbb.end_table(s);
    let subgraphs = fbb.create_vector(&[subgraph]);
    let s = fbb.start_table();
    fbb.push_slot_always(vt(2), subgraphs);
    let root = fbb.end_table(s);
    fbb.finish(root, Some("TFL3"));
    let err = Model::from_bytes(fbb.finished_data()).unwrap_err();
    assert!(matches!(err, ModelError::Malformed(_)), "{err:?}");
}

/// Tensors all pointing at one buffer would make the reader copy it again
/// and again; the copy budget must stop that.
#[test]
fn shared_buffer_copy_is_bounded() {
    let mut spec = fc_spec();
    spec.buffers.push(buf(vec![7u8; 1000]));
    for i in 0..2000 {
        spec.tensors
            .push(t(&format!("c{i}"), &[1000], UINT8, 3, None));
    }
    let err = read(&spec).unwrap_err();
    assert!(matches!(err, ModelError::Malformed(_)), "{err:?}");
    assert!(err.to_string().contains("tensor"), "{err}");
}

// ---------------------------------------------------------------------------
// Inconsistent models: each error names the place
// ---------------------------------------------------------------------------

#[test]
fn buffer_shorter_than_shape() {
    let mut spec = fc_spec();
    spec.buffers[1].data.truncate(11);
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(
            err,
            ModelError::BufferSizeMismatch {
                tensor: 1,
                expected: 12,
                actual: 11,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(msg.contains("tensor 1 (weights)"), "{msg}");
}

#[test]
fn buffer_longer_than_shape() {
    let mut spec = fc_spec();
    spec.buffers[2].data.extend_from_slice(&[0; 4]);
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(
            err,
            ModelError::BufferSizeMismatch {
                tensor: 2,
                expected: 12,
                actual: 16,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(msg.contains("bias"), "{msg}");
}

#[test]
fn tensor_buffer_index_out_of_range() {
    let mut spec = fc_spec();
    spec.tensors[2].buffer = 9;
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(
            err,
            ModelError::IndexOutOfRange {
                index: 9,
                count: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(msg.contains("tensor 2 (bias) buffer"), "{msg}");
}

#[test]
fn op_input_tensor_out_of_range() {
    let mut spec = fc_spec();
    spec.ops[0].inputs[1] = 4;
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(
            err,
            ModelError::IndexOutOfRange {
                index: 4,
                count: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        msg.contains("operator 0 (FULLY_CONNECTED) input 1"),
        "{msg}"
    );
}

#[test]
fn op_input_negative_other_than_minus_one() {
    let mut spec = fc_spec();
    spec.ops[0].inputs[0] = -2;
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(err, ModelError::IndexOutOfRange { index: -2, .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("operator 0 (FULLY_CONNECTED) input 0"),
        "{msg}"
    );
}

#[test]
fn op_output_minus_one_is_not_allowed() {
    let mut spec = fc_spec();
    spec.ops[0].outputs[0] = -1;
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(err, ModelError::IndexOutOfRange { index: -1, .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("operator 0 (FULLY_CONNECTED) output 0"),
        "{msg}"
    );
}

#[test]
fn opcode_index_out_of_range() {
    let mut spec = fc_spec();
    spec.ops[0].opcode_index = 1;
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(
            err,
            ModelError::IndexOutOfRange {
                index: 1,
                count: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(msg.contains("operator 0 opcode_index"), "{msg}");
}

#[test]
fn graph_input_and_output_out_of_range() {
    let mut spec = fc_spec();
    spec.inputs = vec![0, 7];
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(err, ModelError::IndexOutOfRange { index: 7, .. }),
        "{err:?}"
    );
    assert!(msg.contains("graph input 1"), "{msg}");

    let mut spec = fc_spec();
    spec.outputs = vec![-1];
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(err, ModelError::IndexOutOfRange { index: -1, .. }),
        "{err:?}"
    );
    assert!(msg.contains("graph output 0"), "{msg}");
}

#[test]
fn negative_dim() {
    let mut spec = fc_spec();
    spec.tensors[3].shape = vec![1, -3];
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(&err, ModelError::BadShape { tensor: 3, shape, .. } if shape == &[1, -3]),
        "{err:?}"
    );
    assert!(
        msg.contains("tensor 3 (output)") && msg.contains("negative"),
        "{msg}"
    );
}

#[test]
fn two_to_the_31_elements() {
    let mut spec = fc_spec();
    spec.tensors[3].shape = vec![1 << 16, 1 << 15];
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(err, ModelError::BadShape { tensor: 3, .. }),
        "{err:?}"
    );
    assert!(msg.contains("output"), "{msg}");
}

#[test]
fn element_count_overflow() {
    let mut spec = fc_spec();
    spec.tensors[0].shape = vec![i32::MAX; 8];
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(err, ModelError::BadShape { tensor: 0, .. }),
        "{err:?}"
    );
    assert!(msg.contains("input"), "{msg}");
}

fn bad_quant(spec: &Spec, tensor: usize, name: &str, words: &str) {
    let (err, msg) = read_err(spec);
    assert!(
        matches!(&err, ModelError::BadQuantization { tensor: t, .. } if *t == tensor),
        "{err:?}"
    );
    assert!(msg.contains(&format!("tensor {tensor} ({name})")), "{msg}");
    assert!(msg.contains(words), "{msg} should mention {words:?}");
}

#[test]
fn scale_zero_negative_nan_inf() {
    for (s, words) in [
        (0.0, "scale[1] is 0"),
        (-0.5, "scale[1] is -0.5"),
        (f32::NAN, "NaN"),
        (f32::INFINITY, "inf"),
    ] {
        let mut spec = fc_spec();
        spec.tensors[1].quant.as_mut().unwrap().scale[1] = s;
        bad_quant(&spec, 1, "weights", words);
    }
}

#[test]
fn zero_point_out_of_range() {
    let mut spec = fc_spec();
    spec.tensors[0].quant = Some(q(&[0.5], &[128]));
    bad_quant(&spec, 0, "input", "zero_point[0] is 128");

    let mut spec = fc_spec();
    spec.tensors
        .push(t("u8", &[2], UINT8, 0, Some(q(&[0.5], &[-1]))));
    bad_quant(&spec, 4, "u8", "UINT8");

    let mut spec = fc_spec();
    spec.tensors[2].quant.as_mut().unwrap().zero_point = Some(vec![0, 1 << 40, 0]);
    bad_quant(&spec, 2, "bias", "INT32");
}

#[test]
fn per_channel_scale_count_mismatch() {
    let mut spec = fc_spec();
    let qs = spec.tensors[1].quant.as_mut().unwrap();
    qs.scale = vec![0.1, 0.2];
    qs.zero_point = Some(vec![0, 0]);
    bad_quant(&spec, 1, "weights", "dimension 0 has size 3");
}

#[test]
fn scale_and_zero_point_counts_differ() {
    let mut spec = fc_spec();
    spec.tensors[1].quant.as_mut().unwrap().zero_point = Some(vec![0]);
    bad_quant(&spec, 1, "weights", "3 scales but 1 zero points");

    // TFLite rejects a missing zero_point instead of assuming 0.
    let mut spec = fc_spec();
    spec.tensors[0].quant.as_mut().unwrap().zero_point = None;
    bad_quant(&spec, 0, "input", "1 scales but 0 zero points");
}

#[test]
fn quantized_dimension_outside_rank() {
    let mut spec = fc_spec();
    spec.tensors[1].quant.as_mut().unwrap().qdim = 2;
    bad_quant(&spec, 1, "weights", "quantized_dimension 2");

    let mut spec = fc_spec();
    spec.tensors[1].quant.as_mut().unwrap().qdim = -1;
    bad_quant(&spec, 1, "weights", "quantized_dimension -1");
}

/// Every subgraph is read (control flow keeps its bodies in subgraphs 1, 2, …);
/// quantlens runs subgraph 0.
#[test]
fn two_subgraphs_are_read() {
    let mut spec = fc_spec();
    spec.subgraphs = 2;
    let model = read(&spec).unwrap();
    assert_eq!(model.subgraphs.len(), 1);
    assert_eq!(model.subgraphs[0].index, 1);
    assert_eq!(model.subgraphs[0].tensors, model.tensors);
    assert_eq!(model.subgraphs[0].operators, model.operators);
    quantlens::Plan::new(model, quantlens::Profile::TfliteRef).unwrap();
}

#[test]
fn no_subgraph() {
    let mut spec = fc_spec();
    spec.subgraphs = 0;
    assert_eq!(read_err(&spec).0, ModelError::NoSubgraph);
}

/// FLOAT16 is read; only running refuses it, naming the operator and tensor.
#[test]
fn float16_is_read_and_refused_by_the_plan() {
    let mut spec = fc_spec();
    spec.tensors[3].dtype = FLOAT16;
    let model = read(&spec).unwrap();
    assert_eq!(model.tensor(3).dtype, DType::F16);
    let err = quantlens::Plan::new(model, quantlens::Profile::TfliteRef).unwrap_err().to_string();
    assert!(err.contains("operator 0 (FULLY_CONNECTED)") && err.contains("tensor 3 (output) of dtype FLOAT16"), "{err}");
}

#[test]
fn unknown_dtype_code() {
    let mut spec = fc_spec();
    spec.tensors[0].dtype = 99;
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(err, ModelError::UnsupportedDtype { tensor: 0, .. }),
        "{err:?}"
    );
    assert!(msg.contains("input") && msg.contains("UNKNOWN"), "{msg}");
}

#[test]
fn activation_outside_enum() {
    let mut spec = fc_spec();
    spec.ops[0].options = OptSpec::Fc {
        activation: 6,
        keep_num_dims: true,
    };
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(err, ModelError::BadOperator { op: 0, .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("operator 0 (FULLY_CONNECTED)") && msg.contains("fused_activation_function 6"),
        "{msg}"
    );
}

#[test]
fn padding_outside_enum() {
    let mut spec = fc_spec();
    spec.ops[0].options = OptSpec::Conv2d {
        padding: 2,
        stride: 1,
        activation: 0,
    };
    let (err, msg) = read_err(&spec);
    assert!(
        matches!(err, ModelError::BadOperator { op: 0, .. }),
        "{err:?}"
    );
    assert!(msg.contains("padding 2"), "{msg}");
}

// ---------------------------------------------------------------------------
// The real models under data/models
// ---------------------------------------------------------------------------

/// Every `data/models/*.tflite` reads, has operators, the `mlp_*` ones use
/// FULLY_CONNECTED, and in quantized models every FC weight is quantized.
/// Fails (does not skip) when there are no models: they are committed.
#[test]
fn real_models_read() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/models");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tflite"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no .tflite files in {}", dir.display());
    for path in paths {
        check_real_model(&path);
    }
}

fn check_real_model(path: &std::path::Path) {
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let model = Model::from_path(path).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(!model.operators.is_empty(), "{file}: no operators");
    let fcs: Vec<&Operator> = model
        .operators
        .iter()
        .filter(|op| op.kind == OpKind::FullyConnected)
        .collect();
    if file.starts_with("mlp_") {
        assert!(!fcs.is_empty(), "{file}: no FULLY_CONNECTED");
    }
    let quantized = model
        .tensors
        .iter()
        .any(|t| t.quant.is_some() && t.dtype != DType::F32);
    if quantized {
        // Dynamic range keeps small layers float (float input and weights).
        let float = |t: Option<usize>| t.is_some_and(|i| model.tensor(i).dtype == DType::F32);
        for op in fcs.into_iter().filter(|op| !(float(op.input(0)) && float(op.input(1)))) {
            let w = op
                .input(1)
                .unwrap_or_else(|| panic!("{file}: operator {} has no weights", op.index));
            let w = model.tensor(w);
            assert!(
                w.quant.is_some(),
                "{file}: operator {} weights {} not quantized",
                op.index,
                w.name
            );
        }
    }
}

/// Sparsity parameters that do not describe the tensor's shape (here an
/// empty table: no traversal order for a rank-2 tensor) are refused, naming
/// the tensor; valid sparse tensors are read (tests/inspect_corpus.rs).
#[test]
fn sparsity_that_does_not_fit_the_shape_is_refused() {
    let mut spec = fc_spec();
    spec.tensors[1].sparse = true;
    let (_, msg) = read_err(&spec);
    assert!(msg.contains("tensor 1 (weights)") && msg.contains("sparsity"), "{msg}");
}

/// Data in another file is read as "no data here"; running refuses the operator that reads it.
#[test]
fn external_buffer_is_read_and_refused_by_the_plan() {
    let mut spec = fc_spec();
    spec.tensors[1].external_buffer = 1;
    let model = read(&spec).unwrap();
    assert_eq!((model.tensor(1).external_buffer, model.tensor(1).data.is_none()), (Some(1), true));
    let err = quantlens::Plan::new(model, quantlens::Profile::TfliteRef).unwrap_err().to_string();
    assert!(err.contains("operator 0 (FULLY_CONNECTED)") && err.contains("external buffer 1"), "{err}");
}

/// Quantization details (here an empty BlockwiseQuantization) are read; the
/// affine parameters are then ignored, as the schema says.
#[test]
fn quantization_details_are_read() {
    let mut spec = fc_spec();
    spec.tensors[1].quant.as_mut().unwrap().details = 2;
    let model = read(&spec).unwrap();
    assert_eq!(model.tensor(1).quant, None);
    assert_eq!(
        model.tensor(1).quant_details,
        Some(quantlens::model::QuantDetails::Blockwise { scales: 0, zero_points: 0, block_size: 0 })
    );
}
