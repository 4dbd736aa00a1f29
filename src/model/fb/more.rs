//! Accessors for the rest of the schema the reader shows: signatures,
//! metadata, sparsity parameters and blockwise quantization (same rules as
//! the parent module: each accessor reads exactly the slot and type its
//! table's verifier checked).

use super::*;

table!(
    /// `table Metadata` — `name:string`, `buffer:uint` (the bytes).
    Metadata
);

impl<'a> Metadata<'a> {
    const NAME: VOffsetT = slot(0);
    const BUFFER: VOffsetT = slot(1);

    pub(crate) fn name(&self) -> Option<&'a [u8]> {
        // SAFETY: verified as a byte vector.
        unsafe { offset::<Bytes>(&self.0, Self::NAME) }.map(|v| v.bytes())
    }

    pub(crate) fn buffer(&self) -> u32 {
        // SAFETY: verified as u32.
        unsafe { scalar(&self.0, Self::BUFFER, 0) }
    }
}

impl Verifiable for Metadata<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<Off<Bytes>>("name", Self::NAME, false)?
            .visit_field::<u32>("buffer", Self::BUFFER, false)?
            .finish();
        Ok(())
    }
}

table!(
    /// `table TensorMap` — `name:string`, `tensor_index:uint`.
    TensorMap
);

impl<'a> TensorMap<'a> {
    const NAME: VOffsetT = slot(0);
    const TENSOR_INDEX: VOffsetT = slot(1);

    pub(crate) fn name(&self) -> Option<&'a [u8]> {
        // SAFETY: verified as a byte vector.
        unsafe { offset::<Bytes>(&self.0, Self::NAME) }.map(|v| v.bytes())
    }

    pub(crate) fn tensor_index(&self) -> u32 {
        // SAFETY: verified as u32.
        unsafe { scalar(&self.0, Self::TENSOR_INDEX, 0) }
    }
}

impl Verifiable for TensorMap<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<Off<Bytes>>("name", Self::NAME, false)?
            .visit_field::<u32>("tensor_index", Self::TENSOR_INDEX, false)?
            .finish();
        Ok(())
    }
}

table!(
    /// `table SignatureDef` — inputs, outputs, `signature_key`, `subgraph_index`.
    SignatureDef
);

impl<'a> SignatureDef<'a> {
    const INPUTS: VOffsetT = slot(0);
    const OUTPUTS: VOffsetT = slot(1);
    const SIGNATURE_KEY: VOffsetT = slot(2);
    // slot(3) deprecated_tag is not read.
    const SUBGRAPH_INDEX: VOffsetT = slot(4);

    pub(crate) fn inputs(&self) -> Option<Vector<'a, ForwardsUOffset<TensorMap<'a>>>> {
        // SAFETY: verified as a vector of TensorMap tables.
        unsafe { offset::<Tables<TensorMap>>(&self.0, Self::INPUTS) }
    }

    pub(crate) fn outputs(&self) -> Option<Vector<'a, ForwardsUOffset<TensorMap<'a>>>> {
        // SAFETY: verified as a vector of TensorMap tables.
        unsafe { offset::<Tables<TensorMap>>(&self.0, Self::OUTPUTS) }
    }

    pub(crate) fn signature_key(&self) -> Option<&'a [u8]> {
        // SAFETY: verified as a byte vector.
        unsafe { offset::<Bytes>(&self.0, Self::SIGNATURE_KEY) }.map(|v| v.bytes())
    }

    pub(crate) fn subgraph_index(&self) -> u32 {
        // SAFETY: verified as u32.
        unsafe { scalar(&self.0, Self::SUBGRAPH_INDEX, 0) }
    }
}

impl Verifiable for SignatureDef<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<Off<Tables<TensorMap>>>("inputs", Self::INPUTS, false)?
            .visit_field::<Off<Tables<TensorMap>>>("outputs", Self::OUTPUTS, false)?
            .visit_field::<Off<Bytes>>("signature_key", Self::SIGNATURE_KEY, false)?
            .visit_field::<u32>("subgraph_index", Self::SUBGRAPH_INDEX, false)?
            .finish();
        Ok(())
    }
}

table!(
    /// `table SparsityParameters` — traversal order, block map, dim metadata.
    SparsityParameters
);

impl<'a> SparsityParameters<'a> {
    const TRAVERSAL_ORDER: VOffsetT = slot(0);
    const BLOCK_MAP: VOffsetT = slot(1);
    const DIM_METADATA: VOffsetT = slot(2);

    pub(crate) fn traversal_order(&self) -> Option<Vector<'a, i32>> {
        // SAFETY: verified as [int].
        unsafe { offset::<Vector<i32>>(&self.0, Self::TRAVERSAL_ORDER) }
    }

    pub(crate) fn block_map(&self) -> Option<Vector<'a, i32>> {
        // SAFETY: verified as [int].
        unsafe { offset::<Vector<i32>>(&self.0, Self::BLOCK_MAP) }
    }

    pub(crate) fn dim_metadata(&self) -> Option<Vector<'a, ForwardsUOffset<DimensionMetadata<'a>>>> {
        // SAFETY: verified as a vector of DimensionMetadata tables.
        unsafe { offset::<Tables<DimensionMetadata>>(&self.0, Self::DIM_METADATA) }
    }
}

impl Verifiable for SparsityParameters<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<Off<Vector<i32>>>("traversal_order", Self::TRAVERSAL_ORDER, false)?
            .visit_field::<Off<Vector<i32>>>("block_map", Self::BLOCK_MAP, false)?
            .visit_field::<Off<Tables<DimensionMetadata>>>("dim_metadata", Self::DIM_METADATA, false)?
            .finish();
        Ok(())
    }
}

table!(
    /// `table DimensionMetadata` — format, dense_size and the two CSR index vectors.
    DimensionMetadata
);

/// `union SparseIndexVector { Int32Vector, Uint16Vector, Uint8Vector }`.
const INT32_VECTOR: u8 = 1;
const UINT16_VECTOR: u8 = 2;
const UINT8_VECTOR: u8 = 3;

/// A `SparseIndexVector` member: a table whose field 0 is `values:[T]`.
struct IndexVector<T>(std::marker::PhantomData<T>);

impl<T: flatbuffers::SimpleToVerifyInSlice + 'static> Verifiable for IndexVector<T> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?.visit_field::<Off<Vector<T>>>("values", slot(0), false)?.finish();
        Ok(())
    }
}

fn verify_index_vector(kind: u8, v: &mut Verifier, pos: usize) -> VResult {
    match kind {
        INT32_VECTOR => Off::<IndexVector<i32>>::run_verifier(v, pos),
        UINT16_VECTOR => Off::<IndexVector<u16>>::run_verifier(v, pos),
        UINT8_VECTOR => Off::<IndexVector<u8>>::run_verifier(v, pos),
        _ => Off::<AnyTable>::run_verifier(v, pos),
    }
}

impl<'a> DimensionMetadata<'a> {
    const FORMAT: VOffsetT = slot(0);
    const DENSE_SIZE: VOffsetT = slot(1);
    const SEGMENTS_TYPE: VOffsetT = slot(2);
    const SEGMENTS: VOffsetT = slot(3);
    const INDICES_TYPE: VOffsetT = slot(4);
    const INDICES: VOffsetT = slot(5);

    /// `format:DimensionType` — 0 DENSE, 1 SPARSE_CSR.
    pub(crate) fn format(&self) -> i8 {
        // SAFETY: verified as i8.
        unsafe { scalar(&self.0, Self::FORMAT, 0) }
    }

    pub(crate) fn dense_size(&self) -> i32 {
        // SAFETY: verified as i32.
        unsafe { scalar(&self.0, Self::DENSE_SIZE, 0) }
    }

    /// The values of a `SparseIndexVector` union, widened to i64; `None`
    /// when absent or of an unknown member type.
    fn index_vector(&self, type_slot: VOffsetT, value_slot: VOffsetT) -> Option<Vec<i64>> {
        // SAFETY: verified by `visit_union` with `verify_index_vector`.
        let (kind, table) = unsafe { union_member(&self.0, type_slot, value_slot) }?;
        // SAFETY: `verify_index_vector` checked slot 0 as a vector of the
        // member's element type.
        unsafe {
            match kind {
                INT32_VECTOR => table.get::<Off<Vector<i32>>>(slot(0), None).map(|v| v.iter().map(i64::from).collect()),
                UINT16_VECTOR => table.get::<Off<Vector<u16>>>(slot(0), None).map(|v| v.iter().map(i64::from).collect()),
                UINT8_VECTOR => table.get::<Off<Vector<u8>>>(slot(0), None).map(|v| v.iter().map(i64::from).collect()),
                _ => None,
            }
        }
    }

    pub(crate) fn array_segments(&self) -> Option<Vec<i64>> {
        self.index_vector(Self::SEGMENTS_TYPE, Self::SEGMENTS)
    }

    pub(crate) fn array_indices(&self) -> Option<Vec<i64>> {
        self.index_vector(Self::INDICES_TYPE, Self::INDICES)
    }
}

impl Verifiable for DimensionMetadata<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        let tv = v
            .visit_table(pos)?
            .visit_field::<i8>("format", Self::FORMAT, false)?
            .visit_field::<i32>("dense_size", Self::DENSE_SIZE, false)?;
        let tv = visit_union(tv, Self::SEGMENTS_TYPE, Self::SEGMENTS, verify_index_vector)?;
        visit_union(tv, Self::INDICES_TYPE, Self::INDICES, verify_index_vector)?.finish();
        Ok(())
    }
}

table!(
    /// `table BlockwiseQuantization` — `scales:int`, `zero_points:int`
    /// (tensor indices), `block_size:int`.
    BlockwiseQuantization
);

impl BlockwiseQuantization<'_> {
    pub(crate) fn scales(&self) -> i32 {
        // SAFETY: verified as i32.
        unsafe { scalar(&self.0, slot(0), 0) }
    }

    pub(crate) fn zero_points(&self) -> i32 {
        // SAFETY: verified as i32.
        unsafe { scalar(&self.0, slot(1), 0) }
    }

    pub(crate) fn block_size(&self) -> i32 {
        // SAFETY: verified as i32.
        unsafe { scalar(&self.0, slot(2), 0) }
    }

    /// Wrap a verified union member.
    pub(crate) fn from_table(t: Table<'_>) -> BlockwiseQuantization<'_> {
        BlockwiseQuantization(t)
    }
}

impl Verifiable for BlockwiseQuantization<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<i32>("scales", slot(0), false)?
            .visit_field::<i32>("zero_points", slot(1), false)?
            .visit_field::<i32>("block_size", slot(2), false)?
            .finish();
        Ok(())
    }
}
