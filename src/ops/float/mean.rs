//! MEAN (float32), LiteRT's reference `Mean`: per output, an f32 sum from
//! `0.0f` of its inputs **in memory order** (the order of the reference
//! `Reduce` walk over the input), then one division by the count
//! `sum / float(n)`. The axes and shapes are the integer kernel's [`Reduction`].

use crate::error::EngineError;
use crate::ops::mean::{output_indices, reduced_dims, Reduction};
use crate::ops::OpContext;

/// Everything a float32 MEAN needs, computed once.
#[derive(Clone, Debug)]
pub struct Params {
    pub input: usize,
    pub output: usize,
    pub reduction: Reduction,
}

pub(crate) fn prepare(ctx: &OpContext) -> Result<Params, EngineError> {
    let (input, output) = (ctx.input(0)?, ctx.output(0)?);
    Ok(Params { input, output, reduction: Reduction::read(ctx, input, output)? })
}

impl Params {
    pub fn eval(&self, x: &[f32]) -> Vec<f32> {
        let Reduction { input_shape, reduced, count, .. } = &self.reduction;
        let mut sums = vec![0.0f32; reduced_dims(input_shape, reduced).iter().product()];
        for (o, &v) in output_indices(input_shape, reduced).zip(x) {
            sums[o] += v;
        }
        let n = *count as f32;
        sums.into_iter().map(|s| s / n).collect()
    }
}
