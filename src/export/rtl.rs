//! Synthesizable Verilog for the integer datapath of an exported MLP.
//!
//! `export --format verilog --out DIR` writes, beside the behavioural files of
//! [`super::verilog`], the sources of a small accelerator under `DIR/rtl/`:
//!
//! * `ql_mac.v` — one multiply-accumulate lane, activation × centred weight →
//!   int32, with the zero points folded into the bias as the engine folds them
//!   (`bias − Z1·Σ(W − Z2)`, then `Σ x·(W − Z2)`);
//! * `ql_requant.v` — TFLite Micro's requantizer (`tflm` profile): SRDHM by
//!   M0, rounding divide by 2^right, + Z3, clamp; pipelined, latency 5 cycles;
//! * `ql_rom.v`, `ql_ram.v` — `$readmemh` weight ROMs and activation buffers;
//! * `quantlens_top.v` — generated for the model: the layer sequencer, which
//!   streams each FULLY_CONNECTED layer from its ROMs, [`LANES`] output
//!   channels in parallel, and runs each integer QUANTIZE through the same
//!   requantizers; pixels in (valid/ready), argmax class and the last layer's
//!   int8/uint8 outputs out (valid/ready);
//! * `l<k>_w.hex`, `l<k>_b.hex`, `l<k>_m0.hex`, `l<k>_sh.hex` — one ROM per
//!   array, one word per group of [`LANES`] channels.
//!
//! The hardware stops at the logits: **SOFTMAX (and any op after it) stays in
//! software** (the C export's `model.c` computes it in integers). With
//! `--golden N` the export also writes `DIR/tb_rtl.sv`, a self-checking
//! testbench (not synthesizable) that drives the golden images through
//! `quantlens_top`, checks every element of every layer the hardware computes
//! against the golden outputs (the engine's `tflm` profile, equal to TFLite
//! Micro's) and ends with `PASS k/k images` or `FAIL …`. Run it from `DIR`:
//! the ROM paths are `rtl/…hex`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{signed_bits, Export, Fc, Golden, LayerKind, Requant};
use crate::error::Error;
use crate::model::DType;
use crate::profile::Rounding;

/// Output channels computed in parallel (MAC lanes and requantizers).
pub const LANES: usize = 8;
/// Latency of `ql_requant`, in clock cycles.
pub const REQUANT_LATENCY: usize = 5;

/// The static modules, written to `DIR/rtl/` as they are.
pub const MODULES: [(&str, &str); 4] = [
    ("ql_rom.v", include_str!("rtl/ql_rom.v")),
    ("ql_ram.v", include_str!("rtl/ql_ram.v")),
    ("ql_mac.v", include_str!("rtl/ql_mac.v")),
    ("ql_requant.v", include_str!("rtl/ql_requant.v")),
];

/// One layer the hardware computes.
#[derive(Clone, Debug)]
pub enum RtlOp<'a> {
    FullyConnected(&'a Fc),
    Quantize(&'a Requant),
}

/// A layer of the datapath: which export layer it is and its geometry.
#[derive(Clone, Debug)]
pub struct RtlLayer<'a> {
    /// Index in [`Export::layers`] (and in `golden_l<k>.hex`).
    pub export_index: usize,
    pub op: RtlOp<'a>,
    pub in_size: usize,
    pub out_size: usize,
    /// Groups of [`LANES`] outputs.
    pub groups: usize,
    pub out_dtype: DType,
    /// Bits of a centred weight `W − Z2` (FC only).
    pub weight_bits: usize,
}

fn refuse(what: String) -> Error {
    Error::Engine(crate::error::EngineError::BadInput(format!("export --format verilog (rtl): {what}")))
}

/// The layers before the first SOFTMAX, which the hardware computes. RESHAPE
/// is a relabelling and is skipped. Refuses, by name, any other op there and
/// any rounding other than TFLite Micro's.
pub fn rtl_layers(e: &Export) -> Result<Vec<RtlLayer<'_>>, Error> {
    let mut out = Vec::new();
    for l in &e.layers {
        let (op, rounding, weight_bits) = match &l.kind {
            LayerKind::Softmax(_) => break,
            LayerKind::Reshape { .. } => continue,
            LayerKind::FullyConnected(f) => {
                let lo = (0..f.weights.len()).map(|i| f.weights[i] - f.z2[i / f.in_features]).min().unwrap_or(0);
                let hi = (0..f.weights.len()).map(|i| f.weights[i] - f.z2[i / f.in_features]).max().unwrap_or(0);
                (RtlOp::FullyConnected(f.as_ref()), f.rounding, signed_bits(lo as i64, hi as i64).max(2) as usize)
            }
            LayerKind::Requantize(r) => (RtlOp::Quantize(r), r.rounding, 0),
        };
        if rounding != Rounding::FixedPointDoubleRounding {
            return Err(refuse(format!(
                "layer {} ({}) rounds as {}; the hardware requantizer implements TFLite Micro's (export with --profile tflm)",
                l.index,
                l.op_kind,
                rounding.name()
            )));
        }
        if !matches!(l.output.dtype, DType::I8 | DType::U8) || !matches!(l.input.dtype, DType::I8 | DType::U8) {
            return Err(refuse(format!("layer {} ({}): {} → {}; the datapath carries int8/uint8 activations", l.index, l.op_kind, l.input.dtype, l.output.dtype)));
        }
        let out_size = l.output.size();
        out.push(RtlLayer { export_index: l.index, op, in_size: l.input.size(), out_size, groups: out_size.div_ceil(LANES), out_dtype: l.output.dtype, weight_bits });
    }
    if out.is_empty() {
        return Err(refuse("no FULLY_CONNECTED or QUANTIZE layer before the first SOFTMAX".into()));
    }
    Ok(out)
}

/// Bits to count to `n − 1` (at least 1).
pub(crate) fn clog2(n: usize) -> usize {
    let mut b = 1;
    while (1usize << b) < n {
        b += 1;
    }
    b
}

/// `values` (lane 0 in the low bits), each `bits` wide, as one hex word.
fn hex_word(values: &[i64], bits: usize) -> String {
    let total = values.len() * bits;
    let digits = total.div_ceil(4);
    let mut nibbles = vec![0u8; digits];
    for (j, &v) in values.iter().enumerate() {
        for b in 0..bits {
            if (v >> b) & 1 == 1 {
                let pos = j * bits + b;
                nibbles[pos / 4] |= 1 << (pos % 4);
            }
        }
    }
    nibbles.iter().rev().map(|&n| char::from_digit(n as u32, 16).unwrap()).collect()
}

fn write_file(p: &Path, text: &str, files: &mut Vec<PathBuf>) -> Result<(), Error> {
    std::fs::write(p, text).map_err(|e| Error::Io { path: p.display().to_string(), message: e.to_string() })?;
    files.push(p.to_path_buf());
    Ok(())
}

/// The ROM contents of one FC layer: centred weights `[group][in]`, folded
/// bias, M0 and shift `[group]`, each word holding [`LANES`] channels.
pub fn fc_roms(f: &Fc, weight_bits: usize) -> [String; 4] {
    let groups = f.out_features.div_ceil(LANES);
    let wc = |c: usize, i: usize| -> i64 { if c < f.out_features { (f.weights[c * f.in_features + i] - f.z2[c]) as i64 } else { 0 } };
    let (mut w, mut b, mut m, mut s) = (String::new(), String::new(), String::new(), String::new());
    for g in 0..groups {
        for i in 0..f.in_features {
            let lanes: Vec<i64> = (0..LANES).map(|j| wc(g * LANES + j, i)).collect();
            w += &hex_word(&lanes, weight_bits);
            w.push('\n');
        }
        let chan = |field: &dyn Fn(usize) -> i64| -> Vec<i64> { (0..LANES).map(|j| if g * LANES + j < f.out_features { field(g * LANES + j) } else { 0 }).collect() };
        let folded = |c: usize| -> i64 {
            let sum: i32 = (0..f.in_features).fold(0i32, |a, i| a.wrapping_add(wc(c, i) as i32));
            f.bias[c].wrapping_sub(f.z1.wrapping_mul(sum)) as i64
        };
        b += &hex_word(&chan(&folded), 32);
        b.push('\n');
        m += &hex_word(&chan(&|c| f.m0[c] as i64), 32);
        m.push('\n');
        s += &hex_word(&chan(&|c| f.shift[c] as i64), 8);
        s.push('\n');
    }
    [w, b, m, s]
}

/// Write `DIR/rtl/` (and `DIR/tb_rtl.sv` with golden vectors).
pub fn write(e: &Export, dir: &Path, golden: Option<&Golden>) -> Result<Vec<PathBuf>, Error> {
    let layers = rtl_layers(e)?;
    let rtl = dir.join("rtl");
    std::fs::create_dir_all(&rtl).map_err(|x| Error::Io { path: rtl.display().to_string(), message: x.to_string() })?;
    let mut files = Vec::new();
    for (name, text) in MODULES {
        write_file(&rtl.join(name), text, &mut files)?;
    }
    for l in &layers {
        if let RtlOp::FullyConnected(f) = l.op {
            let roms = fc_roms(f, l.weight_bits);
            for (suffix, text) in ["w", "b", "m0", "sh"].iter().zip(roms.iter()) {
                write_file(&rtl.join(format!("l{}_{suffix}.hex", l.export_index)), text, &mut files)?;
            }
        }
    }
    write_file(&rtl.join("quantlens_top.v"), &top(e, &layers), &mut files)?;
    if let Some(g) = golden {
        write_file(&dir.join("tb_rtl.sv"), &super::rtl_tb::testbench(e, &layers, g), &mut files)?;
    }
    Ok(files)
}

/// Cycles the sequencer takes for one image (from the first pixel accepted to
/// `out_valid`), from its state machine: the number the testbench measures.
pub fn cycles_per_image(e: &Export) -> Result<usize, Error> {
    let layers = rtl_layers(e)?;
    let mut c = e.input.size(); // S_IN, one pixel per cycle
    for l in &layers {
        let per_group = match l.op {
            // S_BIAS, S_MAC (in), S_MACEND, S_REQ, S_WAIT (latency), S_WRITE (lanes)
            RtlOp::FullyConnected(_) => 1 + l.in_size + 1 + 1 + REQUANT_LATENCY + LANES,
            // S_QLOAD (lanes), S_QEND, S_REQ, S_WAIT, S_WRITE
            RtlOp::Quantize(_) => LANES + 1 + 1 + REQUANT_LATENCY + LANES,
        };
        c += per_group * l.groups;
    }
    Ok(c)
}

fn signed_lit(v: i64, bits: usize) -> String {
    if v < 0 {
        format!("-{bits}'sd{}", -(v as i128))
    } else {
        format!("{bits}'sd{v}")
    }
}

/// `quantlens_top.v`: the sequencer for this model's layers.
pub fn top(e: &Export, layers: &[RtlLayer<'_>]) -> String {
    let n = layers.len();
    let last = &layers[n - 1];
    let maxa = layers.iter().map(|l| l.in_size.max(l.out_size)).max().unwrap_or(1).max(e.input.size());
    let ab = clog2(maxa + 1);
    let maxg = layers.iter().map(|l| l.groups).max().unwrap_or(1);
    let gb = clog2(maxg + 1);
    let maxw = layers.iter().map(|l| l.groups * l.in_size).max().unwrap_or(1);
    let wab = clog2(maxw + 1);
    let wmax = layers.iter().map(|l| l.weight_bits).max().unwrap_or(2).max(2);
    let lb = clog2(n + 1);
    let cb = clog2(last.out_size + 1);
    let in_signed = e.input.dtype == DType::I8;
    let out_signed = last.out_dtype == DType::I8;
    let mut s = String::new();
    let _ = writeln!(s, "// Generated by `quantlens export --format verilog` — model {}, profile {}. Synthesizable.", e.model_name, e.profile);
    let _ = writeln!(s, "//");
    let _ = writeln!(s, "// quantlens_top: the integer datapath of the model up to the logits (layer {} output, t{}).", last.export_index, e.layers[last.export_index].output.index);
    let _ = writeln!(s, "// SOFTMAX and every op after it stay in software (model.c of `export --format c`).");
    let _ = writeln!(s, "// Layers in hardware:");
    for (r, l) in layers.iter().enumerate() {
        let what = match l.op {
            RtlOp::FullyConnected(f) => format!("FULLY_CONNECTED [{}][{}], {} groups of {LANES} channels, weights {} bits (W - Z2)", f.out_features, f.in_features, l.groups, l.weight_bits),
            RtlOp::Quantize(q) => format!("QUANTIZE {} elements, M0 {} shift {}", l.out_size, q.m0, q.shift),
        };
        let _ = writeln!(s, "//   {r}: export layer {} {what}", l.export_index);
    }
    let _ = writeln!(s, "// Input: INPUT_SIZE pixels, one per accepted cycle (in_valid && in_ready), {} values.", if in_signed { "int8" } else { "uint8" });
    let _ = writeln!(s, "// Output: out_class (argmax, first index on ties) and out_logits (element k in bits [8k+7:8k], {}),", if out_signed { "int8" } else { "uint8" });
    let _ = writeln!(s, "//   held with out_valid until out_ready. mon_*: every activation written (layer, index, value), for testbenches.");
    let _ = writeln!(s, "// Cycles per image: {} (input {} + layers), from the state machine below.", cycles_per_image(e).unwrap_or(0), e.input.size());
    let _ = writeln!(
        s,
        "module quantlens_top (
    input  wire              clk,
    input  wire              rst,
    input  wire              in_valid,
    output wire              in_ready,
    input  wire [7:0]        in_data,
    output reg               out_valid,
    input  wire              out_ready,
    output reg  [{cbm}:0]       out_class,
    output wire [{obm}:0]     out_logits,
    output reg               mon_valid,
    output reg  [7:0]        mon_layer,
    output reg  [{abm}:0]       mon_index,
    output reg  signed [8:0] mon_value
);",
        cbm = cb - 1,
        obm = 8 * last.out_size - 1,
        abm = ab - 1
    );
    let _ = writeln!(
        s,
        "    localparam integer LANES = {LANES};
    localparam integer N_LAYERS = {n};
    localparam integer INPUT_SIZE = {};
    localparam integer OUT_N = {};
    localparam integer AB = {ab};   // activation address bits
    localparam integer GB = {gb};   // group counter bits
    localparam integer WAB = {wab}; // weight ROM address bits
    localparam integer WMAX = {wmax}; // widest centred weight
    localparam integer LB = {lb};
    localparam FIRST_IS_FC = 1'b{first_fc};
    localparam [3:0] S_IN = 4'd0, S_BIAS = 4'd1, S_MAC = 4'd2, S_MACEND = 4'd3, S_QLOAD = 4'd4, S_QEND = 4'd5,
                     S_REQ = 4'd6, S_WAIT = 4'd7, S_WRITE = 4'd8, S_OUT = 4'd9;",
        e.input.size(),
        last.out_size,
        first_fc = matches!(layers[0].op, RtlOp::FullyConnected(_)) as i32
    );
    // Layer table.
    s += "
    reg [3:0] state;
    reg [LB-1:0] layer;
    reg src;                       // activation buffer read by this layer (0 = A)
    reg [GB-1:0] group;
    reg [AB-1:0] obase;            // group * LANES
    reg [WAB-1:0] wbase;           // group * in_size
    reg [AB-1:0] i;                // input index (FC) / element in group (QUANTIZE)
    reg [3:0] j;                   // lane being written
    reg rd_valid;                  // a read issued last cycle
    reg [3:0] rd_lane;             // QUANTIZE: lane that read belongs to
    reg first;                     // first MAC cycle of a group: load the bias

    // ---- the layer table (constants of the exported model) ----
    reg is_fc; reg [AB-1:0] in_size, out_size; reg [GB-1:0] groups; reg [7:0] export_index;
    reg signed [31:0] zin, zp, lo, hi, q_m0; reg signed [7:0] q_shift;
    always @* begin
        case (layer)
";
    for (r, l) in layers.iter().enumerate() {
        let (is_fc, zin, zp, lo, hi, m0, sh) = match l.op {
            RtlOp::FullyConnected(f) => (1, 0i64, f.z3 as i64, f.act_min as i64, f.act_max as i64, 0i64, 0i64),
            RtlOp::Quantize(q) => (0, q.z_in as i64, q.z_out as i64, q.out_min as i64, q.out_max as i64, q.m0 as i64, q.shift as i64),
        };
        let _ = writeln!(
            s,
            "        {r}: begin is_fc = 1'b{is_fc}; in_size = {}; out_size = {}; groups = {}; export_index = 8'd{}; zin = {}; zp = {}; lo = {}; hi = {}; q_m0 = {}; q_shift = {}; end",
            l.in_size,
            l.out_size,
            l.groups,
            l.export_index,
            signed_lit(zin, 32),
            signed_lit(zp, 32),
            signed_lit(lo, 32),
            signed_lit(hi, 32),
            signed_lit(m0, 32),
            signed_lit(sh, 8)
        );
    }
    s += "        default: begin is_fc = 1'b0; in_size = 0; out_size = 0; groups = 0; export_index = 8'd0; zin = 0; zp = 0; lo = 0; hi = 0; q_m0 = 0; q_shift = 0; end
        endcase
    end
";
    // next_is_fc: the kind of layer + 1.
    s += "\n    // Kind of the next layer (the table above, one row ahead).\n    reg next_is_fc;\n    always @* begin\n        case (layer)\n";
    for r in 0..n {
        let nxt = layers.get(r + 1).map_or(0, |l| matches!(l.op, RtlOp::FullyConnected(_)) as i32);
        let _ = writeln!(s, "        {r}: next_is_fc = 1'b{nxt};");
    }
    s += "        default: next_is_fc = 1'b0;\n        endcase\n    end\n";
    // ROMs.
    s += "\n    // ---- weight, bias, M0 and shift ROMs, one word = LANES channels ----\n";
    s += "    wire rom_w_en = (state == S_MAC);\n    wire rom_p_en = (state == S_BIAS);\n    wire [WAB-1:0] waddr = wbase + i;\n";
    for (r, l) in layers.iter().enumerate() {
        if let RtlOp::FullyConnected(f) = l.op {
            let k = l.export_index;
            let wb = l.weight_bits;
            let _ = writeln!(
                s,
                "    wire [{ww}:0] rom_w{r}; wire [{bw}:0] rom_b{r}, rom_m{r}; wire [{sw}:0] rom_s{r};
    ql_rom #(.WIDTH({wwid}), .DEPTH({wd}), .ABITS(WAB), .FILE(\"rtl/l{k}_w.hex\")) u_w{r} (.clk(clk), .en(rom_w_en && layer == {r}), .addr(waddr), .q(rom_w{r}));
    ql_rom #(.WIDTH({bwid}), .DEPTH({g}), .ABITS(GB), .FILE(\"rtl/l{k}_b.hex\")) u_b{r} (.clk(clk), .en(rom_p_en && layer == {r}), .addr(group), .q(rom_b{r}));
    ql_rom #(.WIDTH({bwid}), .DEPTH({g}), .ABITS(GB), .FILE(\"rtl/l{k}_m0.hex\")) u_m{r} (.clk(clk), .en(rom_p_en && layer == {r}), .addr(group), .q(rom_m{r}));
    ql_rom #(.WIDTH({swid}), .DEPTH({g}), .ABITS(GB), .FILE(\"rtl/l{k}_sh.hex\")) u_s{r} (.clk(clk), .en(rom_p_en && layer == {r}), .addr(group), .q(rom_s{r}));",
                ww = LANES * wb - 1,
                bw = LANES * 32 - 1,
                sw = LANES * 8 - 1,
                wwid = LANES * wb,
                wd = l.groups * f.in_features,
                bwid = LANES * 32,
                swid = LANES * 8,
                g = l.groups,
            );
        }
    }
    // Activation buffers.
    let _ = writeln!(
        s,
        "
    // ---- activation buffers A and B (ping-pong), 9-bit signed values ----
    reg we; reg [AB-1:0] wa; reg signed [8:0] wd; reg wsel;    // write port (combinational)
    wire [AB-1:0] raddr = is_fc ? i : obase + i;
    wire [8:0] qa, qb;
    ql_ram #(.WIDTH(9), .DEPTH({maxa}), .ABITS(AB)) u_a (.clk(clk), .we(we && !wsel), .waddr(wa), .wdata(wd), .raddr(raddr), .q(qa));
    ql_ram #(.WIDTH(9), .DEPTH({maxa}), .ABITS(AB)) u_b (.clk(clk), .we(we && wsel), .waddr(wa), .wdata(wd), .raddr(raddr), .q(qb));
    wire signed [8:0] x = src ? qb : qa;"
    );
    // Lanes.
    let _ = writeln!(
        s,
        "
    // ---- LANES MAC lanes and requantizers ----
    wire signed [31:0] acc [0:LANES-1];
    wire signed [8:0] y [0:LANES-1];
    wire [LANES-1:0] y_valid;
    reg signed [8:0] res [0:LANES-1];
    genvar gl;
    generate
        for (gl = 0; gl < LANES; gl = gl + 1) begin : lane
            reg signed [WMAX-1:0] w; reg signed [31:0] bias, m0; reg signed [7:0] sh;
            always @* begin
                case (layer)"
    );
    for (r, l) in layers.iter().enumerate() {
        match l.op {
            RtlOp::FullyConnected(_) => {
                let wb = l.weight_bits;
                let _ = writeln!(
                    s,
                    "                    {r}: begin w = $signed(rom_w{r}[gl*{wb} +: {wb}]); bias = $signed(rom_b{r}[gl*32 +: 32]); m0 = $signed(rom_m{r}[gl*32 +: 32]); sh = $signed(rom_s{r}[gl*8 +: 8]); end"
                );
            }
            RtlOp::Quantize(_) => {
                let _ = writeln!(s, "                    {r}: begin w = 0; bias = 0; m0 = q_m0; sh = q_shift; end");
            }
        }
    }
    s += "                    default: begin w = 0; bias = 0; m0 = 0; sh = 0; end
                endcase
            end
            // FC: load the folded bias on the first MAC cycle; QUANTIZE: load x - Z_in into this lane.
            wire load = is_fc ? (state == S_MAC && first) : (rd_valid && rd_lane == gl);
            wire signed [31:0] init = is_fc ? bias : (x - zin);
            ql_mac #(.XW(9), .WW(WMAX), .AW(32)) u_mac (
                .clk(clk), .load(load), .init(init), .en(is_fc && rd_valid), .x(x), .w(w), .acc(acc[gl]));
            ql_requant #(.OW(9)) u_rq (
                .clk(clk), .in_valid(state == S_REQ), .acc(acc[gl]), .m0(m0), .shift(sh),
                .zp(zp), .lo(lo), .hi(hi), .out_valid(y_valid[gl]), .y(y[gl]));
        end
    endgenerate
";
    // Sequencer.
    let _ = writeln!(
        s,
        "
    // ---- the sequencer ----
    reg [AB-1:0] pix;
    wire [AB-1:0] oidx = obase + j;
    wire last_in_group = (j == LANES - 1) || (oidx == out_size - 1);
    assign in_ready = (state == S_IN);
    reg [8*OUT_N-1:0] logits;
    assign out_logits = logits;
    reg signed [8:0] best;

    // Write port and monitor: input pixels, then every layer output.
    always @* begin
        we = 1'b0; wa = 0; wd = 0; wsel = 1'b0;
        if (state == S_IN && in_valid) begin
            we = 1'b1; wa = pix; wd = {in_ext}; wsel = 1'b0;
        end else if (state == S_WRITE && oidx < out_size) begin
            we = 1'b1; wa = oidx; wd = res[j]; wsel = !src;
        end
    end",
        in_ext = if in_signed { "{in_data[7], in_data}" } else { "{1'b0, in_data}" }
    );
    s += "
    integer k;
    always @(posedge clk) begin
        if (rst) begin
            state <= S_IN; pix <= 0; out_valid <= 1'b0; mon_valid <= 1'b0; rd_valid <= 1'b0;
            layer <= 0; src <= 1'b0; group <= 0; obase <= 0; wbase <= 0; i <= 0; j <= 0; first <= 1'b0;
            rd_lane <= 0; out_class <= 0; best <= 0; logits <= 0; mon_layer <= 0; mon_index <= 0; mon_value <= 0;
        end else begin
            mon_valid <= 1'b0;
            rd_valid <= 1'b0;
            case (state)
            S_IN: if (in_valid) begin
                pix <= pix + 1'b1;
                if (pix == INPUT_SIZE - 1) begin
                    pix <= 0; layer <= 0; src <= 1'b0; group <= 0; obase <= 0; wbase <= 0; i <= 0;
                    state <= FIRST_IS_FC ? S_BIAS : S_QLOAD;
                end
            end
            S_BIAS: begin state <= S_MAC; i <= 0; first <= 1'b1; end
            S_MAC: begin
                first <= 1'b0;
                rd_valid <= 1'b1;
                i <= i + 1'b1;
                if (i == in_size - 1) state <= S_MACEND;
            end
            S_MACEND: state <= S_REQ;
            S_QLOAD: begin
                rd_valid <= 1'b1; rd_lane <= i[3:0];
                i <= i + 1'b1;
                if (i == LANES - 1 || obase + i == out_size - 1) state <= S_QEND;
            end
            S_QEND: state <= S_REQ;
            S_REQ: state <= S_WAIT;
            S_WAIT: if (y_valid[0]) begin
                for (k = 0; k < LANES; k = k + 1) res[k] <= y[k];
                j <= 0; state <= S_WRITE;
            end
            S_WRITE: begin
                if (oidx < out_size) begin
                    mon_valid <= 1'b1; mon_layer <= export_index; mon_index <= oidx; mon_value <= res[j];
                    if (layer == N_LAYERS - 1) begin
                        logits[8*oidx +: 8] <= res[j][7:0];
                        if (oidx == 0 || res[j] > best) begin best <= res[j]; out_class <= oidx; end
                    end
                end
                j <= j + 1'b1;
                if (last_in_group) begin
                    i <= 0;
                    if (group == groups - 1) begin
                        group <= 0; obase <= 0; wbase <= 0; src <= !src;
                        if (layer == N_LAYERS - 1) begin
                            state <= S_OUT;
                        end else begin
                            layer <= layer + 1'b1;
                            state <= next_is_fc ? S_BIAS : S_QLOAD;
                        end
                    end else begin
                        group <= group + 1'b1; obase <= obase + LANES; wbase <= wbase + in_size;
                        state <= is_fc ? S_BIAS : S_QLOAD;
                    end
                end
            end
            S_OUT: begin
                out_valid <= 1'b1;
                if (out_valid && out_ready) begin out_valid <= 1'b0; state <= S_IN; end
            end
            default: state <= S_IN;
            endcase
        end
    end
";
    s += "endmodule\n";
    s
}
