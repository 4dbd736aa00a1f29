/* ---- moves without arithmetic (quantlens src/export/c/shape.c) ----
 * ql_copy: RESHAPE (same integers, new shape) and SHAPE (the static shape, a constant).
 * ql_interleave: CONCATENATION and PACK: for each of `outer` blocks, chunk[j] elements of input j in turn.
 * ql_pad: PAD: the output filled with the pad value (the output zero point), the input placed at pad_before.
 * ql_slice: STRIDED_SLICE: along dimension d the input indices idx[off[d] .. off[d] + count[d]). */
static inline void ql_copy(long n, const int32_t *x, int32_t *y) {
    for (long i = 0; i < n; i++) y[i] = x[i];
}

static inline void ql_interleave(long outer, int k, const int32_t *chunk, const int32_t *const *src, int32_t *y) {
    long o = 0;
    for (long b = 0; b < outer; b++)
        for (int j = 0; j < k; j++)
            for (int i = 0; i < chunk[j]; i++) y[o++] = src[j][b * chunk[j] + i];
}

static inline void ql_pad(int rank, const int32_t *in_shape, const int32_t *out_shape, const int32_t *before, int32_t value, const int32_t *x, int32_t *y) {
    long n_out = 1, n_in = 1;
    for (int d = 0; d < rank; d++) { n_out *= out_shape[d]; n_in *= in_shape[d]; }
    for (long i = 0; i < n_out; i++) y[i] = value;
    for (long i = 0; i < n_in; i++) {
        long rest = i, o = 0, stride = 1;
        for (int d = rank - 1; d >= 0; d--) {
            long k = rest % in_shape[d];
            rest /= in_shape[d];
            o += (k + before[d]) * stride;
            stride *= out_shape[d];
        }
        y[o] = x[i];
    }
}

static inline void ql_slice(int rank, const int32_t *in_shape, const int32_t *count, const int32_t *off, const int32_t *idx, const int32_t *x, int32_t *y) {
    long n = 1;
    for (int d = 0; d < rank; d++) n *= count[d];
    for (long i = 0; i < n; i++) {
        long rest = i, at = 0, stride = 1;
        for (int d = rank - 1; d >= 0; d--) {
            long k = rest % count[d];
            rest /= count[d];
            at += idx[off[d] + k] * stride;
            stride *= in_shape[d];
        }
        y[i] = x[at];
    }
}

/* ql_gather: DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND, TILE, MIRROR_PAD, PADV2 and
 * RESIZE_NEAREST_NEIGHBOR: out[i] = x[src[i]], or the fill value where src[i] = -1. src depends on the shapes only. */
static inline void ql_gather(long n, const int32_t *src, int32_t fill, const int32_t *x, int32_t *y) {
    for (long i = 0; i < n; i++) y[i] = src[i] < 0 ? fill : x[src[i]];
}
