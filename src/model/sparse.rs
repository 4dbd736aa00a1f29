//! Sparse constant tensors: the schema's `SparsityParameters` and their
//! expansion to a dense buffer (what DENSIFY computes).
//!
//! # The format (a variant of TACO, see `schema.fbs`)
//!
//! A dense tensor of shape `(d0, …, dn−1)` may be cut into blocks: `block_map`
//! names, for each of the k block dimensions `dn … dn+k−1`, the original
//! dimension it splits. Original dimension `d` split by a block of size `b`
//! becomes an outer dimension of size `d / b` and an inner one of size `b`,
//! giving n + k *expanded* dimensions. `traversal_order` is the order in
//! which the expanded dimensions are walked (a permutation of 0..n+k), and
//! `dim_metadata[i]` says how level i of that walk is stored:
//!
//! - `DENSE(size)`: every coordinate 0..size is present;
//! - `SPARSE_CSR(segments, indices)`: for the p-th position reached so far,
//!   the coordinates present are `indices[segments[p] .. segments[p+1]]`
//!   (compressed sparse row).
//!
//! The buffer holds one value per position reached at the last level, in
//! walk order. Everything not reached is zero.
//!
//! [`Sparsity::check`] proves at read time that a walk stays inside the
//! expanded shape and consumes exactly the stored values; [`Sparsity::densify`]
//! checks again (the fields are public), then cannot index out of bounds.

/// `DimensionMetadata`: how one level of the traversal is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DimMetadata {
    /// Every coordinate `0..size` is present.
    Dense { size: usize },
    /// Compressed: `segments` (one more than the positions of the previous
    /// level, non-decreasing, from 0 to `indices.len()`) and `indices`.
    SparseCsr { segments: Vec<usize>, indices: Vec<usize> },
}

/// `SparsityParameters` of a constant tensor, with its stored values.
#[derive(Clone, Debug, PartialEq)]
pub struct Sparsity {
    /// Order in which the n + k expanded dimensions are walked.
    pub traversal_order: Vec<usize>,
    /// For each block dimension n + j, the original dimension it splits.
    pub block_map: Vec<usize>,
    /// One entry per level of the walk.
    pub dim_metadata: Vec<DimMetadata>,
    /// The stored values, little-endian bytes of the tensor's dtype, in walk order.
    pub values: Vec<u8>,
    /// Number of stored values.
    pub value_count: usize,
}

impl Sparsity {
    /// Sizes of the n + k expanded dimensions, checking the parameters
    /// against `shape`: `traversal_order` a permutation, `block_map` distinct
    /// original dimensions, block sizes (the DENSE sizes of the block
    /// levels) dividing their dimensions.
    fn expanded_dims(&self, shape: &[usize]) -> Result<Vec<usize>, String> {
        let n = shape.len();
        let k = self.block_map.len();
        let levels = n + k;
        if self.traversal_order.len() != levels || self.dim_metadata.len() != levels {
            return Err(format!(
                "sparsity: {} traversal_order entries and {} dim_metadata for a rank-{n} shape with {k} block dimensions (both must be {levels})",
                self.traversal_order.len(),
                self.dim_metadata.len()
            ));
        }
        let mut seen = vec![false; levels];
        for &d in &self.traversal_order {
            if d >= levels || std::mem::replace(&mut seen[d], true) {
                return Err(format!("sparsity: traversal_order {:?} is not a permutation of 0..{levels}", self.traversal_order));
            }
        }
        let mut blocked = vec![false; n];
        for &d in &self.block_map {
            if d >= n || std::mem::replace(&mut blocked[d], true) {
                return Err(format!("sparsity: block_map {:?} must name distinct dimensions below {n}", self.block_map));
            }
        }
        // Block sizes: the DENSE size of the level that walks dimension n + j.
        let mut dims: Vec<usize> = shape.to_vec();
        dims.resize(levels, 0);
        for j in 0..k {
            let level = self.traversal_order.iter().position(|&d| d == n + j).unwrap_or(levels);
            let size = match self.dim_metadata.get(level) {
                Some(DimMetadata::Dense { size }) if *size > 0 => *size,
                _ => return Err(format!("sparsity: block dimension {} must be stored DENSE with a size > 0", n + j)),
            };
            let d = self.block_map[j];
            if shape[d] % size != 0 {
                return Err(format!("sparsity: block size {size} does not divide dimension {d} of size {}", shape[d]));
            }
            dims[d] = shape[d] / size;
            dims[n + j] = size;
        }
        Ok(dims)
    }

    /// Check the parameters against the tensor's dense `shape` and return the
    /// number of values a walk reads (the buffer must hold exactly that many).
    pub(crate) fn check(&self, shape: &[usize]) -> Result<usize, String> {
        let dims = self.expanded_dims(shape)?;
        let mut positions: usize = 1;
        for (level, meta) in self.dim_metadata.iter().enumerate() {
            let size = dims[self.traversal_order[level]];
            positions = match meta {
                DimMetadata::Dense { size: s } if *s == size => {
                    positions.checked_mul(size).ok_or("sparsity: too many positions")?
                }
                DimMetadata::Dense { size: s } => {
                    return Err(format!("sparsity: level {level} is DENSE of size {s} but its dimension has size {size}"))
                }
                DimMetadata::SparseCsr { segments, indices } => {
                    if segments.len() != positions + 1 {
                        return Err(format!(
                            "sparsity: level {level} has {} array_segments, expected {} (one more than the positions above it)",
                            segments.len(),
                            positions + 1
                        ));
                    }
                    if segments[0] != 0 || segments.windows(2).any(|w| w[0] > w[1]) || segments[positions] != indices.len() {
                        return Err(format!(
                            "sparsity: level {level}: array_segments must rise from 0 to {} (the number of array_indices)",
                            indices.len()
                        ));
                    }
                    if let Some(bad) = indices.iter().find(|&&i| i >= size) {
                        return Err(format!("sparsity: level {level}: index {bad} outside its dimension of size {size}"));
                    }
                    indices.len()
                }
            };
        }
        Ok(positions)
    }

    /// Expand the stored values into a dense row-major buffer of `shape`,
    /// `elem` bytes per element, zeros where no value is stored (TFLite's
    /// `FormatConverter::SparseToDense`). Fails, without allocating, when the
    /// parameters do not pass [`Sparsity::check`] for this shape or the values
    /// are not `elem` bytes each.
    pub fn densify(&self, shape: &[usize], elem: usize) -> Result<Vec<u8>, String> {
        let count = self.check(shape)?;
        if count.checked_mul(elem) != Some(self.values.len()) {
            return Err(format!("sparsity: {} bytes of values for {count} values of {elem} bytes", self.values.len()));
        }
        let total = shape.iter().try_fold(elem, |n, &d| n.checked_mul(d)).ok_or("sparsity: dense size overflows")?;
        let dense = vec![0u8; total];
        let dims = self.expanded_dims(shape)?;
        let n = shape.len();
        // Row-major strides of the original shape.
        let mut stride = vec![1usize; n];
        for d in (0..n.saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * shape[d + 1];
        }
        // Dense offset contributed by each expanded dimension: an outer
        // (block-index) coordinate moves by block size · stride, an inner one by stride.
        let mut step = vec![0usize; dims.len()];
        step[..n].copy_from_slice(&stride);
        for (j, &d) in self.block_map.iter().enumerate() {
            step[d] = stride[d] * dims[n + j];
            step[n + j] = stride[d];
        }
        let mut walk = Walk { sparsity: self, step, elem, next: 0, dense };
        walk.level(0, 0, 0);
        Ok(walk.dense)
    }
}

/// The state of one [`Sparsity::densify`]: where each expanded coordinate
/// moves in the dense buffer, and the next stored value to place.
struct Walk<'a> {
    sparsity: &'a Sparsity,
    step: Vec<usize>,
    elem: usize,
    next: usize,
    dense: Vec<u8>,
}

impl Walk<'_> {
    /// Depth-first walk of `level` from position `pos` (of the level above), at dense `offset`.
    fn level(&mut self, level: usize, pos: usize, offset: usize) {
        let sp = self.sparsity;
        if level == sp.dim_metadata.len() {
            let e = self.elem;
            let (from, at) = (self.next * e, offset * e);
            if let (Some(src), Some(dst)) = (sp.values.get(from..from + e), self.dense.get_mut(at..at + e)) {
                dst.copy_from_slice(src);
            }
            self.next += 1;
            return;
        }
        let step = self.step[sp.traversal_order[level]];
        match &sp.dim_metadata[level] {
            DimMetadata::Dense { size } => {
                for c in 0..*size {
                    self.level(level + 1, pos * size + c, offset + c * step);
                }
            }
            DimMetadata::SparseCsr { segments, indices } => {
                let (from, to) = (segments[pos], segments[pos + 1]);
                for (p, &i) in indices.iter().enumerate().take(to).skip(from) {
                    self.level(level + 1, p, offset + i * step);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encode a row-major `rows × cols` f32 matrix as the converter does:
    /// rows DENSE, then column blocks of width `bc` SPARSE_CSR (a block is
    /// stored when any of its values is non-zero), then (for `bc > 1`) the
    /// block's columns DENSE.
    fn encode(m: &[f32], rows: usize, cols: usize, bc: usize) -> Sparsity {
        let (mut segments, mut indices, mut values) = (vec![0], Vec::new(), Vec::new());
        for r in 0..rows {
            for b in 0..cols / bc {
                let block = &m[r * cols + b * bc..r * cols + (b + 1) * bc];
                if block.iter().any(|&v| v != 0.0) {
                    indices.push(b);
                    values.extend(block.iter().flat_map(|v| v.to_le_bytes()));
                }
            }
            segments.push(indices.len());
        }
        let value_count = values.len() / 4;
        let mut dim_metadata = vec![DimMetadata::Dense { size: rows }, DimMetadata::SparseCsr { segments, indices }];
        let (traversal_order, block_map) = if bc > 1 {
            dim_metadata.push(DimMetadata::Dense { size: bc });
            (vec![0, 1, 2], vec![1])
        } else {
            (vec![0, 1], vec![])
        };
        Sparsity { traversal_order, block_map, dim_metadata, values, value_count }
    }

    fn random_matrix(seed: u64, rows: usize, cols: usize, bc: usize) -> Vec<f32> {
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 33) as u32
        };
        let keep: Vec<bool> = (0..rows * cols / bc).map(|_| next() % 4 == 0).collect();
        (0..rows * cols).map(|i| if keep[i / bc] { (next() % 2000) as f32 / 100.0 - 10.0 } else { 0.0 }).collect()
    }

    #[test]
    fn densify_inverts_the_encoding() {
        for (seed, rows, cols, bc) in [(1, 16, 784, 1), (2, 16, 784, 4), (3, 5, 12, 1), (4, 3, 8, 2), (5, 1, 4, 4)] {
            let m = random_matrix(seed, rows, cols, bc);
            let sp = encode(&m, rows, cols, bc);
            assert_eq!(sp.check(&[rows, cols]), Ok(sp.value_count));
            let dense = sp.densify(&[rows, cols], 4).unwrap();
            let back: Vec<f32> = dense.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            assert_eq!(back, m, "seed {seed}");
        }
    }

    #[test]
    fn column_major_traversal() {
        // traversal (d1, d0): columns outer, rows inner; both DENSE.
        let values: Vec<u8> = (0u8..6).collect();
        let sp = Sparsity {
            traversal_order: vec![1, 0],
            block_map: vec![],
            dim_metadata: vec![DimMetadata::Dense { size: 3 }, DimMetadata::Dense { size: 2 }],
            values: values.clone(),
            value_count: 6,
        };
        assert_eq!(sp.check(&[2, 3]), Ok(6));
        // value k is at (row k % 2, column k / 2).
        let dense = sp.densify(&[2, 3], 1).unwrap();
        for (k, &v) in values.iter().enumerate() {
            assert_eq!(dense[(k % 2) * 3 + k / 2], v);
        }
    }

    #[test]
    fn parameters_that_do_not_fit_are_refused() {
        let m = random_matrix(9, 4, 8, 2);
        let good = encode(&m, 4, 8, 2);
        let mut bad = good.clone();
        bad.traversal_order = vec![0, 0, 2];
        assert!(bad.check(&[4, 8]).unwrap_err().contains("permutation"));
        let mut bad = good.clone();
        bad.block_map = vec![5];
        assert!(bad.check(&[4, 8]).is_err());
        let mut bad = good.clone();
        bad.dim_metadata[2] = DimMetadata::Dense { size: 3 };
        assert!(bad.check(&[4, 8]).unwrap_err().contains("does not divide"));
        let mut bad = good.clone();
        if let DimMetadata::SparseCsr { indices, .. } = &mut bad.dim_metadata[1] {
            if let Some(i) = indices.first_mut() {
                *i = 4;
            }
        }
        assert!(bad.check(&[4, 8]).unwrap_err().contains("outside"));
        let mut bad = good;
        if let DimMetadata::SparseCsr { segments, .. } = &mut bad.dim_metadata[1] {
            segments.pop();
        }
        assert!(bad.check(&[4, 8]).unwrap_err().contains("array_segments"));
        assert!(encode(&m, 4, 8, 2).check(&[4, 8, 1]).is_err(), "rank mismatch");
    }
}
