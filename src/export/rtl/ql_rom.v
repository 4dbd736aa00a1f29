// quantlens — synchronous ROM, contents from a $readmemh file (Yosys infers
// block RAM; the initial block only loads the file, it has no loop).
// One read per cycle: q <= mem[addr] on the rising edge when en is high.
module ql_rom #(
    parameter integer WIDTH = 8,
    parameter integer DEPTH = 16,
    parameter integer ABITS = 4,
    parameter FILE = "rom.hex"
) (
    input  wire             clk,
    input  wire             en,
    input  wire [ABITS-1:0] addr,
    output reg  [WIDTH-1:0] q
);
    reg [WIDTH-1:0] mem [0:DEPTH-1];
    initial $readmemh(FILE, mem);
    always @(posedge clk) if (en) q <= mem[addr];
endmodule
