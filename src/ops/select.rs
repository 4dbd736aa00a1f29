//! SELECT and SELECT_V2: `cond ? x : y`, elementwise; SELECT_V2 broadcasts
//! all three. Values are copied in their own dtype (for int8, x, y and the
//! output share one scale), the same in every runtime.

use super::layout::{bools, broadcast_map, broadcast_shape};
use super::OpContext;
use crate::error::EngineError;
use crate::tensor::{Data, Value};

/// Everything SELECT needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub cond: usize,
    pub x: usize,
    pub y: usize,
    pub output: usize,
    /// For each output element: its position in cond, x and y.
    pub at: Vec<[usize; 3]>,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let (cond, x, y, output) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?, ctx.output(0)?);
    ctx.require_same(x, output, true)?;
    ctx.require_same(y, output, true)?;
    let os = ctx.shape(output);
    // The output must be exactly the inputs' broadcast: a corrupt output dimension of millions
    // is refused before the three maps of one position per output element are built.
    let (sc, sx, sy) = (ctx.shape(cond), ctx.shape(x), ctx.shape(y));
    if broadcast_shape(&[&sc, &sx, &sy]).as_deref() != Some(&os[..]) {
        return Err(ctx.bad(format!("shapes {sc:?}, {sx:?} and {sy:?} do not broadcast to the output's {os:?}")));
    }
    let map = |t: usize| broadcast_map(&ctx.shape(t), &os).ok_or_else(|| ctx.bad(format!("tensor {t} of shape {:?} does not broadcast to {os:?}", ctx.shape(t))));
    let (mc, mx, my) = (map(cond)?, map(x)?, map(y)?);
    let at = (0..mc.len()).map(|i| [mc[i], mx[i], my[i]]).collect();
    Ok(Params { cond, x, y, output, at, output_shape: os })
}

impl Params {
    pub fn eval(&self, c: &Value, x: &Value, y: &Value) -> Result<Value, EngineError> {
        fn pick<T: Copy>(at: &[[usize; 3]], c: &[bool], x: &[T], y: &[T]) -> Vec<T> {
            at.iter().map(|&[i, j, k]| if c[i] { x[j] } else { y[k] }).collect()
        }
        let c = bools(c, self.cond)?;
        let data = match (&x.data, &y.data) {
            (Data::F32(a), Data::F32(b)) => Data::F32(pick(&self.at, c, a, b)),
            (Data::I8(a), Data::I8(b)) => Data::I8(pick(&self.at, c, a, b)),
            (Data::U8(a), Data::U8(b)) => Data::U8(pick(&self.at, c, a, b)),
            (Data::I32(a), Data::I32(b)) => Data::I32(pick(&self.at, c, a, b)),
            (Data::Bool(a), Data::Bool(b)) => Data::Bool(pick(&self.at, c, a, b)),
            _ => return Err(EngineError::BadInput(format!("SELECT inputs t{} and t{} differ in dtype", self.x, self.y))),
        };
        Ok(Value { shape: self.output_shape.clone(), data })
    }
}
