//! `.npy` / `.npz` in and out: samples stacked along a leading axis.
//!
//! quantlens reads inputs as `(N, …)` arrays in the model's input dtype and
//! writes one `(N, …tensor shape)` array per tensor (`t<k>.npy`), the same
//! layout as the goldens in `data/goldens/<model>/<runtime>.npz`.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{NpzReader, ReadNpyError, ReadNpyExt, WriteNpyExt};

use crate::error::Error;
use crate::model::DType;
use crate::tensor::{Data, Value};

/// N samples of one dtype, stacked along the first axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Stacked {
    /// `(N, …)`.
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Stacked {
    /// Number of samples N.
    pub fn len(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// True when N = 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one sample.
    pub fn sample_shape(&self) -> &[usize] {
        self.shape.get(1..).unwrap_or(&[])
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// Sample `i` as a value (panics if `i >= len()`).
    pub fn sample(&self, i: usize) -> Value {
        let n: usize = self.sample_shape().iter().product();
        let r = i * n..(i + 1) * n;
        let data = match &self.data {
            Data::F32(v) => Data::F32(v[r].to_vec()),
            Data::I32(v) => Data::I32(v[r].to_vec()),
            Data::U8(v) => Data::U8(v[r].to_vec()),
            Data::I8(v) => Data::I8(v[r].to_vec()),
            Data::I16(v) => Data::I16(v[r].to_vec()),
            Data::I64(v) => Data::I64(v[r].to_vec()),
            Data::Bool(v) => Data::Bool(v[r].to_vec()),
        };
        Value { shape: self.sample_shape().to_vec(), data }
    }

    /// Every sample.
    pub fn samples(&self) -> Vec<Value> {
        (0..self.len()).map(|i| self.sample(i)).collect()
    }

    /// Stack values of one tensor over samples.
    pub fn from_values(values: &[&Value]) -> Option<Stacked> {
        let first = values.first()?;
        let mut shape = vec![values.len()];
        shape.extend_from_slice(&first.shape);
        let mut data = first.data.clone_empty();
        for v in values {
            if v.shape != first.shape || !data.extend_from(&v.data) {
                return None;
            }
        }
        Some(Stacked { shape, data })
    }

    /// Every element widened to i64, or `None` for float data.
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        Value { shape: vec![], data: self.data.clone() }.to_i64_vec()
    }

    /// Every element as f64.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        Value { shape: vec![], data: self.data.clone() }.to_f64_vec()
    }

    /// Write as one `.npy` file.
    pub fn write_npy(&self, path: &Path) -> Result<(), Error> {
        let err = |e: String| Error::Npy { path: path.display().to_string(), message: e };
        let file = File::create(path).map_err(|e| err(e.to_string()))?;
        let w = BufWriter::new(file);
        let shape = IxDyn(&self.shape);
        macro_rules! write {
            ($v:expr) => {
                ArrayD::from_shape_vec(shape, $v.clone()).map_err(|e| err(e.to_string()))?.write_npy(w).map_err(|e| err(e.to_string()))
            };
        }
        match &self.data {
            Data::F32(v) => write!(v),
            Data::I32(v) => write!(v),
            Data::U8(v) => write!(v),
            Data::I8(v) => write!(v),
            Data::I16(v) => write!(v),
            Data::I64(v) => write!(v),
            Data::Bool(v) => write!(v),
        }
    }
}

impl Data {
    /// An empty vector of the same dtype.
    pub fn clone_empty(&self) -> Data {
        match self {
            Data::F32(_) => Data::F32(vec![]),
            Data::I32(_) => Data::I32(vec![]),
            Data::U8(_) => Data::U8(vec![]),
            Data::I8(_) => Data::I8(vec![]),
            Data::I16(_) => Data::I16(vec![]),
            Data::I64(_) => Data::I64(vec![]),
            Data::Bool(_) => Data::Bool(vec![]),
        }
    }

    /// Append `other` if it has the same dtype; false otherwise.
    pub fn extend_from(&mut self, other: &Data) -> bool {
        match (self, other) {
            (Data::F32(a), Data::F32(b)) => a.extend_from_slice(b),
            (Data::I32(a), Data::I32(b)) => a.extend_from_slice(b),
            (Data::U8(a), Data::U8(b)) => a.extend_from_slice(b),
            (Data::I8(a), Data::I8(b)) => a.extend_from_slice(b),
            (Data::I16(a), Data::I16(b)) => a.extend_from_slice(b),
            (Data::I64(a), Data::I64(b)) => a.extend_from_slice(b),
            (Data::Bool(a), Data::Bool(b)) => a.extend_from_slice(b),
            _ => return false,
        }
        true
    }
}

fn from_array<T: Clone>(a: ArrayD<T>, wrap: fn(Vec<T>) -> Data) -> Stacked {
    let shape = a.shape().to_vec();
    let v = if a.is_standard_layout() { a.into_raw_vec_and_offset().0 } else { a.iter().cloned().collect() };
    Stacked { shape, data: wrap(v) }
}

/// Read an `.npy` file of any supported dtype (f32, i32, u8, i8, i16, i64, bool).
pub fn read_samples(path: impl AsRef<Path>) -> Result<Stacked, Error> {
    let path = path.as_ref();
    let err = |m: String| Error::Npy { path: path.display().to_string(), message: m };
    let open = || -> Result<BufReader<File>, Error> { File::open(path).map(BufReader::new).map_err(|e| err(e.to_string())) };
    macro_rules! attempt {
        ($t:ty, $wrap:expr) => {
            match ArrayD::<$t>::read_npy(open()?) {
                Ok(a) => return Ok(from_array(a, $wrap)),
                Err(ReadNpyError::WrongDescriptor(_)) => {}
                Err(e) => return Err(err(e.to_string())),
            }
        };
    }
    attempt!(u8, Data::U8);
    attempt!(i8, Data::I8);
    attempt!(f32, Data::F32);
    attempt!(i32, Data::I32);
    attempt!(i16, Data::I16);
    attempt!(i64, Data::I64);
    attempt!(bool, Data::Bool);
    Err(err("unsupported .npy dtype (expected one of uint8, int8, float32, int32, int16, int64, bool)".into()))
}

/// An `.npz` archive of stacked tensors, e.g. a golden file.
pub struct Npz {
    reader: NpzReader<BufReader<File>>,
    path: String,
}

impl Npz {
    /// Open an `.npz` file.
    pub fn open(path: impl AsRef<Path>) -> Result<Npz, Error> {
        let p = path.as_ref().display().to_string();
        let file = File::open(path.as_ref()).map_err(|e| Error::Npy { path: p.clone(), message: e.to_string() })?;
        let reader = NpzReader::new(BufReader::new(file)).map_err(|e| Error::Npy { path: p.clone(), message: e.to_string() })?;
        Ok(Npz { reader, path: p })
    }

    /// The array names (without `.npy`).
    pub fn names(&mut self) -> Result<Vec<String>, Error> {
        let names = self.reader.names().map_err(|e| Error::Npy { path: self.path.clone(), message: e.to_string() })?;
        Ok(names.into_iter().map(|n| n.trim_end_matches(".npy").to_string()).collect())
    }

    /// Read one array by name (with or without `.npy`).
    pub fn get(&mut self, name: &str) -> Result<Stacked, Error> {
        let name = if name.ends_with(".npy") { name.to_string() } else { format!("{name}.npy") };
        macro_rules! attempt {
            ($t:ty, $wrap:expr) => {
                match self.reader.by_name::<ndarray::OwnedRepr<$t>, IxDyn>(&name) {
                    Ok(a) => return Ok(from_array(a, $wrap)),
                    Err(ndarray_npy::ReadNpzError::Npy(ReadNpyError::WrongDescriptor(_))) => {}
                    Err(e) => return Err(Error::Npy { path: format!("{}[{name}]", self.path), message: e.to_string() }),
                }
            };
        }
        attempt!(u8, Data::U8);
        attempt!(i8, Data::I8);
        attempt!(f32, Data::F32);
        attempt!(i32, Data::I32);
        attempt!(i16, Data::I16);
        attempt!(i64, Data::I64);
        attempt!(bool, Data::Bool);
        Err(Error::Npy { path: format!("{}[{name}]", self.path), message: "unsupported dtype".into() })
    }
}
