//! SQUEEZE: remove dimensions of size 1 (those listed in `squeeze_dims`, or
//! all of them). The elements and their order do not change, so every dtype
//! works and every runtime agrees.
//!
//! The output tensor's stored shape is the result; prepare checks that it is
//! the input's shape with some size-1 dimensions removed (which ones the
//! options named does not change a single element).

use super::OpContext;
use crate::error::EngineError;
use crate::tensor::Value;

/// Everything SQUEEZE needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub output_shape: Vec<usize>,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    ctx.require_same(input, output, true)?;
    let (is, os) = (ctx.shape(input), ctx.shape(output));
    if !is_squeeze_of(&is, &os) {
        return Err(ctx.bad(format!("output shape {os:?} is not input shape {is:?} without some of its size-1 dimensions")));
    }
    Ok(Params { input, output, output_shape: os })
}

/// Whether `out` is `inp` with some dimensions of size 1 removed.
pub fn is_squeeze_of(inp: &[usize], out: &[usize]) -> bool {
    let mut o = out.iter().peekable();
    for &d in inp {
        if o.peek() == Some(&&d) {
            o.next();
        } else if d != 1 {
            return false;
        }
    }
    o.next().is_none()
}

impl Params {
    pub fn eval(&self, x: &Value) -> Result<Value, EngineError> {
        Ok(x.reshaped(&self.output_shape))
    }
}

#[cfg(test)]
mod tests {
    use super::is_squeeze_of;

    #[test]
    fn squeeze_shapes() {
        assert!(is_squeeze_of(&[1, 1, 14, 32], &[1, 14, 32]));
        assert!(is_squeeze_of(&[1, 1, 1, 10], &[10]));
        assert!(!is_squeeze_of(&[1, 2, 14], &[1, 14]));
        assert!(!is_squeeze_of(&[1, 14, 32], &[1, 32, 14]));
    }
}
