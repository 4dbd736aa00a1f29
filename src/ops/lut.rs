//! 256-entry tables of int8 (and uint8) elementwise functions, built in
//! prepare exactly as LiteRT's `LUTPopulate<int8_t>` builds them:
//!
//! ```text
//!     x = S_in · (q − Z_in)                       (f32)
//!     table[q] = clamp(int(round(f(x) · (1 / S_out)) + Z_out))
//! ```
//!
//! with `round` = C's `roundf` (ties away from zero), `1 / S_out` in f32, and
//! the addition of `Z_out` done in f32. GELU, EXP and LOG use it; the
//! functions call the same C library routines the reference kernels call
//! (`erfcf`, `tanhf`, `expf`, `logf`).

use crate::model::DType;

extern "C" {
    // C99 <math.h>; Rust's std has no erfc. Linked from the platform's libm,
    // the same library LiteRT's `std::erfc(float)` resolves to.
    fn erfcf(x: f32) -> f32;
}

/// C's `erfcf`.
pub fn erfc(x: f32) -> f32 {
    // SAFETY: a pure C function of one float, defined for every input.
    unsafe { erfcf(x) }
}

/// The table of `f` for an int8 or uint8 input/output pair: index `q − q_min`.
pub fn populate(dtype: DType, s_in: f32, z_in: i32, s_out: f32, z_out: i32, f: impl Fn(f32) -> f32) -> Vec<i32> {
    let (lo, hi) = super::int_range(dtype);
    let inverse = 1.0f32 / s_out;
    (lo..=hi)
        .map(|q| {
            let x = s_in * (q - z_in) as f32;
            let rescaled = (f(x) * inverse).round();
            let quantized = (rescaled + z_out as f32) as i32;
            quantized.clamp(lo, hi)
        })
        .collect()
}

/// Apply a table built by [`populate`] for `dtype`.
pub fn apply(table: &[i32], dtype: DType, q: &[i32]) -> Vec<i32> {
    let lo = super::int_range(dtype).0;
    q.iter().map(|&v| table[(v - lo) as usize]).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn erfc_is_the_c_library_one() {
        assert_eq!(super::erfc(0.0), 1.0);
        assert!((super::erfc(1.0) - 0.157_299_2).abs() < 1e-6);
    }
}

/// An elementwise op that is a table on int8/uint8 and an f32 function on
/// float32 (EXP, LOG, and the f32 forms of the other unary transformer ops).
#[derive(Clone, Debug)]
pub struct TableOp {
    pub input: usize,
    pub output: usize,
    pub dtype: DType,
    /// `table[q − q_min]`; empty for float32.
    pub table: Vec<i32>,
    /// The f32 function (float32 path, and what the table was built from).
    pub func: fn(f32) -> f32,
    pub output_shape: Vec<usize>,
}

impl TableOp {
    /// Prepare: same dtype in and out; int8/uint8 build the table of `table_fn`
    /// (given the input and output quantization), float32 uses `func`.
    pub(crate) fn prepare(
        ctx: &super::OpContext,
        func: fn(f32) -> f32,
        table_fn: impl Fn(f32, i32, f32, i32) -> Box<dyn Fn(f32) -> f32>,
    ) -> Result<TableOp, crate::error::EngineError> {
        let (input, output) = (ctx.input(0)?, ctx.output(0)?);
        ctx.require_same(input, output, false)?;
        super::same_element_count(ctx, input, output)?;
        let dtype = ctx.dtype(input);
        let table = match dtype {
            DType::F32 => Vec::new(),
            DType::I8 | DType::U8 => {
                let (s_in, z_in) = ctx.per_tensor_quant(input, "input")?;
                let (s_out, z_out) = ctx.per_tensor_quant(output, "output")?;
                populate(dtype, s_in, z_in, s_out, z_out, table_fn(s_in, z_in, s_out, z_out))
            }
            other => return Err(ctx.unsupported(format!("dtype {other} (int8, uint8 and float32 are supported)"))),
        };
        Ok(TableOp { input, output, dtype, table, func, output_shape: ctx.shape(output) })
    }

    pub fn eval(&self, x: &crate::tensor::Value) -> Result<crate::tensor::Value, crate::error::EngineError> {
        use crate::tensor::{Data, Value};
        if self.dtype == DType::F32 {
            let v = super::layout::f32s(x, self.input)?;
            return Ok(Value { shape: self.output_shape.clone(), data: Data::F32(v.iter().map(|&a| (self.func)(a)).collect()) });
        }
        let q = super::ints(x, self.input)?;
        Ok(super::narrow(self.dtype, &self.output_shape, apply(&self.table, self.dtype, &q)))
    }

    pub fn describe(&self) -> String {
        if self.dtype == DType::F32 {
            "none: float32, the C library function".into()
        } else {
            "none: 256-entry table built in f32 in every runtime".into()
        }
    }
}
