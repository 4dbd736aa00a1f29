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

mod builtin_names;
mod fb;
pub mod mode;
mod read;
mod sparse;

use std::fmt;
use std::path::Path;

pub use crate::error::ModelError;

/// The element type of a tensor (`TensorType` in the schema).
///
/// Every type of the schema is known, so that every valid file can be read
/// and shown. Only some are held as run-time values ([`crate::tensor::Data`]);
/// an operator on the others is refused by [`crate::Plan`], by name. Packed
/// sub-byte types (INT4, UINT4, INT2) store 8 / bits elements per byte, low
/// bits first; STRING tensors use TFLite's string buffer (an int32 count,
/// count + 1 int32 offsets, the bytes); RESOURCE and VARIANT are opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    I32,
    U8,
    I64,
    Bool,
    I16,
    I8,
    // reader: the rest of the schema's TensorType
    F16,
    String,
    Complex64,
    F64,
    Complex128,
    U64,
    Resource,
    Variant,
    U32,
    U16,
    I4,
    BF16,
    I2,
    U4,
    Float8E4M3Fn,
    Float8E5M2,
}

impl DType {
    /// Every `TensorType` code of the schema, in code order (`ALL[c]` has code `c`).
    pub const ALL: [DType; 23] = [
        DType::F32,
        DType::F16,
        DType::I32,
        DType::U8,
        DType::I64,
        DType::String,
        DType::Bool,
        DType::I16,
        DType::Complex64,
        DType::I8,
        DType::F64,
        DType::Complex128,
        DType::U64,
        DType::Resource,
        DType::Variant,
        DType::U32,
        DType::U16,
        DType::I4,
        DType::BF16,
        DType::I2,
        DType::U4,
        DType::Float8E4M3Fn,
        DType::Float8E5M2,
    ];

    /// The schema's `TensorType` code, or `None` for a code the schema does not define.
    pub fn from_schema(code: i8) -> Option<DType> {
        usize::try_from(code).ok().and_then(|c| DType::ALL.get(c)).copied()
    }

    /// The schema's `TensorType` code of this dtype.
    pub fn schema_code(self) -> i8 {
        DType::ALL.iter().position(|&d| d == self).map_or(-1, |c| c as i8)
    }

    /// Name of a schema `TensorType` code, also for codes the schema does not define.
    pub fn schema_name(code: i8) -> &'static str {
        DType::from_schema(code).map_or("UNKNOWN", DType::name)
    }

    /// Bits per element; `None` for the variable-size STRING and the opaque
    /// RESOURCE and VARIANT.
    pub fn bits(self) -> Option<usize> {
        Some(match self {
            DType::I2 => 2,
            DType::I4 | DType::U4 => 4,
            DType::U8 | DType::I8 | DType::Bool | DType::Float8E4M3Fn | DType::Float8E5M2 => 8,
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => 16,
            DType::F32 | DType::I32 | DType::U32 => 32,
            DType::I64 | DType::U64 | DType::F64 | DType::Complex64 => 64,
            DType::Complex128 => 128,
            DType::String | DType::Resource | DType::Variant => return None,
        })
    }

    /// Bytes that `elements` elements occupy in a buffer (packed types
    /// rounded up to whole bytes, as TFLite packs them: `(n·bits + 7) / 8`);
    /// `None` for STRING, RESOURCE and VARIANT, or on overflow.
    pub fn storage_bytes(self, elements: usize) -> Option<usize> {
        let bits = self.bits()?;
        Some(elements.checked_mul(bits)?.checked_add(7)? / 8)
    }

    /// Bytes per element (1 for the packed sub-byte types and for the
    /// variable-size ones: use [`DType::storage_bytes`] for buffer lengths).
    pub fn size(self) -> usize {
        self.bits().map_or(1, |b| b.div_ceil(8))
    }

    /// The range of an integer dtype as `(min, max)`, `None` for float/bool/other.
    pub fn int_range(self) -> Option<(i64, i64)> {
        Some(match self {
            DType::U8 => (0, 255),
            DType::I8 => (-128, 127),
            DType::I16 => (-32768, 32767),
            DType::I32 => (i32::MIN as i64, i32::MAX as i64),
            DType::I64 => (i64::MIN, i64::MAX),
            DType::I4 => (-8, 7),
            DType::U4 => (0, 15),
            DType::I2 => (-2, 1),
            DType::U16 => (0, 65535),
            DType::U32 => (0, u32::MAX as i64),
            _ => return None,
        })
    }

    /// True for the dtypes a run holds as values ([`crate::tensor::Data`]).
    pub fn is_held(self) -> bool {
        matches!(self, DType::F32 | DType::I32 | DType::U8 | DType::I64 | DType::Bool | DType::I16 | DType::I8)
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
            DType::F16 => "FLOAT16",
            DType::String => "STRING",
            DType::Complex64 => "COMPLEX64",
            DType::F64 => "FLOAT64",
            DType::Complex128 => "COMPLEX128",
            DType::U64 => "UINT64",
            DType::Resource => "RESOURCE",
            DType::Variant => "VARIANT",
            DType::U32 => "UINT32",
            DType::U16 => "UINT16",
            DType::I4 => "INT4",
            DType::BF16 => "BFLOAT16",
            DType::I2 => "INT2",
            DType::U4 => "UINT4",
            DType::Float8E4M3Fn => "FLOAT8_E4M3FN",
            DType::Float8E5M2 => "FLOAT8_E5M2",
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
    // reader: what else the file says about the tensor
    /// Sparse encoding of a constant (`data` is then `None`): DENSIFY expands it.
    pub sparsity: Option<Sparsity>,
    /// Non-zero `external_buffer`: the data lives in another file (`data` is `None`).
    pub external_buffer: Option<u32>,
    /// Quantization details (blockwise, custom, …): the file's `scale` and
    /// `zero_point` are then ignored, and `quant` is `None`.
    pub quant_details: Option<QuantDetails>,
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

pub use sparse::{DimMetadata, Sparsity};

/// `QuantizationParameters.details`: a scheme other than affine (S, Z).
#[derive(Clone, Debug, PartialEq)]
pub enum QuantDetails {
    /// `CustomQuantization`: opaque bytes.
    Custom,
    /// `BlockwiseQuantization`: the scales and zero points are *tensors*
    /// (indices in this subgraph; −1 = no zero points), one per block of `block_size`.
    Blockwise { scales: i32, zero_points: i32, block_size: i32 },
    /// Another member of the union (e.g. `MultiAxisQuantization`), by discriminant.
    Other { kind: u8 },
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
    // --- vit (issue 14: transformer ops) ---
    BatchMatmul,
    Transpose,
    Gather,
    Squeeze,
    ExpandDims,
    Slice,
    Split,
    SplitV,
    Cast,
    Gelu,
    Neg,
    Rsqrt,
    Sqrt,
    SquaredDifference,
    Div,
    Exp,
    Log,
    Abs,
    Maximum,
    Minimum,
    Sum,
    ReduceMax,
    ReduceMin,
    ReduceProd,
    ArgMax,
    ArgMin,
    L2Normalization,
    LogSoftmax,
    Select,
    SelectV2,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    Equal,
    NotEqual,
    LogicalAnd,
    LogicalOr,
    // vision (issue 14)
    Prelu,
    TransposeConv,
    ResizeBilinear,
    ResizeNearestNeighbor,
    DepthToSpace,
    SpaceToDepth,
    BatchToSpaceNd,
    SpaceToBatchNd,
    PadV2,
    MirrorPad,
    Tile,
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
            // --- vit ---
            126 => OpKind::BatchMatmul,
            39 => OpKind::Transpose,
            36 => OpKind::Gather,
            43 => OpKind::Squeeze,
            70 => OpKind::ExpandDims,
            65 => OpKind::Slice,
            49 => OpKind::Split,
            102 => OpKind::SplitV,
            53 => OpKind::Cast,
            150 => OpKind::Gelu,
            59 => OpKind::Neg,
            76 => OpKind::Rsqrt,
            75 => OpKind::Sqrt,
            99 => OpKind::SquaredDifference,
            42 => OpKind::Div,
            47 => OpKind::Exp,
            73 => OpKind::Log,
            101 => OpKind::Abs,
            55 => OpKind::Maximum,
            57 => OpKind::Minimum,
            74 => OpKind::Sum,
            82 => OpKind::ReduceMax,
            89 => OpKind::ReduceMin,
            81 => OpKind::ReduceProd,
            56 => OpKind::ArgMax,
            79 => OpKind::ArgMin,
            11 => OpKind::L2Normalization,
            50 => OpKind::LogSoftmax,
            64 => OpKind::Select,
            123 => OpKind::SelectV2,
            58 => OpKind::Less,
            63 => OpKind::LessEqual,
            61 => OpKind::Greater,
            62 => OpKind::GreaterEqual,
            71 => OpKind::Equal,
            72 => OpKind::NotEqual,
            86 => OpKind::LogicalAnd,
            84 => OpKind::LogicalOr,
            // vision (issue 14)
            54 => OpKind::Prelu,
            67 => OpKind::TransposeConv,
            23 => OpKind::ResizeBilinear,
            97 => OpKind::ResizeNearestNeighbor,
            5 => OpKind::DepthToSpace,
            26 => OpKind::SpaceToDepth,
            37 => OpKind::BatchToSpaceNd,
            38 => OpKind::SpaceToBatchNd,
            60 => OpKind::PadV2,
            100 => OpKind::MirrorPad,
            69 => OpKind::Tile,
            other => OpKind::Other(other),
        }
    }

    /// The TFLite name (`FULLY_CONNECTED`, …): every builtin code of the
    /// schema is named (see `builtin_names.rs`); a code past the schema is
    /// `UNKNOWN_OPERATOR_<code>`.
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
            // --- vit ---
            OpKind::BatchMatmul => "BATCH_MATMUL",
            OpKind::Transpose => "TRANSPOSE",
            OpKind::Gather => "GATHER",
            OpKind::Squeeze => "SQUEEZE",
            OpKind::ExpandDims => "EXPAND_DIMS",
            OpKind::Slice => "SLICE",
            OpKind::Split => "SPLIT",
            OpKind::SplitV => "SPLIT_V",
            OpKind::Cast => "CAST",
            OpKind::Gelu => "GELU",
            OpKind::Neg => "NEG",
            OpKind::Rsqrt => "RSQRT",
            OpKind::Sqrt => "SQRT",
            OpKind::SquaredDifference => "SQUARED_DIFFERENCE",
            OpKind::Div => "DIV",
            OpKind::Exp => "EXP",
            OpKind::Log => "LOG",
            OpKind::Abs => "ABS",
            OpKind::Maximum => "MAXIMUM",
            OpKind::Minimum => "MINIMUM",
            OpKind::Sum => "SUM",
            OpKind::ReduceMax => "REDUCE_MAX",
            OpKind::ReduceMin => "REDUCE_MIN",
            OpKind::ReduceProd => "REDUCE_PROD",
            OpKind::ArgMax => "ARG_MAX",
            OpKind::ArgMin => "ARG_MIN",
            OpKind::L2Normalization => "L2_NORMALIZATION",
            OpKind::LogSoftmax => "LOG_SOFTMAX",
            OpKind::Select => "SELECT",
            OpKind::SelectV2 => "SELECT_V2",
            OpKind::Less => "LESS",
            OpKind::LessEqual => "LESS_EQUAL",
            OpKind::Greater => "GREATER",
            OpKind::GreaterEqual => "GREATER_EQUAL",
            OpKind::Equal => "EQUAL",
            OpKind::NotEqual => "NOT_EQUAL",
            OpKind::LogicalAnd => "LOGICAL_AND",
            OpKind::LogicalOr => "LOGICAL_OR",
            // vision (issue 14)
            OpKind::Prelu => "PRELU",
            OpKind::TransposeConv => "TRANSPOSE_CONV",
            OpKind::ResizeBilinear => "RESIZE_BILINEAR",
            OpKind::ResizeNearestNeighbor => "RESIZE_NEAREST_NEIGHBOR",
            OpKind::DepthToSpace => "DEPTH_TO_SPACE",
            OpKind::SpaceToDepth => "SPACE_TO_DEPTH",
            OpKind::BatchToSpaceNd => "BATCH_TO_SPACE_ND",
            OpKind::SpaceToBatchNd => "SPACE_TO_BATCH_ND",
            OpKind::PadV2 => "PADV2",
            OpKind::MirrorPad => "MIRROR_PAD",
            OpKind::Tile => "TILE",
            OpKind::Other(code) => return builtin_name(*code),
            OpKind::Custom(name) => return format!("CUSTOM({name})"),
        };
        s.to_string()
    }
}

/// The schema name of builtin operator `code` (`NEG` for 59), or
/// `UNKNOWN_OPERATOR_<code>` for a code the schema does not define.
pub fn builtin_name(code: i32) -> String {
    usize::try_from(code)
        .ok()
        .and_then(|c| builtin_names::BUILTIN_NAMES.get(c))
        .map_or_else(|| format!("UNKNOWN_OPERATOR_{code}"), |n| (*n).to_string())
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
        /// Dynamic range (hybrid) only: quantize the float input at run
        /// time asymmetrically (S1 and Z1) instead of symmetrically (Z1 = 0).
        asymmetric_quantize_inputs: bool,
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
    /// MUL, DIV: only the fused activation matters here.
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
    // --- vit ---
    BatchMatmul {
        adj_x: bool,
        adj_y: bool,
        asymmetric_quantize_inputs: bool,
    },
    Gelu {
        approximate: bool,
    },
    Gather {
        axis: i32,
        batch_dims: i32,
    },
    // vision (issue 14)
    /// RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR.
    Resize {
        align_corners: bool,
        half_pixel_centers: bool,
    },
    /// SPACE_TO_DEPTH, DEPTH_TO_SPACE.
    BlockSize {
        block_size: i32,
    },
    TransposeConv {
        padding: Padding,
        stride_w: i32,
        stride_h: i32,
        activation: Activation,
    },
    /// `mode`: 0 REFLECT, 1 SYMMETRIC.
    MirrorPad {
        mode: i8,
    },
    // int16_ties (issue 14): ADD and SUB read `pot_scale_int16`
    /// ADD, SUB: the fused activation, and `pot_scale_int16` (int16 only:
    /// LiteRT takes its shift-and-saturate kernel when this is true and all
    /// three scales are powers of two; the schema's default is true).
    AddSub {
        activation: Activation,
        pot_scale_int16: bool,
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
    // reader: the rest of the file
    /// Subgraphs 1, 2, … (bodies of WHILE, IF, CALL_ONCE, …); subgraph 0 is
    /// the fields above. quantlens runs subgraph 0 only.
    pub subgraphs: Vec<Subgraph>,
    /// `signature_defs`: named entry points.
    pub signatures: Vec<Signature>,
    /// `metadata`: named buffers (`min_runtime_version`, `CONVERSION_METADATA`, …).
    pub metadata: Vec<Metadata>,
}

/// A subgraph other than the main one.
#[derive(Clone, Debug, PartialEq)]
pub struct Subgraph {
    /// Its index in the file (≥ 1).
    pub index: usize,
    pub name: String,
    pub tensors: Vec<Tensor>,
    pub operators: Vec<Operator>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
}

/// A `SignatureDef`: a named entry point into a subgraph.
#[derive(Clone, Debug, PartialEq)]
pub struct Signature {
    pub key: String,
    pub subgraph: usize,
    /// (name, tensor index in that subgraph).
    pub inputs: Vec<(String, usize)>,
    pub outputs: Vec<(String, usize)>,
}

/// A `Metadata` entry: a name and the buffer holding its bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    pub name: String,
    pub buffer: usize,
    /// Length of the buffer's data in bytes.
    pub bytes: usize,
}

/// A name from the file for a one-line message: control characters
/// (newlines, escapes, …) are written as Rust escapes.
pub fn escape_name(name: &str) -> String {
    if !name.chars().any(char::is_control) {
        return name.to_string();
    }
    name.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
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
                name: escape_name(&t.name),
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
            // reader: sparse parameters that fit the shape and the stored values
            if let Some(sp) = &t.sparsity {
                let count = sp.check(&t.shape).map_err(bad_shape)?;
                if Some(sp.values.len()) != t.dtype.storage_bytes(count) || sp.value_count != count {
                    return Err(bad_shape(format!("sparsity: {} bytes of values for {count} {} values", sp.values.len(), t.dtype)));
                }
            }
            if let (Some(data), Some(expected)) = (&t.data, t.dtype.storage_bytes(elements as usize)) {
                if data.len() != expected {
                    return Err(ModelError::BufferSizeMismatch {
                        tensor: k,
                        name: escape_name(&t.name),
                        buffer: 0,
                        shape: t.shape.clone(),
                        dtype: t.dtype.name().to_string(),
                        expected,
                        actual: data.len(),
                    });
                }
            }
            if let Some(q) = &t.quant {
                let bad = |reason: String| ModelError::BadQuantization { tensor: k, name: escape_name(&t.name), reason };
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
