//! The C export's ARG_MAX / ARG_MIN kernel (`ql_arg`, `src/export/c/arg.c`)
//! on `tops_ptq_int8`'s two arg ops, whose int8 input row is the FULLY_CONNECTED
//! output. The model as a whole is refused (a CAST to float32 follows), so
//! the two layers are built alone: the node's C call is compiled with
//! `cc -std=c99 -pedantic -Wall -Wextra -Werror` and run on the engine's
//! input row of every held-out image; every index must equal the engine's
//! `tflm` profile and LiteRT's reference golden (TFLite Micro refuses the model).

use quantlens::export::c::graph::Ctx;
use quantlens::export::c::reduce::{arg_min_max, ARG_C};
use quantlens::io::{read_samples, Npz};
use quantlens::ops::transformer::Op;
use quantlens::plan::Kernel;
use quantlens::verify::stack_tensor;
use quantlens::{Model, Plan, Profile};

mod common;

#[test]
fn arg_max_and_arg_min_in_c_equal_the_engine_and_litert() {
    let stem = "tops_ptq_int8";
    let plan = Plan::new(Model::from_path(common::model(stem)).unwrap(), Profile::Tflm).unwrap();
    let gold = common::root().join("data/goldens").join(stem);
    let xs = read_samples(gold.join("input.npy")).unwrap().samples();
    let traces = plan.run_batch(&xs).unwrap();
    let mut reference = Npz::open(gold.join("ref.npz")).unwrap();
    let dir = common::tempdir("export-c-arg", stem);
    let mut checked = 0;
    for (k, step) in plan.steps.iter().enumerate() {
        let Kernel::Transformer(Op::ArgMinMax(p)) = &step.kernel else { continue };
        let node = arg_min_max(&Ctx { plan: &plan, step, k }, p).unwrap();
        let input = stack_tensor(&traces, p.input).unwrap().to_i64_vec().unwrap();
        let engine = stack_tensor(&traces, p.output).unwrap().to_i64_vec().unwrap();
        let (n_in, n_out) = (node.inputs[0].size(), node.output.size());
        let mut c = String::from("#include <stdint.h>\n#include <stdio.h>\n");
        c += ARG_C;
        c += &format!("static const int32_t x[{}][{n_in}] = {{", xs.len());
        for img in input.chunks(n_in) {
            c += &format!("{{{}}},", img.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","));
        }
        c += "};\nint main(void) {\n    int i, j;\n";
        c += &format!("    for (i = 0; i < {}; i++) {{\n", xs.len());
        c += &format!("        int32_t y[{n_out}];\n        const int32_t *{} = x[i];\n        int32_t *{} = y;\n", format!("ql_t{}", node.inputs[0].index), format!("ql_t{}", node.output.index));
        c += &format!("        {}\n", node.call);
        c += &format!("        for (j = 0; j < {n_out}; j++) printf(\"%d\\n\", (int)y[j]);\n    }}\n    return 0;\n}}\n");
        let src = dir.join(format!("arg{k}.c"));
        let exe = dir.join(format!("arg{k}"));
        std::fs::write(&src, c).unwrap();
        let cc = std::process::Command::new("cc").args(["-std=c99", "-pedantic", "-O1", "-Wall", "-Wextra", "-Werror", "-o"]).arg(&exe).arg(&src).output().unwrap();
        assert!(cc.status.success(), "{}", String::from_utf8_lossy(&cc.stderr));
        let run = std::process::Command::new(&exe).output().unwrap();
        let got: Vec<i64> = String::from_utf8_lossy(&run.stdout).lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(got.len(), xs.len() * n_out);
        let vs_engine = got.iter().zip(&engine).filter(|(a, b)| a != b).count();
        let golden = reference.get(&format!("t{}", p.output)).unwrap().to_i64_vec().unwrap();
        let vs_ref = got.iter().zip(&golden).filter(|(a, b)| a != b).count();
        println!("layer {k} ({}): {} images, {} indices; differing from the engine: {vs_engine}, from LiteRT ref: {vs_ref}", node.op_kind, xs.len(), got.len());
        assert_eq!((vs_engine, vs_ref), (0, 0), "layer {k}");
        checked += 1;
    }
    assert_eq!(checked, 2, "tops_ptq_int8 has one ARG_MAX and one ARG_MIN");
    let _ = std::fs::remove_dir_all(&dir);
}
