//! What a `.tflite` file says, in plain Rust types.
//!
//! A TensorFlow Lite model is a [FlatBuffer](https://flatbuffers.dev) whose
//! schema (`schema.fbs` in TensorFlow) describes a graph: *tensors* (typed,
//! shaped arrays, some holding constant data from a *buffer*, some carrying
//! *quantization parameters*) and *operators* that read some tensors and
//! write others, in execution order.
//!
//! [`Model::from_bytes`] verifies the FlatBuffer, reads it and checks that it
//! is self-consistent (every index in range, every constant buffer as long as
//! its tensor's shape says, every scale positive and finite, every zero point
//! representable in its dtype). After that, nothing downstream needs to worry
//! about a malformed file: this module knows nothing about arithmetic, it only
//! states what the file says.
//!
//! The quantization parameters are where the question "where is S3?" is
//! answered: every quantized tensor carries its own `scale` and `zero_point`,
//! so the S3 of a layer is simply the scale of the tensor the layer writes.

mod fb;
mod read;

use std::fmt;
use std::path::Path;

pub use crate::error::ModelError;

/// The element type of a tensor (`TensorType` in the schema).
///
/// Only the types quantlens can hold in memory are listed; a file whose
/// tensor has another type is rejected by the reader with
/// [`ModelError::UnsupportedDtype`], naming the tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    I32,
    U8,
    I64,
    Bool,
    I16,
    I8,
}

impl DType {
    /// The schema's `TensorType` code, or `None` for types quantlens does not hold.
    pub fn from_schema(code: i8) -> Option<DType> {
        Some(match code {
            0 => DType::F32,
            2 => DType::I32,
            3 => DType::U8,
            4 => DType::I64,
            6 => DType::Bool,
            7 => DType::I16,
            9 => DType::I8,
            _ => return None,
        })
    }

    /// Name of a schema `TensorType` code, also for codes quantlens does not hold.
    pub fn schema_name(code: i8) -> &'static str {
        match code {
            0 => "FLOAT32",
            1 => "FLOAT16",
            2 => "INT32",
            3 => "UINT8",
            4 => "INT64",
            5 => "STRING",
            6 => "BOOL",
            7 => "INT16",
            8 => "COMPLEX64",
            9 => "INT8",
            10 => "FLOAT64",
            11 => "COMPLEX128",
            12 => "UINT64",
            13 => "RESOURCE",
            14 => "VARIANT",
            15 => "UINT32",
            16 => "UINT16",
            17 => "INT4",
            18 => "BFLOAT16",
            19 => "INT2",
            20 => "UINT4",
            21 => "FLOAT8_E4M3FN",
            22 => "FLOAT8_E5M2",
            _ => "UNKNOWN",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::U8 | DType::I8 | DType::Bool => 1,
            DType::I16 => 2,
            DType::F32 | DType::I32 => 4,
            DType::I64 => 8,
        }
    }

    /// The range of an integer dtype as `(min, max)`, `None` for float/bool.
    pub fn int_range(self) -> Option<(i64, i64)> {
        Some(match self {
            DType::U8 => (0, 255),
            DType::I8 => (-128, 127),
            DType::I16 => (-32768, 32767),
            DType::I32 => (i32::MIN as i64, i32::MAX as i64),
            DType::I64 => (i64::MIN, i64::MAX),
            DType::F32 | DType::Bool => return None,
        })
    }

    /// The name TFLite uses (`INT8`, `UINT8`, `FLOAT32`, …).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "FLOAT32",
            DType::I32 => "INT32",
            DType::U8 => "UINT8",
            DType::I64 => "INT64",
            DType::Bool => "BOOL",
            DType::I16 => "INT16",
            DType::I8 => "INT8",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Affine quantization of a tensor: real value `r = scale · (q − zero_point)`.
///
/// Per-tensor quantization has one scale and one zero point. Per-channel
/// (per-axis) quantization, used by the converter for weights, has one pair
/// per index of dimension `quantized_dimension`.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantization {
    /// S: one per tensor, or one per channel along `quantized_dimension`.
    pub scale: Vec<f32>,
    /// Z: same count as `scale` (the schema stores them as int64).
    pub zero_point: Vec<i64>,
    /// The axis the per-channel parameters run along (0 for FC weights).
    pub quantized_dimension: usize,
    /// Calibration range the converter recorded, if any (informational).
    pub min: Vec<f32>,
    /// Calibration range the converter recorded, if any (informational).
    pub max: Vec<f32>,
}

impl Quantization {
    /// True when there is one (scale, zero point) per channel.
    pub fn is_per_channel(&self) -> bool {
        self.scale.len() > 1
    }
}

/// One tensor of the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Index in the subgraph's tensor list (the `k` of `t<k>.npy`).
    pub index: usize,
    pub name: String,
    pub dtype: DType,
    /// Shape as stored (for activations usually with a leading batch of 1).
    pub shape: Vec<usize>,
    /// Quantization parameters; `None` for float and plain integer tensors.
    pub quant: Option<Quantization>,
    /// Constant contents (little-endian bytes) for weights, biases and shape
    /// tensors; `None` for activations.
    pub data: Option<Vec<u8>>,
}

impl Tensor {
    /// Number of elements (product of the shape; 1 for a scalar).
    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the tensor holds constant data from the file.
    pub fn is_constant(&self) -> bool {
        self.data.is_some()
    }

    /// The single (scale, zero point) of a per-tensor quantized tensor.
    pub fn per_tensor_quant(&self) -> Option<(f32, i64)> {
        match &self.quant {
            Some(q) if q.scale.len() == 1 => Some((q.scale[0], q.zero_point[0])),
            _ => None,
        }
    }
}

/// The builtin operators quantlens knows by name.
///
/// Every other builtin code is kept as [`OpKind::Other`] so that the error
/// "unsupported op" can name it; custom ops are [`OpKind::Custom`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    Add,
    AveragePool2d,
    Concatenation,
    Conv2d,
    DepthwiseConv2d,
    Dequantize,
    FullyConnected,
    Logistic,
    MaxPool2d,
    Mul,
    Relu,
    ReluN1To1,
    Relu6,
    Reshape,
    Softmax,
    Tanh,
    Pad,
    Mean,
    Sub,
    StridedSlice,
    Shape,
    Pack,
    LeakyRelu,
    Quantize,
    HardSwish,
    /// A builtin operator quantlens does not name; holds the schema code.
    Other(i32),
    /// A custom operator, with its `custom_code`.
    Custom(String),
}

impl OpKind {
    /// From a schema `BuiltinOperator` code.
    pub fn from_builtin(code: i32) -> OpKind {
        match code {
            0 => OpKind::Add,
            1 => OpKind::AveragePool2d,
            2 => OpKind::Concatenation,
            3 => OpKind::Conv2d,
            4 => OpKind::DepthwiseConv2d,
            6 => OpKind::Dequantize,
            9 => OpKind::FullyConnected,
            14 => OpKind::Logistic,
            17 => OpKind::MaxPool2d,
            18 => OpKind::Mul,
            19 => OpKind::Relu,
            20 => OpKind::ReluN1To1,
            21 => OpKind::Relu6,
            22 => OpKind::Reshape,
            25 => OpKind::Softmax,
            28 => OpKind::Tanh,
            34 => OpKind::Pad,
            40 => OpKind::Mean,
            41 => OpKind::Sub,
            45 => OpKind::StridedSlice,
            77 => OpKind::Shape,
            83 => OpKind::Pack,
            98 => OpKind::LeakyRelu,
            114 => OpKind::Quantize,
            117 => OpKind::HardSwish,
            other => OpKind::Other(other),
        }
    }

    /// The TFLite name (`FULLY_CONNECTED`, …); `BUILTIN_<code>` for unnamed ones.
    pub fn name(&self) -> String {
        let s = match self {
            OpKind::Add => "ADD",
            OpKind::AveragePool2d => "AVERAGE_POOL_2D",
            OpKind::Concatenation => "CONCATENATION",
            OpKind::Conv2d => "CONV_2D",
            OpKind::DepthwiseConv2d => "DEPTHWISE_CONV_2D",
            OpKind::Dequantize => "DEQUANTIZE",
            OpKind::FullyConnected => "FULLY_CONNECTED",
            OpKind::Logistic => "LOGISTIC",
            OpKind::MaxPool2d => "MAX_POOL_2D",
            OpKind::Mul => "MUL",
            OpKind::Relu => "RELU",
            OpKind::ReluN1To1 => "RELU_N1_TO_1",
            OpKind::Relu6 => "RELU6",
            OpKind::Reshape => "RESHAPE",
            OpKind::Softmax => "SOFTMAX",
            OpKind::Tanh => "TANH",
            OpKind::Pad => "PAD",
            OpKind::Mean => "MEAN",
            OpKind::Sub => "SUB",
            OpKind::StridedSlice => "STRIDED_SLICE",
            OpKind::Shape => "SHAPE",
            OpKind::Pack => "PACK",
            OpKind::LeakyRelu => "LEAKY_RELU",
            OpKind::Quantize => "QUANTIZE",
            OpKind::HardSwish => "HARD_SWISH",
            OpKind::Other(code) => return format!("BUILTIN_{code}"),
            OpKind::Custom(name) => return format!("CUSTOM({name})"),
        };
        s.to_string()
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A fused activation (`ActivationFunctionType` in the schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Activation {
    #[default]
    None,
    Relu,
    ReluN1To1,
    Relu6,
    Tanh,
    SignBit,
}

impl Activation {
    pub fn from_schema(code: i8) -> Option<Activation> {
        Some(match code {
            0 => Activation::None,
            1 => Activation::Relu,
            2 => Activation::ReluN1To1,
            3 => Activation::Relu6,
            4 => Activation::Tanh,
            5 => Activation::SignBit,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::None => "NONE",
            Activation::Relu => "RELU",
            Activation::ReluN1To1 => "RELU_N1_TO_1",
            Activation::Relu6 => "RELU6",
            Activation::Tanh => "TANH",
            Activation::SignBit => "SIGN_BIT",
        }
    }
}

/// Padding of convolutions and pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Padding {
    Same,
    Valid,
}

/// The builtin options of an operator, as far as quantlens reads them.
#[derive(Clone, Debug, PartialEq)]
pub enum Options {
    /// No options table (or one quantlens has no use for).
    None,
    FullyConnected {
        activation: Activation,
        /// 0 = DEFAULT; anything else (shuffled weights) is rejected by the engine.
        weights_format: i8,
        keep_num_dims: bool,
    },
    Softmax {
        beta: f32,
    },
    Reshape {
        new_shape: Option<Vec<i32>>,
    },
    Conv2d {
        padding: Padding,
        stride_w: i32,
        stride_h: i32,
        dilation_w: i32,
        dilation_h: i32,
        activation: Activation,
    },
    DepthwiseConv2d {
        padding: Padding,
        stride_w: i32,
        stride_h: i32,
        depth_multiplier: i32,
        dilation_w: i32,
        dilation_h: i32,
        activation: Activation,
    },
    Pool2d {
        padding: Padding,
        stride_w: i32,
        stride_h: i32,
        filter_w: i32,
        filter_h: i32,
        activation: Activation,
    },
    /// ADD, SUB, MUL: only the fused activation matters here.
    Elementwise {
        activation: Activation,
    },
    Concatenation {
        axis: i32,
        activation: Activation,
    },
    StridedSlice {
        begin_mask: i32,
        end_mask: i32,
        ellipsis_mask: i32,
        new_axis_mask: i32,
        shrink_axis_mask: i32,
        offset: bool,
    },
    Pack {
        values_count: i32,
        axis: i32,
    },
    Reducer {
        keep_dims: bool,
    },
    LeakyRelu {
        alpha: f32,
    },
    Shape {
        out_type: i8,
    },
}

/// One operator of the graph, in execution order.
#[derive(Clone, Debug, PartialEq)]
pub struct Operator {
    /// Position in execution order (0-based).
    pub index: usize,
    pub kind: OpKind,
    /// The `version` field of the operator code.
    pub version: i32,
    /// Input tensor indices; `None` where the file says −1 (optional input absent).
    pub inputs: Vec<Option<usize>>,
    pub outputs: Vec<usize>,
    pub options: Options,
}

impl Operator {
    /// The i-th input tensor index, if present.
    pub fn input(&self, i: usize) -> Option<usize> {
        self.inputs.get(i).copied().flatten()
    }
}

/// A verified, self-consistent model (the first and only subgraph).
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Schema version (3 for every current converter).
    pub version: u32,
    /// The `description` string (e.g. "MLIR Converted.").
    pub description: Option<String>,
    pub tensors: Vec<Tensor>,
    pub operators: Vec<Operator>,
    /// Graph input tensor indices.
    pub inputs: Vec<usize>,
    /// Graph output tensor indices.
    pub outputs: Vec<usize>,
}

impl Model {
    /// Verify and read a `.tflite` file's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        read::read_model(bytes)
    }

    /// Read a `.tflite` file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| ModelError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Model::from_bytes(&bytes)
    }

    /// The tensor with this index.
    pub fn tensor(&self, index: usize) -> &Tensor {
        &self.tensors[index]
    }

    /// The operator that writes tensor `index`, if any.
    pub fn producer(&self, index: usize) -> Option<&Operator> {
        self.operators.iter().find(|op| op.outputs.contains(&index))
    }

    /// Indices of the tensors written by operators, in execution order.
    pub fn produced_tensors(&self) -> Vec<usize> {
        self.operators.iter().flat_map(|op| op.outputs.iter().copied()).collect()
    }

    /// Find a tensor by its name.
    pub fn tensor_by_name(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Check the facts [`Model::from_bytes`] guarantees, on the plain
    /// struct: every index in range, every tensor's `index` its position,
    /// constant data as long as its shape says, at most 2^31 − 1 elements per
    /// tensor, quantization parameters paired, counted and valid as the
    /// reader requires.
    ///
    /// A model read from a file always passes; [`crate::Plan::new`] calls this
    /// so that a model edited in code (every field is public) is refused with
    /// an error instead of making the engine index out of bounds.
    pub fn validate(&self) -> Result<(), ModelError> {
        let count = self.tensors.len();
        let index = |what: String, i: usize| -> Result<(), ModelError> {
            if i < count {
                Ok(())
            } else {
                Err(ModelError::IndexOutOfRange { what, index: i.try_into().unwrap_or(i64::MAX), count })
            }
        };
        for (k, t) in self.tensors.iter().enumerate() {
            let bad_shape = |reason: String| ModelError::BadShape {
                tensor: k,
                name: t.name.clone(),
                shape: t.shape.iter().map(|&d| d.try_into().unwrap_or(i64::MAX)).collect(),
                reason,
            };
            if t.index != k {
                return Err(bad_shape(format!("its index field is {} but it is tensor {k}", t.index)));
            }
            let elements = t.shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64)).filter(|&n| n <= i32::MAX as u64);
            let Some(elements) = elements else {
                return Err(bad_shape(format!("more than {} elements", i32::MAX)));
            };
            if let Some(data) = &t.data {
                let expected = elements as usize * t.dtype.size();
                if data.len() != expected {
                    return Err(ModelError::BufferSizeMismatch {
                        tensor: k,
                        name: t.name.clone(),
                        buffer: 0,
                        shape: t.shape.clone(),
                        dtype: t.dtype.name().to_string(),
                        expected,
                        actual: data.len(),
                    });
                }
            }
            if let Some(q) = &t.quant {
                let bad = |reason: String| ModelError::BadQuantization { tensor: k, name: t.name.clone(), reason };
                if q.scale.is_empty() || q.zero_point.len() != q.scale.len() {
                    return Err(bad(format!(
                        "{} scales but {} zero points (they must pair up, at least one)",
                        q.scale.len(),
                        q.zero_point.len()
                    )));
                }
                let axis = i32::try_from(q.quantized_dimension).unwrap_or(i32::MAX);
                read::quantized_axis(axis, q.scale.len(), &t.shape).map_err(bad)?;
                read::check_scales(&q.scale).map_err(bad)?;
                read::check_zero_points(&q.zero_point, t.dtype).map_err(bad)?;
            }
        }
        for (i, &t) in self.inputs.iter().enumerate() {
            index(format!("graph input {i}"), t)?;
        }
        for (i, &t) in self.outputs.iter().enumerate() {
            index(format!("graph output {i}"), t)?;
        }
        for (k, op) in self.operators.iter().enumerate() {
            if op.index != k {
                return Err(ModelError::BadOperator {
                    op: k,
                    kind: op.kind.name(),
                    reason: format!("its index field is {} but it is operator {k}", op.index),
                });
            }
            for (i, t) in op.inputs.iter().enumerate() {
                if let Some(t) = *t {
                    index(format!("operator {k} ({}) input {i}", op.kind), t)?;
                }
            }
            for (i, &t) in op.outputs.iter().enumerate() {
                index(format!("operator {k} ({}) output {i}", op.kind), t)?;
            }
        }
        Ok(())
    }
}
