// quantlens — the requantizer of TFLite Micro (the `tflm` profile), pipelined.
//
//   y = clamp(Z3 + RoundingDivideByPOT(SRDHM(acc << left, M0), right), lo, hi)
//
// with M = S1*S2/S3 ~= M0 * 2^(shift - 31), left = max(shift, 0),
// right = max(-shift, 0), and gemmlowp's
//   SRDHM(a, b)  = (a*b + (a*b >= 0 ? 2^30 : 1 - 2^30)) / 2^31, truncated toward
//                  zero, saturated to INT32_MAX for a = b = INT32_MIN
//                  (SaturatingRoundingDoublingHighMul: round(a*b / 2^31), ties up);
//   RDBPOT(x, e) = x >> e, plus 1 when the remainder x & (2^e - 1) exceeds
//                  (2^e - 1) >> 1 (plus 1 for negative x): round to nearest,
//                  ties away from zero.
//
// Latency: 5 clock cycles from in_valid to out_valid, one result per cycle
// (stage 1 shift left, 2 the 32x32 product, 3 SRDHM rounding, 4 rounding
// right shift, 5 + Z3 and clamp). zp, lo and hi are layer constants: hold them
// while the pipeline has data. Each stage's data registers load only when
// that stage holds a value (clock enables): idle cycles change nothing. The
// five stages share one always block (one process per clock edge in an
// event-driven simulator); each stage reads only the previous stage's
// registers, so the order of the statements does not matter.
module ql_requant #(
    parameter integer OW = 9    // output bits (signed; int8 and uint8 fit in 9)
) (
    input  wire                 clk,
    input  wire                 in_valid,
    input  wire signed [31:0]   acc,
    input  wire signed [31:0]   m0,
    input  wire signed [7:0]    shift,
    input  wire signed [31:0]   zp,
    input  wire signed [31:0]   lo,
    input  wire signed [31:0]   hi,
    output reg                  out_valid,
    output reg  signed [OW-1:0] y
);
    localparam signed [31:0] INT_MIN = 32'sh80000000;
    localparam signed [31:0] INT_MAX = 32'sh7fffffff;

    // stage 1: left shift (wraps, as the C `(int32_t)((uint32_t)x << left)`)
    reg v1; reg signed [31:0] xs1, m1; reg [4:0] r1;
    wire [4:0] left = (shift > 0) ? shift[4:0] : 5'd0;
    wire signed [8:0] neg_shift = -shift;
    wire [4:0] right = (shift > 0) ? 5'd0 : ((neg_shift > 31) ? 5'd31 : neg_shift[4:0]);

    // stage 2: the 64-bit product
    reg v2; reg signed [63:0] p2; reg sat2; reg [4:0] r2;

    // stage 3: SRDHM = (p + nudge) / 2^31, truncating toward zero
    reg v3; reg signed [31:0] h3; reg [4:0] r3;
    wire signed [63:0] nudged = p2 + ((p2 >= 0) ? 64'sd1073741824 : -64'sd1073741823);
    wire signed [63:0] floor31 = nudged >>> 31;
    wire signed [63:0] trunc31 = floor31 + (((nudged < 0) && (nudged[30:0] != 31'd0)) ? 64'sd1 : 64'sd0);

    // stage 4: RoundingDivideByPOT(h, right)
    reg v4; reg signed [31:0] q4;
    wire [31:0] mask = (32'd1 << r3) - 32'd1;
    wire [31:0] rem = h3 & mask;
    wire [31:0] thr = (mask >> 1) + ((h3 < 0) ? 32'd1 : 32'd0);

    // stage 5: + Z3, clamp to [lo, hi]
    wire signed [32:0] z5 = q4 + zp;

    always @(posedge clk) begin
        v1 <= in_valid;                                   // stage 1
        if (in_valid) begin
            xs1 <= acc <<< left;
            m1 <= m0;
            r1 <= right;
        end
        v2 <= v1;                                         // stage 2
        if (v1) begin
            p2 <= xs1 * m1;
            sat2 <= (xs1 == INT_MIN) && (m1 == INT_MIN);
            r2 <= r1;
        end
        v3 <= v2;                                         // stage 3
        if (v2) begin
            h3 <= sat2 ? INT_MAX : trunc31[31:0];
            r3 <= r2;
        end
        v4 <= v3;                                         // stage 4
        if (v3) q4 <= (h3 >>> r3) + ((rem > thr) ? 32'sd1 : 32'sd0);
        out_valid <= v4;                                  // stage 5
        if (v4) y <= (z5 < lo) ? lo[OW-1:0] : ((z5 > hi) ? hi[OW-1:0] : z5[OW-1:0]);
    end
endmodule
