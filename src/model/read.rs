//! From verified FlatBuffer tables to the plain types of [`super`].
//!
//! [`read_model`] checks the header, runs the FlatBuffer verifier (see
//! [`super::fb`]), then reads the single subgraph and checks every fact the
//! rest of quantlens relies on: indices in range, shapes sane, constant data
//! exactly as long as the shape says, quantization parameters usable. Every
//! error names the tensor or operator it is about.
//!
//! Nothing here indexes with a value taken from the file without checking it,
//! and nothing allocates from a count in the file before the verifier has
//! proved that the counted items really are in the file.

use flatbuffers::{ForwardsUOffset, Vector};

use super::fb;
use super::{
    escape_name, Activation, DType, DimMetadata, Metadata, Model, ModelError, OpKind, Operator, Options, Padding,
    QuantDetails, Quantization, Signature, Sparsity, Subgraph, Tensor,
};

/// `BuiltinOperator.CUSTOM`: the operator is named by `custom_code`.
const BUILTIN_CUSTOM: i32 = 32;

/// Largest element count we accept: TFLite counts elements in an `int`.
const MAX_ELEMENTS: u64 = i32::MAX as u64;

/// Verify and read a `.tflite` file.
pub(crate) fn read_model(bytes: &[u8]) -> Result<Model, ModelError> {
    check_header(bytes)?;
    let root = fb::verified_root(bytes).map_err(|e| ModelError::Malformed(one_line(&e)))?;
    let list = root.subgraphs().filter(|s| !s.is_empty()).ok_or(ModelError::NoSubgraph)?;

    let mut data = DataSource::new(bytes, root.buffers());
    let opcodes = read_opcodes(&root);
    let mut graphs = Vec::with_capacity(list.len());
    for (index, subgraph) in list.iter().enumerate() {
        graphs.push(read_subgraph(index, &subgraph, &opcodes, &mut data)?);
    }
    let signatures = read_signatures(&root, &graphs)?;
    let metadata = read_metadata(&root, &data)?;
    let mut graphs = graphs.into_iter();
    let main = graphs.next().ok_or(ModelError::NoSubgraph)?;

    Ok(Model {
        version: root.version(),
        description: root.description().map(lossy),
        tensors: main.tensors,
        operators: main.operators,
        inputs: main.inputs,
        outputs: main.outputs,
        subgraphs: graphs.collect(),
        signatures,
        metadata,
    })
}

/// One subgraph: its tensors, operators and graph inputs/outputs. Errors
/// about subgraphs other than 0 say which subgraph.
fn read_subgraph(
    index: usize,
    subgraph: &fb::SubGraph<'_>,
    opcodes: &[Opcode],
    data: &mut DataSource<'_>,
) -> Result<Subgraph, ModelError> {
    let read = |data: &mut DataSource<'_>| -> Result<Subgraph, ModelError> {
        let tensors = read_tensors(subgraph, data)?;
        let operators = read_operators(subgraph, opcodes, tensors.len())?;
        let inputs = read_graph_indices(subgraph.inputs(), "graph input", tensors.len())?;
        let outputs = read_graph_indices(subgraph.outputs(), "graph output", tensors.len())?;
        let name = subgraph.name().map(lossy).unwrap_or_default();
        Ok(Subgraph { index, name, tensors, operators, inputs, outputs })
    };
    match index {
        0 => read(data),
        _ => read(data).map_err(|e| ModelError::Malformed(format!("subgraph {index}: {e}"))),
    }
}

/// `signature_defs`: every index checked against its subgraph.
fn read_signatures(root: &fb::Model<'_>, graphs: &[Subgraph]) -> Result<Vec<Signature>, ModelError> {
    let mut out = Vec::new();
    for (i, sig) in root.signature_defs().iter().flatten().enumerate() {
        let key = escape_name(&sig.signature_key().map(lossy).unwrap_or_default());
        let raw = sig.subgraph_index();
        let graph = graphs.get(raw as usize).ok_or_else(|| ModelError::IndexOutOfRange {
            what: format!("signature {i} ({key}) subgraph_index"),
            index: raw.into(),
            count: graphs.len(),
        })?;
        let maps = |list: Option<Vector<'_, ForwardsUOffset<fb::TensorMap<'_>>>>, side: &str| {
            list.iter()
                .flatten()
                .enumerate()
                .map(|(j, m)| {
                    let t = m.tensor_index();
                    let name = m.name().map(lossy).unwrap_or_default();
                    tensor_index(i32::try_from(t).unwrap_or(-1), graph.tensors.len(), || {
                        format!("signature {i} ({key}) {side} {j} ({})", escape_name(&name))
                    })
                    .map(|t| (name, t))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        out.push(Signature {
            inputs: maps(sig.inputs(), "input")?,
            outputs: maps(sig.outputs(), "output")?,
            key: sig.signature_key().map(lossy).unwrap_or_default(),
            subgraph: graph.index,
        });
    }
    Ok(out)
}

/// `metadata`: name and the size of its buffer.
fn read_metadata(root: &fb::Model<'_>, data: &DataSource<'_>) -> Result<Vec<Metadata>, ModelError> {
    root.metadata()
        .iter()
        .flatten()
        .map(|m| {
            let name = m.name().map(lossy).unwrap_or_default();
            let at = Place { index: 0, name: format!("metadata {}", escape_name(&name)) };
            let bytes = data.buffer_bytes(&at, m.buffer())?.len();
            Ok(Metadata { name, buffer: m.buffer() as usize, bytes })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Header and structure
// ---------------------------------------------------------------------------

/// A FlatBuffer starts with a 4-byte root offset; a file with an identifier
/// has it in bytes 4..8. For TFLite that is `TFL3`.
fn check_header(bytes: &[u8]) -> Result<(), ModelError> {
    if bytes.is_empty() {
        return Err(ModelError::Empty);
    }
    let Some(ident) = bytes.get(4..8) else {
        return Err(ModelError::TooShort { len: bytes.len() });
    };
    if ident != fb::FILE_IDENTIFIER {
        // One char per byte; the error's `{:?}` escapes the unprintable ones.
        let found = ident.iter().map(|&b| char::from(b)).collect();
        return Err(ModelError::WrongIdentifier { found });
    }
    Ok(())
}

/// The verifier's message spans several lines (error, then a trace of the
/// fields it was in); fold it into one.
fn one_line(err: &flatbuffers::InvalidFlatbuffer) -> String {
    err.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Names in the file are byte strings; decode them without failing.
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A tensor index from the file, checked against the number of tensors.
fn tensor_index(
    raw: i32,
    count: usize,
    what: impl FnOnce() -> String,
) -> Result<usize, ModelError> {
    usize::try_from(raw)
        .ok()
        .filter(|&i| i < count)
        .ok_or_else(|| ModelError::IndexOutOfRange {
            what: what(),
            index: raw.into(),
            count,
        })
}

/// The subgraph's `inputs` or `outputs`: tensor indices, −1 not allowed.
fn read_graph_indices(
    list: Option<Vector<'_, i32>>,
    what: &str,
    count: usize,
) -> Result<Vec<usize>, ModelError> {
    list.iter()
        .flatten()
        .enumerate()
        .map(|(i, raw)| tensor_index(raw, count, || format!("{what} {i}")))
        .collect()
}

// ---------------------------------------------------------------------------
// Tensors
// ---------------------------------------------------------------------------

/// Read every tensor of the subgraph, in order (the index is the position).
fn read_tensors(
    subgraph: &fb::SubGraph<'_>,
    data: &mut DataSource<'_>,
) -> Result<Vec<Tensor>, ModelError> {
    subgraph
        .tensors()
        .iter()
        .flatten()
        .enumerate()
        .map(|(index, t)| read_tensor(index, &t, data))
        .collect()
}

/// The tensor's index and name (control characters escaped, so that every
/// error stays one line), carried into every error about it.
struct Place {
    index: usize,
    name: String,
}

fn read_tensor(
    index: usize,
    t: &fb::Tensor<'_>,
    data: &mut DataSource<'_>,
) -> Result<Tensor, ModelError> {
    let name = t.name().map(lossy).unwrap_or_default();
    let at = Place {
        index,
        name: escape_name(&name),
    };
    let dtype = read_dtype(&at, t.type_code())?;
    let shape = read_shape(&at, t.shape())?;
    let (quant, quant_details) = match t.quantization() {
        Some(q) if q.details_type() != 0 => (None, Some(read_details(&q))),
        q => (read_quantization(&at, dtype, &shape, q)?, None),
    };
    let external_buffer = Some(t.external_buffer()).filter(|&b| b != 0);
    let (data, sparsity) = match (t.sparsity(), external_buffer) {
        // The data is in another file: there is nothing here to read.
        (_, Some(_)) => (None, None),
        (Some(sp), None) => (None, Some(data.sparse_data(&at, t.buffer(), dtype, &shape, &sp)?)),
        (None, None) => (data.tensor_data(&at, t.buffer(), dtype, &shape)?, None),
    };
    Ok(Tensor {
        index,
        name,
        dtype,
        shape,
        quant,
        data,
        sparsity,
        external_buffer,
        quant_details,
    })
}

/// `QuantizationParameters.details`, by member.
fn read_details(q: &fb::QuantizationParameters<'_>) -> QuantDetails {
    match (q.details_type(), q.blockwise()) {
        (_, Some(b)) => QuantDetails::Blockwise {
            scales: b.scales(),
            zero_points: b.zero_points(),
            block_size: b.block_size(),
        },
        (1, _) => QuantDetails::Custom,
        (kind, _) => QuantDetails::Other { kind },
    }
}

/// `SparsityParameters`, converted and checked against the dense shape.
fn read_sparsity(at: &Place, sp: &fb::SparsityParameters<'_>) -> Result<Sparsity, ModelError> {
    let bad = |reason: String| ModelError::BadShape {
        tensor: at.index,
        name: at.name.clone(),
        shape: Vec::new(),
        reason,
    };
    let indices = |v: Option<Vector<'_, i32>>, what: &str| -> Result<Vec<usize>, ModelError> {
        v.iter()
            .flatten()
            .map(|x| usize::try_from(x).map_err(|_| bad(format!("sparsity: {what} holds {x}"))))
            .collect()
    };
    let traversal_order = indices(sp.traversal_order(), "traversal_order")?;
    let block_map = indices(sp.block_map(), "block_map")?;
    let mut dim_metadata = Vec::new();
    for (level, m) in sp.dim_metadata().iter().flatten().enumerate() {
        let widen = |v: Option<Vec<i64>>, what: &str| -> Result<Vec<usize>, ModelError> {
            v.ok_or_else(|| bad(format!("sparsity: level {level} is SPARSE_CSR without {what}")))?
                .into_iter()
                .map(|x| usize::try_from(x).map_err(|_| bad(format!("sparsity: level {level} {what} holds {x}"))))
                .collect()
        };
        dim_metadata.push(match m.format() {
            0 => DimMetadata::Dense {
                size: usize::try_from(m.dense_size())
                    .map_err(|_| bad(format!("sparsity: level {level} dense_size {}", m.dense_size())))?,
            },
            1 => DimMetadata::SparseCsr {
                segments: widen(m.array_segments(), "array_segments")?,
                indices: widen(m.array_indices(), "array_indices")?,
            },
            f => return Err(bad(format!("sparsity: level {level} format {f} is neither DENSE (0) nor SPARSE_CSR (1)"))),
        });
    }
    Ok(Sparsity { traversal_order, block_map, dim_metadata, values: Vec::new(), value_count: 0 })
}

/// `type:TensorType`: every code of the schema.
fn read_dtype(at: &Place, code: i8) -> Result<DType, ModelError> {
    DType::from_schema(code).ok_or_else(|| ModelError::UnsupportedDtype {
        tensor: at.index,
        name: at.name.clone(),
        dtype: DType::schema_name(code).to_string(),
    })
}

/// `shape:[int]`: every dimension ≥ 0 and at most [`MAX_ELEMENTS`] elements.
/// (Unknown dimensions are −1 only in `shape_signature`, which we ignore;
/// `shape` itself holds the concrete sizes.)
fn read_shape(at: &Place, raw: Option<Vector<'_, i32>>) -> Result<Vec<usize>, ModelError> {
    let dims: Vec<i32> = raw.iter().flatten().collect();
    let bad = |reason: String| ModelError::BadShape {
        tensor: at.index,
        name: at.name.clone(),
        shape: dims.iter().map(|&d| i64::from(d)).collect(),
        reason,
    };
    let mut elements: u64 = 1;
    let mut shape = Vec::with_capacity(dims.len());
    for (axis, &d) in dims.iter().enumerate() {
        let Ok(size) = u32::try_from(d) else {
            return Err(bad(format!("dimension {axis} is negative ({d})")));
        };
        elements = elements
            .checked_mul(u64::from(size))
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| bad(format!("more than {MAX_ELEMENTS} elements")))?;
        let size = usize::try_from(size).map_err(|_| bad("dimension too large".into()))?;
        shape.push(size);
    }
    Ok(shape)
}

// ---------------------------------------------------------------------------
// Quantization
// ---------------------------------------------------------------------------

/// `quantization:QuantizationParameters`, checked as TFLite's interpreter
/// does (`InterpreterBuilder::ParseQuantization`), plus value checks:
///
/// - no `scale` (or an empty one) means "not quantized", even with min/max;
/// - `zero_point` must have exactly as many entries as `scale` (TFLite
///   rejects a missing zero point rather than assuming 0);
/// - `quantized_dimension` must index the shape (for a non-scalar);
/// - the count is 1 (per-tensor) or `shape[quantized_dimension]` (per-channel);
/// - every scale is finite and > 0, every zero point fits the dtype.
fn read_quantization(
    at: &Place,
    dtype: DType,
    shape: &[usize],
    q: Option<fb::QuantizationParameters<'_>>,
) -> Result<Option<Quantization>, ModelError> {
    let Some(q) = q else { return Ok(None) };
    let scale: Vec<f32> = q.scale().iter().flatten().collect();
    if scale.is_empty() {
        return Ok(None);
    }
    let zero_point: Vec<i64> = q.zero_point().iter().flatten().collect();
    let bad = |reason: String| ModelError::BadQuantization {
        tensor: at.index,
        name: at.name.clone(),
        reason,
    };
    if zero_point.len() != scale.len() {
        return Err(bad(format!(
            "{} scales but {} zero points (they must pair up)",
            scale.len(),
            zero_point.len()
        )));
    }
    let axis = quantized_axis(q.quantized_dimension(), scale.len(), shape).map_err(bad)?;
    check_scales(&scale).map_err(bad)?;
    check_zero_points(&zero_point, dtype).map_err(bad)?;
    Ok(Some(Quantization {
        scale,
        zero_point,
        quantized_dimension: axis,
        min: q.min().iter().flatten().collect(),
        max: q.max().iter().flatten().collect(),
    }))
}

/// Check `quantized_dimension` against the shape and the number of scales.
pub(crate) fn quantized_axis(raw: i32, count: usize, shape: &[usize]) -> Result<usize, String> {
    let rank = shape.len();
    let axis = usize::try_from(raw)
        .ok()
        .filter(|&a| rank == 0 || a < rank)
        .ok_or_else(|| format!("quantized_dimension {raw} is outside the rank-{rank} shape"))?;
    if count == 1 {
        return Ok(axis);
    }
    match shape.get(axis) {
        Some(&channels) if channels == count => Ok(axis),
        Some(&channels) => Err(format!(
            "{count} scales but dimension {axis} has size {channels} (quantized_dimension {axis})"
        )),
        None => Err(format!("{count} scales on a scalar tensor")),
    }
}

pub(crate) fn check_scales(scale: &[f32]) -> Result<(), String> {
    match scale
        .iter()
        .enumerate()
        .find(|(_, s)| !(s.is_finite() && **s > 0.0))
    {
        None => Ok(()),
        Some((i, s)) => Err(format!(
            "scale[{i}] is {s}; every scale must be finite and > 0"
        )),
    }
}

/// Zero points must be representable in the tensor's integer type. Float and
/// bool tensors have no range to check.
pub(crate) fn check_zero_points(zero_point: &[i64], dtype: DType) -> Result<(), String> {
    let Some((lo, hi)) = dtype.int_range() else {
        return Ok(());
    };
    match zero_point
        .iter()
        .enumerate()
        .find(|(_, z)| !(lo..=hi).contains(*z))
    {
        None => Ok(()),
        Some((i, z)) => Err(format!(
            "zero_point[{i}] is {z}, outside {dtype}'s range [{lo}, {hi}]"
        )),
    }
}

// ---------------------------------------------------------------------------
// Constant data
// ---------------------------------------------------------------------------

/// Where constant bytes come from: `Model.buffers`, inline or (large-model
/// layout) at an absolute offset in the file; plus a budget so that a file
/// whose tensors all point at one big buffer cannot make us copy it over
/// and over.
struct DataSource<'a> {
    file: &'a [u8],
    buffers: Option<Vector<'a, ForwardsUOffset<fb::Buffer<'a>>>>,
    budget: usize,
}

impl<'a> DataSource<'a> {
    fn new(file: &'a [u8], buffers: Option<Vector<'a, ForwardsUOffset<fb::Buffer<'a>>>>) -> Self {
        // Legitimate files share buffers rarely; 4× the file (+1 MiB for tiny
        // files) is far more than any of them copies.
        let budget = file.len().saturating_mul(4).saturating_add(1 << 20);
        DataSource {
            file,
            buffers,
            budget,
        }
    }

    fn buffer_count(&self) -> usize {
        self.buffers.map_or(0, |b| b.len())
    }

    /// The constant data of a tensor, or `None` when it has none (buffer 0,
    /// the empty sentinel, or any empty buffer — TFLite treats both alike).
    fn tensor_data(
        &mut self,
        at: &Place,
        buffer: u32,
        dtype: DType,
        shape: &[usize],
    ) -> Result<Option<Vec<u8>>, ModelError> {
        if buffer == 0 {
            return Ok(None);
        }
        let bytes = self.buffer_bytes(at, buffer)?;
        if bytes.is_empty() {
            return Ok(None);
        }
        let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).unwrap_or(usize::MAX);
        let expected = match dtype {
            DType::String => {
                check_string_buffer(bytes, elements).map_err(|reason| ModelError::BadShape {
                    tensor: at.index,
                    name: at.name.clone(),
                    shape: shape.iter().map(|&d| d as i64).collect(),
                    reason,
                })?;
                bytes.len()
            }
            // Opaque: whatever the file holds.
            DType::Resource | DType::Variant => bytes.len(),
            _ => dtype.storage_bytes(elements).unwrap_or(usize::MAX),
        };
        if bytes.len() != expected {
            return Err(ModelError::BufferSizeMismatch {
                tensor: at.index,
                name: at.name.clone(),
                buffer: buffer as usize,
                shape: shape.to_vec(),
                dtype: dtype.name().to_string(),
                expected,
                actual: bytes.len(),
            });
        }
        self.spend(at, bytes.len())?;
        Ok(Some(bytes.to_vec()))
    }

    /// The stored values of a sparse tensor, with its checked parameters.
    fn sparse_data(
        &mut self,
        at: &Place,
        buffer: u32,
        dtype: DType,
        shape: &[usize],
        sp: &fb::SparsityParameters<'_>,
    ) -> Result<Sparsity, ModelError> {
        let mut sparsity = read_sparsity(at, sp)?;
        let bad = |reason: String| ModelError::BadShape {
            tensor: at.index,
            name: at.name.clone(),
            shape: shape.iter().map(|&d| d as i64).collect(),
            reason,
        };
        let count = sparsity.check(shape).map_err(bad)?;
        let bytes = if buffer == 0 { &[][..] } else { self.buffer_bytes(at, buffer)? };
        let expected = dtype
            .storage_bytes(count)
            .ok_or_else(|| bad(format!("sparsity: a sparse {dtype} tensor")))?;
        if bytes.len() != expected {
            return Err(ModelError::BufferSizeMismatch {
                tensor: at.index,
                name: at.name.clone(),
                buffer: buffer as usize,
                shape: vec![count],
                dtype: format!("{dtype} (the values of a sparse tensor)"),
                expected,
                actual: bytes.len(),
            });
        }
        self.spend(at, bytes.len())?;
        sparsity.values = bytes.to_vec();
        sparsity.value_count = count;
        Ok(sparsity)
    }

    /// The bytes of buffer `index`: `bytes[offset .. offset+size]` when
    /// `offset > 1`, otherwise the inline `data` vector.
    fn buffer_bytes(&self, at: &Place, index: u32) -> Result<&'a [u8], ModelError> {
        let count = self.buffer_count();
        let buffer = self
            .buffers
            .filter(|_| (index as usize) < count)
            .map(|b| b.get(index as usize))
            .ok_or_else(|| ModelError::IndexOutOfRange {
                what: format!("tensor {} ({}) buffer", at.index, at.name),
                index: index.into(),
                count,
            })?;
        if buffer.offset() <= 1 {
            return Ok(buffer.data());
        }
        let (offset, size) = (buffer.offset(), buffer.size());
        usize::try_from(offset)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(o, s)| self.file.get(o..o.checked_add(s)?))
            .ok_or_else(|| {
                ModelError::Malformed(format!(
                    "tensor {} ({}): buffer {index} points at bytes {offset}..{} outside the {}-byte file",
                    at.index,
                    at.name,
                    offset.saturating_add(size),
                    self.file.len()
                ))
            })
    }

    /// Charge `n` copied bytes against the budget.
    fn spend(&mut self, at: &Place, n: usize) -> Result<(), ModelError> {
        self.budget = self.budget.checked_sub(n).ok_or_else(|| {
            ModelError::Malformed(format!(
                "tensor {} ({}): tensors share constant buffers so often that reading them would copy more than 4x the file",
                at.index, at.name
            ))
        })?;
        Ok(())
    }
}

/// TFLite's string buffer: int32 count N, N + 1 int32 offsets (the first
/// right after them, non-decreasing, the last the buffer's length), then the
/// bytes. N must be the tensor's element count.
fn check_string_buffer(bytes: &[u8], elements: usize) -> Result<(), String> {
    let int = |i: usize| -> Option<usize> {
        let b = bytes.get(4 * i..4 * i + 4)?;
        usize::try_from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok()
    };
    let count = int(0).ok_or("STRING buffer shorter than its 4-byte count")?;
    if count != elements {
        return Err(format!("STRING buffer holds {count} strings but the shape has {elements} elements"));
    }
    let head = count.checked_add(2).and_then(|n| n.checked_mul(4)).ok_or("STRING count too large")?;
    let mut previous = head;
    for i in 0..=count {
        let offset = int(1 + i).ok_or_else(|| format!("STRING buffer of {} bytes is too short for {count} offsets", bytes.len()))?;
        if (i == 0 && offset != head) || offset < previous || offset > bytes.len() {
            return Err(format!("STRING offset {i} is {offset}; offsets must rise from {head} to the buffer length {}", bytes.len()));
        }
        previous = offset;
    }
    if previous != bytes.len() {
        return Err(format!("STRING offsets end at {previous} but the buffer holds {} bytes", bytes.len()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Operators
// ---------------------------------------------------------------------------

/// What an `OperatorCode` resolves to.
struct Opcode {
    kind: OpKind,
    version: i32,
}

fn read_opcodes(root: &fb::Model<'_>) -> Vec<Opcode> {
    root.operator_codes()
        .iter()
        .flatten()
        .map(|c| read_opcode(&c))
        .collect()
}

/// The builtin code is `max(deprecated_builtin_code, builtin_code)`
/// (TFLite's `GetBuiltinCode`): old files only set the one-byte field, new
/// files set both, and codes ≥ 127 exist only in the int32 field while the
/// byte holds `PLACEHOLDER_FOR_GREATER_OP_CODES` (127).
fn read_opcode(code: &fb::OperatorCode<'_>) -> Opcode {
    let builtin = code
        .builtin_code()
        .max(i32::from(code.deprecated_builtin_code()));
    let kind = if builtin == BUILTIN_CUSTOM {
        OpKind::Custom(code.custom_code().map(lossy).unwrap_or_default())
    } else {
        OpKind::from_builtin(builtin)
    };
    Opcode {
        kind,
        version: code.version(),
    }
}

fn read_operators(
    subgraph: &fb::SubGraph<'_>,
    opcodes: &[Opcode],
    n_tensors: usize,
) -> Result<Vec<Operator>, ModelError> {
    subgraph
        .operators()
        .iter()
        .flatten()
        .enumerate()
        .map(|(index, op)| read_operator(index, &op, opcodes, n_tensors))
        .collect()
}

fn read_operator(
    index: usize,
    op: &fb::Operator<'_>,
    opcodes: &[Opcode],
    n_tensors: usize,
) -> Result<Operator, ModelError> {
    let raw = op.opcode_index();
    let opcode = usize::try_from(raw)
        .ok()
        .and_then(|i| opcodes.get(i))
        .ok_or_else(|| ModelError::IndexOutOfRange {
            what: format!("operator {index} opcode_index"),
            index: raw.into(),
            count: opcodes.len(),
        })?;
    let kind = &opcode.kind;
    let inputs = op
        .inputs()
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, raw)| match raw {
            -1 => Ok(None),
            _ => tensor_index(raw, n_tensors, || {
                format!("operator {index} ({kind}) input {i}")
            })
            .map(Some),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = op
        .outputs()
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, raw)| {
            tensor_index(raw, n_tensors, || {
                format!("operator {index} ({kind}) output {i}")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = read_options(op.builtin_options()).map_err(|reason| ModelError::BadOperator {
        op: index,
        kind: kind.name(),
        reason,
    })?;
    Ok(Operator {
        index,
        kind: kind.clone(),
        version: opcode.version,
        inputs,
        outputs,
        options,
    })
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/// `fused_activation_function:ActivationFunctionType` (byte, 0..=5).
fn activation(code: i8) -> Result<Activation, String> {
    Activation::from_schema(code).ok_or_else(|| {
        format!("fused_activation_function {code} is not an ActivationFunctionType (0..=5)")
    })
}

/// `enum Padding : byte { SAME, VALID }`.
fn padding(code: i8) -> Result<Padding, String> {
    match code {
        0 => Ok(Padding::Same),
        1 => Ok(Padding::Valid),
        _ => Err(format!("padding {code} is neither SAME (0) nor VALID (1)")),
    }
}

/// Map the options table by its union type (not by the operator kind: an
/// operator with a mismatched table simply gets that table, and the engine
/// decides). Tables quantlens does not use become [`Options::None`].
fn read_options(opts: fb::BuiltinOptions<'_>) -> Result<Options, String> {
    use fb::BuiltinOptions as B;
    Ok(match opts {
        B::None | B::Other => Options::None,
        B::FullyConnected(o) => Options::FullyConnected {
            activation: activation(o.fused_activation_function())?,
            weights_format: o.weights_format(),
            keep_num_dims: o.keep_num_dims(),
            asymmetric_quantize_inputs: o.asymmetric_quantize_inputs(),
        },
        B::Softmax(o) => Options::Softmax { beta: o.beta() },
        B::Reshape(o) => Options::Reshape {
            new_shape: o.new_shape().map(|v| v.iter().collect()),
        },
        B::Conv2D(o) => Options::Conv2d {
            padding: padding(o.padding())?,
            stride_w: o.stride_w(),
            stride_h: o.stride_h(),
            dilation_w: o.dilation_w_factor(),
            dilation_h: o.dilation_h_factor(),
            activation: activation(o.fused_activation_function())?,
        },
        B::DepthwiseConv2D(o) => Options::DepthwiseConv2d {
            padding: padding(o.padding())?,
            stride_w: o.stride_w(),
            stride_h: o.stride_h(),
            depth_multiplier: o.depth_multiplier(),
            dilation_w: o.dilation_w_factor(),
            dilation_h: o.dilation_h_factor(),
            activation: activation(o.fused_activation_function())?,
        },
        B::Pool2D(o) => Options::Pool2d {
            padding: padding(o.padding())?,
            stride_w: o.stride_w(),
            stride_h: o.stride_h(),
            filter_w: o.filter_width(),
            filter_h: o.filter_height(),
            activation: activation(o.fused_activation_function())?,
        },
        B::Add(o) => Options::AddSub {
            activation: activation(o.fused_activation_function())?,
            pot_scale_int16: o.pot_scale_int16(),
        },
        B::Sub(o) => Options::AddSub {
            activation: activation(o.fused_activation_function())?,
            pot_scale_int16: o.pot_scale_int16(),
        },
        B::Mul(o) => Options::Elementwise {
            activation: activation(o.fused_activation_function())?,
        },
        B::Concatenation(o) => Options::Concatenation {
            axis: o.axis(),
            activation: activation(o.fused_activation_function())?,
        },
        B::StridedSlice(o) => Options::StridedSlice {
            begin_mask: o.begin_mask(),
            end_mask: o.end_mask(),
            ellipsis_mask: o.ellipsis_mask(),
            new_axis_mask: o.new_axis_mask(),
            shrink_axis_mask: o.shrink_axis_mask(),
            offset: o.offset(),
        },
        B::Pack(o) => Options::Pack {
            values_count: o.values_count(),
            axis: o.axis(),
        },
        B::Reducer(o) => Options::Reducer {
            keep_dims: o.keep_dims(),
        },
        B::LeakyRelu(o) => Options::LeakyRelu { alpha: o.alpha() },
        B::Shape(o) => Options::Shape {
            out_type: o.out_type(),
        },
        // --- vit ---
        B::Gather(o) => Options::Gather { axis: o.axis(), batch_dims: o.batch_dims() },
        B::BatchMatMul(o) => Options::BatchMatmul {
            adj_x: o.adj_x(),
            adj_y: o.adj_y(),
            asymmetric_quantize_inputs: o.asymmetric_quantize_inputs(),
        },
        B::Gelu(o) => Options::Gelu { approximate: o.approximate() },
        // vision (issue 14)
        B::ResizeBilinear(o) => Options::Resize { align_corners: o.align_corners(), half_pixel_centers: o.half_pixel_centers() },
        B::ResizeNearestNeighbor(o) => Options::Resize { align_corners: o.align_corners(), half_pixel_centers: o.half_pixel_centers() },
        B::SpaceToDepth(o) => Options::BlockSize { block_size: o.block_size() },
        B::DepthToSpace(o) => Options::BlockSize { block_size: o.block_size() },
        B::TransposeConv(o) => Options::TransposeConv {
            padding: padding(o.padding())?,
            stride_w: o.stride_w(),
            stride_h: o.stride_h(),
            activation: activation(o.fused_activation_function())?,
        },
        B::MirrorPad(o) => Options::MirrorPad { mode: o.mode() },
        B::Div(o) => Options::Elementwise {
            activation: activation(o.fused_activation_function())?,
        },
    })
}
