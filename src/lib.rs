//! # quantlens — see every integer step of a quantized TFLite model
//!
//! quantlens opens a quantized TensorFlow Lite model, runs it in integer
//! arithmetic exactly as the real runtimes do (LiteRT's reference kernels,
//! its optimized builtins, XNNPACK, TFLite Micro — bit for bit), and shows
//! every step.
//!
//! ## The three equations
//!
//! ```text
//!     r  = S (q − Z)                                    real value of an integer q
//!     q3 = Z3 + M · Σ (q1 − Z1)(q2 − Z2)  (+ bias)      a layer, in integers
//!     M  = S1 · S2 / S3                                 S3 = the OUTPUT tensor's scale
//! ```
//!
//! Every tensor in a `.tflite` file carries its own scale `S` and zero point
//! `Z`; the `S3` of a layer is the scale of the tensor the layer writes.
//! [`quant`] has one function per equation; [`profile`] says how each runtime
//! rounds `M · acc`.
//!
//! ## Data flow
//!
//! ```text
//! .tflite ──Model::from_path──▶ Model ──Plan::new(model, profile)──▶ Plan ──plan.run(input)──▶ Trace
//! ```
//!
//! Two tools sit on top: [`diff`] takes the per-layer outputs of *your* own
//! implementation and names where and why they part from the runtime's, and
//! [`export`] writes the model as integer-only parameters (C header,
//! `$readmemh` hex files, JSON) with golden vectors for a testbench.
//!
//! For speed, [`Plan::run_outputs`], [`Plan::run_batch_outputs`] and a
//! reused [`Workspace`] run the same kernels but keep only the model's output
//! ([`fast`]); the integer kernels pick SIMD at run time ([`ops::KernelPath`]).
//!
//! ```no_run
//! use quantlens::{Model, Plan, Profile};
//! let model = Model::from_path("data/models/mlp_ptq_uint8io.tflite")?;
//! let plan = Plan::new(model, Profile::TfliteRef)?;
//! let images = quantlens::io::read_samples("data/goldens/mlp_ptq_uint8io/input.npy")?;
//! let trace = plan.run(&images.sample(0))?;
//! let fc = plan.fully_connected().next().unwrap().0;
//! println!("{:?}", trace.fc_steps(&plan, fc, 0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "charts")]
pub mod charts;
pub mod diff;
pub mod error;
pub mod fast;
pub mod export;
pub mod io;
pub mod lessons;
pub mod model;
pub mod notebook;
pub mod ops;
pub mod plan;
pub mod profile;
pub mod quant;
#[cfg(feature = "charts")]
pub mod report;
mod run;
pub mod tensor;
pub mod trace;
pub mod verify;
// float: the float32 twin of a convolutional model (issue 11)
pub mod float_twin;
// --- vit ---
pub mod attention;

pub use error::{EngineError, Error, ModelError};
pub use fast::Workspace;
pub use ops::KernelPath;
pub use model::{DType, Model};
pub use plan::Plan;
pub use profile::Profile;
pub use tensor::Value;
pub use trace::Trace;

/// Re-exported so notebook variables have nameable types.
pub use ndarray;
#[cfg(feature = "charts")]
pub use plotters;
