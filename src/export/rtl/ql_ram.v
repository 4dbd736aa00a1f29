// quantlens — simple dual-port RAM for one activation buffer: one write port,
// one synchronous read port (q is mem[raddr] one cycle after the request).
module ql_ram #(
    parameter integer WIDTH = 9,
    parameter integer DEPTH = 16,
    parameter integer ABITS = 4
) (
    input  wire             clk,
    input  wire             we,
    input  wire [ABITS-1:0] waddr,
    input  wire [WIDTH-1:0] wdata,
    input  wire [ABITS-1:0] raddr,
    output reg  [WIDTH-1:0] q
);
    reg [WIDTH-1:0] mem [0:DEPTH-1];
    always @(posedge clk) begin
        if (we) mem[waddr] <= wdata;
        q <= mem[raddr];
    end
endmodule
