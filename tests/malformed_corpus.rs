//! A corpus of malformed models, generated here from the committed models
//! (`data/models/*.tflite`) and from small models built in code.
//!
//! Every case goes through `Model::from_bytes` → `Plan::new` → `plan.run`
//! on a zero input of the right shape, and must end in either success or an
//! `Err` whose one-line message names the problem — never a panic — within
//! one second and a bounded amount of memory (measured by a counting global
//! allocator: the peak above the case's start must stay under
//! 64 MiB + 8 × the file size + twice the bytes of the input the file
//! declares — a valid file may declare a large input, say a 1-megapixel-wide
//! image a RESIZE_BILINEAR takes, and then the zero input made here and the
//! engine's copy of it are that large).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use quantlens::model::{OpKind, Options};
use quantlens::{Model, Plan, Profile, Value};

// ---------------------------------------------------------------------------
// Counting allocator (per thread: the test harness runs tests in parallel)
// ---------------------------------------------------------------------------

struct Counting;

thread_local! {
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = CURRENT.try_with(|c| {
        let now = c.get() + delta;
        c.set(now);
        let _ = PEAK.try_with(|p| {
            if now > p.get() {
                p.set(now)
            }
        });
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Run `f`, returning its result, the peak bytes allocated above the start
/// (on this thread) and the time it took.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, Duration) {
    let start = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let t0 = Instant::now();
    let out = f();
    let elapsed = t0.elapsed();
    let peak = PEAK.with(Cell::get) - start;
    (out, peak.max(0) as usize, elapsed)
}

// ---------------------------------------------------------------------------
// One case: read → plan → run
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Stage {
    /// `Model::from_bytes` refused the file.
    Read,
    /// `Plan::new` refused the model.
    Plan,
    /// `plan.run` refused.
    Run,
    /// Everything succeeded.
    Ok,
}

#[derive(Debug)]
struct Outcome {
    stage: Stage,
    message: String,
}

const TIME_LIMIT: Duration = Duration::from_secs(1);

fn memory_limit(file_len: usize) -> usize {
    (64 << 20) + 8 * file_len + 2 * INPUT_BYTES.with(Cell::get)
}

thread_local! {
    /// The bytes of the input of the case being run (0 until its plan exists).
    static INPUT_BYTES: Cell<usize> = const { Cell::new(0) };
}

fn plan_and_run(model: Model, profile: Profile) -> Outcome {
    let plan = match Plan::new(model, profile) {
        Ok(p) => p,
        Err(e) => return Outcome { stage: Stage::Plan, message: e.to_string() },
    };
    let t = &plan.model.tensors[plan.input()];
    INPUT_BYTES.with(|b| b.set(t.num_elements() * t.dtype.size()));
    let x = Value::zeros(t.dtype, &t.shape);
    match plan.run(&x) {
        Ok(_) => Outcome { stage: Stage::Ok, message: String::new() },
        Err(e) => Outcome { stage: Stage::Run, message: e.to_string() },
    }
}

fn from_bytes(bytes: &[u8], profile: Profile) -> Outcome {
    match Model::from_bytes(bytes) {
        Ok(model) => plan_and_run(model, profile),
        Err(e) => Outcome { stage: Stage::Read, message: e.to_string() },
    }
}

/// Run one case under the time and memory limits; a panic, a slow case or
/// one that allocates too much fails the test with the case's name.
fn run_case(name: &str, size: usize, f: impl FnOnce() -> Outcome) -> Outcome {
    INPUT_BYTES.with(|b| b.set(0));
    let (result, peak, elapsed) = measure(|| catch_unwind(AssertUnwindSafe(f)));
    let outcome = match result {
        Ok(o) => o,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{name}: PANIC: {msg}");
        }
    };
    assert!(elapsed < TIME_LIMIT, "{name}: took {elapsed:?}");
    assert!(peak < memory_limit(size), "{name}: peak allocation {peak} bytes for a {size}-byte file");
    if outcome.stage != Stage::Ok {
        assert!(!outcome.message.is_empty(), "{name}: empty error message");
        assert!(!outcome.message.contains('\n'), "{name}: multi-line error: {}", outcome.message);
    }
    outcome
}

fn case_bytes(name: &str, bytes: &[u8], profile: Profile) -> Outcome {
    run_case(name, bytes.len(), || from_bytes(bytes, profile))
}

/// A case that must fail, in every profile, with a message containing every
/// one of `words`.
fn expect_err(name: &str, bytes: &[u8], words: &[&str]) {
    for profile in Profile::ALL {
        let o = case_bytes(name, bytes, profile);
        assert_ne!(o.stage, Stage::Ok, "{name} [{profile}]: accepted");
        for w in words {
            assert!(o.message.contains(w), "{name} [{profile}]: {:?} should mention {w:?}", o.message);
        }
    }
}

/// Model-level variant: a `Model` edited in code (the engine's own view).
fn expect_plan_err(name: &str, model: &Model, words: &[&str]) {
    let size = model_bytes(model);
    for profile in Profile::ALL {
        let m = model.clone();
        let o = run_case(name, size, || plan_and_run(m, profile));
        assert_eq!(o.stage, Stage::Plan, "{name} [{profile}]: {o:?}");
        for w in words {
            assert!(o.message.contains(w), "{name} [{profile}]: {:?} should mention {w:?}", o.message);
        }
    }
}

fn model_bytes(m: &Model) -> usize {
    m.tensors.iter().map(|t| t.data.as_ref().map_or(0, Vec::len) + 64).sum()
}

// ---------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------

fn models_dir() -> PathBuf {
    root().join("data/models")
}

/// The committed models, by file name (sorted). Fails if there are none.
fn real_models() -> Vec<(String, Vec<u8>)> {
    let mut paths: Vec<_> = std::fs::read_dir(models_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tflite"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 4, "the committed models are missing");
    paths.into_iter().map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())).collect()
}

fn primary() -> Vec<u8> {
    std::fs::read(models_dir().join("mlp_ptq_uint8io.tflite")).unwrap()
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_i32(bytes: &mut [u8], at: usize, v: i32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_f32(bytes: &mut [u8], at: usize, v: f32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_i64(bytes: &mut [u8], at: usize, v: i64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Copy of `bytes` with `edit` applied through a locator over the original.
fn patched(bytes: &[u8], edit: impl FnOnce(&Locator, &mut Vec<u8>)) -> Vec<u8> {
    let mut out = bytes.to_vec();
    edit(&Locator(bytes), &mut out);
    out
}

// ---------------------------------------------------------------------------
// The committed models themselves pass, within the limits
// ---------------------------------------------------------------------------

#[test]
fn committed_and_small_models_run_within_the_limits() {
    // (The transformer op-coverage models `tops_*` run too since quantlens
    // has int8 LOG_SOFTMAX and float32 GELU.)
    for (name, bytes) in real_models() {
        for profile in Profile::ALL {
            let o = case_bytes(&name, &bytes, profile);
            // TFLM refuses the legacy uint8 model's SOFTMAX; quantlens runs it in every profile.
            assert_eq!(o.stage, Stage::Ok, "{name} [{profile}]: {}", o.message);
        }
    }
    for (name, spec) in small_models() {
        for profile in Profile::ALL {
            let o = case_bytes(name, &build(&spec), profile);
            assert_eq!(o.stage, Stage::Ok, "{name} [{profile}]: {}", o.message);
        }
    }
}

// ---------------------------------------------------------------------------
// Not a model at all
// ---------------------------------------------------------------------------

#[test]
fn not_a_model() {
    expect_err("empty", &[], &["empty"]);
    for n in 1..8 {
        expect_err(&format!("{n} bytes"), &primary()[..n], &["too short"]);
    }
    let mut wrong_ident = primary();
    wrong_ident[4..8].copy_from_slice(b"TFL2");
    expect_err("identifier TFL2", &wrong_ident, &["file identifier", "TFL2"]);
    let mut no_ident = primary();
    no_ident[4..8].copy_from_slice(&[0, 0, 0, 0]);
    expect_err("identifier zeroed", &no_ident, &["file identifier"]);
    expect_err("png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10", &["not a TFLite model"]);
    expect_err("elf", b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0>\0", &["not a TFLite model"]);
    expect_err("npy", b"\x93NUMPY\x01\0v\0{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", &["not a TFLite model"]);
    expect_err("text", b"this is not a model, it is a sentence about one", &["not a TFLite model"]);
    let mut zeros = vec![0u8; 4096];
    zeros[4..8].copy_from_slice(b"TFL3");
    // Root offset 0: the root "table" is the header itself.
    expect_err("zeros with TFL3", &zeros, &["no subgraph"]);
    let mut ones = vec![0xffu8; 4096];
    ones[4..8].copy_from_slice(b"TFL3");
    expect_err("0xff with TFL3", &ones, &["malformed"]);
    let mut rng = XorShift(0x5eed_0001);
    for i in 0..200 {
        let len = 8 + rng.below(2048);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        bytes[4..8].copy_from_slice(b"TFL3");
        // Random root offsets mostly point outside the file; some inside.
        put_u32(&mut bytes, 0, (rng.below(len)) as u32);
        let o = case_bytes(&format!("random {i}"), &bytes, Profile::ALL[i % 4]);
        assert_eq!(o.stage, Stage::Read, "random {i}: {o:?}");
    }
}

// ---------------------------------------------------------------------------
// Truncations
// ---------------------------------------------------------------------------

#[test]
fn truncations() {
    let mut files = real_models();
    files.extend(small_models().into_iter().map(|(n, s)| (n.to_string(), build(&s))));
    let mut count = 0;
    for (fi, (name, bytes)) in files.iter().enumerate() {
        let len = bytes.len();
        let mut cuts: Vec<usize> = (0..len.min(96)).collect();
        cuts.extend((1..160).map(|k| k * len / 160));
        cuts.extend(len.saturating_sub(64)..len);
        cuts.sort_unstable();
        cuts.dedup();
        for cut in cuts {
            let o = case_bytes(&format!("{name} cut at {cut}"), &bytes[..cut], Profile::ALL[(fi + cut) % 4]);
            assert_eq!(o.stage, Stage::Read, "{name} truncated at {cut} of {len} was accepted");
            count += 1;
        }
    }
    assert!(count > 2000, "{count} truncations");
}

// ---------------------------------------------------------------------------
// Random bit flips
// ---------------------------------------------------------------------------

/// Flip 1–4 random bits per case, 9 in 10 of them outside the weight data
/// (which is most of a real file, and where any flip is a valid model).
fn flip_corpus(name: &str, clean: &[u8], cases: usize, seed: u64) -> [usize; 4] {
    let data = Locator(clean).data_ranges();
    let in_data = |i: usize| data.iter().any(|r| r.contains(&i));
    let structure: Vec<usize> = (0..clean.len()).filter(|&i| !in_data(i)).collect();
    let mut rng = XorShift(seed);
    let mut stages = [0usize; 4];
    for case in 0..cases {
        let mut bytes = clean.to_vec();
        for _ in 0..1 + rng.below(4) {
            let byte = if rng.below(10) == 0 { rng.below(bytes.len()) } else { structure[rng.below(structure.len())] };
            bytes[byte] ^= 1 << rng.below(8);
        }
        let o = case_bytes(&format!("{name} flip case {case} (seed {seed:#x})"), &bytes, Profile::ALL[case % 4]);
        stages[o.stage as usize] += 1;
    }
    stages
}

#[test]
fn bit_flips_in_the_committed_models() {
    let mut total = [0usize; 4];
    let models = real_models();
    for (i, (name, bytes)) in models.iter().enumerate() {
        let s = flip_corpus(name, bytes, 800, 0xb17f_11b5 + i as u64);
        for k in 0..4 {
            total[k] += s[k];
        }
    }
    // Each of these stages must be reached, or the flips are not exercising anything.
    assert!(total[Stage::Read as usize] > 0 && total[Stage::Plan as usize] > 0 && total[Stage::Ok as usize] > 0, "{total:?}");
    assert_eq!(total.iter().sum::<usize>(), 800 * models.len());
}

#[test]
fn bit_flips_in_small_models() {
    let mut total = [0usize; 4];
    for (i, (name, spec)) in small_models().into_iter().enumerate() {
        let s = flip_corpus(name, &build(&spec), 1500, 0x5a11_f11b + i as u64);
        for k in 0..4 {
            total[k] += s[k];
        }
    }
    assert!(total[Stage::Read as usize] > 0 && total[Stage::Plan as usize] > 0 && total[Stage::Ok as usize] > 0, "{total:?}");
}

// ---------------------------------------------------------------------------
// Targeted corruptions of the primary model (mlp_ptq_uint8io.tflite):
//   t0 pixels UINT8 [1,784] → op0 QUANTIZE → t7 INT8 → op1 FC(t6 W [512,784], t5 b)
//   → t8 → op2 FC(t4, t3) → t9 → op3 FC(t2, t1) → t10 → op4 SOFTMAX → t11
//   → op5 QUANTIZE → t12 UINT8 [1,10]
// ---------------------------------------------------------------------------

use common::field;

fn tensor_field(l: &Locator, k: usize, id: u16) -> usize {
    l.field(l.tensor(k), id).unwrap_or_else(|| panic!("tensor {k} field {id} is not stored"))
}

fn shape_dim(l: &Locator, k: usize, axis: usize) -> usize {
    let v = l.follow(l.tensor(k), field::tensor::SHAPE).unwrap();
    l.elem(v, axis, 4)
}

fn op_input(l: &Locator, op: usize, i: usize) -> usize {
    let v = l.follow(l.operator(op), field::operator::INPUTS).unwrap();
    l.elem(v, i, 4)
}

fn op_output(l: &Locator, op: usize, i: usize) -> usize {
    let v = l.follow(l.operator(op), field::operator::OUTPUTS).unwrap();
    l.elem(v, i, 4)
}

fn scale_at(l: &Locator, k: usize, i: usize) -> usize {
    let v = l.follow(l.quantization(k), field::quant::SCALE).unwrap();
    l.elem(v, i, 4)
}

fn zero_point_at(l: &Locator, k: usize, i: usize) -> usize {
    let v = l.follow(l.quantization(k), field::quant::ZERO_POINT).unwrap();
    l.elem(v, i, 8)
}

#[test]
fn out_of_range_indices() {
    let p = primary();
    let b = patched(&p, |l, b| put_u32(b, tensor_field(l, 6, field::tensor::BUFFER), 9999));
    expect_err("buffer index", &b, &["tensor 6 (mlp_1/fc1_1/MatMul) buffer", "index 9999 is out of range"]);
    let b = patched(&p, |l, b| put_i32(b, op_input(l, 1, 0), 999));
    expect_err("op input index", &b, &["operator 1 (FULLY_CONNECTED) input 0", "index 999 is out of range (there are 13)"]);
    let b = patched(&p, |l, b| put_i32(b, op_input(l, 1, 2), -7));
    expect_err("op input -7", &b, &["operator 1 (FULLY_CONNECTED) input 2", "index -7"]);
    let b = patched(&p, |l, b| put_i32(b, op_output(l, 2, 0), 13));
    expect_err("op output index", &b, &["operator 2 (FULLY_CONNECTED) output 0", "index 13"]);
    let b = patched(&p, |l, b| put_u32(b, l.field(l.operator(1), field::operator::OPCODE_INDEX).unwrap(), 200));
    expect_err("opcode index", &b, &["operator 1 opcode_index", "index 200"]);
    let b = patched(&p, |l, b| {
        let v = l.follow(l.subgraph(0), field::subgraph::INPUTS).unwrap();
        put_i32(b, l.elem(v, 0, 4), 13)
    });
    expect_err("graph input index", &b, &["graph input 0", "index 13"]);
    let b = patched(&p, |l, b| {
        let v = l.follow(l.subgraph(0), field::subgraph::OUTPUTS).unwrap();
        put_i32(b, l.elem(v, 0, 4), -1)
    });
    expect_err("graph output index", &b, &["graph output 0", "index -1"]);
}

#[test]
fn shapes() {
    let p = primary();
    // Weights [512, 784] → [512, 783]: the buffer no longer fits.
    let b = patched(&p, |l, b| put_i32(b, shape_dim(l, 6, 1), 783));
    expect_err("weights shape vs buffer", &b, &["tensor 6 (mlp_1/fc1_1/MatMul)", "holds 401408 bytes", "needs 400896"]);
    // An activation's shape no longer matches its producer.
    let b = patched(&p, |l, b| put_i32(b, shape_dim(l, 8, 1), 511));
    expect_err("activation shape", &b, &["operator 1 (FULLY_CONNECTED)", "output tensor 8"]);
    for (d, words) in [(-512, "negative"), (i32::MIN, "negative"), (-1, "negative")] {
        let b = patched(&p, |l, b| put_i32(b, shape_dim(l, 8, 1), d));
        expect_err(&format!("dim {d}"), &b, &["tensor 8", words]);
    }
    // 2^31 − 1 elements: a legal count, but not this graph (and not to be allocated).
    for k in [0, 7, 8, 12] {
        let b = patched(&p, |l, b| put_i32(b, shape_dim(l, k, 1), i32::MAX));
        expect_err(&format!("t{k} [1, 2^31-1]"), &b, &[]);
    }
    // 2^16 · 2^15 = 2^31 elements: more than TFLite can count.
    let b = patched(&p, |l, b| {
        put_i32(b, shape_dim(l, 8, 0), 1 << 16);
        put_i32(b, shape_dim(l, 8, 1), 1 << 15);
    });
    expect_err("2^31 elements", &b, &["tensor 8", "more than 2147483647 elements"]);
    // Weights [2^31 − 1, 784]: overflow of the element count.
    let b = patched(&p, |l, b| put_i32(b, shape_dim(l, 6, 0), i32::MAX));
    expect_err("weights 2^31-1 rows", &b, &["tensor 6", "elements"]);
}

#[test]
fn quantized_tensor_without_quantization() {
    let p = primary();
    // An empty scale vector means "not quantized" (as TFLite reads it).
    for (k, op, role) in [(8, "operator 1 (FULLY_CONNECTED)", "output tensor 8"), (7, "operator 0 (QUANTIZE)", "output tensor 7"), (10, "operator 3 (FULLY_CONNECTED)", "output tensor 10")] {
        let b = patched(&p, |l, b| {
            let v = l.follow(l.quantization(k), field::quant::SCALE).unwrap();
            put_u32(b, v, 0);
        });
        expect_err(&format!("t{k} scale vector emptied"), &b, &[op, role, "no quantization parameters"]);
    }
    // The same, as the engine sees it: a Model whose tensor has lost its quantization.
    let m = Model::from_bytes(&p).unwrap();
    let cases = [
        (0, "operator 0 (QUANTIZE): input tensor 0 (pixels) is UINT8 but has no quantization parameters"),
        (6, "operator 1 (FULLY_CONNECTED): weights tensor 6 (mlp_1/fc1_1/MatMul) is INT8 but has no quantization parameters"),
        (9, "operator 2 (FULLY_CONNECTED): output tensor 9"),
        (11, "operator 4 (SOFTMAX): output tensor 11"),
        (12, "operator 5 (QUANTIZE): output tensor 12"),
    ];
    for (k, words) in cases {
        let mut m = m.clone();
        m.tensors[k].quant = None;
        expect_plan_err(&format!("model t{k} quant None"), &m, &[words]);
    }
}

#[test]
fn quantization_parameters() {
    let p = primary();
    // Per-channel weights: 511 (scale, zero point) pairs for 512 rows.
    let b = patched(&p, |l, b| {
        let q = l.quantization(6);
        put_u32(b, l.follow(q, field::quant::SCALE).unwrap(), 511);
        put_u32(b, l.follow(q, field::quant::ZERO_POINT).unwrap(), 511);
    });
    expect_err("511 channels", &b, &["tensor 6 (mlp_1/fc1_1/MatMul)", "511 scales but dimension 0 has size 512"]);
    let b = patched(&p, |l, b| put_u32(b, l.follow(l.quantization(6), field::quant::SCALE).unwrap(), 511));
    expect_err("511 scales, 512 zero points", &b, &["tensor 6", "511 scales but 512 zero points"]);
    // Per-channel along the wrong axis.
    if let Some(at) = Locator(&p).field(Locator(&p).quantization(6), field::quant::QUANTIZED_DIMENSION) {
        let b = patched(&p, |_, b| put_i32(b, at, 1));
        expect_err("quantized_dimension 1", &b, &["tensor 6", "dimension 1 has size 784"]);
    }
    // Scales: zero, negative, NaN, ±∞, on an activation and on a weight channel.
    for (s, words) in [(0.0, "scale[0] is 0"), (-0.5, "scale[0] is -0.5"), (f32::NAN, "NaN"), (f32::INFINITY, "inf"), (f32::NEG_INFINITY, "-inf")] {
        let b = patched(&p, |l, b| put_f32(b, scale_at(l, 8, 0), s));
        expect_err(&format!("t8 scale {s}"), &b, &["tensor 8", words, "finite and > 0"]);
        let b = patched(&p, |l, b| put_f32(b, scale_at(l, 6, 300), s));
        expect_err(&format!("t6 scale[300] {s}"), &b, &["tensor 6", "scale[300]"]);
    }
    // Zero points outside the dtype.
    for (k, z, dtype) in [(7, 128, "INT8"), (7, -129, "INT8"), (0, 256, "UINT8"), (0, -1, "UINT8"), (5, 1 << 40, "INT32"), (6, 200, "INT8")] {
        let b = patched(&p, |l, b| put_i64(b, zero_point_at(l, k, 0), z));
        expect_err(&format!("t{k} zero point {z}"), &b, &[&format!("tensor {k}"), &format!("zero_point[0] is {z}"), dtype]);
    }
}

#[test]
fn graph_order_and_ownership() {
    let p = primary();
    // FC 1 reads t9, which FC 2 only produces later.
    let b = patched(&p, |l, b| put_i32(b, op_input(l, 1, 0), 9));
    expect_err("not yet produced", &b, &["operator 1 (FULLY_CONNECTED) reads tensor 9", "no earlier operator produced"]);
    // The first op reads its own output.
    let b = patched(&p, |l, b| put_i32(b, op_input(l, 0, 0), 7));
    expect_err("reads own output", &b, &["operator 0 (QUANTIZE) reads tensor 7"]);
    // An op writes the graph input, a constant, or a tensor already written.
    let b = patched(&p, |l, b| put_i32(b, op_output(l, 0, 0), 0));
    expect_err("writes the input", &b, &["operator 0 (QUANTIZE)", "writes tensor 0 (pixels)", "graph input"]);
    let b = patched(&p, |l, b| put_i32(b, op_output(l, 1, 0), 6));
    expect_err("writes a constant", &b, &["operator 1 (FULLY_CONNECTED)", "writes tensor 6", "constant"]);
    let b = patched(&p, |l, b| put_i32(b, op_output(l, 2, 0), 8));
    expect_err("writes twice", &b, &["operator 2 (FULLY_CONNECTED)", "writes tensor 8", "already written"]);
    // The graph output is a constant.
    let b = patched(&p, |l, b| {
        let v = l.follow(l.subgraph(0), field::subgraph::OUTPUTS).unwrap();
        put_i32(b, l.elem(v, 0, 4), 1)
    });
    expect_err("output is a constant", &b, &["graph output 0 is tensor 1", "constant"]);
    // An op of a kind quantlens does not run (LSH_PROJECTION = 15; vit: GATHER = 36 runs now).
    let b = patched(&p, |l, b| {
        let v = l.follow(l.root(), field::model::OPERATOR_CODES).unwrap();
        let code = l.table_elem(v, 0);
        let at = l.field(code, 3).unwrap(); // builtin_code
        put_i32(b, at, 15);
        b[l.field(code, 0).unwrap()] = 15;
    });
    expect_err("unsupported op", &b, &["(LSH_PROJECTION): quantlens has no kernel"]);
}

#[test]
fn softmax_beta() {
    let p = primary();
    let beta_at = |l: &Locator| {
        let opts = l.follow(l.operator(4), field::operator::BUILTIN_OPTIONS).unwrap();
        l.field(opts, 0).unwrap()
    };
    for beta in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -1.0] {
        let b = patched(&p, |l, b| put_f32(b, beta_at(l), beta));
        expect_err(&format!("beta {beta}"), &b, &["operator 4 (SOFTMAX)", "beta"]);
    }
    // β = 0 (the schema default) cannot be written as a fixed-point multiplier > 1.
    let b = patched(&p, |l, b| put_f32(b, beta_at(l), 0.0));
    let o = case_bytes("beta 0 tflite-ref", &b, Profile::TfliteRef);
    assert!(o.stage == Stage::Plan && o.message.contains("too small"), "{o:?}");
    assert_eq!(case_bytes("beta 0 builtin", &b, Profile::TfliteBuiltin).stage, Stage::Ok);
    // A huge β is fine (the multiplier saturates at 2^31 − 1, as in TFLite).
    let b = patched(&p, |l, b| put_f32(b, beta_at(l), 1e30));
    for profile in Profile::ALL {
        assert_eq!(case_bytes("beta 1e30", &b, profile).stage, Stage::Ok);
    }
}

#[test]
fn subgraphs() {
    // Several subgraphs are read (control-flow bodies live there); subgraph 0 runs.
    let mut spec = chain_uint8io();
    for count in [2, 5] {
        spec.subgraphs = count;
        let m = quantlens::Model::from_bytes(&build(&spec)).unwrap();
        assert_eq!(m.subgraphs.len(), count - 1);
        for profile in Profile::ALL {
            quantlens::Plan::new(m.clone(), profile).unwrap();
        }
    }
    spec.subgraphs = 0;
    expect_err("0 subgraphs", &build(&spec), &["no subgraph"]);
    // The primary model with its subgraph count patched to 2: the second
    // offset points at garbage, which the verifier catches.
    let b = patched(&primary(), |l, b| put_u32(b, l.follow(l.root(), field::model::SUBGRAPHS).unwrap(), 2));
    expect_err("subgraph count patched", &b, &[]);
}

// ---------------------------------------------------------------------------
// Small models built in code: cases the real files cannot express
// ---------------------------------------------------------------------------

#[test]
fn graph_shape_cases_on_small_models() {
    // No graph output.
    let mut s = chain_uint8io();
    s.outputs.clear();
    expect_err("no output", &build(&s), &["no graph output"]);
    // Two graph inputs.
    let mut s = chain_uint8io();
    s.inputs = vec![0, 3];
    expect_err("two inputs", &build(&s), &["2 inputs"]);
    // An output nobody writes.
    let mut s = chain_uint8io();
    s.tensors.push(t("orphan", &[1, 3], UINT8, 0, q(&[0.1], &[0])));
    s.outputs = vec![7];
    expect_err("orphan output", &build(&s), &["graph output 0 is tensor 7 (orphan)", "no operator produces it"]);
    // An operator without outputs / without inputs.
    let mut s = chain_uint8io();
    s.ops[0].outputs.clear();
    expect_err("op without outputs", &build(&s), &["operator 0 (QUANTIZE)"]);
    let mut s = chain_uint8io();
    s.ops[1].inputs = vec![3];
    expect_err("FC without weights", &build(&s), &["operator 1 (FULLY_CONNECTED): input 1 is missing"]);
    // QUANTIZE / DEQUANTIZE with a different element count on each side.
    let mut s = dequant_requant();
    s.tensors[1].shape = vec![1, 5];
    expect_err("dequantize sizes", &build(&s), &["operator 0 (DEQUANTIZE)", "same number of elements"]);
    let mut s = dequant_requant();
    s.tensors[2].shape = vec![2, 4];
    expect_err("quantize sizes", &build(&s), &["operator 1 (QUANTIZE)", "same number of elements"]);
    // DEQUANTIZE of a float tensor.
    let mut s = dequant_requant();
    s.tensors[0] = t("f", &[1, 4], FLOAT32, 0, q(&[0.1], &[0]));
    expect_err("dequantize float", &build(&s), &["operator 0 (DEQUANTIZE)", "input dtype FLOAT32"]);
    // A per-channel scale count that does not match the channel dimension.
    let mut s = chain_uint8io();
    s.tensors[1].quant = q(&[0.01, 0.02], &[0, 0]);
    expect_err("2 scales for 3 channels", &build(&s), &["tensor 1 (weights)", "2 scales but dimension 0 has size 3"]);
}

#[test]
fn extreme_but_valid_scales_run_without_panicking() {
    // Tiny and huge scales are finite and positive, so the file is valid;
    // the arithmetic must saturate, not overflow.
    for (k, scale) in [(4, 1e-45f32), (4, 3e38), (3, 1e-45), (3, 3e38), (1, 1e-45), (1, 3e38), (0, 1e-45), (6, 1e-45)] {
        for act in [0, 1, 2, 3] {
            let mut s = chain_uint8io();
            s.ops[1].options = OptSpec::Fc { activation: act };
            s.tensors[k].quant.as_mut().unwrap().scale = vec![scale; s.tensors[k].quant.as_ref().unwrap().scale.len()];
            let bytes = build(&s);
            for profile in Profile::ALL {
                let o = case_bytes(&format!("t{k} scale {scale} act {act}"), &bytes, profile);
                assert_ne!(o.stage, Stage::Read, "{o:?}");
            }
        }
    }
}

#[test]
fn huge_declared_tensors_are_refused_before_allocation() {
    // int8 [2^28] → QUANTIZE → int8 [2^28]: a few hundred bytes of file
    // asking for gigabytes. Refused by the plan's memory limit, without
    // allocating (the counting allocator checks that).
    let s = Spec {
        codes: vec![QUANTIZE],
        tensors: vec![t("in", &[1 << 28], INT8, 0, q(&[0.1], &[0])), t("out", &[1 << 28], INT8, 0, q(&[0.2], &[0]))],
        ops: vec![op(0, &[0], &[1], OptSpec::None)],
        inputs: vec![0],
        outputs: vec![1],
        buffers: vec![vec![]],
        subgraphs: 1,
    };
    expect_err("2^28 activations", &build(&s), &["needs about", "above the limit of 1073741824 bytes", "tensor 0 (in)"]);
    // A thousand FULLY_CONNECTED ops sharing one weight tensor: each would
    // prepare its own widened copy.
    let mut s = Spec {
        codes: vec![FULLY_CONNECTED],
        tensors: vec![t("x0", &[1, 1024], INT8, 0, q(&[0.1], &[0])), t("w", &[1024, 1024], INT8, 1, q(&[0.01], &[0]))],
        ops: vec![],
        inputs: vec![0],
        outputs: vec![],
        buffers: vec![vec![], vec![1u8; 1 << 20]],
        subgraphs: 1,
    };
    for i in 1..=1000 {
        s.tensors.push(t(&format!("x{i}"), &[1, 1024], INT8, 0, q(&[0.1], &[0])));
        let (input, output) = (if i == 1 { 0 } else { i }, i + 1);
        s.ops.push(op(0, &[input, 1, -1], &[output], OptSpec::Fc { activation: 0 }));
    }
    s.outputs = vec![1001];
    expect_err("1000 FCs sharing weights", &build(&s), &["needs about", "prepared weights"]);
    // The limit is the caller's to choose.
    use quantlens::plan::Limits;
    let m = Model::from_bytes(&primary()).unwrap();
    let err = Plan::with_limits(m.clone(), Profile::Tflm, Limits { max_bytes: 1 << 20 }).unwrap_err();
    assert!(matches!(err, quantlens::EngineError::TooLarge { limit: 1048576, .. }), "{err}");
    Plan::with_limits(m, Profile::Tflm, Limits { max_bytes: 64 << 20 }).unwrap();
}

// ---------------------------------------------------------------------------
// Models edited in code: Plan::new must validate what the reader guaranteed
// ---------------------------------------------------------------------------

#[test]
fn models_edited_in_code() {
    let m = Model::from_bytes(&primary()).unwrap();
    let mut e = m.clone();
    e.operators[1].inputs[0] = Some(99);
    expect_plan_err("op input 99", &e, &["operator 1 (FULLY_CONNECTED) input 0", "index 99 is out of range"]);
    let mut e = m.clone();
    e.outputs = vec![13];
    expect_plan_err("output 13", &e, &["graph output 0", "index 13"]);
    let mut e = m.clone();
    e.tensors[6].shape = vec![512, 785];
    expect_plan_err("weights reshaped", &e, &["tensor 6", "needs 401920"]);
    let mut e = m.clone();
    e.tensors[6].quant.as_mut().unwrap().zero_point.pop();
    expect_plan_err("zero point popped", &e, &["tensor 6", "512 scales but 511 zero points"]);
    let mut e = m.clone();
    e.tensors[8].quant.as_mut().unwrap().scale[0] = f32::NAN;
    expect_plan_err("NaN scale", &e, &["tensor 8", "NaN"]);
    let mut e = m.clone();
    e.tensors[7].quant.as_mut().unwrap().zero_point[0] = 500;
    expect_plan_err("zero point 500", &e, &["tensor 7", "zero_point[0] is 500"]);
    let mut e = m.clone();
    e.tensors[6].quant.as_mut().unwrap().quantized_dimension = 7;
    expect_plan_err("quantized_dimension 7", &e, &["tensor 6", "quantized_dimension 7"]);
    let mut e = m.clone();
    e.tensors[6].quant.as_mut().unwrap().quantized_dimension = 1;
    expect_plan_err("quantized_dimension 1", &e, &["tensor 6", "dimension 1 has size 784"]);
    let mut e = m.clone();
    e.tensors.swap(3, 4);
    expect_plan_err("tensors swapped", &e, &["tensor 3", "index field is 4"]);
    let mut e = m.clone();
    e.operators[4].options = Options::Softmax { beta: f32::NAN };
    expect_plan_err("beta NaN", &e, &["operator 4 (SOFTMAX)", "beta is NaN"]);
    let mut e = m.clone();
    e.operators[2].kind = OpKind::Softmax;
    expect_plan_err("FC turned into SOFTMAX", &e, &["operator 2 (SOFTMAX)"]);
}

/// Thousands of random edits of the committed models' `Model`s.
#[test]
fn random_edits_of_models() {
    let mut rng = XorShift(0x3d17_5eed);
    let models: Vec<(String, Model)> = real_models().into_iter().map(|(n, b)| (n, Model::from_bytes(&b).unwrap())).collect();
    let kinds = [OpKind::FullyConnected, OpKind::Softmax, OpKind::Quantize, OpKind::Dequantize, OpKind::Reshape, OpKind::Other(36)];
    let mut stages = [0usize; 4];
    for case in 0..2400 {
        let (name, base) = &models[case % models.len()];
        let mut m = base.clone();
        let n_t = m.tensors.len();
        for _ in 0..1 + rng.below(3) {
            let k = rng.below(n_t);
            let o = rng.below(m.operators.len());
            match rng.below(12) {
                0 => {
                    let i = rng.below(m.operators[o].inputs.len());
                    m.operators[o].inputs[i] = Some(rng.below(n_t + 2));
                }
                1 => m.operators[o].outputs[0] = rng.below(n_t + 2),
                2 => m.operators[o].kind = kinds[rng.below(kinds.len())].clone(),
                3 => {
                    let t = &mut m.tensors[k];
                    if !t.shape.is_empty() {
                        let axis = rng.below(t.shape.len());
                        t.shape[axis] = [0, 1, 3, 10, 784, 1 << 20, 1 << 31][rng.below(7)];
                    }
                }
                4 => m.tensors[k].quant = None,
                5 => {
                    if let Some(q) = m.tensors[k].quant.as_mut() {
                        let i = rng.below(q.scale.len());
                        q.scale[i] = [0.0, -1.0, f32::NAN, f32::INFINITY, 1e-45, 3e38, 1.0 / 256.0][rng.below(7)];
                    }
                }
                6 => {
                    if let Some(q) = m.tensors[k].quant.as_mut() {
                        let i = rng.below(q.zero_point.len());
                        q.zero_point[i] = [-129, -128, 0, 127, 128, 255, 256, i64::MIN][rng.below(8)];
                    }
                }
                7 => {
                    let dtypes = [quantlens::DType::F32, quantlens::DType::I8, quantlens::DType::U8, quantlens::DType::I16, quantlens::DType::I32, quantlens::DType::I64, quantlens::DType::Bool];
                    m.tensors[k].dtype = dtypes[rng.below(dtypes.len())];
                }
                8 => m.inputs = vec![rng.below(n_t + 1)],
                9 => m.outputs = vec![rng.below(n_t + 1)],
                10 => {
                    let t = &mut m.tensors[k];
                    if let Some(d) = t.data.as_mut() {
                        d.truncate(d.len() / 2);
                    } else {
                        t.data = Some(vec![7; t.num_elements().min(4096) * t.dtype.size()]);
                    }
                }
                _ => {
                    let beta = [0.0, -1.0, f32::NAN, 1e-30, 1e30][rng.below(5)];
                    if let Some(op) = m.operators.iter_mut().find(|op| op.kind == OpKind::Softmax) {
                        op.options = Options::Softmax { beta };
                    }
                }
            }
        }
        let size = model_bytes(base);
        let o = run_case(&format!("{name} edit case {case}"), size, || plan_and_run(m, Profile::ALL[case % 4]));
        stages[o.stage as usize] += 1;
    }
    assert!(stages[Stage::Plan as usize] > 1000 && stages[Stage::Ok as usize] > 0, "{stages:?}");
}

// ---------------------------------------------------------------------------
// Seeds for the fuzzers (fuzz/README.md): `cargo test --release --test
// malformed_corpus -- --ignored write_fuzz_seeds` rewrites fuzz/seeds/.
// ---------------------------------------------------------------------------

#[test]
#[ignore]
fn write_fuzz_seeds() {
    use quantlens::io::Stacked;
    use quantlens::tensor::Data;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let models = root.join("model");
    std::fs::create_dir_all(&models).unwrap();
    for (name, spec) in small_models() {
        std::fs::write(models.join(format!("{name}.tflite")), build(&spec)).unwrap();
    }
    let npy = root.join("npy");
    std::fs::create_dir_all(&npy).unwrap();
    let arrays = [
        ("u8_2x4", Stacked { shape: vec![2, 4], data: Data::U8((0..8).collect()) }),
        ("i8_1x1x4", Stacked { shape: vec![1, 1, 4], data: Data::I8(vec![-128, -1, 0, 127]) }),
        ("f32_3", Stacked { shape: vec![3], data: Data::F32(vec![0.5, -1.0, f32::NAN]) }),
        ("i64_labels", Stacked { shape: vec![5], data: Data::I64(vec![0, 1, 2, 9, -1]) }),
        ("i32_2x2", Stacked { shape: vec![2, 2], data: Data::I32(vec![i32::MIN, -1, 0, i32::MAX]) }),
        ("i16_0x4", Stacked { shape: vec![0, 4], data: Data::I16(vec![]) }),
        ("bool_2", Stacked { shape: vec![2], data: Data::Bool(vec![true, false]) }),
    ];
    for (name, a) in arrays {
        a.write_npy(&npy.join(format!("{name}.npy"))).unwrap();
    }
}
