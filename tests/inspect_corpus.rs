//! `quantlens inspect` opens every valid file (issue 11): every file of the
//! reader corpus (`data/corpus`, `scripts/data_reader_corpus.py`) and every
//! committed model exits 0, names every operator (never `BUILTIN_<code>`),
//! states the quantization mode, and marks what `run` cannot execute.

mod common;

use std::path::PathBuf;

use quantlens::model::mode::{detect, Mode};
use quantlens::{DType, Model};

fn files() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["data/corpus", "data/models"] {
        for e in std::fs::read_dir(common::root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "tflite") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

fn inspect(path: &PathBuf) -> String {
    let out = common::bin().arg("inspect").arg(path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    stdout
}

/// One table test that names the failing file.
#[test]
fn inspect_opens_every_corpus_file_and_committed_model() {
    let files = files();
    assert!(files.len() >= 20, "{} files", files.len());
    let mut failures = Vec::new();
    for p in &files {
        let text = inspect(p);
        let model = Model::from_path(p).unwrap();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if text.contains("BUILTIN_") || text.contains("UNKNOWN_OPERATOR") {
            failures.push(format!("{name}: an operator is not named"));
        }
        if !text.contains("quantization mode: ") {
            failures.push(format!("{name}: no quantization mode"));
        }
        // Every operator of every subgraph is listed by index and name.
        let graphs = std::iter::once(&model.operators).chain(model.subgraphs.iter().map(|g| &g.operators));
        for ops in graphs {
            for op in ops {
                let line = format!("{:>4}  {}", op.index, op.kind.name());
                if !text.contains(&line) {
                    failures.push(format!("{name}: no line {line:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn corpus(stem: &str) -> PathBuf {
    let p = common::root().join("data/corpus").join(format!("{stem}.tflite"));
    if p.exists() {
        p
    } else {
        common::model(stem)
    }
}

#[test]
fn modes_of_the_corpus() {
    let cases = [
        ("corpus_dynamic_range", Mode::DynamicRange),
        ("corpus_16x8", Mode::Int16x8),
        ("corpus_float16", Mode::Float16),
        ("mlp_float16", Mode::Float16),
        ("corpus_sparse_float", Mode::Float),
        ("corpus_sparse_int8", Mode::FullInteger),
        ("corpus_while", Mode::Float),
        ("mlp_ptq_uint8io", Mode::FullInteger),
        ("mlp_legacy_uint8", Mode::LegacyUint8),
        ("mlp_float32", Mode::Float),
    ];
    for (stem, mode) in cases {
        let m = Model::from_path(corpus(stem)).unwrap();
        let report = detect(&m);
        assert_eq!(report.mode, mode, "{stem}: {}", report.describe());
        let text = inspect(&corpus(stem));
        assert!(text.contains(&format!("quantization mode: {}", mode.name())), "{stem}");
    }
}

#[test]
fn every_dtype_is_read() {
    let m = Model::from_path(corpus("corpus_every_dtype")).unwrap();
    let dtypes: std::collections::BTreeSet<&str> = m.tensors.iter().map(|t| t.dtype.name()).collect();
    // Every TensorType the converter's schema (TF 2.21) knows: codes 0..=20.
    for d in &DType::ALL[..21] {
        assert!(dtypes.contains(d.name()), "{} missing", d.name());
    }
    let t = |n: &str| m.tensors.iter().find(|t| t.name == n).unwrap();
    assert_eq!(t("dtype_int4").data.as_ref().unwrap().len(), 3, "6 INT4 elements in 3 bytes");
    assert_eq!(t("dtype_int2").data.as_ref().unwrap().len(), 2, "6 INT2 elements in 2 bytes");
    assert_eq!(t("dtype_complex128").data.as_ref().unwrap().len(), 96);
    assert!(matches!(t("dtype_int4").quant_details, Some(quantlens::model::QuantDetails::Blockwise { block_size: 2, .. })));
    assert_eq!(t("dtype_string").data.as_ref().unwrap().len(), 4 * 5 + 11, "count, 4 offsets, 11 bytes");
    let text = inspect(&corpus("corpus_every_dtype"));
    for d in &DType::ALL[..21] {
        assert!(text.contains(d.name()), "{} not shown", d.name());
    }
}

#[test]
fn subgraphs_custom_ops_signatures_and_metadata_are_shown() {
    let text = inspect(&corpus("corpus_while"));
    assert!(text.contains("3 subgraph(s)") && text.contains("SUBGRAPH 1 \"while_cond\"") && text.contains("SUBGRAPH 2 \"while_body\""), "{text}");
    assert!(text.contains("WHILE") && text.contains("CANNOT RUN: operator 0 (WHILE)"), "{text}");
    let text = inspect(&corpus("corpus_if"));
    assert!(text.contains("   2  IF ") && text.contains("SUBGRAPH 2"), "{text}");

    let m = Model::from_path(corpus("corpus_custom_op")).unwrap();
    assert_eq!(m.operators[2].kind, quantlens::model::OpKind::Custom("QuantlensTestSoftmax".into()));
    let text = inspect(&corpus("corpus_custom_op"));
    assert!(text.contains("CUSTOM(QuantlensTestSoftmax)") && text.contains("CANNOT RUN: operator 2 (CUSTOM(QuantlensTestSoftmax))"), "{text}");

    let m = Model::from_path(corpus("corpus_dynamic_range")).unwrap();
    assert_eq!(m.signatures.len(), 1, "from_keras_model writes serving_default");
    assert_eq!(m.signatures[0].key, "serving_default");
    assert!(m.metadata.iter().any(|d| d.name == "min_runtime_version" && d.bytes > 0));
    let text = inspect(&corpus("corpus_dynamic_range"));
    assert!(text.contains("SIGNATURES") && text.contains("\"serving_default\" → subgraph 0") && text.contains("METADATA"), "{text}");
}

#[test]
fn buffers_after_the_flatbuffer_are_read() {
    // `_experimental_use_buffer_offset`: the weights live at Buffer.offset/size.
    let a = Model::from_path(corpus("corpus_buffer_offset")).unwrap();
    let w = a.operators[0].input(1).unwrap();
    assert_eq!(a.tensors[w].data.as_ref().map(Vec::len), Some(16 * 784 * 4));
    assert!(inspect(&corpus("corpus_buffer_offset")).contains("run can execute it: yes"));
}

#[test]
fn sparse_tensors_are_read() {
    let m = Model::from_path(corpus("corpus_sparse_block")).unwrap();
    let t = m.tensors.iter().find(|t| t.sparsity.is_some()).unwrap();
    let sp = t.sparsity.as_ref().unwrap();
    assert_eq!((sp.traversal_order.clone(), sp.block_map.clone()), (vec![0, 1, 2], vec![1]));
    let text = inspect(&corpus("corpus_sparse_block"));
    assert!(text.contains("sparse (") && text.contains("DENSE+SPARSE_CSR+DENSE"), "{text}");
    // The block-sparse FULLY_CONNECTED reads the sparse weights itself: not run.
    assert!(text.contains("only DENSIFY reads sparse tensors"), "{text}");
}

/// `run` on a model with an operator it cannot execute: exit 2, one line
/// naming the operator and its index.
#[test]
fn run_refuses_an_unrunnable_op_in_one_line() {
    let dir = common::tempdir("inspect_corpus", "run");
    let x = dir.join("x.npy");
    let s = quantlens::io::Stacked { shape: vec![1, 784], data: quantlens::tensor::Data::F32(vec![0.5; 784]) };
    s.write_npy(&x).unwrap();
    // dynamic range (issue 11): the hybrid FULLY_CONNECTED of corpus_dynamic_range runs now.
    let out = common::bin().arg("run").arg(corpus("corpus_dynamic_range")).arg("--input").arg(&x).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "corpus_dynamic_range: {}", String::from_utf8_lossy(&out.stderr));
    for (stem, words) in [("corpus_custom_op", "operator 2 (CUSTOM(QuantlensTestSoftmax))")] {
        let out = common::bin().arg("run").arg(corpus(stem)).arg("--input").arg(&x).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stem}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{stem}: {err}");
        assert!(err.contains(words), "{stem}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A tensor name with control characters (newline, carriage return, escape)
/// cannot break an error into several lines, in the library or the CLI.
#[test]
fn names_with_control_characters_stay_on_one_line() {
    let mut spec = common::float_chain();
    spec.tensors[2].name = "w\nsecond line\r\u{1b}[31m".into();
    spec.tensors[2].quant = common::q(&[0.0], &[0]);
    let err = Model::from_bytes(&common::build(&spec)).unwrap_err().to_string();
    assert!(!err.chars().any(char::is_control), "{err:?}");
    assert!(err.contains("tensor 2 (w\\nsecond line\\r\\u{1b}[31m)"), "{err}");

    let dir = common::tempdir("inspect_corpus", "names");
    let p = dir.join("m.tflite");
    std::fs::write(&p, common::build(&spec)).unwrap();
    let out = common::bin().arg("inspect").arg(&p).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr:?}");
    assert!(!stderr.trim_end().chars().any(char::is_control), "{stderr:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A sparse tensor edited in code so that its walk would leave the shape is
/// refused by `Plan::new` (`Model::validate`), not densified out of bounds.
#[test]
fn edited_sparsity_is_refused_by_the_plan() {
    use quantlens::model::DimMetadata;
    let m = Model::from_path(corpus("corpus_sparse_float")).unwrap();
    let k = m.tensors.iter().position(|t| t.sparsity.is_some()).unwrap();
    quantlens::Plan::new(m.clone(), quantlens::Profile::TfliteRef).unwrap();
    let edits: [fn(&mut quantlens::model::Sparsity); 3] = [
        |sp| {
            if let DimMetadata::SparseCsr { segments, .. } = &mut sp.dim_metadata[1] {
                segments.pop();
            }
        },
        |sp| {
            if let DimMetadata::SparseCsr { indices, .. } = &mut sp.dim_metadata[1] {
                indices[0] = 10_000;
            }
        },
        |sp| {
            sp.values.pop();
        },
    ];
    for edit in edits {
        let mut bad = m.clone();
        edit(bad.tensors[k].sparsity.as_mut().unwrap());
        let err = quantlens::Plan::new(bad, quantlens::Profile::TfliteRef).unwrap_err().to_string();
        assert!(err.contains(&format!("tensor {k}")) && err.contains("sparsity"), "{err}");
    }
}

/// STRING constants are checked for TFLite's string-buffer format (count,
/// count + 1 rising offsets, bytes); INT4 buffers hold two elements a byte.
#[test]
fn string_and_packed_buffers_are_checked() {
    let string_buffer = |strings: &[&[u8]]| {
        let head = 4 * (strings.len() + 2);
        let mut offsets = vec![strings.len() as i32];
        let mut at = head;
        for s in strings {
            offsets.push(at as i32);
            at += s.len();
        }
        offsets.push(at as i32);
        let mut b: Vec<u8> = offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
        strings.iter().for_each(|s| b.extend_from_slice(s));
        b
    };
    let with = |dtype: i8, shape: &[i32], bytes: Vec<u8>| {
        let mut spec = common::float_chain();
        spec.buffers.push(bytes);
        let buffer = spec.buffers.len() as u32 - 1;
        spec.tensors.push(common::t("extra", shape, dtype, buffer, None));
        Model::from_bytes(&common::build(&spec))
    };
    const STRING: i8 = 5;
    const INT4: i8 = 17;
    let good = string_buffer(&[b"ab", b"", b"c\n"]);
    let m = with(STRING, &[3], good.clone()).unwrap();
    assert_eq!(m.tensors.last().unwrap().dtype, DType::String);
    // Wrong count, an offset past the end, falling offsets, a truncated table.
    let mut wrong_count = good.clone();
    wrong_count[0] = 2;
    let mut past_end = good.clone();
    past_end[16] = 200;
    let mut falling = good.clone();
    falling[8] = 30;
    for (what, bytes) in [("count", wrong_count), ("past end", past_end), ("falling", falling), ("truncated", good[..10].to_vec())] {
        let err = with(STRING, &[3], bytes).unwrap_err().to_string();
        assert!(err.contains("tensor 6 (extra)") && err.contains("STRING"), "{what}: {err}");
    }
    // INT4: 5 elements in 3 bytes; 2 or 5 bytes are refused.
    assert!(with(INT4, &[5], vec![0x12, 0x34, 0x05]).is_ok());
    for n in [2, 5] {
        let err = with(INT4, &[5], vec![0; n]).unwrap_err().to_string();
        assert!(err.contains("needs 3"), "{err}");
    }
}

/// Fuzz finding (fuzz/README.md, December 2026): RELU6 with a tiny output
/// scale made `Z + round(6 / S)` overflow i64 in prepare (a panic with
/// overflow checks, a wrong clamp bound without). The bound saturates to 127.
#[test]
fn relu6_with_a_tiny_output_scale_clamps_at_127() {
    use quantlens::ops::relu::ReluArith;
    use quantlens::plan::Kernel;
    let mut m = Model::from_path(common::model("ops_ptq_int8")).unwrap();
    let k = m.operators.iter().position(|op| op.kind == quantlens::model::OpKind::Relu6).unwrap();
    let out = m.operators[k].outputs[0];
    let q = m.tensors[out].quant.as_mut().unwrap();
    q.scale = vec![1e-38];
    q.zero_point = vec![100];
    for profile in quantlens::Profile::ALL {
        let Ok(plan) = quantlens::Plan::new(m.clone(), profile) else { continue };
        let step = plan.steps.iter().find(|s| s.op == k).unwrap();
        if let Kernel::Relu(p) = &step.kernel {
            let hi = match &p.arith {
                ReluArith::Requantize { hi, .. } | ReluArith::ClampInInputScale { hi, .. } => *hi,
            };
            if matches!(p.arith, ReluArith::Requantize { .. }) {
                assert_eq!(hi, 127, "{profile}");
            }
        }
    }
}
