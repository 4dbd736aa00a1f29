// quantlens — one multiply-accumulate lane: int8/uint8 activation x int8
// (zero-point-centred) weight -> int32 accumulator.
//
// The zero points are folded as the engine folds them (gemm.rs,
// PackedWeights::fold_zero_points): with centred weights w = W - Z2 the
// layer's sum is
//     bias + sum_i (x_i - Z1) w_i  =  (bias - Z1 * sum_i w_i) + sum_i x_i w_i ,
// so the export stores w = W - Z2 in the weight ROM and the folded bias
// (bias - Z1 * sum_i w_i) in the bias ROM, and this lane only multiplies the
// stored activation x by w. Both sides are exact in int32 (two's complement
// wrap-around is the same on both), so the result equals TFLite's
// bias + sum (x - Z1)(W - Z2) bit for bit.
//
// load: acc <= init (the folded bias, or x - Z_in for a QUANTIZE layer).
// en:   acc <= acc + x * w.
module ql_mac #(
    parameter integer XW = 9,   // activation bits (int8 and uint8 both fit in 9 signed bits)
    parameter integer WW = 9,   // centred weight bits
    parameter integer AW = 32   // accumulator bits (int32, as TFLite)
) (
    input  wire                 clk,
    input  wire                 load,
    input  wire signed [AW-1:0] init,
    input  wire                 en,
    input  wire signed [XW-1:0] x,
    input  wire signed [WW-1:0] w,
    output reg  signed [AW-1:0] acc
);
    wire signed [XW+WW-1:0] p = x * w;
    always @(posedge clk) begin
        if (load) acc <= init;
        else if (en) acc <= acc + p;
    end
endmodule
