//! Errors as types: each failure says what is wrong and where.

use thiserror::Error;

/// A `.tflite` file could not be read into a [`crate::model::Model`].
///
/// Every variant names the thing that is wrong (the tensor, operator, buffer
/// or field) so that a user with a half-broken export knows where to look.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ModelError {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },

    #[error("file is empty")]
    Empty,

    #[error("file is too short to be a TFLite model ({len} bytes)")]
    TooShort { len: usize },

    #[error("not a TFLite model: file identifier is {found:?}, expected \"TFL3\"")]
    WrongIdentifier { found: String },

    #[error("malformed FlatBuffer: {0}")]
    Malformed(String),

    #[error("model has no subgraph")]
    NoSubgraph,

    #[error("model has {count} subgraphs; quantlens runs single-subgraph models only")]
    MultipleSubgraphs { count: usize },

    #[error("{what}: index {index} is out of range (there are {count})")]
    IndexOutOfRange { what: String, index: i64, count: usize },

    #[error("tensor {tensor} ({}): unsupported dtype {dtype}", one_line(name))]
    UnsupportedDtype { tensor: usize, name: String, dtype: String },

    #[error("tensor {tensor} ({}): bad shape {shape:?}: {reason}", one_line(name))]
    BadShape { tensor: usize, name: String, shape: Vec<i64>, reason: String },

    #[error("tensor {tensor} ({}): buffer {buffer} holds {actual} bytes but shape {shape:?} of {dtype} needs {expected}", one_line(name))]
    BufferSizeMismatch {
        tensor: usize,
        name: String,
        buffer: usize,
        shape: Vec<usize>,
        dtype: String,
        expected: usize,
        actual: usize,
    },

    #[error("tensor {tensor} ({}): bad quantization: {reason}", one_line(name))]
    BadQuantization { tensor: usize, name: String, reason: String },

    #[error("operator {op} ({kind}): {reason}")]
    BadOperator { op: usize, kind: String, reason: String },

    /// The file is well-formed but uses a schema feature whose data quantlens
    /// would misread (sparse tensors, external buffers, blockwise
    /// quantization details).
    #[error("{what}: uses {feature}, which quantlens does not read")]
    UnsupportedFeature { what: String, feature: String },
}

/// A model could not be prepared or run.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EngineError {
    #[error("operator {op} ({kind}): quantlens has no kernel for this operator")]
    UnsupportedOp { op: usize, kind: String },

    #[error("operator {op} ({kind}): unsupported {what}")]
    Unsupported { op: usize, kind: String, what: String },

    #[error("operator {op} ({kind}): {reason}")]
    BadOperator { op: usize, kind: String, reason: String },

    #[error("operator {op} ({kind}) reads tensor {tensor}, which no earlier operator produced and which is not a constant or graph input")]
    NotYetProduced { op: usize, kind: String, tensor: usize },

    #[error("input: {0}")]
    BadInput(String),

    /// The graph as a whole is inconsistent (no output, an output nobody
    /// computes, a tensor written twice, …).
    #[error("model: {0}")]
    BadGraph(String),

    /// Running the model would need more memory than the plan's limit
    /// ([`crate::plan::Limits`]); nothing has been allocated yet.
    #[error("model needs about {needed} bytes to prepare and run one sample ({detail}), above the limit of {limit} bytes")]
    TooLarge { needed: u64, limit: u64, detail: String },

    #[error("unknown profile {0:?} (expected one of: tflite-ref, tflite-builtin, tflite-xnnpack, tflm)")]
    UnknownProfile(String),

    /// The model handed to [`crate::Plan::new`] breaks a fact the reader
    /// guarantees (see [`crate::Model::validate`]): it was edited in code.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Any quantlens error.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{path}: {message}")]
    Npy { path: String, message: String },
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

/// A name from the file as an error shows it: on one line, control characters
/// escaped (a damaged file can put newlines or NULs into a tensor name).
fn one_line(name: &str) -> String {
    name.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}
