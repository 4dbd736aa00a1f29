//! Typed, zero-copy accessors for the parts of TensorFlow Lite's FlatBuffer
//! schema (`schema.fbs`) that quantlens reads, written by hand on top of the
//! [`flatbuffers`] crate.
//!
//! # How a FlatBuffer table is laid out
//!
//! A *table* starts with a signed 32-bit offset to its *vtable*. The vtable is
//! a list of 16-bit numbers: its own length in bytes, the table's inline size,
//! then one entry per field giving the field's position inside the table (0 =
//! field absent, read its default). Fields are numbered in schema declaration
//! order, so field `id` lives at vtable byte offset `4 + 2·id` (see [`slot`]).
//! A union field takes two ids: a `ubyte` discriminant `<name>_type`, then the
//! offset to the member table.
//!
//! Scalars are stored inline; strings, vectors and sub-tables are stored as a
//! forward 32-bit offset ([`ForwardsUOffset`]) relative to the field itself.
//!
//! # Safety
//!
//! Reading a field is an `unsafe` operation in the `flatbuffers` crate: it
//! trusts that the bytes at that slot really are of the given type. This is
//! sound only because [`verified_root`] runs the crate's verifier over the
//! whole reachable object graph first, and every [`Verifiable`] impl below
//! checks *exactly* the slots and types that the matching accessors read.
//! When you add an accessor, add the matching `visit_field` in the same
//! table's `run_verifier`, with the same slot constant and the same type.
//!
//! Strings are read as byte vectors (`[ubyte]`) and decoded lossily by the
//! caller: the reference runtime does not require valid UTF-8 in tensor names,
//! so neither do we.

use flatbuffers::{
    Follow, ForwardsUOffset, InvalidFlatbuffer, Table, TableVerifier, VOffsetT, Vector, Verifiable,
    Verifier, VerifierOptions,
};

/// The file identifier of a TFLite model (`file_identifier "TFL3";`), stored
/// in bytes 4..8 right after the root offset.
pub(crate) const FILE_IDENTIFIER: &[u8; 4] = b"TFL3";

/// Result type of the verifier.
type VResult = Result<(), InvalidFlatbuffer>;

/// The vtable byte offset of the field with schema id `id`: the vtable starts
/// with two `u16`s (vtable size, table size), then one `u16` per field.
const fn slot(id: VOffsetT) -> VOffsetT {
    4 + 2 * id
}

/// Limits for the verifier, scaled to the file so that a hostile file (for
/// example one whose offsets make many parents share one child, so the
/// object graph expands into a huge tree) cannot make us do unbounded work.
fn verifier_options(file_len: usize) -> VerifierOptions {
    VerifierOptions {
        // Deepest legitimate nesting: Model → SubGraph → Tensor →
        // QuantizationParameters → details table (5 levels).
        max_depth: 16,
        // Every table needs at least a 4-byte vtable offset plus the 4-byte
        // offset that points at it, so a file of n bytes holds < n/8 tables;
        // n/4 leaves room while still bounding repeated visits of shared ones.
        max_tables: file_len / 4 + 64,
        // "Apparent size" counts every byte each visit checks, re-counting
        // shared vtables and offsets; for a tree-shaped file it stays within
        // a few times the file size.
        max_apparent_size: file_len.saturating_mul(8).saturating_add(1 << 20),
        // We read strings as byte vectors and never verify them as `str`.
        ignore_missing_null_terminator: true,
    }
}

/// Verify `bytes` as a `tflite.Model` and return its root table.
///
/// The caller has already checked the length and the file identifier.
pub(crate) fn verified_root(bytes: &[u8]) -> Result<Model<'_>, InvalidFlatbuffer> {
    let opts = verifier_options(bytes.len());
    flatbuffers::root_with_opts::<Model>(&opts, bytes)
}

/// Declares a table wrapper: a [`Table`] plus a [`Follow`] impl so that the
/// crate can hand us one from an offset.
macro_rules! table {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub(crate) struct $name<'a>(Table<'a>);

        impl<'a> Follow<'a> for $name<'a> {
            type Inner = $name<'a>;
            #[inline]
            unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
                // SAFETY: the caller (the crate, after verification) passes
                // the position of a verified table of this type.
                $name(unsafe { Table::new(buf, loc) })
            }
        }
    };
}

/// Read an inline scalar, or `default` if the vtable omits it.
///
/// # Safety
/// The verifier must have checked a `T` at `slot` of this table.
unsafe fn scalar<'a, T>(table: &Table<'a>, slot: VOffsetT, default: T) -> T
where
    T: Follow<'a, Inner = T> + Copy + 'a,
{
    // SAFETY: forwarded to the caller.
    unsafe { table.get::<T>(slot, Some(default)) }.unwrap_or(default)
}

/// Follow the offset stored at `slot`, or `None` if the field is absent.
///
/// # Safety
/// The verifier must have checked a `ForwardsUOffset<T>` at `slot`.
unsafe fn offset<'a, T>(table: &Table<'a>, slot: VOffsetT) -> Option<T::Inner>
where
    T: Follow<'a> + 'a,
{
    // SAFETY: forwarded to the caller.
    unsafe { table.get::<ForwardsUOffset<T>>(slot, None) }
}

mod more;
pub(crate) use more::{BlockwiseQuantization, Metadata, SignatureDef, SparsityParameters, TensorMap};

/// Shorthands for the offset types used in `visit_field`.
type Off<T> = ForwardsUOffset<T>;
type Bytes<'a> = Vector<'a, u8>;
type Tables<'a, T> = Vector<'a, ForwardsUOffset<T>>;

/// A table whose fields we never read: verifying it checks only that its
/// vtable is in bounds (and counts it against the table and depth limits).
/// Used for union members and optional sub-tables quantlens ignores.
pub(crate) struct AnyTable;

impl Verifiable for AnyTable {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?.finish();
        Ok(())
    }
}

/// Verify a union whose two fields are `type_slot` (`ubyte` discriminant) and
/// `value_slot` (offset to the member table).
///
/// This is as lenient as the reference C++ verifier: a discriminant of 0
/// (`NONE`) ignores any value, and a non-zero discriminant without a value is
/// accepted (the accessors then report no options). The crate's own
/// `visit_union` rejects both, which would refuse files TFLite accepts.
fn visit_union<'v, 'o, 'b>(
    mut tv: TableVerifier<'v, 'o, 'b>,
    type_slot: VOffsetT,
    value_slot: VOffsetT,
    verify_member: fn(u8, &mut Verifier, usize) -> VResult,
) -> Result<TableVerifier<'v, 'o, 'b>, InvalidFlatbuffer> {
    let kind = match tv.deref(type_slot)? {
        Some(pos) => tv.verifier().get_u8(pos)?,
        None => 0,
    };
    if kind != 0 {
        if let Some(pos) = tv.deref(value_slot)? {
            verify_member(kind, tv.verifier(), pos)?;
        }
    }
    Ok(tv)
}

/// Read a union written by [`visit_union`]: `(discriminant, member table)`,
/// or `None` when the discriminant is `NONE` or the value is absent.
///
/// # Safety
/// The table must have been verified with [`visit_union`] on these slots.
unsafe fn union_member<'a>(
    table: &Table<'a>,
    type_slot: VOffsetT,
    value_slot: VOffsetT,
) -> Option<(u8, Table<'a>)> {
    // SAFETY: `visit_union` checked a u8 at `type_slot` and, for a non-zero
    // discriminant, a table offset at `value_slot`.
    let kind = unsafe { scalar::<u8>(table, type_slot, 0) };
    if kind == 0 {
        return None;
    }
    // SAFETY: see above.
    let member = unsafe { offset::<Table>(table, value_slot) }?;
    Some((kind, member))
}

// ---------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------

table!(
    /// `table Model` — the root: schema version, the operator codes used,
    /// the subgraphs (0 is the main graph), a description and the buffers.
    Model
);

impl<'a> Model<'a> {
    const VERSION: VOffsetT = slot(0);
    const OPERATOR_CODES: VOffsetT = slot(1);
    const SUBGRAPHS: VOffsetT = slot(2);
    const DESCRIPTION: VOffsetT = slot(3);
    const BUFFERS: VOffsetT = slot(4);
    // slot(5) metadata_buffer is superseded by `metadata`, not read.
    const METADATA: VOffsetT = slot(6);
    const SIGNATURE_DEFS: VOffsetT = slot(7);

    /// `metadata:[Metadata]` — named buffers.
    pub(crate) fn metadata(&self) -> Option<Vector<'a, ForwardsUOffset<Metadata<'a>>>> {
        // SAFETY: verified as a vector of Metadata tables.
        unsafe { offset::<Tables<Metadata>>(&self.0, Self::METADATA) }
    }

    /// `signature_defs:[SignatureDef]` — named entry points.
    pub(crate) fn signature_defs(&self) -> Option<Vector<'a, ForwardsUOffset<SignatureDef<'a>>>> {
        // SAFETY: verified as a vector of SignatureDef tables.
        unsafe { offset::<Tables<SignatureDef>>(&self.0, Self::SIGNATURE_DEFS) }
    }

    /// `version:uint` — the schema version (3 for every current converter).
    pub(crate) fn version(&self) -> u32 {
        // SAFETY: verified as u32 in `run_verifier`.
        unsafe { scalar(&self.0, Self::VERSION, 0) }
    }

    /// `operator_codes:[OperatorCode]` — operators refer to these by index.
    pub(crate) fn operator_codes(&self) -> Option<Vector<'a, ForwardsUOffset<OperatorCode<'a>>>> {
        // SAFETY: verified as a vector of OperatorCode tables.
        unsafe { offset::<Tables<OperatorCode>>(&self.0, Self::OPERATOR_CODES) }
    }

    /// `subgraphs:[SubGraph]` — "the 0th is assumed to be the main model".
    pub(crate) fn subgraphs(&self) -> Option<Vector<'a, ForwardsUOffset<SubGraph<'a>>>> {
        // SAFETY: verified as a vector of SubGraph tables.
        unsafe { offset::<Tables<SubGraph>>(&self.0, Self::SUBGRAPHS) }
    }

    /// `description:string` (e.g. "MLIR Converted."), as raw bytes.
    pub(crate) fn description(&self) -> Option<&'a [u8]> {
        // SAFETY: verified as a byte vector.
        unsafe { offset::<Bytes>(&self.0, Self::DESCRIPTION) }.map(|v| v.bytes())
    }

    /// `buffers:[Buffer]` — raw data for constant tensors. "The 0th entry of
    /// this array must be an empty buffer (sentinel)", so that tensors
    /// without data can say `buffer: 0`.
    pub(crate) fn buffers(&self) -> Option<Vector<'a, ForwardsUOffset<Buffer<'a>>>> {
        // SAFETY: verified as a vector of Buffer tables.
        unsafe { offset::<Tables<Buffer>>(&self.0, Self::BUFFERS) }
    }
}

impl Verifiable for Model<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<u32>("version", Self::VERSION, false)?
            .visit_field::<Off<Tables<OperatorCode>>>(
                "operator_codes",
                Self::OPERATOR_CODES,
                false,
            )?
            .visit_field::<Off<Tables<SubGraph>>>("subgraphs", Self::SUBGRAPHS, false)?
            .visit_field::<Off<Bytes>>("description", Self::DESCRIPTION, false)?
            .visit_field::<Off<Tables<Buffer>>>("buffers", Self::BUFFERS, false)?
            .visit_field::<Off<Tables<Metadata>>>("metadata", Self::METADATA, false)?
            .visit_field::<Off<Tables<SignatureDef>>>("signature_defs", Self::SIGNATURE_DEFS, false)?
            .finish();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// OperatorCode
// ---------------------------------------------------------------------------

table!(
    /// `table OperatorCode` — which operator (builtin enum value or custom
    /// name) and which version of it.
    OperatorCode
);

impl<'a> OperatorCode<'a> {
    const DEPRECATED_BUILTIN_CODE: VOffsetT = slot(0);
    const CUSTOM_CODE: VOffsetT = slot(1);
    const VERSION: VOffsetT = slot(2);
    const BUILTIN_CODE: VOffsetT = slot(3);

    /// `deprecated_builtin_code:byte` — the original one-byte operator code,
    /// kept for old readers; used when the operator's code is below
    /// `PLACEHOLDER_FOR_GREATER_OP_CODES` (127).
    pub(crate) fn deprecated_builtin_code(&self) -> i8 {
        // SAFETY: verified as i8.
        unsafe { scalar(&self.0, Self::DEPRECATED_BUILTIN_CODE, 0) }
    }

    /// `custom_code:string` — the name of a custom operator, as raw bytes.
    pub(crate) fn custom_code(&self) -> Option<&'a [u8]> {
        // SAFETY: verified as a byte vector.
        unsafe { offset::<Bytes>(&self.0, Self::CUSTOM_CODE) }.map(|v| v.bytes())
    }

    /// `version:int = 1` — bumped whenever an operator gains parameters.
    pub(crate) fn version(&self) -> i32 {
        // SAFETY: verified as i32.
        unsafe { scalar(&self.0, Self::VERSION, 1) }
    }

    /// `builtin_code:BuiltinOperator` (int32) — the extended code, added when
    /// the one-byte enum ran out. Old files leave it 0 (`ADD`), which is why
    /// the real code is `max(deprecated_builtin_code, builtin_code)`.
    pub(crate) fn builtin_code(&self) -> i32 {
        // SAFETY: verified as i32.
        unsafe { scalar(&self.0, Self::BUILTIN_CODE, 0) }
    }
}

impl Verifiable for OperatorCode<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<i8>(
                "deprecated_builtin_code",
                Self::DEPRECATED_BUILTIN_CODE,
                false,
            )?
            .visit_field::<Off<Bytes>>("custom_code", Self::CUSTOM_CODE, false)?
            .visit_field::<i32>("version", Self::VERSION, false)?
            .visit_field::<i32>("builtin_code", Self::BUILTIN_CODE, false)?
            .finish();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// SubGraph
// ---------------------------------------------------------------------------

table!(
    /// `table SubGraph` — tensors, graph inputs/outputs (tensor indices) and
    /// the operators in execution order.
    SubGraph
);

impl<'a> SubGraph<'a> {
    const TENSORS: VOffsetT = slot(0);
    const INPUTS: VOffsetT = slot(1);
    const OUTPUTS: VOffsetT = slot(2);
    const OPERATORS: VOffsetT = slot(3);
    const NAME: VOffsetT = slot(4);

    /// `tensors:[Tensor]` — every tensor of this subgraph.
    pub(crate) fn tensors(&self) -> Option<Vector<'a, ForwardsUOffset<Tensor<'a>>>> {
        // SAFETY: verified as a vector of Tensor tables.
        unsafe { offset::<Tables<Tensor>>(&self.0, Self::TENSORS) }
    }

    /// `inputs:[int]` — indices of the non-constant tensors fed in.
    pub(crate) fn inputs(&self) -> Option<Vector<'a, i32>> {
        // SAFETY: verified as [int].
        unsafe { offset::<Vector<i32>>(&self.0, Self::INPUTS) }
    }

    /// `outputs:[int]` — indices of the tensors the graph produces.
    pub(crate) fn outputs(&self) -> Option<Vector<'a, i32>> {
        // SAFETY: verified as [int].
        unsafe { offset::<Vector<i32>>(&self.0, Self::OUTPUTS) }
    }

    /// `name:string`, as raw bytes.
    pub(crate) fn name(&self) -> Option<&'a [u8]> {
        // SAFETY: verified as a byte vector.
        unsafe { offset::<Bytes>(&self.0, Self::NAME) }.map(|v| v.bytes())
    }

    /// `operators:[Operator]` — "all operators, in execution order".
    pub(crate) fn operators(&self) -> Option<Vector<'a, ForwardsUOffset<Operator<'a>>>> {
        // SAFETY: verified as a vector of Operator tables.
        unsafe { offset::<Tables<Operator>>(&self.0, Self::OPERATORS) }
    }
}

impl Verifiable for SubGraph<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<Off<Tables<Tensor>>>("tensors", Self::TENSORS, false)?
            .visit_field::<Off<Vector<i32>>>("inputs", Self::INPUTS, false)?
            .visit_field::<Off<Vector<i32>>>("outputs", Self::OUTPUTS, false)?
            .visit_field::<Off<Tables<Operator>>>("operators", Self::OPERATORS, false)?
            .visit_field::<Off<Bytes>>("name", Self::NAME, false)?
            .finish();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Tensor
// ---------------------------------------------------------------------------

table!(
    /// `table Tensor` — shape, element type, buffer index, name and
    /// quantization of one tensor.
    Tensor
);

impl<'a> Tensor<'a> {
    const SHAPE: VOffsetT = slot(0);
    const TYPE: VOffsetT = slot(1);
    const BUFFER: VOffsetT = slot(2);
    const NAME: VOffsetT = slot(3);
    const QUANTIZATION: VOffsetT = slot(4);
    // slot(5) is is_variable:bool, not read.
    const SPARSITY: VOffsetT = slot(6);
    const SHAPE_SIGNATURE: VOffsetT = slot(7);
    // slot(8) has_rank:bool and slot(9) variant_tensors are not read.
    const EXTERNAL_BUFFER: VOffsetT = slot(10);

    /// `shape:[int]` — NHWC for builtin ops; absent or empty for a scalar.
    pub(crate) fn shape(&self) -> Option<Vector<'a, i32>> {
        // SAFETY: verified as [int].
        unsafe { offset::<Vector<i32>>(&self.0, Self::SHAPE) }
    }

    /// `type:TensorType` (byte) — the element type code.
    pub(crate) fn type_code(&self) -> i8 {
        // SAFETY: verified as i8.
        unsafe { scalar(&self.0, Self::TYPE, 0) }
    }

    /// `buffer:uint` — index into `Model.buffers`; 0 (the empty sentinel)
    /// for tensors without constant data.
    pub(crate) fn buffer(&self) -> u32 {
        // SAFETY: verified as u32.
        unsafe { scalar(&self.0, Self::BUFFER, 0) }
    }

    /// `name:string` — for debugging, as raw bytes.
    pub(crate) fn name(&self) -> Option<&'a [u8]> {
        // SAFETY: verified as a byte vector.
        unsafe { offset::<Bytes>(&self.0, Self::NAME) }.map(|v| v.bytes())
    }

    /// `quantization:QuantizationParameters` — optional.
    pub(crate) fn quantization(&self) -> Option<QuantizationParameters<'a>> {
        // SAFETY: verified as a QuantizationParameters table.
        unsafe { offset::<QuantizationParameters>(&self.0, Self::QUANTIZATION) }
    }

    /// `sparsity:SparsityParameters` — optional.
    pub(crate) fn sparsity(&self) -> Option<SparsityParameters<'a>> {
        // SAFETY: verified as a SparsityParameters table.
        unsafe { offset::<SparsityParameters>(&self.0, Self::SPARSITY) }
    }

    /// `external_buffer:uint` — non-zero when the data lives in an external
    /// file (`Model.external_buffers`), not in this one.
    pub(crate) fn external_buffer(&self) -> u32 {
        // SAFETY: verified as u32.
        unsafe { scalar(&self.0, Self::EXTERNAL_BUFFER, 0) }
    }
}

impl Verifiable for Tensor<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<Off<Vector<i32>>>("shape", Self::SHAPE, false)?
            .visit_field::<i8>("type", Self::TYPE, false)?
            .visit_field::<u32>("buffer", Self::BUFFER, false)?
            .visit_field::<Off<Bytes>>("name", Self::NAME, false)?
            .visit_field::<Off<QuantizationParameters>>("quantization", Self::QUANTIZATION, false)?
            .visit_field::<Off<SparsityParameters>>("sparsity", Self::SPARSITY, false)?
            // "-1 marks an unknown dimension": checked for layout, not read.
            .visit_field::<Off<Vector<i32>>>("shape_signature", Self::SHAPE_SIGNATURE, false)?
            .visit_field::<u32>("external_buffer", Self::EXTERNAL_BUFFER, false)?
            .finish();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// QuantizationParameters
// ---------------------------------------------------------------------------

table!(
    /// `table QuantizationParameters` — affine quantization
    /// `f = scale · (q − zero_point)`, per tensor or per channel.
    QuantizationParameters
);

impl<'a> QuantizationParameters<'a> {
    const MIN: VOffsetT = slot(0);
    const MAX: VOffsetT = slot(1);
    const SCALE: VOffsetT = slot(2);
    const ZERO_POINT: VOffsetT = slot(3);
    const DETAILS_TYPE: VOffsetT = slot(4);
    const DETAILS: VOffsetT = slot(5);
    const QUANTIZED_DIMENSION: VOffsetT = slot(6);

    /// `min:[float]` — calibration minimum ("for importing back into TF").
    pub(crate) fn min(&self) -> Option<Vector<'a, f32>> {
        // SAFETY: verified as [float].
        unsafe { offset::<Vector<f32>>(&self.0, Self::MIN) }
    }

    /// `max:[float]` — calibration maximum.
    pub(crate) fn max(&self) -> Option<Vector<'a, f32>> {
        // SAFETY: verified as [float].
        unsafe { offset::<Vector<f32>>(&self.0, Self::MAX) }
    }

    /// `scale:[float]` — "for dequantizing the tensor's values".
    pub(crate) fn scale(&self) -> Option<Vector<'a, f32>> {
        // SAFETY: verified as [float].
        unsafe { offset::<Vector<f32>>(&self.0, Self::SCALE) }
    }

    /// `zero_point:[long]` — int64 in the file whatever the tensor's type.
    pub(crate) fn zero_point(&self) -> Option<Vector<'a, i64>> {
        // SAFETY: verified as [long].
        unsafe { offset::<Vector<i64>>(&self.0, Self::ZERO_POINT) }
    }

    /// `details:QuantizationDetails` discriminant: 0 NONE, 1
    /// CustomQuantization, 2 BlockwiseQuantization, 3 MultiAxisQuantization.
    /// "If this is not none, the other quantization parameters … are
    /// ignored": quantlens does not read those schemes.
    pub(crate) fn details_type(&self) -> u8 {
        // SAFETY: verified by `visit_union` on these slots.
        unsafe { union_member(&self.0, Self::DETAILS_TYPE, Self::DETAILS) }.map_or(0, |(k, _)| k)
    }

    /// The `BlockwiseQuantization` member of `details`, if that is what it holds.
    pub(crate) fn blockwise(&self) -> Option<BlockwiseQuantization<'a>> {
        // SAFETY: verified by `visit_union` on these slots with
        // `verify_quantization_details`, which checks member 2 as BlockwiseQuantization.
        match unsafe { union_member(&self.0, Self::DETAILS_TYPE, Self::DETAILS) } {
            Some((2, t)) => Some(BlockwiseQuantization::from_table(t)),
            _ => None,
        }
    }

    /// `quantized_dimension:int` — the axis that per-channel parameters run
    /// along.
    pub(crate) fn quantized_dimension(&self) -> i32 {
        // SAFETY: verified as i32.
        unsafe { scalar(&self.0, Self::QUANTIZED_DIMENSION, 0) }
    }
}

/// Verify a `QuantizationDetails` member: `BlockwiseQuantization` (2) is
/// read; the others get a plain table check.
fn verify_quantization_details(kind: u8, v: &mut Verifier, pos: usize) -> VResult {
    match kind {
        2 => Off::<BlockwiseQuantization>::run_verifier(v, pos),
        _ => Off::<AnyTable>::run_verifier(v, pos),
    }
}

impl Verifiable for QuantizationParameters<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        let tv = v
            .visit_table(pos)?
            .visit_field::<Off<Vector<f32>>>("min", Self::MIN, false)?
            .visit_field::<Off<Vector<f32>>>("max", Self::MAX, false)?
            .visit_field::<Off<Vector<f32>>>("scale", Self::SCALE, false)?
            .visit_field::<Off<Vector<i64>>>("zero_point", Self::ZERO_POINT, false)?;
        visit_union(
            tv,
            Self::DETAILS_TYPE,
            Self::DETAILS,
            verify_quantization_details,
        )?
        .visit_field::<i32>("quantized_dimension", Self::QUANTIZED_DIMENSION, false)?
        .finish();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Buffer
// ---------------------------------------------------------------------------

table!(
    /// `table Buffer` — constant bytes, inline or (for models > 2 GB) at an
    /// absolute offset in the file.
    Buffer
);

impl<'a> Buffer<'a> {
    const DATA: VOffsetT = slot(0);
    const OFFSET: VOffsetT = slot(1);
    const SIZE: VOffsetT = slot(2);

    /// `data:[ubyte]` — little-endian element bytes, row-major.
    pub(crate) fn data(&self) -> &'a [u8] {
        // SAFETY: verified as [ubyte].
        unsafe { offset::<Bytes>(&self.0, Self::DATA) }.map_or(&[], |v| v.bytes())
    }

    /// `offset:ulong` — position of the data relative to the start of the
    /// file; "only valid if > 1" (large-model layout, data after the
    /// FlatBuffer).
    pub(crate) fn offset(&self) -> u64 {
        // SAFETY: verified as u64.
        unsafe { scalar(&self.0, Self::OFFSET, 0) }
    }

    /// `size:ulong` — byte length of the data at `offset`.
    pub(crate) fn size(&self) -> u64 {
        // SAFETY: verified as u64.
        unsafe { scalar(&self.0, Self::SIZE, 0) }
    }
}

impl Verifiable for Buffer<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<Off<Bytes>>("data", Self::DATA, false)?
            .visit_field::<u64>("offset", Self::OFFSET, false)?
            .visit_field::<u64>("size", Self::SIZE, false)?
            .finish();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Operator
// ---------------------------------------------------------------------------

table!(
    /// `table Operator` — one node: its operator code (by index), input and
    /// output tensor indices, and options.
    Operator
);

impl<'a> Operator<'a> {
    const OPCODE_INDEX: VOffsetT = slot(0);
    const INPUTS: VOffsetT = slot(1);
    const OUTPUTS: VOffsetT = slot(2);
    const BUILTIN_OPTIONS_TYPE: VOffsetT = slot(3);
    const BUILTIN_OPTIONS: VOffsetT = slot(4);
    const CUSTOM_OPTIONS: VOffsetT = slot(5);
    // slot(6) custom_options_format, slot(7) mutating_variable_inputs,
    // slot(9)/slot(10) large_custom_options_offset/size are not read.
    const INTERMEDIATES: VOffsetT = slot(8);
    const BUILTIN_OPTIONS_2_TYPE: VOffsetT = slot(11);
    const BUILTIN_OPTIONS_2: VOffsetT = slot(12);

    /// `opcode_index:uint` — index into `Model.operator_codes`.
    pub(crate) fn opcode_index(&self) -> u32 {
        // SAFETY: verified as u32.
        unsafe { scalar(&self.0, Self::OPCODE_INDEX, 0) }
    }

    /// `inputs:[int]` — tensor indices; "optional input are indicated by -1".
    pub(crate) fn inputs(&self) -> Option<Vector<'a, i32>> {
        // SAFETY: verified as [int].
        unsafe { offset::<Vector<i32>>(&self.0, Self::INPUTS) }
    }

    /// `outputs:[int]` — tensor indices written by this operator.
    pub(crate) fn outputs(&self) -> Option<Vector<'a, i32>> {
        // SAFETY: verified as [int].
        unsafe { offset::<Vector<i32>>(&self.0, Self::OUTPUTS) }
    }

    /// `builtin_options:BuiltinOptions` — the options table, by union type.
    pub(crate) fn builtin_options(&self) -> BuiltinOptions<'a> {
        // SAFETY: verified by `visit_union` on these slots.
        let member =
            unsafe { union_member(&self.0, Self::BUILTIN_OPTIONS_TYPE, Self::BUILTIN_OPTIONS) };
        match member {
            None => BuiltinOptions::None,
            Some((kind, table)) => BuiltinOptions::from_member(kind, table),
        }
    }
}

impl Verifiable for Operator<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        let tv = v
            .visit_table(pos)?
            .visit_field::<u32>("opcode_index", Self::OPCODE_INDEX, false)?
            .visit_field::<Off<Vector<i32>>>("inputs", Self::INPUTS, false)?
            .visit_field::<Off<Vector<i32>>>("outputs", Self::OUTPUTS, false)?;
        let tv = visit_union(
            tv,
            Self::BUILTIN_OPTIONS_TYPE,
            Self::BUILTIN_OPTIONS,
            verify_builtin_options,
        )?
        .visit_field::<Off<Bytes>>("custom_options", Self::CUSTOM_OPTIONS, false)?
        .visit_field::<Off<Vector<i32>>>("intermediates", Self::INTERMEDIATES, false)?;
        visit_union(
            tv,
            Self::BUILTIN_OPTIONS_2_TYPE,
            Self::BUILTIN_OPTIONS_2,
            verify_builtin_options_2,
        )?
        .finish();
        Ok(())
    }
}

/// `BuiltinOptions2` members (StableHLO ops) are never read.
fn verify_builtin_options_2(_kind: u8, v: &mut Verifier, pos: usize) -> VResult {
    Off::<AnyTable>::run_verifier(v, pos)
}

// ---------------------------------------------------------------------------
// BuiltinOptions union
// ---------------------------------------------------------------------------

/// Discriminants of `union BuiltinOptions`: NONE = 0, then the members in
/// declaration order starting at 1. Only the members quantlens reads.
pub(crate) mod options_type {
    pub(crate) const CONV_2D: u8 = 1;
    pub(crate) const DEPTHWISE_CONV_2D: u8 = 2;
    pub(crate) const POOL_2D: u8 = 5;
    pub(crate) const FULLY_CONNECTED: u8 = 8;
    pub(crate) const SOFTMAX: u8 = 9;
    pub(crate) const CONCATENATION: u8 = 10;
    pub(crate) const ADD: u8 = 11;
    pub(crate) const RESHAPE: u8 = 17;
    pub(crate) const MUL: u8 = 21;
    pub(crate) const REDUCER: u8 = 27;
    pub(crate) const SUB: u8 = 28;
    pub(crate) const STRIDED_SLICE: u8 = 32;
    pub(crate) const SHAPE: u8 = 55;
    pub(crate) const PACK: u8 = 59;
    pub(crate) const LEAKY_RELU: u8 = 75;
    // --- vit ---
    pub(crate) const GATHER: u8 = 23;
    pub(crate) const BATCH_MATMUL: u8 = 101;
    pub(crate) const GELU: u8 = 116;
    // vision (issue 14)
    pub(crate) const RESIZE_BILINEAR: u8 = 15;
    pub(crate) const SPACE_TO_DEPTH: u8 = 19;
    pub(crate) const TRANSPOSE_CONV: u8 = 49;
    pub(crate) const RESIZE_NEAREST_NEIGHBOR: u8 = 74;
    pub(crate) const MIRROR_PAD: u8 = 77;
    pub(crate) const DEPTH_TO_SPACE: u8 = 94;
    pub(crate) const DIV: u8 = 29;
}

/// The options table of an operator, typed by the union discriminant.
#[derive(Clone, Copy, Debug)]
pub(crate) enum BuiltinOptions<'a> {
    /// `NONE`, or a discriminant without a value.
    None,
    Conv2D(Conv2DOptions<'a>),
    DepthwiseConv2D(DepthwiseConv2DOptions<'a>),
    Pool2D(Pool2DOptions<'a>),
    FullyConnected(FullyConnectedOptions<'a>),
    Softmax(SoftmaxOptions<'a>),
    Concatenation(ConcatenationOptions<'a>),
    Add(AddOptions<'a>),
    Reshape(ReshapeOptions<'a>),
    Mul(MulOptions<'a>),
    Reducer(ReducerOptions<'a>),
    Sub(SubOptions<'a>),
    StridedSlice(StridedSliceOptions<'a>),
    Shape(ShapeOptions<'a>),
    Pack(PackOptions<'a>),
    LeakyRelu(LeakyReluOptions<'a>),
    // --- vit ---
    Gather(GatherOptions<'a>),
    BatchMatMul(BatchMatMulOptions<'a>),
    Gelu(GeluOptions<'a>),
    // vision (issue 14)
    ResizeBilinear(ResizeBilinearOptions<'a>),
    SpaceToDepth(SpaceToDepthOptions<'a>),
    TransposeConv(TransposeConvOptions<'a>),
    ResizeNearestNeighbor(ResizeNearestNeighborOptions<'a>),
    MirrorPad(MirrorPadOptions<'a>),
    DepthToSpace(DepthToSpaceOptions<'a>),
    Div(DivOptions<'a>),
    /// A member quantlens does not read.
    Other,
}

impl<'a> BuiltinOptions<'a> {
    /// Wrap a verified member table according to its discriminant.
    fn from_member(kind: u8, t: Table<'a>) -> Self {
        use options_type as k;
        match kind {
            k::CONV_2D => Self::Conv2D(Conv2DOptions(t)),
            k::DEPTHWISE_CONV_2D => Self::DepthwiseConv2D(DepthwiseConv2DOptions(t)),
            k::POOL_2D => Self::Pool2D(Pool2DOptions(t)),
            k::FULLY_CONNECTED => Self::FullyConnected(FullyConnectedOptions(t)),
            k::SOFTMAX => Self::Softmax(SoftmaxOptions(t)),
            k::CONCATENATION => Self::Concatenation(ConcatenationOptions(t)),
            k::ADD => Self::Add(AddOptions(t)),
            k::RESHAPE => Self::Reshape(ReshapeOptions(t)),
            k::MUL => Self::Mul(MulOptions(t)),
            k::REDUCER => Self::Reducer(ReducerOptions(t)),
            k::SUB => Self::Sub(SubOptions(t)),
            k::STRIDED_SLICE => Self::StridedSlice(StridedSliceOptions(t)),
            k::SHAPE => Self::Shape(ShapeOptions(t)),
            k::PACK => Self::Pack(PackOptions(t)),
            k::LEAKY_RELU => Self::LeakyRelu(LeakyReluOptions(t)),
            // --- vit ---
            k::GATHER => Self::Gather(GatherOptions(t)),
            k::BATCH_MATMUL => Self::BatchMatMul(BatchMatMulOptions(t)),
            k::GELU => Self::Gelu(GeluOptions(t)),
            // vision (issue 14)
            k::RESIZE_BILINEAR => Self::ResizeBilinear(ResizeBilinearOptions(t)),
            k::SPACE_TO_DEPTH => Self::SpaceToDepth(SpaceToDepthOptions(t)),
            k::TRANSPOSE_CONV => Self::TransposeConv(TransposeConvOptions(t)),
            k::RESIZE_NEAREST_NEIGHBOR => Self::ResizeNearestNeighbor(ResizeNearestNeighborOptions(t)),
            k::MIRROR_PAD => Self::MirrorPad(MirrorPadOptions(t)),
            k::DEPTH_TO_SPACE => Self::DepthToSpace(DepthToSpaceOptions(t)),
            k::DIV => Self::Div(DivOptions(t)),
            _ => Self::Other,
        }
    }
}

/// Verify a `BuiltinOptions` member with the verifier of its table type; the
/// members we do not read get a plain table check.
fn verify_builtin_options(kind: u8, v: &mut Verifier, pos: usize) -> VResult {
    use options_type as k;
    match kind {
        k::CONV_2D => Off::<Conv2DOptions>::run_verifier(v, pos),
        k::DEPTHWISE_CONV_2D => Off::<DepthwiseConv2DOptions>::run_verifier(v, pos),
        k::POOL_2D => Off::<Pool2DOptions>::run_verifier(v, pos),
        k::FULLY_CONNECTED => Off::<FullyConnectedOptions>::run_verifier(v, pos),
        k::SOFTMAX => Off::<SoftmaxOptions>::run_verifier(v, pos),
        k::CONCATENATION => Off::<ConcatenationOptions>::run_verifier(v, pos),
        k::ADD => Off::<AddOptions>::run_verifier(v, pos),
        k::RESHAPE => Off::<ReshapeOptions>::run_verifier(v, pos),
        k::MUL => Off::<MulOptions>::run_verifier(v, pos),
        k::REDUCER => Off::<ReducerOptions>::run_verifier(v, pos),
        k::SUB => Off::<SubOptions>::run_verifier(v, pos),
        k::STRIDED_SLICE => Off::<StridedSliceOptions>::run_verifier(v, pos),
        k::SHAPE => Off::<ShapeOptions>::run_verifier(v, pos),
        k::PACK => Off::<PackOptions>::run_verifier(v, pos),
        k::LEAKY_RELU => Off::<LeakyReluOptions>::run_verifier(v, pos),
        // --- vit ---
        k::GATHER => Off::<GatherOptions>::run_verifier(v, pos),
        k::BATCH_MATMUL => Off::<BatchMatMulOptions>::run_verifier(v, pos),
        k::GELU => Off::<GeluOptions>::run_verifier(v, pos),
        // vision (issue 14)
        k::RESIZE_BILINEAR => Off::<ResizeBilinearOptions>::run_verifier(v, pos),
        k::SPACE_TO_DEPTH => Off::<SpaceToDepthOptions>::run_verifier(v, pos),
        k::TRANSPOSE_CONV => Off::<TransposeConvOptions>::run_verifier(v, pos),
        k::RESIZE_NEAREST_NEIGHBOR => Off::<ResizeNearestNeighborOptions>::run_verifier(v, pos),
        k::MIRROR_PAD => Off::<MirrorPadOptions>::run_verifier(v, pos),
        k::DEPTH_TO_SPACE => Off::<DepthToSpaceOptions>::run_verifier(v, pos),
        k::DIV => Off::<DivOptions>::run_verifier(v, pos),
        _ => Off::<AnyTable>::run_verifier(v, pos),
    }
}

/// Declares scalar accessors and the verifier for an options table whose
/// fields are all inline scalars: `name: Type = default @ id`.
macro_rules! scalar_options {
    (
        $(#[$doc:meta])* $table:ident {
            $( $(#[$fdoc:meta])* $field:ident : $ty:ty = $default:expr, @ $id:expr; )*
        }
    ) => {
        table!($(#[$doc])* $table);

        impl $table<'_> {
            $(
                $(#[$fdoc])*
                pub(crate) fn $field(&self) -> $ty {
                    // SAFETY: verified with this slot and type below.
                    unsafe { scalar::<$ty>(&self.0, slot($id), $default) }
                }
            )*
        }

        impl Verifiable for $table<'_> {
            fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
                v.visit_table(pos)?
                    $( .visit_field::<$ty>(stringify!($field), slot($id), false)? )*
                    .finish();
                Ok(())
            }
        }
    };
}

// Booleans are read through the crate's `bool` impl, which decodes the byte
// as `!= 0` (never transmutes), so any byte value is safe.

scalar_options!(
    /// `table Conv2DOptions`. Padding is `enum Padding : byte { SAME, VALID }`.
    Conv2DOptions {
        padding: i8 = 0, @ 0;
        stride_w: i32 = 0, @ 1;
        stride_h: i32 = 0, @ 2;
        /// `ActivationFunctionType` (byte).
        fused_activation_function: i8 = 0, @ 3;
        dilation_w_factor: i32 = 1, @ 4;
        dilation_h_factor: i32 = 1, @ 5;
    }
);

scalar_options!(
    /// `table DepthwiseConv2DOptions` — note `depth_multiplier` sits before
    /// the activation here, unlike in Conv2DOptions.
    DepthwiseConv2DOptions {
        padding: i8 = 0, @ 0;
        stride_w: i32 = 0, @ 1;
        stride_h: i32 = 0, @ 2;
        depth_multiplier: i32 = 0, @ 3;
        fused_activation_function: i8 = 0, @ 4;
        dilation_w_factor: i32 = 1, @ 5;
        dilation_h_factor: i32 = 1, @ 6;
    }
);

scalar_options!(
    /// `table Pool2DOptions` — for AVERAGE_POOL_2D, MAX_POOL_2D, L2_POOL_2D.
    Pool2DOptions {
        padding: i8 = 0, @ 0;
        stride_w: i32 = 0, @ 1;
        stride_h: i32 = 0, @ 2;
        filter_width: i32 = 0, @ 3;
        filter_height: i32 = 0, @ 4;
        fused_activation_function: i8 = 0, @ 5;
    }
);

scalar_options!(
    /// `table FullyConnectedOptions`.
    FullyConnectedOptions {
        fused_activation_function: i8 = 0, @ 0;
        /// `FullyConnectedOptionsWeightsFormat`: 0 DEFAULT, 1 SHUFFLED4x16INT8.
        weights_format: i8 = 0, @ 1;
        /// Keep the input's rank instead of flattening to 2-D.
        keep_num_dims: bool = false, @ 2;
        /// Dynamic range: quantize the float input asymmetrically (issue 11).
        asymmetric_quantize_inputs: bool = false, @ 3;
    }
);

scalar_options!(
    /// `table SoftmaxOptions` — `beta: float` (default 0.0 in the schema; the
    /// converter always writes it).
    SoftmaxOptions {
        beta: f32 = 0.0, @ 0;
    }
);

scalar_options!(
    /// `table ConcatenationOptions`.
    ConcatenationOptions {
        axis: i32 = 0, @ 0;
        fused_activation_function: i8 = 0, @ 1;
    }
);

scalar_options!(
    /// `table AddOptions`.
    AddOptions {
        fused_activation_function: i8 = 0, @ 0;
        /// int16 only: power-of-two scales take the shift-and-saturate kernel (schema default true).
        pot_scale_int16: bool = true, @ 1;
    }
);

scalar_options!(
    /// `table SubOptions`.
    SubOptions {
        fused_activation_function: i8 = 0, @ 0;
        /// int16 only: power-of-two scales take the shift-and-saturate kernel (schema default true).
        pot_scale_int16: bool = true, @ 1;
    }
);

scalar_options!(
    /// `table MulOptions`.
    MulOptions {
        fused_activation_function: i8 = 0, @ 0;
    }
);

scalar_options!(
    /// `table ReducerOptions` — MEAN, SUM, REDUCE_MAX, …
    ReducerOptions {
        keep_dims: bool = false, @ 0;
    }
);

scalar_options!(
    /// `table StridedSliceOptions` — bit masks over the dimensions.
    StridedSliceOptions {
        begin_mask: i32 = 0, @ 0;
        end_mask: i32 = 0, @ 1;
        ellipsis_mask: i32 = 0, @ 2;
        new_axis_mask: i32 = 0, @ 3;
        shrink_axis_mask: i32 = 0, @ 4;
        /// "If true, then the end tensor is an offset of the begin tensor."
        offset: bool = false, @ 5;
    }
);

scalar_options!(
    /// `table PackOptions`.
    PackOptions {
        values_count: i32 = 0, @ 0;
        axis: i32 = 0, @ 1;
    }
);

scalar_options!(
    /// `table LeakyReluOptions`.
    LeakyReluOptions {
        alpha: f32 = 0.0, @ 0;
    }
);

scalar_options!(
    /// `table ShapeOptions` — `out_type: TensorType` (INT32 or INT64).
    ShapeOptions {
        out_type: i8 = 0, @ 0;
    }
);

// vision (issue 14)
scalar_options!(
    /// `table ResizeBilinearOptions` (`new_height`, `new_width` at ids 0, 1 are deprecated).
    ResizeBilinearOptions {
        align_corners: bool = false, @ 2;
        half_pixel_centers: bool = false, @ 3;
    }
);

scalar_options!(
    /// `table ResizeNearestNeighborOptions`.
    ResizeNearestNeighborOptions {
        align_corners: bool = false, @ 0;
        half_pixel_centers: bool = false, @ 1;
    }
);

scalar_options!(
    /// `table SpaceToDepthOptions`.
    SpaceToDepthOptions {
        block_size: i32 = 0, @ 0;
    }
);

scalar_options!(
    /// `table DepthToSpaceOptions`.
    DepthToSpaceOptions {
        block_size: i32 = 0, @ 0;
    }
);

scalar_options!(
    /// `table TransposeConvOptions` (the activation is read from version 4 on).
    TransposeConvOptions {
        padding: i8 = 0, @ 0;
        stride_w: i32 = 0, @ 1;
        stride_h: i32 = 0, @ 2;
        fused_activation_function: i8 = 0, @ 3;
    }
);

scalar_options!(
    /// `table MirrorPadOptions` — `mode: MirrorPadMode` (REFLECT = 0, SYMMETRIC = 1).
    MirrorPadOptions {
        mode: i8 = 0, @ 0;
    }
);

table!(
    /// `table ReshapeOptions` — `new_shape:[int]`, optional (newer converters
    /// pass the shape as a second input tensor instead).
    ReshapeOptions
);

impl<'a> ReshapeOptions<'a> {
    const NEW_SHAPE: VOffsetT = slot(0);

    /// `new_shape:[int]`.
    pub(crate) fn new_shape(&self) -> Option<Vector<'a, i32>> {
        // SAFETY: verified as [int].
        unsafe { offset::<Vector<i32>>(&self.0, Self::NEW_SHAPE) }
    }
}

impl Verifiable for ReshapeOptions<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<Off<Vector<i32>>>("new_shape", Self::NEW_SHAPE, false)?
            .finish();
        Ok(())
    }
}

// --- vit ---
scalar_options!(
    /// `table GatherOptions`.
    GatherOptions {
        axis: i32 = 0, @ 0;
        batch_dims: i32 = 0, @ 1;
    }
);
scalar_options!(
    /// `table BatchMatMulOptions`.
    BatchMatMulOptions {
        adj_x: bool = false, @ 0;
        adj_y: bool = false, @ 1;
        asymmetric_quantize_inputs: bool = false, @ 2;
    }
);
scalar_options!(
    /// `table GeluOptions`.
    GeluOptions {
        approximate: bool = false, @ 0;
    }
);
scalar_options!(
    /// `table DivOptions`.
    DivOptions {
        fused_activation_function: i8 = 0, @ 0;
    }
);
