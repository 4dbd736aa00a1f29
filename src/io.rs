//! `.npy` / `.npz` in and out: samples stacked along a leading axis.
//!
//! quantlens reads inputs as `(N, …)` arrays in the model's input dtype and
//! writes one `(N, …tensor shape)` array per tensor (`t<k>.npy`), the same
//! layout as the goldens in `data/goldens/<model>/<runtime>.npz`.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};

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

    /// Write as one `.npy` file: into a temporary file beside `path`, then
    /// renamed into place, so `path` is either complete or untouched.
    pub fn write_npy(&self, path: &Path) -> Result<(), Error> {
        let err = |e: String| Error::Npy { path: path.display().to_string(), message: e };
        let name = path.file_name().ok_or_else(|| err("not a file name".into()))?.to_string_lossy();
        let tmp = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let result = self.write_npy_to(&tmp).map_err(err).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| err(e.to_string())));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Write to `path`; errors are messages, the caller names the file.
    fn write_npy_to(&self, path: &Path) -> Result<(), String> {
        let err = |e: String| e;
        let file = File::create(path).map_err(|e| err(e.to_string()))?;
        let mut w = BufWriter::new(file);
        let shape = IxDyn(&self.shape);
        macro_rules! write {
            ($v:expr) => {
                ArrayD::from_shape_vec(shape, $v.clone()).map_err(|e| err(e.to_string()))?.write_npy(&mut w).map_err(|e| err(e.to_string()))
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
        }?;
        // Dropping a BufWriter would swallow a failed final write.
        std::io::Write::flush(&mut w).map_err(|e| err(e.to_string()))
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
    let bytes = std::fs::read(path).map_err(|e| Error::Npy { path: path.display().to_string(), message: e.to_string() })?;
    match bytes_in_place(bytes) {
        Ok(stacked) => Ok(stacked),
        Err(bytes) => parse_samples(&bytes, &path.display().to_string()),
    }
}

/// batch (issue 16): a C-order `uint8`/`int8` file whose data is exactly its
/// elements (the images `quantlens run` reads) becomes its samples in the
/// buffer it was read into: the header is moved out and the bytes kept
/// (int8 converted in place), instead of ndarray-npy's second copy of the
/// whole file. Anything else (or anything [`check_npy_header`] refuses) is
/// handed back for [`parse_samples`], which reads or refuses it.
fn bytes_in_place(mut bytes: Vec<u8>) -> Result<Stacked, Vec<u8>> {
    let Ok(header) = check_npy_header(&bytes) else { return Err(bytes) };
    let descr = header.type_descriptor.as_string().map_or("", String::as_str);
    let n: usize = header.shape.iter().product();
    if header.layout.is_fortran() || !matches!(descr, "|u1" | "|i1") || n == 0 || n > bytes.len() {
        return Err(bytes);
    }
    let start = bytes.len() - n;
    // The header's own length (preamble + dict, padded) must end where the data begins.
    let preamble = if bytes.get(6) == Some(&1) { 10 } else { 12 };
    let declared = match bytes.get(6) {
        Some(1) => u16::from_le_bytes([bytes[8], bytes[9]]) as usize,
        _ => u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
    };
    if preamble + declared != start {
        return Err(bytes);
    }
    bytes.drain(..start);
    let data = if descr == "|u1" { Data::U8(bytes) } else { Data::I8(bytes.into_iter().map(|b| b as i8).collect()) };
    Ok(Stacked { shape: header.shape, data })
}

/// Largest `.npy` header accepted (numpy itself refuses headers over 10 000
/// bytes unless told otherwise).
const MAX_NPY_HEADER: usize = 16 * 1024;

/// Deepest bracket nesting accepted in an `.npy` header: a real one is a
/// dict holding a tuple (3 levels with a structured dtype).
const MAX_NPY_HEADER_DEPTH: usize = 8;

/// Parse the bytes of an `.npy` file (see [`read_samples`]); `what` names the
/// file in errors.
///
/// Before anything is allocated from a number in the header, the header is
/// checked against the bytes actually present: its declared length, its
/// nesting depth, and the element count (each element takes at least one
/// byte of the file), so a short hostile file cannot make this allocate
/// more than a few times its own size.
pub fn parse_samples(bytes: &[u8], what: &str) -> Result<Stacked, Error> {
    let err = |m: String| Error::Npy { path: what.to_string(), message: m.split_whitespace().collect::<Vec<_>>().join(" ") };
    let header = check_npy_header(bytes).map_err(&err)?;
    let descr = header.type_descriptor.as_string().map_or("", String::as_str);
    let unsupported = || err(format!("unsupported .npy dtype {descr:?} (expected one of uint8, int8, float32, int32, int16, int64, bool)"));
    macro_rules! read {
        ($t:ty, $wrap:expr) => {
            match ArrayD::<$t>::read_npy(bytes) {
                Ok(a) => Ok(from_array(a, $wrap)),
                Err(ReadNpyError::WrongDescriptor(_)) => Err(unsupported()),
                Err(e) => Err(err(e.to_string())),
            }
        };
    }
    // The descriptor is a byte-order character and a type code: dispatch
    // once instead of trying every element type (each try re-parses the header).
    match descr.get(1..).unwrap_or("") {
        "u1" => read!(u8, Data::U8),
        "i1" => read!(i8, Data::I8),
        "f4" => read!(f32, Data::F32),
        "i4" => read!(i32, Data::I32),
        "i2" => read!(i16, Data::I16),
        "i8" => read!(i64, Data::I64),
        "b1" => read!(bool, Data::Bool),
        _ => Err(unsupported()),
    }
}

/// Check an `.npy` header against the file's size, and parse it.
fn check_npy_header(bytes: &[u8]) -> Result<ndarray_npy::npy::header::Header, String> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < MAGIC.len() + 2 || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not an .npy file (no \\x93NUMPY magic string)".into());
    }
    let major = bytes[MAGIC.len()];
    let (header_len, start) = match major {
        1 => {
            let b = bytes.get(8..10).ok_or("truncated .npy header")?;
            (u16::from_le_bytes([b[0], b[1]]) as usize, 10)
        }
        2 | 3 => {
            let b = bytes.get(8..12).ok_or("truncated .npy header")?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => return Err(format!("unsupported .npy format version {v}")),
    };
    if header_len > MAX_NPY_HEADER {
        return Err(format!("the .npy header is {header_len} bytes long (at most {MAX_NPY_HEADER} accepted)"));
    }
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| format!("the .npy header says it is {header_len} bytes long but the file has only {} bytes after the preamble", bytes.len() - start))?;
    let mut depth = 0usize;
    for &c in header {
        match c {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NPY_HEADER_DEPTH {
                    return Err(format!("the .npy header nests brackets more than {MAX_NPY_HEADER_DEPTH} deep"));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let data_len = bytes.len() - start - header_len;
    let parsed = ndarray_npy::npy::header::Header::from_reader(&mut &bytes[..]).map_err(|e| e.to_string())?;
    let elements = parsed.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    match elements {
        // An empty array still yields N (empty) samples: keep N small too.
        Some(0) if parsed.shape.first().is_some_and(|&n| n > 1) => Err(format!(
            "the .npy header declares shape {:?}: {} samples of no elements",
            parsed.shape, parsed.shape[0]
        )),
        Some(n) if n <= data_len => Ok(parsed),
        Some(n) => Err(format!(
            "the .npy header declares shape {:?} ({n} elements) but only {data_len} bytes of data follow",
            parsed.shape
        )),
        None => Err(format!("the .npy header declares shape {:?}, whose element count overflows", parsed.shape)),
    }
}

/// An `.npz` archive of stacked tensors, e.g. a golden file.
///
/// Each member is decompressed once, into memory, then parsed by
/// [`parse_samples`] with its checks. A member may decompress to at most
/// 64 MiB + 256 × the archive's size, so a small "zip bomb" cannot make
/// quantlens allocate gigabytes.
pub struct Npz {
    archive: zip::ZipArchive<BufReader<File>>,
    path: String,
    /// Largest decompressed member accepted.
    max_member: u64,
}

impl Npz {
    /// Open an `.npz` file.
    pub fn open(path: impl AsRef<Path>) -> Result<Npz, Error> {
        let p = path.as_ref().display().to_string();
        let err = |m: String| Error::Npy { path: p.clone(), message: m };
        let file = File::open(path.as_ref()).map_err(|e| err(e.to_string()))?;
        let len = file.metadata().map_err(|e| err(e.to_string()))?.len();
        let archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| err(format!("not an .npz archive: {e}")))?;
        Ok(Npz { archive, path: p, max_member: (64 << 20) + len.saturating_mul(256) })
    }

    /// The array names (without `.npy`).
    pub fn names(&mut self) -> Result<Vec<String>, Error> {
        Ok(self.archive.file_names().map(|n| n.trim_end_matches(".npy").to_string()).collect())
    }

    /// Read one array by name (with or without `.npy`).
    pub fn get(&mut self, name: &str) -> Result<Stacked, Error> {
        use std::io::Read;
        let name = if name.ends_with(".npy") { name.to_string() } else { format!("{name}.npy") };
        let what = format!("{}[{name}]", self.path);
        let err = |m: String| Error::Npy { path: what.clone(), message: m };
        let member = self.archive.by_name(&name).map_err(|e| err(e.to_string()))?;
        let declared = member.size();
        if declared > self.max_member {
            return Err(err(format!("decompresses to {declared} bytes, more than the {} accepted for this archive", self.max_member)));
        }
        let mut bytes = Vec::with_capacity(declared as usize);
        member.take(self.max_member + 1).read_to_end(&mut bytes).map_err(|e| err(e.to_string()))?;
        if bytes.len() as u64 > self.max_member {
            return Err(err(format!("decompresses to more than the {} bytes accepted for this archive", self.max_member)));
        }
        parse_samples(&bytes, &what)
    }
}
