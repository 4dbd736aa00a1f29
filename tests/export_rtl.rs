//! The synthesizable datapath (`export --format verilog`, `DIR/rtl/`) in two
//! simulators and in Yosys.
//!
//! * Verilator (Debian `verilator`): every held-out image (1000) of each
//!   exported MLP through `quantlens_top`; every element of every layer the
//!   hardware computes (up to the logits) equals the golden outputs, which
//!   equal the engine's `tflm` profile and TFLite Micro's goldens.
//! * Icarus Verilog (Debian `iverilog`): the same testbench, the same
//!   synthesizable top (the same `LANES`), every held-out image (1000) of
//!   each MLP, in two `vvp` processes of 500 images each (`+first=K +n=500`)
//!   that run at once. A changed golden value makes it print `FAIL`.
//! * Yosys (Debian `yosys`): generic `synth` and `synth_xilinx` (xc7) of the
//!   primary model's top; fails on a latch or a `check` problem; prints the
//!   resource counts.
//!
//! When a tool is missing the test fails, saying which Debian package to
//! install (`scripts/test.sh` installs them).
//!
//! Each test exports into its own directory (tests run in parallel).

use std::path::{Path, PathBuf};
use std::process::Command;

use quantlens::export::{rtl, Export};
use quantlens::io::{read_samples, Npz};
use quantlens::verify::stack_tensor;
use quantlens::{Model, Plan, Profile};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quantlens-rtl-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn tool(name: &str) {
    let ok = Command::new(name).arg(if name == "iverilog" { "-V" } else { "--version" }).output().is_ok_and(|o| o.status.success() || name == "iverilog");
    assert!(ok, "`{name}` is needed for this test: apt-get install {name} (scripts/test.sh installs it)");
}

/// Export `stem` with 1000 golden images into a fresh directory; check that
/// the golden outputs of every hardware layer equal TFLite Micro's (when it
/// runs the model).
fn export(stem: &str, tag: &str) -> (PathBuf, Export) {
    let dir = tmp(&format!("{tag}-{stem}"));
    let model = data().join("models").join(format!("{stem}.tflite"));
    let input = data().join("goldens").join(stem).join("input.npy");
    let out = Command::new(env!("CARGO_BIN_EXE_quantlens"))
        .args(["export", model.to_str().unwrap(), "--format", "verilog", "--out", dir.to_str().unwrap(), "--golden", "1000", "--input", input.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["rtl/quantlens_top.v", "rtl/ql_mac.v", "rtl/ql_requant.v", "tb_rtl.sv", "tb_quantlens.v"] {
        assert!(dir.join(f).exists(), "{f} not written");
    }
    let plan = Plan::new(Model::from_path(&model).unwrap(), Profile::Tflm).unwrap();
    let e = Export::new(&plan, stem, None).unwrap();
    let tflm = data().join("goldens").join(stem).join("tflm.npz");
    if tflm.exists() {
        let xs = read_samples(&input).unwrap().samples();
        let traces = plan.run_batch(&xs).unwrap();
        let mut npz = Npz::open(&tflm).unwrap();
        for l in rtl::rtl_layers(&e).unwrap() {
            let t = e.layers[l.export_index].output.index;
            let ours = stack_tensor(&traces, t).unwrap().to_i64_vec().unwrap();
            let theirs = npz.get(&format!("t{t}")).unwrap().to_i64_vec().unwrap();
            assert_eq!(ours, theirs, "{stem} t{t}: engine tflm vs TFLite Micro");
        }
    }
    (dir, e)
}

/// The testbench's own output lines (Verilator appends `- file:line: Verilog $finish`).
fn tb_lines(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| !l.starts_with("- ") && !l.trim().is_empty()).collect()
}

fn check_pass(stem: &str, sim: &str, stdout: &str, e: &Export, n: usize) {
    println!("{stem} ({sim}):\n{stdout}");
    let lines = tb_lines(stdout);
    assert_eq!(lines.last().copied(), Some(format!("PASS {n}/{n} images").as_str()), "{stem} ({sim}):\n{stdout}");
    for l in rtl::rtl_layers(e).unwrap() {
        let want = format!("layer {} {}: 0 of {} differ", l.export_index, e.layers[l.export_index].op_kind, n * l.out_size);
        assert!(lines.contains(&want.as_str()), "{stem} ({sim}): missing {want:?}");
    }
    // Cycles per image as the state machine predicts, plus the stalls the testbench inserts: an idle
    // input cycle in 13, and 1 to 3 cycles of out_valid before out_ready.
    let cycles: usize = lines.iter().find_map(|l| l.strip_prefix("cycles per image: ")).unwrap().parse().unwrap();
    let predicted = rtl::cycles_per_image(e).unwrap();
    assert!(cycles > predicted && cycles <= predicted + e.input.size() / 12 + 2 + 3, "{stem}: {cycles} cycles, predicted {predicted}");
}

fn rtl_sources(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("rtl"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| format!("rtl/{}", e.file_name().to_string_lossy()))
        .filter(|n| n.ends_with(".v"))
        .collect();
    v.sort();
    v
}

fn verilator(stem: &str) {
    tool("verilator");
    let (dir, e) = export(stem, "verilator");
    let mut args: Vec<String> = ["--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module", "tb", "-Mdir", "obj_dir", "tb_rtl.sv"].map(String::from).to_vec();
    args.extend(rtl_sources(&dir));
    let build = Command::new("verilator").args(&args).current_dir(&dir).output().unwrap();
    assert!(build.status.success(), "verilator: {}", String::from_utf8_lossy(&build.stderr));
    let run = Command::new(dir.join("obj_dir/Vtb")).current_dir(&dir).output().unwrap();
    assert!(run.status.success());
    check_pass(stem, "verilator", &String::from_utf8_lossy(&run.stdout), &e, 1000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn verilator_all_images_primary_mlp() {
    verilator("mlp_ptq_uint8io");
}

#[test]
fn verilator_all_images_per_tensor_int8_mlp() {
    verilator("mlp_ptq_int8_per_tensor");
}

#[test]
fn verilator_all_images_legacy_uint8_mlp() {
    // TFLite Micro refuses this model: its goldens are the engine's tflm profile only.
    verilator("mlp_legacy_uint8");
}

fn iverilog(dir: &Path) -> PathBuf {
    tool("iverilog");
    let mut args: Vec<String> = ["-g2012", "-o", "tb_rtl.vvp", "tb_rtl.sv"].map(String::from).to_vec();
    args.extend(rtl_sources(dir));
    let build = Command::new("iverilog").args(&args).current_dir(dir).output().unwrap();
    assert!(build.status.success(), "iverilog: {}{}", String::from_utf8_lossy(&build.stdout), String::from_utf8_lossy(&build.stderr));
    dir.join("tb_rtl.vvp")
}

/// All 1000 held-out images of `stem` through the top in iverilog, in two
/// `vvp` processes of 500 images that run at once.
fn iverilog_all_images(stem: &str) -> (PathBuf, Export, PathBuf) {
    let (dir, e) = export(stem, "iverilog");
    let vvp = iverilog(&dir);
    let halves: Vec<_> = [0, 500]
        .iter()
        .map(|first| Command::new("vvp").arg("-n").arg(&vvp).arg(format!("+first={first}")).arg("+n=500").current_dir(&dir).stdout(std::process::Stdio::piped()).spawn().unwrap())
        .collect();
    for (half, child) in halves.into_iter().enumerate() {
        let run = child.wait_with_output().unwrap();
        assert!(run.status.success());
        check_pass(stem, &format!("iverilog, images {}..{}", half * 500, half * 500 + 500), &String::from_utf8_lossy(&run.stdout), &e, 500);
    }
    (dir, e, vvp)
}

#[test]
fn iverilog_all_images_primary_mlp() {
    let (dir, e, vvp) = iverilog_all_images("mlp_ptq_uint8io");
    // A changed golden logit: the testbench notices and says FAIL.
    let p = dir.join(format!("golden_l{}.hex", rtl::rtl_layers(&e).unwrap().last().unwrap().export_index));
    let text = std::fs::read_to_string(&p).unwrap();
    let (first, rest) = text.split_once('\n').unwrap();
    let changed = format!("{:02x}", (u8::from_str_radix(first, 16).unwrap()).wrapping_add(1));
    std::fs::write(&p, format!("{changed}\n{rest}")).unwrap();
    let run = Command::new("vvp").arg("-n").arg(&vvp).arg("+n=1").current_dir(&dir).output().unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    let last = tb_lines(&out).last().copied().unwrap_or("").to_string();
    assert!(last.starts_with("FAIL "), "a wrong golden value must fail:\n{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn iverilog_all_images_per_tensor_int8_mlp() {
    let (dir, _, _) = iverilog_all_images("mlp_ptq_int8_per_tensor");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn iverilog_all_images_legacy_uint8_mlp() {
    let (dir, _, _) = iverilog_all_images("mlp_legacy_uint8");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Yosys: the top synthesizes, without latches, for a generic target and for Xilinx 7-series.
#[test]
fn yosys_synthesizes_without_latches() {
    tool("yosys");
    let (dir, e) = export("mlp_ptq_uint8io", "yosys");
    let read = format!("read_verilog -defer {}\n", rtl_sources(&dir).join(" "));
    let latches = "select -assert-none t:$dlatch t:$adlatch t:$dlatchsr t:$_DLATCH_* t:$_DLATCHSR_* t:LDCE t:LDPE\n";
    let generic = format!(
        "{read}synth -top quantlens_top -flatten -run begin:fine\ntee -o coarse.txt stat\nopt -fast -full\ntechmap\nopt -fast\nabc -fast\nopt -fast\ncheck -assert\n{latches}tee -o generic.txt stat\n"
    );
    let xilinx = format!("{read}synth_xilinx -top quantlens_top -flatten -family xc7\ncheck -assert\n{latches}tee -o xilinx.txt stat\n");
    for (name, script) in [("generic", generic), ("xilinx", xilinx)] {
        std::fs::write(dir.join(format!("{name}.ys")), script).unwrap();
        let out = Command::new("yosys").args(["-q", "-l", &format!("{name}.log"), &format!("{name}.ys")]).current_dir(&dir).output().unwrap();
        let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
        assert!(out.status.success(), "yosys {name} failed:\n{}\n{}", String::from_utf8_lossy(&out.stderr), &log[log.len().saturating_sub(3000)..]);
        assert!(!log.contains("Latch inferred"), "yosys {name}: a latch was inferred");
    }
    let count = |file: &str, cell: &str| -> u64 {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        text.lines().filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() == 2 && (w[0] == cell || (cell.ends_with('*') && w[0].starts_with(&cell[..cell.len() - 1])))).then(|| w[1].parse::<u64>().unwrap_or(0))
        }).sum()
    };
    // After `alumacc`, a multiplier is a `$macc` (multiply-accumulate) or `$mul` cell.
    let mults = count("coarse.txt", "$mul") + count("coarse.txt", "$macc");
    let gates = count("generic.txt", "$_*");
    let ffs = count("generic.txt", "$_DFF*") + count("generic.txt", "$_SDFF*"); // $_DFF* includes $_DFFE*
    let mems = count("generic.txt", "$mem_v2");
    let luts = count("xilinx.txt", "LUT*");
    let xffs = count("xilinx.txt", "FD*");
    let dsps = count("xilinx.txt", "DSP48E1");
    let bram18 = count("xilinx.txt", "RAMB18E1");
    let bram36 = count("xilinx.txt", "RAMB36E1");
    let rom_bits = rtl::rom_bits(&rtl::rtl_layers(&e).unwrap());
    println!("mlp_ptq_uint8io, {} lanes: generic: {gates} gates ({ffs} flip-flops), {mults} multipliers ($mul/$macc, coarse), {mems} memories; ROM bits {rom_bits}", rtl::LANES);
    println!("xc7: {luts} LUTs, {xffs} FFs, {dsps} DSP48E1, {bram18} RAMB18E1 + {bram36} RAMB36E1");
    assert!(mults as usize > rtl::LANES, "a multiplier per MAC lane and the requantizer's 32×32 product: {mults}");
    assert!(ffs > 0 && gates > ffs && luts > 0 && xffs > 0);
    assert!(dsps > 0, "the multipliers map to DSP48E1");
    assert!(bram18 + bram36 > 0, "the ROMs map to block RAM");
    let _ = std::fs::remove_dir_all(&dir);
}
