//! What a notebook (or `quantlens report`) runs on: the reader's model, or
//! the project's own.
//!
//! [`Setup::from_env`] reads
//!
//! | variable | what | default |
//! |---|---|---|
//! | `QUANTLENS_MODEL` | a `.tflite` file | the notebook's own model in `data/models/` |
//! | `QUANTLENS_INPUT` | an `.npy` of samples in the model's input dtype, shape `(N, …)`, or a PNG / JPEG image (see [`image_input`]) | `data/goldens/<model>/input.npy` when it exists |
//! | `QUANTLENS_LABELS` | an `.npy` of N integer labels | `data/mnist/test_labels.npy` for the project's models |
//! | `QUANTLENS_FLOAT_MODEL` | the float model the quantized one came from | `data/models/mlp_float32.tflite` for the project's MLPs |
//! | `QUANTLENS_SAMPLE` | which sample to step through | 0 (or the notebook's choice) |
//!
//! and [`Setup::describe`] says which model and sample it uses, and what is missing.
//! Every field is plain data, so a notebook can read it directly.

pub mod layers;
pub mod tconv;

use std::path::{Path, PathBuf};

pub use layers::{quant_layers, quant_mode, QuantLayer};

use crate::error::Error;
use crate::io::{read_samples, Stacked};
use crate::model::{DType, Model};
use crate::plan::Plan;
use crate::profile::Profile;
use crate::quant;
use crate::tensor::{Data, Value};

/// The model, its inputs and the optional extras a lesson runs on.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The `.tflite` file.
    pub model_path: PathBuf,
    pub model: Model,
    /// Where the inputs came from (a path, or "none").
    pub input_source: String,
    /// The samples, in the model's input dtype, `(N, …input shape without its leading 1)`.
    pub inputs: Stacked,
    /// The sample the lesson steps through.
    pub sample: usize,
    /// One label per sample, when known.
    pub labels: Option<Vec<i64>>,
    /// The float model, when known.
    pub float_model: Option<PathBuf>,
    /// True when every path is the notebook's default (the project's own model).
    pub is_default: bool,
    /// The project's golden directory for this model (`data/goldens/<stem>`), when it exists.
    pub golden_dir: Option<PathBuf>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.trim().is_empty())
}

fn io_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Io { path: path.display().to_string(), message: message.into() }
}

impl Setup {
    /// Read the `QUANTLENS_*` variables (see the module docs); `data_dir` is
    /// the project's `data/` directory and `default_stem` the model the
    /// notebook uses when `QUANTLENS_MODEL` is not set (e.g. `mlp_ptq_uint8io`).
    /// `default_sample` is used when `QUANTLENS_SAMPLE` is not set.
    pub fn from_env(data_dir: impl AsRef<Path>, default_stem: &str, default_sample: usize) -> Result<Setup, Error> {
        Setup::from_parts(
            data_dir,
            default_stem,
            env("QUANTLENS_MODEL").map(PathBuf::from),
            env("QUANTLENS_INPUT").map(PathBuf::from),
            env("QUANTLENS_LABELS").map(PathBuf::from),
            env("QUANTLENS_FLOAT_MODEL").map(PathBuf::from),
            match env("QUANTLENS_SAMPLE") {
                Some(s) => Some(s.trim().parse::<usize>().map_err(|_| io_err(Path::new("QUANTLENS_SAMPLE"), format!("not a sample index: {s:?}")))?),
                None => None,
            },
            default_sample,
        )
    }

    /// [`Setup::from_env`] with the values given (None = not set).
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        data_dir: impl AsRef<Path>,
        default_stem: &str,
        model: Option<PathBuf>,
        input: Option<PathBuf>,
        labels: Option<PathBuf>,
        float_model: Option<PathBuf>,
        sample: Option<usize>,
        default_sample: usize,
    ) -> Result<Setup, Error> {
        let data = data_dir.as_ref();
        let own_model = model.is_none();
        let model_path = model.unwrap_or_else(|| crate::lessons::model_path(data, default_stem));
        let parsed = Model::from_path(&model_path)?;
        // The project's goldens for a model of data/models/ (by file stem), also when named explicitly.
        let stem = model_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let golden_dir = Some(data.join("goldens").join(&stem)).filter(|d| d.join("input.npy").is_file());
        let project_model = golden_dir.is_some() && model_path.parent().and_then(|p| p.file_name()).is_some_and(|n| n == "models");
        let (inputs, input_source) = match &input {
            Some(p) => (read_input(&parsed, p)?, p.display().to_string()),
            None => match &golden_dir {
                Some(d) => {
                    let p = d.join("input.npy");
                    (read_samples(&p)?, p.display().to_string())
                }
                None => {
                    return Err(io_err(&model_path, "no inputs: set QUANTLENS_INPUT to an .npy of samples in the model's input dtype, or a PNG/JPEG image"));
                }
            },
        };
        if inputs.is_empty() {
            return Err(io_err(Path::new(&input_source), "holds no samples"));
        }
        let labels = match &labels {
            Some(p) => Some(read_labels(p)?),
            None if project_model && (input.is_none() || same_file(Path::new(&input_source), &golden_dir.as_ref().unwrap().join("input.npy"))) => {
                let all = crate::lessons::labels(data)?;
                Some(all.into_iter().take(inputs.len()).collect())
            }
            None => None,
        };
        let float_model = match float_model {
            Some(p) => Some(p),
            None if project_model && stem.starts_with("mlp_") => Some(crate::lessons::model_path(data, "mlp_float32")),
            None => None,
        };
        let sample = sample.unwrap_or(default_sample);
        if sample >= inputs.len() {
            return Err(io_err(Path::new(&input_source), format!("sample {sample} asked for, but it holds {} samples", inputs.len())));
        }
        Ok(Setup {
            model_path,
            model: parsed,
            input_source,
            inputs,
            sample,
            labels,
            float_model,
            is_default: own_model && input.is_none(),
            golden_dir,
        })
    }

    /// The model's file name, e.g. `cnn_ptq_int8.tflite`.
    pub fn model_name(&self) -> String {
        self.model_path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| self.model_path.display().to_string())
    }

    /// The sample the lesson steps through.
    pub fn input(&self) -> Value {
        self.inputs.sample(self.sample)
    }

    /// Its label, when known.
    pub fn label(&self) -> Option<i64> {
        self.labels.as_ref().and_then(|l| l.get(self.sample)).copied()
    }

    /// The model prepared for `profile`.
    pub fn plan(&self, profile: Profile) -> Result<Plan, Error> {
        Ok(Plan::new(self.model.clone(), profile)?)
    }

    /// The project's golden file of `profile` for this model, when it exists.
    pub fn golden(&self, profile: Profile) -> Option<PathBuf> {
        if !self.is_default && !same_file(Path::new(&self.input_source), &self.golden_dir.as_ref()?.join("input.npy")) {
            return None; // goldens hold the project's inputs, not the reader's
        }
        Some(self.golden_dir.as_ref()?.join(format!("{}.npz", profile.golden_key()))).filter(|p| p.is_file())
    }

    /// Which model and sample, and what is missing, in a few lines.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "model:  {} ({} tensors, {} operators){}\n",
            self.model_path.display(),
            self.model.tensors.len(),
            self.model.operators.len(),
            if self.is_default { "" } else { "  [from QUANTLENS_MODEL / QUANTLENS_INPUT]" }
        );
        s += &format!("inputs: {} ({} samples of shape {:?}, {})\n", self.input_source, self.inputs.len(), self.inputs.sample_shape(), self.inputs.dtype().name());
        s += &format!("sample: {}{}\n", self.sample, self.label().map(|l| format!(" (label {l})")).unwrap_or_default());
        match &self.float_model {
            Some(p) => s += &format!("float model: {}\n", p.display()),
            None => s += "float model: none given (QUANTLENS_FLOAT_MODEL), so the float path is each layer recomputed in real numbers from its dequantized input, weights and bias.\n",
        }
        if self.labels.is_none() {
            s += "labels: none given (QUANTLENS_LABELS), so no accuracy is computed.\n";
        }
        s
    }
}

/// True when `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    std::fs::canonicalize(a).ok().zip(std::fs::canonicalize(b).ok()).is_some_and(|(a, b)| a == b)
}

/// Read an `.npy` of integer labels.
pub fn read_labels(path: &Path) -> Result<Vec<i64>, Error> {
    let s = read_samples(path)?;
    s.to_i64_vec().ok_or_else(|| Error::Npy { path: path.display().to_string(), message: "labels are not integers".into() })
}

/// Read the inputs for `model`: an `.npy` (used as is) or a PNG / JPEG image
/// ([`image_input`]).
pub fn read_input(model: &Model, path: &Path) -> Result<Stacked, Error> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "png" | "jpg" | "jpeg" => image_input(model, path),
        _ => read_samples(path),
    }
}

/// The (height, width, channels) an image must become for `model`'s input:
/// `[1, H, W, C]` (C = 1 or 3), `[1, H, W]`, or `[1, N]` with N = H·H (a
/// flattened square grayscale image, as the MNIST MLPs take).
pub fn image_geometry(model: &Model) -> Option<(usize, usize, usize)> {
    let t = model.tensors.get(*model.inputs.first()?)?;
    match t.shape.as_slice() {
        [1, h, w, c] if *c == 1 || *c == 3 => Some((*h, *w, *c)),
        [1, h, w] => Some((*h, *w, 1)),
        [1, n] => {
            let side = (*n as f64).sqrt().round() as usize;
            (side * side == *n).then_some((side, side, 1))
        }
        _ => None,
    }
}

/// A PNG or JPEG image as one sample for `model`:
///
/// 1. decoded to 8-bit gray (one input channel; RGB is averaged with weights
///    0.299, 0.587, 0.114) or RGB (three channels); alpha is dropped;
/// 2. resized to the input's H×W by averaging the source pixels each target
///    pixel covers (box filter; nearest pixel when enlarging);
/// 3. each pixel `p` (0…255) stands for the real value `r = p / 255`, which is
///    quantized with the input tensor's own (S, Z): `q = Z + round(r / S)`,
///    saturated to the dtype (for a uint8 input with S = 1/255, Z = 0 that is
///    `p` itself); a float32 input gets `r`.
///
/// The image is not inverted: MNIST digits are white on black.
pub fn image_input(model: &Model, path: &Path) -> Result<Stacked, Error> {
    let (h, w, c) = image_geometry(model).ok_or_else(|| {
        io_err(path, "the model's input is not an image (expected shape [1, H, W, 1|3], [1, H, W] or [1, H·H])")
    })?;
    let t = &model.tensors[model.inputs[0]];
    let (src_w, src_h, gray, rgb) = decode_image(path)?;
    let src: &[u8] = if c == 1 { &gray } else { &rgb };
    let resized = resize_box(src, src_w, src_h, c, w, h);
    let shape: Vec<usize> = std::iter::once(1).chain(t.shape.iter().skip(1).copied()).collect();
    let data = match t.dtype {
        DType::F32 => Data::F32(resized.iter().map(|&p| p as f32 / 255.0).collect()),
        DType::U8 | DType::I8 | DType::I16 => {
            let (s, z) = t.per_tensor_quant().ok_or_else(|| io_err(path, format!("input tensor {} ({}) has no single scale", t.index, t.dtype.name())))?;
            let (lo, hi) = t.dtype.int_range().unwrap_or((0, 255));
            let q: Vec<i64> = resized.iter().map(|&p| (z + quant::round_half_away_from_zero(p as f64 / 255.0 / s as f64) as i64).clamp(lo, hi)).collect();
            match t.dtype {
                DType::U8 => Data::U8(q.iter().map(|&v| v as u8).collect()),
                DType::I8 => Data::I8(q.iter().map(|&v| v as i8).collect()),
                _ => Data::I16(q.iter().map(|&v| v as i16).collect()),
            }
        }
        other => return Err(io_err(path, format!("input tensor {} is {}: images become float32, uint8, int8 or int16 inputs", t.index, other.name()))),
    };
    Ok(Stacked { shape, data })
}

/// Decode a PNG or JPEG into (width, height, gray bytes, RGB bytes).
#[cfg(feature = "images")]
fn decode_image(path: &Path) -> Result<(usize, usize, Vec<u8>, Vec<u8>), Error> {
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e.to_string()))?;
    let (w, h, channels, pixels): (usize, usize, usize, Vec<u8>) = if bytes.starts_with(b"\x89PNG") {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
        // 16-bit → 8-bit, palette → RGB, low bit depths → 8-bit.
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().map_err(|e| io_err(path, format!("PNG: {e}")))?;
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).map_err(|e| io_err(path, format!("PNG: {e}")))?;
        buf.truncate(info.buffer_size());
        let ch = info.color_type.samples();
        (info.width as usize, info.height as usize, ch, buf)
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        let mut decoder = jpeg_decoder::Decoder::new(std::io::Cursor::new(&bytes));
        let pixels = decoder.decode().map_err(|e| io_err(path, format!("JPEG: {e}")))?;
        let info = decoder.info().ok_or_else(|| io_err(path, "JPEG: no image information"))?;
        let ch = match info.pixel_format {
            jpeg_decoder::PixelFormat::L8 => 1,
            jpeg_decoder::PixelFormat::RGB24 => 3,
            other => return Err(io_err(path, format!("JPEG: unsupported pixel format {other:?}"))),
        };
        (info.width as usize, info.height as usize, ch, pixels)
    } else {
        return Err(io_err(path, "not a PNG or JPEG file"));
    };
    if w == 0 || h == 0 || pixels.len() < w * h * channels {
        return Err(io_err(path, "empty or truncated image"));
    }
    let mut gray = Vec::with_capacity(w * h);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for px in pixels.chunks(channels).take(w * h) {
        let (r, g, b) = match channels {
            1 | 2 => (px[0], px[0], px[0]),
            _ => (px[0], px[1], px[2]),
        };
        rgb.extend([r, g, b]);
        gray.push((0.299 * r as f64 + 0.587 * g as f64 + 0.114 * b as f64).round().clamp(0.0, 255.0) as u8);
    }
    Ok((w, h, gray, rgb))
}

#[cfg(not(feature = "images"))]
fn decode_image(path: &Path) -> Result<(usize, usize, Vec<u8>, Vec<u8>), Error> {
    Err(io_err(path, "images need quantlens's `images` feature (PNG/JPEG decoding); give an .npy instead"))
}

/// Resize an interleaved `c`-channel image with a box filter (the mean of the
/// source pixels whose centres fall in each target pixel; the nearest source
/// pixel when none does, i.e. when enlarging).
fn resize_box(src: &[u8], sw: usize, sh: usize, c: usize, tw: usize, th: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(tw * th * c);
    for ty in 0..th {
        let (y0, y1) = (ty * sh / th, ((ty + 1) * sh).div_ceil(th).max(ty * sh / th + 1).min(sh));
        for tx in 0..tw {
            let (x0, x1) = (tx * sw / tw, ((tx + 1) * sw).div_ceil(tw).max(tx * sw / tw + 1).min(sw));
            for ch in 0..c {
                let (mut sum, mut n) = (0u64, 0u64);
                for y in y0..y1 {
                    for x in x0..x1 {
                        sum += src[(y * sw + x) * c + ch] as u64;
                        n += 1;
                    }
                }
                out.push(((sum as f64 / n.max(1) as f64).round()) as u8);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
    }

    #[test]
    fn defaults_are_the_project_model() {
        let s = Setup::from_parts(data(), "mlp_ptq_uint8io", None, None, None, None, None, 3).unwrap();
        assert!(s.is_default);
        assert_eq!(s.sample, 3);
        assert_eq!(s.inputs.len(), 1000);
        assert!(s.label().is_some());
        assert!(s.float_model.is_some());
        assert!(s.golden(Profile::TfliteRef).is_some());
        assert!(s.describe().contains("mlp_ptq_uint8io.tflite"));
    }

    #[test]
    fn another_model_has_its_goldens_and_no_float_model() {
        let m = crate::lessons::model_path(data(), "cnn_ptq_int8");
        let s = Setup::from_parts(data(), "mlp_ptq_uint8io", Some(m), None, None, None, Some(5), 0).unwrap();
        assert_eq!(s.sample, 5);
        assert!(s.float_model.is_none());
        assert!(s.describe().contains("float path is each layer recomputed"));
        assert!(s.golden(Profile::Tflm).is_some());
    }

    #[test]
    fn resize_averages() {
        let src = [0u8, 100, 200, 255];
        assert_eq!(resize_box(&src, 2, 2, 1, 1, 1), vec![139]);
        assert_eq!(resize_box(&[7u8], 1, 1, 1, 2, 2), vec![7, 7, 7, 7]);
    }

    #[test]
    fn sample_out_of_range_is_an_error() {
        let e = Setup::from_parts(data(), "mlp_ptq_uint8io", None, None, None, None, Some(5000), 0).unwrap_err();
        assert!(e.to_string().contains("5000"), "{e}");
    }
}
