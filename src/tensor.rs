//! Tensor values computed by a run: a shape and typed elements.

use crate::model::{DType, Tensor};

/// The elements of a tensor value, in the tensor's own dtype.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    I32(Vec<i32>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

impl Data {
    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        match self {
            Data::F32(_) => DType::F32,
            Data::I32(_) => DType::I32,
            Data::U8(_) => DType::U8,
            Data::I8(_) => DType::I8,
            Data::I16(_) => DType::I16,
            Data::I64(_) => DType::I64,
            Data::Bool(_) => DType::Bool,
        }
    }
}

/// A tensor's value: row-major elements and a shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub shape: Vec<usize>,
    pub data: Data,
}

macro_rules! accessor {
    ($name:ident, $variant:ident, $t:ty) => {
        /// The elements, if the value has this dtype.
        pub fn $name(&self) -> Option<&[$t]> {
            match &self.data {
                Data::$variant(v) => Some(v),
                _ => None,
            }
        }
    };
}

impl Value {
    accessor!(as_f32, F32, f32);
    accessor!(as_i32, I32, i32);
    accessor!(as_u8, U8, u8);
    accessor!(as_i8, I8, i8);
    accessor!(as_i16, I16, i16);
    accessor!(as_i64, I64, i64);

    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::U8(v) => v.len(),
            Data::I8(v) => v.len(),
            Data::I16(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::Bool(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Integer elements widened to i64 (`None` for f32 values).
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        Some(match &self.data {
            Data::I32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::U8(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I8(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I16(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I64(v) => v.clone(),
            Data::Bool(v) => v.iter().map(|&x| x as i64).collect(),
            Data::F32(_) => return None,
        })
    }

    /// Every element as f64 (exact for every integer dtype but huge i64).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
            _ => self.to_i64_vec().unwrap_or_default().into_iter().map(|x| x as f64).collect(),
        }
    }

    /// A zero-filled value of a dtype and shape.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Value {
        let n: usize = shape.iter().product();
        let data = match dtype {
            DType::F32 => Data::F32(vec![0.0; n]),
            DType::I32 => Data::I32(vec![0; n]),
            DType::U8 => Data::U8(vec![0; n]),
            DType::I8 => Data::I8(vec![0; n]),
            DType::I16 => Data::I16(vec![0; n]),
            DType::I64 => Data::I64(vec![0; n]),
            DType::Bool => Data::Bool(vec![false; n]),
            // reader: dtypes a run does not hold (DType::is_held); Plan refuses
            // a graph input of such a dtype, so this is a placeholder byte each.
            _ => Data::U8(vec![0; n]),
        };
        Value { shape: shape.to_vec(), data }
    }

    /// The constant contents of a tensor from the file, decoded from
    /// little-endian bytes; `None` without data or for a dtype a run does not hold.
    pub fn from_constant(t: &Tensor) -> Option<Value> {
        let bytes = t.data.as_ref()?;
        let data = match t.dtype {
            DType::F32 => Data::F32(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
            DType::I32 => Data::I32(bytes.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
            DType::U8 => Data::U8(bytes.clone()),
            DType::I8 => Data::I8(bytes.iter().map(|&b| b as i8).collect()),
            DType::I16 => Data::I16(bytes.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect()),
            DType::I64 => Data::I64(
                bytes.chunks_exact(8).map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect(),
            ),
            DType::Bool => Data::Bool(bytes.iter().map(|&b| b != 0).collect()),
            // reader: not held as a value (FLOAT16 weights are dequantized at prepare time).
            _ => return None,
        };
        Some(Value { shape: t.shape.clone(), data })
    }

    /// The same elements under another shape (same element count).
    pub fn reshaped(&self, shape: &[usize]) -> Value {
        Value { shape: shape.to_vec(), data: self.data.clone() }
    }
}
